"""The commands that read and report: feeds, status, recent, backtest. None creates a database."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session
from tqdm import tqdm

from bot.cli.common import existing_engine, secrets, settings
from bot.clock import utcnow
from bot.ops.logs import setup_logging

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
    thesis = Rulebook(config.rules_dir, now).engine.ruleset.thesis
    with Session(existing_engine(config)) as session:
        stored = load_board(session, thesis.name)
        board = board_from_json(stored[0], thesis, now) if stored else new_board(thesis, now)
        view = read_board(session, thesis, board, now)
    if args.json:
        print(json.dumps(board_json(view), indent=2, ensure_ascii=False))
        return 0
    if not stored:
        print("no evaluation yet: every leg starts intact")
    print(board_text(view))
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
    from bot.views.text import tickers_text
    from storage.signals import versions_between

    config = settings()
    setup_logging("WARNING", secrets(config))
    engine = Rulebook(config.rules_dir, utcnow()).engine
    with Session(existing_engine(config)) as session:
        items = versions_between(session, args.since, args.until)
    with tqdm(total=len(items), unit="item", disable=None, file=sys.stderr) as bar:
        result = backtest(engine, items, on_item=bar.update)
    print(
        f"replayed {result.items} items with rules {engine.ruleset.version[:12]}: "
        f"{result.signals} signals, {len(result.transitions)} transitions, "
        f"{len(result.alerts)} alerts"
    )
    for at, d in result.alerts:
        change = f"{d.old_state} -> {d.new_state}" if d.kind == "transition" else "early warning"
        head = d.payload["headlines"][0]["title"] if d.payload["headlines"] else d.payload["reason"]
        print(f"{at:%Y-%m-%d %H:%M}  {d.severity:<8} {d.leg:<20} {change:<22} {head[:90]}")
        print(f"{'':18}{tickers_text(d.payload['tickers'])}")
    if args.chart and items:
        png = draw_states(
            [leg.id for leg in engine.ruleset.thesis.legs],
            [(p.at, p.leg, p.state) for p in result.timeline],
            [
                Marker(at, d.leg, "early" if d.kind == "early" else str(d.new_state))
                for at, d in result.alerts
            ],
            start=args.since or items[0].published_at,
            end=args.until or items[-1].published_at,
            title=f"{engine.ruleset.thesis.name}: replay of {result.items} items",
        )
        args.chart.write_bytes(png)
        print(f"chart written to {args.chart}")
    return 0


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

    p = sub.add_parser("status", help="the thesis board: each leg, its state and evidence")
    p.add_argument("--json", action="store_true", help="machine-readable output (ISO times)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("recent", help="the last N alerts, newest first")
    p.add_argument("n", nargs="?", type=_count, default=10, metavar="N", help="how many (10)")
    p.add_argument("--json", action="store_true", help="machine-readable output (ISO times)")
    p.set_defaults(func=cmd_recent)

    p = sub.add_parser("backtest", help="replay stored items through the current rules")
    p.add_argument("--since", type=_day, help="first publication date (ISO), inclusive")
    p.add_argument("--until", type=_day, help="last publication date (ISO), exclusive")
    p.add_argument("--chart", type=Path, metavar="PNG", help="draw each leg's state over time")
    p.set_defaults(func=cmd_backtest)
