"""Issue 9 item 6: would a small packaged model, as a hedged second stage, rescue rule misses?

    .venv/bin/pip install wordllama==0.4.0.post1      # ad hoc: not a project dependency
    .venv/bin/python bench/rescuer_trial.py                      # the shipped rules
    .venv/bin/python bench/rescuer_trial.py --rules-at c0de23a   # rules never tuned on train

Labelled items: ``corpus/train.jsonl`` and ``../shared/corpora/dev-events.jsonl`` (the frozen
test split is never read). Grouped k-fold by ``event`` (a dev item is its own event), repeated
with shuffled groups: the held-out fold's items are scored by the rules alone, then by the
rules plus a rescuer whose exemplars are the other folds' items. Two rescuers:

- ``knn``: no unhedged break fired, and the item's nearest exemplars are breaks of one leg
  (similarity-weighted vote >= ``vote``, the nearest such exemplar >= ``floor``): a rescued break
  of that leg. A veto is the mirror image: a rule break whose neighbours are non-breaks.
- ``probe``: a logistic probe per leg (break of that leg or not) on the exemplars; a rescued
  break where its probability clears ``floor``.

Thresholds are chosen by an inner grouped CV on the training folds only (nested: the held-out
fold never picks its own threshold): the setting with the most inner rescues that adds no
inner false alarm and fires no inner trap, or "off" when none rescues anything. A rescued
signal counts as a fired break here (what the alert would claim, hedged or not), so the
figures say whether its claims are right; ``rules eval`` itself never counts hedged signals.

Embeddings: wordllama's ``l2_supercat_256`` (static token embeddings, MIT, the weights inside
the wheel), loaded from the installed package with sockets blocked (``WordLlama.load`` itself
looks for the tokenizer under ``tokenizer/`` while the wheel ships ``tokenizers/``, and would
then try to download it); ``--embed tfidf`` is a lexical control needing no model (with
``--rescuer knn`` only: the probe's Newton steps over thousands of tf-idf columns take too long).
``--separation`` prints threshold-free AUCs; figures and verdict in bench/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import socket
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.pipeline.rulebook import read_rule_files  # noqa: E402
from rules import compile_ruleset, load_ruleset  # noqa: E402
from rules.metrics import fires_break  # noqa: E402
from rules.records import labelled_from_record  # noqa: E402
from rules.scores import POSITIVE  # noqa: E402

TRAIN = ROOT / "corpus" / "train.jsonl"
DEV = ROOT.parent / "shared" / "corpora" / "dev-events.jsonl"
LEGS = ("h20-ban", "wfe-controls", "rare-earth-leverage", "no-trade-deal")


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    event: str
    text: str
    title: str
    breaks: frozenset[str]  # legs the labels say it breaks or reverses
    trap: bool
    fired: bool  # the rules fired an unhedged break
    fired_legs: frozenset[str]
    rescuable: bool  # the gate lets a rescuer raise a break on it


# -- data ---------------------------------------------------------------------------------


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 (fixed git subcommands)
        ["git", *args],  # noqa: S607 (git on the PATH)
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _engine(rules_at: str | None) -> Any:
    if rules_at is None:
        files = read_rule_files(ROOT / "rules" / "default")
    else:
        names = _git("ls-tree", "--name-only", f"{rules_at}:rules/default").split()
        files = {
            n: _git("show", f"{rules_at}:rules/default/{n}")
            for n in names
            if n.endswith((".yaml", ".yml"))
        }
    return compile_ruleset(load_ruleset(files))


def load_rows(rules_at: str | None, gate: str = "nobreak") -> list[Row]:
    """``gate``: ``nobreak`` lets the rescuer speak where no unhedged break fired (a
    confirmation or a hedged break may have); ``silent`` only where no rule said anything."""
    engine = _engine(rules_at)
    rows = []
    for path in (TRAIN, DEV):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            lab = labelled_from_record(rec)
            sig = engine.evaluate(lab.item)
            rows.append(
                Row(
                    key=lab.item.key,
                    event=str(rec.get("event") or f"dev:{lab.item.key}"),
                    text=f"{lab.item.title}. {lab.item.summary}".strip(),
                    title=lab.item.title,
                    breaks=frozenset(e.leg for e in lab.entries if e.effect in POSITIVE),
                    trap=lab.is_trap,
                    fired=fires_break(sig),
                    fired_legs=frozenset(
                        s.leg for s in sig if s.effect in POSITIVE and not s.hedged
                    ),
                    rescuable=not sig if gate == "silent" else not fires_break(sig),
                )
            )
    return rows


# -- embeddings ---------------------------------------------------------------------------


def _block_sockets() -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise OSError("network blocked by rescuer_trial")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]


def wordllama_embed(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors from the weights inside the wordllama wheel; no network is touched."""
    from importlib.resources import files

    from safetensors import safe_open
    from tokenizers import Tokenizer
    from wordllama.inference import WordLlamaInference

    root = files("wordllama")
    weights = str(root / "weights" / "l2_supercat_256.safetensors")
    with safe_open(weights, framework="np", device="cpu") as f:
        table = f.get_tensor("embedding.weight")
    tok = Tokenizer.from_file(str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
    model = WordLlamaInference(table, tok, binary=False)
    return np.asarray(model.embed(list(texts), norm=True), dtype=np.float64)


def tfidf_embed(texts: Sequence[str]) -> np.ndarray:
    """Word uni+bigram tf-idf, fit on every text (no labels): the lexical control."""
    import re

    docs = []
    for t in texts:
        words = re.findall(r"[a-z0-9]+", t.lower())
        docs.append(words + [f"{a} {b}" for a, b in itertools.pairwise(words)])
    vocab: dict[str, int] = {}
    df: dict[str, int] = {}
    for d in docs:
        for w in set(d):
            df[w] = df.get(w, 0) + 1
    for w, n in df.items():
        if n >= 2:
            vocab[w] = len(vocab)
    m = np.zeros((len(docs), len(vocab)))
    for i, d in enumerate(docs):
        for w in d:
            if w in vocab:
                m[i, vocab[w]] += 1
    idf = np.log(len(docs) / np.array([df[w] for w in vocab]))
    m = np.log1p(m) * idf
    unit: np.ndarray = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    return unit


# -- rescuers: pure functions of vectors and labels -----------------------------------------

Setting = tuple[float, ...]
# (rescued leg or None, veto) for each query, given exemplar indices.
Rescuer = Callable[
    [np.ndarray, list[Row], list[int], list[int], Setting], list[tuple[str | None, bool]]
]


KMAX = 7


def _neighbours(
    x: np.ndarray, rows: list[Row], train: list[int], test: list[int]
) -> list[list[tuple[float, frozenset[str]]]]:
    """Per query, its ``KMAX`` nearest exemplars: (cosine, legs the exemplar breaks)."""
    sims = x[test] @ x[train].T
    out = []
    for qi in range(len(test)):
        top = np.argsort(-sims[qi])[:KMAX]
        out.append([(float(sims[qi, j]), rows[train[j]].breaks) for j in top])
    return out


def knn_calls(
    near: list[list[tuple[float, frozenset[str]]]],
    rows: list[Row],
    test: list[int],
    setting: Setting,
) -> list[tuple[str | None, bool]]:
    k, vote, floor, veto_vote = int(setting[0]), setting[1], setting[2], setting[3]
    out: list[tuple[str | None, bool]] = []
    for q, nb in zip(test, near, strict=True):
        top = nb[:k]
        total = sum(max(s, 0.0) for s, _ in top) or 1.0
        if rows[q].rescuable:
            best: str | None = None
            best_share = 0.0
            for leg in LEGS:
                hit = [s for s, legs in top if leg in legs]
                share = sum(max(s, 0.0) for s in hit) / total
                if hit and share > best_share and max(hit) >= floor:
                    best, best_share = leg, share
            out.append((best if best_share >= vote else None, False))
        elif not rows[q].fired:
            out.append((None, False))
        else:
            quiet = sum(max(s, 0.0) for s, legs in top if not legs)
            out.append((None, top[0][0] >= floor and quiet / total >= veto_vote))
    return out


def knn(
    x: np.ndarray, rows: list[Row], train: list[int], test: list[int], setting: Setting
) -> list[tuple[str | None, bool]]:
    return knn_calls(_neighbours(x, rows, train, test), rows, test, setting)


def _logistic(x: np.ndarray, y: np.ndarray, l2: float = 10.0, steps: int = 30) -> np.ndarray:
    """L2-regularised logistic regression by Newton steps; a bias column is appended."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    reg = l2 * np.eye(xb.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(xb @ w)))
        grad = xb.T @ (p - y) + reg @ w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


Probs = tuple[dict[str, np.ndarray], np.ndarray]


def _probs(x: np.ndarray, rows: list[Row], train: list[int], test: list[int]) -> Probs:
    """Per leg, P(break of that leg) for each query; and P(any break), for the veto."""
    # Standardised on the exemplars: unit vectors' small coordinates would drown in the L2 term.
    mu, sd = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
    xt = (x[train] - mu) / sd
    xq = np.hstack([(x[test] - mu) / sd, np.ones((len(test), 1))])
    per_leg = {}
    for leg in LEGS:
        y = np.array([1.0 if leg in rows[i].breaks else 0.0 for i in train])
        per_leg[leg] = 1 / (1 + np.exp(-(xq @ _logistic(xt, y))))
    y_any = np.array([1.0 if rows[i].breaks else 0.0 for i in train])
    return per_leg, 1 / (1 + np.exp(-(xq @ _logistic(xt, y_any))))


def probe_calls(
    probs: Probs, rows: list[Row], test: list[int], setting: Setting
) -> list[tuple[str | None, bool]]:
    floor, veto_floor = setting[0], setting[1]
    per_leg, p_any = probs
    out: list[tuple[str | None, bool]] = []
    for n, q in enumerate(test):
        if rows[q].rescuable:
            leg = max(LEGS, key=lambda g: per_leg[g][n])
            out.append((leg if per_leg[leg][n] >= floor else None, False))
        elif not rows[q].fired:
            out.append((None, False))
        else:
            out.append((None, bool(p_any[n] <= veto_floor)))
    return out


def probe(
    x: np.ndarray, rows: list[Row], train: list[int], test: list[int], setting: Setting
) -> list[tuple[str | None, bool]]:
    return probe_calls(_probs(x, rows, train, test), rows, test, setting)


def _caller(
    name: str, x: np.ndarray, rows: list[Row], train: list[int], test: list[int]
) -> Callable[[Setting], list[tuple[str | None, bool]]]:
    """The rescuer's calls on ``test`` for any setting, its exemplar work done once."""
    if name == "knn":
        near = _neighbours(x, rows, train, test)
        return lambda st: knn_calls(near, rows, test, st)
    probs = _probs(x, rows, train, test)
    return lambda st: probe_calls(probs, rows, test, st)


GRIDS: dict[str, list[Setting]] = {
    "knn": [
        (k, vote, floor, veto)
        for k in (1, 3, 5, 7)
        for vote in (0.5, 0.67, 0.8, 1.0)
        for floor in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
        for veto in (0.8, 1.0, 2.0)  # 2.0: never veto
    ],
    "probe": [
        (floor, veto)
        for floor in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
        for veto in (-1.0, 0.05, 0.1, 0.2)  # -1: never veto
    ],
}
RESCUERS: dict[str, Rescuer] = {"knn": knn, "probe": probe}


# -- scoring ------------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    traps: int = 0
    items: int = 0
    rescued_right_leg: int = 0
    rescued_tp: int = 0

    def add(self, other: Tally) -> None:
        for f in self.__slots__:
            setattr(self, f, getattr(self, f) + getattr(other, f))

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def traps_per_100(self) -> float:
        return 100 * self.traps / self.items if self.items else 0.0


def score(rows: list[Row], test: list[int], calls: list[tuple[str | None, bool]] | None) -> Tally:
    t = Tally(items=len(test))
    for n, q in enumerate(test):
        r = rows[q]
        rescued, veto = calls[n] if calls else (None, False)
        fired = (r.fired and not veto) or rescued is not None
        wanted = bool(r.breaks)
        t.tp += wanted and fired
        t.fp += fired and not wanted
        t.fn += wanted and not fired
        t.traps += fired and r.trap
        if rescued is not None and wanted:
            t.rescued_tp += 1
            t.rescued_right_leg += rescued in r.breaks
    return t


def group_folds(rows: list[Row], idx: list[int], k: int, rng: random.Random) -> list[list[int]]:
    events = sorted({rows[i].event for i in idx})
    rng.shuffle(events)
    fold_of = {e: n % k for n, e in enumerate(events)}
    return [[i for i in idx if fold_of[rows[i].event] == f] for f in range(k)]


def choose(
    x: np.ndarray, rows: list[Row], idx: list[int], name: str, rng: random.Random, k: int
) -> Setting | None:
    """The inner-CV pick: most rescued breaks with no inner false alarm or trap added."""
    folds = group_folds(rows, idx, k, rng)
    gains: dict[Setting, tuple[int, int, int]] = {}
    for f, test in enumerate(folds):
        train = [i for g, fold in enumerate(folds) if g != f for i in fold]
        base = score(rows, test, None)
        call = _caller(name, x, rows, train, test)
        for s in GRIDS[name]:
            t = score(rows, test, call(s))
            tp, fp, tr = gains.get(s, (0, 0, 0))
            gains[s] = (tp + t.tp - base.tp, fp + t.fp - base.fp, tr + t.traps - base.traps)
    ok = [(g[0], -g[1], s) for s, g in gains.items() if g[1] <= 0 and g[2] <= 0 and g[0] > 0]
    return max(ok)[2] if ok else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    rows = load_rows(args.rules_at, args.gate)
    _block_sockets()
    texts = [r.title if args.text == "title" else r.text for r in rows]
    x = wordllama_embed(texts) if args.embed == "wordllama" else tfidf_embed(texts)
    idx = list(range(len(rows)))
    folds_alone: list[Tally] = []
    folds_with: list[Tally] = []
    picks: list[Setting | None] = []
    for rep in range(args.repeats):
        rng = random.Random(1000 + rep)
        for f, test in enumerate(outer := group_folds(rows, idx, args.folds, rng)):
            train = [i for g, fold in enumerate(outer) if g != f for i in fold]
            setting = choose(
                x, rows, train, args.rescuer, random.Random(rep * 100 + f), args.folds - 1
            )
            picks.append(setting)
            calls = RESCUERS[args.rescuer](x, rows, train, test, setting) if setting else None
            folds_alone.append(score(rows, test, None))
            folds_with.append(score(rows, test, calls))
    return {"rows": rows, "alone": folds_alone, "with": folds_with, "picks": picks, "x": x}


def _auc(pos: list[float], neg: list[float]) -> float:
    """P(a random positive scores above a random negative), ties half."""
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def separation(x: np.ndarray, rows: list[Row], args: argparse.Namespace) -> list[str]:
    """Threshold-free: over the outer folds, how well each rescuer's score tells a labelled
    break from anything else, among the items its gate lets it speak on (the rules' misses and
    the rest of the unfired items), and from the traps alone."""
    idx = list(range(len(rows)))
    scores: dict[str, list[tuple[float, Row]]] = {"knn k=5": [], "probe": []}
    for rep in range(args.repeats):
        outer = group_folds(rows, idx, args.folds, random.Random(1000 + rep))
        for f, test in enumerate(outer):
            train = [i for g, fold in enumerate(outer) if g != f for i in fold]
            near = _neighbours(x, rows, train, test)
            per_leg, _ = _probs(x, rows, train, test)
            for n, q in enumerate(test):
                if not rows[q].rescuable:
                    continue
                top = near[n][:5]
                total = sum(max(s, 0.0) for s, _ in top) or 1.0
                share = max(
                    sum(max(s, 0.0) for s, legs in top if leg in legs) / total for leg in LEGS
                )
                scores["knn k=5"].append((share, rows[q]))
                scores["probe"].append((max(float(per_leg[g][n]) for g in LEGS), rows[q]))
    out = []
    for name, got in scores.items():
        pos = [s for s, r in got if r.breaks]
        neg = [s for s, r in got if not r.breaks]
        trap = [s for s, r in got if r.trap]
        out.append(
            f"  {name}: AUC break vs rest {_auc(pos, neg):.3f}, break vs trap {_auc(pos, trap):.3f}"
            f" ({len(pos)} breaks, {len(neg)} others of which {len(trap)} traps, over"
            f" {args.repeats} repeats)"
        )
    return out


def hindsight(x: np.ndarray, rows: list[Row], args: argparse.Namespace) -> list[str]:
    """Every setting scored on the outer folds themselves: an optimistic upper bound that no
    deployment could pick, to show whether any threshold would have helped at all."""
    idx = list(range(len(rows)))
    pooled: dict[Setting, Tally] = {st: Tally() for st in GRIDS[args.rescuer]}
    base = Tally()
    for rep in range(args.repeats):
        outer = group_folds(rows, idx, args.folds, random.Random(1000 + rep))
        for f, test in enumerate(outer):
            train = [i for g, fold in enumerate(outer) if g != f for i in fold]
            base.add(score(rows, test, None))
            call = _caller(args.rescuer, x, rows, train, test)
            for st in GRIDS[args.rescuer]:
                pooled[st].add(score(rows, test, call(st)))

    def line(st: Setting, t: Tally) -> str:
        return (
            f"  {st}: P {t.precision:.3f} ({t.precision - base.precision:+.3f})"
            f" R {t.recall:.3f} ({t.recall - base.recall:+.3f})"
            f" traps {t.traps - base.traps:+d}; rescued {t.rescued_tp}"
            f" (wrong leg {t.rescued_tp - t.rescued_right_leg})"
        )

    safe = [
        (t.recall, st, t)
        for st, t in pooled.items()
        if t.precision >= base.precision and t.traps <= base.traps and t.recall > base.recall
    ]
    best_r = sorted(pooled.items(), key=lambda kv: (kv[1].recall, kv[1].precision), reverse=True)
    out = [f"  rules alone: P {base.precision:.3f} R {base.recall:.3f} traps {base.traps}"]
    out.append(f" settings lifting R with no loss of P and no added trap: {len(safe)}")
    out += [line(st, t) for _, st, t in sorted(safe, reverse=True)[:5]]
    out.append(" highest R whatever the cost:")
    out += [line(st, t) for st, t in best_r[:3]]
    return out


def _summary(name: str, folds: list[Tally], repeats: int) -> str:
    pooled = Tally()
    for t in folds:
        pooled.add(t)
    per = len(folds) // repeats
    p = statistics.median(t.precision for t in folds)
    r = statistics.median(t.recall for t in folds)
    tr = statistics.median(t.traps_per_100 for t in folds)
    extra = ""
    if pooled.rescued_tp or name != "rules alone":
        extra = f"  rescued breaks {pooled.rescued_tp} (right leg {pooled.rescued_right_leg})"
    return (
        f"{name:<16} pooled P {pooled.precision:.3f} ({pooled.tp}/{pooled.tp + pooled.fp})"
        f" R {pooled.recall:.3f} ({pooled.tp}/{pooled.tp + pooled.fn})"
        f" traps/100 {pooled.traps_per_100:.2f} ({pooled.traps}) | per-fold median"
        f" P {p:.3f} R {r:.3f} traps/100 {tr:.2f} ({per} folds x {repeats}){extra}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--rules-at", help="git revision whose rules/default to score (default: the worktree's)"
    )
    ap.add_argument("--embed", choices=("wordllama", "tfidf"), default="wordllama")
    ap.add_argument("--rescuer", choices=tuple(RESCUERS), default="knn")
    ap.add_argument("--text", choices=("story", "title"), default="story")
    ap.add_argument(
        "--gate",
        choices=("nobreak", "silent"),
        default="nobreak",
        help="rescue where no unhedged break fired, or only where no rule fired at all",
    )
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--hindsight", action="store_true", help="also the best settings in hindsight")
    ap.add_argument("--separation", action="store_true", help="also threshold-free AUCs")
    args = ap.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", file=sys.stderr)
    out = run(args)
    rows: list[Row] = out["rows"]
    breaks = sum(bool(r.breaks) for r in rows)
    traps = sum(r.trap for r in rows)
    events = len({r.event for r in rows})
    print(
        f"rules {args.rules_at or 'worktree'}; {len(rows)} items ({breaks} breaks/reverses,"
        f" {traps} traps, {events} events); embed {args.embed} on {args.text};"
        f" rescuer {args.rescuer} (gate {args.gate}); grouped {args.folds}-fold x {args.repeats}"
    )
    print(_summary("rules alone", out["alone"], args.repeats))
    print(_summary("rules+rescuer", out["with"], args.repeats))
    picks = out["picks"]
    off = sum(p is None for p in picks)
    used = sorted({p for p in picks if p})
    print(f"inner-CV picks: off in {off} of {len(picks)} folds; settings {used}")
    if args.separation:
        print("separation on the items the gate lets the rescuer speak on:")
        print("\n".join(separation(out["x"], rows, args)))
    if args.hindsight:
        print("hindsight (optimistic: thresholds picked on the scored folds):")
        print("\n".join(hindsight(out["x"], rows, args)))
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
