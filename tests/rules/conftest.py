"""Factories for rule tests: rule sets from inline YAML, items from a headline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rules import Engine, Item, RuleSet, Tier, compile_ruleset, load_ruleset

THESIS = (Path(__file__).parent / "data" / "thesis.yaml").read_text(encoding="utf-8")

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
DEFAULT_RULES = Path(__file__).resolve().parents[2] / "rules" / "default"
DEV_EVENTS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "dev-events.jsonl"

MakeRules = Callable[..., RuleSet]
MakeEngine = Callable[..., Engine]
MakeItem = Callable[..., Item]


def build(rules_yaml: str, **more: str) -> RuleSet:
    """A rule set of THESIS (thesis.yaml), ``rules_yaml`` (rules.yaml) and any other files."""
    return load_ruleset({"thesis.yaml": THESIS, "rules.yaml": rules_yaml, **more})


@pytest.fixture
def make_rules() -> MakeRules:
    return build


@pytest.fixture
def make_engine() -> MakeEngine:
    def create(rules_yaml: str, **more: str) -> Engine:
        return compile_ruleset(build(rules_yaml, **more))

    return create


def rules_folder(parent: Path, rules_yaml: str) -> Path:
    """A rules folder on disk, as traders keep one: THESIS and ``rules_yaml``."""
    folder = parent / "rules"
    folder.mkdir()
    (folder / "thesis.yaml").write_text(THESIS)
    (folder / "rules.yaml").write_text(rules_yaml)
    return folder


def item(title: str, summary: str = "", *, tier: Tier = "wire", key: str = "k1") -> Item:
    return Item(key, title, summary, "Example Wire", tier, "https://example.com/a", NOW)


@pytest.fixture
def make_item() -> MakeItem:
    return item


@pytest.fixture
def thesis_yaml() -> str:
    return THESIS


@pytest.fixture
def dev_events() -> Path:
    if not DEV_EVENTS.exists():
        pytest.skip("the shared corpora are not present")
    return DEV_EVENTS


@pytest.fixture(scope="session")
def default_engine() -> Engine:
    """The shipped rules alone (their YAML files), without the second stage."""
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(DEFAULT_RULES.glob("*.yaml"))}
    return compile_ruleset(load_ruleset(files))


@pytest.fixture(scope="session")
def shipped_engine() -> Engine:
    """What the bot runs: the shipped rules and their second stage (doubt.json)."""
    from bot.pipeline.rulebook import read_rule_files

    return compile_ruleset(load_ruleset(read_rule_files(DEFAULT_RULES)))
