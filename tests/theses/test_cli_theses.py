"""status, status --exposure and backtest over two theses, from ingested demo snapshots."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.settings import DEFAULT_RULES, EXAMPLE_THESES
from rules.exposure import exposures


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from bot.cli.demo import DEMO_FEEDS

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THESISWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'tw.db'}")
    monkeypatch.setenv("THESISWATCH_RULES_DIR", f"{DEFAULT_RULES}{os.pathsep}{EXAMPLE_THESES}")
    assert main(["ingest", "--tier", "wire", str(DEMO_FEEDS.parent)]) == 0
    return tmp_path


def test_status_shows_each_thesis_board(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    chip = out.index("thesis: chip-for-rare-earth")
    copper = out.index("thesis: copper-new-oil")
    assert chip < copper
    assert "  china-demand " in out[copper:]
    assert "  h20-ban " in out[chip:copper]

    assert main(["status", "copper-new-oil", "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["thesis"] == "copper-new-oil"
    assert [leg["leg"] for leg in view["legs"]] == [
        "supply-deficit",
        "green-demand",
        "china-demand",
    ]

    assert main(["status", "--json"]) == 0
    assert [v["thesis"] for v in json.loads(capsys.readouterr().out)] == [
        "chip-for-rare-earth",
        "copper-new-oil",
    ]
    assert main(["status", "nope"]) == 2
    assert (
        "no thesis 'nope' (theses: chip-for-rare-earth, copper-new-oil)" in capsys.readouterr().err
    )


def test_exposure_lists_tickers_and_the_legs_that_move_them(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["status", "--exposure", "--json"]) == 0
    rows = {r["ticker"]: r for r in json.loads(capsys.readouterr().out)}
    fcx = [(e["thesis"], e["leg"], e["on_break"]) for e in rows["FCX"]["legs"]]
    assert fcx == [
        ("copper-new-oil", "supply-deficit", "bearish"),
        ("copper-new-oil", "green-demand", "bearish"),
        ("copper-new-oil", "china-demand", "bearish"),
    ]
    assert {e["leg"] for e in rows["NVDA"]["legs"]} == {
        "h20-ban",
        "rare-earth-leverage",
        "no-trade-deal",
    }
    # Ingested now, the snapshots are old news: every leg still intact.
    assert {e["state"] for r in rows.values() for e in r["legs"]} == {"intact"}
    assert main(["status", "--exposure"]) == 0
    text = capsys.readouterr().out
    assert "chip-for-rare-earth/wfe-controls (INTACT): bullish" in text


def test_exposure_puts_tickers_shared_by_theses_first_with_leg_states() -> None:
    from bot.views.report import exposure_text
    from rules.book import load_book
    from tests.helpers.inline_rules import RULES, SECOND_RULES, SECOND_THESIS, THESIS

    book = load_book(
        {
            "a": {"a/thesis.yaml": THESIS, "a/rules.yaml": RULES},
            "b": {"b/thesis.yaml": SECOND_THESIS, "b/rules.yaml": SECOND_RULES},
        }
    )
    rows = exposures(book.rulesets)
    assert [(r.ticker, r.theses) for r in rows] == [
        ("NVDA", ("test", "second")),
        ("AMD", ("test",)),
        ("MU", ("second",)),
    ]
    text = exposure_text(rows, {"test/h20-ban": "broken"}).splitlines()
    assert text[1] == (
        "NVDA     *    2   test/h20-ban (BROKEN): bullish, second/hbm-demand (INTACT): bullish"
    )
    assert text[-1].startswith("* moved by legs of several theses")


def test_backtest_replays_each_thesis_into_one_chart(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    chart = env / "legs.png"
    assert main(["backtest", "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("thesis chip-for-rare-earth: replayed ")
    assert "\nthesis copper-new-oil: replayed " in out
    assert "china-demand" in out.split("thesis copper-new-oil")[1]
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["backtest", "--thesis", "copper-new-oil"]) == 0
    only = capsys.readouterr().out
    assert only.startswith("replayed ")
    assert "h20-ban" not in only
