"""The second stage: a small lexical model that doubts a break the rules fired.

Rules fire on the words of an event; a near-miss (a denial, an offer, a reaction, a rumour, an
approval told as background) carries the same words. Trained on the labelled corpora's breaks
against their near-misses, the model scores how much an item's wording reads like a real break;
a break it doubts (score under ``threshold``) is hedged, never dropped: it still counts, as half
evidence that cannot confirm a leg alone (like a rumour). Only unhedged breaks and reversals are
reviewed.

Pure and deterministic: training is full-batch Adam from zeros over sorted features, so the same
examples give the same weights. The weights ship with the rules (``doubt.json`` beside the
thesis's YAML, written by ``thesiswatch rules doubt``); the measured effect is in bench/README.md
("Doubt trial").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

from rules.diagnose import Trace
from rules.model import Item, Signal
from rules.scores import POSITIVE

__all__ = ["Doubt", "DoubtError", "doubt_from_mapping", "features", "train_doubt"]

_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class DoubtError(ValueError):
    """A model file that is not a doubt model."""


def features(title: str, summary: str) -> frozenset[str]:
    """Title words and word pairs, and the words of the summary's first sentence (the lead)."""
    words = _WORD.findall(title.lower())
    lead = _WORD.findall(_SENTENCE_END.split(summary.strip(), maxsplit=1)[0].lower())
    out = {f"t:{w}" for w in words}
    out.update(f"t:{a}_{b}" for a, b in pairwise(words))
    out.update(f"s:{w}" for w in lead)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Doubt:
    """A logistic model over :func:`features`; a break scoring under ``threshold`` is hedged."""

    weights: Mapping[str, float]
    bias: float
    threshold: float

    def score(self, item: Item) -> float:
        """How much the wording reads like a real break, 0 to 1."""
        return self.score_text(item.title, item.summary)

    def score_text(self, title: str, summary: str) -> float:
        w = self.weights
        z = self.bias + sum(w.get(f, 0.0) for f in features(title, summary))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def doubts(self, item: Item) -> bool:
        return self.score(item) < self.threshold

    def reasons(self, item: Item, top: int = 3) -> list[str]:
        """The item's words that pull its score down most (for /why)."""
        pulls = sorted((self.weights.get(f, 0.0), f) for f in features(item.title, item.summary))
        return [f.split(":", 1)[1].replace("_", " ") for w, f in pulls[:top] if w < 0]

    def review(self, item: Item, signals: tuple[Signal, ...]) -> tuple[Signal, ...]:
        """``signals`` with every unhedged break or reversal hedged if the model doubts it."""
        if not any(s.effect in POSITIVE and not s.hedged for s in signals):
            return signals
        if not self.doubts(item):
            return signals
        return tuple(
            replace(s, hedged=True) if s.effect in POSITIVE and not s.hedged else s for s in signals
        )

    def mark_traces(
        self, item: Item, traces: tuple[Trace, ...], is_break: Callable[[str], bool]
    ) -> tuple[Trace, ...]:
        """``traces`` (for ``rules eval``'s misses) with each break that fired but that the
        model hedges told as hedged by it, with its words."""
        if not self.doubts(item):
            return traces
        why = "the second stage (doubt.json) on " + ", ".join(map(repr, self.reasons(item)))
        return tuple(
            replace(t, outcome="hedged", detail=why)
            if t.outcome == "fired" and is_break(t.rule_id)
            else t
            for t in traces
        )

    def to_mapping(self) -> dict[str, object]:
        return {
            "threshold": self.threshold,
            "bias": round(self.bias, 6),
            "weights": {f: round(self.weights[f], 6) for f in sorted(self.weights)},
        }


def doubt_from_mapping(data: object) -> Doubt:
    """A :class:`Doubt` from its JSON form; :class:`DoubtError` says what is wrong."""
    if not isinstance(data, Mapping):
        raise DoubtError("a doubt model is a mapping with threshold, bias and weights")
    try:
        threshold = float(data["threshold"])
        bias = float(data["bias"])
        raw = data["weights"]
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"a doubt model needs numeric threshold and bias and weights: {exc}"
        raise DoubtError(msg) from None
    if not 0.0 <= threshold <= 1.0:
        raise DoubtError(f"threshold must be between 0 and 1, not {threshold}")
    if not isinstance(raw, Mapping) or not all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
        for k, v in raw.items()
    ):
        raise DoubtError("weights must map feature names to numbers")
    return Doubt({k: float(v) for k, v in raw.items()}, bias, threshold)


def train_doubt(
    examples: Iterable[tuple[str, str, bool]],
    threshold: float,
    l2: float = 0.01,
    steps: int = 400,
    min_count: int = 2,
) -> Doubt:
    """Fit on ``(title, summary, is_break)``: breaks against near-misses, L2-regularised mean
    log loss, full-batch Adam (learning rate 0.05). Features seen fewer than ``min_count``
    times are dropped: a word one headline used says nothing about the next."""
    # Each example twice, with its summary and without: feeds often carry no summary, and a
    # model that only saw leads would read a bare headline as doubtful (its lead words absent).
    examples = list(examples)
    rows = [(features(t, lead), y) for t, s, y in examples for lead in dict.fromkeys((s, ""))]
    counts: dict[str, int] = {}
    for title, summary, _ in examples:
        for f in features(title, summary):
            counts[f] = counts.get(f, 0) + 1
    names = sorted(f for f, n in counts.items() if n >= min_count)
    index = {f: i for i, f in enumerate(names)}
    xs: Sequence[list[int]] = [sorted(index[f] for f in fs if f in index) for fs, _ in rows]
    ys = [1.0 if y else 0.0 for _, y in rows]
    n, dim = len(rows), len(names)
    if n == 0:
        raise DoubtError("no examples to train on")
    w = [0.0] * dim
    b = 0.0
    m, v = [0.0] * (dim + 1), [0.0] * (dim + 1)
    for t in range(1, steps + 1):
        g = [l2 * wi for wi in w]
        gb = 0.0
        for x, y in zip(xs, ys, strict=True):
            z = b + sum(w[j] for j in x)
            err = (1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z)))) - y) / n
            gb += err
            for j in x:
                g[j] += err
        g.append(gb)
        c1, c2 = 1 - 0.9**t, 1 - 0.999**t
        for j, gj in enumerate(g):
            m[j] = 0.9 * m[j] + 0.1 * gj
            v[j] = 0.999 * v[j] + 0.001 * gj * gj
            step = 0.05 * (m[j] / c1) / (math.sqrt(v[j] / c2) + 1e-8)
            if j < dim:
                w[j] -= step
            else:
                b -= step
    return Doubt({f: w[i] for f, i in index.items() if abs(w[i]) > 1e-4}, b, threshold)
