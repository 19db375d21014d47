"""A corpus with known machine documents, built from the shared labeled set, for tests and
`scripts/bench_filter.py`: per source, human documents crawled before the cutoff (the source's
own human reference) and a post-cutoff mix with a chosen machine share. The labels are kept
apart (returned, never written into the shards), so the auditor sees only text and dates.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

#: source name -> repository of labeled/extra.parquet (repositories the classifier never saw).
SOURCES = {"l2r": "ranhli/l2r_data", "detectrl": "junchaoIU/DetectRL", "biscope": "MarkGHX/BiScope"}


def build_labeled_corpus(extra: Path, out: Path, fractions: dict[str, float], n_pre: int,
                         n_post: int, seed: int = 0, formats: dict[str, str] | None = None,
                         copies: int = 1) -> dict[str, str]:
    """Write one shard per source under `out` (Parquet or gzip JSON lines per `formats`,
    default alternating) and return {id: "human" | "ai"}. `copies` repeats each shard under a
    new name (new ids) to make a bigger corpus for speed measurements."""
    rng = random.Random(seed)
    table = pq.read_table(extra, columns=["id", "text", "label", "source_repo"])
    rows: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for i, text, label, repo in zip(*(table[c].to_pylist() for c in table.column_names),
                                    strict=True):
        rows.setdefault((repo, label), []).append((i, text))
    truth: dict[str, str] = {}
    out.mkdir(parents=True, exist_ok=True)
    for k, (name, frac) in enumerate(sorted(fractions.items())):
        repo = SOURCES[name]
        n_ai = round(n_post * frac)
        human = rng.sample(rows[(repo, "human")], n_pre + n_post - n_ai)
        ai = rng.sample(rows[(repo, "ai")], n_ai)
        docs = []
        for j, (i, text) in enumerate(human):
            pre = j < n_pre
            docs.append((i, text, "human", pre))
        docs += [(i, text, "ai", False) for i, text in ai]
        rng.shuffle(docs)
        fmt = (formats or {}).get(name, "parquet" if k % 2 == 0 else "jsonl")
        for c in range(copies):
            recs = []
            for i, text, label, pre in docs:
                day = (rng.randint(0, 1200) if pre else rng.randint(1, 700))
                base = dt.datetime(2019, 1, 1) if pre else dt.datetime(2022, 12, 5)
                doc_id = f"{name}-{c}-{i}"
                truth[doc_id] = label
                recs.append({"id": doc_id, "text": text,
                             "crawl_date": (base + dt.timedelta(days=day)).strftime("%Y-%m-%d"),
                             "url": f"https://{name}.example.org/{doc_id}"})
            stem = name if copies == 1 else f"{name}-{c:03d}"
            if fmt == "parquet":
                pq.write_table(pa.Table.from_pylist(recs), out / f"{stem}.parquet",
                               row_group_size=2000)
            else:
                with gzip.open(out / f"{stem}.jsonl.gz", "wt", encoding="utf-8") as fh:
                    for r in recs:
                        fh.write(json.dumps(r) + "\n")
    return truth
