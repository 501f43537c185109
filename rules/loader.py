"""Strict loading of rule files into a :class:`~rules.model.RuleSet`.

Pure: it takes ``{file name: text}``. Every problem of a load is collected and raised together
as a :class:`~rules.yamlsrc.YamlError`, each as ``file:line:col: message``. The checks live in
``rules.loadcore`` (scalars, thesis, policy) and ``rules.loadrules`` (vocabularies, rules).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from rules.loadcore import parse_duration, where
from rules.loadrules import RuleLoader
from rules.model import ConfirmationPolicy, Rule, RuleSet, Thesis, Vocabulary
from rules.storyload import package_clashes
from rules.yamlsrc import LocatedList, LocatedMap, Mark, YamlError, check_keys, parse_yaml

__all__ = ["load_ruleset", "parse_duration"]

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


def _parse_files(loader: RuleLoader, files: Mapping[str, str]) -> list[LocatedMap]:
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


def _single(loader: RuleLoader, roots: list[LocatedMap], key: str) -> LocatedMap | None:
    """The one mapping under ``key`` across all files (a second definition is an error)."""
    holders = [r for r in roots if key in r]
    for root in holders[1:]:
        first = holders[0].key_marks[key]
        loader.err(root.key_marks[key], f"{key} already defined at {where(first)}")
    if not holders:
        return None
    return loader.mapping(holders[0][key], holders[0].mark_of(key), key)


def _vocab_entries(
    loader: RuleLoader, roots: list[LocatedMap]
) -> list[tuple[str, Any, Mark, Mark]]:
    entries: list[tuple[str, Any, Mark, Mark]] = []
    for root in roots:
        if "vocabularies" in root:
            body = loader.mapping(
                root["vocabularies"], root.mark_of("vocabularies"), "vocabularies"
            )
            if body is not None:
                entries += [(k, v, body.key_marks[k], body.mark_of(k)) for k, v in body.items()]
    return entries


def _rules(loader: RuleLoader, roots: list[LocatedMap]) -> list[Rule]:
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
    loader = RuleLoader()
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
