"""This process as it signs its leases, and freeing the leases of dead ones on this host."""

from __future__ import annotations

import os
import socket
import uuid

from sqlmodel import Session

from storage.leases import lease_owners, release_owner

__all__ = ["release_dead_leases", "worker_id"]


def worker_id() -> str:
    """This process, as it signs its leases: host, pid and a per-start nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_dead_leases(session: Session, me: str) -> list[str]:
    """Free the leases of dead workers on this host, so a restart resumes at once.

    Same host and a pid that is gone, or our own pid under another nonce (a previous start of
    this very process, as in a container restarted with pid 1). Workers on other hosts are
    left to their lease expiry.
    """
    host, pid, _ = me.rsplit(":", 2)
    freed = []
    for owner in lease_owners(session):
        parts = owner.rsplit(":", 2)
        if len(parts) != 3 or parts[0] != host or owner == me or not parts[1].isdigit():
            continue
        if parts[1] == pid or not _alive(int(parts[1])):
            release_owner(session, owner)
            freed.append(owner)
    return freed
