"""Out-of-distribution evaluation of the trainable cheap classifier: what the headline figures are.

A random split flatters a detector (the same generators, topics and formatting on both sides),
so the figures quoted for this project come from:

- leave one repository out (LORO): train on every labeled source repository but one, score that
  one, for each; metrics per held-out repository and pooled over all out-of-fold scores;
- leave one generator family out (LOGO): train without any machine text of one family, score
  that family's texts against the `test` split's human texts (never trained on in any fold);
- real web pages as a negative test: the false-positive rate of a model at its own threshold on
  crawl documents from files that training never saw.

A "recipe" fixes how a model is trained (features, weights, extra human web text), so the same
function trains the fold models here and the shipped model in `scripts/train_classifier.py`.
Everything is seeded. Labeled rows come from one or more Parquet files with the columns of
`dev.parquet`; this module reads nothing else (web texts are passed in as strings).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import scipy.sparse as sp

from detectors.calibration import threshold_for_fpr
from detectors.evaluation import binary_metrics
from detectors.ngram_features import HashingParams, featurize
from detectors.splits import split_of

#: Variants that are human text edited or continued by a model: the hardest machine texts,
#: closest to human ones; `Recipe.hard_weight` up-weights them.
HARD_VARIANT_PREFIXES = ("llm_polish_of_human", "llm_rewrite_of_human", "llm_expand_of_human",
                         "continuation_of_human")

_FAMILIES = (  # (substring of the lower-cased generator name, family), first match wins
    ("claude", "anthropic"), ("gemini", "google"), ("palm", "google"), ("bard", "google"),
    ("flan-t5", "google"), ("llama", "meta-llama"), ("alpaca", "meta-llama"),
    ("mistral", "mistral"), ("qwen", "qwen"), ("deepseek", "deepseek"), ("falcon", "falcon"),
    ("gpt2", "open-2019-22"), ("gpt-2", "open-2019-22"), ("opt-", "open-2019-22"),
    ("gpt-neo", "open-2019-22"), ("gpt-j", "open-2019-22"),
    ("gpt", "openai"), ("davinci", "openai"), ("chatgpt", "openai"), ("bing", "openai"),
)


def generator_family(generator: str | None) -> str | None:
    """The family (vendor or model line) of a generator name as written in the labeled data."""
    if not generator:
        return None
    g = generator.lower()
    for needle, family in _FAMILIES:
        if needle in g:
            return family
    return "other"


def is_hard_variant(variant: str | None) -> bool:
    return bool(variant) and variant.startswith(HARD_VARIANT_PREFIXES)


@dataclass
class Pool:
    """Labeled rows in memory with what the evaluation groups by."""

    texts: list[str]
    y: np.ndarray  # 1 = ai
    repo: np.ndarray
    family: np.ndarray  # "" for human rows
    generator: np.ndarray  # None for human rows
    variant: np.ndarray
    domain: np.ndarray
    language: np.ndarray
    split: np.ndarray  # detectors.splits split of each row (its `calib` rows calibrate)
    ids: np.ndarray

    def take(self, rows: np.ndarray) -> Pool:
        rows = np.asarray(rows)
        return Pool([self.texts[i] for i in rows], *(getattr(self, f)[rows] for f in (
            "y", "repo", "family", "generator", "variant", "domain", "language", "split", "ids")))


def load_pool(paths: Sequence[str | Path]) -> Pool:
    """Every row of the labeled Parquet files (columns of dev.parquet)."""
    cols = ("id", "text", "label", "generator", "variant", "domain", "language", "source_repo",
            "pair_key")
    acc: dict[str, list] = {c: [] for c in cols}
    for path in paths:
        table = pq.read_table(path)
        for c in cols:
            acc[c].extend(table[c].to_pylist() if c in table.column_names
                          else [None] * table.num_rows)
    y = np.array([1 if str(v).lower() in ("ai", "1") else 0 for v in acc["label"]], np.int8)
    repo = np.array([r or "unknown" for r in acc["source_repo"]], dtype=object)
    split = np.array([split_of(i, "ai" if v else "human", g, r, pk) for i, v, g, r, pk in zip(
        acc["id"], y, acc["generator"], repo, acc["pair_key"], strict=True)], dtype=object)
    return Pool(
        texts=[t if isinstance(t, str) else "" for t in acc["text"]], y=y, repo=repo,
        family=np.array([generator_family(g) or "" for g in acc["generator"]], dtype=object),
        generator=np.array(acc["generator"], dtype=object),
        variant=np.array([v or "" for v in acc["variant"]], dtype=object),
        domain=np.array([d or "" for d in acc["domain"]], dtype=object),
        language=np.array([lang or "" for lang in acc["language"]], dtype=object),
        split=split, ids=np.array(acc["id"], dtype=object))


def sample_per_repo(pool: Pool, cap: int, seed: int = 0) -> np.ndarray:
    """Row indices: per repository at most cap/2 human and cap/2 machine rows (seeded; the
    machine half stratified over generator family so small families are kept)."""
    rng = np.random.default_rng(seed)
    out = []
    for r in sorted(set(pool.repo)):
        for label in (0, 1):
            rows = np.flatnonzero((pool.repo == r) & (pool.y == label))
            if rows.size > cap // 2:
                rows = rng.choice(rows, cap // 2, replace=False)
            out.append(rows)
    return np.sort(np.concatenate(out))


@dataclass(frozen=True)
class Recipe:
    """How one model is trained: features, regularisation, weights and extra human text."""

    name: str
    params: HashingParams = field(default_factory=HashingParams)
    alpha: float = 2e-6
    epochs: int = 15
    hard_weight: float = 1.0  # weight of hard machine variants (edited/continued human text)
    web_weight: float = 0.0  # weight of each real web page as human text (0: not used)
    balanced_repos: bool = False  # each repository's rows weigh the same in total
    #: Within each (repository, domain) human and machine rows weigh the same in total, and each
    #: repository the same: topic and repository words can then no longer stand in for the label.
    deconfound: bool = False
    loss: str = "log_loss"  # or "modified_huber" (SGDClassifier losses with a decision value)
    average: bool = False  # averaged SGD (the mean of the iterates)

    def describe(self) -> str:
        p = self.params
        parts = [f"words+bigrams, bytes {'/'.join(map(str, p.char_ngrams))}, 2x2^{p.bits}",
                 f"alpha {self.alpha:g}"]
        if p.normalise:
            parts.append("normalised text")
        if self.hard_weight != 1.0:
            parts.append(f"hard variants x{self.hard_weight:g}")
        if self.web_weight:
            parts.append(f"web pages as human x{self.web_weight:g}")
        if self.balanced_repos:
            parts.append("repositories weighted equally")
        if self.deconfound:
            parts.append("human = machine weight per (repository, domain), repositories equal")
        if self.loss != "log_loss":
            parts.append(f"loss {self.loss}")
        if self.average:
            parts.append("averaged SGD")
        return "; ".join(parts)


def sample_weights(pool: Pool, rows: np.ndarray, recipe: Recipe) -> np.ndarray:
    w = np.ones(rows.size)
    if recipe.hard_weight != 1.0:
        w[np.array([is_hard_variant(v) for v in pool.variant[rows]], bool)] = recipe.hard_weight
    if recipe.balanced_repos:
        repos, inv, counts = np.unique(pool.repo[rows], return_inverse=True, return_counts=True)
        w *= (rows.size / len(repos)) / counts[inv]
    if recipe.deconfound:
        w = deconfounded(w, pool.repo[rows], pool.domain[rows], pool.y[rows])
    return w


def deconfounded(w: np.ndarray, repo: np.ndarray, domain: np.ndarray,
                 y: np.ndarray) -> np.ndarray:
    """Weights rescaled so that within each (repository, domain) group the human and the
    machine rows have equal total weight (a group with one class keeps its share), and every
    repository has the same total weight; relative weights inside a class of a group (e.g. hard
    variants) are kept. The mean weight stays 1."""
    out = np.zeros(w.size)
    key = np.char.add(np.char.add(np.asarray(repo, dtype=str), "\x00"),
                      np.asarray(domain, dtype=str))
    groups, g = np.unique(key, return_inverse=True)
    for k in range(groups.size):
        m = g == k
        present = [lab for lab in (0, 1) if (m & (y == lab)).any()]
        for lab in present:
            c = m & (y == lab)
            out[c] = w[c] / w[c].sum() * m.sum() / len(present)
    repos, r = np.unique(np.asarray(repo, dtype=str), return_inverse=True)
    totals = np.bincount(r, weights=out, minlength=repos.size)
    out /= totals[r]
    return out * w.size / repos.size


def fit_linear(x: sp.csr_matrix, y: np.ndarray, w: np.ndarray, alpha: float, epochs: int,
               seed: int = 0, loss: str = "log_loss",
               average: bool = False) -> tuple[np.ndarray, float]:
    """(coefficients, intercept) of a linear model (SGD, `loss`), classes balanced by weight."""
    from sklearn.linear_model import SGDClassifier

    y = np.asarray(y).astype(int)
    w = np.asarray(w, dtype=np.float64).copy()
    for label in (0, 1):  # balance the classes' total weight
        m = y == label
        w[m] *= (w.sum() / 2) / w[m].sum()
    model = SGDClassifier(loss=loss, alpha=alpha, max_iter=epochs, tol=None,
                          random_state=seed, average=average)
    model.fit(x, y, sample_weight=w)
    return model.coef_.ravel().astype(np.float32), float(model.intercept_[0])


@dataclass
class Featurized:
    """A pool's (and web texts') feature matrices, computed once per feature space."""

    pool: sp.csr_matrix
    web_train: sp.csr_matrix | None


def featurize_all(pool: Pool, web_train: Sequence[str], params: HashingParams) -> Featurized:
    return Featurized(featurize(pool.texts, params),
                      featurize(list(web_train), params) if len(web_train) else None)


def train_on(pool: Pool, feats: Featurized, rows: np.ndarray, recipe: Recipe,
             seed: int = 0) -> tuple[np.ndarray, float]:
    """Fit `recipe` on pool `rows` (plus the web training pages when the recipe uses them)."""
    x, y, w = feats.pool[rows], pool.y[rows], sample_weights(pool, rows, recipe)
    if recipe.web_weight and feats.web_train is not None:
        x = sp.vstack([x, feats.web_train], format="csr")
        y = np.concatenate([y, np.zeros(feats.web_train.shape[0], np.int8)])
        w = np.concatenate([w, np.full(feats.web_train.shape[0], recipe.web_weight)])
    return fit_linear(x, y, w, recipe.alpha, recipe.epochs, seed, recipe.loss, recipe.average)


@dataclass
class FoldResult:
    """Out-of-fold scores of one held-out group and the metrics of that fold."""

    held_out: str
    rows: np.ndarray
    scores: np.ndarray
    metrics: dict
    fpr_at_transfer: float | None  # FPR on held-out humans at a 1%-FPR threshold set in training


def _fold(pool: Pool, feats: Featurized, train: np.ndarray, test: np.ndarray, recipe: Recipe,
          name: str, seed: int) -> FoldResult:
    calib = train[pool.split[train] == "calib"]
    fit_rows = train[pool.split[train] != "calib"]
    coef, b = train_on(pool, feats, fit_rows, recipe, seed)
    h_cal = calib[pool.y[calib] == 0]
    threshold = threshold_for_fpr(feats.pool[h_cal] @ coef + b) if h_cal.size else None
    s = np.asarray(feats.pool[test] @ coef + b, dtype=np.float64)
    m = binary_metrics(s, pool.y[test])
    h = s[pool.y[test] == 0]
    transfer = float(np.mean(h > threshold)) if threshold is not None and h.size else None
    return FoldResult(name, test, s, m, transfer)


def leave_one_repo_out(pool: Pool, feats: Featurized, recipe: Recipe,
                       seed: int = 0) -> list[FoldResult]:
    """One fold per repository: train (its `calib` rows held back for a threshold) on the
    others, score it."""
    return [_fold(pool, feats, np.flatnonzero(pool.repo != r), np.flatnonzero(pool.repo == r),
                  recipe, r, seed) for r in sorted(set(pool.repo))]


def leave_one_family_out(pool: Pool, feats: Featurized, recipe: Recipe, seed: int = 0,
                         min_rows: int = 100) -> list[FoldResult]:
    """One fold per generator family with at least `min_rows` machine rows: its machine rows
    are held out with the human rows of the `test` split (never trained on in any fold)."""
    out = []
    human_test = np.flatnonzero((pool.y == 0) & (pool.split == "test"))
    for fam in sorted(set(pool.family[pool.y == 1])):
        ai = np.flatnonzero((pool.y == 1) & (pool.family == fam))
        if ai.size < min_rows:
            continue
        train = np.flatnonzero((pool.family != fam) & (pool.split != "test"))
        out.append(_fold(pool, feats, train, np.concatenate([human_test, ai]), recipe, fam,
                         seed))
    return out


def pooled(folds: list[FoldResult], pool: Pool) -> dict:
    """Metrics over all out-of-fold scores together, and the mean of per-fold AUROCs."""
    rows = np.concatenate([f.rows for f in folds])
    s = np.concatenate([f.scores for f in folds])
    m = binary_metrics(s, pool.y[rows])
    aurocs = [f.metrics["auroc"] for f in folds if f.metrics["auroc"] is not None]
    m["mean_fold_auroc"] = float(np.mean(aurocs)) if aurocs else None
    transfers = [f.fpr_at_transfer for f in folds if f.fpr_at_transfer is not None]
    m["max_transfer_fpr"] = float(np.max(transfers)) if transfers else None
    n_h = np.array([f.metrics["n_human"] for f in folds if f.fpr_at_transfer is not None])
    m["pooled_transfer_fpr"] = (float(np.dot(transfers, n_h) / n_h.sum())
                                if transfers and n_h.sum() else None)
    return m


def with_params(recipe: Recipe, **changes) -> Recipe:
    return replace(recipe, params=replace(recipe.params, **changes))
