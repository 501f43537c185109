"""Checks on the regex escape hatch: it must compile, stay linear-ish, and name a literal.

Rule regexes run on the canonical text (lower case, words separated by single spaces). Each
must contain a literal of at least :data:`MIN_LITERAL` characters that every match includes: the
engine looks for that literal with its automaton and runs the regex only when it is present.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

__all__ = ["MAX_PATTERN", "MIN_LITERAL", "RegexProblem", "analyse_regex"]

MIN_LITERAL = 3
MAX_PATTERN = 300

# re._parser has no stubs and no public twin (sre_parse warns); the tree it returns is stable.
_parser: Any = importlib.import_module("re._parser")

_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}
_UNBOUNDED = 65535  # re's MAXREPEAT is at least this; any larger bound is as bad as unbounded


class RegexProblem(ValueError):
    """Why a rule regex is refused."""


def _op(node: tuple[Any, Any]) -> str:
    return str(node[0])


def _children(node: tuple[Any, Any]) -> list[list[tuple[Any, Any]]]:
    op, av = _op(node), node[1]
    if op in _REPEATS:
        return [list(av[2])]
    if op == "SUBPATTERN":
        return [list(av[3])]
    if op == "ATOMIC_GROUP":
        return [list(av)]
    if op in {"ASSERT", "ASSERT_NOT"}:
        return [list(av[1])]
    if op == "BRANCH":
        return [list(branch) for branch in av[1]]
    return []


def _contains(seq: list[tuple[Any, Any]], ops: set[str]) -> bool:
    """Whether any node of ``seq`` (at any depth) is one of ``ops`` (repeats only if max > 1)."""
    for node in seq:
        op = _op(node)
        if op in ops and (op not in _REPEATS or node[1][1] > 1):
            return True
        if any(_contains(child, ops) for child in _children(node)):
            return True
    return False


def _charset(body: list[tuple[Any, Any]]) -> frozenset[int] | None:
    """The characters a one-character repeat body can match, or None if broad or unknown."""
    if len(body) != 1:
        return None
    op, av = _op(body[0]), body[0][1]
    if op == "LITERAL":
        return frozenset({av})
    if op == "IN" and all(_op(part) == "LITERAL" for part in av):
        return frozenset(part[1] for part in av)
    return None


def _overlap(a: frozenset[int] | None, b: frozenset[int] | None) -> bool:
    return a is None or b is None or bool(a & b)


def _check(seq: list[tuple[Any, Any]]) -> None:
    # The body of an unbounded repeat earlier in this sequence with nothing required since:
    # a second one that can eat the same characters makes matching polynomial.
    open_repeat: tuple[frozenset[int] | None] | None = None
    for node in seq:
        op = _op(node)
        if op in {"GROUPREF", "GROUPREF_EXISTS"}:
            raise RegexProblem("backreferences are not supported")
        if op in _REPEATS:
            lo, hi, body = node[1]
            body = list(body)
            if hi > 1 and _contains(body, _REPEATS):
                raise RegexProblem("nested quantifiers (like (a+)+) can backtrack catastrophically")
            if hi > 1 and _contains(body, {"BRANCH"}):
                raise RegexProblem(
                    "a repeated alternation (like (ab|a)+) can backtrack catastrophically"
                )
            if hi >= _UNBOUNDED:
                here = _charset(body)
                if open_repeat is not None and _overlap(open_repeat[0], here):
                    raise RegexProblem(
                        "two unbounded repeats with nothing required between them "
                        "(like .*.*) backtrack badly; put a literal between them"
                    )
                open_repeat = (here,)
            elif lo > 0:
                open_repeat = None
        elif op == "LITERAL":
            open_repeat = None
        for child in _children(node):
            _check(child)


def _flatten(seq: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Inline plain groups so their literals join their neighbours'."""
    out: list[tuple[Any, Any]] = []
    for node in seq:
        if _op(node) == "SUBPATTERN":
            out.extend(_flatten(list(node[1][3])))
        else:
            out.append(node)
    return out


def _required_literal(seq: list[tuple[Any, Any]]) -> str:
    """The longest run of literal characters every match of ``seq`` contains."""
    best, run = "", ""
    for node in _flatten(seq):
        op = _op(node)
        if op == "LITERAL":
            run += chr(node[1])
            continue
        if op == "AT":
            continue  # anchors and \b take no characters, so the run goes on
        best = max(best, run, key=len)
        run = ""
        if op in _REPEATS and node[1][0] >= 1:
            best = max(best, _required_literal(list(node[1][2])), key=len)
    return max(best, run, key=len)


def analyse_regex(pattern: str) -> str:
    """Validate a rule regex and return the literal it requires.

    Raises :class:`RegexProblem` saying what is wrong.
    """
    if len(pattern) > MAX_PATTERN:
        raise RegexProblem(f"regex longer than {MAX_PATTERN} characters")
    try:
        re.compile(pattern)
        tree = _parser.parse(pattern)
    except re.error as exc:
        raise RegexProblem(f"invalid regex: {exc}") from None
    if tree.state.flags & (re.IGNORECASE | re.VERBOSE):
        raise RegexProblem("regex flags are not supported: the text is already lower case")
    seq = list(tree)
    _check(seq)
    literal = _required_literal(seq)
    if literal != literal.lower():
        raise RegexProblem(
            f"regex literal {literal!r} has capitals, but the text it runs on is lower case"
        )
    if len(literal.strip()) < MIN_LITERAL:
        raise RegexProblem(
            f"regex must contain a plain piece of text of at least {MIN_LITERAL} characters "
            "that every match includes (it decides when the regex runs)"
        )
    return literal
