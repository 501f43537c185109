"""The regex escape hatch: the literal it must contain, and patterns refused as too slow."""

from __future__ import annotations

import pytest

from rules.regexcheck import RegexProblem, analyse_regex


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [
        ("export (ban|curb)s? on", "export "),
        (r"\bh\d+ ban", " ban"),
        ("lift.*ban", "lift"),
        ("(?:rare )earth", "rare earth"),
        ("x+y+zzz", "zzz"),
        ("(abcd)+", "abcd"),
    ],
)
def test_required_literal(pattern: str, literal: str) -> None:
    assert analyse_regex(pattern) == literal


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("(a+)+b", "nested quantifiers"),
        ("(x*y?)*zzz", "nested quantifiers"),
        ("(ab|a)+xyz", "repeated alternation"),
        (".*.*foo", "two unbounded repeats"),
        ("a+a+bbb", "two unbounded repeats"),
        (r"(\w+)\s\1", "backreferences"),
        ("AbC", "capitals"),
        ("(?i)ban", "flags"),
        ("ab?", "plain piece of text"),
        ("x" * 301, "longer than"),
        ("abc(", "invalid regex"),
    ],
)
def test_refused(pattern: str, why: str) -> None:
    with pytest.raises(RegexProblem, match=why):
        analyse_regex(pattern)
