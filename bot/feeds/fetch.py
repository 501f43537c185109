"""Fetching feed bodies politely: conditional GET, size cap while streaming, per-host limits."""

from __future__ import annotations

import asyncio
import email.utils
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

__all__ = [
    "USER_AGENT",
    "FetchError",
    "FetchLimits",
    "Fetched",
    "Fetcher",
    "is_local",
    "make_client",
    "parse_retry_after",
]

USER_AGENT = "thesiswatch/0.1 (+news alerting for a trading desk; polite RSS poller)"


@dataclass(frozen=True, slots=True)
class FetchLimits:
    max_bytes: int = 10 * 1024 * 1024
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0  # a slow-drip server cannot hold a slot forever
    max_redirects: int = 5
    concurrency: int = 20
    per_host: int = 2


@dataclass(frozen=True, slots=True)
class Fetched:
    """A response worth looking at; ``body`` is None when the server said 304."""

    status: int
    body: bytes | None
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None


class FetchError(Exception):
    """A failed fetch; ``reason`` is a short label for health, ``retry_after`` in seconds."""

    def __init__(self, reason: str, detail: str = "", retry_after: float | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(f"{reason}: {detail}" if detail else reason)


def is_local(url: str) -> bool:
    return urlsplit(url).scheme not in ("http", "https")


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def make_client(limits: FetchLimits) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=limits.connect_timeout,
            read=limits.read_timeout,
            write=limits.read_timeout,
            pool=None,  # waiting for a slot is bounded by our own semaphores
        ),
        limits=httpx.Limits(
            max_connections=limits.concurrency, max_keepalive_connections=limits.concurrency
        ),
        follow_redirects=True,
        max_redirects=limits.max_redirects,
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
            "text/xml;q=0.8, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        },
        trust_env=False,
    )


class Fetcher:
    """One shared client, bounded concurrency overall and per host."""

    def __init__(self, client: httpx.AsyncClient, limits: FetchLimits | None = None) -> None:
        self.client = client
        self.limits = limits or FetchLimits()
        self._overall = asyncio.Semaphore(self.limits.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.limits.per_host)
        )

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        if is_local(url):
            return await self._read_local(url)
        host = urlsplit(url).netloc.lower()
        async with self._overall, self._hosts[host]:
            try:
                return await asyncio.wait_for(
                    self._get(url, etag, last_modified), self.limits.total_timeout
                )
            except TimeoutError:
                detail = f"no complete answer in {self.limits.total_timeout:g}s"
                raise FetchError("timeout", detail) from None

    async def _get(self, url: str, etag: str | None, last_modified: str | None) -> Fetched:
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            async with self.client.stream("GET", url, headers=headers) as resp:
                return await self._read(resp)
        except httpx.TooManyRedirects as exc:
            raise FetchError("redirects", str(exc)) from None
        except httpx.TimeoutException as exc:
            raise FetchError("timeout", type(exc).__name__) from None
        except httpx.ConnectError as exc:
            raise FetchError("connect", str(exc)[:200]) from None
        except httpx.DecodingError as exc:
            raise FetchError("decoding", str(exc)[:200]) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise FetchError("network", f"{type(exc).__name__}: {exc}"[:200]) from None

    async def _read(self, resp: httpx.Response) -> Fetched:
        headers = {k.lower(): v for k, v in resp.headers.items()}
        if resp.status_code == 304:
            return Fetched(status=304, body=None, headers=headers, final_url=str(resp.url))
        if resp.status_code >= 400:
            retry = parse_retry_after(headers.get("retry-after"), datetime.now(UTC))
            raise FetchError(f"http {resp.status_code}", resp.reason_phrase, retry_after=retry)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limits.max_bytes:
            raise FetchError("too large", f"Content-Length {declared}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > self.limits.max_bytes:
                raise FetchError("too large", f"over {self.limits.max_bytes} bytes")
            chunks.append(chunk)
        return Fetched(
            status=resp.status_code,
            body=b"".join(chunks),
            headers=headers,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            final_url=str(resp.url),
        )

    async def _read_local(self, url: str) -> Fetched:
        path = Path(url.removeprefix("file://"))
        try:
            body = await asyncio.to_thread(_read_capped, path, self.limits.max_bytes)
        except OSError as exc:
            raise FetchError("file", f"{exc.strerror or exc}: {path}") from None
        return Fetched(status=200, body=body, final_url=None)


def _read_capped(path: Path, max_bytes: int) -> bytes:
    with path.open("rb") as fh:
        body = fh.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise FetchError("too large", f"over {max_bytes} bytes")
    return body
