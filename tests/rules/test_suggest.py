"""'Did you mean' in rules errors: misspelt keys, legs, vocabularies and choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules import YamlError, load_ruleset
from rules.suggest import did_you_mean

THESIS = (Path(__file__).parent / "data" / "thesis.yaml").read_text(encoding="utf-8")
VOCAB = "vocabularies:\n  china: [China, Beijing]\n  lifting: [lift~, end~]\n"


def problems(rules_yaml: str) -> list[str]:
    files = {"thesis.yaml": THESIS, "vocab.yaml": VOCAB, "rules.yaml": rules_yaml}
    with pytest.raises(YamlError) as caught:
        load_ruleset(files)
    return [str(p) for p in caught.value.problems]


def test_a_misspelt_vocabulary_and_effect_are_suggested() -> None:
    found = problems(
        "rules:\n"
        "  - id: r1\n"
        "    leg: h20-ban\n"
        "    effect: brakes\n"
        "    match: {all: [$chnia, $lfting]}\n"
    )
    assert found == [
        "rules.yaml:4:13: effect must be one of confirms, breaks, reverses (got 'brakes'); "
        "did you mean 'breaks'?",
        "rules.yaml:5:19: unknown vocabulary '$chnia'; did you mean '$china'?",
        "rules.yaml:5:27: unknown vocabulary '$lfting'; did you mean '$lifting'?",
    ]


def test_a_vocabulary_including_a_misspelt_one() -> None:
    with pytest.raises(YamlError) as caught:
        load_ruleset(
            {
                "thesis.yaml": THESIS,
                "vocab.yaml": VOCAB + "  who: [$chinaa]\n",
                "rules.yaml": "rules: []\n",
            }
        )
    assert any(
        "unknown vocabulary '$chinaa'; did you mean '$china'?" in str(p)
        for p in caught.value.problems
    )


def test_nothing_close_suggests_nothing() -> None:
    assert did_you_mean("zzz", ["breaks", "confirms"]) == ""
    assert did_you_mean("Breaks", ["breaks", "confirms"]) == "; did you mean 'breaks'?"
    assert did_you_mean(3, ["breaks"]) == ""
