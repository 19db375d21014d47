"""The corpus-adapted detector (`adapted`): an n-gram classifier fitted on one store's own text.

Why: the shipped classifier's threshold and even its ranking move from genre to genre (its
false-positive rate on human text ranges from 0 to 13% across the labeled genres). A store's
pre-cutoff documents are human text of exactly the corpus being audited, so a model fitted on
them (as human) against machine text (given by the user, or generated from those same documents
by the offline LM: `detectors.lm_generate`) learns what "human" means in this corpus.

Where it lives: `<db>.models/adapted/` beside the store: the classifier's files (`model.json`,
`coef_index.npy`, `coef_value.npy`, `calibration.json`), `reference.parquet` (held-out
pre-cutoff documents and held-out machine texts, scored by this model: the estimation
references) and `adapt.json` (what it was fitted on, its held-out metrics). Every figure it
reports is IN DISTRIBUTION for that store: held-out documents of the same corpus.

This module never reads the store itself (detectors sit before the store in the flow): the
command `auditor detectors adapt` re-reads the texts and hands them to `fit_adapted`; the scan
hands the detector the store's paths (`StorePaths`, received, not imported).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.base import NotConfigured, detector
from detectors.calibration import fit_calibration, save_calibration
from detectors.classifier import NgramClassifier
from detectors.evaluation import binary_metrics

#: Share of each class held out from training: it sets the threshold and is the estimation
#: reference (scores of documents the model never saw).
HELD_OUT_SHARE = 0.3
#: Fewest texts per class to fit anything: below this the held-out slice has a handful of rows.
MIN_PER_CLASS = 10
#: Fine-tuning of the shipped weights on the store's texts: plain SGD at a constant step (one
#: of `ADAPT_STEPS`, chosen per store by cross-validation on its training texts)
#: (an adaptive schedule's first steps are large and would wash the shipped weights out), a
#: weak L2 pull, a few passes. A store gives hundreds to thousands of texts, far too few to
#: learn n-gram weights from scratch (held out, a model fitted from nothing on 310 BBC texts
#: reached AUROC 0.81 where the shipped model reached 0.99).
ADAPT_STEPS = (0.0, 0.05, 0.5, 2.0)
ADAPT_FOLDS = 3
ADAPT_ALPHA = 1e-6
ADAPT_EPOCHS = 5
#: Largest machine-text file read by `read_machine_texts`, and longest text kept.
MAX_MACHINE_FILE_BYTES = 256 * 1024 * 1024
MAX_TEXT_CHARS = 100_000


def store_model_dir(db_path: str | os.PathLike, detector_name: str) -> Path:
    """`<db>.models/<detector>`: a detector version fitted for the store at `db_path`."""
    return Path(os.path.realpath(os.fspath(db_path)) + ".models") / detector_name


def store_reference(db_path: str | os.PathLike, detector_name: str) -> Path | None:
    """The estimation references saved beside a store's own detector version (held-out human
    and machine texts scored by it), or None when the store has none for `detector_name`."""
    path = store_model_dir(db_path, detector_name) / "reference.parquet"
    return path if path.is_file() else None


def adapted_dir(db_path: str | os.PathLike) -> Path:
    """`<db>.models/adapted`: the adapted model of the store at `db_path`."""
    return store_model_dir(db_path, "adapted")


def _held_out(text: str, seed: int) -> bool:
    """Deterministic, content-keyed split: the same text lands on the same side every run."""
    h = hashlib.sha1(f"{seed}:{text}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(h[:4], "big") / 2**32 < HELD_OUT_SHARE


@dataclass(frozen=True)
class AdaptResult:
    folder: Path
    version: str
    n_train_human: int
    n_train_machine: int
    n_held_human: int
    n_held_machine: int
    held_out: dict  # metrics of the adapted model on the held-out slice
    shipped_held_out: dict | None  # the shipped classifier on the same slice, for comparison


def fit_adapted(human: Sequence[str], machine: Sequence[str], out_dir: str | os.PathLike, *,
                machine_origin: Sequence[str] | None = None, seed: int = 0,
                store_note: str = "") -> AdaptResult:
    """Fit, calibrate, evaluate and save the adapted model; write its estimation references.

    `human`: the store's pre-cutoff documents; `machine`: machine texts (`machine_origin`, one
    label per text such as "given" or "generated:rewrite", goes into the reference's
    `generator` column).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from detectors.references import REFERENCE_SCHEMA

    human = [t for t in human if isinstance(t, str) and t.strip()]
    origin = list(machine_origin) if machine_origin is not None else ["given"] * len(machine)
    pairs = [(t, o) for t, o in zip(machine, origin, strict=True)
             if isinstance(t, str) and t.strip()]
    machine = [t for t, _ in pairs]
    origin = [o for _, o in pairs]
    if len(human) < MIN_PER_CLASS or len(machine) < MIN_PER_CLASS:
        raise ValueError(f"adapt needs at least {MIN_PER_CLASS} human and {MIN_PER_CLASS} "
                         f"machine texts; got {len(human)} pre-cutoff documents and "
                         f"{len(machine)} machine texts (scan more pre-cutoff documents, pass "
                         "--machine FILE or raise --generate)")
    texts = human + machine
    y = np.array([0] * len(human) + [1] * len(machine))
    held = np.array([_held_out(t, seed) for t in texts])
    for label in (0, 1):  # each class needs rows on both sides of the split
        idx = np.flatnonzero(y == label)
        if held[idx].all() or not held[idx].any():
            cut = max(1, int(len(idx) * HELD_OUT_SHARE))
            held[idx[:cut]], held[idx[cut:]] = True, False
    train, test = np.flatnonzero(~held), np.flatnonzero(held)
    digest = hashlib.sha1("\x00".join(texts).encode("utf-8", "surrogatepass")).hexdigest()[:12]
    version = f"adapted-{digest}"
    model = _fine_tune([texts[i] for i in train], y[train], seed, version)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out)
    scores = model.score([texts[i] for i in test])
    calib = fit_calibration(scores, y[test], fitted_on="held-out slice of the store's "
                            "pre-cutoff documents and machine texts")
    save_calibration(calib, out)
    held_metrics = binary_metrics(scores, y[test], threshold=calib.threshold)
    shipped = None
    try:
        shipped = binary_metrics(NgramClassifier().score([texts[i] for i in test]), y[test])
    except (FileNotFoundError, ValueError):
        pass
    n = len(test)
    table = pa.table({
        "score": scores.astype(np.float64),
        "label": ["ai" if y[i] else "human" for i in test],
        "generator": [origin[i - len(human)] if y[i] else None for i in test],
        "domain": [None] * n, "source_repo": ["store"] * n, "split": ["held_out"] * n,
        "variant": [None] * n, "language": [None] * n,
        "n_chars": [len(texts[i]) for i in test],
        "id": [hashlib.sha1(texts[i].encode("utf-8", "surrogatepass")).hexdigest()[:16]
               for i in test]}).cast(REFERENCE_SCHEMA)
    pq.write_table(table, out / "reference.parquet", compression="zstd")
    result = AdaptResult(out, version, int((y[train] == 0).sum()), int((y[train] == 1).sum()),
                         int((y[test] == 0).sum()), int((y[test] == 1).sum()), held_metrics,
                         shipped)
    info = {"version": version, "store": store_note, "seed": seed,
            "trainer": model.meta.get("trainer"), "held_out_share": HELD_OUT_SHARE,
            "n_train_human": result.n_train_human, "n_train_machine": result.n_train_machine,
            "n_held_human": result.n_held_human, "n_held_machine": result.n_held_machine,
            "machine_origin": {o: origin.count(o) for o in sorted(set(origin))},
            "held_out_in_distribution": held_metrics, "shipped_classifier_held_out": shipped,
            "note": "figures are in distribution for this store: held-out documents of the "
                    "same corpus and machine texts of the same origin"}
    (out / "adapt.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return result


def _fine_tune(texts: list[str], y: np.ndarray, seed: int, version: str) -> NgramClassifier:
    """The shipped classifier's weights, moved towards this store's texts by a few SGD passes
    (classes balanced by weight), saved in the shipped model's feature space.

    How far to move (the SGD step, 0 = keep the shipped model) is chosen per store by
    `ADAPT_FOLDS`-fold cross-validation on the training texts only (mean AUROC; ties go to
    the smaller step): a fixed step would be tuned on someone's test data, and how much a
    corpus differs from the labeled data is exactly what varies from store to store.
    """
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import roc_auc_score

    from detectors.ngram_features import featurize

    base = NgramClassifier()
    params = base.params
    w0 = np.zeros(params.n_features, dtype=np.float64)
    w0[base.coef_index_] = base.coef_value_.astype(np.float64)
    y = np.asarray(y).astype(int)
    x = featurize(texts, params)

    def fit(rows: np.ndarray, step: float) -> tuple[np.ndarray, float]:
        if step == 0.0:
            return w0, float(base.intercept_)
        yr = y[rows]
        weight = np.where(yr == 1, 0.5 / max(1, yr.sum()), 0.5 / max(1, (1 - yr).sum()))
        sgd = SGDClassifier(loss="log_loss", alpha=ADAPT_ALPHA, learning_rate="constant",
                            eta0=step, max_iter=ADAPT_EPOCHS, tol=None, random_state=seed)
        sgd.fit(x[rows], yr, coef_init=w0.reshape(1, -1),
                intercept_init=np.array([base.intercept_]), sample_weight=weight * yr.size)
        return sgd.coef_.ravel(), float(sgd.intercept_[0])

    fold = np.random.default_rng(seed).permutation(y.size) % ADAPT_FOLDS
    cv: dict[float, float] = {}
    for step in ADAPT_STEPS:
        aucs = []
        for k in range(ADAPT_FOLDS):
            tr, te = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
            if len(set(y[tr])) < 2 or len(set(y[te])) < 2:
                continue
            coef, b = fit(tr, step)
            aucs.append(roc_auc_score(y[te], x[te] @ coef + b))
        cv[step] = float(np.mean(aucs)) if aucs else 0.0
    best = max(cv.values())
    step = min(s for s, a in cv.items() if a >= best - 1e-9)
    coef, b = fit(np.arange(y.size), step)
    trainer = {"model": "shipped classifier fine-tuned by SGD(log_loss), classes balanced",
               "base_version": str(base.version), "step": step, "alpha": ADAPT_ALPHA,
               "epochs": ADAPT_EPOCHS, "seed": seed, "n_train": int(y.size),
               "n_ai": int(y.sum()), "cv_auroc_by_step": {str(k): v for k, v in cv.items()}}
    return NgramClassifier.from_weights(params, coef, b, version=version, trainer=trainer)


def read_machine_texts(path: str | os.PathLike) -> list[str]:
    """Machine texts from a user file: JSONL with a `text` field per line, or plain text with
    one text per blank-line-separated paragraph block. Bounded: the file at most
    `MAX_MACHINE_FILE_BYTES`, each text at most `MAX_TEXT_CHARS` characters. A JSONL line that
    is not an object with a string `text` raises, naming the file and line."""
    p = Path(path)
    size = p.stat().st_size
    if size > MAX_MACHINE_FILE_BYTES:
        raise ValueError(f"{p}: {size:,} bytes is more than the {MAX_MACHINE_FILE_BYTES:,} "
                         "read for machine texts; pass a smaller sample")
    raw = p.read_text(encoding="utf-8", errors="replace")
    if p.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        out = []
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{p} line {n}: not JSON ({e.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise ValueError(f"{p} line {n}: expected an object with a string 'text'")
            out.append(obj["text"][:MAX_TEXT_CHARS])
        return out
    return [b.strip()[:MAX_TEXT_CHARS] for b in raw.split("\n\n") if b.strip()]


@detector(name="adapted", tier="cheap",
          needs="`auditor detectors adapt --db STORE` run on the store first",
          summary="n-gram classifier fitted on the store's own pre-cutoff documents",
          reads_store=True)
class AdaptedDetector(NgramClassifier):
    """The store's adapted model. Built per store by the scan (`store=` its StorePaths); a
    store without one raises `NotConfigured` (the default scan leaves it out silently)."""

    def __init__(self, store=None, model_dir: str | os.PathLike | None = None) -> None:
        folder = Path(model_dir) if model_dir is not None else (
            adapted_dir(store.db) if store is not None else None)
        if folder is None or not (folder / "model.json").is_file():
            raise NotConfigured("no adapted model for this store: run `auditor detectors adapt "
                                "--db STORE` first")
        super().__init__(folder)
