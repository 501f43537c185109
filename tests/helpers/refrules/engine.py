"""REFERENCE: main's rules engine as of 87ca9a4, frozen (evaluate only) so
tests/rules/test_engine_identity.py can check the optimised rules/engine.py raises identical
signals. Do not optimise or change: it is the "before" (a change of semantics is made in
both, in step, and says so).

The compiled rule set: one word trie over every phrase, rules woken only by what they need.

Evaluating an item costs a walk of the trie over its words plus the rules whose anchor
phrases occur in it, so the cost hardly depends on how many rules there are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

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
)
from rules.text import fold
from tests.helpers.refrules.matchers import (
    AS_HEADLINE,
    GAP,
    Atoms,
    GuardMatcher,
    Matcher,
    Occ,
    Text,
    compile_expr,
    own_clause,
    required_groups,
)
from tests.helpers.refrules.scan import PhraseIndex, SpanMaker
from tests.helpers.refrules.story import (
    VETOED,
    Fired,
    Reader,
    Reading,
    attempt,
    resolve,
    side,
)

__all__ = ["Engine", "compile_ruleset"]


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: Rule
    matcher: Matcher
    veto: tuple[GuardMatcher, ...]
    hedge: tuple[GuardMatcher, ...]
    text: Reader  # the same, with the package parts' ``when``, for story reading
    lead: Reader | None = None  # the lead read as the headline (rules with ``lead`` only)


def _guards(
    guards: tuple[Guard, ...], atoms: Atoms, retarget: Mapping[Field, Field] | None = None
) -> tuple[GuardMatcher, ...]:
    return tuple(GuardMatcher(compile_expr(g.expr, atoms, "any", retarget), g.near) for g in guards)


def _compile_rule(rule: Rule, atoms: Atoms) -> _CompiledRule:
    matcher = compile_expr(rule.match, atoms, "any")
    veto, hedge = _guards(rule.veto, atoms), _guards(rule.hedge, atoms)
    parts = tuple(compile_expr(p.when, atoms, "any") for p in rule.package)
    lead = None
    if rule.lead is not None:
        lead = Reader(
            compile_expr(rule.match, atoms, "any", AS_HEADLINE),
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
        # Summary words that hedge no lead-pass reading (the ``reported-modals`` vocabulary).
        self._spare = frozenset(
            p for v in ruleset.vocabularies if v.name == "reported-modals" for p in v.phrases
        )
        atoms = Atoms()
        compiled: list[_CompiledRule] = []
        required: list[tuple[frozenset[int], ...]] = []
        for rule in ruleset.rules:
            compiled.append(_compile_rule(rule, atoms))
            required.append(tuple(dict.fromkeys(required_groups(rule.match, atoms))))
        # Index each rule under the group of atoms that occurs least across the rule set, so
        # a word every rule uses ("china") does not wake them all.
        frequency: dict[int, int] = {}
        for groups in required:
            for atom in set().union(*groups):
                frequency[atom] = frequency.get(atom, 0) + 1
        index: dict[int, list[int]] = {}
        unanchored: list[int] = []
        for number, groups in enumerate(required):
            if not groups:
                unanchored.append(number)  # the loader refuses these; kept correct anyway
                continue
            anchor = min(groups, key=lambda g: (sum(frequency[a] for a in g), sorted(g)))
            for atom in anchor:
                index.setdefault(atom, []).append(number)
        self._rules = tuple(compiled)
        self._story = any(rule.reads_story for rule in ruleset.rules)
        self._required = tuple(required)
        self._index = {atom: tuple(numbers) for atom, numbers in index.items()}
        self._unanchored = tuple(unanchored)
        self._phrases = PhraseIndex(atoms)

    def _read(self, item: Item) -> Text:
        (title, title_folded), (summary, summary_folded) = fold(item.title), fold(item.summary)
        text = Text(
            (title, summary),
            (title_folded, summary_folded),
            (title_folded.split(), summary_folded.split()),
        )
        self._phrases.scan(text)
        return text

    def _wake(self, text: Text) -> tuple[set[int], set[int]]:
        """The atoms present, and the rules anchored on one of them."""
        present = text.occ.keys() | text.literals
        woken: set[int] = set(self._unanchored)
        for atom in present:
            woken.update(self._index.get(atom, ()))
        return present, woken

    def evaluate(self, item: Item) -> tuple[Signal, ...]:
        """Every signal the rule set raises on ``item``, in rule-id order (a package part's
        right after its rule's), as the story reading resolves them (rules/story.py)."""
        text = self._read(item)
        present, woken = self._wake(text)
        signals: list[Signal] = []
        spans_of: Callable[[list[Occ]], tuple[Span, ...]] = SpanMaker(text).spans
        if self._story:
            return self._read_story(item, text, woken, present, spans_of)[0]
        for number in sorted(woken):
            # Cheap check first: every group the rule needs has a word in the text.
            if any(present.isdisjoint(group) for group in self._required[number]):
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
        for number in sorted(woken):
            if any(present.isdisjoint(group) for group in self._required[number]):
                continue
            compiled = self._rules[number]
            rule = compiled.rule
            if item.tier not in rule.tiers:
                continue
            sentence = rule.scope == "sentence"
            got = attempt(compiled.text, text, sentence=sentence, always_hedged=rule.hedged)
            if got == VETOED:
                vetoed.add((rule.leg, side(rule.effect)))
            elif isinstance(got, Fired):
                readings += self._readings(compiled, number, got, item, spans_of, lead=False)
            elif compiled.lead is not None:
                leads.append(number)
        for number in leads:
            compiled = self._rules[number]
            assert compiled.lead is not None
            got = attempt(
                compiled.lead,
                text,
                sentence=False,
                always_hedged=compiled.rule.hedged,
                spare=self._spare,
            )
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
                # Semantics kept in step with rules/engine.py (issue 9: a package term read
                # in the summary is a lead reading), so the identity test still compares speed
                # work only.
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
        return Signal(
            item_key=item.key,
            rule_id=head.id,
            ruleset_version=self.ruleset.version,
            leg=head.leg,
            effect=head.effect,
            direction=head.direction,
            severity=severity,
            tickers=head.tickers,
            spans=spans_of(evidence),
            hedged=hedged,
            source=item.source,
            tier=item.tier,
            published=item.published,
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
        hedges = own_clause(text, match, held)
        evidence = match + hedges
        hedged = bool(hedges) or rule.hedged
        severity = _downgrade(rule.severity) if hedged else rule.severity
        return self._signal(item, spans_of, rule, severity, evidence, hedged)


def compile_ruleset(ruleset: RuleSet) -> Engine:
    """Compile a validated rule set once; reuse the engine for every item."""
    return Engine(ruleset)
