"""Where a projection's inputs come from: the synthetic fraction (and its interval) from a
scanned store's estimates, and human texts for the corpus-grounded model from the store or a
file. Kept apart from the models so those stay pure numpy and testable without a store."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.collapse.schedule import schedule_from_monthly


@dataclass(frozen=True)
class StoreAlpha:
    """alpha and its band as read from a store, and how they were obtained."""

    alpha: float | list[float] | dict[str, tuple[float, float]]
    alpha_ci: tuple[Any, Any]
    notes: tuple[str, ...]


def alpha_from_store(db_path: str | os.PathLike, generations: int, schedule: str = "constant",
                     months_per_generation: int = 12) -> StoreAlpha:
    """The corpus's synthetic fraction with its 95% interval (`schedule="constant"`), a
    growing schedule extrapolated from per-crawl-month estimates (`schedule="monthly"`), or a
    per-source mix weighted by each source's documents (`schedule="by-source"`; its band takes
    every source at its interval's low end, then at its high end)."""
    from auditor.estimate import estimate_db

    db = str(db_path)
    if schedule == "constant":
        ests = estimate_db(db, by=(), record=False)
        overall = next((e for e in ests if not e.group), ests[0] if ests else None)
        if overall is None:
            raise ValueError(f"{db}: estimation returned no estimate (is the store empty?)")
        note = (f"alpha from {db}: {overall.fraction:.4f} [{overall.ci_low:.4f}, "
                f"{overall.ci_high:.4f}] by {overall.method} on detector {overall.detector}, "
                f"{overall.n_docs} documents")
        return StoreAlpha(overall.fraction, (overall.ci_low, overall.ci_high),
                          (note, *overall.notes))
    if schedule == "monthly":
        ests = estimate_db(db, by=("crawl_month",), record=False)
        kw = {"months_per_generation": months_per_generation}
        mid = schedule_from_monthly(ests, generations, **kw)
        lo = schedule_from_monthly(ests, generations, field="ci_low", **kw)
        hi = schedule_from_monthly(ests, generations, field="ci_high", **kw)
        lo = [min(a, b) for a, b in zip(lo, mid, strict=True)]
        hi = [max(a, b) for a, b in zip(hi, mid, strict=True)]
        months = sorted(str(e.group.get("crawl_month")) for e in ests if e.group)
        note = (f"alpha schedule extrapolated (logistic trend) from {len(months)} crawl months "
                f"of {db} ({months[0]}..{months[-1]}), {months_per_generation} months per "
                "generation")
        return StoreAlpha(mid, (lo, hi), (note,))
    if schedule == "by-source":
        ests = [e for e in estimate_db(db, by=("source",), record=False) if e.group]
        if not ests:
            raise ValueError(f"{db}: no per-source estimate (is the store empty?)")
        names = [str(e.group.get("source")) for e in ests]
        mix = {n: (float(e.n_docs), e.fraction) for n, e in zip(names, ests, strict=True)}
        low = {n: (float(e.n_docs), e.ci_low) for n, e in zip(names, ests, strict=True)}
        high = {n: (float(e.n_docs), e.ci_high) for n, e in zip(names, ests, strict=True)}
        note = (f"alpha from {db}: per-source mix of {len(mix)} sources, weighted by documents")
        return StoreAlpha(mix, (low, high), (note,))
    raise ValueError(f"schedule must be 'constant', 'monthly' or 'by-source', got {schedule!r}")


def texts_from_store(db_path: str | os.PathLike, limit: int, seed: int = 0) -> list[str]:
    """Human (pre-cutoff) documents of the audited corpus itself, for the corpus model."""
    from auditor.store import sample_texts

    texts = sample_texts(db_path, limit=limit, pre_cutoff_only=True, seed=seed)
    if not texts:
        raise ValueError(
            f"{db_path}: no pre-cutoff human document could be read back from the shards; "
            "the corpus model needs human text: pass --texts FILE (Parquet or JSONL)")
    return texts


def texts_from_file(path: str | os.PathLike, limit: int, text_column: str = "text") -> list[str]:
    """Texts from a Parquet or JSONL file; when a `label` column/field exists only rows labelled
    'human' are kept, so a labelled evaluation set can be passed as is."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: no such file (expected Parquet or JSONL with a "
                         f"{text_column!r} column)")
    out: list[str] = []
    if p.suffix == ".parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(p, pre_buffer=False, buffer_size=1 << 20)
        names = pf.schema_arrow.names
        if text_column not in names:
            raise ValueError(f"{p}: no column {text_column!r} (columns: {', '.join(names)})")
        cols = [text_column] + (["label"] if "label" in names else [])
        for i in range(pf.num_row_groups):
            tab = pf.read_row_group(i, columns=cols)
            texts = tab.column(text_column).to_pylist()
            labels = tab.column("label").to_pylist() if "label" in cols else [None] * len(texts)
            out.extend(t for t, lab in zip(texts, labels, strict=True)
                       if isinstance(t, str) and lab in (None, "human"))
            if len(out) >= limit:
                break
        return out[:limit]
    with p.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{p}: line {lineno} is not JSON ({exc.msg}); expected one "
                                 f"object per line with a {text_column!r} field") from exc
            if not isinstance(rec, dict) or not isinstance(rec.get(text_column), str):
                raise ValueError(f"{p}: line {lineno} has no string field {text_column!r}")
            if rec.get("label") in (None, "human"):
                out.append(rec[text_column])
            if len(out) >= limit:
                break
    return out
