"""The README's chat transcript is what the bot says today, not what it said once."""

from __future__ import annotations

from tests.helpers.transcript import readme_block, transcript


async def test_the_readme_transcript_is_the_bots_own() -> None:
    got = await transcript()
    assert "🕒 alert 2025-11-01 22:03 UTC, 3m after the news" in got
    assert "> /digest\n📰 What changed · chip-for-rare-earth\n" in got
    assert readme_block() == got, (
        "README.md's transcript is stale: python -m tests.helpers.transcript --readme"
    )
