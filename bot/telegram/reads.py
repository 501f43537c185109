"""What several handlers read: the board as /status shows it, an alert's why, the chart."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlmodel import Session

from bot.pipeline.board_codec import board_from_json
from bot.telegram.deps import BotDeps
from bot.views.board import BoardView, read_board
from bot.views.why import MatchLine, read_why
from rules import Thesis
from rules.board import new_board
from storage.history import AlertMark, Move, alerts_between, chart_moves, first_seen_at
from storage.outbox import StoredAlert, alert_by_id
from storage.signals import load_board

__all__ = ["board_view", "chart_png", "warm_up_chart", "why_of"]

log = logging.getLogger(__name__)


def board_view(session: Session, thesis: Thesis, now: datetime) -> BoardView:
    """The stored board (or a fresh one) with its times, as /status and the digest show it."""
    stored = load_board(session, thesis.name)
    board = board_from_json(stored[0], thesis, now) if stored else new_board(thesis, now)
    return read_board(session, thesis, board, now)


def why_of(session: Session, alert_id: int) -> tuple[StoredAlert, list[MatchLine]] | None:
    """An alert and what its rules matched, or None if there is no such alert."""
    alert = alert_by_id(session, alert_id)
    return None if alert is None else (alert, read_why(session, alert))


async def chart_png(
    deps: BotDeps, start: datetime, end: datetime, title: str, thesis: Thesis | None = None
) -> bytes:
    """The legs' states from ``start`` to ``end`` with each alert labelled, as PNG bytes.

    Read on the database thread, drawn on a thread of its own: a draw takes a tenth of a
    second or more, and neither the chats nor the poller's writes should wait for it.
    """
    from bot.views.chart import Marker, draw_states  # matplotlib: only a process that draws

    shown = thesis or deps.rulebook.engine.ruleset.thesis

    def read(session: Session) -> tuple[list[Move], list[AlertMark], datetime | None]:
        # One thesis's legs only: another thesis may have a leg of the same name.
        moves = chart_moves(session, start, end, shown.name)
        return moves, alerts_between(session, start, end, shown.name), first_seen_at(session)

    moves, alerts, data_from = await deps.read(read)
    marks = [Marker(a.at, a.leg, f"#{a.id} {a.new_state or 'early'}") for a in alerts]
    return await asyncio.to_thread(
        draw_states,
        [lg.id for lg in shown.legs],
        [(m.at, m.leg, m.new) for m in moves],
        marks,
        start=start,
        end=end,
        title=title,
        data_from=data_from,
    )


def warm_up_chart() -> None:
    """Load matplotlib and draw once on a worker thread, so the first /chart is quick.

    Fire and forget, not a scheduler job: a stop would cancel the job (and log its traceback)
    while the thread goes on importing regardless; the loop's shutdown waits for the thread.
    """
    from bot.views.chart import warm_up

    def failed(done: asyncio.Future[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            log.warning("chart warm-up failed: %r", done.exception())

    asyncio.get_running_loop().run_in_executor(None, warm_up).add_done_callback(failed)
