"""Strict loading of rule files into a :class:`~rules.model.RuleSet`.

Pure: it takes ``{file name: text}``. Every problem of a load is collected and raised together
as a :class:`~rules.yamlsrc.YamlError`, each as ``file:line:col: message``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

from rules.model import (
    EFFECTS,
    FIELDS,
    MOVES,
    SEVERITIES,
    TIERS,
    ConfirmationPolicy,
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
    RuleSet,
    Severity,
    Term,
    Thesis,
    TickerImpact,
    Tier,
    Vocabulary,
)
from rules.regexcheck import RegexProblem, analyse_regex
from rules.storyload import (
    STORY_KEYS,
    example_legs,
    lead_severity,
    package_clashes,
    package_parts,
    scope,
)
from rules.suggest import did_you_mean
from rules.text import expand_phrase
from rules.yamlsrc import LocatedList, LocatedMap, Mark, Problem, YamlError, check_keys, parse_yaml

__all__ = ["load_ruleset", "parse_duration"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_TICKER = re.compile(r"^[A-Z0-9][A-Z0-9.\-]*$")
_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
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
_POLICY_KEYS = (
    "official",
    "publishers",
    "window",
    "half_life",
    "challenge_at",
    "restore_ratio",
    "hedged_weight",
    "leg_cooldown",
    "tier_weights",
)
_MAX_WITHIN = 200

T = TypeVar("T", bound=str)


def parse_duration(text: str) -> timedelta | None:
    """``"90m"``, ``"6h"``, ``"2d"``, ``"1w"``, ``"30s"`` -> timedelta; None if not a duration."""
    found = _DURATION.match(text.strip())
    if not found:
        return None
    return timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2)])


def _where(mark: Mark) -> str:
    return f"{mark.file}:{mark.line}"


class _Loader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.legs: dict[str, Leg] = {}
        self.tickers: frozenset[str] = frozenset()
        self.vocab: dict[str, tuple[str, ...]] = {}
        self.unparsed = False  # a file failed to parse, so "no thesis" may be a false alarm

    def err(self, mark: Mark, message: str) -> None:
        self.problems.append(Problem(mark, message))

    # -- scalar helpers -------------------------------------------------------------------

    def text(self, node: LocatedMap, key: str, what: str, default: str | None = None) -> str:
        value = node.get(key, default)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if key not in node and default is not None:
            return default
        self.err(node.mark_of(key), f"{what} {key!r} must be a non-empty string")
        return ""

    def choice(self, node: LocatedMap, key: str, options: tuple[T, ...], default: T) -> T:
        value = node.get(key, default)
        for option in options:
            if value == option:
                return option
        self.err(
            node.mark_of(key),
            f"{key} must be one of {', '.join(options)} (got {value!r})"
            + did_you_mean(value, map(str, options)),
        )
        return default

    def number(
        self, node: LocatedMap, key: str, default: float, *, lo: float, hi: float | None = None
    ) -> float:
        value = node.get(key, default)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and value >= lo and (hi is None or value <= hi):
            return float(value)
        bound = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
        self.err(node.mark_of(key), f"{key} must be a number {bound} (got {value!r})")
        return default

    def integer(self, node: LocatedMap, key: str, default: int, *, lo: int, hi: int) -> int:
        value = node.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi:
            return value
        self.err(node.mark_of(key), f"{key} must be a whole number from {lo} to {hi}")
        return default

    def duration(self, node: LocatedMap, key: str, default: timedelta | None) -> timedelta | None:
        if key not in node:
            return default
        value = node[key]
        parsed = parse_duration(value) if isinstance(value, str) else None
        if parsed is None:
            self.err(node.mark_of(key), f"{key} must be a duration like 90m, 6h or 2d")
        return parsed if parsed is not None else default

    def mapping(self, value: Any, mark: Mark, what: str) -> LocatedMap | None:
        if isinstance(value, LocatedMap):
            return value
        self.err(mark, f"{what} must be a mapping")
        return None

    def items(self, value: Any, mark: Mark, what: str) -> list[tuple[Any, Mark]]:
        """A list (or one bare value standing for a list of one) with each entry's mark."""
        if isinstance(value, LocatedList):
            if not value:
                self.err(mark, f"{what} must not be empty")
            return [(entry, value.mark_of(i)) for i, entry in enumerate(value)]
        if isinstance(value, str | LocatedMap):
            return [(value, mark)]
        self.err(mark, f"{what} must be a list")
        return []

    # -- thesis ---------------------------------------------------------------------------

    def thesis(self, node: LocatedMap) -> Thesis:
        self.problems += check_keys(node, required=("name", "legs"), what="thesis")
        name = self.text(node, "name", "thesis")
        legs_node = self.mapping(node.get("legs"), node.mark_of("legs"), "thesis legs")
        legs: list[Leg] = []
        for leg_id, body in (legs_node or {}).items():
            assert legs_node is not None
            key_mark = legs_node.key_marks[leg_id]
            if not _NAME.match(leg_id):
                self.err(key_mark, f"leg id {leg_id!r}: use lower-case letters, digits, - _ .")
            leg_map = self.mapping(body, legs_node.mark_of(leg_id), f"leg {leg_id!r}")
            if leg_map is None:
                continue
            self.problems += check_keys(
                leg_map,
                required=("claim", "tickers"),
                optional=("allow_no_rules",),
                what=f"leg {leg_id!r}",
            )
            claim = self.text(leg_map, "claim", f"leg {leg_id!r}")
            tickers = self.ticker_map(leg_map, "tickers", check_universe=False)
            allow = leg_map.get("allow_no_rules", False)
            if not isinstance(allow, bool):
                self.err(leg_map.mark_of("allow_no_rules"), "allow_no_rules must be true or false")
                allow = False
            legs.append(Leg(leg_id, claim, tickers, allow_no_rules=allow))
        if legs_node is not None and not legs_node:
            self.err(legs_node.mark, "the thesis needs at least one leg")
        self.legs = {leg.id: leg for leg in legs}
        self.tickers = frozenset(t.symbol for leg in legs for t in leg.tickers)
        return Thesis(name, tuple(legs))

    def ticker_map(
        self, node: LocatedMap, key: str, *, check_universe: bool
    ) -> tuple[TickerImpact, ...]:
        body = self.mapping(node.get(key), node.mark_of(key), key)
        if body is None:
            return ()
        out: list[TickerImpact] = []
        for symbol, move in body.items():
            mark = body.key_marks[symbol]
            if not _TICKER.match(symbol):
                self.err(mark, f"ticker {symbol!r}: use capitals, digits, '.' and '-'")
            elif check_universe and symbol not in self.tickers:
                self.err(mark, f"unknown ticker {symbol!r} (not named by any thesis leg)")
            if move not in MOVES:
                self.err(body.mark_of(symbol), f"ticker {symbol}: move must be bullish or bearish")
                continue
            out.append(TickerImpact(symbol, _move(move)))
        return tuple(out)

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
        return tuple(Vocabulary(n, resolved[n], _where(raw[n][1])) for n in raw)

    def raw_vocabularies(
        self, entries: list[tuple[str, Any, Mark, Mark]]
    ) -> dict[str, tuple[list[tuple[str, Mark]], Mark]]:
        raw: dict[str, tuple[list[tuple[str, Mark]], Mark]] = {}
        for name, body, key_mark, value_mark in entries:
            if not _NAME.match(name):
                self.err(
                    key_mark, f"vocabulary name {name!r}: use lower-case letters, digits, - _ ."
                )
            if name in raw:
                first = raw[name][1]
                self.err(key_mark, f"vocabulary {name!r} already defined at {_where(first)}")
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
                self.err(
                    mark,
                    f"unknown vocabulary {value!r}" + did_you_mean(value, self.vocab),
                )
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
        if rule_id and not _NAME.match(rule_id):
            self.err(
                node.mark_of("id"), f"rule id {rule_id!r}: use lower-case letters, digits, - _ ."
            )
        if rule_id in seen:
            self.err(
                node.mark_of("id"), f"rule id {rule_id!r} already used at {_where(seen[rule_id])}"
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
            where=_where(node.mark),
            lead=lead,
            scope=rule_scope,
        )
        if "package" in node:
            rule = replace(rule, package=package_parts(self, node, rule, match.field))
        return rule

    def tiers(self, node: LocatedMap) -> tuple[Tier, ...]:
        out: list[Tier] = []
        for value, mark in self.items(node["tiers"], node.mark_of("tiers"), "tiers"):
            tier = _tier(value)
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
            return Example(value, tier=default_tier, where=_where(mark))
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
            tier = _tier(value["tier"])
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
            where=_where(mark),
        )

    # -- confirmation policy --------------------------------------------------------------

    def policy(self, node: LocatedMap) -> ConfirmationPolicy:
        self.problems += check_keys(node, required=(), optional=_POLICY_KEYS, what="confirmation")
        base = ConfirmationPolicy()
        weights = base.tier_weights
        if "tier_weights" in node:
            body = self.mapping(node["tier_weights"], node.mark_of("tier_weights"), "tier_weights")
            if body is not None:
                got: dict[Tier, float] = dict(weights)
                for key in body:
                    tier = _tier(key)
                    if tier is None:
                        self.err(body.key_marks[key], f"tier must be one of {', '.join(TIERS)}")
                    else:
                        got[tier] = self.number(body, key, 1.0, lo=0.0)
                weights = tuple((t, got[t]) for t in TIERS)
        window = self.duration(node, "window", base.window) or base.window
        half_life = self.duration(node, "half_life", base.half_life) or base.half_life
        cooldown = self.duration(node, "leg_cooldown", base.leg_cooldown)
        return ConfirmationPolicy(
            official=self.integer(node, "official", base.official, lo=0, hi=100),
            publishers=self.integer(node, "publishers", base.publishers, lo=1, hi=100),
            window=window,
            half_life=half_life,
            challenge_at=self.number(node, "challenge_at", base.challenge_at, lo=0.0),
            restore_ratio=self.number(node, "restore_ratio", base.restore_ratio, lo=0.0),
            hedged_weight=self.number(node, "hedged_weight", base.hedged_weight, lo=0.0, hi=1.0),
            leg_cooldown=cooldown if cooldown is not None else base.leg_cooldown,
            tier_weights=weights,
        )


def _tier(value: Any) -> Tier | None:
    for tier in TIERS:
        if value == tier:
            return tier
    return None


def _move(value: Any) -> Move:
    return "bullish" if value == "bullish" else "bearish"


def _flip(move: Move) -> Move:
    return "bearish" if move == "bullish" else "bullish"


def _leg_tickers(leg: Leg | None, effect: Effect) -> tuple[TickerImpact, ...]:
    # A rule without tickers moves its leg's: as a break does, or the other way if confirming.
    if leg is None:
        return ()
    if effect == "confirms":
        return tuple(TickerImpact(t.symbol, _flip(t.move)) for t in leg.tickers)
    return leg.tickers


_TOP_KEYS = ("thesis", "vocabularies", "rules", "confirmation")


def _version(
    thesis: Thesis,
    vocab: tuple[Vocabulary, ...],
    rules: tuple[Rule, ...],
    policy: ConfirmationPolicy,
) -> str:
    # Hash the meaning, not the bytes: comments, layout, file split and line moves do not
    # count. The model's repr leaves out places and is deterministic (tuples, strings, numbers).
    content = repr((thesis, sorted(vocab, key=lambda v: v.name), rules, policy))
    # Keys added since (story reading, example legs) enter the hash only when used, so a
    # folder that does not use them keeps its version across the upgrade.
    later = [
        (r.id, r.lead, r.scope, r.package, [e.legs for e in r.should_match])
        for r in rules
        if r.reads_story or any(e.legs for e in r.should_match)
    ]
    if later:
        content += repr(later)
    return hashlib.sha256(content.encode()).hexdigest()[:16]


def _parse_files(loader: _Loader, files: Mapping[str, str]) -> list[LocatedMap]:
    roots: list[LocatedMap] = []
    for name in sorted(files):
        text = files[name]
        # An empty file is what an editor leaves while it saves: never read as "no rules here".
        if not text.strip():
            loader.err(Mark(name, 1, 1), "rules file is empty; delete the file to drop it")
            loader.unparsed = True
            continue
        try:
            root = parse_yaml(text, name)
        except YamlError as exc:
            loader.problems += exc.problems
            loader.unparsed = True
            continue
        if root is None:
            loader.err(Mark(name, 1, 1), "rules file has only comments; delete the file to drop it")
            loader.unparsed = True
            continue
        if not isinstance(root, LocatedMap):
            loader.err(Mark(name, 1, 1), "a rules file must be a mapping (thesis:, rules:, ...)")
            continue
        loader.problems += check_keys(root, required=(), optional=_TOP_KEYS, what="rules file")
        roots.append(root)
    if not files:
        loader.err(Mark("<rules>", 1, 1), "no rule files")
    return roots


def _single(loader: _Loader, roots: list[LocatedMap], key: str) -> LocatedMap | None:
    """The one mapping under ``key`` across all files (a second definition is an error)."""
    holders = [r for r in roots if key in r]
    for root in holders[1:]:
        first = holders[0].key_marks[key]
        loader.err(root.key_marks[key], f"{key} already defined at {_where(first)}")
    if not holders:
        return None
    return loader.mapping(holders[0][key], holders[0].mark_of(key), key)


def _vocab_entries(loader: _Loader, roots: list[LocatedMap]) -> list[tuple[str, Any, Mark, Mark]]:
    entries: list[tuple[str, Any, Mark, Mark]] = []
    for root in roots:
        if "vocabularies" in root:
            body = loader.mapping(
                root["vocabularies"], root.mark_of("vocabularies"), "vocabularies"
            )
            if body is not None:
                entries += [(k, v, body.key_marks[k], body.mark_of(k)) for k, v in body.items()]
    return entries


def _rules(loader: _Loader, roots: list[LocatedMap]) -> list[Rule]:
    rules: list[Rule] = []
    seen: dict[str, Mark] = {}
    for root in roots:
        if "rules" not in root:
            continue
        if not isinstance(root["rules"], LocatedList):
            loader.err(
                root.mark_of("rules"), "rules must be a list (each rule starts with '- id:')"
            )
            continue
        for value, mark in loader.items(root["rules"], root.mark_of("rules"), "rules"):
            body = loader.mapping(value, mark, "each rule")
            rule = loader.rule(body, seen) if body is not None else None
            if rule is not None:
                rules.append(rule)
    loader.problems += package_clashes(rules, seen)
    return rules


def load_ruleset(files: Mapping[str, str]) -> RuleSet:
    """Parse and validate rule files (``{file name: YAML text}``) into a :class:`RuleSet`.

    Raises :class:`~rules.yamlsrc.YamlError` listing every problem found, not just the first.
    """
    loader = _Loader()
    roots = _parse_files(loader, files)
    thesis = Thesis("", ())
    thesis_node = _single(loader, roots, "thesis")
    if thesis_node is not None:
        thesis = loader.thesis(thesis_node)
    elif files and not any("thesis" in r for r in roots) and not loader.unparsed:
        loader.err(Mark(sorted(files)[0], 1, 1), "no file defines the thesis")
    vocab = loader.vocabularies(_vocab_entries(loader, roots))
    policy_node = _single(loader, roots, "confirmation")
    policy = loader.policy(policy_node) if policy_node is not None else ConfirmationPolicy()
    rules = _rules(loader, roots)
    if loader.problems:
        raise YamlError(loader.problems)
    ordered = tuple(sorted(rules, key=lambda r: r.id))
    return RuleSet(thesis, vocab, ordered, policy, _version(thesis, vocab, ordered, policy))
