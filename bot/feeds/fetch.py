"""Fetching feed bodies politely: conditional GET, size cap while streaming, per-host limits."""

from __future__ import annotations

import asyncio
import email.utils
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bot.feeds.netguard import IPAddress, address_kind, parse_ip, resolve

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
    # Redirects into loopback, link-local and private ranges are refused unless they stay on
    # the feed's own configured host and port, or this allows them all.
    allow_private_redirects: bool = False


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
        follow_redirects=False,  # Fetcher follows them itself, checking each target
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
            "text/xml;q=0.8, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        },
        trust_env=False,
    )


Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
_Origin = tuple[str, int]


def _origin(url: httpx.URL) -> _Origin:
    return url.host.lower(), url.port or (443 if url.scheme == "https" else 80)


class Fetcher:
    """One shared client, bounded concurrency overall and per host.

    Redirects are followed here, not by httpx, so that each target is checked before it is
    asked (its name resolved, every address public) and again once connected (the address
    the connection really went to), which also catches a name that resolves differently the
    second time. The feed's own configured host and port are trusted wherever they are.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        limits: FetchLimits | None = None,
        *,
        resolver: Resolver = resolve,
    ) -> None:
        self.client = client
        self.limits = limits or FetchLimits()
        self._resolve = resolver
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
            request = self.client.build_request("GET", url, headers=headers)
            home = _origin(request.url)
            for hop in range(self.limits.max_redirects + 1):
                if hop:
                    await self._check_target(request.url, home)
                resp = await self.client.send(request, stream=True, follow_redirects=False)
                try:
                    if hop:
                        self._check_peer(resp, home)
                    if resp.next_request is None:
                        return await self._read(resp)
                    request = resp.next_request
                finally:
                    await resp.aclose()
            raise FetchError("redirects", f"more than {self.limits.max_redirects} redirects")
        except httpx.TimeoutException as exc:
            raise FetchError("timeout", type(exc).__name__) from None
        except httpx.ConnectError as exc:
            raise FetchError("connect", str(exc)[:200]) from None
        except httpx.DecodingError as exc:
            raise FetchError("decoding", str(exc)[:200]) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise FetchError("network", f"{type(exc).__name__}: {exc}"[:200]) from None

    def _allowed(self, url: httpx.URL, home: _Origin) -> bool:
        return self.limits.allow_private_redirects or _origin(url) == home

    async def _check_target(self, url: httpx.URL, home: _Origin) -> None:
        """Refuse a redirect to a non-HTTP URL or to a host with a non-public address."""
        if url.scheme not in ("http", "https"):
            raise FetchError("redirect refused", f"to a {url.scheme or 'schemeless'} URL")
        if self._allowed(url, home):
            return
        host, port = _origin(url)
        try:
            addresses = await self._resolve(host, port)
        except OSError:
            return  # the connection attempt fails and says why
        for ip in addresses:
            _refuse_if_private(url, ip)

    def _check_peer(self, resp: httpx.Response, home: _Origin) -> None:
        """Refuse what came from a non-public address, before reading a byte of its body."""
        if self._allowed(resp.url, home):
            return
        stream = resp.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        ip = parse_ip(str(peer[0])) if isinstance(peer, tuple) and peer else None
        if ip is not None:
            _refuse_if_private(resp.url, ip)

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


def _refuse_if_private(url: httpx.URL, ip: IPAddress) -> None:
    kind = address_kind(ip)
    if kind is not None:
        where = f"{url.host}:{_origin(url)[1]}"
        raise FetchError(
            "redirect refused",
            f"{where} is a {kind} address ({ip}); "
            "THESISWATCH_ALLOW_PRIVATE_REDIRECTS=true allows it",
        )


def _read_capped(path: Path, max_bytes: int) -> bytes:
    with path.open("rb") as fh:
        body = fh.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise FetchError("too large", f"over {max_bytes} bytes")
    return body
