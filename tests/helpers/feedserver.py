"""A real HTTP server on 127.0.0.1 that serves feeds the way a test scripts them."""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0  # seconds before answering
    drip: float = 0.0  # seconds between 1-byte chunks of the body (slow loris)
    gzip: bool = False
    content_length: int | None = None  # a lie to tell, if set


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    at: float


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, body: bytes | str = b"", **kwargs: object) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = Route(body=data, **kwargs)  # type: ignore[arg-type]
        return self.url(path)

    def hits_for(self, path: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path == path]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.hits.append(
                Hit(req.path, {k.lower(): v for k, v in req.headers.items()}, time.monotonic())
            )
        route = self.routes.get(req.path)
        if route is None:
            req.send_response(404)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        if route.delay:
            time.sleep(route.delay)
        inm = req.headers.get("If-None-Match")
        ims = req.headers.get("If-Modified-Since")
        if (route.etag and inm == route.etag) or (
            route.last_modified and ims == route.last_modified and not route.etag
        ):
            req.send_response(304)
            if route.etag:
                req.send_header("ETag", route.etag)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        body = gzip.compress(route.body) if route.gzip else route.body
        req.send_response(route.status)
        for name, value in route.headers.items():
            req.send_header(name, value)
        if route.etag:
            req.send_header("ETag", route.etag)
        if route.last_modified:
            req.send_header("Last-Modified", route.last_modified)
        if route.gzip:
            req.send_header("Content-Encoding", "gzip")
        req.send_header("Content-Length", str(route.content_length or len(body)))
        req.end_headers()
        try:
            if route.drip:
                for i in range(len(body)):
                    req.wfile.write(body[i : i + 1])
                    req.wfile.flush()
                    time.sleep(route.drip)
            else:
                req.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def _pub_date(i: int, published: datetime | None) -> str:
    if published is None:
        return f"Tue, 12 Aug 2025 08:0{i % 10}:00 GMT"
    return format_datetime(published - timedelta(minutes=i), usegmt=True)


def rss(
    *items: tuple[str, str],
    title: str = "Test feed",
    extra: str = "",
    published: datetime | None = None,
) -> str:
    """An RSS 2.0 document; each item is (title, link), guid = link.

    Items are dated 12 Aug 2025 unless ``published`` dates the first (and each next one a
    minute earlier): news read by a process on the real clock must be fresh to alert.
    """
    entries = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>{_pub_date(i, published)}</pubDate>"
        f"<description>&lt;p&gt;{t} &amp;amp; more&lt;/p&gt;</description>{extra}</item>"
        for i, (t, link) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://example.com/</link>{entries}</channel></rss>"
    )
