"""Reference scores: what a detector gives on labeled human and machine text.

Estimation needs, for each detector, the distribution of its scores on known machine text (and,
where a corpus has no pre-cutoff documents of its own, on known human text). These are shipped
as `detectors/models/references/<detector>.parquet`, scored by the shipped detector version on
the development set's non-training splits, and rebuilt by `scripts/train_classifier.py` whenever
a shipped model changes (a reference scored by another model version is meaningless).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REFERENCE_DIR = Path(__file__).resolve().parent / "models" / "references"
REFERENCE_SPLITS = ("calib", "test", "test_generator", "test_repo")
REFERENCE_SCHEMA = pa.schema([
    pa.field("score", pa.float64()),
    pa.field("label", pa.string()),  # human | ai
    pa.field("generator", pa.string()),
    pa.field("domain", pa.string()),
    pa.field("source_repo", pa.string()),
    pa.field("split", pa.string()),
    pa.field("variant", pa.string()),
    pa.field("language", pa.string()),
    pa.field("n_chars", pa.int64()),
    pa.field("id", pa.string()),
])
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def reference_path(detector: str, reference_dir: str | Path | None = None) -> Path:
    if not _NAME.match(detector):
        raise ValueError(f"invalid detector name {detector!r} (expected lower-case identifier)")
    return Path(reference_dir or REFERENCE_DIR) / f"{detector}.parquet"


def load_reference(detector: str, reference_dir: str | Path | None = None) -> pa.Table:
    """The shipped reference scores of `detector` (columns of `REFERENCE_SCHEMA`)."""
    path = reference_path(detector, reference_dir)
    if not path.exists():
        available = sorted(p.stem for p in path.parent.glob("*.parquet"))
        raise FileNotFoundError(
            f"no reference scores for detector {detector!r} at {path}; available: "
            f"{', '.join(available) or 'none'}; build them with `python scripts/train_classifier.py`"
        )
    return pq.read_table(path)


def build_reference(detector_name: str, labeled_path: str | Path, out_path: str | Path,
                    splits: Sequence[str] = REFERENCE_SPLITS, max_rows: int | None = None,
                    seed: int = 0, detector=None) -> pa.Table:
    """Score the labeled rows of `splits` with the detector and write the reference Parquet.

    `detector` overrides `detectors.load(detector_name)` (e.g. a freshly trained model);
    `max_rows` takes a seeded sample (for the expensive tiers).
    """
    import detectors
    from detectors.training import load_labeled

    data = load_labeled(labeled_path)
    rows = data.rows(*splits)
    if max_rows is not None and rows.size > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))
    det = detector if detector is not None else detectors.load(detector_name)
    texts = [data.texts[i] for i in rows]
    scores = np.concatenate([np.asarray(det.score(texts[i:i + 512]), dtype=np.float64)
                             for i in range(0, len(texts), 512)]) if texts else np.zeros(0)
    meta = data.meta.take(pa.array(rows))
    table = pa.table({"score": scores, **{c: meta[c] for c in REFERENCE_SCHEMA.names
                                          if c != "score"}}).cast(REFERENCE_SCHEMA)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(out)
    return table
