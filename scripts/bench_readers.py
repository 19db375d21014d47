"""Reader throughput per format, as a ratio against the raw library read of the same file.

Why: readers sit in front of every scan, so their overhead over simply decoding the file is what
a user pays on top of detectors. For each format a corpus of N generated documents (seeded,
written with tests/corpus_files.py) is read, in the same run:
  baseline  the plainest read of the same bytes that still produces every text as a Python
            string: pyarrow `iter_batches(...).to_pylist()` of the text column (Parquet),
            gzip lines + `json.loads` (JSONL.gz), FastWARC payload bytes (WARC.gz),
            pyarrow IPC stream + `to_pylist` (Arrow)
  readers   `auditor.readers.read_unit` over `plan_units(discover(...))`: full provenance
            mapping (dates, domains, licences, meta; HTML extraction for WARC)
Best of --repeats runs each. Figures are docs/s and the readers/baseline time ratio; on a
shared machine compare ratios, not absolute speeds. Files go to .bench/readers/ (gitignored).

    python scripts/bench_readers.py --docs 20000 --repeats 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import corpus_files as cf  # noqa: E402  (test helpers that write real corpus files)
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from auditor.readers import ReaderOptions, discover, plan_units, read_unit  # noqa: E402
from auditor.records import Document  # noqa: E402


def build(folder: Path, n: int) -> dict[str, Path]:
    """The same N documents as Parquet, JSONL.gz (also with two field orders interleaved) and a
    saved HF dataset; N/10 pages as WARC."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = cf.make_rows(n, seed=2026)
    files = {
        "parquet": cf.write_parquet(folder / "bench.parquet", rows, row_group_size=5000),
        "jsonl.gz": cf.write_jsonl(folder / "bench.jsonl.gz", rows, compression="gzip"),
        # the same records, every third with its fields listed back to front: a reader that
        # starts a batch per change of field order pays per record here (it did: 15x)
        "jsonl.gz, two field orders": cf.write_jsonl(
            folder / "bench_orders.jsonl.gz",
            [dict(reversed(r.items())) if i % 3 == 0 else r for i, r in enumerate(rows)],
            compression="gzip"),
    }
    hf = folder / "bench_hf"
    if not hf.exists():
        cf.write_hf_saved(hf, rows, num_shards=1)
    files["arrow"] = next(hf.glob("*.arrow"))
    pages = [cf.Page(f"https://site{i % 97}.example.com/p/{i}",
                     cf.html_page(f"Page {i}", [r["text"]] * 3,
                                  '<link rel="license" href="https://creativecommons.org/'
                                  'licenses/by/4.0/">'))
             for i, r in enumerate(rows[: max(n // 10, 10)])]
    files["warc.gz"] = cf.write_warc(folder / "bench.warc.gz", pages)
    return files


def baseline(kind: str, path: Path) -> int:
    n = 0
    if kind == "parquet":
        pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
        for batch in pf.iter_batches(batch_size=1024, columns=["text"]):
            n += len(batch.column(0).to_pylist())
    elif kind.startswith("jsonl.gz"):
        with gzip.open(path, "rb") as f:
            for line in f:
                n += bool(json.loads(line)["text"])
    elif kind == "arrow":
        with open(path, "rb") as f:
            for batch in pa.ipc.open_stream(f):
                n += len(batch.column("text").to_pylist())
    elif kind == "warc.gz":
        from fastwarc.warc import ArchiveIterator, WarcRecordType

        for record in ArchiveIterator(str(path), record_types=WarcRecordType.response):
            n += bool(record.reader.read())
    return n


def readers(path: Path) -> int:
    options = ReaderOptions()
    units = plan_units(discover([str(path)]), options)
    return sum(isinstance(x, Document) for u in units for x in read_unit(u, options))


def best_of(fn, repeats: int) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - t0)
    return best, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "reports" / "readers.md"))
    args = parser.parse_args()
    started = time.perf_counter()
    files = build(REPO / ".bench" / "readers" / str(args.docs), args.docs)
    lines = []
    for kind, path in files.items():
        t_base, n_base = best_of(lambda k=kind, p=path: baseline(k, p), args.repeats)
        t_read, n_read = best_of(lambda p=path: readers(p), args.repeats)
        row = (kind, n_read, path.stat().st_size / 1e6, n_base / t_base, n_read / t_read,
               t_read / t_base)
        print(f"{kind:26s} docs={n_read:6d} size={row[2]:7.1f} MB baseline={row[3]:9.0f} docs/s "
              f"readers={row[4]:9.0f} docs/s ratio={row[5]:5.2f}x")
        lines.append(f"| {kind} | {n_read:,} | {row[2]:.1f} | {row[3]:,.0f} | {row[4]:,.0f} | "
                     f"{row[5]:.2f}x |")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    report = [
        f"Generated by `scripts/bench_readers.py --docs {args.docs} --repeats {args.repeats}` on "
        f"{stamp} ({time.perf_counter() - started:.0f} s); do not edit by hand.",
        "",
        "# Reader throughput against the raw library read",
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, shared CPU (other "
        "jobs running): compare the ratio column, measured in the same run, not absolute speeds.",
        "Baseline: the plainest read of the same file that yields every text as a Python string "
        "(see the script's docstring). Readers: `discover` + `plan_units` + `read_unit` with full "
        "provenance mapping; for WARC this includes HTML text extraction with Resiliparse and "
        "licence/generator parsing, which the baseline does not do.",
        "",
        "| format | documents | file MB | baseline docs/s | readers docs/s | readers time / baseline |",
        "|---|---:|---:|---:|---:|---:|",
        *lines,
        "",
    ]
    Path(args.out).write_text("\n".join(report))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
