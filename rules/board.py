"""The thesis board: each leg's state, moved by signals, as pure functions of (board, signals, now).

A leg moves ``intact -> challenged -> broken | reversed`` and back to ``intact`` when confirming
evidence outweighs the challenge (or the challenge goes stale). The confirmation policy comes
from the rule files. Every transition carries the evidence that caused it. Storage persists the
board and the transitions; nothing here reads a clock or a database.

Evidence is timed by when its news was published, not when it was read: windows, decay and
cooldowns all count from publication, so a story read late counts as it would have on time.
News older than ``max_age`` when it is read is late: it is set aside and never moves a leg or
alerts (see :func:`receive`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import groupby
from typing import Literal, TypeAlias

from rules.model import ConfirmationPolicy, Effect, RuleSet, Severity, Signal, Thesis, Tier

__all__ = [
    "Board",
    "Evidence",
    "LegState",
    "LegStatus",
    "Outcome",
    "Received",
    "Transition",
    "advance",
    "is_late",
    "new_board",
    "receive",
    "rule_cooldowns",
]

LegState: TypeAlias = Literal["intact", "challenged", "broken", "reversed"]
_AGAINST: frozenset[Effect] = frozenset({"breaks", "reverses"})
_STALE = "the challenge went stale"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One signal as the board keeps it; ``at`` is when its news was published."""

    item_key: str
    rule_id: str
    source: str
    tier: Tier
    effect: Effect
    severity: Severity
    hedged: bool
    at: datetime

    @classmethod
    def of(cls, signal: Signal, now: datetime) -> Evidence:
        """The evidence a signal gives, read at ``now`` (a stamp in the future counts as now)."""
        return cls(
            signal.item_key,
            signal.rule_id,
            signal.source,
            signal.tier,
            signal.effect,
            signal.severity,
            signal.hedged,
            min(signal.published, now),
        )


@dataclass(frozen=True, slots=True)
class LegStatus:
    """One leg's state since when, with its live evidence and the time of its last alert."""

    leg: str
    state: LegState
    since: datetime
    evidence: tuple[Evidence, ...] = ()
    last_alert: datetime | None = None


@dataclass(frozen=True, slots=True)
class Board:
    legs: tuple[LegStatus, ...]
    # When each rule last raised an early warning, for the rules' own cooldowns.
    rule_alerts: tuple[tuple[str, datetime], ...] = ()

    def status(self, leg: str) -> LegStatus:
        """The status of one leg (KeyError if the thesis has no such leg)."""
        for status in self.legs:
            if status.leg == leg:
                return status
        raise KeyError(leg)


@dataclass(frozen=True, slots=True)
class Transition:
    """A leg changing state; ``alert`` is False when the leg's cooldown holds the alert back."""

    leg: str
    old: LegState
    new: LegState
    at: datetime
    reason: str
    evidence: tuple[Evidence, ...]
    alert: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """The new board, its transitions, and critical signals worth an unconfirmed alert."""

    board: Board
    transitions: tuple[Transition, ...]
    early_warnings: tuple[Signal, ...]


@dataclass(frozen=True, slots=True)
class Received:
    """What reading a batch of signals did, oldest news first.

    ``steps``: one outcome per publication time, then one for the decay to the time of reading.
    ``late``: the signals of news older than ``max_age``, kept out of the board.
    """

    steps: tuple[Outcome, ...]
    late: tuple[Signal, ...] = ()

    @property
    def board(self) -> Board:
        """The board after the last step."""
        return self.steps[-1].board

    @property
    def transitions(self) -> tuple[Transition, ...]:
        """Every step's transitions, in time order."""
        return tuple(t for o in self.steps for t in o.transitions)


def new_board(thesis: Thesis, now: datetime) -> Board:
    """Every leg intact since ``now``."""
    return Board(tuple(LegStatus(leg.id, "intact", now) for leg in thesis.legs))


def _weight(evidence: Evidence, policy: ConfirmationPolicy, now: datetime) -> float:
    age = max((now - evidence.at).total_seconds(), 0.0)
    decay = math.pow(0.5, age / policy.half_life.total_seconds())
    hedge = policy.hedged_weight if evidence.hedged else 1.0
    return policy.weight_of(evidence.tier) * hedge * decay


def _per_story(evidence: Iterable[Evidence], policy: ConfirmationPolicy, now: datetime) -> float:
    # Copies of one story (one item, several rules) count once: the heaviest of them.
    best: dict[str, float] = {}
    for e in evidence:
        best[e.item_key] = max(best.get(e.item_key, 0.0), _weight(e, policy, now))
    return sum(best.values())


def _confirmed(evidence: list[Evidence], policy: ConfirmationPolicy) -> bool:
    """Unhedged evidence meets the policy: enough official items, or enough publishers."""
    firm = [e for e in evidence if not e.hedged]
    officials = {e.item_key for e in firm if e.tier == "official"}
    publishers = {e.source for e in firm}
    return (policy.official > 0 and len(officials) >= policy.official) or (
        len(publishers) >= policy.publishers
    )


def _next_state(
    status: LegStatus, live: tuple[Evidence, ...], policy: ConfirmationPolicy, now: datetime
) -> tuple[LegState, str, tuple[Evidence, ...]]:
    against = [e for e in live if e.effect in _AGAINST]
    support = [e for e in live if e.effect == "confirms"]
    weight_against = _per_story(against, policy, now)
    weight_for = _per_story(support, policy, now)
    state = status.state
    if state != "intact" and support and weight_for > policy.restore_ratio * weight_against:
        return "intact", "confirming evidence outweighs the challenge", tuple(support)
    if against and _confirmed(against, policy):
        reversals = [e for e in against if e.effect == "reverses"]
        new: LegState = "reversed" if _confirmed(reversals, policy) else "broken"
        if new != state and not (state == "reversed" and new == "broken"):
            return new, "break confirmed by the policy", tuple(against)
        return state, "", ()
    if state == "intact" and weight_against >= policy.challenge_at:
        return "challenged", "unconfirmed evidence against the claim", tuple(against)
    # Half the threshold to leave, so one report does not flap the leg as it decays.
    if state == "challenged" and weight_against < policy.challenge_at / 2:
        return "intact", _STALE, tuple(against)
    return state, "", ()


def _advance_leg(
    status: LegStatus,
    incoming: list[Evidence],
    policy: ConfirmationPolicy,
    now: datetime,
) -> tuple[LegStatus, Transition | None]:
    known = {(e.item_key, e.rule_id) for e in status.evidence}
    merged = list(status.evidence)
    for e in incoming:
        if (e.item_key, e.rule_id) not in known:  # the same item seen again adds nothing
            known.add((e.item_key, e.rule_id))
            merged.append(e)
    live = tuple(e for e in merged if now - e.at <= policy.window)
    state, reason, cause = _next_state(status, live, policy, now)
    if state == status.state:
        return replace(status, evidence=live), None
    # News read late is applied at its publication time, but a leg's history never runs
    # backwards past its last move.
    at = max(now, status.since)
    cooling = status.last_alert is not None and at - status.last_alert < policy.leg_cooldown
    # A leg breaking is never held back; flapping between intact and challenged is.
    alert = state in ("broken", "reversed") or not cooling
    transition = Transition(status.leg, status.state, state, at, reason, cause, alert)
    new_status = LegStatus(status.leg, state, at, live, at if alert else status.last_alert)
    return new_status, transition


def rule_cooldowns(ruleset: RuleSet) -> dict[str, timedelta]:
    """``{signal rule id: cooldown}`` for the rules that set one; a package deal's signals on
    other legs (``RULE.LEG``) take their rule's cooldown."""
    return {
        i: r.cooldown
        for r in ruleset.rules
        if r.cooldown is not None
        for i in (r.id, *(p.id for p in r.package))
    }


def _early_warnings(
    board: Board,
    signals: tuple[Signal, ...],
    moved: set[str],
    cooldowns: Mapping[str, timedelta],
    now: datetime,
) -> tuple[tuple[Signal, ...], tuple[tuple[str, datetime], ...]]:
    seen = {(e.item_key, e.rule_id) for s in board.legs for e in s.evidence}
    last = dict(board.rule_alerts)
    early: list[Signal] = []
    for s in signals:
        if s.severity != "critical" or s.hedged or s.effect not in _AGAINST:
            continue
        if s.leg in moved or (s.item_key, s.rule_id) in seen:
            continue  # the break itself alerts, and one story warns once
        # Measured between publication times, either way round: a story read late is as
        # close to the last warning as it was when it came out.
        published = min(s.published, now)
        before = last.get(s.rule_id)
        if before is not None and abs(published - before) < cooldowns.get(s.rule_id, timedelta(0)):
            continue
        early.append(s)
        last[s.rule_id] = published if before is None else max(before, published)
    return tuple(early), tuple(sorted(last.items()))


def advance(
    board: Board,
    signals: Iterable[Signal],
    policy: ConfirmationPolicy,
    now: datetime,
    cooldowns: Mapping[str, timedelta] | None = None,
) -> Outcome:
    """One step of the board at ``now``: ``signals`` (none, to let evidence decay) applied.

    Each signal is evidence from its publication time (never later than ``now``); windows and
    decay are measured from there to ``now``. ``cooldowns`` (see :func:`rule_cooldowns`) holds
    back a rule's repeated early warnings. Pure: the same board, signals, policy and time give
    the same outcome. :func:`receive` is what readers of news call.
    """
    signals = tuple(signals)
    by_leg: dict[str, list[Evidence]] = {}
    for signal in signals:
        by_leg.setdefault(signal.leg, []).append(Evidence.of(signal, now))
    legs: list[LegStatus] = []
    transitions: list[Transition] = []
    for status in board.legs:
        new_status, transition = _advance_leg(status, by_leg.get(status.leg, []), policy, now)
        legs.append(new_status)
        if transition is not None:
            transitions.append(transition)
    moved = {t.leg for t in transitions if t.new in ("broken", "reversed")}
    early, rule_alerts = _early_warnings(board, signals, moved, cooldowns or {}, now)
    return Outcome(Board(tuple(legs), rule_alerts), tuple(transitions), early)


def is_late(published: datetime, now: datetime, max_age: timedelta | None) -> bool:
    """Whether news published then is too old, read at ``now``, to move a leg or alert."""
    return max_age is not None and now - published > max_age


def receive(
    board: Board,
    signals: Iterable[Signal],
    policy: ConfirmationPolicy,
    now: datetime,
    cooldowns: Mapping[str, timedelta] | None = None,
    *,
    max_age: timedelta | None = None,
) -> Received:
    """Signals read at ``now``, applied as if each story had been read when it came out.

    Signals of news older than ``max_age`` are late: set aside, so an archive or a newly added
    feed never moves a leg or alerts. The rest are applied oldest first, one step per
    publication time with the board's clock at that time (so a poll that found several stories
    moves the board as a replay at publication times does), then one step at ``now`` lets the
    evidence decay to the present. A challenge that this decay undoes at once is news too
    stale to push: both moves stay in the ledger, neither alerts.
    """
    fresh: list[Signal] = []
    late: list[Signal] = []
    for s in signals:
        (late if is_late(s.published, now, max_age) else fresh).append(s)
    fresh.sort(key=lambda s: s.published)
    start = board
    steps: list[Outcome] = []
    for at, group in groupby(fresh, key=lambda s: min(s.published, now)):
        steps.append(advance(board, group, policy, at, cooldowns))
        board = steps[-1].board
    if not steps or min(fresh[-1].published, now) < now:
        steps.append(advance(board, (), policy, now, cooldowns))
        if len(steps) > 1:
            steps = _quiet_stale_challenges(start, steps)
    return Received(tuple(steps), tuple(late))


def _quiet_stale_challenges(start: Board, steps: list[Outcome]) -> list[Outcome]:
    """No alert for a leg challenged by news read late whose challenge is stale already."""
    *news, decay = steps
    stale = {t.leg for t in decay.transitions if t.reason == _STALE}
    stale &= {t.leg for o in news for t in o.transitions if t.new == "challenged"}
    if not stale:
        return steps

    def quiet(o: Outcome) -> Outcome:
        moves = tuple(replace(t, alert=False) if t.leg in stale else t for t in o.transitions)
        return replace(o, transitions=moves)

    legs = tuple(
        replace(s, last_alert=start.status(s.leg).last_alert) if s.leg in stale else s
        for s in decay.board.legs
    )
    last = replace(quiet(decay), board=replace(decay.board, legs=legs))
    return [quiet(o) for o in news] + [last]
