"""Where one cold ingest spends its time, on the loop's thread and on the poller's database thread.

``python -m cProfile`` alone sees only the main thread, which waits in ``epoll`` while parsing
and storing run on the poller's worker thread; this patches ``bot.feeds.poller.ThreadPoolExecutor``
(in this process only) with one that profiles its thread, and merges both profiles.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import io
import pstats
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from feeds_gen import GenFeed, write_feeds

import bot.feeds.poller
from bot.feeds.ingest import ingest_paths
from storage.db import open_database

__all__ = ["profile_cold"]


class _ProfiledExecutor(ThreadPoolExecutor):
    """The poller's worker thread, profiled (cProfile only sees the thread that enables it)."""

    profiles: list[cProfile.Profile] = []  # noqa: RUF012

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        prof = cProfile.Profile()
        _ProfiledExecutor.profiles.append(prof)
        super().__init__(*args, initializer=prof.enable, **kwargs)
        self._prof = prof

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.submit(self._prof.disable).result()
        super().shutdown(wait, cancel_futures=cancel_futures)


def _package(filename: str, name: str = "") -> str:
    if filename == "~" and ("epoll" in name or "select" in name):
        return "idle: event loop waiting for the worker thread"
    for marker, label in (
        ("/feedparser/", "feedparser"),
        ("sgmllib", "feedparser (sgmllib)"),
        ("/sqlalchemy/", "sqlalchemy"),
        ("/sqlmodel/", "sqlmodel"),
        ("/httpx/", "httpx"),
        ("/httpcore/", "httpcore"),
        ("/alembic/", "alembic"),
        ("/asyncio/", "asyncio"),
    ):
        if marker in filename:
            return label
    repo = str(Path(__file__).resolve().parent.parent)
    if filename.startswith(repo):
        return Path(filename).relative_to(repo).parts[0] + "/ (ours)"
    if filename.startswith("~") or filename == "<built-in>":
        return "builtins (C)"
    if "/lib/python3" in filename and "site-packages" not in filename:
        return f"stdlib {Path(filename).stem}"
    return "other"


def profile_cold(feeds: list[GenFeed], tmp: Path, top: int) -> str:
    folder = tmp / "profile"
    engine = open_database(f"sqlite:///{folder / 'profile.db'}")
    paths = write_feeds(feeds, folder / "feeds")
    original = getattr(bot.feeds.poller, "ThreadPoolExecutor")  # noqa: B009
    setattr(bot.feeds.poller, "ThreadPoolExecutor", _ProfiledExecutor)  # noqa: B010
    main = cProfile.Profile()
    try:
        gc.collect()
        start = time.perf_counter()
        main.enable()
        summary = asyncio.run(ingest_paths(engine, paths, tier="press"))
        main.disable()
        wall = time.perf_counter() - start
    finally:
        setattr(bot.feeds.poller, "ThreadPoolExecutor", original)  # noqa: B010
        engine.dispose()
    out = io.StringIO()
    stats = pstats.Stats(main, stream=out)
    for prof in _ProfiledExecutor.profiles:
        stats.add(prof)
    out.write(
        f"cold ingest of {summary.files} feeds, {summary.entries} entries: {wall:.2f}s wall "
        f"under the profiler (both threads profiled)\n\nself time by package:\n"
    )
    by_pkg: dict[str, float] = defaultdict(float)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        by_pkg[_package(filename, _name)] += tottime
    total = sum(by_pkg.values())
    for pkg, secs in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:14]:
        out.write(f"  {secs:7.3f}s {100 * secs / total:5.1f}%  {pkg}\n")
    out.write("\ntop self time outside feedparser:\n")
    rows = sorted(
        (
            (tottime, cumtime, ncalls, f"{_short(filename)}:{line}({name})")
            for (filename, line, name), (_cc, ncalls, tottime, cumtime, _c) in raw.items()
            if not _package(filename, name).startswith(("feedparser", "idle"))
        ),
        reverse=True,
    )
    for tottime, cumtime, ncalls, where in rows[:top]:
        out.write(f"  {tottime:7.3f}s self {cumtime:7.3f}s cum {ncalls:>8} calls  {where}\n")
    out.write("\ncumulative time of our own functions (bot/, storage/):\n")
    ours = sorted(
        (
            (cumtime, ncalls, f"{_short(filename)}:{line}({name})")
            for (filename, line, name), (_cc, ncalls, _tt, cumtime, _c) in raw.items()
            if _package(filename).endswith("(ours)") and "/bench/" not in filename
        ),
        reverse=True,
    )
    for cumtime, ncalls, where in ours[:top]:
        out.write(f"  {cumtime:7.3f}s cum {ncalls:>8} calls  {where}\n")
    return out.getvalue()


def _short(filename: str) -> str:
    repo = str(Path(__file__).resolve().parent.parent) + "/"
    for marker in ("site-packages/", repo, "lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
