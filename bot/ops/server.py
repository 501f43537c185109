"""The operations endpoint: ``/healthz`` for orchestrators, ``/metrics`` for Prometheus.

A small aiohttp server on its own port, inside the running process's event loop. Nothing it
answers carries a secret: health reports fixed reason strings and exception class names (a
driver's message can quote a connection string), metrics carry bounded labels only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from prometheus_client.exposition import choose_encoder
from sqlalchemy import Engine, text

from bot.ops.metrics import Metrics

__all__ = ["Check", "Component", "DbCheck", "OpsServer", "engine_check"]

log = logging.getLogger(__name__)

DbCheck = Callable[[], Awaitable[object]]
"""Raises (or times out) when the database cannot answer; the result is ignored."""
Check = Callable[[], Awaitable[str | None]]
"""A part's health that must ask (the database, say): None when fine, else the reason (fixed
words, no secrets). Bounded by the database timeout."""

Component = Callable[[], tuple[Any, str | None]]
"""Another part's health: what ``/healthz`` shows under its name, and why it is unhealthy
(None when it is not). Called on the event loop: it must be quick and must not block."""


def engine_check(engine: Engine) -> DbCheck:
    """``SELECT 1`` on a thread of its own: the pipeline's database thread may be busy."""

    def ping() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    async def check() -> None:
        await asyncio.to_thread(ping)

    return check


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OpsServer:
    """``async with OpsServer(metrics, engine_check(engine), port=8080) as ops: ...``.

    ``/healthz`` is 200 while the database answers within ``db_timeout``, its last write went
    through (see :meth:`Metrics.record_write`) and a poll has succeeded within
    ``max_poll_age`` (counted from start-up until the first one); ``None`` skips the poll
    check, for processes that do not poll. Each of ``components`` (e.g. the Telegram link)
    adds its state under its name, and a reason when it is unhealthy; so does each of
    ``checks`` (delivery, say), shown as "ok" or its reason. Otherwise 503 with the reasons.
    """

    def __init__(
        self,
        metrics: Metrics,
        db_check: DbCheck,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        max_poll_age: timedelta | None = timedelta(minutes=30),
        db_timeout: float = 5.0,
        clock: Callable[[], datetime] = _utcnow,
        components: Mapping[str, Component] | None = None,
        checks: Mapping[str, Check] | None = None,
        routes: Callable[[web.Application], None] | None = None,
    ) -> None:
        self.metrics = metrics
        self._routes = routes  # more endpoints on the same server (WebSub callbacks)
        self.components = dict(components or {})
        self.host = host
        self.port = port
        self.max_poll_age = max_poll_age
        self._db_check = db_check
        self._db_timeout = db_timeout
        self._clock = clock
        self._checks = dict(checks or {})
        self._started_at = clock()
        self._runner: web.AppRunner | None = None

    async def health(self) -> tuple[int, dict[str, Any]]:
        """The status code and body ``/healthz`` answers."""
        reasons: list[str] = []
        db = "ok"
        try:
            await asyncio.wait_for(self._db_check(), self._db_timeout)
        except TimeoutError:
            db = "timeout"
        except Exception as exc:  # any driver error is an unhealthy database, never a 500
            db = f"error: {type(exc).__name__}"
            log.warning("health check: database unavailable: %s", exc)
        if db != "ok":
            reasons.append(f"database {db}")
        # SELECT 1 answers on a full disk: what counts is whether the writes go through.
        failing = self.metrics.writes_failing_since
        if failing is not None:
            when = failing.isoformat(timespec="seconds")
            reasons.append(f"database writes failing since {when}: {self.metrics.write_error}")
        last = self.metrics.last_poll_ok
        if self.max_poll_age is not None:
            since = last or self._started_at
            if self._clock() - since > self.max_poll_age:
                limit = int(self.max_poll_age.total_seconds())
                reasons.append(
                    f"no successful poll for over {limit}s"
                    if last is None
                    else f"last successful poll older than {limit}s"
                )
        body: dict[str, Any] = {
            "status": "fail" if reasons else "ok",
            "rules": self.metrics.rules_version,
            "last_poll_ok": last.isoformat() if last else None,
            "db": db,
            "writes": "ok" if failing is None else "failing",
        }
        for name, component in self.components.items():
            body[name], reason = component()
            if reason:
                reasons.append(reason)
        for name, check in self._checks.items():
            problem = await self._ask(name, check)
            body[name] = problem or "ok"
            if problem:
                reasons.append(problem)
        body["status"] = "fail" if reasons else "ok"
        if reasons:
            body["reason"] = "; ".join(reasons)
        return (503 if reasons else 200), body

    async def _ask(self, name: str, check: Check) -> str | None:
        try:
            return await asyncio.wait_for(check(), self._db_timeout)
        except TimeoutError:
            return f"{name} check timed out"
        except Exception as exc:  # its database, most likely: reported above
            return f"{name} check failed: {type(exc).__name__}"

    async def _healthz(self, request: web.Request) -> web.Response:
        status, body = await self.health()
        return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})

    async def _metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        # Collecting is a walk over in-memory values: cheap enough for the event loop.
        return web.Response(
            body=encoder(self.metrics.registry), headers={"Content-Type": content_type}
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        if self._routes is not None:
            self._routes(app)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._started_at = self._clock()
        # Port 0 asks the OS for one: report the real one.
        self.port = int(runner.addresses[0][1])
        log.info("ops server on http://%s:%d (/healthz, /metrics)", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
