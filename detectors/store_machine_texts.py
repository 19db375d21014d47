"""Machine texts kept beside a store, per source: the raw material of a machine reference close
to each source (issue 10, item 2).

Why: the shipped machine reference is other corpora's machine text; a detector scores it as more
machine-like than a new source's machine text, so a mixture fitted against it reads about half
the truth. Machine text written by the offline LM from a source's own pre-cutoff documents
(`detectors.lm_generate`, `auditor detectors generate`) or given by the user for that source
shares the source's topics and format. Texts, not scores, are kept: the estimate scores them
with whichever detector it uses (`auditor.estimate.generated`).

Where: `<db>.models/generated/machine_texts.parquet`, columns source, text, origin
("generated:continue", "generated:rewrite" or "given"). Saving a source replaces that source's
rows and keeps the others. Reads are bounded (`MAX_FILE_BYTES`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from detectors.adapted import store_model_dir

FILE_NAME = "machine_texts.parquet"
#: Largest file read back (a few thousand texts per source are far below it).
MAX_FILE_BYTES = 512 * 1024 * 1024


def machine_texts_path(db_path: str | os.PathLike) -> Path:
    """`<db>.models/generated/machine_texts.parquet` (whether or not it exists)."""
    return store_model_dir(db_path, "generated") / FILE_NAME


def save_machine_texts(db_path: str | os.PathLike, source: str, texts: Sequence[str],
                       origins: Sequence[str]) -> Path:
    """Replace `source`'s machine texts beside the store with `texts` (one origin each)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if len(texts) != len(origins):
        raise ValueError(f"{len(texts)} texts but {len(origins)} origins")
    path = machine_texts_path(db_path)
    old = load_machine_texts(db_path, with_origin=True)
    rows = [(s, t, o) for s, pairs in old.items() if s != source for t, o in pairs]
    rows += [(source, t, o) for t, o in zip(texts, origins, strict=True)
             if isinstance(t, str) and t.strip()]
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"source": [r[0] for r in rows], "text": [r[1] for r in rows],
                      "origin": [r[2] for r in rows]},
                     schema=pa.schema([("source", pa.string()), ("text", pa.string()),
                                       ("origin", pa.string())]))
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)
    return path


def load_machine_texts(db_path: str | os.PathLike, with_origin: bool = False) -> dict:
    """{source: [text, ...]} (or [(text, origin), ...] with `with_origin`) kept beside the
    store; empty when there are none. A file that is too large or unreadable raises
    ValueError naming it."""
    import pyarrow.parquet as pq

    path = machine_texts_path(db_path)
    if not path.is_file():
        return {}
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: {size:,} bytes is more than the {MAX_FILE_BYTES:,} read for "
                         "stored machine texts")
    try:
        t = pq.read_table(path, columns=["source", "text", "origin"]).to_pydict()
    except Exception as e:  # noqa: BLE001 - any unreadable file is reported the same way
        raise ValueError(f"{path}: cannot read stored machine texts ({e})") from None
    out: dict[str, list] = {}
    for s, text, origin in zip(t["source"], t["text"], t["origin"], strict=True):
        if s is None or not isinstance(text, str) or not text.strip():
            continue
        out.setdefault(s, []).append((text, origin or "given") if with_origin else text)
    return out
