"""Rules reloads told to the admins, through the outbox: delivered like alerts, never lost.

Every process reloads the same folder on its own; the announcement is written once, by the
first process that sees the outcome (the latest announcement already saying it is skipped).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from bot.pipeline.rulebook import ReloadReport
from bot.views.reload import RELOAD_KIND, RELOAD_LEG, reload_payload, rule_changes
from rules.book import Book
from rules.model import RuleSet
from storage.outbox import add_alert, last_of_kind

__all__ = ["announce_reload"]

log = logging.getLogger(__name__)


def _key(report: ReloadReport) -> str:
    """What identifies an outcome (fits the 20 characters of the alert's state column)."""
    if report.ok:
        return f"v:{report.version[:18]}"
    digest = hashlib.sha256("\n".join(report.problems).encode()).hexdigest()
    return f"x:{digest[:18]}"


def announce_reload(
    session: Session,
    report: ReloadReport | None,
    running: Book | RuleSet,
    *,
    folder: str,
    targets: Sequence[str],
    now: datetime,
) -> int | None:
    """Write the announcement of ``report`` (None, or a reload that changed nothing: none);
    the alert id, or None when there was nothing to say or someone said it already."""
    if report is None or not targets or (report.ok and not report.changed):
        return None
    key = _key(report)
    last = last_of_kind(session, RELOAD_KIND)
    if last is not None and last.new_state == key:
        return None
    if report.ok:
        changes = rule_changes(report.previous, running)
        payload = reload_payload(
            ok=True,
            version=report.version,
            folder=folder,
            changes=changes,
            previous=report.previous.version if report.previous else None,
        )
        severity = "high" if changes.legs_without_rules else "low"
    else:
        payload = reload_payload(
            ok=False, version=report.version, folder=folder, problems=report.problems
        )
        severity = "high"
    return add_alert(
        session,
        kind=RELOAD_KIND,
        leg=RELOAD_LEG,
        severity=severity,
        old_state=None,
        new_state=key,
        confirmed=report.ok,
        created_at=now,
        payload=payload,
        targets=targets,
    )
