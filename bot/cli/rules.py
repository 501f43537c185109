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
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from bot.cli.doubt import add_doubt_parser, cmd_doubt
from bot.pipeline.rulebook import RulesFolderError, read_book_files
from bot.settings import DEFAULT_RULES
from bot.views.vocab import cross_fires, vocab_text, vocab_view
from rules import (
    LabelledItem,
    RecordError,
    RuleSet,
    YamlError,
    compile_ruleset,
    evaluate_sets,
    format_report,
    item_from_record,
    labelled_from_record,
    report_json,
    run_examples,
)
from rules.book import Book, load_book
from rules.examples import doubted_examples

__all__ = ["register"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _folders(specs: str | list[str]) -> list[Path]:
    """Folders given one by one or as one ``os.pathsep``-separated list (as the setting)."""
    specs = [specs] if isinstance(specs, str) else specs
    return [Path(p) for spec in specs for p in spec.split(os.pathsep) if p]


def _load_book(specs: str | list[str], out: TextIO) -> Book | None:
    folders = _folders(specs)
    try:
        return load_book(read_book_files(folders))
    except YamlError as exc:
        for problem in exc.problems:
            print(problem, file=out)
        where = ", ".join(map(str, folders))
        print(f"{len(exc.problems)} problem(s) in {where}", file=sys.stderr)
        return None


def _load(folder: str | list[str], out: TextIO) -> RuleSet | None:
    """The one thesis these folders hold (the default one when they hold several)."""
    book = _load_book(folder, out)
    return book.default if book is not None else None


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


def cmd_check(args: argparse.Namespace) -> int:
    """Validate rules folders; list every problem."""
    book = _load_book(args.rules, sys.stdout)
    if book is None:
        return EXIT_FAIL
    for ruleset in book.rulesets:
        if len(book.rulesets) > 1:
            print(f"thesis {ruleset.thesis.name}:")
        _check_one(ruleset)
    return EXIT_OK


def _check_one(ruleset: RuleSet) -> None:
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


def cmd_test(args: argparse.Namespace) -> int:
    """Run every rule's examples, thesis by thesis; then each example other legs' rules fire
    on too."""
    book = _load_book(args.rules, sys.stdout)
    if book is None:
        return EXIT_FAIL
    failed = 0
    for ruleset in book.rulesets:
        engine = compile_ruleset(ruleset)
        failures = run_examples(engine)
        for failure in failures:
            print(failure)
        total = sum(len(r.should_match) + len(r.should_not_match) for r in ruleset.rules)
        head = f"{ruleset.thesis.name}: " if len(book.rulesets) > 1 else ""
        crossings = cross_fires(engine)
        if crossings:
            print(f"\n{head}{len(crossings)} example(s) also fire rules of other legs:")
            for line in crossings:
                print(f"  {line}")
        doubted = doubted_examples(engine)
        if doubted:
            print(f"\n{head}{len(doubted)} example(s) the second stage (doubt.json) would hedge:")
            for d in doubted:
                print(f"  {d.where}: {d.rule_id}: {d.title!r}")
        print(f"{head}{total} examples in {len(ruleset.rules)} rules, {len(failures)} failed")
        failed += len(failures)
    return EXIT_FAIL if failed else EXIT_OK


def cmd_vocab(args: argparse.Namespace) -> int:
    """What a vocabulary matches: its phrases (inflections spelt out) and who uses it."""
    ruleset = _load(args.rules, sys.stdout)
    if ruleset is None:
        return EXIT_FAIL
    found = vocab_view(ruleset, args.name)
    if isinstance(found, str):
        print(f"thesiswatch rules: {found}", file=sys.stderr)
        return EXIT_FAIL
    print(vocab_text(found))
    return EXIT_OK


def cmd_classify(args: argparse.Namespace) -> int:
    """One JSON line of signals per input line (each signal names its thesis when the folders
    hold several)."""
    book = _load_book(args.rules, sys.stdout)
    if book is None:
        return EXIT_FAIL
    engines = [compile_ruleset(rs) for rs in book.rulesets]
    several = len(engines) > 1
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
            ({"thesis": engine.ruleset.thesis.name} if several else {})
            | {
                "rule": s.rule_id,
                "leg": s.leg,
                "effect": s.effect,
                "direction": s.direction,
                "severity": s.severity,
                "tickers": s.ticker_map(),
                "hedged": s.hedged,
            }
            for engine in engines
            for s in engine.evaluate(item)
        ]
        print(json.dumps({"id": item.key, "signals": signals}, ensure_ascii=False))
    return EXIT_FAIL if bad else EXIT_OK


def _labelled(
    path: str, records: list[tuple[int, dict[str, Any] | str]], rs: RuleSet
) -> tuple[list[LabelledItem], list[str]]:
    """The labelled items of one file for this thesis (``records``: those of its lines that
    are for it), and an error line for each line that is not one."""
    legs = {leg.id for leg in rs.thesis.legs}
    labelled: list[LabelledItem] = []
    errors: list[str] = []
    for number, record in records:
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
    return labelled, errors


def _by_thesis(
    path: str, book: Book
) -> tuple[dict[str, list[tuple[int, dict[str, Any] | str]]], list[str]]:
    """A file's lines by the thesis they label (``thesis``; none: the default thesis)."""
    out: dict[str, list[tuple[int, dict[str, Any] | str]]] = {n: [] for n in book.names}
    errors: list[str] = []
    default = book.default.thesis.name
    for number, record in _records(path):
        thesis = record.get("thesis", default) if isinstance(record, dict) else default
        if thesis not in out:
            known = ", ".join(book.names)
            errors.append(f"{path}:{number}: unknown thesis {thesis!r} (theses: {known})")
            continue
        out[thesis].append((number, record))
    if not any(out.values()) and not errors:
        errors.append(f"{path}: no labelled items")
    return out, errors


_Lines = list[tuple[str, dict[str, list[tuple[int, dict[str, Any] | str]]]]]


def _sets_for(
    rs: RuleSet, lines: _Lines, errors: list[str]
) -> list[tuple[str, list[LabelledItem]]]:
    """Each file's labelled items for this thesis; bad lines added to ``errors``."""
    sets: list[tuple[str, list[LabelledItem]]] = []
    for path, found in lines:
        labelled, problems = _labelled(path, found[rs.thesis.name], rs)
        errors += problems
        if labelled:
            sets.append((path, labelled))
    return sets


def cmd_eval(args: argparse.Namespace) -> int:
    """Precision and recall (overall, per leg, per rule), leg confusion and diagnosed misses
    against labelled lines, thesis by thesis (a line's ``thesis``, else the default thesis);
    any unlabelled or bad line is an error and no figure is printed."""
    book = _load_book(args.rules, sys.stdout)
    if book is None:
        return EXIT_FAIL
    if args.thesis and args.thesis not in book.names:
        print(f"no thesis {args.thesis!r} (theses: {', '.join(book.names)})", file=sys.stderr)
        return EXIT_USAGE
    errors: list[str] = []
    lines: _Lines = []
    for path in args.files:
        found, problems = _by_thesis(path, book)
        lines.append((path, found))
        errors += problems
    reports = []
    for rs in book.rulesets:
        if not args.thesis or rs.thesis.name == args.thesis:
            sets = _sets_for(rs, lines, errors)
            if sets:
                reports.append((replace(rs, doubt=None) if args.no_doubt else rs, sets))
    if not reports and not errors:
        errors.append(f"no labelled items for thesis {args.thesis!r}")
    if errors:
        for error in errors:
            print(error, file=sys.stderr)
        print(f"{len(errors)} problem(s): no figures computed", file=sys.stderr)
        return EXIT_FAIL
    _print_reports(reports, as_json=args.json)
    return EXIT_OK


def _print_reports(
    reports: list[tuple[RuleSet, list[tuple[str, list[LabelledItem]]]]], *, as_json: bool
) -> None:
    done = [(rs, *evaluate_sets(compile_ruleset(rs), sets)) for rs, sets in reports]
    if as_json:
        out = [report_json(r, f) | {"thesis": rs.thesis.name} for rs, r, f in done]
        print(json.dumps(out[0] if len(out) == 1 else out, ensure_ascii=False, indent=2))
        return
    for rs, report, per_file in done:
        if len(done) > 1:
            print(f"== thesis {rs.thesis.name}")
        print(format_report(report, per_file))


def _guard(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        folders = _resolve_folders(args)
        if folders is None:
            print(
                f"thesiswatch rules: DIR {' '.join(args.dir)} and --rules {args.rules} disagree:"
                " give one",
                file=sys.stderr,
            )
            return EXIT_USAGE
        args.rules = folders
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
    """Every subcommand takes the folders as ``--rules DIR[:DIR...]`` with one default;
    ``check`` and ``test``, whose only argument they are, take them as ``DIR...`` too."""
    p.add_argument(
        "--rules",
        dest="rules",
        default=None,
        metavar="DIR",
        help=f"rules folders, one per thesis, separated by '{os.pathsep}' ({default})",
    )
    if positional:
        p.add_argument("dir", nargs="*", metavar="DIR", help="same as --rules, one per thesis")
    p.set_defaults(rules_default=default)


def _resolve_folders(args: argparse.Namespace) -> list[str] | None:
    """The folders asked for, or None when DIR and --rules disagree."""
    given: list[str] = getattr(args, "dir", None) or []
    if given and args.rules is not None and _folders(given) != _folders(args.rules):
        return None
    return given or [args.rules or args.rules_default]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``rules`` command and its subcommands to the ``thesiswatch`` parser."""
    parser = subparsers.add_parser("rules", help="check, test and try the rule files")
    sub = parser.add_subparsers(dest="rules_command", required=True, metavar="SUBCOMMAND")
    # The folders the running bot uses, so `rules check` checks what `run` will load.
    default = os.environ.get("THESISWATCH_RULES_DIR") or str(DEFAULT_RULES)

    p = sub.add_parser("check", help="validate rules folders; exit 1 listing every problem")
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
    p.add_argument("--thesis", metavar="NAME", help="score only this thesis")
    p.add_argument("--no-doubt", action="store_true", help="the rules alone, without doubt.json")
    p.set_defaults(func=_guard(cmd_eval))

    p = add_doubt_parser(sub)
    _folder_args(p, default, positional=False)
    p.set_defaults(func=_guard(cmd_doubt))

    p = sub.add_parser("vocab", help="what a vocabulary matches, and the rules that use it")
    p.add_argument("name", metavar="NAME", help="a vocabulary (with or without its $)")
    _folder_args(p, default, positional=False)
    p.set_defaults(func=_guard(cmd_vocab))
