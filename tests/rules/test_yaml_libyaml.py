"""libyaml reads the shipped YAML into the same values as PyYAML's own parser, and what it
must not read (too deep, broken) goes to PyYAML, whose problems are the ones reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import rules.yamlsrc
from rules.yamlsrc import MAX_DEPTH, YamlError, parse_yaml_partial

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(
    [ROOT / "bot" / "data" / "feeds.yaml", *(ROOT / "rules" / "default").rglob("*.yaml")]
)


def _pure(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[Any]]:
    with monkeypatch.context() as m:
        m.setattr(yaml, "__with_libyaml__", False)
        return parse_yaml_partial(text, "f.yaml")


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_libyaml_and_pyyaml_build_the_same_values(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = path.read_text(encoding="utf-8")
    assert parse_yaml_partial(text, "f.yaml") == _pure(text, monkeypatch)


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
@pytest.mark.parametrize(
    "text",
    [
        "a: [1, 2\nb: 3\n",  # a syntax error
        "a: 1\na: 2\n",  # a duplicate key: built, with a problem
        "x: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n",  # too deep for libyaml
    ],
)
def test_what_libyaml_should_not_read_is_reported_as_pyyaml_reports_it(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        fast: object = parse_yaml_partial(text, "f.yaml")
    except YamlError as exc:
        fast = str(exc)
    try:
        pure: object = _pure(text, monkeypatch)
    except YamlError as exc:
        pure = str(exc)
    assert fast == pure


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
def test_a_feeds_file_is_composed_by_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[type] = []
    real = yaml.compose

    def spy(text: str, Loader: type) -> Any:
        used.append(Loader)
        return real(text, Loader=Loader)

    monkeypatch.setattr(rules.yamlsrc.yaml, "compose", spy)
    parse_yaml_partial("feeds:\n  - {name: a, url: 'https://a.example/f'}\n", "f.yaml")
    assert used == [yaml.CSafeLoader]
