"""The `thesiswatch` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from tqdm import tqdm

from bot.cli import rules as rules_cli
from bot.clock import utcnow
from bot.feeds.config import TIERS
from bot.ops.logs import setup_logging
from bot.settings import Settings, SettingsError, load
from rules.yamlsrc import YamlError

if TYPE_CHECKING:
    from bot.pipeline.evaluate import Evaluator

__all__ = ["main"]

EXIT_USAGE = 2


def _settings() -> Settings:
    from bot.views.times import set_display_zone

    try:
        settings = load()
    except SettingsError as exc:
        print(f"thesiswatch: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    set_display_zone(settings.zone)
    return settings


def _engine(settings: Settings) -> Engine:
    from storage.db import open_database

    return open_database(settings.database_url)


def cmd_run(args: argparse.Namespace) -> int:
    from bot.app import run
    from bot.feeds.config import load_feeds

    settings = _settings()
    setup_logging(settings.log_level, _secrets(settings), library_level=settings.library_log_level)
    # A broken feeds file is reported before the database is opened (or created).
    load_feeds(settings.feeds, min_interval=settings.min_feed_interval)
    result = asyncio.run(run(_engine(settings), settings, once=args.once, role=args.role))
    if args.once:
        for o in result.outcomes:
            detail = o.error or f"{o.entries} entries, {o.new_items} new"
            print(f"{o.feed:<28} {o.status:<12} {detail}")
        e = result.evaluation
        print(
            f"evaluated {e.items} items: {e.signals} signals, {e.transitions} transitions, "
            f"{e.alerts} alerts ({result.delivered} delivered)"
        )
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from bot.feeds.ingest import feed_files, ingest_paths

    settings = _settings()
    setup_logging(
        "ERROR" if not args.verbose else settings.log_level,
        _secrets(settings),
        library_level="ERROR" if not args.verbose else settings.library_log_level,
    )
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        print(f"thesiswatch ingest: no such file or folder: {missing[0]}", file=sys.stderr)
        return EXIT_USAGE
    total = sum(1 for _ in feed_files(args.paths))
    # tqdm draws only on a terminal (disable=None), so pipes and CI get clean output.
    engine = _engine(settings)
    with tqdm(total=total, unit="file", disable=None, file=sys.stderr) as bar:
        summary = asyncio.run(
            ingest_paths(engine, args.paths, tier=args.tier, on_done=lambda _o: bar.update())
        )
    if not args.no_rules:
        evaluation = _evaluator(settings).run(engine, utcnow())
        summary.signals, summary.alerts = evaluation.signals, evaluation.alerts
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
        return 0
    print(
        f"files {summary.files}, entries {summary.entries}, new items {summary.new_items}, "
        f"new stories {summary.new_stories}, signals {summary.signals}, "
        f"alerts {summary.alerts}, errors {len(summary.errors)}"
    )
    for name, why in summary.errors[: args.show_errors]:
        print(f"  {name.removeprefix('file:')}: {why}")
    if len(summary.errors) > args.show_errors:
        print(f"  ... and {len(summary.errors) - args.show_errors} more (--show-errors N)")
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from bot.views.report import feeds_table
    from storage.feeds import feed_health

    settings = _settings()
    with Session(_engine(settings)) as session:
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
    from sqlmodel import Session

    from bot.pipeline.board_codec import board_from_json
    from bot.pipeline.rulebook import Rulebook
    from bot.views.board import read_board
    from bot.views.text import board_text
    from rules.board import new_board
    from storage.signals import load_board

    settings = _settings()
    now = utcnow()
    thesis = Rulebook(settings.rules_dir, now).engine.ruleset.thesis
    with Session(_engine(settings)) as session:
        stored = load_board(session, thesis.name)
        board = board_from_json(stored[0], thesis, now) if stored else new_board(thesis, now)
        view = read_board(session, thesis, board, now)
    if not stored:
        print("no evaluation yet: every leg starts intact")
    print(board_text(view))
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from bot.pipeline.backtest import backtest
    from bot.pipeline.rulebook import Rulebook
    from bot.views.chart import Marker, draw_states
    from bot.views.text import tickers_text
    from storage.signals import versions_between

    settings = _settings()
    setup_logging("WARNING", _secrets(settings))
    engine = Rulebook(settings.rules_dir, utcnow()).engine
    with Session(_engine(settings)) as session:
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


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.cli.demo import run_demo

    setup_logging("WARNING")
    return asyncio.run(run_demo())


def _jsonable(row: object) -> dict[str, object]:
    return {k: getattr(row, k) for k in row.__slots__}  # type: ignore[attr-defined]


def _evaluator(settings: Settings) -> Evaluator:
    from bot.pipeline.console import CONSOLE
    from bot.pipeline.evaluate import Evaluator
    from bot.pipeline.rulebook import Rulebook

    # Alerts queue in the outbox; the running bot delivers them.
    return Evaluator(
        Rulebook(settings.rules_dir, utcnow()), targets=[CONSOLE], max_age=settings.max_alert_age
    )


def _secrets(settings: Settings) -> tuple[str, ...]:
    token = settings.telegram_token
    return (token.get_secret_value(),) if token else ()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thesiswatch",
        description="Watch news feeds for events that break or reverse a trading thesis.",
        epilog="Settings come from THESISWATCH_* environment variables or a .env file.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="poll the configured feeds on schedule until stopped")
    p.add_argument("--once", action="store_true", help="poll every feed once, then exit")
    p.add_argument(
        "--role",
        choices=("all", "poller", "notifier", "bot"),
        default="all",
        help="the share of the work this process takes when several share one database",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("ingest", help="put feed files or folders through the pipeline")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="feed file or folder")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.add_argument("--tier", choices=TIERS, default="blog", help="source tier (default: blog)")
    p.add_argument("--show-errors", type=int, default=20, metavar="N", help="errors to list")
    p.add_argument("--verbose", action="store_true", help="log each feed's failures")
    p.add_argument(
        "--no-rules", action="store_true", help="store only; the running bot evaluates later"
    )
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("feeds", help="each feed's health: last success, errors, next poll")
    p.add_argument("--all", action="store_true", help="include removed feeds and ingested files")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_feeds)

    p = sub.add_parser("status", help="the thesis board: each leg, its state and evidence")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("backtest", help="replay stored items through the current rules")
    p.add_argument("--since", type=_day, help="first publication date (ISO), inclusive")
    p.add_argument("--until", type=_day, help="last publication date (ISO), exclusive")
    p.add_argument("--chart", type=Path, metavar="PNG", help="draw each leg's state over time")
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("demo", help="run bundled snapshots through the pipeline, offline")
    p.set_defaults(func=cmd_demo)

    rules_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except YamlError as exc:
        print(f"thesiswatch: {len(exc.problems)} problem(s):\n{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
