"""Several theses in one rule book: loading, naming legs across theses, reloading."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.pipeline.rulebook import Rulebook, read_book_files
from rules.book import LegLookupError, load_book
from rules.engine import compile_ruleset
from rules.reload import reload_book
from rules.yamlsrc import YamlError
from tests.helpers.inline_rules import RULES, THESIS, make_theses_dir

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "rules" / "default"
COPPER = ROOT / "rules" / "examples" / "copper-new-oil"
T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_shipped_folders_load_side_by_side_default_first() -> None:
    book = load_book(read_book_files([DEFAULT, COPPER]))
    assert book.names == ("chip-for-rare-earth", "copper-new-oil")
    assert book.default.thesis.name == "chip-for-rare-earth"
    # One thesis alone keeps the version it always had.
    alone = load_book(read_book_files([DEFAULT]))
    assert alone.version == alone.default.version != book.version


def test_ids_are_per_thesis_and_a_shared_leg_name_must_be_qualified() -> None:
    # The same leg, rule and vocabulary ids in two theses: fine, each is unique in its own.
    other = THESIS.replace("name: test", "name: other")
    book = load_book(
        {
            "a": {"a/thesis.yaml": THESIS, "a/rules.yaml": RULES},
            "b": {"b/thesis.yaml": other, "b/rules.yaml": RULES},
        }
    )
    assert [rs.thesis.name for rs in book.rulesets] == ["test", "other"]
    rs, leg = book.find_leg("other/h20-ban")
    assert (rs.thesis.name, leg.id) == ("other", "h20-ban")
    with pytest.raises(LegLookupError, match=r"say which \(test/h20-ban, other/h20-ban"):
        book.find_leg("h20-ban")
    with pytest.raises(LegLookupError, match="no thesis 'nope'"):
        book.find_leg("nope/h20-ban")
    with pytest.raises(LegLookupError, match="no leg 'wfe'"):
        book.find_leg("wfe")


def test_an_unqualified_leg_resolves_when_only_one_thesis_has_it() -> None:
    book = load_book(read_book_files([DEFAULT, COPPER]))
    rs, leg = book.find_leg("china-demand")
    assert (rs.thesis.name, leg.id) == ("copper-new-oil", "china-demand")
    assert book.find_leg("h20-ban")[0].thesis.name == "chip-for-rare-earth"


def test_duplicate_thesis_name_is_an_error_at_the_second_name() -> None:
    with pytest.raises(YamlError) as caught:
        load_book(
            {
                "a": {"a/thesis.yaml": THESIS, "a/rules.yaml": RULES},
                "b": {"b/thesis.yaml": THESIS, "b/rules.yaml": RULES},
            }
        )
    assert [str(p) for p in caught.value.problems] == [
        "b/thesis.yaml:2:9: thesis 'test' already defined at a/thesis.yaml:2; "
        "each thesis needs its own name"
    ]


def test_errors_of_every_thesis_are_reported_with_file_line_col() -> None:
    bad = RULES.replace("effect: breaks", "effect: brakes", 1)
    other = THESIS.replace("name: test", "name: other")
    with pytest.raises(YamlError) as caught:
        load_book(
            {
                "a": {"a/thesis.yaml": THESIS, "a/rules.yaml": bad},
                "b": {"b/thesis.yaml": other, "b/rules.yaml": bad.replace("H20", "[H20")},
            }
        )
    places = [str(p).split(": ")[0] for p in caught.value.problems]
    assert places[0] == "a/rules.yaml:4:13"
    assert any(p.startswith("b/rules.yaml:") for p in places)


def test_a_slash_in_a_thesis_name_is_refused() -> None:
    with pytest.raises(YamlError, match=r"thesis\.yaml:2:9: thesis name .a/b."):
        load_book(
            {"a": {"thesis.yaml": THESIS.replace("name: test", "name: a/b"), "rules.yaml": RULES}}
        )


def test_reload_keeps_unchanged_engines_adds_and_retires_theses() -> None:
    one = {"a": {"a/thesis.yaml": THESIS, "a/rules.yaml": RULES}}
    engines = tuple(compile_ruleset(rs) for rs in load_book(one).rulesets)
    other = THESIS.replace("name: test", "name: other")
    two = one | {"b": {"b/thesis.yaml": other, "b/rules.yaml": RULES}}
    added = reload_book(engines, two)
    assert added.changed
    assert added.added == ("other",)
    assert not added.problems
    assert added.engines[0] is engines[0]  # unchanged: compiled state reused
    retired = reload_book(added.engines, one)
    assert retired.changed
    assert retired.retired == ("other",)
    assert [e.ruleset.thesis.name for e in retired.engines] == ["test"]


def test_a_broken_thesis_keeps_every_thesis_running() -> None:
    other = THESIS.replace("name: test", "name: other")
    two = {
        "a": {"a/thesis.yaml": THESIS, "a/rules.yaml": RULES},
        "b": {"b/thesis.yaml": other, "b/rules.yaml": RULES},
    }
    engines = tuple(compile_ruleset(rs) for rs in load_book(two).rulesets)
    broken = two | {"b": {"b/thesis.yaml": other, "b/rules.yaml": RULES.replace("H20", "[H20")}}
    result = reload_book(engines, broken)
    assert not result.changed
    assert result.engines == engines
    assert result.problems
    assert str(result.problems[0]).startswith("b/rules.yaml:")
    # A save that empties a leg of one thesis is refused as before.
    emptied = two | {"b": {"b/thesis.yaml": other, "b/rules.yaml": "vocabularies: {x: [y]}\n"}}
    refused = reload_book(engines, emptied)
    assert not refused.changed
    assert "would be left with no rules" in str(refused.problems[0])


def test_rulebook_on_a_shelf_adds_and_retires_a_thesis_by_folder(tmp_path: Path) -> None:
    shelf = make_theses_dir(tmp_path)
    book = Rulebook(shelf, T0)
    assert [e.ruleset.thesis.name for e in book.engines] == ["second", "test"]
    kept = shutil.move(shelf / "second", tmp_path / "second")
    book.refresh(T0, force=True)
    assert [e.ruleset.thesis.name for e in book.engines] == ["test"]
    shutil.move(kept, shelf / "second")
    report = book.refresh(T0, force=True)
    assert report is not None
    assert report.ok
    assert report.changed
    assert [e.ruleset.thesis.name for e in book.engines] == ["second", "test"]
    # A thesis folder emptied mid-edit is refused, not read as retiring it.
    for f in (shelf / "second").iterdir():
        f.unlink()
    report = book.refresh(T0, force=True)
    assert report is not None
    assert not report.ok
    assert [e.ruleset.thesis.name for e in book.engines] == ["second", "test"]


def test_rulebook_takes_several_folders_in_order(tmp_path: Path) -> None:
    book = Rulebook([DEFAULT, COPPER], T0)
    assert book.engine.ruleset.thesis.name == "chip-for-rare-earth"
    assert book.engine_of("copper-new-oil").ruleset.thesis.legs[0].id == "supply-deficit"
