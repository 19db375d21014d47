"""What attribute side-cars (one file per detector per unit) cost and save, against scores kept
inside the provenance side-cars (the layout before), on the same synthetic rows in one run.

For each size, `scripts/gen_store.py` writes a store with the scores inside the provenance
side-cars ("inline"); a copy is split into provenance side-cars plus one attribute side-car per
detector per unit ("attributes", what a scan writes now). Then, on both:
  queries   typical reads of the `documents` view (counts and mean score by source, a
            thresholded count, a score histogram by source and month), fastest of --repeat
  add       adding one detector's scores to every unit: inline rewrites every side-car with
            the new column (as rescoring did), attributes writes one small file per unit
Each figure is a ratio against the inline layout measured in the same run.

    python scripts/bench_attributes.py --sizes 1000000,4000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import gen_store  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from auditor.records import PROVENANCE_SCHEMA, score_column  # noqa: E402
from auditor.store.catalogue import open_store  # noqa: E402
from auditor.store.sidecar import (  # noqa: E402
    read_sidecar,
    read_sidecar_info,
    write_attribute,
    write_sidecar,
)

SCRIPT = "scripts/bench_attributes.py"
ROWS_PER_FILE = 1 << 18
QUERIES = {
    "count and mean by source": "SELECT source, count(*), avg(score_classifier) FROM documents "
                                "GROUP BY source",
    "thresholded count": "SELECT count(*) FROM documents WHERE score_markers > 0.5 "
                         "AND NOT pre_cutoff",
    "histogram by source, month": "SELECT source, crawl_month, floor(score_classifier * 20) b, "
                                  "count(*) FROM documents WHERE role = 'corpus' "
                                  "GROUP BY ALL",
}


def split_into_attributes(db: Path) -> None:
    """Rewrite an inline store as a scan writes it now (provenance + attribute side-cars)."""
    with open_store(db) as store:
        for u in store.units():
            info = read_sidecar_info(u["sidecar"])
            table = read_sidecar(u["sidecar"])
            for det, version in info.detectors.items():
                write_attribute(store.paths.attribute_path(u["sidecar"], det), table,
                                {score_column(det): table.column(score_column(det))}, det,
                                version, info.unit)
            write_sidecar(u["sidecar"], table.select(PROVENANCE_SCHEMA.names), info.unit, {})
        store.refresh_view()


def time_queries(db: Path, repeat: int) -> dict[str, float]:
    out = {}
    with open_store(db, read_only=True) as store:
        store.refresh_view()
        for name, sql in QUERIES.items():
            best = float("inf")
            for _ in range(repeat):
                t0 = time.perf_counter()
                store.con.execute(sql).fetchall()
                best = min(best, time.perf_counter() - t0)
            out[name] = best
    return out


CHECK = ("SELECT shard, count(*), sum(hash(\"offset\", score_classifier)), "
         "sum(hash(\"offset\", score_markers)), sum(hash(\"offset\", score_compression)) "
         "FROM documents GROUP BY shard ORDER BY shard")


def same_rows(a: Path, b: Path) -> bool:
    """Both views give every row the same scores (a wrong join would move or drop them)."""
    got = []
    for db in (a, b):
        with open_store(db, read_only=True) as store:
            store.refresh_view()
            got.append(store.con.execute(CHECK).fetchall())
    return got[0] == got[1]


def add_detector(db: Path, inline: bool) -> tuple[float, int]:
    """Seconds and bytes written to give every unit a new detector's scores."""
    rng = np.random.default_rng(1)
    t0, written = time.perf_counter(), 0
    with open_store(db) as store:
        for u in store.units():
            info = read_sidecar_info(u["sidecar"])
            scores = pa.array(rng.random(info.n_rows))
            if inline:
                table = read_sidecar(u["sidecar"]).append_column("score_added", scores)
                write_sidecar(u["sidecar"], table, info.unit, {**info.detectors, "added": "1"})
                written += os.path.getsize(u["sidecar"])
            else:
                path = store.paths.attribute_path(u["sidecar"], "added")
                key = read_sidecar(u["sidecar"], ["shard", "offset"])
                write_attribute(path, key, {"score_added": scores}, "added", "1", info.unit)
                written += os.path.getsize(path)
    return time.perf_counter() - t0, written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000000")
    ap.add_argument("--dir", default=str(REPO / ".bench" / "attributes"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "reports" / "attributes_bench.md"))
    args = ap.parse_args()
    rows_out = []
    for n in [int(s) for s in args.sizes.split(",")]:
        base = Path(args.dir) / f"{n}"
        inline, attrs = base / "inline" / "a.duckdb", base / "attributes" / "a.duckdb"
        shutil.rmtree(base, ignore_errors=True)
        inline.parent.mkdir(parents=True)
        print(f"{n:,} rows: generating", flush=True)
        gen_store.generate(inline, n, rows_per_file=ROWS_PER_FILE)
        attrs.parent.mkdir(parents=True)
        for suffix in ("", ".sidecars"):
            src, dst = Path(f"{inline}{suffix}"), Path(f"{attrs}{suffix}")
            (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
        split_into_attributes(attrs)
        same = same_rows(inline, attrs)
        q_inline, q_attrs = time_queries(inline, args.repeat), time_queries(attrs, args.repeat)
        add_inline, add_attrs = add_detector(inline, True), add_detector(attrs, False)
        rows_out.append((n, q_inline, q_attrs, add_inline, add_attrs, same))
        shutil.rmtree(base, ignore_errors=True)
    write_report(Path(args.out), rows_out, args)


def write_report(out: Path, results: list, args) -> None:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"<!-- generated by {SCRIPT}; do not edit by hand -->",
             "# Attribute side-cars against scores inside provenance side-cars", "",
             f"Generated by `{SCRIPT} --sizes {args.sizes} --repeat {args.repeat}` on {now}, "
             f"Python {platform.python_version()}, {os.cpu_count()} CPUs (shared with other "
             "jobs: absolute figures are noisy; ratios are measured in the same run on the "
             "same rows).", "",
             f"Rows from `scripts/gen_store.py` (12 sources, 3 detectors), {ROWS_PER_FILE:,} "
             "rows per unit. `inline`: scores inside the provenance side-cars (the layout "
             "before); `attributes`: provenance side-cars plus one attribute side-car per "
             "detector per unit, joined by the `documents` view on (shard, offset).", "",
             "## Reading the `documents` view (fastest of the repeats)", "",
             "| rows | query | inline (s) | attributes (s) | attributes / inline |",
             "|---:|---|---:|---:|---:|"]
    for n, qi, qa, _, _, _ in results:
        for name in QUERIES:
            lines.append(f"| {n:,} | {name} | {qi[name]:.3f} | {qa[name]:.3f} | "
                         f"{qa[name] / qi[name]:.2f}x |")
    lines += ["", "## Adding one detector's scores to every unit", "",
              "| rows | inline: seconds | inline: MB written | attributes: seconds | "
              "attributes: MB written | time saved |", "|---:|---:|---:|---:|---:|---:|"]
    for n, _, _, (si, bi), (sa, ba), _ in results:
        lines.append(f"| {n:,} | {si:.2f} | {bi / 1e6:.1f} | {sa:.2f} | {ba / 1e6:.1f} | "
                     f"{si / sa:.1f}x faster |")
    lines += ["", "Every row carries the same scores through both views (per-shard sums of "
              "hash(offset, score) for each detector, exact integers): "
              + ", ".join(f"{r[0]:,} rows {'yes' if r[5] else 'NO'}" for r in results) + "."]
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
