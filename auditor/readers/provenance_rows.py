"""Provenance rows: the readers' arrays (or finished documents) -> `PROVENANCE_SCHEMA` batches.

The one place the derived columns (crawl month, pre-cutoff flag) are computed and the token
estimate (`records.estimate_tokens`, from the `textstats` kernels) is stored, for the readers
(`auditor.readers.columnar`) and for documents built outside them (`provenance_batch`) alike.
It sits with the readers, below the store: the store only writes what these functions build.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.readers.textstats import token_counts
from auditor.records import PROVENANCE_SCHEMA, SNIPPET_CHARS, Document


def provenance_batch(docs: Sequence[Document], cutoff: dt.date) -> pa.RecordBatch:
    """Provenance columns for a batch of documents, in `PROVENANCE_SCHEMA` order.

    For documents whose provenance is already decided (tests and tools that build `Document`s
    themselves; the readers build rows from their batches in `auditor.readers.columnar`). No
    rule is applied here: the documents' fields are stored as they are, and the derived
    columns come from the same `assemble_provenance`.
    """
    texts = [d.text for d in docs]
    # Through exact integer microseconds: naive datetimes are UTC by our convention, not
    # whatever a converter assumes.
    dates = pa.array([utc_micros(d.crawl_date) for d in docs], pa.int64()).cast(
        pa.timestamp("us", tz="UTC"))
    return assemble_provenance(
        ids=pa.array([d.id for d in docs], pa.string()),
        sources=pa.array([d.source for d in docs], pa.string()),
        shards=pa.array([d.shard for d in docs], pa.string()),
        offsets=pa.array([d.offset for d in docs], pa.int64()),
        urls=pa.array([d.url for d in docs], pa.string()),
        domains=pa.array([d.domain for d in docs], pa.string()),
        dates=dates,
        licenses=pa.array([d.license for d in docs], pa.string()),
        languages=pa.array([d.language for d in docs], pa.string()),
        roles=pa.array([d.role for d in docs], pa.string()),
        synthetic=pa.array([d.synthetic_by_construction for d in docs], pa.bool_()),
        n_chars=pa.array([len(t) for t in texts], pa.int64()),
        n_tokens=token_counts(texts),
        snippets=pa.array([t[:SNIPPET_CHARS] for t in texts], pa.string()),
        metas=pa.array([json.dumps(d.meta, default=str, ensure_ascii=False) if d.meta else None
                        for d in docs], pa.string()),
        cutoff=cutoff,
    )


def crawl_months(dates: pa.Array) -> pa.Array:
    """`YYYY-MM` of each UTC timestamp (`strftime("%Y-%m")`), formatted once per distinct month:
    `pc.strftime` per row was the slowest step of building a batch."""
    if dates.null_count == len(dates):
        return pa.nulls(len(dates), pa.string())
    keys = pc.add(pc.multiply(pc.year(dates), 100), pc.month(dates))
    distinct = pc.unique(keys)
    labels = pa.array([None if k is None else f"{k // 100:04d}-{k % 100:02d}"
                       for k in distinct.to_pylist()], pa.string())
    return labels.take(pc.index_in(keys, value_set=distinct))


def assemble_provenance(*, ids: pa.Array, sources: pa.Array, shards: pa.Array,
                        offsets: pa.Array, urls: pa.Array, domains: pa.Array, dates: pa.Array,
                        licenses: pa.Array, languages: pa.Array, roles: pa.Array,
                        synthetic: pa.Array, n_chars: pa.Array, n_tokens: np.ndarray,
                        snippets: pa.Array, metas: pa.Array, cutoff: dt.date) -> pa.RecordBatch:
    """The one place the derived columns (crawl month, pre-cutoff flag) are computed and the
    token estimate stored, so the per-record and the columnar paths cannot drift apart. `dates` are
    `timestamp[us, UTC]`; `n_tokens` are `records.estimate_tokens` per text (the textstats
    kernels), passed in because they are computed in a helper thread."""
    cutoff_ts = pa.scalar(dt.datetime(cutoff.year, cutoff.month, cutoff.day,
                                      tzinfo=dt.timezone.utc), pa.timestamp("us", tz="UTC"))
    columns = [
        ids, sources, shards, offsets, urls, domains, dates,
        crawl_months(dates),
        licenses, languages, roles,
        pc.less(dates, cutoff_ts),
        synthetic, n_chars,
        pa.array(np.asarray(n_tokens, dtype=np.int64), pa.int64()),
        snippets, metas,
    ]
    return pa.RecordBatch.from_arrays(columns, schema=PROVENANCE_SCHEMA)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MICROSECOND = dt.timedelta(microseconds=1)


def utc_micros(x: dt.datetime | None) -> int | None:
    """Microseconds since the epoch, exact; naive datetimes are taken as UTC."""
    if x is None:
        return None
    if x.tzinfo is None:
        x = x.replace(tzinfo=dt.timezone.utc)
    return (x - _EPOCH) // _MICROSECOND
