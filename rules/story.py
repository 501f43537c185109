"""Reading a story in order: which of an item's signals stand when its sentences disagree.

Only rules that read the story (``lead``, ``scope: sentence``, ``package``; README section 8)
take part; an item without them keeps every signal, as before. Three resolutions, per leg:

1. **The lead fills in for a silent headline.** A signal read in the lead pass stands only if
   the ordinary reading raised nothing as certain on its leg and side (break/reversal vs
   confirmation; a hedged signal does not stand for an unhedged one) and no rule of that leg
   and side matched and was vetoed (a headline that denies the news is not overruled by a
   lead that repeats the rumour).
2. **A later sentence that reverses an earlier one wins**: an unhedged signal of a story
   rule read in the lead drops the opposite-side signals on its leg read in the title alone.
   Only the title and the lead take part: later sentences carry background.
3. **A package deal reads its sentence as a whole**: an unhedged package signal drops the
   opposite-side signals of other, single-leg rules on its leg read within its sentences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rules.itemtext import in_clause, spare_reported
from rules.matchers import GuardMatcher, Matcher, Occ, Text
from rules.model import Signal

__all__ = [
    "LEAD_UNIT",
    "VETOED",
    "Fired",
    "Reader",
    "Reading",
    "attempt",
    "read_once",
    "resolve",
    "side",
    "unit_name",
]

LEAD_UNIT = 1  # sentence units: 0 is the title, 1 the summary's lead, then the rest


def unit_name(number: int) -> str:
    """How a report names a sentence unit."""
    return {0: "the title", LEAD_UNIT: "the lead"}.get(number, f"summary sentence {number}")


def side(effect: str) -> str:
    """``breaks`` for breaks and reversals, ``confirms`` for confirmations."""
    return "confirms" if effect == "confirms" else "breaks"


@dataclass(slots=True)
class Reading:
    """A signal before resolution, with what the resolution needs to know about it."""

    signal: Signal
    match: Sequence[Occ]  # the words its rule matched
    story: bool  # its rule reads the story (lead, sentence scope or package)
    lead: bool  # read in the lead pass
    package: int  # the rule number of the package firing it belongs to, or -1
    units: frozenset[int] = field(default=frozenset())


def _lead_kept(
    reading: Reading, ordinary: list[Reading], vetoed: set[tuple[str, str]]
) -> str | None:
    """Why a lead-pass reading is dropped, or None if it stands."""
    s = reading.signal
    key = (s.leg, side(s.effect))
    if key in vetoed:
        return f"the headline vetoed a {key[1]} reading of {s.leg}"
    for other in ordinary:
        same = (other.signal.leg, side(other.signal.effect)) == key
        # A rumour in the headline does not stand for a fact in the lead.
        if same and (s.hedged or not other.signal.hedged):
            return f"{other.signal.rule_id} already read it outside the lead"
    return None


def _package(s: Reading, t: Reading) -> str | None:
    if s.package >= 0 and t.package < 0 and t.units <= s.units:
        return f"package deal {s.signal.rule_id} reads its sentence as a whole"
    return None


def _later(s: Reading, t: Reading) -> str | None:
    if s.units == {LEAD_UNIT} and t.units == {0}:
        return f"{s.signal.rule_id} reverses it in the lead"
    return None


def resolve(
    readings: Sequence[Reading],
    vetoed: set[tuple[str, str]],
    unit_of: Callable[[int], int],
) -> tuple[tuple[Signal, ...], dict[str, str]]:
    """The signals that stand, in order, and why each dropped one (by signal id) was dropped.

    ``vetoed``: the (leg, side) pairs of rules that matched and were vetoed in the ordinary
    reading; ``unit_of``: the sentence unit of a word position.
    """
    dropped: dict[str, str] = {}
    ordinary = [r for r in readings if not r.lead]
    standing: list[Reading] = []
    for r in readings:
        why = _lead_kept(r, ordinary, vetoed) if r.lead else None
        if why is None:
            standing.append(r)
        else:
            dropped[r.signal.rule_id] = why
    if not any(r.story for r in standing):
        return tuple(r.signal for r in standing), dropped
    for r in standing:
        r.units = frozenset(unit_of(o[0]) for o in r.match)
    # Packages first: a package reading dropped there reverses nothing in the lead after.
    for overrules in (_package, _later):
        for s in standing:
            if not s.story or s.signal.hedged:
                continue
            for t in standing:
                if t.signal.leg != s.signal.leg or side(t.signal.effect) == side(s.signal.effect):
                    continue
                why = overrules(s, t)
                if why is not None:
                    dropped.setdefault(t.signal.rule_id, why)
        standing = [r for r in standing if r.signal.rule_id not in dropped]
    return tuple(r.signal for r in standing), dropped


@dataclass(frozen=True, slots=True)
class Reader:
    """One way of reading a rule, compiled: as written, or its lead pass (the lead read as the
    headline). ``parts``: each package part's ``when``, in the rule's order."""

    matcher: Matcher
    veto: tuple[GuardMatcher, ...]
    hedge: tuple[GuardMatcher, ...]
    parts: tuple[Matcher, ...] = ()


@dataclass(slots=True)  # not frozen: made once per firing, where a frozen init costs a call a field
class Fired:
    """A rule that fired: where (``view``: the text or one sentence of it), on which words,
    and the hedges that held."""

    view: Text
    match: list[Occ]
    hedges: list[Occ]
    hedged: bool


VETOED = "vetoed"  # what :func:`attempt` returns for a rule that matched and was vetoed


def read_once(
    reader: Reader, view: Text, always_hedged: bool, spare: frozenset[str] = frozenset()
) -> Fired | str | None:
    """Read a rule once on ``view``: :func:`attempt` for a rule not read by sentence.
    ``spare``: phrases that hedge no reading in the summary (the lead pass's reported modals)."""
    match = reader.matcher.eval(view)
    if match is None:
        return None
    for guard in reader.veto:
        if guard.holds(view, match) is not None:
            return VETOED
    hedges = [o for g in reader.hedge if (got := g.holds(view, match)) is not None for o in got]
    hedges = in_clause(view, match, spare_reported(view, hedges, spare))
    return Fired(view, match, hedges, bool(hedges) or always_hedged)


def attempt(
    reader: Reader, text: Text, *, sentence: bool, always_hedged: bool
) -> Fired | str | None:
    """Read a rule on ``text`` (each sentence on its own if ``sentence``): the first unhedged
    firing, else the first hedged one, else :data:`VETOED` if a match was vetoed, else None."""
    if not sentence:
        return read_once(reader, text, always_hedged)
    found: Fired | str | None = None
    for number in range(len(text.units)):
        got = read_once(reader, text.unit(number), always_hedged)
        if isinstance(got, Fired) and not got.hedged:
            return got
        if isinstance(got, Fired):
            found = found if isinstance(found, Fired) else got  # the first hedged firing
        elif got is VETOED and found is None:
            found = got
    return found
