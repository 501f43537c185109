"""The compiled rule set: one word trie over every phrase, rules woken only by what they need.

Evaluating an item costs a walk of the trie over its words plus the rules whose anchor
phrases occur in it, so the cost hardly depends on how many rules there are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import partial

from rules.build import make_signal
from rules.diagnose import Trace, describe, trace_rule
from rules.groups import GroupNumbers, groups_found, title_groups
from rules.itemtext import REPORTED_MODALS, in_clause, new_text
from rules.matchers import (
    AS_HEADLINE,
    GAP,
    Atoms,
    GuardMatcher,
    Matcher,
    Occ,
    Text,
    compile_expr,
    required_groups,
)
from rules.model import (
    SEVERITIES,
    Field,
    Guard,
    Item,
    PackagePart,
    Rule,
    RuleSet,
    Severity,
    Signal,
    Span,
    Tier,
)
from rules.scan import PhraseIndex, spans
from rules.scores import POSITIVE
from rules.story import (
    LEAD_UNIT,
    VETOED,
    Fired,
    Reader,
    Reading,
    attempt,
    read_once,
    resolve,
    side,
    unit_name,
)
from rules.text import fold

__all__ = ["Engine", "compile_ruleset"]


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: Rule
    matcher: Matcher
    veto: tuple[GuardMatcher, ...]
    hedge: tuple[GuardMatcher, ...]
    text: Reader  # the same, with the package parts' ``when``, for story reading
    lead: Reader | None = None  # the lead read as the headline (rules with ``lead`` only)


# A rule as the story reading checks and reads it: its groups to find in the text, in the
# title and before a lead pass (by number), the rule, its tiers, sentence scope and hedging.
_StoryRule = tuple[
    frozenset[int], frozenset[int], frozenset[int], _CompiledRule, tuple[Tier, ...], bool, bool
]


def _guards(
    guards: tuple[Guard, ...], atoms: Atoms, retarget: Mapping[Field, Field] | None = None
) -> tuple[GuardMatcher, ...]:
    return tuple(GuardMatcher(compile_expr(g.expr, atoms, "any", retarget), g.near) for g in guards)


def _compile_rule(rule: Rule, atoms: Atoms) -> _CompiledRule:
    # The engine checks the match's required groups before it runs the rule on the whole
    # text; its matcher need not check them again.
    checked = frozenset(required_groups(rule.match, atoms))
    matcher = compile_expr(rule.match, atoms, "any", None, checked, flatten=False)
    veto, hedge = _guards(rule.veto, atoms), _guards(rule.hedge, atoms)
    parts = tuple(compile_expr(p.when, atoms, "any") for p in rule.package)
    lead = None
    if rule.lead is not None:
        lead = Reader(
            compile_expr(rule.match, atoms, "any", AS_HEADLINE, checked, flatten=False),
            _guards(rule.veto, atoms, AS_HEADLINE),
            _guards(rule.hedge, atoms, AS_HEADLINE),
            tuple(compile_expr(p.when, atoms, "any", AS_HEADLINE) for p in rule.package),
        )
    return _CompiledRule(rule, matcher, veto, hedge, Reader(matcher, veto, hedge, parts), lead)


def _downgrade(severity: Severity) -> Severity:
    return SEVERITIES[max(SEVERITIES.index(severity) - 1, 0)]


def _lower(severity: Severity, steps: int) -> Severity:
    return SEVERITIES[max(SEVERITIES.index(severity) - steps, 0)]


class Engine:
    """A compiled :class:`RuleSet`. Immutable once built; :meth:`evaluate` is pure."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self._reported = frozenset(
            p for v in ruleset.vocabularies if v.name == REPORTED_MODALS for p in v.phrases
        )
        atoms = Atoms()
        compiled: list[_CompiledRule] = []
        required: list[tuple[frozenset[int], ...]] = []
        in_title: list[tuple[frozenset[int], ...]] = []
        for rule in ruleset.rules:
            compiled.append(_compile_rule(rule, atoms))
            required.append(tuple(dict.fromkeys(required_groups(rule.match, atoms))))
            in_title.append(tuple(dict.fromkeys(title_groups(rule.match, atoms))))
        # Index each rule under the group of atoms that occurs least across the rule set, so
        # a word every rule uses ("china") does not wake them all.
        frequency: dict[int, int] = {}
        for groups in required:
            for atom in set().union(*groups):
                frequency[atom] = frequency.get(atom, 0) + 1
        index: dict[int, list[int]] = {}
        unanchored: list[int] = []
        checks: list[tuple[tuple[frozenset[int], ...], ...]] = []

        def rarity(group: frozenset[int]) -> tuple[int, list[int]]:
            return sum(frequency.get(a, 0) for a in group), sorted(group)

        def rarest_first(groups: Iterable[frozenset[int]]) -> tuple[frozenset[int], ...]:
            return tuple(sorted(groups, key=rarity))

        for number, groups in enumerate(required):
            anchor: frozenset[int] | None = None
            if groups:
                anchor = rarest_first(groups)[0]
                for atom in anchor:
                    index.setdefault(atom, []).append(number)
            else:
                unanchored.append(number)  # the loader refuses these; kept correct anyway
            # A woken rule has a word of its anchor group; a group the title check (below)
            # finds in the title is present too. What is left is checked against the text,
            # rarest first; the rest only before a lead pass (the title check failed).
            titled = set(in_title[number])
            rest = rarest_first(g for g in groups if g != anchor and g not in titled)
            lead_only = rarest_first(g for g in groups if g != anchor and g in titled)
            checks.append((rest, rarest_first(in_title[number]), lead_only))
        self._rules = tuple(compiled)
        self._story = any(rule.reads_story for rule in ruleset.rules)
        # Signal id -> (rule number, package part number or -1), for :meth:`trace`.
        self._signal_ids = {c.rule.id: (n, -1) for n, c in enumerate(compiled)}
        for n, c in enumerate(compiled):
            self._signal_ids.update({p.id: (n, k) for k, p in enumerate(c.rule.package)})
        # Per rule: groups to find in the text, groups to find in the title (for its match
        # to find anything), and groups to find in the text before a lead pass.
        self._checks = tuple(checks)
        # The same by group numbers (rules/groups.py), with what the story reading asks of
        # each rule, in one tuple per rule.
        numbers = GroupNumbers()
        self._story_rules: tuple[_StoryRule, ...] = tuple(
            (
                numbers.number(rest),
                numbers.number(titled),
                numbers.number(lead_only),
                c,
                c.rule.tiers,
                c.rule.scope == "sentence",
                c.rule.hedged,
            )
            for (rest, titled, lead_only), c in zip(checks, compiled, strict=True)
        )
        self._groups_by_atom = numbers.by_atom()
        self._index = {atom: tuple(numbers) for atom, numbers in index.items()}
        self._anchors = frozenset(self._index)
        self._unanchored = tuple(unanchored)
        self._phrases = PhraseIndex(atoms)

    def _read(self, item: Item) -> Text:
        (title, title_folded), (summary, summary_folded) = fold(item.title), fold(item.summary)
        text = new_text(
            (title, summary),
            (title_folded, summary_folded),
            (title_folded.split(), summary_folded.split()),
        )
        self._phrases.scan(text)
        return text

    def _wake(self, text: Text) -> tuple[set[int], set[int]]:
        """The atoms present, and the rules anchored on one of them."""
        present = text.present
        woken: set[int] = set(self._unanchored)
        woken.update(*map(self._index.__getitem__, present & self._anchors))
        return present, woken

    def trace(self, item: Item, signal_ids: Iterable[str]) -> tuple[Trace, ...]:
        """How far each rule (or package part, by its signal id) got on ``item``, and what
        stopped it (for ``rules eval``). Slower than :meth:`evaluate`: it tries every part of
        each rule on its own, in every way the rule reads the item."""
        text = self._read(item)
        dropped: dict[str, str] = {}
        if self._story:
            present, woken = self._wake(text)
            dropped = self._read_story(item, text, woken, present, partial(spans, text))[1]
        traces = tuple(self._trace(i, text, item.tier, dropped) for i in signal_ids)
        doubt = self.ruleset.doubt
        return traces if doubt is None else doubt.mark_traces(item, traces, self._is_break)

    def _is_break(self, signal_id: str) -> bool:
        number, part = self._signal_ids[signal_id]
        rule = self._rules[number].rule
        return (rule.effect if part < 0 else rule.package[part].effect) in POSITIVE

    def _trace(self, signal_id: str, text: Text, tier: Tier, dropped: dict[str, str]) -> Trace:
        number, part = self._signal_ids[signal_id]
        compiled = self._rules[number]
        rule = compiled.rule
        ways: list[tuple[Reader, Text, str]] = [(compiled.text, text, "")]
        if rule.scope == "sentence":
            ways = [(compiled.text, text.unit(n), unit_name(n)) for n in range(len(text.units))]
        if compiled.lead is not None:
            ways.append((compiled.lead, text, unit_name(LEAD_UNIT)))
        traced = [
            (trace_rule(rule, r.matcher, r.veto, r.hedge, view, tier, read, spare), r, view)
            for r, view, read in ways
            for spare in [self._reported if r is compiled.lead else frozenset()]
        ]
        best, reader, view = max(traced, key=lambda t: t[0].rank)
        missed_part = part >= 0 and reader.parts[part].eval(view) is None
        if missed_part and best.outcome in ("fired", "hedged"):
            when = f"package when: {describe(rule.package[part].when)}"
            best = replace(best, outcome="partial", parts=best.parts + 1, missing=(when,))
        best = replace(best, rule_id=signal_id)
        if signal_id in dropped and best.outcome in ("fired", "hedged"):
            best = replace(best, outcome="dropped", detail=dropped[signal_id])
        return best

    def evaluate(self, item: Item) -> tuple[Signal, ...]:
        """Every signal the rule set raises on ``item``, in rule-id order (a package part's
        right after its rule's), as the story reading resolves them (rules/story.py); the
        breaks the second stage doubts hedged (rules/doubt.py)."""
        signals = self.evaluate_rules(item)
        doubt = self.ruleset.doubt
        return signals if doubt is None else doubt.review(item, signals)

    def evaluate_rules(self, item: Item) -> tuple[Signal, ...]:
        """:meth:`evaluate` without the second stage."""
        text = self._read(item)
        present, woken = self._wake(text)
        signals: list[Signal] = []
        spans_of: Callable[[list[Occ]], tuple[Span, ...]] = partial(spans, text)
        if self._story:
            return self._read_story(item, text, woken, present, spans_of)[0]
        in_title, checks = text.in_title, self._checks
        for number in sorted(woken):
            # Cheap checks first: every group the rule needs has a word in the text, and
            # those its match looks for in the title, in the title.
            rest, titled, _ = checks[number]
            if any(map(present.isdisjoint, rest)) or any(map(in_title.isdisjoint, titled)):
                continue
            signal = self._fire(self._rules[number], item, text, spans_of)
            if signal is not None:
                signals.append(signal)
        return tuple(signals)

    def _read_story(
        self,
        item: Item,
        text: Text,
        woken: set[int],
        present: set[int],
        spans_of: Callable[[list[Occ]], tuple[Span, ...]],
    ) -> tuple[tuple[Signal, ...], dict[str, str]]:
        """:meth:`evaluate` for a rule set with story rules: every rule read, the lead read
        for the rules it may fill in for, then the readings resolved (rules/story.py)."""
        readings: list[Reading] = []
        vetoed: set[tuple[str, str]] = set()
        leads: list[int] = []
        story, tier, by_atom = self._story_rules, item.tier, self._groups_by_atom
        # The groups with an atom in the text, and in the title: each rule's checks are then
        # subset tests (the same tests as ``any(map(present.isdisjoint, groups))``).
        found, in_title = groups_found(by_atom, present), groups_found(by_atom, text.in_title)
        for number in sorted(woken):
            rest, titled, lead_only, compiled, tiers, sentence, hedged = story[number]
            if not rest <= found or tier not in tiers:
                continue
            got: Fired | str | None = None  # its match would find nothing (it needs the title)
            if titled <= in_title:
                if sentence:
                    got = attempt(compiled.text, text, sentence=True, always_hedged=hedged)
                else:
                    got = read_once(compiled.text, text, hedged)
            elif compiled.lead is None or not lead_only <= found:
                continue
            if got is None:
                if compiled.lead is not None:
                    leads.append(number)
            elif got is VETOED:
                vetoed.add((compiled.rule.leg, side(compiled.rule.effect)))
            else:
                assert isinstance(got, Fired)
                readings += self._readings(compiled, number, got, item, spans_of, lead=False)
        for number in leads:
            compiled = self._rules[number]
            assert compiled.lead is not None
            got = read_once(compiled.lead, text, compiled.rule.hedged, self._reported)
            if isinstance(got, Fired):
                readings += self._readings(compiled, number, got, item, spans_of, lead=True)
        return resolve(readings, vetoed, text.unit_of)

    def _readings(
        self,
        compiled: _CompiledRule,
        number: int,
        fired: Fired,
        item: Item,
        spans_of: Callable[[list[Occ]], tuple[Span, ...]],
        *,
        lead: bool,
    ) -> list[Reading]:
        """The signal of a story rule that fired, and one per package part whose ``when``
        holds where it fired."""
        rule = compiled.rule
        reader = compiled.lead if lead and compiled.lead is not None else compiled.text
        # The lead reads at the rule's lead severity; package parts step down as far.
        step = SEVERITIES.index(rule.severity) - SEVERITIES.index(rule.lead) if rule.lead else 0
        step = step if lead else 0
        package = number if rule.package else -1
        evidence = fired.match + fired.hedges
        severity = _lower(rule.severity, step + fired.hedged)
        signal = self._signal(item, spans_of, rule, severity, evidence, fired.hedged)
        out = [Reading(signal, fired.match, rule.reads_story, lead, package)]
        for part, when in zip(rule.package, reader.parts, strict=True):
            found = when.eval(fired.view)
            if found is not None:
                severity = _lower(part.severity, step + fired.hedged)
                signal = self._signal(
                    item, spans_of, part, severity, evidence + found, fired.hedged
                )
                # A term the headline does not name, read in the summary, is a lead reading:
                # it fills in beside the lead's own rules, it does not overrule them.
                in_lead = lead or all(o[0] >= GAP for o in found)
                out.append(Reading(signal, fired.match + found, rule.reads_story, in_lead, package))
        return out

    def _signal(
        self,
        item: Item,
        spans_of: Callable[[list[Occ]], tuple[Span, ...]],
        head: Rule | PackagePart,
        severity: Severity,
        evidence: list[Occ],
        hedged: bool,
    ) -> Signal:
        """The signal of a rule (or a package part) that fired on ``evidence``."""
        return make_signal(
            item.key,
            head.id,
            self.ruleset.version,
            head.leg,
            head.effect,
            head.direction,
            severity,
            head.tickers,
            spans_of(evidence),
            hedged,
            item.source,
            item.tier,
            item.published,
        )

    def _fire(
        self,
        compiled: _CompiledRule,
        item: Item,
        text: Text,
        spans_of: Callable[[list[Occ]], tuple[Span, ...]],
    ) -> Signal | None:
        rule = compiled.rule
        if item.tier not in rule.tiers:
            return None
        match = compiled.matcher.eval(text)
        if match is None:
            return None
        if any(g.holds(text, match) is not None for g in compiled.veto):
            return None
        held = [o for g in compiled.hedge if (got := g.holds(text, match)) is not None for o in got]
        hedges = in_clause(text, match, held)
        evidence = match + hedges
        hedged = bool(hedges) or rule.hedged
        severity = _downgrade(rule.severity) if hedged else rule.severity
        return self._signal(item, spans_of, rule, severity, evidence, hedged)


def compile_ruleset(ruleset: RuleSet) -> Engine:
    """Compile a validated rule set once; reuse the engine for every item."""
    return Engine(ruleset)
