"""Train a detector on a labeled Parquet file, calibrate it, and record held-out metrics.

Contract for trainable detectors (the n-gram classifier here, the embedding detector elsewhere),
so that one training command, one calibration and one evaluation serve them all:

- `Cls.fit(texts: list[str], labels: np.ndarray, **opts) -> Cls` (classmethod): labels are
  1 = ai, 0 = human; `opts` are the detector's own hyper-parameters (an unknown one raises
  TypeError, so a misspelt option is never silently ignored).
- `instance.save(model_dir)`: writes the model as plain arrays + JSON (no pickle) into the dir.
- `Cls(model_dir=model_dir)`: loads it back, and scores identically to the fitted instance.
- At load, the class reads `calibration.json` with `detectors.calibration.load_calibration`
  (None when absent) and sets `self.calibration`, `self.threshold`, `self.threshold_fpr`;
  `probability(scores)` returns `self.calibration.probability(scores)`.

The training code (not the detector) does everything generic: it splits the labeled set with
`detectors.splits` (fit on `train`, calibrate on `calib`, report on `test`, `test_generator`,
`test_repo`), fits the calibration and the threshold for the stated false-positive rate on the
reloaded model's `calib` scores, and writes `calibration.json` and `training.json` (labeled-data
SHA-256, row counts, options, held-out metrics) into the model dir.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from detectors.calibration import DEFAULT_FPR, fit_calibration, save_calibration
from detectors.splits import split_of

#: Detector name -> "module:Class" of detectors that follow the contract above.
TRAINABLE: dict[str, str] = {
    "classifier": "detectors.classifier:NgramClassifier",
    "embedding": "detectors.embedding:EmbeddingDetector",
}
EVAL_SPLITS = ("test", "test_generator", "test_repo")
_META_COLUMNS = ("id", "generator", "domain", "variant", "language", "source_repo", "pair_key")


@dataclass
class LabeledSet:
    """A labeled set in memory: texts, labels (1 = ai) and per-row metadata with its split."""

    texts: list[str]
    y: np.ndarray
    meta: pa.Table  # id, label, generator, domain, variant, language, source_repo, split, n_chars
    path: Path

    def rows(self, *splits: str) -> np.ndarray:
        """Row indices in any of the given splits."""
        s = np.asarray(self.meta["split"].to_pylist())
        return np.flatnonzero(np.isin(s, list(splits)))


def _label_value(v: Any, path: Path, row: int) -> int:
    if isinstance(v, bool) or isinstance(v, (int, np.integer)):
        if int(v) in (0, 1):
            return int(v)
    elif isinstance(v, str) and v.strip().lower() in ("human", "ai"):
        return int(v.strip().lower() == "ai")
    raise ValueError(
        f"{path}: row {row}: label {v!r} is not 'human'/'ai' (or 0/1); fix or drop that row"
    )


def load_labeled(path: str | Path, text_column: str = "text",
                 label_column: str = "label") -> LabeledSet:
    """Read a labeled Parquet file (columns `text`, `label`; optional id, generator, domain,
    variant, language, source_repo, pair_key) and assign each row its split."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"labeled data not found: {path}")
    try:
        pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    except (OSError, pa.ArrowInvalid) as e:
        raise ValueError(f"{path}: not a readable Parquet file ({e})") from e
    names = set(pf.schema_arrow.names)
    missing = [c for c in (text_column, label_column) if c not in names]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {missing}; a labeled file needs a text column and a "
            f"label column ('human'/'ai'); columns present: {sorted(names)}"
        )
    wanted = [text_column, label_column] + [c for c in _META_COLUMNS if c in names]
    texts: list[str] = []
    labels: list[int] = []
    cols: dict[str, list] = {c: [] for c in _META_COLUMNS}
    row = 0
    for i in range(pf.num_row_groups):
        batch = pf.read_row_group(i, columns=wanted).to_pydict()
        for j, (t, lab) in enumerate(zip(batch[text_column], batch[label_column], strict=True)):
            texts.append(t if isinstance(t, str) else "")
            labels.append(_label_value(lab, path, row + j))
        n = len(batch[text_column])
        for c in _META_COLUMNS:
            cols[c].extend(batch[c] if c in batch else [None] * n)
        row += n
    if not texts:
        raise ValueError(f"{path}: no rows")
    ids = [i if i else _content_id(t) for i, t in zip(cols["id"], texts, strict=True)]
    repos = [r or "unknown" for r in cols["source_repo"]]
    label_str = ["ai" if v else "human" for v in labels]
    split = [split_of(i, lab, g, r, pk) for i, lab, g, r, pk in
             zip(ids, label_str, cols["generator"], repos, cols["pair_key"],
                 strict=True)]
    meta = pa.table({
        "id": ids, "label": label_str, "generator": pa.array(cols["generator"], pa.string()),
        "domain": pa.array(cols["domain"], pa.string()),
        "variant": pa.array(cols["variant"], pa.string()),
        "language": pa.array(cols["language"], pa.string()),
        "source_repo": repos, "split": split,
        "n_chars": pa.array([len(t) for t in texts], pa.int64()),
    })
    return LabeledSet(texts, np.asarray(labels, dtype=np.int8), meta, path)


def _content_id(text: str) -> str:
    """The id a row without one gets: the same 16 hex digits of SHA-1 that
    `auditor.records.content_id` gives a document (kept here: detectors do not import auditor)."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def trainable_class(name: str) -> type:
    """The detector class registered for training under `name` (imported on demand)."""
    try:
        target = TRAINABLE[name]
    except KeyError:
        raise ValueError(f"detector {name!r} is not trainable; trainable: "
                         f"{', '.join(sorted(TRAINABLE))}") from None
    module, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise RuntimeError(f"detector {name!r} cannot be loaded ({target}): {e}; "
                           "install its extra (e.g. pip install 'provenance-auditor[lm]')") from e
    for needed in ("fit", "save"):
        if not hasattr(cls, needed):
            raise RuntimeError(f"detector {name!r} ({target}) lacks `{needed}`; see the "
                               "contract in detectors/training.py")
    return cls


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def train_detector(name: str, labeled_path: str | Path, out_dir: str | Path, *,
                   fpr: float = DEFAULT_FPR, calibration: str = "isotonic",
                   max_train: int | None = None, seed: int = 0, progress=None,
                   **opts: Any) -> dict[str, Any]:
    """Fit detector `name` on the `train` split, save it to `out_dir`, calibrate it on `calib`,
    and return (and write as training.json) what was done and the held-out metrics.

    `max_train` caps the training rows (seeded sample) for quick runs; `progress(msg)` is
    called between stages.
    """
    from detectors.evaluation import split_metrics

    say = progress or (lambda msg: None)
    cls = trainable_class(name)
    say(f"reading {labeled_path}")
    data = load_labeled(labeled_path)
    train = data.rows("train")
    if max_train is not None and train.size > max_train:
        train = np.sort(np.random.default_rng(seed).choice(train, max_train, replace=False))
    calib = data.rows("calib")
    for split_name, idx in (("train", train), ("calib", calib)):
        counts = np.bincount(data.y[idx], minlength=2)
        if counts.min() == 0:
            raise ValueError(
                f"{data.path}: the {split_name} split has {counts[0]} human and {counts[1]} ai "
                "rows; both classes are needed (is the file large enough, are both labels there?)"
            )
    say(f"fitting {name} on {train.size} rows")
    model = cls.fit([data.texts[i] for i in train], data.y[train].astype(int), seed=seed, **opts)
    out = Path(out_dir)
    model.save(out)
    reloaded = cls(model_dir=out)
    say(f"calibrating on {calib.size} rows")
    calib_scores = np.asarray(reloaded.score([data.texts[i] for i in calib]), dtype=np.float64)
    cal = fit_calibration(calib_scores, data.y[calib], calibration, fpr,
                          fitted_on=f"calib split of {data.path.name}")
    save_calibration(cal, out)
    say("scoring held-out splits")
    rows = data.rows(*EVAL_SPLITS)
    scores = np.asarray(reloaded.score([data.texts[i] for i in rows]), dtype=np.float64)
    info = {
        "detector": name,
        "version": str(getattr(reloaded, "version", "0")),
        "trained_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "labeled_data": {"file": data.path.name, "sha256": file_sha256(data.path),
                         "rows": len(data.texts)},
        "n_train": {"human": int((data.y[train] == 0).sum()), "ai": int(data.y[train].sum())},
        "n_calib": {"human": int((data.y[calib] == 0).sum()), "ai": int(data.y[calib].sum())},
        "options": {"seed": seed, "max_train": max_train, **{k: _jsonable(v)
                                                              for k, v in opts.items()}},
        "calibration": {"method": cal.method, "threshold": cal.threshold,
                        "threshold_fpr": cal.threshold_fpr},
        "held_out": split_metrics(scores, data.y[rows],
                                  np.asarray(data.meta["split"].to_pylist())[rows],
                                  cal.threshold, fpr),
        "files": sorted(p.name for p in out.iterdir()) + ["training.json"],
    }
    (out / "training.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return info


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)
