"""Evaluate registered detectors on a labeled set: separability, low-FPR recall, threshold
transfer and speed, overall and per split, domain, generator, language and length bucket.

Random-row test sets flatter a detector, so every figure is also given on the splits that hold
out whole generators (`test_generator`) and whole source repositories (`test_repo`); see
`detectors.splits`. TPR is reported at 1% FPR because a corpus is mostly human text: at a
higher FPR the false positives swamp the machine text being counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from auditor.records import NON_AUTHORSHIP_DETECTORS
from detectors.calibration import DEFAULT_FPR, threshold_for_fpr

LENGTH_BUCKETS = ((0, 200), (200, 500), (500, 1000), (1000, 2000), (2000, 5000),
                  (5000, 10**12))
MIN_GROUP = 20  # groups smaller than this per class get no AUROC (too noisy to print)


def binary_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float | None = None,
                   fpr: float = DEFAULT_FPR) -> dict[str, Any]:
    """AUROC, TPR at `fpr` (threshold from these human scores), and FPR/TPR at the shipped
    `threshold` (None when not given). Labels: 1 = ai. Classes absent -> metrics None."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(int)
    finite = np.isfinite(s)
    if not finite.all():  # NaN/-inf: least machine-like ("not flagged"); +inf: most
        lo, hi = (s[finite].min(), s[finite].max()) if finite.any() else (0.0, 0.0)
        s = np.nan_to_num(s, nan=lo - 1.0, neginf=lo - 1.0, posinf=hi + 1.0)
    h, a = s[y == 0], s[y == 1]
    out: dict[str, Any] = {"n_human": int(h.size), "n_ai": int(a.size), "auroc": None,
                           f"tpr_at_{_pct(fpr)}fpr": None, "fpr_at_threshold": None,
                           "tpr_at_threshold": None}
    if threshold is not None:
        if h.size:
            out["fpr_at_threshold"] = float(np.mean(h > threshold))
        if a.size:
            out["tpr_at_threshold"] = float(np.mean(a > threshold))
    if h.size and a.size:
        from sklearn.metrics import roc_auc_score

        out["auroc"] = float(roc_auc_score(y, s))
        out[f"tpr_at_{_pct(fpr)}fpr"] = float(np.mean(a > threshold_for_fpr(h, fpr)))
    return out


def _pct(fpr: float) -> str:
    return f"{fpr * 100:g}"


def length_bucket(n_chars: int) -> str:
    for lo, hi in LENGTH_BUCKETS:
        if lo <= n_chars < hi:
            return f"{lo}-{hi}" if hi < 10**12 else f">={lo}"
    return "?"


def split_metrics(scores: np.ndarray, y: np.ndarray, split: np.ndarray,
                  threshold: float | None, fpr: float = DEFAULT_FPR) -> dict[str, Any]:
    """Metrics on each evaluation split. The held-out-generator split has only ai rows, so its
    human side is the random `test` split's human rows."""
    out: dict[str, Any] = {}
    for name in ("test", "test_generator", "test_repo"):
        mask = split == name
        if name == "test_generator":
            mask = mask | ((split == "test") & (y == 0))
        if mask.any():
            out[name] = binary_metrics(scores[mask], y[mask], threshold, fpr)
    return out


def grouped_metrics(scores: np.ndarray, y: np.ndarray, meta: dict[str, np.ndarray],
                    threshold: float | None, fpr: float = DEFAULT_FPR) -> dict[str, Any]:
    """Metrics overall, per split, and per domain / variant / generator / language / length.

    Per generator and per variant, the positives are that group's ai rows and the negatives all
    human rows of the evaluated set (human text has no generator). Other groups compare both classes within
    the group. Groups with fewer than MIN_GROUP rows of a class are left out.
    """
    split = meta["split"]
    out: dict[str, Any] = {"overall": binary_metrics(scores, y, threshold, fpr),
                           "split": split_metrics(scores, y, split, threshold, fpr)}
    human = y == 0
    for key in ("domain", "language", "length"):
        groups: dict[str, Any] = {}
        values = meta[key]
        for g in sorted({v for v in values if v is not None}):
            m = values == g
            n_h, n_a = int((m & human).sum()), int((m & ~human).sum())
            if n_h + n_a >= MIN_GROUP:
                res = binary_metrics(scores[m], y[m], threshold, fpr)
                if min(n_h, n_a) < MIN_GROUP:
                    res["auroc"] = None
                    res[f"tpr_at_{_pct(fpr)}fpr"] = None
                groups[g] = res
        out[key] = groups
    for key in ("generator", "variant"):  # groups of ai rows, each against all human rows
        groups = {}
        for g in sorted({v for v in meta[key][~human] if v is not None}):
            pos = (meta[key] == g) & ~human
            if int(pos.sum()) >= MIN_GROUP:
                m = pos | human
                groups[g] = binary_metrics(scores[m], y[m], threshold, fpr)
                groups[g]["held_out"] = bool(np.any(split[pos] == "test_generator"))
        out[key] = groups
    return out


def stratified_sample(strata: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """About `n` row indices, spread evenly over the distinct values of `strata` (seeded)."""
    rng = np.random.default_rng(seed)
    keys = sorted(set(strata.tolist()))
    per = max(1, n // max(1, len(keys)))
    picked = []
    for k in keys:
        idx = np.flatnonzero(strata == k)
        picked.append(rng.choice(idx, min(per, idx.size), replace=False))
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=int)


def timed_scores(detector: Any, texts: Sequence[str], batch_size: int = 256
                 ) -> tuple[np.ndarray, dict[str, float]]:
    """Scores in batches, and the speed of the whole run: `docs_per_s` (wall clock) and
    `docs_per_cpu_s` (per second of this process's CPU time, i.e. per core: robust on a machine
    shared with other jobs, where wall-clock rates mostly measure the queue)."""
    wall, cpu = time.perf_counter(), time.process_time()
    parts = [np.asarray(detector.score(list(texts[i:i + batch_size])), dtype=np.float64)
             for i in range(0, len(texts), batch_size)]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    scores = np.concatenate(parts) if parts else np.zeros(0)
    return scores, {"docs_per_s": len(texts) / wall if wall > 0 else float("inf"),
                    "docs_per_cpu_s": len(texts) / cpu if cpu > 0 else float("inf")}


def evaluate(labeled_path: str, detector_names: Sequence[str] | None = None, *,
             sample: int = 300, model_sample: int = 2000, fpr: float = DEFAULT_FPR,
             seed: int = 0, max_rows: int | None = None,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate detectors on the held-out splits of a labeled Parquet file.

    The cheap tier scores every held-out row (or a seeded `max_rows` sample); the model tier a
    stratified sample of `model_sample` rows and the lm tier one of `sample` rows (split x
    label), since on a CPU they run at tens and single documents a second. A detector that cannot be loaded or
    fails is recorded with the reason, never silently dropped.
    """
    import detectors
    from detectors.training import EVAL_SPLITS, load_labeled

    say = progress or (lambda msg: None)
    data = load_labeled(labeled_path)
    rows_all = data.rows(*EVAL_SPLITS)
    if max_rows is not None and rows_all.size > max_rows:
        rows_all = np.sort(np.random.default_rng(seed).choice(rows_all, max_rows, replace=False))
    cols = {c: np.asarray(data.meta[c].to_pylist(), dtype=object)
            for c in ("split", "domain", "generator", "language", "variant")}
    cols["length"] = np.asarray([length_bucket(n) for n in data.meta["n_chars"].to_pylist()],
                                dtype=object)
    specs = {s.name: s for s in detectors.specs()}
    names = list(detector_names) if detector_names else [
        n for n in specs if n not in NON_AUTHORSHIP_DETECTORS]  # contamination is no AI score
    results: dict[str, Any] = {}
    for name in names:
        spec = specs.get(name)
        if spec is None:
            results[name] = {"skipped": f"unknown detector {name!r}"}
            continue
        rows = rows_all
        if spec.tier in ("lm", "model"):
            strata = np.asarray([f"{s}|{y}" for s, y in zip(cols["split"][rows_all],
                                                           data.y[rows_all], strict=True)])
            n = sample if spec.tier == "lm" else model_sample
            rows = rows_all[stratified_sample(strata, n, seed)]
        say(f"{name}: loading")
        try:
            det = detectors.load(name)
        except Exception as e:  # noqa: BLE001 - any failure is a reason to report, not a crash
            results[name] = {"tier": spec.tier, "skipped": f"cannot load: {type(e).__name__}: {e}"}
            continue
        say(f"{name}: scoring {rows.size} texts")
        try:
            scores, speed = timed_scores(det, [data.texts[i] for i in rows])
        except Exception as e:  # noqa: BLE001
            results[name] = {"tier": spec.tier, "skipped": f"scoring failed: {type(e).__name__}: {e}"}
            continue
        finally:
            det.close()
        res = grouped_metrics(scores, data.y[rows], {k: v[rows] for k, v in cols.items()},
                              getattr(det, "threshold", None), fpr)
        res.update(tier=spec.tier, version=str(getattr(det, "version", "?")), n=int(rows.size),
                   **speed,
                   mean_chars=float(np.mean([len(data.texts[i]) for i in rows])) if rows.size
                   else 0.0, threshold=getattr(det, "threshold", None),
                   threshold_fpr=getattr(det, "threshold_fpr", None))
        results[name] = res
    return {"labeled": str(labeled_path), "fpr": fpr, "seed": seed, "detectors": results}
