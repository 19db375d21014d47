"""Our per-document results in the formats corpus pipelines already act on, so dolma's mixer or
a datatrove filter can drop documents by our scores without running the auditor.

- dolma attributes: one JSON-lines file (gzip) per shard, `{"id", "attributes": {NAME: [[start,
  end, score]]}}`, one line per stored document in the shard's own record order, with names
  `<prefix>__<detector>__score` (the whole document is the span) and boolean provenance flags
  `<prefix>__provenance__<flag>` (a span with score 1.0 when set, none otherwise). Dolma's mixer
  reads an attribute file line by line beside the document file of the same relative path, so
  with `manifest=` only kept documents are exported, in the same order as `filter --write`
  writes them.
- datatrove: one Parquet file per shard, `id` plus one column per score and flag (prefixed
  `<prefix>_`), small enough to load into a dict keyed by id for a `LambdaFilter`.

Both are streamed from the `documents` view in (shard, offset) order.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from auditor.act.shards import GZIP_LEVEL, output_names
from auditor.readers.files import local_path

FLAGS = ("synthetic_by_construction", "pre_cutoff")
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class ExportSummary:
    out_dir: str
    n_shards: int
    n_docs: int
    attribute_names: tuple[str, ...]
    dolma_files: tuple[str, ...]
    datatrove_files: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"out_dir": self.out_dir, "n_shards": self.n_shards, "n_docs": self.n_docs,
                "attribute_names": list(self.attribute_names),
                "dolma_files": list(self.dolma_files),
                "datatrove_files": list(self.datatrove_files)}


class _ShardFiles:
    """The two open outputs of one shard, written to temporary names and renamed on close."""

    def __init__(self, dolma_path: str, datatrove_path: str, schema: pa.Schema) -> None:
        for p in (dolma_path, datatrove_path):
            os.makedirs(os.path.dirname(p) or ".", exist_ok=True)
        self.paths = (dolma_path, datatrove_path)
        self.dolma = gzip.open(dolma_path + ".tmp", "wb", compresslevel=GZIP_LEVEL)
        self.parquet = pq.ParquetWriter(datatrove_path + ".tmp", schema, compression="zstd")

    def close(self) -> None:
        self.dolma.close()
        self.parquet.close()
        for p in self.paths:
            os.replace(p + ".tmp", p)


def export_attributes(db_path: str | os.PathLike, out_dir: str | os.PathLike,
                      prefix: str = "auditor", manifest: str | os.PathLike | None = None
                      ) -> ExportSummary:
    """Write `out_dir/attributes/<prefix>/<shard>.jsonl.gz` (dolma pairs it with `out_dir/documents/<shard>.jsonl.gz`) and `out_dir/datatrove/<shard>.parquet`
    for every shard of the store (with `manifest`, only its kept documents)."""
    from auditor.act.rules import view_types
    from auditor.store import open_store

    if not prefix.replace("_", "").isalnum():
        raise ValueError(f"prefix must be letters, digits and _, got {prefix!r}")
    out = os.fspath(out_dir)
    with open_store(db_path, read_only=True) as store:
        types = view_types(store.con)
        scores = sorted(c for c in types if c.startswith("score_"))
        flags = [f for f in FLAGS if f in types]
        formats = {s["uri"]: s["format"] for s in store.shards()}
        cols = ", ".join(f'"{c}"' for c in ["shard", "offset", "id", "n_chars", *scores, *flags])
        if manifest is not None:
            sql = (f"SELECT {', '.join('d.' + c for c in cols.split(', '))} FROM documents d "
                   "JOIN read_parquet(?) m ON m.shard = d.shard AND m.\"offset\" = d.\"offset\" "
                   "AND m.id = d.id WHERE m.decision = 'keep' ORDER BY d.shard, d.\"offset\"")
            params = [os.fspath(manifest)]
        else:
            sql = f'SELECT {cols} FROM documents ORDER BY shard, "offset"'
            params = []
        shards = [r[0] for r in store.con.execute("SELECT DISTINCT shard FROM documents"
                                                  ).fetchall()]
        local = [local_path(s) for s in shards if "://" not in s]
        root = os.path.commonpath([os.path.dirname(p) for p in local]) if local else None
        out_names = output_names({s: formats.get(s, "jsonl") for s in shards}, root)
        dt_schema = pa.schema([pa.field("id", pa.string())]
                              + [pa.field(f"{prefix}_{c}", pa.float64()) for c in scores]
                              + [pa.field(f"{prefix}_{f}", pa.bool_()) for f in flags])
        names = tuple([f"{prefix}__{c[len('score_'):]}__score" for c in scores]
                      + [f"{prefix}__provenance__{f}" for f in flags])
        reader = store.con.sql(sql, params=params).to_arrow_reader(BATCH_ROWS)
        current: str | None = None
        files: _ShardFiles | None = None
        dolma_files, dt_files = [], []
        n_docs = 0
        try:
            for batch in reader:
                shard_col = batch.column("shard").to_pylist()
                for shard, rows in _split_by_shard(batch, shard_col):
                    if shard != current:
                        if files is not None:
                            files.close()
                        rel = out_names[shard]
                        files = _ShardFiles(
                            os.path.join(out, "attributes", prefix, _as_jsonl_gz(rel)),
                            os.path.join(out, "datatrove", _strip_ext(rel) + ".parquet"),
                            dt_schema)
                        dolma_files.append(files.paths[0])
                        dt_files.append(files.paths[1])
                        current = shard
                    assert files is not None
                    d = rows.to_pydict()
                    lines = []
                    for i, doc_id in enumerate(d["id"]):
                        n = int(d["n_chars"][i] or 0)
                        attrs = {}
                        for c, name in zip(scores, names, strict=False):
                            v = d[c][i]
                            attrs[name] = [] if v is None else [[0, n, float(v)]]
                        for f in flags:
                            attrs[f"{prefix}__provenance__{f}"] = [[0, n, 1.0]] if d[f][i] else []
                        lines.append(json.dumps({"id": doc_id, "attributes": attrs},
                                                ensure_ascii=False))
                    files.dolma.write(("\n".join(lines) + "\n").encode())
                    n_docs += len(lines)
                    tab = {"id": rows.column("id")}
                    for c in scores:
                        tab[f"{prefix}_{c}"] = rows.column(c).cast(pa.float64())
                    for f in flags:
                        tab[f"{prefix}_{f}"] = rows.column(f).cast(pa.bool_())
                    files.parquet.write_table(pa.table(tab, schema=dt_schema))
            if files is not None:
                files.close()
        except BaseException:
            if files is not None:
                for p in files.paths:
                    if os.path.exists(p + ".tmp"):
                        os.unlink(p + ".tmp")
            raise
    return ExportSummary(out, len(dolma_files), n_docs, names, tuple(dolma_files),
                         tuple(dt_files))


def _split_by_shard(batch: pa.RecordBatch, shards: list[str]):
    start = 0
    for i in range(1, len(shards) + 1):
        if i == len(shards) or shards[i] != shards[start]:
            yield shards[start], batch.slice(start, i - start)
            start = i


def _strip_ext(rel: str) -> str:
    for ext in (".jsonl.gz", ".jsonl.zst", ".json.gz", ".jsonl", ".json", ".parquet",
                ".warc.gz", ".wet.gz", ".gz", ".zst"):
        if rel.endswith(ext):
            return rel[: -len(ext)]
    return rel


def _as_jsonl_gz(rel: str) -> str:
    return _strip_ext(rel) + ".jsonl.gz"
