"""WebSub against a small hub on 127.0.0.1: subscribe, verify the intent, take signed pushes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.feeds.websub import WebSub, signature_ok
from bot.jobs import Pipeline
from bot.ops.server import OpsServer, engine_check
from storage.models import item_t
from tests.conftest import FakeClock
from tests.helpers.feedserver import FeedServer
from tests.helpers.news import Entry, add_feed, alerts, dated_rss, make_rules, news_pipeline

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


@dataclass
class Hub:
    """A WebSub hub as the spec has it: 202, then the verification GET to the callback."""

    requests: list[dict[str, str]] = field(default_factory=list)
    verified: asyncio.Event = field(default_factory=asyncio.Event)
    answers: list[tuple[int, str, str]] = field(default_factory=list)  # status, body, challenge
    port: int = 0
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hub", self._subscribe)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hub"

    async def _subscribe(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(form)
        asyncio.get_running_loop().create_task(self.verify(form))
        return web.Response(status=202)

    async def verify(self, form: dict[str, str], topic: str | None = None) -> tuple[int, str]:
        challenge = secrets.token_hex(8)
        params = {
            "hub.mode": "subscribe",
            "hub.topic": topic or form["hub.topic"],
            "hub.challenge": challenge,
            "hub.lease_seconds": "3600",
        }
        async with httpx.AsyncClient() as client:
            resp = await client.get(form["hub.callback"], params=params)
        self.answers.append((resp.status_code, resp.text, challenge))
        if resp.status_code == 200 and resp.text == challenge:
            self.verified.set()
        return resp.status_code, resp.text

    async def publish(self, body: bytes, *, secret: str | None = None) -> int:
        form = self.requests[-1]
        key = (secret or form["hub.secret"]).encode()
        sig = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        async with httpx.AsyncClient() as client:
            resp = await client.post(
                form["hub.callback"],
                content=body,
                headers={"Content-Type": "application/rss+xml", "X-Hub-Signature": sig},
            )
        return resp.status_code


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    h = Hub()
    await h.start()
    yield h
    await h.stop()


def rss_with_hub(hub: str, self_url: str, *entries: Entry) -> str:
    links = f'<atom:link rel="hub" href="{hub}"/><atom:link rel="self" href="{self_url}"/>'
    return (
        dated_rss(*entries)
        .replace(
            '<rss version="2.0">', '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
        )
        .replace("<channel>", f"<channel>{links}", 1)
    )


@pytest.fixture
async def wired(
    engine: Engine, tmp_path: Path, hub: Hub
) -> AsyncIterator[tuple[Pipeline, OpsServer, FakeClock]]:
    clock = FakeClock(NOW)
    async with (
        news_pipeline(engine, make_rules(tmp_path), clock) as pipeline,
        httpx.AsyncClient() as client,
    ):
        websub = WebSub(client, "http://placeholder", pipeline.push, clock=clock)
        ops = OpsServer(pipeline.metrics, engine_check(engine), port=0, routes=websub.install)
        async with ops:
            websub.public_url = ops.url
            pipeline.websub = websub
            yield pipeline, ops, clock


def _titles(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.scalars(select(item_t.c.title).order_by(item_t.c.id)))


async def test_a_feed_with_a_hub_is_subscribed_and_its_pushes_alert(
    wired: tuple[Pipeline, OpsServer, FakeClock], hub: Hub, feed_server: FeedServer, engine: Engine
) -> None:
    pipeline, ops, clock = wired
    topic = "https://gov.example/feed.xml"
    old = Entry(
        "Ministry publishes weekly bulletin", "https://gov.example/1", NOW - timedelta(hours=1)
    )
    url = feed_server.route("/gov.xml", rss_with_hub(hub.url, topic, old))
    gov = add_feed(engine, "gov", url, "official")

    await pipeline.poll(gov)
    await asyncio.wait_for(hub.verified.wait(), 30)

    [form] = hub.requests
    assert form["hub.mode"] == "subscribe"
    assert form["hub.topic"] == topic  # the feed's self link
    assert form["hub.callback"] == f"{ops.url}/websub/{gov}"
    assert len(form["hub.secret"]) >= 32

    # A forged push (wrong secret) is acknowledged and ignored.
    news = Entry("China approves Nvidia H20 purchases", "https://gov.example/2", NOW)
    body = rss_with_hub(hub.url, topic, news, old).encode()
    assert await hub.publish(body, secret="not-the-secret") == 202
    assert _titles(engine) == ["Ministry publishes weekly bulletin"]
    assert alerts(engine) == []

    # The real one is stored and alerts, with no poll in between.
    assert await hub.publish(body) == 202
    assert _titles(engine) == [
        "Ministry publishes weekly bulletin",
        "China approves Nvidia H20 purchases",
    ]
    assert alerts(engine) == [("transition", "h20-ban", "broken", True)]
    assert len(feed_server.hits_for("/gov.xml")) == 1

    # Polling the same feed again does not subscribe twice.
    clock.advance(minutes=10)
    await pipeline.poll(gov)
    assert len(hub.requests) == 1


async def test_verification_of_a_topic_we_did_not_ask_for_is_refused(
    wired: tuple[Pipeline, OpsServer, FakeClock], hub: Hub, feed_server: FeedServer, engine: Engine
) -> None:
    pipeline, ops, _ = wired
    topic = "https://gov.example/feed.xml"
    url = feed_server.route("/gov.xml", rss_with_hub(hub.url, topic))
    gov = add_feed(engine, "gov", url, "official")
    await pipeline.poll(gov)
    await asyncio.wait_for(hub.verified.wait(), 30)

    status, _ = await hub.verify(hub.requests[0], topic="https://evil.example/other.xml")
    assert status == 404
    stranger = {"hub.callback": f"{ops.url}/websub/99999", "hub.topic": topic}
    assert (await hub.verify(stranger))[0] == 404
    # A push for a feed never subscribed: 410, the hub stops sending.
    async with httpx.AsyncClient() as client:
        resp = await client.post(f"{ops.url}/websub/99999", content=b"<rss/>")
    assert resp.status_code == 410


async def test_without_a_public_url_nothing_subscribes(
    engine: Engine, tmp_path: Path, hub: Hub, feed_server: FeedServer
) -> None:
    url = feed_server.route("/gov.xml", rss_with_hub(hub.url, "https://gov.example/feed.xml"))
    gov = add_feed(engine, "gov", url, "official")
    async with news_pipeline(engine, make_rules(tmp_path), FakeClock(NOW)) as pipeline:
        await pipeline.poll(gov)
    assert hub.requests == []


def test_signature_methods() -> None:
    body = b"<rss/>"
    for name in ("sha1", "sha256", "sha512"):
        good = hmac.new(b"s3cret", body, getattr(hashlib, name)).hexdigest()
        assert signature_ok(f"{name}={good}", "s3cret", body)
        assert not signature_ok(f"{name}={good}", "other", body)
    assert not signature_ok(None, "s3cret", body)
    assert not signature_ok("md5=abc", "s3cret", body)
    assert not signature_ok("garbage", "s3cret", body)
