"""The loader's rule part: vocabularies, match expressions, rules and their examples.

Pure; every problem is collected with its place (see :class:`~rules.loadcore.LoaderCore`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rules.loadcore import NAME, LoaderCore, tier_of, where
from rules.model import (
    EFFECTS,
    FIELDS,
    SEVERITIES,
    TIERS,
    Direction,
    Effect,
    Example,
    Expr,
    Field,
    Guard,
    Leg,
    Move,
    Node,
    Regex,
    Rule,
    Severity,
    Term,
    TickerImpact,
    Tier,
    Vocabulary,
)
from rules.regexcheck import RegexProblem, analyse_regex
from rules.storyload import STORY_KEYS, example_legs, lead_severity, package_parts, scope
from rules.suggest import did_you_mean
from rules.text import expand_phrase
from rules.yamlsrc import LocatedList, LocatedMap, Mark, check_keys

__all__ = ["RuleLoader"]

_DIRECTIONS: tuple[Direction, ...] = ("tightening", "easing", "none")
_EXPR_KEYS = ("all", "any", "none", "regex", "within", "in")
_RULE_KEYS = (
    "severity",
    "direction",
    "veto",
    "hedge",
    "hedged",
    "tiers",
    "tickers",
    "cooldown",
    "examples",
    "note",
    *STORY_KEYS,
)
_MAX_WITHIN = 200


class RuleLoader(LoaderCore):
    # -- vocabularies ---------------------------------------------------------------------

    def vocabularies(self, entries: list[tuple[str, Any, Mark, Mark]]) -> tuple[Vocabulary, ...]:
        raw = self.raw_vocabularies(entries)
        resolved: dict[str, tuple[str, ...]] = {}

        def resolve(name: str, stack: tuple[str, ...]) -> tuple[str, ...]:
            if name in resolved:
                return resolved[name]
            phrases: list[str] = []
            for term, mark in raw[name][0]:
                ref = term[1:]
                if not term.startswith("$"):
                    phrases += self.phrase(term, mark)
                elif ref not in raw:
                    self.err(mark, f"unknown vocabulary {term!r}" + did_you_mean(term, raw))
                elif ref in stack:
                    self.err(mark, f"vocabulary {name!r} includes itself via {term!r}")
                else:
                    phrases += resolve(ref, (*stack, ref))
            resolved[name] = tuple(dict.fromkeys(phrases))
            return resolved[name]

        for name in raw:
            resolve(name, (name,))
        self.vocab = resolved
        return tuple(Vocabulary(n, resolved[n], where(raw[n][1])) for n in raw)

    def raw_vocabularies(
        self, entries: list[tuple[str, Any, Mark, Mark]]
    ) -> dict[str, tuple[list[tuple[str, Mark]], Mark]]:
        raw: dict[str, tuple[list[tuple[str, Mark]], Mark]] = {}
        for name, body, key_mark, value_mark in entries:
            if not NAME.match(name):
                self.err(
                    key_mark, f"vocabulary name {name!r}: use lower-case letters, digits, - _ ."
                )
            if name in raw:
                first = raw[name][1]
                self.err(key_mark, f"vocabulary {name!r} already defined at {where(first)}")
                continue
            terms: list[tuple[str, Mark]] = []
            for entry, mark in self.items(body, value_mark, f"vocabulary {name!r}"):
                if isinstance(entry, str | int | float) and not isinstance(entry, bool):
                    terms.append((str(entry), mark))
                else:
                    self.err(mark, f"vocabulary {name!r}: each entry must be a word or phrase")
            raw[name] = (terms, key_mark)
        return raw

    def phrase(self, term: str, mark: Mark) -> tuple[str, ...]:
        try:
            forms = expand_phrase(term)
        except ValueError as exc:
            self.err(mark, str(exc))
            return ()
        if not forms:
            self.err(mark, f"term {term!r} has no words")
        return forms

    # -- expressions ----------------------------------------------------------------------

    def term(self, value: Any, mark: Mark) -> Term | None:
        if not isinstance(value, str):
            self.err(mark, "a term must be a word, a phrase or a $vocabulary")
            return None
        if value.startswith("$"):
            name = value[1:]
            if name not in self.vocab:
                self.err(mark, f"unknown vocabulary {value!r}" + did_you_mean(value, self.vocab))
                return None
            return Term(value, self.vocab[name])
        forms = self.phrase(value, mark)
        return Term(value, forms) if forms else None

    def node(self, value: Any, mark: Mark, field: Field) -> Node | None:
        if isinstance(value, LocatedMap):
            return self.expr(value, "expression", field)
        if isinstance(value, LocatedList):
            # A list inside a list is shorthand for "any of these".
            found = [self.node(v, m, field) for v, m in self.items(value, mark, "a list")]
            kept = tuple(n for n in found if n is not None)
            return Expr(any=kept, field=field) if kept else None
        return self.term(value, mark)

    def expr(
        self, node: LocatedMap, what: str, field: Field, extra: tuple[str, ...] = ()
    ) -> Expr | None:
        self.problems += check_keys(node, required=(), optional=_EXPR_KEYS + extra, what=what)
        if "in" in node:
            field = self.choice(node, "in", FIELDS, field)
        parts: dict[str, tuple[Node, ...]] = {}
        for key in ("all", "any", "none"):
            if key in node:
                entries = self.items(node[key], node.mark_of(key), f"{what} {key!r}")
                found = [self.node(v, m, field) for v, m in entries]
                parts[key] = tuple(n for n in found if n is not None)
        regex = self.regex(node) if "regex" in node else None
        within: int | None = None
        if "within" in node:
            within = self.integer(node, "within", 0, lo=0, hi=_MAX_WITHIN)
            if len(parts.get("all", ())) < 2 and "all" in node:
                self.err(node.mark_of("within"), "'within' needs at least two parts in 'all'")
            elif "all" not in node:
                self.err(node.mark_of("within"), "'within' applies to 'all', which is missing")
        if not ({"all", "any", "regex"} & node.keys()):
            self.err(node.mark, f"{what} needs 'all', 'any' or 'regex' (something that must occur)")
            return None
        return Expr(
            all=parts.get("all", ()),
            any=parts.get("any", ()),
            none=parts.get("none", ()),
            regex=regex,
            within=within,
            field=field,
        )

    def regex(self, node: LocatedMap) -> Regex | None:
        value = node["regex"]
        if not isinstance(value, str) or not value:
            self.err(node.mark_of("regex"), "regex must be a non-empty string")
            return None
        try:
            literal = analyse_regex(value)
        except RegexProblem as exc:
            self.err(node.mark_of("regex"), str(exc))
            return None
        return Regex(value, literal)

    def guards(self, node: LocatedMap, key: str) -> tuple[Guard, ...]:
        out: list[Guard] = []
        for value, mark in self.items(node[key], node.mark_of(key), key):
            body = self.mapping(value, mark, f"each {key}")
            if body is None:
                continue
            expr = self.expr(body, key, "any", extra=("near",))
            near = self.integer(body, "near", 0, lo=0, hi=_MAX_WITHIN) if "near" in body else None
            if expr is not None:
                out.append(Guard(expr, near))
        return tuple(out)

    # -- rules ----------------------------------------------------------------------------

    def rule(self, node: LocatedMap, seen: dict[str, Mark]) -> Rule | None:
        self.problems += check_keys(
            node, required=("id", "leg", "effect", "match"), optional=_RULE_KEYS, what="rule"
        )
        rule_id = self.text(node, "id", "rule")
        what = f"rule {rule_id!r}" if rule_id else "rule"
        if rule_id and not NAME.match(rule_id):
            self.err(
                node.mark_of("id"), f"rule id {rule_id!r}: use lower-case letters, digits, - _ ."
            )
        if rule_id in seen:
            self.err(
                node.mark_of("id"), f"rule id {rule_id!r} already used at {where(seen[rule_id])}"
            )
        seen.setdefault(rule_id, node.mark)
        leg_id = self.text(node, "leg", what)
        if leg_id and self.legs and leg_id not in self.legs:
            self.err(
                node.mark_of("leg"),
                f"unknown leg {leg_id!r} (legs: {', '.join(sorted(self.legs))})"
                + did_you_mean(leg_id, self.legs),
            )
        effect: Effect = self.choice(node, "effect", EFFECTS, "confirms")
        severity: Severity = self.choice(node, "severity", SEVERITIES, "medium")
        direction: Direction = self.choice(node, "direction", _DIRECTIONS, "none")
        match = None
        if "match" in node:
            match_node = self.mapping(node["match"], node.mark_of("match"), f"{what} match")
            match = self.expr(match_node, f"{what} match", "any") if match_node else None
        veto = self.guards(node, "veto") if "veto" in node else ()
        hedge = self.guards(node, "hedge") if "hedge" in node else ()
        tiers = self.tiers(node) if "tiers" in node else TIERS
        if "tickers" in node:
            tickers = self.ticker_map(node, "tickers", check_universe=True)
        else:
            tickers = _leg_tickers(self.legs.get(leg_id), effect)
        cooldown = self.duration(node, "cooldown", None)
        always_hedged = node.get("hedged", False)
        if not isinstance(always_hedged, bool):
            self.err(node.mark_of("hedged"), "hedged must be true or false")
            always_hedged = False
        note = self.text(node, "note", what, default="") if "note" in node else ""
        good, bad = self.examples(node, tiers) if "examples" in node else ((), ())
        lead = lead_severity(self, node, severity)
        rule_scope = scope(self, node)
        if match is None:
            return None
        rule = Rule(
            id=rule_id,
            leg=leg_id,
            effect=effect,
            severity=severity,
            direction=direction,
            match=match,
            veto=veto,
            hedge=hedge,
            tiers=tiers,
            tickers=tickers,
            cooldown=cooldown,
            hedged=always_hedged,
            should_match=good,
            should_not_match=bad,
            note=note,
            where=where(node.mark),
            lead=lead,
            scope=rule_scope,
        )
        if "package" in node:
            rule = replace(rule, package=package_parts(self, node, rule, match.field))
        return rule

    def tiers(self, node: LocatedMap) -> tuple[Tier, ...]:
        out: list[Tier] = []
        for value, mark in self.items(node["tiers"], node.mark_of("tiers"), "tiers"):
            tier = tier_of(value)
            if tier is None:
                self.err(mark, f"tier must be one of {', '.join(TIERS)} (got {value!r})")
            else:
                out.append(tier)
        return tuple(t for t in TIERS if t in out)

    def examples(
        self, node: LocatedMap, tiers: tuple[Tier, ...]
    ) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
        body = self.mapping(node["examples"], node.mark_of("examples"), "examples")
        if body is None:
            return (), ()
        self.problems += check_keys(
            body, required=(), optional=("match", "no_match"), what="examples"
        )
        lists: dict[str, list[Example]] = {"match": [], "no_match": []}
        for key, out in lists.items():
            if key not in body:
                continue
            for value, mark in self.items(body[key], body.mark_of(key), f"examples {key!r}"):
                example = self.example(value, mark, tiers)
                if example is not None:
                    out.append(example)
        return tuple(lists["match"]), tuple(lists["no_match"])

    def example(self, value: Any, mark: Mark, tiers: tuple[Tier, ...]) -> Example | None:
        default_tier = tiers[0] if tiers else None
        if isinstance(value, str) and value.strip():
            return Example(value, tier=default_tier, where=where(mark))
        if not isinstance(value, LocatedMap):
            self.err(mark, "an example is a headline, or a mapping with title (and summary, tier)")
            return None
        self.problems += check_keys(
            value,
            required=("title",),
            optional=("summary", "tier", "hedged", "legs"),
            what="example",
        )
        tier: Tier | None = default_tier
        if "tier" in value:
            tier = tier_of(value["tier"])
            if tier is None:
                self.err(value.mark_of("tier"), f"tier must be one of {', '.join(TIERS)}")
        hedged = value.get("hedged", False)
        if not isinstance(hedged, bool):
            self.err(value.mark_of("hedged"), "hedged must be true or false")
            hedged = False
        return Example(
            legs=example_legs(self, value),
            title=self.text(value, "title", "example"),
            summary=self.text(value, "summary", "example", default="")
            if "summary" in value
            else "",
            tier=tier,
            hedged=hedged,
            where=where(mark),
        )


def _flip(move: Move) -> Move:
    return "bearish" if move == "bullish" else "bullish"


def _leg_tickers(leg: Leg | None, effect: Effect) -> tuple[TickerImpact, ...]:
    # A rule without tickers moves its leg's: as a break does, or the other way if confirming.
    if leg is None:
        return ()
    if effect == "confirms":
        return tuple(TickerImpact(t.symbol, _flip(t.move)) for t in leg.tickers)
    return leg.tickers
