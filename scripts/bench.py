"""Project benchmarks (issue 7): scan, detectors, estimation and the Ray executor, each figure
beside a baseline measured in the same run; writes reports/bench.md.

Parts (run all, or some with --parts; results of each part are kept in .bench/bench.json, so a
part can be re-run alone and the report still shows the others, with the time each was taken):

  scan       `run_scan` with the cheap detectors on 10k / 100k / 1M generated 2 KB documents,
             against raw pyarrow reading of the same files (corpora, child-process harness and
             raw-read code reused from scripts/bench_scan.py)
  detectors  docs/s per core of every registered detector on 2 KB texts of the shared labeled
             set, against whitespace tokenisation (reused from scripts/eval_detectors.py);
             tokens/s for LM detectors
  estimate   `auditor estimate` on synthetic stores of 10M and 100M rows (scripts/gen_store.py),
             seconds and peak RSS in a subprocess, against one DuckDB pass over the same files
  ray        the same scan on the Ray executor and on the local one, same input, same run

Every measurement runs in its own child process, which reports wall seconds, CPU seconds
(itself plus waited-for children: per-core rates stay meaningful on a machine shared with other
jobs, where wall time mostly measures the queue) and peak RSS (VmHWM; children's max RSS).
Generated data lives in .bench/ (gitignored) and is reused.

    python scripts/bench.py                                   # everything (about an hour here)
    python scripts/bench.py --parts estimate --rows 10000000  # one part
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import bench_scan  # noqa: E402  (corpus generation and the raw-read harness)
import gen_store  # noqa: E402

SCRIPT = "scripts/bench.py"
BENCH = REPO / ".bench"
RESULTS = BENCH / "bench.json"
REPORT = REPO / "reports" / "bench.md"
PARTS = ("scan", "scan_all_cheap", "detectors", "estimate", "estimate_costs", "ray")
#: Every cheap detector, including those the default scan leaves out (`DEFAULT_EXCLUDED`).
ALL_CHEAP = "classifier,compression,markers"
TARGET_DOCS_PER_CORE = 5000
TARGET_MB_PER_CORE = 10.0
TARGET_EST_SECONDS = 30.0
TARGET_EST_RSS_MB = 2048.0

CPU = bench_scan.CPU

#: bench_scan's raw read (text column by row group), timed with CPU seconds as well.
RAW = bench_scan.RAW

SCAN = bench_scan.PEAK + CPU + """
import json, sys, time
t0, c0 = time.perf_counter(), cpu_s()
from auditor.scan.options import ScanOptions
from auditor.scan.runner import run_scan
path, db, dets, workers, executor, unit_bytes = sys.argv[1:7]
kwargs = {}
startup = 0.0
if executor == "ray":  # start the cluster apart, to report the scan without Ray's start-up
    from auditor.scan.ray_executor import init_local_cluster, ray_executor
    t1 = time.perf_counter()
    init_local_cluster(num_cpus=int(workers))
    startup = time.perf_counter() - t1
    kwargs["executor"] = ray_executor()
s = run_scan([path], db, ScanOptions(unit_bytes=int(unit_bytes)), detectors=dets or None,
             workers=int(workers), **kwargs)
seconds = time.perf_counter() - t0
if executor == "ray":
    import ray
    ray.shutdown()
print(json.dumps({"seconds": seconds, "cluster_start_s": startup, "cpu_s": cpu_s() - c0,
                  "docs": s.counts["stored"], "units": s.counts["units"], "status": s.status,
                  "detectors": s.detectors, "peak_rss_mb": peak_rss_mb()}))
"""

DUCK_PASS = bench_scan.PEAK + CPU + """
import json, sys, time
t0, c0 = time.perf_counter(), cpu_s()
import duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
row = con.execute("SELECT count(*), sum(score_classifier), count(DISTINCT source) "
                  "FROM read_parquet(?)", [sys.argv[1]]).fetchone()
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_s": cpu_s() - c0, "rows": row[0],
                  "peak_rss_mb": peak_rss_mb()}))
"""


def child(code: str, *args: str, timeout: float | None = None) -> dict:
    """Run `code` in a fresh Python; its last stdout line is a JSON result."""
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


ESTIMATE_CHILD = bench_scan.PEAK + CPU + """
import json, sys, time
t0, c0 = time.perf_counter(), cpu_s()
from click.testing import CliRunner
from auditor.cli import main
res = CliRunner().invoke(main, ["estimate", "--db", sys.argv[1], "--json", "--no-record"])
if res.exit_code != 0:
    raise SystemExit(f"auditor estimate failed ({res.exit_code}): {res.output[-2000:]}")
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_s": cpu_s() - c0,
                  "estimates": json.loads(res.stdout), "peak_rss_mb": peak_rss_mb()}))
"""


def fresh_db(path: Path) -> Path:
    for p in (path, Path(f"{path}.wal"), Path(f"{path}.sidecars"), Path(f"{path}.logs")):
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    return path


def log(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", flush=True)


# ------------------------------------------------------------------------------------ parts

def part_scan(args) -> dict:
    """Cheap-tier scan against raw pyarrow reads, at each corpus size, one worker."""
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        path, info = bench_scan.corpus(BENCH, n)
        row = {"n": n, "mb": info["text_bytes"] / 1e6, "file_mb": info["file_bytes"] / 1e6}
        for mode in ("arrow", "pylist"):
            log(f"scan part: raw-{mode} on {n:,} docs")
            row[f"raw-{mode}"] = child(RAW, str(path), mode)
        log(f"scan part: scan-cheap on {n:,} docs")
        db = fresh_db(BENCH / f"bench_h8_{n}_cheap.duckdb")
        row["scan-cheap"] = child(SCAN, str(path), str(db), args.detectors, "1", "local",
                                  str(128 << 20))
        if row["scan-cheap"]["docs"] != n:
            raise RuntimeError(f"scan stored {row['scan-cheap']['docs']} of {n} documents")
        rows.append(row)
        log(f"  {_rate(row, 'scan-cheap')}")
    return {"rows": rows, "detectors": rows[-1]["scan-cheap"]["detectors"] if rows else {}}


def part_scan_all_cheap(args) -> dict:
    """The scan with every cheap detector named (compression included), same corpora."""
    rows = []
    for n in [int(s) for s in args.all_cheap_sizes.split(",")]:
        path, info = bench_scan.corpus(BENCH, n)
        row = {"n": n, "mb": info["text_bytes"] / 1e6}
        log(f"scan_all_cheap part: raw-arrow and scan-all-cheap on {n:,} docs")
        row["raw-arrow"] = child(RAW, str(path), "arrow")
        db = fresh_db(BENCH / f"bench_h8_{n}_allcheap.duckdb")
        row["scan-all-cheap"] = child(SCAN, str(path), str(db), ALL_CHEAP, "1", "local",
                                      str(128 << 20))
        rows.append(row)
        log(f"  {_rate(row, 'scan-all-cheap')}")
    return {"rows": rows, "detectors": rows[-1]["scan-all-cheap"]["detectors"] if rows else {}}


def _rate(row: dict, mode: str) -> str:
    r = row[mode]
    return (f"{mode}: {r['seconds']:.1f} s wall, {r['cpu_s']:.1f} s CPU, "
            f"{row['n'] / r['cpu_s']:,.0f} docs/CPU-s, peak {r['peak_rss_mb']:.0f} MB")


def part_detectors(args) -> dict:
    """Per-detector docs per CPU-second on 2 KB texts (eval_detectors' measurement)."""
    import numpy as np
    import pyarrow.parquet as pq
    from eval_detectors import DOC_CHARS, measure_throughput

    import detectors

    pf_path = REPO.parent / "shared" / "data" / "labeled" / "dev.parquet"
    texts_all = pq.read_table(pf_path, columns=["text"]).column("text").to_pylist()
    long_rows = [i for i, t in enumerate(texts_all) if len(t) >= DOC_CHARS]
    pick = np.random.default_rng(0).choice(long_rows, min(args.speed_docs, len(long_rows)),
                                           replace=False)
    texts = [texts_all[i][:DOC_CHARS] for i in pick]
    names = [s.name for s in detectors.specs()]
    log(f"detectors part: {', '.join(names)} on {len(texts)} texts ({args.lm_docs} for lm tier)")
    speed = measure_throughput(names, texts, args.lm_docs)
    tiers = {s.name: s.tier for s in detectors.specs()}
    tokens = _lm_tokens_per_doc(texts[:args.lm_docs])
    for name, r in speed["detectors"].items():
        r["tier"] = tiers[name]
        if tiers[name] == "lm" and "docs_per_s" in r and tokens:
            r["tokens_per_doc"] = tokens
            r["tokens_per_s"] = r["docs_per_s"] * tokens
    return {**speed, "n_texts": len(texts), "doc_chars": DOC_CHARS,
            "gpu": _gpu_name()}


def _lm_tokens_per_doc(texts: list[str]) -> float | None:
    """Mean tokens an LM detector scores per text (its tokenizer, its max_tokens cut)."""
    try:
        import detectors
        from detectors.lm_tokens import encode_texts

        det = detectors.load("lm")
        ids = encode_texts(det._models[0].tokenizer, texts, det.max_tokens)
        det.close()
        return sum(len(i) for i in ids) / max(len(ids), 1)
    except Exception as exc:  # noqa: BLE001 - reported as missing, the rest goes on
        log(f"  LM tokens per doc unavailable: {type(exc).__name__}: {exc}")
        return None


def _gpu_name() -> str | None:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001
        return None


def part_estimate(args) -> dict:
    """`auditor estimate` on synthetic stores, against one DuckDB pass over the same files."""
    out = []
    for rows in [int(r) for r in args.rows.split(",")]:
        db = BENCH / f"est_{_short(rows)}" / "audit.duckdb"
        truth = gen_store.ensure(db, rows)
        glob = f"{db}.sidecars/*.parquet"
        log(f"estimate part: DuckDB baseline pass over {rows:,} rows")
        base = child(DUCK_PASS, glob)
        log(f"estimate part: auditor estimate over {rows:,} rows (timeout {args.est_timeout} s)")
        try:
            est = child(ESTIMATE_CHILD, str(db), timeout=args.est_timeout)
        except subprocess.TimeoutExpired:
            est = {"timed_out": True, "timeout_s": args.est_timeout}
        entry = {"rows": rows, "truth": truth, "baseline": base, "estimate": est}
        if not est.get("timed_out"):
            e = est["estimates"][0]
            entry["true_target_fraction"] = truth["machine_rows"] / e["n_docs"]
            log(f"  {est['seconds']:.1f} s wall, {est['cpu_s']:.1f} s CPU, peak "
                f"{est['peak_rss_mb']:.0f} MB; fraction {e['fraction']:.4f} "
                f"[{e['ci_low']:.4f}, {e['ci_high']:.4f}] vs true "
                f"{entry['true_target_fraction']:.4f}")
        else:
            log(f"  did not finish within {args.est_timeout} s")
        out.append(entry)
    return {"stores": out}


#: What one pass of each kind of per-row work costs in DuckDB over a store: the building blocks
#: of the estimator's queries (`auditor.estimate.histograms`), to show what dominates its time.
PASS_COSTS = bench_scan.PEAK + CPU + """
import json, sys, time
import duckdb
import numpy as np
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.read_parquet(sys.argv[1]).create_view("d")
edges = [float(x) for x in np.quantile(np.random.default_rng(0).normal(size=10000),
                                       np.linspace(0, 1, 101)[1:-1])]
from auditor.estimate.histograms import bin_sql
queries = {
    "plain pass (sum of a score)": ("SELECT sum(score_classifier) FROM d", {}),
    "reference slice by md5_number(id) (the estimator before 2026-11-25)":
        ("SELECT sum(((md5_number(CAST(id AS VARCHAR)) % 100) < 50)::INT) FROM d", {}),
    "reference slice by hash(id) (as estimate does)":
        ("SELECT sum(((hash(CAST(id AS VARCHAR)) % 100) < 50)::INT) FROM d", {}),
    "bin by list_filter over 99 edges (the estimator before 2026-11-25)":
        ("SELECT len(list_filter($edges::DOUBLE[], lambda e: e <= score_classifier)) AS b, "
         "count(*) FROM d GROUP BY ALL", {"edges": edges}),
    "bin by ASOF join on an edge table":
        ("WITH e AS (SELECT unnest($edges::DOUBLE[]) AS edge, "
         "generate_subscripts($edges::DOUBLE[], 1) AS i) SELECT coalesce(e.i, 0) AS b, count(*) "
         "FROM d ASOF LEFT JOIN e ON d.score_classifier >= e.edge GROUP BY ALL",
         {"edges": edges}),
    "bin by a CASE binary search over 99 edges (as estimate does)":
        (f"SELECT {bin_sql('score_classifier', np.asarray(edges))} AS b, count(*) FROM d "
         "GROUP BY ALL", {}),
}
out = {}
for name, (q, p) in queries.items():
    t0, c0 = time.perf_counter(), cpu_s()
    con.execute(q, p).fetchall()
    out[name] = {"seconds": time.perf_counter() - t0, "cpu_s": cpu_s() - c0}
print(json.dumps({"passes": out, "peak_rss_mb": peak_rss_mb()}))
"""


def part_estimate_costs(args) -> dict:
    """CPU cost of one DuckDB pass of each kind the estimator runs, on the first store size."""
    rows = int(args.rows.split(",")[0])
    db = BENCH / f"est_{_short(rows)}" / "audit.duckdb"
    gen_store.ensure(db, rows)
    log(f"estimate_costs part: per-pass costs over {rows:,} rows")
    return {"rows": rows, **child(PASS_COSTS, f"{db}.sidecars/*.parquet")}


def _short(n: int) -> str:
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else str(n)


def part_ray(args) -> dict:
    """The same scan on the local executor (1 and 2 workers) and on Ray (2 actors)."""
    n = args.ray_docs
    path, info = bench_scan.corpus(BENCH, n)
    unit = str(args.ray_unit_bytes)
    res = {"n": n, "mb": info["text_bytes"] / 1e6, "detectors": args.ray_detectors,
           "unit_bytes": args.ray_unit_bytes}
    for name, workers, executor in (("local-1", "1", "local"), ("local-2", "2", "local"),
                                    ("ray-2", "2", "ray")):
        log(f"ray part: {name} on {n:,} docs")
        db = fresh_db(BENCH / f"bench_h8_ray_{name}.duckdb")
        res[name] = child(SCAN, str(path), str(db), args.ray_detectors, workers, executor, unit)
        res[name]["db"] = str(db)
        log(f"  {res[name]['seconds']:.1f} s wall, {res[name]['units']} units")
    res["identical_rows"] = _same_rows(res["local-2"]["db"], res["ray-2"]["db"])
    return res


def _same_rows(db_a: str, db_b: str) -> bool:
    import duckdb

    q = "SELECT * FROM documents ORDER BY shard, \"offset\""
    rows = []
    for db in (db_a, db_b):  # the view: provenance and attribute side-cars joined
        with duckdb.connect(db, read_only=True) as con:
            rows.append(con.execute(q).fetchall())
    return rows[0] == rows[1]


# ----------------------------------------------------------------------------------- report

def load_results() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def write_report(results: dict) -> None:
    lines = [
        f"<!-- generated by {SCRIPT}; do not edit by hand -->",
        "# Benchmarks: scan, detectors, estimation, Ray executor",
        "",
        f"Generated by `{SCRIPT}` (parts re-run separately keep their own date). Machine: "
        f"{platform.machine()}, {os.cpu_count()} CPUs shared with other jobs (load average "
        "often 5-10 during these runs), Python "
        f"{platform.python_version()}, no GPU. Wall seconds on this machine mostly measure the "
        "queue for a core, so per-core rates are given per CPU-second (user+system time of the "
        "measuring process and its children); every ratio is against a baseline measured in "
        "the same run on the same files.",
        "",
    ]
    for part, fn in (("scan", _report_scan), ("scan_all_cheap", _report_all_cheap),
                     ("detectors", _report_detectors),
                     ("estimate", _report_estimate), ("estimate_costs", _report_costs),
                     ("ray", _report_ray)):
        if part in results:
            lines += fn(results[part]["result"], results[part]["measured_at"])
        else:
            lines += [f"## {part}", "", "Not measured yet (`--parts " + part + "`).", ""]
    lines += _report_findings(results)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    log(f"wrote {REPORT.relative_to(REPO)}")


def _report_scan(r: dict, when: str) -> list[str]:
    dets = ", ".join(f"{k} v{v}" for k, v in r["detectors"].items()) or "none"
    lines = [
        "## Scan with the cheap detectors vs raw pyarrow reading", "",
        f"Measured {when}. Generated Parquet corpora of ~2 KB documents "
        "(`scripts/bench_scan.py` corpora, 10k-row row groups, zstd), one worker, "
        f"`run_scan` with the default cheap tier ({dets}). raw-arrow: read the text column "
        "row group by row group; raw-pylist: the same plus one Python string per document "
        "(the floor for any per-document Python work). MB = MB of document text.", "",
        "| docs | mode | wall s | CPU s | docs/CPU-s | MB/CPU-s | peak RSS MB | CPU vs raw-arrow "
        "| CPU vs raw-pylist | CPU µs/doc |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["rows"]:
        for mode in ("raw-arrow", "raw-pylist", "scan-cheap"):
            m = row[mode]
            lines.append(
                f"| {row['n']:,} | {mode} | {m['seconds']:.1f} | {m['cpu_s']:.2f} | "
                f"{row['n'] / m['cpu_s']:,.0f} | {row['mb'] / m['cpu_s']:.1f} | "
                f"{m['peak_rss_mb']:.0f} | {m['cpu_s'] / row['raw-arrow']['cpu_s']:.1f}x | "
                f"{m['cpu_s'] / row['raw-pylist']['cpu_s']:.1f}x | "
                f"{1e6 * m['cpu_s'] / row['n']:.0f} |")
    scans = [(row["n"], row["scan-cheap"]) for row in r["rows"]]
    rate = [n / m["cpu_s"] for n, m in scans]
    mbs = [row["mb"] / row["scan-cheap"]["cpu_s"] for row in r["rows"]]
    rss = [m["peak_rss_mb"] for _, m in scans]
    # marginal CPU per document between consecutive sizes: fixed start-up cost (imports,
    # models, catalogue) cancels, so equal marginal costs mean the cost is linear
    marginal = [(b[1]["cpu_s"] - a[1]["cpu_s"]) / (b[0] - a[0]) * 1e6
                for a, b in zip(scans, scans[1:], strict=False)]
    intercept = (scans[0][1]["cpu_s"] - scans[0][0] * marginal[-1] / 1e6) if marginal else None
    steady = rate[-1]
    ok = steady >= TARGET_DOCS_PER_CORE
    lines += [
        "", "Against the targets:", "",
        f"- Cheap tier >= {TARGET_DOCS_PER_CORE:,} docs/s per core (~{TARGET_MB_PER_CORE:.0f} "
        f"MB/s of 2 KB docs): {', '.join(f'{x:,.0f}' for x in rate)} docs/CPU-s "
        f"({', '.join(f'{x:.1f}' for x in mbs)} MB/CPU-s) at "
        f"{', '.join(format(n, ',') for n, _ in scans)} docs. At the largest size (start-up "
        f"amortised): **{'met' if ok else 'MISSED'}** ({steady / TARGET_DOCS_PER_CORE:.0%} of "
        "the target) for the default tier; small runs are dominated by start-up (imports, "
        "model loading, catalogue)"
        + (f", about {intercept:.1f} CPU s" if intercept is not None else "") + ".",
    ]
    if marginal:
        lines.append(
            "- Cost linear in size: marginal CPU per document between consecutive sizes "
            f"{', '.join(f'{x:.0f} µs' for x in marginal)} (equal within noise = linear; "
            "the average per document falls only because start-up is amortised).")
    lines += [
        f"- Memory flat: peak RSS {', '.join(f'{x:.0f}' for x in rss)} MB for "
        f"{scans[-1][0] // scans[0][0]:,}x more documents"
        + (f"; {rss[-1] / rss[-2] - 1:+.0%} over the last {scans[-1][0] // scans[-2][0]}x"
           if len(rss) > 1 else "")
        + ". It is bounded by one work unit (128 MB of input by default), whose rows are held "
          "until its side-car is written; the smallest corpus is less than one unit.",
        "",
    ]
    return lines


def _report_all_cheap(r: dict, when: str) -> list[str]:
    dets = ", ".join(f"{k} v{v}" for k, v in r["detectors"].items())
    lines = [
        "### The same scan with every cheap detector named", "",
        f"Measured {when}. The default scan leaves `compression` out "
        "(`auditor.scan.runner.DEFAULT_EXCLUDED`); this names every cheap detector "
        f"({dets}), against raw-arrow in the same run.", "",
        "| docs | wall s | CPU s | docs/CPU-s | MB/CPU-s | peak RSS MB | CPU vs raw-arrow |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["rows"]:
        m = row["scan-all-cheap"]
        lines.append(f"| {row['n']:,} | {m['seconds']:.1f} | {m['cpu_s']:.1f} | "
                     f"{row['n'] / m['cpu_s']:,.0f} | {row['mb'] / m['cpu_s']:.1f} | "
                     f"{m['peak_rss_mb']:.0f} | {m['cpu_s'] / row['raw-arrow']['cpu_s']:.0f}x |")
    best = max(row["n"] / row["scan-all-cheap"]["cpu_s"] for row in r["rows"])
    lines += ["", f"All three cheap detectors: {best:,.0f} docs/CPU-s -> "
                  f"**{'met' if best >= TARGET_DOCS_PER_CORE else 'MISSED'}** "
                  f"({best / TARGET_DOCS_PER_CORE:.0%} of {TARGET_DOCS_PER_CORE:,}).", ""]
    return lines


def _report_detectors(r: dict, when: str) -> list[str]:
    lines = [
        "## Each detector's speed", "",
        f"Measured {when} with `measure_throughput` from `scripts/eval_detectors.py`: "
        f"{r['n_texts']} texts of {r['doc_chars']} characters from the shared labeled set "
        "(lm tier: the first few), one process, after a warm-up batch. Baseline: whitespace "
        f"tokenisation of the same texts ({r['baseline_docs_per_s']:,.0f} docs/CPU-s). "
        f"GPU: {r.get('gpu') or 'none on this machine; GPU figures not measured'}.", "",
        "| detector | tier | docs/CPU-s | docs/s wall | tokens/CPU-s | vs baseline | note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for name, d in r["detectors"].items():
        if "docs_per_s" not in d:
            lines.append(f"| {name} | {d.get('tier', '')} | | | | | not run: "
                         f"{d.get('skipped', '')[:160]} |")
            continue
        tok = f"{d['tokens_per_s']:,.0f}" if "tokens_per_s" in d else ""
        note = (f"{d['tokens_per_doc']:.0f} tokens scored per doc" if "tokens_per_doc" in d
                else "")
        lines.append(f"| {name} | {d['tier']} | {d['docs_per_s']:,.1f} | "
                     f"{d['wall_docs_per_s']:,.1f} | {tok} | {d['vs_baseline']:.2g}x | {note} |")
    cheap = {n: d for n, d in r["detectors"].items()
             if d.get("tier") == "cheap" and "docs_per_s" in d}
    if cheap:
        combined = 1 / sum(1 / d["docs_per_s"] for d in cheap.values())
        lines += ["", f"The cheap tier together (sum of per-document costs): "
                      f"{combined:,.0f} docs/CPU-s; slowest: "
                      f"{min(cheap, key=lambda n: cheap[n]['docs_per_s'])}.", ""]
    return lines


def _report_estimate(r: dict, when: str) -> list[str]:
    lines = [
        "## `auditor estimate` on 10 million and 100 million stored rows", "",
        f"Measured {when}. Stores generated by `scripts/gen_store.py`: side-cars of 2^20 rows "
        "with the full provenance schema and three score columns drawn from the shipped "
        "reference scores; 12 sources, 84 crawl months, machine share rising after the cutoff. "
        "`auditor estimate --json --no-record` (defaults: auto method, 200 bootstrap "
        "replicates, overall estimate) runs in a child process. Baseline: one DuckDB pass "
        "over the same files (count, sum of a score column, distinct sources).", "",
        "| rows | store on disk | baseline wall s / CPU s | estimate wall s | estimate CPU s "
        "| CPU vs baseline | peak RSS MB | estimate [95% CI] | true fraction |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for s in r["stores"]:
        b, e = s["baseline"], s["estimate"]
        size = f"{s['truth']['bytes_on_disk'] / 1e9:.2f} GB"
        if e.get("timed_out"):
            lines.append(f"| {s['rows']:,} | {size} | {b['seconds']:.1f} / {b['cpu_s']:.1f} | "
                         f"> {e['timeout_s']:.0f} (stopped) | | | | did not finish | |")
            continue
        est = e["estimates"][0]
        lines.append(
            f"| {s['rows']:,} | {size} | {b['seconds']:.1f} / {b['cpu_s']:.1f} | "
            f"{e['seconds']:.1f} | {e['cpu_s']:.1f} | {e['cpu_s'] / b['cpu_s']:.0f}x | "
            f"{e['peak_rss_mb']:.0f} | {est['fraction']:.4f} [{est['ci_low']:.4f}, "
            f"{est['ci_high']:.4f}] ({est['method']}) | {s['true_target_fraction']:.4f} |")
    big = [s for s in r["stores"] if s["rows"] >= 100_000_000]
    if big:
        s = big[0]
        e = s["estimate"]
        if e.get("timed_out"):
            verdict = (f"**MISSED**: not finished after {e['timeout_s']:.0f} s "
                       f"(target {TARGET_EST_SECONDS:.0f} s)")
        else:
            met = e["seconds"] < TARGET_EST_SECONDS and e["peak_rss_mb"] < TARGET_EST_RSS_MB
            verdict = (f"{e['seconds']:.0f} s wall ({e['cpu_s']:.0f} s CPU), "
                       f"{e['peak_rss_mb']:.0f} MB -> **{'met' if met else 'MISSED'}**")
        lines += ["", f"Target (100M rows in < {TARGET_EST_SECONDS:.0f} s, < "
                      f"{TARGET_EST_RSS_MB / 1024:.0f} GB RSS): {verdict}.", ""]
    return lines + [""]


def _report_findings(results: dict) -> list[str]:
    """Where the time goes, from the figures above (only parts that were measured)."""
    out = ["## What dominates the cost, and what to optimise", ""]
    scan = results.get("scan", {}).get("result")
    dets = results.get("detectors", {}).get("result", {}).get("detectors", {})
    if scan and len(scan["rows"]) >= 2:
        a, b = scan["rows"][-2], scan["rows"][-1]
        per_doc = (b["scan-cheap"]["cpu_s"] - a["scan-cheap"]["cpu_s"]) / (b["n"] - a["n"]) * 1e6
        raw = b["raw-pylist"]["cpu_s"] / b["n"] * 1e6
        used = [n for n in scan["detectors"] if "docs_per_s" in dets.get(n, {})]
        det_us = sum(1e6 / dets[n]["docs_per_s"] for n in used)
        each = ", ".join(f"{n} {1e6 / dets[n]['docs_per_s']:.0f} µs" for n in used)
        rest = per_doc - det_us - raw
        split = (f"the remaining ~{rest:.0f} µs is the scan's own work (record mapping, "
                 "provenance columns, snippets, side-car writing)" if rest > 0.1 * per_doc else
                 "the detectors account for practically all of it (timed alone they ran on "
                 "other texts, real labeled ones against the generated corpus, in other "
                 "batch sizes, so the two figures only roughly agree)")
        out.append(
            f"- Scan, per document (marginal, default tier): {per_doc:.0f} µs of CPU. The "
            f"detectors timed alone cost about {det_us:.0f} µs ({each}; detectors part), "
            f"reading the text into Python {raw:.0f} µs, and {split}. Owners: detectors "
            "(`detectors/`) for the detector share, readers and scan "
            "(`auditor/readers/mapping.py`, `auditor/store/sidecar.py`) for the rest.")
    allc = results.get("scan_all_cheap", {}).get("result")
    if allc and "compression" in dets and "docs_per_s" in dets["compression"]:
        out.append(
            f"- `compression` alone costs {1e6 / dets['compression']['docs_per_s']:.0f} µs per "
            "document (zlib compressing each text against two references); with it the cheap "
            "tier is below the target (see the all-cheap table), which is why the default "
            "scan leaves it out.")
    est = results.get("estimate", {}).get("result")
    costs = results.get("estimate_costs", {}).get("result")
    if est and costs:
        p = costs["passes"]
        md5 = next(v for k, v in p.items() if k.startswith("reference slice by md5"))
        hsh = next(v for k, v in p.items() if k.startswith("reference slice by hash"))
        lf = next(v for k, v in p.items() if k.startswith("bin by list_filter"))
        case = next((v for k, v in p.items() if k.startswith("bin by a CASE")), None)
        accuracy = []
        for st in est["stores"]:
            if st["estimate"].get("timed_out"):
                continue
            e0 = st["estimate"]["estimates"][0]
            inside = e0["ci_low"] <= st["true_target_fraction"] <= e0["ci_high"]
            accuracy.append(f"{st['rows']:,} rows: {e0['fraction']:.4f} against a true "
                            f"{st['true_target_fraction']:.4f}, truth "
                            f"{'inside' if inside else 'just outside'} the interval")
        big = [s for s in est["stores"] if s["rows"] >= 100_000_000
               and not s["estimate"].get("timed_out")]
        verdict = ""
        if big:
            e = big[0]["estimate"]
            met = e["seconds"] < TARGET_EST_SECONDS and e["peak_rss_mb"] < 2048
            verdict = (f"100M rows: {e['seconds']:.1f} s wall, {e['peak_rss_mb']:.0f} MB peak: "
                       f"target (< {TARGET_EST_SECONDS:.0f} s, < 2 GB) "
                       f"{'met' if met else 'missed'}. ")
        out += [
            f"- Estimation: {verdict}The estimator slices references by DuckDB's `hash(id)` "
            f"({hsh['cpu_s']:.1f} CPU s per pass over {costs['rows']:,} rows; `md5_number`, used "
            f"before, cost {md5['cpu_s']:.1f} s) and bins scores with a nested-CASE binary search "
            + (f"({case['cpu_s']:.1f} s; `list_filter` before: {lf['cpu_s']:.1f} s)" if case
               else f"(`list_filter` before: {lf['cpu_s']:.1f} s)")
            + ". Cost is linear in rows and memory flat; accuracy: " + "; ".join(accuracy)
            + " (the generator draws machine scores from every split of the shipped reference, "
            "the estimator's machine reference leaves one split out: a small, realistic shift).",
        ]
    ray = results.get("ray", {}).get("result")
    if ray:
        r2, l1, l2 = ray["ray-2"], ray["local-1"], ray["local-2"]
        start = r2.get("cluster_start_s", 0.0)
        out.append(
            f"- Ray: {ray['n'] / r2['seconds']:,.0f} docs/s with 2 actors against "
            f"{ray['n'] / l1['seconds']:,.0f} for one local worker and "
            f"{ray['n'] / l2['seconds']:,.0f} for two; without its {start:.0f} s cluster start "
            f"{ray['n'] / (r2['seconds'] - start):,.0f}. Two workers gain nothing over one here "
            "because the machine's two cores are shared with other jobs; Ray adds the cluster "
            "start and actor start-up (each actor imports the package and loads its "
            "detectors once). Its use is many machines and GPUs, which this machine does not "
            "have; the stored rows are identical either way.")
    return out + [""]


def _report_costs(r: dict, when: str) -> list[str]:
    lines = [
        "### What an estimate pass costs", "",
        f"Measured {when} over the {r['rows']:,}-row store, one query each in a fresh DuckDB "
        "connection; CPU seconds per pass and relative to a plain pass over a score column. "
        "Rows marked 'as estimate does' are the building blocks of "
        "`auditor/estimate/histograms.py` now; 'before' rows are what it used until they were "
        "measured here.", "",
        "| pass | wall s | CPU s | CPU vs plain pass | CPU ns/row |", "|---|---:|---:|---:|---:|",
    ]
    plain = next(iter(r["passes"].values()))["cpu_s"]
    for name, m in r["passes"].items():
        lines.append(f"| {name} | {m['seconds']:.2f} | {m['cpu_s']:.2f} | "
                     f"{m['cpu_s'] / max(plain, 1e-9):.0f}x | {1e9 * m['cpu_s'] / r['rows']:.0f} |")
    return lines + [""]


def _report_ray(r: dict, when: str) -> list[str]:
    lines = [
        "## Ray executor vs local executor", "",
        f"Measured {when}. The same {r['n']:,}-document corpus ({r['mb']:.0f} MB of text), "
        f"detectors `{r['detectors'] or 'default cheap tier'}`, work units of "
        f"{r['unit_bytes'] >> 20} MiB; each run from a fresh store, in a child process, "
        "start-up included (the Ray run starts and stops a private 2-CPU local cluster). CPU "
        "seconds count the driver and its child processes, which for Ray excludes the actors "
        "(raylet's children), so only wall time compares.", "",
        "| executor | workers | units | wall s | of which cluster start s | docs/s wall | "
        "vs local-1 | docs/s wall without cluster start | driver peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = r["local-1"]["seconds"]
    for name in ("local-1", "local-2", "ray-2"):
        m = r[name]
        start = m.get("cluster_start_s", 0.0)
        lines.append(f"| {name.split('-')[0]} | {name.split('-')[1]} | {m['units']} | "
                     f"{m['seconds']:.1f} | {start:.1f} | {r['n'] / m['seconds']:,.0f} | "
                     f"{base / m['seconds']:.2f}x | {r['n'] / (m['seconds'] - start):,.0f} | "
                     f"{m['peak_rss_mb']:.0f} |")
    lines += ["", f"Stored rows identical between local-2 and ray-2 (every column, "
                  f"ordered by shard and offset): **{r['identical_rows']}**.", ""]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", default=",".join(PARTS),
                    help=f"comma-separated parts to run: {', '.join(PARTS)}")
    ap.add_argument("--sizes", default="10000,100000,1000000", help="scan corpus sizes")
    ap.add_argument("--detectors", default="", help="scan detectors (default: cheap tier)")
    ap.add_argument("--all-cheap-sizes", default="100000",
                    help="corpus sizes for the scan with every cheap detector named")
    ap.add_argument("--rows", default="10000000,100000000", help="estimation store sizes")
    ap.add_argument("--est-timeout", type=float, default=1200.0,
                    help="seconds before an estimate run is stopped and reported as such")
    ap.add_argument("--speed-docs", type=int, default=1000)
    ap.add_argument("--lm-docs", type=int, default=16,
                    help="texts timed for each lm-tier detector (more than 8)")
    ap.add_argument("--ray-docs", type=int, default=100_000)
    ap.add_argument("--ray-detectors", default="",
                    help="detectors for the Ray comparison (default: the default cheap tier)")
    ap.add_argument("--ray-unit-bytes", type=int, default=8 << 20)
    ap.add_argument("--report-only", action="store_true", help="rewrite the report, run nothing")
    args = ap.parse_args()
    if args.lm_docs <= 8:  # measure_throughput warms up on 8 texts; LM detectors cache the
        # last batch they scored, so a timed call on the same 8 would measure the cache
        raise SystemExit("--lm-docs must be more than 8 (the warm-up batch)")
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown part(s) {sorted(unknown)}; choose from {', '.join(PARTS)}")
    BENCH.mkdir(parents=True, exist_ok=True)
    results = load_results()
    if not args.report_only:
        runners = {"scan": part_scan, "scan_all_cheap": part_scan_all_cheap,
                   "detectors": part_detectors, "estimate": part_estimate,
                   "estimate_costs": part_estimate_costs, "ray": part_ray}
        for part in parts:
            result = runners[part](args)
            results = load_results()  # another invocation may have added parts meanwhile
            results[part] = {"measured_at": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} "
                                             "UTC", "args": vars(args), "result": result}
            RESULTS.write_text(json.dumps(results, indent=1, default=str))
            write_report(results)
    write_report(results)


if __name__ == "__main__":
    main()
