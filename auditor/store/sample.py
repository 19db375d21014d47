"""Real document texts back out of a store, for steps that need text and not just scores.

The store keeps no text beyond a snippet (side-cars stay small), so a sample is drawn from the
`documents` rows and its texts re-read from the shards through the readers, with the reader
options of the run that stored them. Used for example by the collapse model's corpus-grounded
n-gram language model, which wants human (pre-cutoff) documents of this very corpus.
"""

from __future__ import annotations

import json
import os

from auditor.readers.base import WorkUnit
from auditor.store.catalogue import open_store


def sample_texts(db_path: str | os.PathLike, limit: int, pre_cutoff_only: bool = True,
                 seed: int = 0, source: str | None = None) -> list[str]:
    """Up to `limit` document texts, a deterministic sample for a given `seed`.

    `pre_cutoff_only` keeps documents crawled before the scan's cutoff that are neither
    synthetic by construction nor machine references (the human reference of the corpus);
    `source` restricts to one source. Documents whose shard changed or vanished since the scan
    are left out, so fewer than `limit` texts can come back.
    """
    if limit <= 0:
        return []
    from auditor.readers import read_unit
    from auditor.readers.base import reader_options_from_dict

    with open_store(db_path, read_only=True) as store:
        files = store.sidecars_sql()
        if files is None:
            return []
        where = ["TRUE"]
        params: list = []
        if pre_cutoff_only:
            where.append("d.pre_cutoff AND NOT d.synthetic_by_construction "
                         "AND d.role <> 'machine_reference'")
        if source is not None:
            where.append("d.source = ?")
            params.append(source)
        params += [str(seed), limit]
        rows = store.con.execute(
            "SELECT d.shard, d.\"offset\", d.id, u.part, u.n_parts, u.range_start, "
            "u.range_stop, s.format, s.size, s.mtime, s.etag, r.options "
            f"FROM read_parquet({files}, union_by_name=true, filename=true) d "
            "JOIN units u ON parse_filename(d.filename) = parse_filename(u.sidecar) "
            "JOIN shards s ON s.uri = u.shard "
            "JOIN runs r ON r.run_id = u.run_id "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY md5(d.id || ':' || CAST(d.\"offset\" AS VARCHAR) || ':' || ?) "
            "LIMIT ?", params).fetchall()
    wanted: dict[tuple, dict[int, str]] = {}
    order: list[tuple[str, int]] = []
    for shard, offset, doc_id, part, n_parts, start, stop, fmt, size, mtime, etag, opts in rows:
        key = (shard, part, n_parts, start, stop, fmt, size, mtime, etag, opts)
        wanted.setdefault(key, {})[offset] = doc_id
        order.append((shard, offset))
    texts: dict[tuple[str, int], str] = {}
    for key, offsets in wanted.items():
        shard, part, n_parts, start, stop, fmt, size, mtime, etag, opts = key
        unit = WorkUnit(shard=shard, format=fmt, part=part, n_parts=n_parts, start=start,
                        stop=stop, size=size or 0, mtime=mtime, etag=etag)
        reader = reader_options_from_dict(json.loads(opts).get("reader", {}))
        remaining = dict(offsets)
        items = read_unit(unit, reader)
        try:
            for item in items:
                doc_id = remaining.get(getattr(item, "offset", None))
                if doc_id is not None and doc_id == getattr(item, "id", None):
                    texts[(shard, item.offset)] = item.text
                    del remaining[item.offset]
                    if not remaining:
                        break
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
    return [texts[k] for k in order if k in texts]
