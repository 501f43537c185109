"""Deliver the outbox until nothing is pending: the test harnesses' shared loop."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.telegram.delivery import TelegramNotifier
from storage.models import delivery_t
from tests.conftest import FakeClock

__all__ = ["deliver_all", "pending"]


def pending(db: Engine) -> list[int]:
    """The ids of the deliveries still pending."""
    with Session(db) as s:
        q = select(delivery_t.c.id).where(delivery_t.c.status == "pending")
        return list(s.execute(q).scalars())


async def deliver_all(
    notifier: TelegramNotifier,
    db: Engine,
    clock: FakeClock | None = None,
    *,
    rounds: int = 10,
    step: float = 2.0,
) -> None:
    """Deliver, moving ``clock`` (if given) past any backoff, until nothing is pending."""
    for _ in range(rounds):
        await notifier.deliver_due()
        if not pending(db):
            return
        if clock is not None:
            clock.advance(seconds=step)
    raise AssertionError(f"still pending: {pending(db)}")
