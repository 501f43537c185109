"""Every bad feed hurts only itself: feedparser's test corpus, hostile XML, bad dates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.cli.main import main
from bot.feeds.fetch import FetchLimits
from bot.feeds.ingest import ingest_paths
from storage.models import item_t
from tests.conftest import FakeClock

NOW = datetime(2025, 8, 12, 9, 0, tzinfo=UTC)


def write(tmp_path: Path, name: str, body: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(body.encode() if isinstance(body, str) else body)
    return path


def titles(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.execute(select(item_t.c.title).order_by(item_t.c.id)).scalars())


def test_every_corpus_file_goes_through_ingest(
    corpora: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = corpora / "feedparser-tests"
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    monkeypatch.setenv("THESISWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'corpus.db'}")

    code = main(["ingest", "--json", str(folder)])

    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["files"] == len(files) > 2000
    assert summary["new_items"] > 50
    # Ill-formed documents without entries are reported, one line each, not raised.
    assert 0 < len(summary["errors"]) < len(files) / 2
    assert all(e["error"] and e["feed"].startswith("file:") for e in summary["errors"])
    assert not any(
        e["error"].startswith(("internal", "parse:", "store")) for e in summary["errors"]
    )


async def test_billion_laughs_does_not_expand(tmp_path: Path, sqlite_engine: Engine) -> None:
    lol = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    path = write(
        tmp_path,
        "lol.xml",
        f'<?xml version="1.0"?><!DOCTYPE rss [{lol}]><rss version="2.0"><channel>'
        "<title>t</title><item><title>&lol9;</title><link>https://x.example/1</link></item>"
        "</channel></rss>",
    )
    await ingest_paths(sqlite_engine, [path], clock=FakeClock(NOW))
    assert all(len(t) < 1000 for t in titles(sqlite_engine))


async def test_external_entities_are_not_read(tmp_path: Path, sqlite_engine: Engine) -> None:
    secret = write(tmp_path, "secret.txt", "TOP-SECRET-CONTENT")
    path = write(
        tmp_path,
        "xxe.xml",
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<rss version="2.0"><channel><title>t</title><item><title>before &xxe; after</title>'
        "<link>https://x.example/1</link></item></channel></rss>",
    )
    await ingest_paths(sqlite_engine, [path], clock=FakeClock(NOW))
    assert not any("TOP-SECRET" in t for t in titles(sqlite_engine))


async def test_a_huge_file_is_refused_and_the_next_one_is_read(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    huge = write(tmp_path, "a-huge.xml", b"<rss>" + b" " * 5000 + b"</rss>")
    good = write(
        tmp_path,
        "b-good.xml",
        '<rss version="2.0"><channel><title>t</title><item><title>Fine headline</title>'
        "<link>https://x.example/ok</link></item></channel></rss>",
    )
    summary = await ingest_paths(
        sqlite_engine, [huge, good], limits=FetchLimits(max_bytes=4096), clock=FakeClock(NOW)
    )
    assert [why for _, why in summary.errors] == ["too large: over 4096 bytes"]
    assert titles(sqlite_engine) == ["Fine headline"]


@pytest.mark.parametrize(
    "date",
    ["Tue, 31 Feb 2025 99:99:99 GMT", "not a date at all", "Fri, 01 Jan 9999 00:00:00 GMT", ""],
)
async def test_bad_dates_become_first_seen(
    tmp_path: Path, sqlite_engine: Engine, date: str
) -> None:
    path = write(
        tmp_path,
        "dates.xml",
        '<rss version="2.0"><channel><title>t</title><item><title>Dated headline</title>'
        f"<link>https://x.example/d</link><pubDate>{date}</pubDate></item></channel></rss>",
    )
    await ingest_paths(sqlite_engine, [path], clock=FakeClock(NOW))
    with Session(sqlite_engine) as s:
        published = s.execute(select(item_t.c.published_at)).scalar_one()
    assert published == NOW


async def test_binary_noise_and_empty_files_are_errors_of_their_own(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    noise = write(tmp_path, "noise.xml", bytes(range(256)) * 40)
    empty = write(tmp_path, "empty.xml", b"")
    summary = await ingest_paths(sqlite_engine, [noise, empty], clock=FakeClock(NOW))
    assert summary.files == 2
    assert [why.split(":")[0] for _, why in summary.errors] == ["not a feed", "not a feed"]
