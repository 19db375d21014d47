"""Out-of-fold scores of the trainable classifier: what a validation needs once the shipped model
has trained on every labeled repository.

The shipped classifier trains on all labeled source repositories, so its score of any labeled
row is in distribution, and so is a reference built from its own `calib` scores. A validation
that holds one repository out (the estimation validation) needs, for each repository R, scores
from a model that never saw R: this module trains the shipped recipe once per R on the other
repositories (the same rows the shipped model trains on: every split but `NOT_TRAINED`, capped
per repository), and scores with that fold's model

- every row of R (role `target`), and
- the `calib`-split rows of the other repositories (role `reference`): the machine and human
  reference that fold would use, never trained on, and what sets the fold's 1%-FPR threshold.

Scores are the classifier's decision value (`LinearScorer` + intercept, as
`NgramClassifier.score`): the same log-odds scale as the shipped `score`. The shipped model
keeps only its largest weights, in float16; a fold model keeps all of them (differences are far
below the spread of scores).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from detectors.calibration import DEFAULT_FPR, shipped_threshold
from detectors.evaluation import binary_metrics
from detectors.generalization import (
    Pool,
    Recipe,
    featurize_all,
    load_pool,
    sample_per_repo,
    train_on,
)
from detectors.ngram_features import LinearScorer
from detectors.splits import NOT_TRAINED

#: Training rows per repository and fold (at most half human, half machine; seeded). Measured
#: (scripts/oof_scores.py, 2 busy cores): 8,000 trains each fold on 31-38k rows (the shipped
#: model: all 56.8k) in ~25 s, 4 GB peak; 2,000 (the cap of reports/detectors.md's leave-one-
#: repository-out figures) gives 12-14k rows, ~10 s, and AUROCs lower by up to 0.05.
MAX_TRAIN_PER_REPO = 8000
ROLES = ("target", "reference")
SCHEMA = pa.schema([
    ("fold", pa.string()), ("id", pa.string()), ("source_repo", pa.string()),
    ("label", pa.string()), ("domain", pa.string()), ("variant", pa.string()),
    ("generator", pa.string()), ("language", pa.string()), ("split", pa.string()),
    ("role", pa.string()), ("score", pa.float64()), ("threshold", pa.float64()),
])


@dataclass(frozen=True)
class OofFold:
    """Row indices (into the pool) of one fold: what trains, what is scored and as what."""

    held_out: str
    train: np.ndarray
    target: np.ndarray
    reference: np.ndarray


def plan_folds(pool: Pool, max_train_per_repo: int = MAX_TRAIN_PER_REPO,
               seed: int = 0) -> list[OofFold]:
    """One fold per source repository. The training sample (rows outside `NOT_TRAINED`, at most
    `max_train_per_repo` per repository) is drawn once; fold R trains on its rows of the other
    repositories, scores all of R's rows and the other repositories' `calib` rows."""
    trainable = np.flatnonzero(~np.isin(pool.split, NOT_TRAINED))
    sample = trainable[sample_per_repo(pool.take(trainable), max_train_per_repo, seed)]
    calib = pool.split == "calib"
    return [OofFold(r, sample[pool.repo[sample] != r], np.flatnonzero(pool.repo == r),
                    np.flatnonzero(calib & (pool.repo != r)))
            for r in sorted(set(pool.repo))]


def out_of_fold_scores(paths: Sequence[str | Path], recipe: Recipe,
                       max_train_per_repo: int = MAX_TRAIN_PER_REPO, seed: int = 0,
                       web_texts: Sequence[str] = (),
                       threshold_web_texts: Sequence[str] = (),
                       log: Callable[[str], None] | None = None) -> pa.Table:
    """Scores of `recipe`'s fold models on the labeled Parquet files `paths` (columns of
    dev.parquet): one row per (fold, scored row), columns of `SCHEMA`; `threshold` is the fold
    model's 1%-FPR threshold on its human reference rows (flag rule `score > threshold`).

    `web_texts`: human web text the recipe trains on when `recipe.web_weight` is set (already
    cut into pieces, as scripts/train_classifier.py does). `threshold_web_texts`: human web
    text never trained on (held-back pieces) that, as for the shipped model, raises each fold's
    threshold to its own 1%-FPR threshold when that is higher
    (`detectors.calibration.shipped_threshold`). `log` gets one line per fold. The
    schema metadata (key `out_of_fold`, JSON) records the recipe, cap, seed and each fold's
    training rows and seconds.
    """
    pool = load_pool(paths)
    folds = plan_folds(pool, max_train_per_repo, seed)
    train_rows = np.unique(np.concatenate([f.train for f in folds]))
    sub = pool.take(train_rows)  # featurized once; each fold trains on a subset of it
    feats = featurize_all(sub, web_texts if recipe.web_weight else (), recipe.params)
    parts, n_train, seconds = [], {}, {}
    for fold in folds:
        t0 = time.time()
        coef, b = train_on(sub, feats, np.searchsorted(train_rows, fold.train), recipe, seed)
        scorer = LinearScorer(recipe.params, coef)
        rows = np.concatenate([fold.target, fold.reference])
        scores = scorer.scores([pool.texts[i] for i in rows]) + b
        ref_h = fold.target.size + np.flatnonzero(pool.y[fold.reference] == 0)
        web = scorer.scores(list(threshold_web_texts)) + b if len(threshold_web_texts) else None
        threshold = shipped_threshold(scores[ref_h], web, DEFAULT_FPR)[0] if ref_h.size else None
        role = np.repeat(np.array(ROLES, dtype=object), [fold.target.size, fold.reference.size])
        parts.append(_table(pool, fold.held_out, rows, role, scores, threshold))
        n_train[fold.held_out] = int(fold.train.size)
        seconds[fold.held_out] = round(time.time() - t0, 1)
        if log is not None:
            m = binary_metrics(scores[:fold.target.size], pool.y[fold.target])
            auroc = "n/a" if m["auroc"] is None else f"{m['auroc']:.3f}"
            log(f"{fold.held_out}: trained on {fold.train.size:,} rows, scored {rows.size:,} "
                f"({fold.target.size:,} target + {fold.reference.size:,} reference), "
                f"target AUROC {auroc}, {seconds[fold.held_out]:.0f}s")
    meta = {"recipe": recipe.name, "describe": recipe.describe(),
            "max_train_per_repo": max_train_per_repo, "seed": seed,
            "web_pieces": len(web_texts) if recipe.web_weight else 0,
            "threshold_web_pieces": len(threshold_web_texts),
            "not_trained_splits": list(NOT_TRAINED), "n_train_by_fold": n_train,
            "seconds_by_fold": seconds,
            "labeled_files": [Path(p).name for p in paths]}
    table = pa.concat_tables(parts) if parts else SCHEMA.empty_table()
    return table.replace_schema_metadata({"out_of_fold": json.dumps(meta)})


def train_fold_models(paths: Sequence[str | Path], recipe: Recipe, folds: Sequence[str],
                      max_train_per_repo: int | None = MAX_TRAIN_PER_REPO, seed: int = 0,
                      web_texts: Sequence[str] = (),
                      log: Callable[[str], None] | None = None
                      ) -> dict[str, tuple[np.ndarray, float]]:
    """{held-out repository: (coefficients, intercept)} of the fold models named in `folds`,
    each trained exactly as `out_of_fold_scores` trains it (same sample, rows in the same
    order, same seed), so what they score sits on the scale of that fold's out-of-fold scores
    (e.g. machine text generated from the held-out repository's human rows)."""
    pool = load_pool(paths)
    plan = [f for f in plan_folds(pool, max_train_per_repo or MAX_TRAIN_PER_REPO, seed)
            if f.held_out in set(folds)]
    if not plan:
        return {}
    train_rows = np.unique(np.concatenate([f.train for f in plan]))
    sub = pool.take(train_rows)
    feats = featurize_all(sub, web_texts if recipe.web_weight else (), recipe.params)
    out = {}
    for fold in plan:
        t0 = time.time()
        out[fold.held_out] = train_on(sub, feats, np.searchsorted(train_rows, fold.train),
                                      recipe, seed)
        if log is not None:
            log(f"{fold.held_out}: trained on {fold.train.size:,} rows in "
                f"{time.time() - t0:.0f}s")
    return out


def score_with(recipe: Recipe, model: tuple[np.ndarray, float],
               texts: Sequence[str]) -> np.ndarray:
    """Decision values of `texts` under one fold model of `train_fold_models`."""
    coef, b = model
    return LinearScorer(recipe.params, coef).scores(list(texts)) + b


def _table(pool: Pool, fold: str, rows: np.ndarray, role: np.ndarray, scores: np.ndarray,
           threshold: float | None) -> pa.Table:
    return pa.table({
        "fold": [fold] * rows.size, "id": list(pool.ids[rows]),
        "source_repo": list(pool.repo[rows]),
        "label": ["ai" if v else "human" for v in pool.y[rows]],
        "domain": list(pool.domain[rows]), "variant": list(pool.variant[rows]),
        "generator": list(pool.generator[rows]), "language": list(pool.language[rows]),
        "split": list(pool.split[rows]), "role": list(role),
        "score": np.asarray(scores, np.float64), "threshold": [threshold] * rows.size,
    }, schema=SCHEMA)
