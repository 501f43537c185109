"""WebSub: a feed that names a hub is subscribed to, and the hub's pushes are read at once.

Only with a public callback URL (``THESISWATCH_PUBLIC_URL``, which must reach the ops server):
after a poll finds ``<link rel="hub">`` (Atom, or atom:link in RSS), the hub is asked to
deliver the feed's topic (its ``rel="self"`` link, else its URL) to
``PUBLIC_URL/websub/<feed id>`` with a secret of our own. The hub's verification (GET) is
answered only for a subscription we asked for; a push (POST) is read only when its
``X-Hub-Signature`` is the HMAC of the body under that secret, and is then stored exactly like
a polled body (parse, store, rules). Polling goes on as before: a push only comes sooner.

Subscriptions live in this process (a restart subscribes again at the next poll, with a new
secret); with several workers, point the public URL at one of them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from aiohttp import web

from bot.clock import Clock, utcnow

__all__ = ["LEASE_S", "Subscription", "WebSub", "signature_ok"]

log = logging.getLogger(__name__)

LEASE_S = 86400  # asked for; the hub may grant another
MAX_PUSH_BYTES = 10 * 1024 * 1024
_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384}
_DIGESTS["sha512"] = hashlib.sha512

# Stores a pushed body for a feed (parse, store, evaluate), as a poll would.
PushFn = Callable[[int, bytes, dict[str, str]], Awaitable[object]]


@dataclass(slots=True)
class Subscription:
    hub: str
    topic: str
    secret: str
    verified: bool = False
    renew_at: datetime | None = None  # nine tenths into the lease the hub granted


def signature_ok(header: str | None, secret: str, body: bytes) -> bool:
    """``X-Hub-Signature: method=hex``: the HMAC of ``body`` under ``secret``."""
    if not header or "=" not in header:
        return False
    method, _, given = header.partition("=")
    digest = _DIGESTS.get(method.strip().lower())
    if digest is None:
        return False
    expected = hmac.new(secret.encode(), body, digest).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


class WebSub:
    def __init__(
        self, client: httpx.AsyncClient, public_url: str, push: PushFn, *, clock: Clock = utcnow
    ) -> None:
        self.client = client
        self.public_url = public_url.rstrip("/")
        self._push = push
        self._clock = clock
        self.subscriptions: dict[int, Subscription] = {}

    def callback(self, feed_id: int) -> str:
        return f"{self.public_url}/websub/{feed_id}"

    def install(self, app: web.Application) -> None:
        app.router.add_get("/websub/{feed_id:\\d+}", self._verify)
        app.router.add_post("/websub/{feed_id:\\d+}", self._receive)

    async def ensure(self, feed_id: int, hub: str, topic: str) -> None:
        """Subscribe unless a subscription to the same hub and topic is live or pending."""
        sub = self.subscriptions.get(feed_id)
        now = self._clock()
        same = sub is not None and (sub.hub, sub.topic) == (hub, topic)
        # Pending, or live and not yet due for renewal: nothing to ask.
        if (
            same
            and sub is not None
            and (not sub.verified or not sub.renew_at or now < sub.renew_at)
        ):
            return
        sub = Subscription(hub, topic, secrets.token_hex(24))
        self.subscriptions[feed_id] = sub
        form = {
            "hub.mode": "subscribe",
            "hub.topic": topic,
            "hub.callback": self.callback(feed_id),
            "hub.secret": sub.secret,
            "hub.lease_seconds": str(LEASE_S),
        }
        try:
            resp = await self.client.post(hub, data=form, timeout=20.0)
        except httpx.HTTPError as exc:
            log.warning("websub: subscribing to %s at %s failed: %s", topic, hub, exc)
            self.subscriptions.pop(feed_id, None)
            return
        if resp.status_code not in (202, 204):
            log.warning("websub: hub %s refused %s: http %d", hub, topic, resp.status_code)
            self.subscriptions.pop(feed_id, None)
            return
        log.info("websub: asked %s for pushes of %s", hub, topic)

    async def _verify(self, request: web.Request) -> web.Response:
        feed_id = int(request.match_info["feed_id"])
        q = request.query
        sub = self.subscriptions.get(feed_id)
        mode, topic, challenge = q.get("hub.mode"), q.get("hub.topic"), q.get("hub.challenge")
        if mode == "denied":
            log.warning("websub: hub denied %s: %s", topic, q.get("hub.reason", ""))
            self.subscriptions.pop(feed_id, None)
            return web.Response(text="")
        if sub is None or mode != "subscribe" or topic != sub.topic or not challenge:
            return web.Response(status=404, text="no such subscription")
        lease = q.get("hub.lease_seconds", "")
        sub.verified = True
        granted = int(lease) if lease.isdigit() else LEASE_S
        sub.renew_at = self._clock() + timedelta(seconds=granted * 0.9)
        log.info("websub: subscribed to %s (lease %ss)", topic, lease or "?")
        return web.Response(text=challenge, content_type="text/plain")

    async def _receive(self, request: web.Request) -> web.Response:
        feed_id = int(request.match_info["feed_id"])
        sub = self.subscriptions.get(feed_id)
        if sub is None:
            return web.Response(status=410, text="not subscribed")  # the hub drops us
        body = await request.content.read(MAX_PUSH_BYTES + 1)
        if len(body) > MAX_PUSH_BYTES:
            return web.Response(status=413)
        # A body that fails the signature is acknowledged and ignored (WebSub 8): a forger
        # learns nothing, and nothing of it is stored.
        if not signature_ok(request.headers.get("X-Hub-Signature"), sub.secret, body):
            log.warning("websub: push for feed #%d with a bad signature ignored", feed_id)
            return web.Response(status=202)
        headers = {k.lower(): v for k, v in request.headers.items()}
        await self._push(feed_id, body, headers)
        return web.Response(status=202)
