"""How a trained detector lives on disk: `model.json` plus named `.npy` arrays, never pickle.

One reader and one writer for every trainable detector (the n-gram classifier, the embedding
head), so the format check, the no-pickle rule and the error a user sees about a missing or
broken model are the same everywhere.
"""

from __future__ import annotations

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
