"""The retention job: prune what is past its age, keeping what the board still stands on."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from rules import Thesis
from storage.retention import Pruned, prune
from storage.signals import load_board

__all__ = ["prune_old"]

log = logging.getLogger(__name__)


def prune_old(db: Engine, theses: Thesis | Sequence[Thesis], now: datetime, days: int) -> Pruned:
    """One transaction; every board's evidence items survive whatever their age."""
    if isinstance(theses, Thesis):
        theses = [theses]
    with Session(db) as session, session.begin():
        keep: set[int] = set()
        for thesis in theses:  # each load locks its board row: no evaluation races
            stored = load_board(session, thesis.name)
            keep |= {
                int(e["item"])
                for leg in (stored[0].get("legs", []) if stored else [])
                for e in leg.get("evidence", [])
            }
        pruned = prune(session, before=now - timedelta(days=days), keep_items=keep)
    if pruned.items or pruned.deliveries:
        log.info(
            "retention: pruned %d items, %d deliveries (%d never delivered), %d stories"
            " older than %d days",
            pruned.items,
            pruned.deliveries,
            pruned.pending,
            pruned.stories,
            days,
        )
    return pruned
