"""`thesiswatch rules ...`: check, test, classify and evaluate rule files from the shell.

The file reading lives here; everything it calls in ``rules`` is pure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from bot.pipeline.rulebook import RulesFolderError, read_rule_files
from bot.settings import DEFAULT_RULES
from bot.views.vocab import cross_fires, vocab_text, vocab_view
from rules import (
    Engine,
    LabelledItem,
    RecordError,
    RuleSet,
    YamlError,
    compile_ruleset,
    evaluate_sets,
    format_report,
    item_from_record,
    labelled_from_record,
    load_ruleset,
    report_json,
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
    ruleset = _load(Path(args.rules), sys.stdout)
    if ruleset is None:
        return EXIT_FAIL
    print(
        f"ok: {len(ruleset.thesis.legs)} legs, {len(ruleset.vocabularies)} vocabularies, "
        f"{len(ruleset.rules)} rules, version {ruleset.version}"
    )
    per_leg = Counter(rule.leg for rule in ruleset.rules)
    print(
        "rules per leg: " + ", ".join(f"{leg.id} {per_leg[leg.id]}" for leg in ruleset.thesis.legs)
    )
    for leg in ruleset.thesis.legs:
        if not per_leg[leg.id] and not leg.allow_no_rules:
            # Loadable, but the running bot refuses a reload that takes a leg's last rule.
            print(
                f"warning: leg {leg.id!r} has no rules (mark it allow_no_rules: true if meant)",
                file=sys.stderr,
            )
    return EXIT_OK


def cmd_test(args: argparse.Namespace) -> int:
    """Run every rule's examples; then each example other legs' rules fire on too."""
    ruleset = _load(Path(args.rules), sys.stdout)
    if ruleset is None:
        return EXIT_FAIL
    engine = compile_ruleset(ruleset)
    failures = run_examples(engine)
    for failure in failures:
        print(failure)
    total = sum(len(r.should_match) + len(r.should_not_match) for r in ruleset.rules)
    crossings = cross_fires(engine)
    if crossings:
        print(f"\n{len(crossings)} example(s) also fire rules of other legs:")
        for line in crossings:
            print(f"  {line}")
    print(f"{total} examples in {len(ruleset.rules)} rules, {len(failures)} failed")
    return EXIT_FAIL if failures else EXIT_OK


def cmd_vocab(args: argparse.Namespace) -> int:
    """What a vocabulary matches: its phrases (inflections spelt out) and who uses it."""
    ruleset = _load(Path(args.rules), sys.stdout)
    if ruleset is None:
        return EXIT_FAIL
    found = vocab_view(ruleset, args.name)
    if isinstance(found, str):
        print(f"thesiswatch rules: {found}", file=sys.stderr)
        return EXIT_FAIL
    print(vocab_text(found))
    return EXIT_OK


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


def _labelled(path: str, legs: set[str]) -> tuple[list[LabelledItem], list[str]]:
    """The labelled items of one file, and an error line for each line that is not one."""
    labelled: list[LabelledItem] = []
    errors: list[str] = []
    for number, record in _records(path):
        try:
            if isinstance(record, str):
                raise RecordError(record)
            entry = labelled_from_record(record)
            unknown = sorted({e.leg for e in entry.entries} - legs)
            if entry.leg is not None and entry.leg not in legs:
                unknown = sorted({*unknown, entry.leg})
            if unknown:
                raise RecordError(f"unknown leg {', '.join(map(repr, unknown))}")
            labelled.append(entry)
        except RecordError as exc:
            errors.append(f"{path}:{number}: {exc}")
    if not labelled and not errors:
        errors.append(f"{path}: no labelled items")
    return labelled, errors


def cmd_eval(args: argparse.Namespace) -> int:
    """Precision and recall (overall, per leg, per rule), leg confusion and diagnosed misses
    against labelled lines; any unlabelled or bad line is an error and no figure is printed."""
    engine = _engine_for(args)
    if engine is None:
        return EXIT_FAIL
    legs = {leg.id for leg in engine.ruleset.thesis.legs}
    sets: list[tuple[str, list[LabelledItem]]] = []
    errors: list[str] = []
    for path in args.files:
        labelled, problems = _labelled(path, legs)
        sets.append((path, labelled))
        errors += problems
    if errors:
        for error in errors:
            print(error, file=sys.stderr)
        print(f"{len(errors)} problem(s): no figures computed", file=sys.stderr)
        return EXIT_FAIL
    report, per_file = evaluate_sets(engine, sets)
    if args.json:
        print(json.dumps(report_json(report, per_file), ensure_ascii=False, indent=2))
    else:
        print(format_report(report, per_file))
    return EXIT_OK


def _guard(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        folder = _resolve_folder(args)
        if folder is None:
            print(
                f"thesiswatch rules: DIR {args.dir} and --rules {args.rules} disagree: give one",
                file=sys.stderr,
            )
            return EXIT_USAGE
        args.rules = folder
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


def _folder_args(p: argparse.ArgumentParser, default: str, *, positional: bool) -> None:
    """Every subcommand takes the folder as ``--rules DIR`` with one default; ``check`` and
    ``test``, whose only argument it is, take it as ``DIR`` too."""
    p.add_argument(
        "--rules", dest="rules", default=None, metavar="DIR", help=f"rules folder ({default})"
    )
    if positional:
        p.add_argument("dir", nargs="?", default=None, metavar="DIR", help="same as --rules")
    p.set_defaults(rules_default=default)


def _resolve_folder(args: argparse.Namespace) -> str | None:
    """The folder asked for, or an error line when DIR and --rules disagree."""
    given = getattr(args, "dir", None)
    if given is not None and args.rules is not None and given != args.rules:
        return None
    return str(given or args.rules or args.rules_default)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``rules`` command and its subcommands to the ``thesiswatch`` parser."""
    parser = subparsers.add_parser("rules", help="check, test and try the rule files")
    sub = parser.add_subparsers(dest="rules_command", required=True, metavar="SUBCOMMAND")
    # The folder the running bot uses, so `rules check` checks what `run` will load.
    default = os.environ.get("THESISWATCH_RULES_DIR") or str(DEFAULT_RULES)

    p = sub.add_parser("check", help="validate a rules folder; exit 1 listing every problem")
    _folder_args(p, default, positional=True)
    p.set_defaults(func=_guard(cmd_check))

    p = sub.add_parser(
        "test", help="run every rule's examples; show each failure and other legs' rules firing"
    )
    _folder_args(p, default, positional=True)
    p.set_defaults(func=_guard(cmd_test))

    p = sub.add_parser("classify", help="print the signals for each JSON line of FILE ('-': stdin)")
    p.add_argument("file", metavar="FILE.jsonl")
    _folder_args(p, default, positional=False)
    p.set_defaults(func=_guard(cmd_classify))

    p = sub.add_parser("eval", help="score the rules against labelled JSON lines in FILEs")
    p.add_argument("files", nargs="+", metavar="FILE.jsonl", help="labelled items ('-': stdin)")
    _folder_args(p, default, positional=False)
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=_guard(cmd_eval))

    p = sub.add_parser("vocab", help="what a vocabulary matches, and the rules that use it")
    p.add_argument("name", metavar="NAME", help="a vocabulary (with or without its $)")
    _folder_args(p, default, positional=False)
    p.set_defaults(func=_guard(cmd_vocab))
