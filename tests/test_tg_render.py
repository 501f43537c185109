"""What the bot says: escaped HTML, cashtags with direction, routing by subscription."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.pipeline.routing import route, wants
from bot.telegram.html import MAX_MESSAGE, split_html
from bot.telegram.render import alert_html, cashtags
from storage.chats import ChatPrefs
from storage.outbox import StoredAlert

NOW = datetime(2025, 8, 12, 9, 0, tzinfo=UTC)


def alert(**payload: object) -> StoredAlert:
    base: dict[str, object] = {
        "leg": "h20-ban",
        "claim": "China blocks the H20.",
        "reason": "break confirmed by the policy",
        "sources": 3,
        "headlines": [
            {
                "title": "China lifts H20 ban",
                "source": "Reuters",
                "tier": "wire",
                "url": "https://r.example/1",
            }
        ],
        "more_headlines": 0,
        "rules": ["h20-ban-lifted"],
        "tickers": {"NVDA": "bullish", "AMD": "bullish"},
    }
    base.update(payload)
    return StoredAlert(7, "transition", "h20-ban", "high", "intact", "broken", True, NOW, base)


def test_an_alert_names_the_change_the_tickers_and_its_confirmation() -> None:
    text = alert_html(alert())
    assert "<b>h20-ban</b>: intact → <b>broken</b>" in text
    assert "$AMD ▲ $NVDA ▲" in text
    assert "confirmed by 3 sources · alert #7" in text
    assert '<a href="https://r.example/1">China lifts H20 ban</a> — Reuters' in text


def test_html_in_a_headline_is_rendered_harmless() -> None:
    evil = {
        "title": '<b>Fake</b> <a href="javascript:alert(1)">click</a> & <script>x</script>',
        "source": "<i>Outlet</i>",
        "tier": "blog",
        "url": 'https://x.example/"><script>',
    }
    text = alert_html(alert(headlines=[evil]))
    assert "<script>" not in text
    assert "&lt;b&gt;Fake&lt;/b&gt;" in text
    assert "&lt;i&gt;Outlet&lt;/i&gt;" in text
    assert 'href="https://x.example/&quot;&gt;&lt;script&gt;"' in text


def test_a_ten_thousand_character_alert_splits_into_valid_messages() -> None:
    many = [
        {"title": f"Headline {i} " + "x" * 180, "source": "S", "tier": "press", "url": None}
        for i in range(50)
    ]
    text = alert_html(alert(headlines=many))
    parts = split_html(text)
    assert len(text) > 10_000
    assert len(parts) >= 3
    assert all(len(p) <= MAX_MESSAGE for p in parts)
    assert parts[-1].endswith("alert #7")


def test_cashtags_are_sorted_with_arrows() -> None:
    assert cashtags({"MP": "bearish", "ASML": "bullish"}) == "$ASML ▲ $MP ▼"


def test_a_chat_gets_what_its_subscription_wants() -> None:
    default = ChatPrefs(1)
    picky = ChatPrefs(2, legs=("wfe-controls",), min_severity="high")
    tickers = ChatPrefs(3, tickers=("MP",))
    muted = ChatPrefs(4, muted_until=NOW + timedelta(hours=1))
    leg_muted = ChatPrefs(5, muted_legs={"h20-ban": NOW + timedelta(hours=1)})
    paused = ChatPrefs(6, paused=True)
    expired = ChatPrefs(7, muted_until=NOW - timedelta(minutes=1))
    prefs = {p.chat_id: p for p in (default, picky, tickers, muted, leg_muted, paused, expired)}

    got = route(prefs, leg="h20-ban", severity="high", tickers=["NVDA", "AMD"], now=NOW)

    assert got == ["chat:1", "chat:7"]
    assert wants(picky, leg="wfe-controls", severity="critical", tickers=[], now=NOW)
    assert not wants(picky, leg="wfe-controls", severity="medium", tickers=[], now=NOW)
    assert wants(tickers, leg="rare-earth-leverage", severity="low", tickers=["MP"], now=NOW)
