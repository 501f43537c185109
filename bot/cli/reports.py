"""The commands that read and report: feeds, status, recent, backtest. None creates a database."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session
from tqdm import tqdm

from bot.cli.common import EXIT_USAGE, existing_engine, secrets, settings
from bot.clock import utcnow
from bot.ops.logs import setup_logging

if TYPE_CHECKING:
    from bot.pipeline.backtest import BacktestResult
    from bot.views.board import BoardView
    from rules.book import Book

__all__ = ["register"]


def cmd_feeds(args: argparse.Namespace) -> int:
    from bot.views.report import feeds_table
    from storage.feeds import feed_health

    with Session(existing_engine(settings())) as session:
        rows = feed_health(session, include_inactive=args.all)
    if not args.all:
        rows = [r for r in rows if not r.name.startswith("file:")]
    if args.json:
        print(json.dumps([_jsonable(r) for r in rows], indent=2, default=str))
    elif rows:
        print(feeds_table(rows, utcnow()))
    else:
        print("no feeds yet: `thesiswatch run --once` polls the configured feeds")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from bot.pipeline.board_codec import board_from_json
    from bot.pipeline.rulebook import Rulebook
    from bot.views.board import board_json, read_board
    from bot.views.text import board_text
    from rules.board import new_board
    from storage.signals import load_board

    config = settings()
    now = utcnow()
    book = Rulebook(config.rules_dir, now).book
    if args.thesis and args.thesis not in book.names:
        print(f"no thesis {args.thesis!r} (theses: {', '.join(book.names)})", file=sys.stderr)
        return EXIT_USAGE
    wanted = [rs.thesis for rs in book.rulesets if args.thesis in (None, rs.thesis.name)]
    views, evaluated = [], []
    with Session(existing_engine(config)) as session:
        for thesis in wanted:
            stored = load_board(session, thesis.name)
            board = board_from_json(stored[0], thesis, now) if stored else new_board(thesis, now)
            views.append(read_board(session, thesis, board, now))
            evaluated.append(stored is not None)
    if args.exposure:
        return _exposure(args, book, views)
    if args.json:
        shown = [board_json(v) for v in views]
        print(json.dumps(shown[0] if len(shown) == 1 else shown, indent=2, ensure_ascii=False))
        return 0
    for i, (view, done) in enumerate(zip(views, evaluated, strict=True)):
        if i:
            print()
        if not done:
            print("no evaluation yet: every leg starts intact")
        print(board_text(view))
    return 0


def _exposure(args: argparse.Namespace, book: Book, views: list[BoardView]) -> int:
    from bot.views.report import exposure_json, exposure_text
    from rules.exposure import exposures

    states = {f"{v.thesis}/{line.leg}": line.state for v in views for line in v.legs}
    shown = [v.thesis for v in views]
    rows = exposures(rs for rs in book.rulesets if rs.thesis.name in shown)
    if args.json:
        print(json.dumps(exposure_json(rows, states), indent=2, ensure_ascii=False))
    else:
        print(exposure_text(rows, states))
    return 0


def cmd_recent(args: argparse.Namespace) -> int:
    from bot.views.text import alert_json, recent_text
    from storage.outbox import recent_alerts

    with Session(existing_engine(settings())) as session:
        alerts = recent_alerts(session, args.n)
    if args.json:
        print(json.dumps([alert_json(a) for a in alerts], indent=2, ensure_ascii=False))
    else:
        print(recent_text(alerts, utcnow()))
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from bot.pipeline.backtest import backtest
    from bot.pipeline.rulebook import Rulebook
    from bot.views.chart import Marker, draw_states
    from storage.signals import versions_between

    config = settings()
    setup_logging("WARNING", secrets(config))
    rulebook = Rulebook(config.rules_dir, utcnow())
    names = [e.ruleset.thesis.name for e in rulebook.engines]
    if args.thesis and args.thesis not in names:
        print(f"no thesis {args.thesis!r} (theses: {', '.join(names)})", file=sys.stderr)
        return EXIT_USAGE
    engines = [e for e in rulebook.engines if args.thesis in (None, e.ruleset.thesis.name)]
    with Session(existing_engine(config)) as session:
        items = versions_between(session, args.since, args.until)
    several = len(engines) > 1
    legs: list[str] = []
    points: list[tuple[datetime, str, str]] = []
    markers: list[Marker] = []
    for engine in engines:
        rs = engine.ruleset
        with tqdm(total=len(items), unit="item", disable=None, file=sys.stderr) as bar:
            result = backtest(engine, items, on_item=bar.update)
        _print_replay(result, rs.version, rs.thesis.name if several else None)
        # Several theses share one chart: each leg named thesis/leg.
        name = (lambda leg, n=rs.thesis.name: f"{n}/{leg}") if several else (lambda leg: leg)
        legs += [name(leg.id) for leg in rs.thesis.legs]
        points += [(p.at, name(p.leg), p.state) for p in result.timeline]
        markers += [
            Marker(at, name(d.leg), "early" if d.kind == "early" else str(d.new_state))
            for at, d in result.alerts
        ]
    if args.chart and items:
        title = engines[0].ruleset.thesis.name if not several else f"{len(engines)} theses"
        png = draw_states(
            legs,
            points,
            markers,
            start=args.since or items[0].published_at,
            end=args.until or items[-1].published_at,
            title=f"{title}: replay of {len(items)} items",
        )
        args.chart.write_bytes(png)
        print(f"chart written to {args.chart}")
    return 0


def _print_replay(result: BacktestResult, version: str, thesis: str | None) -> None:
    from bot.views.text import tickers_text

    head = f"thesis {thesis}: " if thesis else ""
    print(
        f"{head}replayed {result.items} items with rules {version[:12]}: "
        f"{result.signals} signals, {len(result.transitions)} transitions, "
        f"{len(result.alerts)} alerts"
    )
    for at, d in result.alerts:
        change = f"{d.old_state} -> {d.new_state}" if d.kind == "transition" else "early warning"
        head = d.payload["headlines"][0]["title"] if d.payload["headlines"] else d.payload["reason"]
        print(f"{at:%Y-%m-%d %H:%M}  {d.severity:<8} {d.leg:<20} {change:<22} {head[:90]}")
        print(f"{'':18}{tickers_text(d.payload['tickers'])}")


def _day(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _count(value: str) -> int:
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 1000:
        raise argparse.ArgumentTypeError(f"N is a number from 1 to 1000, not {value!r}")
    return int(value)


def _jsonable(row: object) -> dict[str, object]:
    return {k: getattr(row, k) for k in row.__slots__}  # type: ignore[attr-defined]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add feeds, status, recent and backtest to the command line."""
    p = sub.add_parser("feeds", help="each feed's health: last success, errors, next poll")
    p.add_argument("--all", action="store_true", help="include removed feeds and ingested files")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_feeds)

    p = sub.add_parser("status", help="each thesis's board: each leg, its state and evidence")
    p.add_argument("thesis", nargs="?", metavar="THESIS", help="only this thesis")
    p.add_argument("--json", action="store_true", help="machine-readable output (ISO times)")
    p.add_argument(
        "--exposure",
        action="store_true",
        help="each ticker and the legs across theses whose break moves it, and which way",
    )
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("recent", help="the last N alerts, newest first")
    p.add_argument("n", nargs="?", type=_count, default=10, metavar="N", help="how many (10)")
    p.add_argument("--json", action="store_true", help="machine-readable output (ISO times)")
    p.set_defaults(func=cmd_recent)

    p = sub.add_parser("backtest", help="replay stored items through the current rules")
    p.add_argument("--since", type=_day, help="first publication date (ISO), inclusive")
    p.add_argument("--until", type=_day, help="last publication date (ISO), exclusive")
    p.add_argument("--chart", type=Path, metavar="PNG", help="draw each leg's state over time")
    p.add_argument("--thesis", metavar="NAME", help="replay only this thesis")
    p.set_defaults(func=cmd_backtest)
