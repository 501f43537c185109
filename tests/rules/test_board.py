"""The thesis board over time, with a controlled clock: confirmation, decay, cooldown, evidence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from rules import ConfirmationPolicy, Effect, Item, Severity, Signal, Thesis, Tier
from rules.board import (
    Board,
    Outcome,
    Received,
    advance,
    new_board,
    receive,
    rule_cooldowns,
)
from rules.model import Leg
from tests.rules.conftest import MakeEngine

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
THESIS = Thesis("t", (Leg("h20-ban", "claim", ()), Leg("no-trade-deal", "claim", ())))
POLICY = ConfirmationPolicy(
    official=1,
    publishers=2,
    window=timedelta(hours=72),
    half_life=timedelta(hours=24),
    challenge_at=1.0,
    restore_ratio=1.0,
    hedged_weight=0.5,
    leg_cooldown=timedelta(hours=6),
)


def signal(
    key: str,
    source: str = "Paper",
    *,
    tier: Tier = "press",
    effect: Effect = "breaks",
    hedged: bool = False,
    severity: Severity = "high",
    rule: str = "r-break",
    leg: str = "h20-ban",
    published: datetime = T0,
) -> Signal:
    return Signal(
        key, rule, "v1", leg, effect, "easing", severity, (), (), hedged, source, tier, published
    )


def step(board: Board, at: datetime, *signals: Signal) -> Outcome:
    """News published at ``at`` and read at once."""
    return advance(board, [replace(s, published=at) for s in signals], POLICY, at)


@pytest.fixture
def board() -> Board:
    return new_board(THESIS, T0)


def test_new_board_is_intact(board: Board) -> None:
    assert [(s.leg, s.state, s.since) for s in board.legs] == [
        ("h20-ban", "intact", T0),
        ("no-trade-deal", "intact", T0),
    ]


def test_one_press_report_challenges_with_its_evidence(board: Board) -> None:
    out = step(board, T0 + H, signal("story-1", "Daily Paper"))
    [move] = out.transitions
    assert (move.leg, move.old, move.new, move.at, move.alert) == (
        "h20-ban",
        "intact",
        "challenged",
        T0 + H,
        True,
    )
    assert [(e.item_key, e.source, e.rule_id) for e in move.evidence] == [
        ("story-1", "Daily Paper", "r-break")
    ]
    assert out.board.status("h20-ban").state == "challenged"
    assert out.board.status("no-trade-deal").state == "intact"


def test_second_publisher_within_the_window_breaks(board: Board) -> None:
    first = step(board, T0, signal("a", "Paper A"))
    second = step(first.board, T0 + 10 * H, signal("b", "Paper B"))
    [move] = second.transitions
    assert (move.old, move.new) == ("challenged", "broken")
    assert {e.source for e in move.evidence} == {"Paper A", "Paper B"}


def test_publisher_outside_the_window_does_not_confirm(board: Board) -> None:
    first = step(board, T0, signal("a", "Paper A"))
    later = step(first.board, T0 + 73 * H, signal("b", "Paper B"))
    assert later.board.status("h20-ban").state == "challenged"
    assert [e.item_key for e in later.board.status("h20-ban").evidence] == ["b"]


def test_one_official_source_breaks_at_once(board: Board) -> None:
    out = step(board, T0, signal("gov", "Ministry", tier="official"))
    assert [(t.old, t.new) for t in out.transitions] == [("intact", "broken")]


def test_the_same_story_twice_counts_once(board: Board) -> None:
    first = step(board, T0, signal("a", "Paper A"))
    again = step(first.board, T0 + H, signal("a", "Paper A"), signal("a", "Paper A"))
    assert again.transitions == ()
    assert len(again.board.status("h20-ban").evidence) == 1


def test_a_rumour_alone_neither_challenges_nor_breaks(board: Board) -> None:
    out = step(board, T0, signal("r", "Blog", hedged=True))
    assert out.transitions == ()
    rumours = step(
        board, T0, signal("r1", "A", hedged=True, tier="wire"), signal("r2", "B", hedged=True)
    )
    assert [t.new for t in rumours.transitions] == ["challenged"]  # weight 1.0 + 0.5, unconfirmed


def test_confirmed_reversal(board: Board) -> None:
    out = step(
        board,
        T0,
        signal("a", "Wire A", effect="reverses"),
        signal("b", "Wire B", effect="reverses"),
    )
    assert [t.new for t in out.transitions] == ["reversed"]


def test_a_challenge_goes_stale_when_its_weight_has_halved(board: Board) -> None:
    first = step(board, T0, signal("a", "Paper A"))  # weight 1.0: challenged
    day = step(first.board, T0 + 23 * H)
    assert day.transitions == ()  # 0.5^(23/24) = 0.51, above half the threshold
    later = step(day.board, T0 + 25 * H)
    [move] = later.transitions
    assert (move.old, move.new, move.reason) == ("challenged", "intact", "the challenge went stale")
    assert [e.item_key for e in move.evidence] == ["a"]


def test_heavier_evidence_takes_longer_to_go_stale(board: Board) -> None:
    first = step(board, T0, signal("a", "Wire A", tier="wire"))  # weight 2.0
    assert step(first.board, T0 + 47 * H).transitions == ()
    assert [t.new for t in step(first.board, T0 + 49 * H).transitions] == ["intact"]


def test_confirming_evidence_restores_a_broken_leg(board: Board) -> None:
    broken = step(board, T0, signal("gov", "Ministry", tier="official"))
    assert broken.board.status("h20-ban").state == "broken"
    weak = step(broken.board, T0 + H, signal("c1", "Paper C", effect="confirms", rule="r-ok"))
    assert weak.transitions == ()  # 1.0 does not outweigh ~2.9
    strong = step(
        weak.board,
        T0 + 2 * H,
        signal("c2", "Ministry", tier="official", effect="confirms", rule="r-ok"),
    )
    [move] = strong.transitions
    assert (move.old, move.new) == ("broken", "intact")
    assert {e.item_key for e in move.evidence} == {"c1", "c2"}


def test_leg_cooldown_holds_back_flapping_alerts_but_not_breaks(board: Board) -> None:
    first = step(board, T0, signal("a", "Paper A"))
    calm = step(first.board, T0 + H, signal("c", "Paper C", effect="confirms", rule="ok"))
    again = step(calm.board, T0 + 2 * H, signal("b", "Paper A"))
    assert [(t.new, t.alert) for t in first.transitions + calm.transitions + again.transitions] == [
        ("challenged", True),
        ("intact", False),
        ("challenged", False),
    ]
    broken = step(again.board, T0 + 3 * H, signal("d", "Paper D"))
    assert [(t.new, t.alert) for t in broken.transitions] == [("broken", True)]


def test_critical_signal_warns_before_confirmation(board: Board) -> None:
    crit = signal("a", "Paper A", severity="critical")
    out = step(board, T0, crit)
    assert out.early_warnings == (crit,)
    assert step(out.board, T0 + H, crit).early_warnings == ()  # not twice for one story
    hedged = signal("h", "Paper", severity="critical", hedged=True)
    assert step(board, T0, hedged).early_warnings == ()
    official = signal("o", "Ministry", tier="official", severity="critical")
    assert step(board, T0, official).early_warnings == ()  # the break itself alerts


def test_advance_is_pure(board: Board) -> None:
    signals = (signal("a", "Paper A"), signal("b", "Paper B", leg="no-trade-deal"))
    assert step(board, T0, *signals) == step(board, T0, *signals)
    assert board == new_board(THESIS, T0)


def test_rule_cooldown_holds_back_repeated_early_warnings(board: Board) -> None:
    cooldowns = {"r-break": timedelta(hours=2)}
    first = advance(board, [signal("a", severity="critical")], POLICY, T0, cooldowns)
    soon = advance(
        first.board,
        [signal("b", "B", severity="critical", leg="no-trade-deal", published=T0 + H)],
        POLICY,
        T0 + H,
        cooldowns,
    )
    later = advance(
        first.board,
        [signal("c", "C", severity="critical", leg="no-trade-deal", published=T0 + 3 * H)],
        POLICY,
        T0 + 3 * H,
        cooldowns,
    )
    assert [len(o.early_warnings) for o in (first, soon, later)] == [1, 0, 1]


PACKAGE_RULES = """\
rules:
  - id: deal
    leg: rare-earth-leverage
    effect: breaks
    severity: critical
    cooldown: 2h
    match: {in: title, all: [rare earth, deal]}
    package:
      - leg: h20-ban
        when: {all: [H20]}
    examples:
      match:
        - {title: "Rare earth deal eases H20 curbs", legs: [rare-earth-leverage, h20-ban]}
      no_match: [Rare earth prices]
"""


def test_a_package_deal_signal_takes_its_rule_cooldown(make_engine: MakeEngine) -> None:
    engine = make_engine(PACKAGE_RULES)
    cooldowns = rule_cooldowns(engine.ruleset)
    assert cooldowns == {"deal": 2 * H, "deal.h20-ban": 2 * H}
    thesis = engine.ruleset.thesis
    board = new_board(thesis, T0)

    def story(key: str, at: datetime) -> list[Signal]:
        news = Item(key, "Rare earth deal eases H20 curbs", "", "Wire", "press", "u", at)
        return [s for s in engine.evaluate(news) if s.leg == "h20-ban"]

    (part,) = story("a", T0)
    assert (part.rule_id, part.severity) == ("deal.h20-ban", "critical")
    first = advance(board, story("a", T0), POLICY, T0, cooldowns)
    soon = advance(first.board, story("b", T0 + H), POLICY, T0 + H, cooldowns)
    later = advance(first.board, story("c", T0 + 3 * H), POLICY, T0 + 3 * H, cooldowns)
    assert [len(o.early_warnings) for o in (first, soon, later)] == [1, 0, 1]


# Evidence is timed by publication: what matters is when the news came out, not when it was read.

D = timedelta(days=1)
COOLDOWNS = {"r-break": timedelta(hours=2)}


def moves(received: Received) -> list[tuple[str, str, str, datetime, bool]]:
    return [(t.leg, t.old, t.new, t.at, t.alert) for t in received.transitions]


def test_evidence_weighs_from_its_publication_not_from_when_it_was_read(board: Board) -> None:
    on_time = advance(board, [signal("a", published=T0)], POLICY, T0)
    # The same report read 60 h after it came out has decayed to 0.5^(60/24) = 0.18 ...
    read_late = advance(board, [signal("a", published=T0)], POLICY, T0 + 60 * H)
    # ... and one read 73 h after it came out is outside the 72 h window altogether.
    too_old = advance(board, [signal("a", published=T0)], POLICY, T0 + 73 * H)

    assert [t.new for t in on_time.transitions] == ["challenged"]
    assert read_late.transitions == ()
    assert [e.at for e in read_late.board.status("h20-ban").evidence] == [T0]
    assert too_old.board.status("h20-ban").evidence == ()


def test_a_future_stamp_counts_as_now(board: Board) -> None:
    out = advance(board, [signal("a", published=T0 + D)], POLICY, T0)
    assert [e.at for e in out.board.status("h20-ban").evidence] == [T0]


def warnings(received: Received) -> list[str]:
    return [w.item_key for o in received.steps for w in o.early_warnings]


def test_old_news_is_set_aside_and_never_moves_a_leg_or_warns(board: Board) -> None:
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    archive = [
        signal("deal", "Ministry", tier="official", published=datetime(2020, 1, 15, tzinfo=UTC)),
        signal("crit", "Wire", severity="critical", published=now - 73 * H),
    ]
    recent = signal("new", "Paper", published=now - 71 * H)

    got = receive(board, [*archive, recent], POLICY, now, COOLDOWNS, max_age=72 * H)

    assert got.late == tuple(archive)
    assert warnings(got) == []
    # The recent report challenged the leg when it came out; 71 h later it has decayed to
    # 0.5^(71/24), below half the threshold: stale at once, so neither move is pushed.
    assert [(t.new, t.at, t.alert) for t in got.transitions] == [
        ("challenged", now - 71 * H, False),
        ("intact", now, False),
    ]
    assert got.board.status("h20-ban").last_alert is None
    assert [e.item_key for e in got.board.status("h20-ban").evidence] == ["new"]
    assert receive(board, archive, POLICY, now, COOLDOWNS).late == ()  # no max_age: none late


def test_a_poll_that_finds_several_stories_moves_the_board_as_if_each_was_read_on_time(
    board: Board,
) -> None:
    minute = timedelta(minutes=1)
    news = [
        signal("a", "Paper A", published=T0),
        signal("c", "Paper C", severity="critical", leg="no-trade-deal", published=T0 + minute),
        signal("b", "Paper B", published=T0 + 2 * minute),
        signal("d", "Paper D", severity="critical", leg="no-trade-deal", published=T0 + 3 * minute),
    ]
    on_time = board
    expected: list[tuple[str, str, str, bool]] = []
    warned: list[str] = []
    for s in news:  # each story read the moment it came out
        got = receive(on_time, [s], POLICY, s.published, COOLDOWNS, max_age=72 * H)
        expected += [(t.leg, t.old, t.new, t.alert) for t in got.transitions]
        warned += warnings(got)
        on_time = got.board

    # All four found by one poll five minutes later, in the feed's order (newest first).
    at_once = receive(board, news[::-1], POLICY, T0 + 5 * minute, COOLDOWNS, max_age=72 * H)

    assert [(t.leg, t.old, t.new, t.alert) for t in at_once.transitions] == expected
    assert expected == [
        ("h20-ban", "intact", "challenged", True),
        ("no-trade-deal", "intact", "challenged", True),
        ("h20-ban", "challenged", "broken", True),
        ("no-trade-deal", "challenged", "broken", True),
    ]
    assert warnings(at_once) == warned == ["c"]
    assert [s.state for s in at_once.board.legs] == [s.state for s in on_time.legs]


def test_a_rule_cooldown_counts_between_publication_times(board: Board) -> None:
    first = receive(board, [signal("a", severity="critical", published=T0)], POLICY, T0, COOLDOWNS)
    # Published an hour after the first warning but read five hours later: still too close.
    close = signal("b", "B", severity="critical", leg="no-trade-deal", published=T0 + H)
    held = receive(first.board, [close], POLICY, T0 + 5 * H, COOLDOWNS)
    # Published an hour *before* it, read later: as close, so as quiet.
    older = signal("c", "C", severity="critical", leg="no-trade-deal", published=T0 - H)
    also_held = receive(first.board, [older], POLICY, T0 + 5 * H, COOLDOWNS)
    apart = signal("d", "D", severity="critical", leg="no-trade-deal", published=T0 + 3 * H)
    let_through = receive(first.board, [apart], POLICY, T0 + 3 * H, COOLDOWNS)

    assert [warnings(r) for r in (first, held, also_held, let_through)] == [["a"], [], [], ["d"]]


def test_a_leg_cooldown_counts_between_publication_times(board: Board) -> None:
    challenged = receive(board, [signal("a", "Paper A", published=T0)], POLICY, T0)
    # A denial published an hour later but read seven hours after the challenge: the leg
    # goes back to intact, and the alert is held back as flapping, as it was on time.
    denial = signal("c", "Paper C", effect="confirms", rule="ok", published=T0 + H)
    calm = receive(challenged.board, [denial], POLICY, T0 + 7 * H)

    assert [(t.new, t.alert) for t in challenged.transitions + calm.transitions] == [
        ("challenged", True),
        ("intact", False),
    ]
    assert calm.transitions[0].at == T0 + H  # dated by the news that moved it


def test_a_story_read_late_never_moves_a_legs_history_backwards(board: Board) -> None:
    challenged = receive(board, [signal("a", "Paper A", published=T0 + 3 * H)], POLICY, T0 + 3 * H)
    # A second publisher's report from before the challenge, read after it, confirms the
    # break as of the challenge: never before it.
    late = receive(challenged.board, [signal("b", "Paper B", published=T0 + H)], POLICY, T0 + 4 * H)

    assert [(t.old, t.new, t.at) for t in late.transitions] == [
        ("challenged", "broken", T0 + 3 * H)
    ]
    assert late.board.status("h20-ban").since == T0 + 3 * H
