"""The demo runs the shipped thesis and the example thesis side by side."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.cli.demo import run_demo


def test_demo_shows_alerts_and_boards_of_both_theses(tmp_path: Path) -> None:
    lines: list[str] = []
    assert asyncio.run(run_demo(lines.append, tmp_path)) == 0
    text = "\n".join(lines)
    assert "The boards of 2 theses" in text
    assert text.index("thesis: chip-for-rare-earth") < text.index("thesis: copper-new-oil")
    # The tariff story of Oct 2025 challenges the copper thesis's China leg.
    assert "china-demand: intact -> challenged" in text
    assert "no-trade-deal: intact -> broken" in text
