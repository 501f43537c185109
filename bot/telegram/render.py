"""What the bot says in Telegram, as HTML. Pure: values in, escaped HTML out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.telegram.html import esc, link
from bot.telegram.notices import reload_html
from bot.views.board import BoardView
from bot.views.context import LEAD_CAP, Sentence, cap_text
from bot.views.digest import Digest, LegChange
from bot.views.push import LegMove, TickerMove, leg_label, push_view
from bot.views.reload import RELOAD_KIND
from bot.views.report import ago
from bot.views.text import ARROWS, alert_time, headline_time, leg_since, raised_time
from bot.views.times import display_zone, duration, stamp
from bot.views.vocab import VocabView
from bot.views.why import MatchLine
from rules import Signal
from storage.history import Move
from storage.outbox import StoredAlert
from storage.records import FeedHealth

__all__ = [
    "SEVERITY_MARK",
    "alert_html",
    "board_html",
    "cashtags",
    "collapsed_html",
    "digest_html",
    "feeds_html",
    "push_html",
    "recent_html",
    "signals_html",
    "vocab_html",
    "why_html",
]

SEVERITY_MARK = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "🔵", "info": "⚪"}
STATE_MARK = {"intact": "🟢", "challenged": "🟡", "broken": "🔴", "reversed": "🟣"}


def cashtags(tickers: Mapping[str, str]) -> str:
    """``$NVDA ▲ $AMD ▲``: tickers as cashtags with the direction of the move."""
    return " ".join(f"${esc(sym)} {ARROWS.get(move, '?')}" for sym, move in sorted(tickers.items()))


def _headline(h: Mapping[str, Any], alert_at: datetime | None = None) -> str:
    lines = [f"• {link(h.get('url'), h['title'])} — {esc(h['source'])} <i>({esc(h['tier'])})</i>"]
    lead = cap_text(str(h.get("lead") or ""), LEAD_CAP)  # cut before escaping: no split entity
    if lead:
        lines.append(f"  <i>{esc(lead)}</i>")
    when = headline_time(h, alert_at) if alert_at else None
    if when:
        lines.append(f"  {esc(when)}")
    return "\n".join(lines)


def _sentence_html(sentence: Sentence) -> str:
    return "".join(f"<b>{esc(p)}</b>" if hit else esc(p) for p, hit in sentence.pieces)


def alert_html(alert: StoredAlert) -> str:
    p: dict[str, Any] = alert.payload
    mark = SEVERITY_MARK.get(alert.severity, "")
    if alert.kind == "early":
        change = "early warning"
    else:
        change = f"{esc(alert.old_state)} → <b>{esc(alert.new_state)}</b>"
    if alert.new_state == "intact":
        status = esc(p["reason"])
    elif alert.confirmed:
        n = p["sources"]
        status = f"confirmed by {n} source{'s' if n != 1 else ''}"
    else:
        status = "<b>unconfirmed</b>"
    lines = [
        f"{mark} <b>{esc(alert.severity.upper())}</b> · <b>{esc(leg_label(alert))}</b>: {change}",
        f"<i>{esc(p['claim'])}</i>",
        "",
        *(_headline(h, alert.created_at) for h in p.get("headlines", [])),
    ]
    if p.get("more_headlines"):
        lines.append(f"… and {p['more_headlines']} more")
    lines += [
        "",
        cashtags(p.get("tickers", {})),
        f"🕒 {esc(alert_time(alert))}",
        f"{status} · alert #{alert.id}",
    ]
    return "\n".join(lines)


def _ticker_html(t: TickerMove) -> str:
    if not t.split:
        return f"${esc(t.symbol)} {ARROWS.get(t.moves[0][0], '?')}"
    sides = " / ".join(f"{ARROWS.get(move, '?')} {esc(', '.join(legs))}" for move, legs in t.moves)
    return f"${esc(t.symbol)} <b>split</b>: {sides}"


def _move_html(m: LegMove) -> str:
    change = "early warning" if m.kind == "early" else f"{esc(m.old)} → <b>{esc(m.new)}</b>"
    status = "<b>unconfirmed</b>" if m.status == "unconfirmed" else esc(m.status)
    return (
        f"{SEVERITY_MARK.get(m.severity, '')} <b>{esc(m.label)}</b>: {change} · "
        f"{esc(m.severity)} · {status} · #{m.alert_id}\n   <i>{esc(m.claim)}</i>"
    )


def push_html(alerts: Sequence[StoredAlert]) -> str:
    """One message for a story: one alert reads as :func:`alert_html`; several list each leg
    the story moves, its headlines once and each ticker once."""
    if alerts and alerts[0].kind == RELOAD_KIND:
        return reload_html(alerts[0].payload)
    if len(alerts) == 1:
        return alert_html(alerts[0])
    view = push_view(alerts)
    lines = [
        f"{SEVERITY_MARK.get(view.severity, '')} <b>{esc(view.severity.upper())}</b> · "
        f"one story moves <b>{esc(view.moves)}</b>",
        *(_move_html(m) for m in view.legs),
        "",
        *(_headline(h, view.created_at) for h in view.headlines),
    ]
    if view.more_headlines:
        lines.append(f"… and {view.more_headlines} more")
    lines += [
        "",
        " ".join(_ticker_html(t) for t in view.tickers),
        f"🕒 {esc(raised_time(view.created_at, view.headlines))}",
        f"alerts {', '.join(f'#{i}' for i in view.ids)}",
    ]
    return "\n".join(lines)


def board_html(view: BoardView, leg: str | None = None) -> str:
    """Each leg (or one, with five pieces of evidence) with absolute times."""
    asof = f"board as of {stamp(view.evaluated_at)}" if view.evaluated_at else "not evaluated yet"
    lines = [f"<b>{esc(view.thesis)}</b> <i>({esc(asof)})</i>"]
    for line in view.legs:
        if leg and line.leg != leg:
            continue
        lines += [
            "",
            f"{STATE_MARK[line.state]} <b>{esc(line.leg)}</b>: {esc(line.state)} "
            f"<i>{esc(leg_since(line, view.now))}</i>",
            f"<i>{esc(line.claim)}</i>",
            f"a break moves {cashtags(line.tickers)}",
        ]
        for e in line.evidence[: 5 if leg else 1]:
            hedged = " (hedged)" if e.hedged else ""
            lines.append(
                f"  {esc(e.effect)}{hedged}: {esc(e.title)} — {esc(e.source)}, "
                f"{esc(stamp(e.published))} <code>{esc(e.rule_id)}</code>"
            )
        if not line.evidence and line.last_signal is not None:
            lines.append(
                f"  <i>no live evidence; last matched news {esc(stamp(line.last_signal))}</i>"
            )
    return "\n".join(lines)


def recent_html(alerts: Sequence[StoredAlert], now: datetime) -> str:
    if not alerts:
        return "No alerts yet."
    lines = []
    for a in alerts:
        change = "early warning" if a.kind == "early" else f"{a.old_state} → {a.new_state}"
        head = a.payload.get("headlines", [{}])
        title = head[0].get("title", a.payload.get("reason", "")) if head else ""
        lines.append(
            f"#{a.id} {SEVERITY_MARK.get(a.severity, '')} <b>{esc(a.leg)}</b> {esc(change)} "
            f"<i>{esc(stamp(a.created_at))} ({esc(ago(a.created_at, now))})</i>\n  {esc(title)}"
        )
    return "\n".join(lines)


def why_html(alert: StoredAlert, matches: Sequence[MatchLine] = ()) -> str:
    """The evidence and rules behind one alert: each rule's words in their sentence."""
    p = alert.payload
    lines = [
        f"<b>Why alert #{alert.id}</b> ({esc(alert.leg)}): {esc(p.get('reason', ''))}",
        f"rules: {', '.join(f'<code>{esc(r)}</code>' for r in p.get('rules', [])) or '-'}",
        f"rule set <code>{esc(str(p.get('ruleset_version', ''))[:12])}</code>",
        "",
        *(_headline(h, alert.created_at) for h in p.get("headlines", [])),
    ]
    if matches:
        lines += ["", "<b>What the rules matched</b>"]
        for m in matches:
            said = " … ".join(_sentence_html(one) for one in m.sentences)
            lines.append(f"• <code>{esc(m.rule_id)}</code> in the {esc(m.field)}: {said}")
    elif p.get("spans"):  # the item is gone (retention): the words the payload kept
        lines.append("matched: " + ", ".join(f"«{esc(s)}»" for s in p["spans"]))
    lines += ["", cashtags(p.get("tickers", {}))]
    return "\n".join(lines)


def signals_html(text: str, signals: Sequence[Signal], doubted: Sequence[str] = ()) -> str:
    """What /test found in a headline; ``doubted``: the words for which the second stage
    hedged its breaks (none when it did not)."""
    if not signals:
        return f"No rule fires on «{esc(text)}»."
    lines = [f"«{esc(text)}»"]
    for s in signals:
        hedged = " <i>(hedged: unconfirmed)</i>" if s.hedged else ""
        lines.append(
            f"• <code>{esc(s.rule_id)}</code> → <b>{esc(s.leg)}</b> {esc(s.effect)} "
            f"[{esc(s.severity)}]{hedged} {cashtags(s.ticker_map())}"
        )
        lines.append("  matched: " + ", ".join(f"«{esc(p.text)}»" for p in s.spans))
    if doubted and any(s.hedged and s.effect in ("breaks", "reverses") for s in signals):
        words = ", ".join(f"«{esc(w)}»" for w in doubted)
        lines.append(f"<i>worded like a near-miss (denial, offer, rumour): {words}</i>")
    return "\n".join(lines)


def vocab_html(view: VocabView) -> str:
    """What /rules vocab NAME shows: the phrases it matches and the rules using it."""
    where = f" <i>({esc(Path(view.where).name)})</i>" if view.where else ""
    phrases = ", ".join(f"<code>{esc(p)}</code>" for p in view.phrases)
    used = ", ".join(f"<code>{esc(r)}</code>" for r in view.used_by) or "no rule"
    return (
        f"<b>${esc(view.name)}</b>{where}: {len(view.phrases)} phrases (whole words; case, "
        f"punctuation and hyphens ignored)\n{phrases}\nused by {used}"
    )


def feeds_html(rows: Sequence[FeedHealth], now: datetime) -> str:
    if not rows:
        return "No feeds."
    lines = []
    for h in rows:
        mark = "🟢" if h.consecutive_failures == 0 and h.last_success_at else "🔴"
        lines.append(
            f"{mark} <b>{esc(h.name)}</b> ({esc(h.tier)}) ok {esc(ago(h.last_success_at, now))}, "
            f"next {esc(ago(h.next_poll_at, now))}, {h.items} items"
        )
        if h.last_error:
            lines.append(
                f"   last error: {esc(h.last_error)} ({h.consecutive_failures} in a row, "
                f"{h.failures_total} total)"
            )
    return "\n".join(lines)


def collapsed_html(count: int, first: datetime, last: datetime, *, recent_max: int = 50) -> str:
    """The one message that stands for alerts too old to send one by one after an outage."""
    span = stamp(first)  # in the display zone, like every other time
    if last - first >= timedelta(minutes=1):
        zone = display_zone()
        other_day = last.astimezone(zone).date() != first.astimezone(zone).date()
        span += f" – {stamp(last, date=other_day)}"
    return (
        f"⚠️ <b>{count} alerts while delivery was down</b>\n"
        f"raised {esc(span)}, too old now to send one by one.\n"
        f"/recent {min(count, recent_max)} lists the latest alerts."
    )


def _move_line(m: Move) -> str:
    return f"   {esc(stamp(m.at))}: {esc(m.old)} → {esc(m.new)}"


def _digest_leg(leg: LegChange) -> list[str]:
    head = f"{STATE_MARK.get(leg.now, '')} <b>{esc(leg.leg)}</b>: "
    if leg.moves:
        count = f"{len(leg.moves)} move{'s' if len(leg.moves) != 1 else ''}"
        head += f"{esc(leg.then)} → <b>{esc(leg.now)}</b> ({count})"
    elif leg.no_evidence:
        head += f"{esc(leg.now)}, unchanged <i>(no evidence yet)</i>"
    else:
        since = f" since {stamp(leg.since)}" if leg.since else ""
        head += f"{esc(leg.now)}, unchanged<i>{esc(since)}</i>"
    lines = [head, *(_move_line(m) for m in leg.moves[-5:])]
    if len(leg.moves) > 5:
        lines.append(f"   <i>… and {len(leg.moves) - 5} earlier</i>")
    return lines


def _digest_evidence(d: Digest) -> list[str]:
    lines = ["<b>Strongest evidence</b>"]
    if not d.evidence:
        lines.append("<i>no rule matched any news in this period</i>")
    for f in d.evidence:
        hedged = " (hedged)" if f.hedged else ""
        lines.append(
            f"{SEVERITY_MARK.get(f.severity, '')} <b>{esc(f.leg)}</b> {esc(f.effect)}{hedged}: "
            f"{link(f.url, f.title)} — {esc(f.publisher)} <i>({esc(f.tier)})</i>, "
            f"{esc(stamp(f.published_at))}"
        )
    if d.signals > len(d.evidence):
        lines.append(f"<i>{d.signals} signals in all; /recent lists the alerts</i>")
    return lines


def _digest_feeds(d: Digest) -> list[str]:
    lines = ["<b>Feeds</b>"]
    if not d.feeds:
        lines.append(f"🟢 all {d.feeds_total} feeds delivering")
    for n in d.feeds:
        if n.failing:
            ok = f", last ok {stamp(n.last_ok)}" if n.last_ok else ", never ok"
            lines.append(
                f"🔴 <b>{esc(n.name)}</b> failing: {esc(n.error or '?')} "
                f"({n.failures} in a row{esc(ok)})"
            )
        elif n.last_item:
            quiet = f"no new item since {stamp(n.last_item)} ({duration(d.until - n.last_item)})"
            lines.append(f"🟡 <b>{esc(n.name)}</b> quiet: {esc(quiet)}")
        else:
            lines.append(f"🟡 <b>{esc(n.name)}</b> quiet: no item yet")
    return lines


def digest_html(d: Digest, schedule: str = "", *, feeds: bool = True) -> str:
    """What changed: each leg then and now with its moves, the strongest evidence read, the
    feeds that failed or went quiet (unless ``feeds`` is off: another thesis's part says it);
    ``schedule`` says when the next one comes."""
    period = f"{stamp(d.since)} → {stamp(d.until)} ({duration(d.until - d.since)})"
    lines = [
        f"📰 <b>What changed</b> · {esc(d.thesis)}",
        f"<i>{esc(period)}</i>",
        "",
        *(line for leg in d.legs for line in _digest_leg(leg)),
        "",
        *_digest_evidence(d),
    ]
    if feeds:
        lines += ["", *_digest_feeds(d)]
    if schedule:
        lines += ["", f"<i>{esc(schedule)}</i>"]
    return "\n".join(lines)
