"""Prometheus metrics of one process: what was polled, found, alerted and delivered.

Every metric lives on the :class:`Metrics` instance's own ``CollectorRegistry`` (never the
global one), so tests and several pipelines in one process do not share counters. Recording is
pure arithmetic on in-memory values: safe from the event loop and from the database thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from bot.feeds.poller import PollOutcome
from bot.feeds.poller import Status as PollStatus
from bot.pipeline.evaluate import EvalSummary

__all__ = [
    "DELIVERY_OUTCOMES",
    "FAILURE_REASONS",
    "POLL_STATUSES",
    "DeliveryOutcome",
    "FailureReason",
    "Metrics",
    "failure_reason",
]

FailureReason = Literal[
    "timeout",
    "connect",
    "http_4xx",
    "http_5xx",
    "http_429",
    "too_large",
    "not_a_feed",
    "redirects",
    "database",
    "other",
]
DeliveryOutcome = Literal["sent", "retry", "failed", "collapsed"]

POLL_STATUSES: Final[tuple[PollStatus, ...]] = get_args(PollStatus)
FAILURE_REASONS: Final[tuple[FailureReason, ...]] = get_args(FailureReason)
DELIVERY_OUTCOMES: Final[tuple[DeliveryOutcome, ...]] = get_args(DeliveryOutcome)

# What counts as a successful poll for health; any other status but "error" (a feed another
# worker holds) was no poll at all.
_SUCCESS: Final = frozenset({"new", "not_modified", "unchanged"})

# A poll is a fetch (up to 60 s) plus parse and store; a delivery waits on the outbox tick
# (2 s), Telegram's pacing and its retries.
_POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
_DELIVERY_BUCKETS = (0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 900, 3600)

# PollOutcome.error starts with the fetcher's or parser's label ("http 503: Service
# Unavailable", "too large: over ...", "not a feed: ..."); everything else is "other".
_PREFIXES: Final[tuple[tuple[str, FailureReason], ...]] = (
    ("timeout", "timeout"),
    ("connect", "connect"),
    ("too large", "too_large"),
    ("not a feed", "not_a_feed"),
    ("redirects", "redirects"),
    ("database", "database"),
)


def failure_reason(error: str | None) -> FailureReason:
    """The bounded label for a poll error: free text would explode the series count."""
    text = (error or "").strip().lower()
    if text.startswith("http "):
        code = text[5:8]
        if code == "429":
            return "http_429"
        if code[:1] == "4" and code.isdigit():
            return "http_4xx"
        if code[:1] == "5" and code.isdigit():
            return "http_5xx"
        return "other"
    for prefix, reason in _PREFIXES:
        if text.startswith(prefix):
            return reason
    return "other"


@dataclass(frozen=True, slots=True)
class _Series:
    polls: Counter
    failures: Counter
    items: Counter
    stories: Counter
    evaluated: Counter
    signals: Counter
    transitions: Counter
    alerts: Counter
    deliveries: Counter
    poll_seconds: Histogram
    delivery_seconds: Histogram
    rules: Info
    last_poll_ok: Gauge
    db_write_failures: Counter
    db_writes_failing: Gauge


class Metrics:
    """The process's counters; one instance per running pipeline (and per test)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self._s = _Series(
            polls=Counter(
                "thesiswatch_feed_polls", "Feed polls by outcome", ["status"], registry=r
            ),
            failures=Counter(
                "thesiswatch_feed_failures", "Failed feed polls by reason", ["reason"], registry=r
            ),
            items=Counter("thesiswatch_items_stored", "New items stored", registry=r),
            stories=Counter("thesiswatch_stories", "New stories (grouped items)", registry=r),
            evaluated=Counter(
                "thesiswatch_items_evaluated", "Items run through the rules", registry=r
            ),
            signals=Counter("thesiswatch_signals", "Rule signals raised", registry=r),
            transitions=Counter(
                "thesiswatch_transitions", "Thesis leg state transitions", registry=r
            ),
            alerts=Counter("thesiswatch_alerts", "Alerts written to the outbox", registry=r),
            deliveries=Counter(
                "thesiswatch_deliveries", "Delivery attempts by outcome", ["outcome"], registry=r
            ),
            poll_seconds=Histogram(
                "thesiswatch_poll_duration_seconds",
                "One feed poll: fetch, parse and store",
                buckets=_POLL_BUCKETS,
                registry=r,
            ),
            delivery_seconds=Histogram(
                "thesiswatch_delivery_latency_seconds",
                "From an alert's creation to its acceptance by the channel",
                buckets=_DELIVERY_BUCKETS,
                registry=r,
            ),
            rules=Info("thesiswatch_rules", "The rule set in force", registry=r),
            last_poll_ok=Gauge(
                "thesiswatch_last_successful_poll_timestamp_seconds",
                "Unix time of the last poll that did not fail",
                registry=r,
            ),
            db_write_failures=Counter(
                "thesiswatch_db_write_failures",
                "Database writes refused (full disk, database down, ...)",
                registry=r,
            ),
            db_writes_failing=Gauge(
                "thesiswatch_db_writes_failing",
                "1 while the last database write failed, 0 once one succeeds again",
                registry=r,
            ),
        )
        # Every label value exported from the start at 0: rate() and absent() need the series.
        _touch(self._s.polls, POLL_STATUSES)
        _touch(self._s.failures, FAILURE_REASONS)
        _touch(self._s.deliveries, DELIVERY_OUTCOMES)
        self._last_poll_ok: datetime | None = None
        self._rules_version: str | None = None
        self._writes_failing_since: datetime | None = None
        self._write_error: str | None = None

    @property
    def last_poll_ok(self) -> datetime | None:
        """When a poll last succeeded (200, 304 or an unchanged body) in this process."""
        return self._last_poll_ok

    @property
    def rules_version(self) -> str | None:
        return self._rules_version

    @property
    def writes_failing_since(self) -> datetime | None:
        """Since when database writes have failed, with none succeeding since; else None."""
        return self._writes_failing_since

    @property
    def write_error(self) -> str | None:
        """The label of the last refused write while writes are failing."""
        return self._write_error if self._writes_failing_since else None

    def record_write(
        self, ok: bool, error: str | None = None, *, now: datetime | None = None
    ) -> None:
        """A database write went through (``ok``) or was refused with ``error``."""
        if ok:
            self._writes_failing_since = None
            self._s.db_writes_failing.set(0)
            return
        self._s.db_write_failures.inc()
        self._s.db_writes_failing.set(1)
        self._write_error = error or "unknown"
        if self._writes_failing_since is None:
            self._writes_failing_since = now or datetime.now(UTC)

    def record_poll(
        self, outcome: PollOutcome, seconds: float | None = None, *, now: datetime | None = None
    ) -> None:
        """One :class:`PollOutcome`; ``seconds`` is how long the poll took, when measured."""
        s = self._s
        s.polls.labels(outcome.status).inc()
        if outcome.db_error is not None:
            self.record_write(False, outcome.db_error, now=now)
        elif outcome.status in _SUCCESS:
            self.record_write(True)  # its state was written: record_success committed
        if outcome.status == "error":
            s.failures.labels(failure_reason(outcome.error)).inc()
        elif outcome.status not in _SUCCESS:
            return  # not polled at all (another worker holds the feed): no latency, no health
        if seconds is not None:
            s.poll_seconds.observe(max(seconds, 0.0))
        if outcome.status == "error":
            return
        when = now or datetime.now(UTC)
        self._last_poll_ok = when
        s.last_poll_ok.set(when.timestamp())
        if outcome.new_items:
            s.items.inc(outcome.new_items)
        if outcome.new_stories:
            s.stories.inc(outcome.new_stories)

    def record_evaluation(self, summary: EvalSummary) -> None:
        s = self._s
        for counter, n in (
            (s.evaluated, summary.items),
            (s.signals, summary.signals),
            (s.transitions, summary.transitions),
            (s.alerts, summary.alerts),
        ):
            if n:
                counter.inc(n)

    def record_delivery(
        self,
        outcome: DeliveryOutcome,
        *,
        created_at: datetime | None = None,
        now: datetime | None = None,
    ) -> None:
        """One delivery attempt; a ``sent`` one with its alert's ``created_at`` feeds latency."""
        self._s.deliveries.labels(outcome).inc()
        if outcome == "sent" and created_at is not None:
            end = now or datetime.now(UTC)
            if created_at.tzinfo is None:  # SQLite hands back naive UTC
                created_at = created_at.replace(tzinfo=UTC)
            self._s.delivery_seconds.observe(max((end - created_at).total_seconds(), 0.0))

    def set_rules_version(self, version: str) -> None:
        """The rule set now in force; the Info series carries it as a label."""
        if version != self._rules_version:
            self._rules_version = version
            self._s.rules.info({"version": version})


def _touch(counter: Counter, values: Iterable[str]) -> None:
    for value in values:
        counter.labels(value)
