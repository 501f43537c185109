"""Why a rule did not fire on an item: how much of its match held, and what stopped it.

``rules eval`` uses this to group each miss under the rule that came nearest to catching it,
so a rule author sees which rule to look at and what it lacked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, TypeAlias

from rules.itemtext import in_clause, spare_reported
from rules.matchers import GAP, ExprMatcher, GuardMatcher, Matcher, Occ, Text, window
from rules.model import Expr, Field, Guard, Node, Rule, Term, Tier, Vocabulary
from rules.text import canonical

__all__ = ["Outcome", "Trace", "describe", "trace_rule", "vocabularies_in"]

Outcome: TypeAlias = Literal[
    "fired", "dropped", "hedged", "vetoed", "excluded", "tier", "partial", "silent"
]
# How near a complete match each outcome is, for ranking the rules that could have fired.
_RANK: dict[Outcome, int] = {
    "fired": 7,
    "dropped": 6,
    "hedged": 5,
    "vetoed": 4,
    "excluded": 3,
    "tier": 2,
    "partial": 1,
    "silent": 0,
}


@dataclass(frozen=True, slots=True)
class Trace:
    """One rule on one item.

    ``outcome``: ``fired``; ``dropped`` (it fired, but the story reading overruled it:
    rules/story.py); ``hedged``; ``vetoed``; ``excluded`` (a ``none`` of its match held);
    ``tier`` (the item's source tier is not among the rule's); ``partial`` (some parts of its
    match held); ``silent`` (none did). ``matched``/``parts`` count the top-level parts of the
    match that held (``within`` counts as a part of its own); ``missing`` describes the rest;
    ``detail`` names the veto, hedge or ``none`` that held and the words it found.
    """

    rule_id: str
    outcome: Outcome
    matched: int
    parts: int
    missing: tuple[str, ...] = ()
    detail: str = ""
    read: str = ""  # where the rule read the item when it reads the story ("the lead")

    @property
    def rank(self) -> tuple[int, float, int]:
        """Sort key: a higher rank came nearer to firing."""
        return (_RANK[self.outcome], self.matched / self.parts if self.parts else 0.0, self.matched)

    def reason(self) -> str:
        """One line for a report."""
        where = f"in {self.read}: " if self.read else ""
        if self.outcome in ("partial", "silent"):
            return f"{where}{self.matched}/{self.parts} parts; missing {'; '.join(self.missing)}"
        if self.outcome == "tier":
            return f"{where}matched, but {self.detail}"
        if self.outcome == "dropped":
            return f"{where}fired, but dropped: {self.detail}"
        return f"{where}{self.outcome}{' by ' + self.detail if self.detail else ''}"


def describe(node: Node | Guard, within: Field = "any") -> str:
    """A compact YAML-like rendering of an expression, as a rule author wrote it.

    ``within``: the field the enclosing expression reads (an ``in:`` it passes down is not
    repeated).
    """
    if isinstance(node, Guard):
        near = [f"near: {node.near}"] if node.near is not None else []
        return "{" + ", ".join(_keys(node.expr, within) + near) + "}"
    if isinstance(node, Term):
        return node.source
    if node.field == within and node.any and not (node.all or node.none or node.regex):
        return _listed(node.any, node.field)  # a list inside a list
    return "{" + ", ".join(_keys(node, within)) + "}"


def _listed(nodes: tuple[Node, ...], field: Field) -> str:
    return "[" + ", ".join(describe(n, field) for n in nodes) + "]"


def _keys(node: Expr, within: Field) -> list[str]:
    keys: list[str] = []
    if node.field != within:
        keys.append(f"in: {node.field}")
    for key, nodes in (("all", node.all), ("any", node.any), ("none", node.none)):
        if nodes:
            keys.append(f"{key}: {_listed(nodes, node.field)}")
    if node.regex is not None:
        keys.append(f"regex: {node.regex.pattern!r}")
    if node.within is not None:
        keys.append(f"within: {node.within}")
    return keys


def _words(text: Text, occs: Sequence[Occ]) -> str:
    out: list[str] = []
    for start, end in sorted(set(occs))[:3]:
        field = 1 if start >= GAP else 0
        words = text.words[field][start - field * GAP : end - field * GAP]
        out.append(" ".join(words))
    return ", ".join(repr(w) for w in out)


def _parts(expr: Expr, matcher: ExprMatcher, text: Text) -> tuple[int, int, list[str]]:
    """Top-level parts of a match that hold, how many there are, and the missing ones."""
    matched, missing = 0, []
    lists: list[list[Occ]] = []
    field = expr.field
    for node, part in zip(expr.all, matcher.all, strict=True):
        got = part.eval(text)
        if got is None:
            missing.append(describe(node, field))
        else:
            matched += 1
            lists.append(got)
    parts = len(expr.all)
    if expr.any:
        parts += 1
        if any(part.eval(text) is not None for part in matcher.any):
            matched += 1
        else:
            missing.append("any of [" + ", ".join(describe(n, field) for n in expr.any) + "]")
    if expr.regex is not None and matcher.regex is not None:
        parts += 1
        if matcher.regex.eval(text) is not None:
            matched += 1
        else:
            missing.append(f"regex {expr.regex.pattern!r}")
    if expr.within is not None:
        parts += 1
        if len(lists) == len(expr.all) and window(lists, expr.within) is not None:
            matched += 1
        elif len(lists) == len(expr.all):
            missing.append(f"its parts within {expr.within} words of each other")
    return matched, parts, missing


def _held(
    guards: tuple[Guard, ...],
    compiled: tuple[GuardMatcher, ...],
    text: Text,
    match: list[Occ],
    *,
    clause: bool = False,
    spare: frozenset[str] = frozenset(),
) -> str:
    # ``clause``: hedges count only in the match's clause, and not on ``spare`` words in the
    # summary, as the engine reads them.
    for guard, matcher in zip(guards, compiled, strict=True):
        found = matcher.holds(text, match)
        if found is not None and clause:
            found = in_clause(text, match, spare_reported(text, found, spare)) or None
        if found is not None:
            return f"{describe(guard)} on {_words(text, found)}"
    return ""


def trace_rule(
    rule: Rule,
    matcher: Matcher,
    veto: tuple[GuardMatcher, ...],
    hedge: tuple[GuardMatcher, ...],
    text: Text,
    tier: Tier,
    read: str = "",
    spare: frozenset[str] = frozenset(),
) -> Trace:
    """How far ``rule`` (compiled as ``matcher``, ``veto``, ``hedge``) got on ``text``;
    ``read`` names where, for a rule read more than one way; ``spare``: summary words that
    hedge nothing (the lead pass's reported modals)."""
    return replace(_trace(rule, matcher, veto, hedge, text, tier, spare), read=read)


def _trace(
    rule: Rule,
    matcher: Matcher,
    veto: tuple[GuardMatcher, ...],
    hedge: tuple[GuardMatcher, ...],
    text: Text,
    tier: Tier,
    spare: frozenset[str],
) -> Trace:
    assert isinstance(matcher, ExprMatcher)  # a rule's match is always an expression
    matched, parts, missing = _parts(rule.match, matcher, text)
    if matched < parts:
        outcome: Outcome = "partial" if matched else "silent"
        return Trace(rule.id, outcome, matched, parts, tuple(missing))
    match = matcher.eval(text)
    if match is None:
        for node, part in zip(rule.match.none, matcher.none, strict=True):
            found = part.eval(text)
            if found is not None:
                detail = f"none: {describe(node, rule.match.field)} on {_words(text, found)}"
                return Trace(rule.id, "excluded", matched, parts, (), detail)
        return Trace(rule.id, "partial", matched - 1, parts, ("a complete match",))
    if tier not in rule.tiers:
        detail = f"the rule reads only {', '.join(rule.tiers)} sources, not {tier}"
        return Trace(rule.id, "tier", matched, parts, (), detail)
    vetoed = _held(rule.veto, veto, text, match)
    if vetoed:
        return Trace(rule.id, "vetoed", matched, parts, (), vetoed)
    hedged = _held(rule.hedge, hedge, text, match, clause=True, spare=spare)
    if hedged or rule.hedged:
        detail = hedged or "the rule (hedged: true)"
        return Trace(rule.id, "hedged", matched, parts, (), detail)
    return Trace(rule.id, "fired", matched, parts)


def vocabularies_in(
    vocabularies: Sequence[Vocabulary], title: str, summary: str
) -> tuple[str, ...]:
    """The names of the vocabularies with a phrase in the title or the summary."""
    texts = [f" {canonical(title)} ", f" {canonical(summary)} "]
    return tuple(
        f"${v.name}" for v in vocabularies if any(f" {p} " in t for p in v.phrases for t in texts)
    )
