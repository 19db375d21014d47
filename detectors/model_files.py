"""How a trained detector lives on disk: `model.json` plus named `.npy` arrays, never pickle.

One reader and one writer for every trainable detector (the n-gram classifier, the embedding
head), so the format check, the no-pickle rule and the error a user sees about a missing or
broken model are the same everywhere.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np


def write_model(model_dir: str | Path, meta: dict[str, Any],
                arrays: dict[str, np.ndarray]) -> Path:
    """Write `model.json` and `<name>.npy` for each array (plain arrays, `allow_pickle=False`)."""
    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        np.save(out / f"{name}.npy", array, allow_pickle=False)
    (out / "model.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return out


def read_model(model_dir: Path, detector: str, model_format: str, array_names: tuple[str, ...],
               train_hint: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """`model.json` (checked to be `model_format`) and the named arrays of a model folder.

    A missing folder or `model.json` raises FileNotFoundError with `train_hint` (how to make
    one); anything unreadable raises ValueError naming the detector and the folder.
    """
    meta_path = model_dir / "model.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{detector}: no model.json in {model_dir}; {train_hint}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != model_format:
            raise ValueError(f"format is {meta.get('format')!r}, expected {model_format!r}")
        arrays = {n: np.load(model_dir / f"{n}.npy", allow_pickle=False) for n in array_names}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{detector}: cannot load model from {model_dir}: {e}") from e
    return meta, arrays


#: Where the shipped models, calibrations and reference score files live.
SHIPPED_DIR = Path(__file__).resolve().parent / "models"


@functools.lru_cache(maxsize=1)
def shipped_models_identity() -> dict[str, str]:
    """{model folder: its `model.json` version} for every shipped model, plus `files`: a
    digest of every shipped file (weights, calibrations, reference scores).

    A result computed with one shipped model must not be reused with another (an audit made
    with classifier v2 read as if v3 had made it). The version is what a reader sees; the
    digest also catches a model retrained or recalibrated without a version bump. Read once
    per process (a few MB)."""
    out: dict[str, str] = {}
    for meta in sorted(SHIPPED_DIR.glob("*/model.json")):
        try:
            out[meta.parent.name] = str(json.loads(meta.read_text("utf-8")).get("version"))
        except (OSError, ValueError):
            out[meta.parent.name] = "unreadable"
    digest = hashlib.sha256()
    for path in sorted(p for p in SHIPPED_DIR.rglob("*") if p.is_file()):
        if path.name == "throughput.json" or "__pycache__" in path.parts:
            continue  # speed measurements, not part of any score
        digest.update(path.relative_to(SHIPPED_DIR).as_posix().encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    out["files"] = digest.hexdigest()[:16]
    return out
