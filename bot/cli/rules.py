"""`thesiswatch rules ...`: check, test, classify and evaluate rule files from the shell.

The file reading lives here; everything it calls in ``rules`` is pure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from bot.pipeline.rulebook import RulesFolderError, read_rule_files
from bot.settings import DEFAULT_RULES
from rules import (
    Engine,
    LabelledItem,
    RecordError,
    RuleSet,
    YamlError,
    compile_ruleset,
    evaluate_labelled,
    format_report,
    item_from_record,
    labelled_from_record,
    load_ruleset,
    run_examples,
)

__all__ = ["register"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _load(folder: Path, out: TextIO) -> RuleSet | None:
    try:
        return load_ruleset(read_rule_files(folder))
    except YamlError as exc:
        for problem in exc.problems:
            print(problem, file=out)
        print(f"{len(exc.problems)} problem(s) in {folder}", file=sys.stderr)
        return None


def _records(path: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Each non-blank line as a JSON object, or an error message for a bad line."""
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    with stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, f"not JSON ({exc.msg})"
                continue
            yield number, value if isinstance(value, dict) else "not a JSON object"


def _engine_for(args: argparse.Namespace) -> Engine | None:
    ruleset = _load(Path(args.rules), sys.stdout)
    return compile_ruleset(ruleset) if ruleset is not None else None


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a rules folder; list every problem."""
    ruleset = _load(Path(args.dir), sys.stdout)
    if ruleset is None:
        return EXIT_FAIL
    print(
        f"ok: {len(ruleset.thesis.legs)} legs, {len(ruleset.vocabularies)} vocabularies, "
        f"{len(ruleset.rules)} rules, version {ruleset.version}"
    )
    return EXIT_OK


def cmd_test(args: argparse.Namespace) -> int:
    """Run every rule's examples."""
    ruleset = _load(Path(args.dir), sys.stdout)
    if ruleset is None:
        return EXIT_FAIL
    failures = run_examples(compile_ruleset(ruleset))
    for failure in failures:
        print(failure)
    total = sum(len(r.should_match) + len(r.should_not_match) for r in ruleset.rules)
    print(f"{total} examples in {len(ruleset.rules)} rules, {len(failures)} failed")
    return EXIT_FAIL if failures else EXIT_OK


def cmd_classify(args: argparse.Namespace) -> int:
    """One JSON line of signals per input line."""
    engine = _engine_for(args)
    if engine is None:
        return EXIT_FAIL
    bad = 0
    for number, record in _records(args.file):
        try:
            if isinstance(record, str):
                raise RecordError(record)
            item = item_from_record(record)
        except RecordError as exc:
            bad += 1
            print(f"{args.file}:{number}: {exc}", file=sys.stderr)
            continue
        signals = [
            {
                "rule": s.rule_id,
                "leg": s.leg,
                "effect": s.effect,
                "direction": s.direction,
                "severity": s.severity,
                "tickers": s.ticker_map(),
                "hedged": s.hedged,
            }
            for s in engine.evaluate(item)
        ]
        print(json.dumps({"id": item.key, "signals": signals}, ensure_ascii=False))
    return EXIT_FAIL if bad else EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    """Precision, recall, leg accuracy and ticker recall against labelled lines."""
    engine = _engine_for(args)
    if engine is None:
        return EXIT_FAIL
    labelled: list[LabelledItem] = []
    bad = 0
    for number, record in _records(args.file):
        try:
            if isinstance(record, str):
                raise RecordError(record)
            labelled.append(labelled_from_record(record))
        except RecordError as exc:
            bad += 1
            print(f"{args.file}:{number}: {exc}", file=sys.stderr)
    print(format_report(evaluate_labelled(engine, labelled)))
    return EXIT_FAIL if bad else EXIT_OK


def _guard(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, and keep the exit flush quiet too.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_OK
        except (RulesFolderError, OSError) as exc:
            print(f"thesiswatch rules: {exc}", file=sys.stderr)
            return EXIT_USAGE

    run.__doc__ = func.__doc__
    return run


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``rules`` command and its subcommands to the ``thesiswatch`` parser."""
    parser = subparsers.add_parser("rules", help="check, test and try the rule files")
    sub = parser.add_subparsers(dest="rules_command", required=True, metavar="SUBCOMMAND")
    # The folder the running bot uses, so `rules check` checks what `run` will load.
    default = os.environ.get("THESISWATCH_RULES_DIR") or str(DEFAULT_RULES)

    p = sub.add_parser("check", help="validate a rules folder; exit 1 listing every problem")
    p.add_argument("dir", nargs="?", default=default, metavar="DIR")
    p.set_defaults(func=_guard(cmd_check))

    p = sub.add_parser("test", help="run every rule's examples; show each failure")
    p.add_argument("dir", nargs="?", default=default, metavar="DIR")
    p.set_defaults(func=_guard(cmd_test))

    for name, func, text in (
        ("classify", cmd_classify, "print the signals for each JSON line of FILE ('-': stdin)"),
        ("eval", cmd_eval, "score the rules against labelled JSON lines in FILE"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("file", metavar="FILE.jsonl")
        p.add_argument("--rules", default=default, metavar="DIR", help="rules folder")
        p.set_defaults(func=_guard(func))
