"""A private, throwaway PostgreSQL cluster for trials that restart the server.

``initdb`` into a temporary folder, ``pg_ctl`` on a port of its own (127.0.0.1 only, socket in
that folder, trust auth, fsync off), removed at the end. It never touches another server: the
shared one on 5432 keeps running other people's tests. Run as root, the server runs as the
``postgres`` user (PostgreSQL refuses root); otherwise as the current user.

    with private_cluster() as pg:
        url = pg.url            # postgresql://postgres@127.0.0.1:<port>/postgres
        pg.restart()            # a real restart: every connection dropped
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

__all__ = ["PrivateCluster", "pg_bindir", "private_cluster"]


def pg_bindir() -> Path:
    """The newest PostgreSQL server binaries under /usr/lib/postgresql, or $PG_BINDIR."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not found:
        raise RuntimeError("no PostgreSQL server binaries (set PG_BINDIR to their folder)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateCluster:
    def __init__(self, folder: Path, port: int, bindir: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = port
        self.bindir = bindir
        self.log = folder / "server.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            pwd.getpwnam("postgres")  # KeyError: no postgres user to run the server as
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run(  # noqa: S603 (PostgreSQL's own tools)
            [*self._as, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            action,
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            *extra,
        )

    def init(self) -> None:
        if self._as:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        )

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def restart(self) -> float:
        """Stop (fast: connections dropped) and start again; seconds it took."""
        t0 = time.monotonic()
        self._ctl("restart", "-m", "fast")
        return time.monotonic() - t0


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    folder = Path(tempfile.mkdtemp(prefix="thesiswatch_pg_"))
    os.chmod(folder, 0o755)  # noqa: S103 (the server user must reach its data folder)
    cluster = PrivateCluster(folder, _free_port(), pg_bindir())
    try:
        cluster.init()
        cluster.start()
        try:
            yield cluster
        finally:
            with suppress(subprocess.CalledProcessError):
                cluster.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
