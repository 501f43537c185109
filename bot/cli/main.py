"""The `thesiswatch` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from bot.cli import reports
from bot.cli import rules as rules_cli
from bot.cli.common import EXIT_USAGE, NoDatabase, engine, secrets, settings
from bot.clock import utcnow
from bot.feeds.config import TIERS
from bot.ops.logs import setup_logging
from bot.settings import Settings
from rules.yamlsrc import YamlError

if TYPE_CHECKING:
    from bot.pipeline.evaluate import Evaluator

__all__ = ["main"]


def cmd_run(args: argparse.Namespace) -> int:
    from bot.app import run
    from bot.feeds.config import load_feeds
    from bot.feeds.startup import feeds_already_synced
    from bot.pipeline.rulebook import Rulebook

    config = settings()
    setup_logging(config.log_level, secrets(config), library_level=config.library_log_level)
    # A broken feeds file (or rules folder) is reported before the database is opened or made;
    # the file the database already holds was checked then (a restart with 5,000 feeds does
    # not read them again).
    rulebook = Rulebook(config.rules_dir, utcnow())
    if not feeds_already_synced(config, rulebook):
        legs = rulebook.book.leg_refs()
        load_feeds(config.feeds, min_interval=config.min_feed_interval, legs=legs)
    db = engine(config)
    result = asyncio.run(run(db, config, once=args.once, role=args.role, rulebook=rulebook))
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

    config = settings()
    setup_logging(
        "ERROR" if not args.verbose else config.log_level,
        secrets(config),
        library_level="ERROR" if not args.verbose else config.library_log_level,
    )
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        print(f"thesiswatch ingest: no such file or folder: {missing[0]}", file=sys.stderr)
        return EXIT_USAGE
    total = sum(1 for _ in feed_files(args.paths))
    # tqdm draws only on a terminal (disable=None), so pipes and CI get clean output.
    db = engine(config)
    with tqdm(total=total, unit="file", disable=None, file=sys.stderr) as bar:
        summary = asyncio.run(
            ingest_paths(db, args.paths, tier=args.tier, on_done=lambda _o: bar.update())
        )
    if not args.no_rules:
        evaluation = _evaluator(config).run(db, utcnow())
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


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.cli.demo import run_demo

    setup_logging("WARNING")
    return asyncio.run(run_demo(verbose=args.verbose))


def _evaluator(settings: Settings) -> Evaluator:
    from bot.pipeline.console import CONSOLE
    from bot.pipeline.evaluate import Evaluator
    from bot.pipeline.rulebook import Rulebook

    # Alerts queue in the outbox; the running bot delivers them.
    return Evaluator(
        Rulebook(settings.rules_dir, utcnow()), targets=[CONSOLE], max_age=settings.max_alert_age
    )


def _version() -> str:
    try:
        return version("thesiswatch")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thesiswatch",
        description="Watch news feeds for events that break or reverse a trading thesis.",
        epilog="Settings come from THESISWATCH_* environment variables or a .env file.",
    )
    parser.add_argument("--version", action="version", version=f"thesiswatch {_version()}")
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

    reports.register(sub)

    p = sub.add_parser("demo", help="run bundled snapshots through the pipeline, offline")
    p.add_argument(
        "--verbose", action="store_true", help="also each feed's outcome and every story stored"
    )
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
    except NoDatabase as exc:
        print(f"thesiswatch: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `thesiswatch status | head`: the reader has what it wanted
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
