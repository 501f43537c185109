"""The ops server over real HTTP on 127.0.0.1: health, its failures, Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import Engine, create_engine

from bot.feeds.poller import PollOutcome
from bot.ops.metrics import Metrics, failure_reason
from bot.ops.server import OpsServer, engine_check
from bot.pipeline.evaluate import EvalSummary

TOKEN = "1234567:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-ZZ"  # fake, 7-digit id
T0 = datetime(2025, 8, 26, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def outcome(status: str = "new", **kw: Any) -> PollOutcome:
    return PollOutcome(feed="f", status=status, next_poll_at=T0, **kw)  # type: ignore[arg-type]


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def get_json(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def metrics() -> Metrics:
    m = Metrics()
    m.set_rules_version("abc123def456")
    return m


@pytest.fixture
async def ops(metrics: Metrics, sqlite_engine: Engine, clock: Clock) -> AsyncIterator[OpsServer]:
    server = OpsServer(
        metrics,
        engine_check(sqlite_engine),
        port=0,
        max_poll_age=timedelta(minutes=10),
        clock=clock,
    )
    async with server:
        yield server


async def test_healthy_after_a_successful_poll(
    ops: OpsServer, metrics: Metrics, clock: Clock
) -> None:
    assert ops.port != 0
    metrics.record_poll(outcome("not_modified"), 0.1, now=clock.now)
    clock.now += timedelta(minutes=9)
    status, body = await get_json(f"{ops.url}/healthz")
    assert status == 200
    assert body == {
        "status": "ok",
        "rules": "abc123def456",
        "last_poll_ok": T0.isoformat(),
        "db": "ok",
        "writes": "ok",
    }


async def test_a_fresh_process_is_healthy_until_the_staleness_limit(
    ops: OpsServer, clock: Clock
) -> None:
    status, body = await get_json(f"{ops.url}/healthz")
    assert (status, body["last_poll_ok"]) == (200, None)
    clock.now += timedelta(minutes=11)
    status, body = await get_json(f"{ops.url}/healthz")
    assert status == 503
    assert body["reason"] == "no successful poll for over 600s"


async def test_stale_polls_are_unhealthy(ops: OpsServer, metrics: Metrics, clock: Clock) -> None:
    metrics.record_poll(outcome("new", new_items=1), now=clock.now)
    clock.now += timedelta(minutes=5)
    metrics.record_poll(outcome("error", error="timeout: ReadTimeout"), now=clock.now)
    clock.now += timedelta(minutes=6)  # 11 min since the last success, however many failures
    status, body = await get_json(f"{ops.url}/healthz")
    assert status == 503
    assert body["status"] == "fail"
    assert body["db"] == "ok"
    assert body["reason"] == "last successful poll older than 600s"
    assert body["last_poll_ok"] == T0.isoformat()


async def test_no_poll_check_for_a_process_that_does_not_poll(
    metrics: Metrics, sqlite_engine: Engine, clock: Clock
) -> None:
    server = OpsServer(metrics, engine_check(sqlite_engine), port=0, max_poll_age=None, clock=clock)
    async with server:
        clock.now += timedelta(days=2)
        status, _ = await get_json(f"{server.url}/healthz")
    assert status == 200


async def test_an_unreachable_database_is_unhealthy_and_says_nothing_secret(
    metrics: Metrics, tmp_path: Path, clock: Clock
) -> None:
    missing = tmp_path / "no-such-dir" / f"{TOKEN}.db"
    broken = create_engine(f"sqlite:///{missing}")
    metrics.record_poll(outcome("unchanged"), now=clock.now)
    try:
        async with OpsServer(metrics, engine_check(broken), port=0, clock=clock) as server:
            status, _, text = await get(f"{server.url}/healthz")
    finally:
        broken.dispose()
    assert status == 503
    assert "database error: OperationalError" in text
    assert TOKEN not in text
    assert str(tmp_path) not in text


async def test_refused_writes_are_unhealthy_until_one_goes_through(
    ops: OpsServer, metrics: Metrics, clock: Clock
) -> None:
    # SELECT 1 still answers on a full disk: health must look at the writes.
    metrics.record_poll(outcome("new"), now=clock.now)
    label = "DiskFull (SQLSTATE 53100)"
    metrics.record_poll(outcome("error", error=f"database: {label}", db_error=label), now=clock.now)
    metrics.record_write(False, label, now=clock.now + timedelta(seconds=5))
    status, body = await get_json(f"{ops.url}/healthz")
    assert status == 503
    assert body["writes"] == "failing"
    assert body["reason"] == (
        f"database writes failing since {T0.isoformat()}: DiskFull (SQLSTATE 53100)"
    )
    _, _, text = await get(f"{ops.url}/metrics")
    assert "thesiswatch_db_writes_failing 1.0" in text
    assert "thesiswatch_db_write_failures_total 2.0" in text
    assert 'thesiswatch_feed_failures_total{reason="database"} 1.0' in text

    metrics.record_evaluation(EvalSummary())
    metrics.record_write(True)
    status, body = await get_json(f"{ops.url}/healthz")
    assert (status, body["writes"]) == (200, "ok")
    _, _, text = await get(f"{ops.url}/metrics")
    assert "thesiswatch_db_writes_failing 0.0" in text


async def test_a_hanging_database_times_out(metrics: Metrics, clock: Clock) -> None:
    async def hang() -> None:
        await asyncio.sleep(30)

    metrics.record_poll(outcome("new"), now=clock.now)
    async with OpsServer(metrics, hang, port=0, db_timeout=0.1, clock=clock) as server:
        status, body = await get_json(f"{server.url}/healthz")
    assert status == 503
    assert body["db"] == "timeout"
    assert body["reason"] == "database timeout"


async def test_metrics_count_what_was_recorded(ops: OpsServer, metrics: Metrics) -> None:
    t = datetime.now(UTC)
    metrics.record_poll(outcome("new", new_items=3, new_stories=2), 0.2, now=t)
    metrics.record_poll(outcome("not_modified"), 0.05)
    metrics.record_poll(outcome("error", error="http 503: Service Unavailable"), 1.5)
    metrics.record_poll(outcome("error", error="http 429: Too Many Requests"), 0.3)
    metrics.record_poll(outcome("error", error=f"connect: https://x/{TOKEN}/feed"), 0.3)
    metrics.record_evaluation(EvalSummary(items=3, signals=2, transitions=1, alerts=4))
    metrics.record_delivery("sent", created_at=t - timedelta(seconds=4), now=t)
    metrics.record_delivery("retry")
    metrics.record_delivery("failed")
    status, content_type, text = await get(f"{ops.url}/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    lines = set(text.splitlines())
    for line in (
        'thesiswatch_feed_polls_total{status="new"} 1.0',
        'thesiswatch_feed_polls_total{status="not_modified"} 1.0',
        'thesiswatch_feed_polls_total{status="unchanged"} 0.0',
        'thesiswatch_feed_polls_total{status="error"} 3.0',
        'thesiswatch_feed_failures_total{reason="http_5xx"} 1.0',
        'thesiswatch_feed_failures_total{reason="http_429"} 1.0',
        'thesiswatch_feed_failures_total{reason="connect"} 1.0',
        'thesiswatch_feed_failures_total{reason="timeout"} 0.0',
        "thesiswatch_items_stored_total 3.0",
        "thesiswatch_stories_total 2.0",
        "thesiswatch_items_evaluated_total 3.0",
        "thesiswatch_signals_total 2.0",
        "thesiswatch_transitions_total 1.0",
        "thesiswatch_alerts_total 4.0",
        'thesiswatch_deliveries_total{outcome="sent"} 1.0',
        'thesiswatch_deliveries_total{outcome="retry"} 1.0',
        'thesiswatch_deliveries_total{outcome="failed"} 1.0',
        "thesiswatch_poll_duration_seconds_count 5.0",
        'thesiswatch_delivery_latency_seconds_bucket{le="3.0"} 0.0',
        'thesiswatch_delivery_latency_seconds_bucket{le="5.0"} 1.0',
        'thesiswatch_rules_info{version="abc123def456"} 1.0',
    ):
        assert line in lines, line
    assert TOKEN not in text
    last = metrics.registry.get_sample_value("thesiswatch_last_successful_poll_timestamp_seconds")
    assert last == pytest.approx(t.timestamp())
    assert "thesiswatch_last_successful_poll_timestamp_seconds " in text


def test_a_skipped_feed_is_no_poll() -> None:
    m = Metrics()
    m.record_poll(outcome("skipped"), 0.001)  # another worker holds it
    assert m.last_poll_ok is None
    assert m.registry.get_sample_value("thesiswatch_poll_duration_seconds_count") == 0
    assert m.registry.get_sample_value("thesiswatch_feed_polls_total", {"status": "skipped"}) == 1


async def test_metrics_are_per_instance() -> None:
    a, b = Metrics(), Metrics()
    a.record_poll(outcome("new", new_items=5))
    assert a.registry.get_sample_value("thesiswatch_items_stored_total") == 5
    assert b.registry.get_sample_value("thesiswatch_items_stored_total") == 0


async def test_openmetrics_on_request(ops: OpsServer) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{ops.url}/metrics", headers={"Accept": "application/openmetrics-text"}) as resp,
    ):
        text = await resp.text()
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert text.rstrip().endswith("# EOF")


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("timeout: ReadTimeout", "timeout"),
        ("connect: [Errno 111] Connection refused", "connect"),
        ("http 404: Not Found", "http_4xx"),
        ("http 410: Gone", "http_4xx"),
        ("http 429: Too Many Requests", "http_429"),
        ("http 500: Internal Server Error", "http_5xx"),
        ("too large: over 10485760 bytes", "too_large"),
        ("not a feed: no RSS, Atom or RDF document", "not_a_feed"),
        ("redirects: Exceeded maximum allowed redirects.", "redirects"),
        ("database: SQLITE_FULL: database or disk is full", "database"),
        ("decoding: bad gzip", "other"),
        ("internal: KeyError('x')", "other"),
        ("http weird", "other"),
        (None, "other"),
    ],
)
def test_failure_reasons_are_a_small_set(error: str | None, reason: str) -> None:
    assert failure_reason(error) == reason
