"""Scan throughput and peak memory against raw pyarrow read speed, on generated corpora.

For each size (documents of about 2 KB), in the same run and on the same files:
  raw-arrow    read the text column row group by row group (pyarrow, no Python strings)
  raw-pylist   the same, plus turning every text into a Python string (the least a scanner
               that looks at each document in Python must do)
  readers      `auditor.readers.read_unit` over every unit, nothing stored: how much of a scan
               is the per-record mapping to `Document` (ids, URLs, domains, dates, licences)
  scan-none    `auditor scan --detectors none` (provenance only)
  scan-markers `auditor scan --detectors markers` (the cheapest detector)
  scan-cheap   `auditor scan` with every cheap detector available (the default), on sizes up
               to --cheap-max documents (it is detector-bound and slow on a shared CPU)
Each measurement runs in its own subprocess, which reports its peak RSS (VmHWM, and its
workers' through RUSAGE_CHILDREN). Throughput is
measured inside the subprocess (imports and set-up included, interpreter start excluded).
Corpora go to .bench/ (gitignored) and are reused when present.

    python scripts/bench_scan.py --sizes 10000,100000,1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
ROW_GROUP = 10_000
WORDS = ("time people year way day thing man world life hand part child eye woman place work "
         "week case point government company number group problem fact river stone light "
         "garden city market history science music water energy system model language data "
         "research school family health country story question power money service table "
         "about after again against between because before during through under without "
         "which their there would could should might where while these those other every").split()


def generate(path: Path, n: int, seed: int) -> dict:
    """Write `n` documents of about 2 KB (ids, text, url, date) in row groups of 10k rows."""
    rng = np.random.default_rng(seed)
    vocab = np.array(WORDS)
    tmp = path.with_suffix(".tmp")
    text_bytes = 0
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("url", pa.string()),
                        ("date", pa.string())])
    with pq.ParquetWriter(str(tmp), schema, compression="zstd") as writer:
        for start in range(0, n, ROW_GROUP):
            m = min(ROW_GROUP, n - start)
            lengths = rng.integers(280, 360, m)  # ~2 KB of words
            idx = rng.integers(0, len(vocab), int(lengths.sum()))
            flat = vocab[idx]
            texts, pos = [], 0
            for k in lengths:
                texts.append(" ".join(flat[pos:pos + k]))
                pos += k
            for j in range(0, m, 97):  # a few assistant-style openers for the markers detector
                texts[j] = "As an AI language model, I cannot " + texts[j]
            ids = [f"doc-{start + i}" for i in range(m)]
            urls = [f"https://site{(start + i) % 5000}.example.com/p/{start + i}" for i in range(m)]
            dates = [f"20{18 + (start + i) % 8}-0{1 + (start + i) % 9}-15" for i in range(m)]
            text_bytes += sum(len(t) for t in texts)
            writer.write_table(pa.table({"id": ids, "text": texts, "url": urls, "date": dates},
                                        schema=schema), row_group_size=ROW_GROUP)
    os.replace(tmp, path)
    info = {"docs": n, "text_bytes": text_bytes, "file_bytes": path.stat().st_size}
    path.with_suffix(".json").write_text(json.dumps(info))
    return info


def corpus(folder: Path, n: int) -> tuple[Path, dict]:
    path = folder / f"corpus_{n}.parquet"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path, json.loads(meta.read_text())
    print(f"generating {n:,} documents into {path} ...", flush=True)
    t0 = time.perf_counter()
    info = generate(path, n, seed=n)
    print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    return path, info


PEAK = """
def peak_rss_mb():
    # VmHWM is this process's own high-water mark (reset by exec, unlike ru_maxrss, which
    # would carry the parent's); worker processes count through RUSAGE_CHILDREN.
    import resource
    hwm = 0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
"""

RAW = PEAK + """
import json, sys, time
t0 = time.perf_counter()
import pyarrow.parquet as pq
pf = pq.ParquetFile(sys.argv[1], pre_buffer=False, buffer_size=1 << 20)
docs = 0
for rg in range(pf.metadata.num_row_groups):
    col = pf.read_row_group(rg, columns=["text"], use_threads=False).column(0)
    if sys.argv[2] == "pylist":
        for chunk in col.chunks:
            for t in chunk.to_pylist():
                docs += 1
    else:
        docs += len(col)
print(json.dumps({"seconds": time.perf_counter() - t0, "docs": docs,
                  "peak_rss_mb": peak_rss_mb()}))
"""

READERS = PEAK + """
import json, sys, time
t0 = time.perf_counter()
from auditor.readers import ReaderOptions, discover, plan_units, read_unit
options = ReaderOptions()
docs = 0
for unit in plan_units(discover([sys.argv[1]]), options, 128 << 20):
    for item in read_unit(unit, options):
        docs += 1
print(json.dumps({"seconds": time.perf_counter() - t0, "docs": docs,
                  "peak_rss_mb": peak_rss_mb()}))
"""

SCAN = PEAK + """
import json, sys, time
t0 = time.perf_counter()
from auditor.scan.options import ScanOptions
from auditor.scan.runner import run_scan
s = run_scan([sys.argv[1]], sys.argv[2], ScanOptions(), detectors=sys.argv[3] or None,
             workers=int(sys.argv[4]))
print(json.dumps({"seconds": time.perf_counter() - t0, "docs": s.counts["stored"],
                  "status": s.status, "detectors": s.detectors, "peak_rss_mb": peak_rss_mb()}))
"""


MODES = ("raw-arrow", "raw-pylist", "readers", "scan-none", "scan-markers", "scan-cheap")


def measure(args: list[str]) -> dict:
    """Run a child Python; return its JSON line (seconds, docs, peak_rss_mb)."""
    proc = subprocess.run([sys.executable, "-c", *args], cwd=REPO, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--dir", default=str(REPO / ".bench"))
    ap.add_argument("--detectors", default="",
                    help="cheap detectors for scan-cheap (default: the scan's default tier)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--cheap-max", type=int, default=100_000,
                    help="largest corpus to run scan-cheap on")
    ap.add_argument("--out", default=str(REPO / "reports" / "scan_bench.md"))
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the report from the figures saved by the last run")
    args = ap.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    saved = folder / "scan_bench_results.json"
    if args.report_only:
        data = json.loads(saved.read_text())
        args.sizes, args.workers = data["sizes"], data["workers"]
        write_report(Path(args.out), data["results"], args)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for n in sizes:
        path, info = corpus(folder, n)
        mb = info["text_bytes"] / 1e6
        row = {"n": n, "mb": mb, "file_mb": info["file_bytes"] / 1e6}
        for name, child in (("raw-arrow", [RAW, str(path), "arrow"]),
                            ("raw-pylist", [RAW, str(path), "pylist"]),
                            ("readers", [READERS, str(path)])):
            row[name] = measure(child)
        modes = [("scan-none", "none"), ("scan-markers", "markers")]
        if n <= args.cheap_max:
            modes.append(("scan-cheap", args.detectors))
        for name, dets in modes:
            db = folder / f"bench_{n}_{name}.duckdb"
            for p in (db, Path(f"{db}.wal"), Path(f"{db}.sidecars"), Path(f"{db}.logs")):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            row[name] = measure([SCAN, str(path), str(db), dets, str(args.workers)])
            assert row[name]["docs"] == n, f"{name}: stored {row[name]['docs']} of {n}"
        results.append(row)
        saved.write_text(json.dumps({"sizes": args.sizes, "workers": args.workers,
                                     "results": results}, indent=1))
        for name in MODES:
            if name not in row:
                continue
            r = row[name]
            print(f"{n:>9,} {name:<11} {r['seconds']:8.2f} s {n / r['seconds']:>10,.0f} docs/s "
                  f"{mb / r['seconds']:8.1f} MB/s  peak RSS {r['peak_rss_mb']:6.0f} MB", flush=True)
    write_report(Path(args.out), results, args)


def write_report(out: Path, results: list[dict], args) -> None:
    cheap = next((r["scan-cheap"]["detectors"] for r in results if "scan-cheap" in r), {})
    lines = [
        "<!-- generated by scripts/bench_scan.py; do not edit by hand -->",
        "# Scan throughput and memory",
        "",
        f"Generated by `scripts/bench_scan.py --sizes {args.sizes} --workers {args.workers}` on "
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs (shared with other jobs, so "
        "absolute figures are noisy; ratios are measured in the same run on the same files).",
        "",
        "Corpora: Parquet, documents of about 2 KB (280-360 words), 10k-row row groups, zstd. "
        "MB = MB of document text (UTF-8). Peak RSS: the measuring subprocess's VmHWM (and its workers').",
        f"Cheap detectors in `scan-cheap`: {', '.join(f'{k} v{v}' for k, v in cheap.items()) or 'none'}.",
        "",
        "| docs | mode | seconds | docs/s | MB/s | peak RSS (MB) | vs raw-arrow | vs raw-pylist |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results:
        base_a = row["raw-arrow"]["seconds"]
        base_p = row["raw-pylist"]["seconds"]
        for name in MODES:
            if name not in row:
                continue
            r = row[name]
            lines.append(
                f"| {row['n']:,} | {name} | {r['seconds']:.2f} | {row['n'] / r['seconds']:,.0f} | "
                f"{row['mb'] / r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | "
                f"{base_a / r['seconds']:.3f}x | {base_p / r['seconds']:.3f}x |")
    none_ratio = [r["raw-arrow"]["seconds"] / r["scan-none"]["seconds"] for r in results]
    rss = [max(r[k]["peak_rss_mb"] for k in MODES[3:] if k in r) for r in results]
    lines += [
        "",
        "## Against the targets",
        "",
        f"- Memory flat in corpus size, under 1 GB: scan peak RSS "
        f"{', '.join(f'{x:.0f} MB' for x in rss)} for "
        f"{', '.join(format(r['n'], ',') for r in results)} documents.",
        f"- Provenance-only scan at >= 0.5x raw read speed: "
        f"{', '.join(f'{x:.2f}x' for x in none_ratio)} of raw-arrow.",
        f"- Provenance-only scan against raw-pylist (one Python string per document): "
        f"{', '.join(format(r['raw-pylist']['seconds'] / r['scan-none']['seconds'], '.2f') + 'x' for r in results)}.",
        f"- Share of the provenance-only scan spent in the readers (`read_unit`, mapping each "
        f"record to a `Document`): "
        f"{', '.join(format(r['readers']['seconds'] / r['scan-none']['seconds'], '.0%') for r in results)}.",
        "",
        "raw-arrow decodes the column without creating Python objects; raw-pylist adds one "
        "Python string per document, the floor for any per-document Python work.",
        "",
        "## Reading the figures",
        "",
        f"- Memory target: {'met' if max(rss) < 1024 else 'NOT met'}. A scan holds one work unit "
        "(about 128 MB of input) of provenance rows plus one detector batch of texts, whatever "
        "the corpus size.",
        f"- Speed target (provenance-only >= 0.5x raw-arrow): "
        f"{'met' if min(none_ratio) >= 0.5 else 'NOT met'}. The readers contract yields one "
        "Python `Document` per record (ids, URL and registered domain, date parsing, licence, "
        "source rules, metadata), and that per-record mapping alone runs at the `readers` line, "
        "already below 0.5x; the scan's own work on top (columnar side-car building with "
        "vectorised word counts, atomic Parquet write, catalogue) is the difference between "
        "`readers` and `scan-none`, plus a fixed start-up (imports, store, planning) that "
        "dominates the 10k corpus. Closing the gap needs a columnar reader path (Arrow batches "
        "in, provenance columns computed per distinct URL host / date string / licence) rather "
        "than a per-record one; `--workers N` scales the scan across cores meanwhile.",
        "- Detector lines are bound by the detectors' own cost per document (scan-markers, "
        "scan-cheap), not by the scan.",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
