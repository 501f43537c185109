"""`thesiswatch demo`: bundled snapshots through the whole pipeline, no network, no token."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from bot.feeds.config import load_feeds
from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.ingest import poll_feeds
from bot.feeds.poller import Poller
from bot.pipeline.board_codec import board_from_json
from bot.pipeline.console import CONSOLE, deliver_console
from bot.pipeline.evaluate import Evaluator
from bot.pipeline.rulebook import Rulebook
from bot.settings import DATA_DIR, DEFAULT_RULES, EXAMPLE_THESES
from bot.views.board import read_board
from bot.views.text import board_text
from bot.views.times import stamp
from storage.db import open_database
from storage.feeds import sync_feeds
from storage.models import item_t, sighting_t, story_t
from storage.signals import items_between, load_board

__all__ = ["DEMO_FEEDS", "run_demo"]

DEMO_FEEDS = DATA_DIR / "demo" / "feeds.yaml"


class _ReaderGone(Exception):
    """stdout's reader left (``thesiswatch demo | head``): not an OSError, so the console
    deliverer does not keep the alert for a retry (and log it) but stops."""


def _until_reader_gone(out: Callable[[str], None]) -> Callable[[str], None]:
    def write(text: str) -> None:
        try:
            out(text)
        except BrokenPipeError as exc:
            raise _ReaderGone from exc

    return write


async def run_demo(
    out: Callable[[str], None] = print, db_dir: Path | None = None, *, verbose: bool = False
) -> int:
    """The alerts the snapshots raise and the board they leave, first; with ``verbose``, then
    each feed's outcome and every story stored (what a trader looks at comes first)."""
    with tempfile.TemporaryDirectory(prefix="thesiswatch-demo-") as tmp:
        folder = db_dir or Path(tmp)
        engine = open_database(f"sqlite:///{folder / 'demo.db'}")
        defs = load_feeds(DEMO_FEEDS)
        with Session(engine) as session, session.begin():
            ids = sync_feeds(session, defs, deactivate_others=True)
        async with make_client(FetchLimits()) as client:
            poller = Poller(engine, Fetcher(client))
            try:
                outcomes = await poll_feeds(poller, ids)
            finally:
                poller.close()
        with Session(engine) as session:
            items = session.scalar(select(func.count()).select_from(item_t)) or 0
            stories = session.scalar(select(func.count()).select_from(story_t)) or 0
        out(
            f"thesiswatch demo: {len(defs)} bundled feed snapshots, {items} items in {stories} "
            f"stories -> {folder / 'demo.db'}"
        )
        try:
            _replay_alerts(engine, _until_reader_gone(out))
        except _ReaderGone:
            engine.dispose()
            raise BrokenPipeError from None  # the CLI ends quietly, as on any closed pipe
        if verbose:
            out("\nThe feeds:\n")
            for o in outcomes:
                detail = o.error or f"{o.entries} entries, {o.new_items} new items"
                out(f"  {o.feed:<16} {o.status:<12} {detail}")
            with Session(engine) as session:
                _print_stories(session, out)
        else:
            out("\n(thesiswatch demo --verbose also lists each feed's outcome and every story)")
        engine.dispose()
    return 0


def _replay_alerts(engine: Engine, out: Callable[[str], None]) -> None:
    """The live evaluator, its clock stepped through the items' own publication times."""
    with Session(engine) as session:
        times = sorted({i.published_at for i in items_between(session, None, None)})
    if not times:
        return
    # Two theses side by side: the shipped one and the example(s); the bot runs only the first
    # unless THESISWATCH_RULES_DIR names more.
    rulebook = Rulebook([DEFAULT_RULES, EXAMPLE_THESES], times[0])
    evaluator = Evaluator(rulebook, targets=[CONSOLE])
    for at in times:
        evaluator.run(engine, at, until=at)
    out(f"\nAlerts (rules {rulebook.version[:12]}), as they would have fired:\n")
    sent = deliver_console(engine, times[-1], write=out)
    if not sent:
        out("  none")
    theses = [e.ruleset.thesis for e in rulebook.engines]
    out(f"\nThe boards of {len(theses)} theses at the last item ({stamp(times[-1])}):")
    with Session(engine) as session:
        for thesis in theses:
            stored = load_board(session, thesis.name)
            if stored is None:
                continue
            board = board_from_json(stored[0], thesis, times[-1])
            out("")
            out(board_text(read_board(session, thesis, board, times[-1])))


def _print_stories(session: Session, out: Callable[[str], None]) -> None:
    sources = (
        select(item_t.c.story_id, func.count(func.distinct(sighting_t.c.feed_id)).label("n"))
        .join(sighting_t, sighting_t.c.item_id == item_t.c.id)
        .group_by(item_t.c.story_id)
        .subquery()
    )
    rows = session.execute(
        select(story_t.c.title, story_t.c.last_published_at, sources.c.n)
        .join(sources, sources.c.story_id == story_t.c.id)
        .order_by(story_t.c.last_published_at.desc())
    ).all()
    items = session.scalar(select(func.count()).select_from(item_t))
    out(f"\n{items} items stored once, grouped into {len(rows)} stories (newest first):")
    for title, published, n in rows:
        many = f"  [{n} feeds]" if n > 1 else ""
        out(f"  {published:%Y-%m-%d}  {title[:110]}{many}")
