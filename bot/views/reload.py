"""What a rules reload changed, as the admins are told it. Pure: rule sets in, values out.

An accepted reload names its version and the legs and rules it added, removed or changed; a
rejected one lists its problems (``file:line:col: what``) and the version that keeps running.
A leg left with no rules is a loud warning either way: it can no longer move.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rules.book import Book
from rules.model import RuleSet

__all__ = [
    "RELOAD_KIND",
    "RELOAD_LEG",
    "RuleChanges",
    "reload_payload",
    "reload_text",
    "rule_changes",
]

RELOAD_KIND = "reload"  # the outbox kind of an announcement to the admins
RELOAD_LEG = "rules"  # what its leg column says: no leg of the thesis
MAX_LISTED = 20  # names per list in one announcement


@dataclass(frozen=True, slots=True)
class RuleChanges:
    legs_added: tuple[str, ...] = ()
    legs_removed: tuple[str, ...] = ()
    rules_added: tuple[str, ...] = ()
    rules_removed: tuple[str, ...] = ()
    rules_changed: tuple[str, ...] = ()
    legs_without_rules: tuple[str, ...] = ()


def legs_without_rules(rs: RuleSet, prefix: str = "") -> tuple[str, ...]:
    ruled = {r.leg for r in rs.rules}
    return tuple(f"{prefix}{leg.id}" for leg in rs.thesis.legs if leg.id not in ruled)


def _flat(book: Book | None, qualify: bool) -> tuple[dict[str, Any], list[str], tuple[str, ...]]:
    """Rules by id, legs and legs without rules of every thesis (``thesis/id`` if qualified)."""
    rules: dict[str, Any] = {}
    legs: list[str] = []
    empty: tuple[str, ...] = ()
    for rs in book.rulesets if book else ():
        prefix = f"{rs.thesis.name}/" if qualify else ""
        rules |= {f"{prefix}{r.id}": r for r in rs.rules}
        legs += [f"{prefix}{leg.id}" for leg in rs.thesis.legs]
        empty += legs_without_rules(rs, prefix)
    return rules, legs, empty


def rule_changes(old: Book | RuleSet | None, new: Book | RuleSet) -> RuleChanges:
    """From ``old`` to ``new``; a rule changed when its id stayed and its content did not
    (where it stands in its file is no change). Names are ``thesis/id`` when either side holds
    several theses."""
    old = Book((old,)) if isinstance(old, RuleSet) else old
    new = Book((new,)) if isinstance(new, RuleSet) else new
    qualify = len(new.rulesets) > 1 or (old is not None and len(old.rulesets) > 1)
    before, old_leg_list, _ = _flat(old, qualify)
    after, new_legs, empty = _flat(new, qualify)
    old_legs = set(old_leg_list)
    return RuleChanges(
        legs_added=tuple(leg for leg in new_legs if leg not in old_legs),
        legs_removed=tuple(sorted(old_legs - set(new_legs))),
        rules_added=tuple(sorted(set(after) - set(before))),
        rules_removed=tuple(sorted(set(before) - set(after))),
        rules_changed=tuple(sorted(i for i in set(after) & set(before) if after[i] != before[i])),
        legs_without_rules=empty,
    )


def reload_payload(
    *,
    ok: bool,
    version: str,
    folder: str,
    problems: Sequence[str] = (),
    changes: RuleChanges | None = None,
    previous: str | None = None,
) -> dict[str, Any]:
    """The outbox payload of one announcement (JSON values only)."""
    c = changes or RuleChanges()
    return {
        "ok": ok,
        "version": version,  # accepted: the new one; rejected: the one that keeps running
        "previous": previous,
        "folder": folder,
        "problems": list(problems[:MAX_LISTED]),
        "more_problems": max(0, len(problems) - MAX_LISTED),
        "legs_added": list(c.legs_added),
        "legs_removed": list(c.legs_removed),
        "rules_added": list(c.rules_added[:MAX_LISTED]),
        "rules_removed": list(c.rules_removed[:MAX_LISTED]),
        "rules_changed": list(c.rules_changed[:MAX_LISTED]),
        "counts": [len(c.rules_added), len(c.rules_removed), len(c.rules_changed)],
        "legs_without_rules": list(c.legs_without_rules),
    }


def _names(values: Sequence[str], total: int) -> str:
    more = f" and {total - len(values)} more" if total > len(values) else ""
    return ", ".join(values) + more


def change_lines(p: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(what, names)`` for each non-empty change list of an accepted reload."""
    added, removed, changed = p.get("counts", [0, 0, 0])
    lines = [
        ("legs added", _names(p.get("legs_added", []), len(p.get("legs_added", [])))),
        ("legs removed", _names(p.get("legs_removed", []), len(p.get("legs_removed", [])))),
        ("rules added", _names(p.get("rules_added", []), added)),
        ("rules removed", _names(p.get("rules_removed", []), removed)),
        ("rules changed", _names(p.get("rules_changed", []), changed)),
    ]
    return [(what, names) for what, names in lines if names]


def reload_text(p: Mapping[str, Any]) -> str:
    """The announcement for the console."""
    lines = []
    if p.get("ok"):
        lines.append(f"[RULES] reloaded: version {str(p['version'])[:12]}")
        lines += [f"  {what}: {names}" for what, names in change_lines(p)]
        if not change_lines(p):
            lines.append("  no leg or rule added, removed or changed (vocabularies, settings)")
    else:
        lines.append(f"[RULES] reload REJECTED: keeping version {str(p['version'])[:12]}")
        lines += [f"  {problem}" for problem in p.get("problems", [])]
        if p.get("more_problems"):
            lines.append(f"  ... and {p['more_problems']} more")
    for leg in p.get("legs_without_rules", []):
        lines.append(f"  WARNING: leg {leg} has no rules: nothing can move it")
    return "\n".join(lines)
