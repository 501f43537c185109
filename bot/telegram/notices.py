"""The admins' notices in Telegram HTML: a rules reload accepted or rejected. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.telegram.html import esc
from bot.views.reload import change_lines

__all__ = ["reload_html"]


def reload_html(p: Mapping[str, Any]) -> str:
    version = f"<code>{esc(str(p.get('version', ''))[:12])}</code>"
    if p.get("ok"):
        lines = [f"📘 <b>Rules reloaded</b>: version {version}"]
        if p.get("previous"):
            lines[0] += f" (was <code>{esc(str(p['previous'])[:12])}</code>)"
        changes = change_lines(p)
        lines += [f"• {esc(what)}: {esc(names)}" for what, names in changes]
        if not changes:
            lines.append(
                "<i>no leg or rule added, removed or changed (vocabularies or settings)</i>"
            )
    else:
        lines = [
            f"⛔ <b>Rules reload rejected</b>: version {version} keeps running",
            f"<i>{esc(p.get('folder', ''))}</i>",
            *(f"• <code>{esc(problem)}</code>" for problem in p.get("problems", [])),
        ]
        if p.get("more_problems"):
            lines.append(f"… and {p['more_problems']} more")
    for leg in p.get("legs_without_rules", []):
        lines.append(f"⚠️ <b>leg {esc(leg)} has no rules</b>: no news can move it")
    return "\n".join(lines)
