"""Unchanged feeds over HTTP: a cold poll of every feed, then 304s and identical 200s.

The feeds are served by a stdlib ``ThreadingHTTPServer`` on 127.0.0.1, in a child process by
default so its CPU is not counted against the poller's GIL. Even-numbered feeds honour
``If-None-Match`` with 304, odd ones send the identical body with 200 again.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser
from benchlib import Row, Samples, log, ratio, rounds, timed
from feeds_gen import GenFeed, render
from sqlalchemy import Engine
from sqlmodel import Session

from bot.feeds.fetch import Fetcher, FetchLimits, make_client
from bot.feeds.ingest import poll_feeds
from bot.feeds.normalise import short_hash
from bot.feeds.poller import Poller
from storage.db import open_database
from storage.feeds import sync_feeds
from storage.records import FeedDef

__all__ = ["HttpResult", "bench_http", "http_rows"]

BARE_OFF = {"sanitize_html": False, "resolve_relative_uris": False}


def _make_handler(bodies: dict[str, tuple[bytes, str, bool]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers

        def do_GET(self) -> None:
            found = bodies.get(self.path)
            if found is None:
                self.send_error(404)
                return
            body, ctype, conditional = found
            etag = f'"{short_hash(self.path, str(len(body)))[:20]}"'
            if conditional and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)  # the other half ignores If-None-Match
            self.send_header("Last-Modified", "Mon, 10 Nov 2025 12:00:00 GMT")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _serve(bodies: dict[str, tuple[bytes, str, bool]], port_out: Any, stop: Any) -> None:
    """Child-process entry: serve ``bodies`` on 127.0.0.1 until ``stop`` is set."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(bodies))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port_out.put(server.server_address[1])
    stop.wait()
    server.shutdown()


@contextmanager
def feed_server(bodies: dict[str, tuple[bytes, str, bool]], where: str) -> Iterator[int]:
    """A ThreadingHTTPServer in a thread: of a child process (default) or of this one.

    In this process the server's own CPU competes with the poller for the GIL and is counted
    in the poller's time; a real feed server is on another machine.
    """
    if where == "thread":
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(bodies))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield int(server.server_address[1])
        finally:
            server.shutdown()
            server.server_close()
        return
    ctx = multiprocessing.get_context("spawn")
    port_q = ctx.Queue()
    stop = ctx.Event()
    proc = ctx.Process(target=_serve, args=(bodies, port_q, stop), daemon=True)
    proc.start()
    try:
        yield int(port_q.get(timeout=60))
    finally:
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.terminate()


@dataclass(slots=True)
class HttpResult:
    feeds: int
    cold: Samples = field(default_factory=Samples)
    not_modified: Samples = field(default_factory=Samples)
    identical: Samples = field(default_factory=Samples)
    bare_off: Samples = field(default_factory=Samples)
    counts: tuple[int, int] = (0, 0)
    notes: list[str] = field(default_factory=list)


async def _http_round(
    engine: Engine, urls: list[str], limits: FetchLimits, res: HttpResult
) -> dict[str, int]:
    defs = [
        FeedDef(name=f"http-{i:05d}", url=u, tier="press", interval_s=300)
        for i, u in enumerate(urls)
    ]
    with Session(engine) as session, session.begin():
        ids = sync_feeds(session, defs, deactivate_others=False)
    even, odd = ids[0::2], ids[1::2]
    statuses: dict[str, int] = defaultdict(int)
    async with make_client(limits) as client:
        poller = Poller(engine, Fetcher(client, limits))
        try:
            gc.collect()
            with timed(res.cold):
                outcomes = await poll_feeds(poller, ids)
            with timed(res.not_modified):
                outcomes += await poll_feeds(poller, even)
            with timed(res.identical):
                outcomes += await poll_feeds(poller, odd)
        finally:
            poller.close()
    for o in outcomes:
        statuses[o.status] += 1
    res.counts = (len(even), len(odd))
    return dict(statuses)


def bench_http(feeds: list[GenFeed], n_rounds: int, tmp: Path, where: str) -> HttpResult:
    bodies = [render(f) for f in feeds]
    served = {
        f"/f/{i}.xml": (
            body,
            "application/atom+xml" if f.kind == "atom" else "application/rss+xml; charset=utf-8",
            i % 2 == 0,
        )
        for i, (f, body) in enumerate(zip(feeds, bodies, strict=True))
    }
    res = HttpResult(feeds=len(feeds))
    # Every feed is on 127.0.0.1 here; real feeds are spread over many hosts.
    limits = FetchLimits(per_host=FetchLimits().concurrency)
    with feed_server(served, where) as port:
        urls = [f"http://127.0.0.1:{port}/f/{i}.xml" for i in range(len(feeds))]
        for r in rounds(n_rounds, "http"):
            with timed(res.bare_off):
                for body in bodies:
                    feedparser.parse(body, **BARE_OFF)
            engine = open_database(f"sqlite:///{tmp / f'http-{r}' / 'bench.db'}")
            statuses = asyncio.run(_http_round(engine, urls, limits, res))
            engine.dispose()
            log(
                f"  round {r + 1}: cold {res.cold.seconds[-1]:.2f}s, 304 "
                f"{res.not_modified.seconds[-1] * 1000:.0f}ms, identical 200 "
                f"{res.identical.seconds[-1] * 1000:.0f}ms  {statuses}"
            )
            if r == 0:
                res.notes.append(f"poll outcomes over 3 polls: {statuses}")
    return res


def http_rows(res: HttpResult) -> list[Row]:
    per_cold = Samples([s / res.feeds for s in res.cold.seconds])
    per_304 = Samples([s / res.counts[0] for s in res.not_modified.seconds])
    per_200 = Samples([s / res.counts[1] for s in res.identical.seconds])
    per_bare = Samples([s / res.feeds for s in res.bare_off.seconds])
    rows = [
        Row(
            name="varied: cold poll per feed (HTTP, parse, store)",
            value=f"{per_cold.median * 1000:.2f} ms",
            baseline=f"{per_bare.median * 1000:.2f} ms bare parse (no-sanitise)",
            ratio=ratio(per_cold, per_bare)[1],
        )
    ]
    for label, per in (("unchanged: 304", per_304), ("unchanged: identical 200", per_200)):
        rows.append(
            Row(
                name=f"varied: {label} per feed",
                value=f"{per.median * 1000:.2f} ms",
                baseline=f"{per_cold.median * 1000:.2f} ms cold poll",
                ratio=ratio(per, per_cold)[1],
            )
        )
    return rows
