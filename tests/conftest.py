"""Shared fixtures: real databases (SQLite file, local PostgreSQL), feeds over HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from storage.db import make_engine, migrate
from tests.helpers.feedserver import FeedServer

PG_URL = os.environ.get("THESISWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# CI sets this so a PostgreSQL that is down fails the run instead of skipping half the suite.
REQUIRE_PG = os.environ.get("THESISWATCH_REQUIRE_PG") == "1"
CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"

_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> None:
    if isinstance(address, tuple) and address and address[0] not in _LOOPBACK:
        raise OSError(f"test tried to reach {address[0]}: only 127.0.0.1 is allowed")
    _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that touches the internet by accident fails instead of hanging."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


def _pg_available() -> bool:
    probe = create_engine(PG_URL, poolclass=NullPool)
    try:
        with probe.connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False
    finally:
        probe.dispose()


_PG_UP: bool | None = None


def _require_pg() -> None:
    global _PG_UP
    if _PG_UP is None:
        _PG_UP = _pg_available()
    if not _PG_UP:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is not reachable at {PG_URL}")
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'thesiswatch.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL whose connections live in a fresh schema, dropped afterwards."""
    _require_pg()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each storage test runs on SQLite and on the local PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    eng = make_engine(sqlite_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    yield server
    server.stop()


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 8, 12, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.fail(f"shared corpora not found at {CORPORA}")
    return CORPORA


MakeFeed = Callable[..., bytes]


# PTB 22 warns on every RetryAfter unless told to use timedelta (the app sets it too, in bot/).
os.environ.setdefault("PTB_TIMEDELTA", "true")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """CLI tests call setup_logging, which sets the root logger; put it back for the next test."""
    import logging

    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    yield
    root.setLevel(level)
    root.handlers[:] = handlers
