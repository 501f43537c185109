"""What a vocabulary matches and which rules use it; which examples other legs' rules fire
on. Pure: a rule set or engine in, values and text out (the CLI and /rules share them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

from rules import Engine
from rules.model import Item, RuleSet, Term
from rules.records import EPOCH
from rules.suggest import did_you_mean

__all__ = ["VocabView", "cross_fires", "vocab_text", "vocab_view"]


@dataclass(frozen=True, slots=True)
class VocabView:
    name: str
    where: str
    phrases: tuple[str, ...]  # normalised, each inflection spelt out
    used_by: tuple[str, ...]  # rule ids whose match, vetoes or hedges name it


def _terms(value: object) -> Iterator[Term]:
    """Every Term inside a rule's expressions (any depth of dataclasses and tuples)."""
    if isinstance(value, Term):
        yield value
    elif isinstance(value, tuple | list):
        for v in value:
            yield from _terms(v)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _terms(getattr(value, f.name))


def vocab_view(ruleset: RuleSet, name: str) -> VocabView | str:
    """The vocabulary ``name`` (``$name`` too), or why there is none."""
    bare = name.removeprefix("$")
    names = {v.name: v for v in ruleset.vocabularies}
    vocab = names.get(bare)
    if vocab is None:
        return f"no vocabulary {bare!r}" + did_you_mean(bare, names)
    ref = f"${bare}"
    used = tuple(
        rule.id
        for rule in ruleset.rules
        if any(
            t.source == ref for part in (rule.match, rule.veto, rule.hedge) for t in _terms(part)
        )
    )
    return VocabView(bare, vocab.where, vocab.phrases, used)


def vocab_text(view: VocabView) -> str:
    where = f" ({view.where})" if view.where else ""
    lines = [
        f"${view.name}{where}: {len(view.phrases)} phrases, matched as whole words, "
        "ignoring case, punctuation and hyphens",
        *(f"  {p}" for p in view.phrases),
        f"used by {len(view.used_by)} rule(s): {', '.join(view.used_by) or '-'}",
    ]
    return "\n".join(lines)


def cross_fires(engine: Engine) -> list[str]:
    """Each ``match`` example on which a rule of another leg fires too (its own package parts
    and the legs the example says it moves aside): a headline two legs would alert on."""
    lines = []
    for rule in engine.ruleset.rules:
        own = {rule.id, *(p.id for p in rule.package)}
        for n, example in enumerate(rule.should_match):
            item = Item(
                f"example:{rule.id}:{n}",
                example.title,
                example.summary,
                "example",
                example.tier or "wire",
                "",
                EPOCH,
            )
            expected = {rule.leg, *example.legs}
            others = [
                s for s in engine.evaluate(item) if s.rule_id not in own and s.leg not in expected
            ]
            if others:
                fired = ", ".join(f"{s.rule_id} ({s.leg} {s.effect})" for s in others)
                where = example.where or rule.where
                lines.append(f"{where}: {rule.id} example {example.title!r} also fires {fired}")
    return lines
