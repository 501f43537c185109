"""The buttons under a push: Why? and Mute for each leg it moves, one Ack.

Telegram carries at most 64 bytes of callback data per button. Ids always fit; a leg's name
may not (legs are named in YAML), so a Mute whose ``mute:LEG:4h`` would be too long names the
alert instead (``mute:#ID:4h``) and the bot looks its leg up.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.views.push import push_view
from bot.views.reload import RELOAD_KIND
from storage.outbox import StoredAlert

__all__ = ["MAX_CALLBACK_BYTES", "MUTE_SPAN", "alert_buttons", "callback", "mute_data"]

MAX_CALLBACK_BYTES = 64  # Telegram's limit on what a button may carry
MUTE_SPAN = "4h"
_LABEL = 24  # characters of a leg's name on a button


def callback(data: str) -> str:
    """``data`` if Telegram takes it; a longer one is a bug here, not a runtime surprise."""
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {data[:80]!r}")
    return data


def mute_data(alert: StoredAlert, span: str = MUTE_SPAN) -> str:
    data = f"mute:{alert.leg}:{span}"
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        data = f"mute:#{alert.id}:{span}"
    return callback(data)


def _short(leg: str) -> str:
    return leg if len(leg) <= _LABEL else leg[: _LABEL - 1] + "…"


def alert_buttons(alerts: StoredAlert | Sequence[StoredAlert]) -> InlineKeyboardMarkup | None:
    """One alert: a row of Why?, Mute leg, Ack. Several (one story's push): a row per leg,
    the worst first, each with its own Why? and Mute, then Ack for the whole message."""
    group = [alerts] if isinstance(alerts, StoredAlert) else list(alerts)
    if group[0].kind == RELOAD_KIND:
        return None  # a notice to the admins: nothing to ask why of or mute
    if len(group) == 1:
        [a] = group
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("Why?", callback_data=callback(f"why:{a.id}")),
                    InlineKeyboardButton(f"Mute leg {MUTE_SPAN}", callback_data=mute_data(a)),
                    InlineKeyboardButton("Ack", callback_data=callback(f"ack:{a.id}")),
                ]
            ]
        )
    by_id = {a.id: a for a in group}
    view = push_view(group)
    rows = [
        [
            InlineKeyboardButton(
                f"Why {_short(m.label)}?", callback_data=callback(f"why:{m.alert_id}")
            ),
            InlineKeyboardButton(
                f"Mute {_short(m.label)} {MUTE_SPAN}", callback_data=mute_data(by_id[m.alert_id])
            ),
        ]
        for m in view.legs
    ]
    rows.append([InlineKeyboardButton("Ack", callback_data=callback(f"ack:{min(view.ids)}"))])
    return InlineKeyboardMarkup(rows)
