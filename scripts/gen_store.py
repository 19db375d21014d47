"""Generate a large synthetic store (side-cars + DuckDB catalogue) for the estimation benchmark.

Scanning 100 million real documents on a 2-core machine would take most of a day, and the
estimator only reads the stored columns, so this writes what a scan of such a corpus would
store: side-car Parquet files with the full `PROVENANCE_SCHEMA` plus `score_<detector>`
columns, one per "work unit" of 2**20 rows, and a catalogue with one run and one unit row per
side-car, through the store's own functions (`open_store`, `write_sidecar`, `record_unit`).

What makes the rows realistic for estimation: 12 sources (with their own size and AI share)
over 2019-01..2025-12 crawl months; every document is `corpus`; before the ChatGPT cutoff all
documents are human, after it a source's machine share ramps up to its own maximum; each score
is drawn from the shipped reference scores of that detector (`detectors/models/references/`)
for the document's true label, so the score distributions are the real detectors'. The true
machine fraction is written beside the store (`<db>.truth.json`), so the benchmark can show
the estimate is also right, not only fast. A `score_excess_vocab` column holds marker-word
counts (`VOCAB_PER_1K_CHARS`), as a default scan stores them for the reference-free bound
(`--no-vocab` leaves it out). Columns without a role in estimation (url, domain,
snippet, meta) are null, as they cost nothing to skip.

    python scripts/gen_store.py --rows 10000000 --db .bench/est_10m/audit.duckdb
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from auditor.records import DEFAULT_CUTOFF, PROVENANCE_SCHEMA, score_column  # noqa: E402

SCRIPT = "scripts/gen_store.py"
DETECTORS = ("classifier", "compression", "markers")
ROWS_PER_FILE = 1 << 20
#: (source, share of rows, maximum machine share reached by 2025-12)
SOURCES = (
    ("cc-main", 0.30, 0.12), ("c4", 0.12, 0.08), ("news", 0.08, 0.20), ("blogs", 0.08, 0.35),
    ("forums", 0.07, 0.15), ("wikipedia", 0.06, 0.03), ("reviews", 0.06, 0.45),
    ("recipes", 0.05, 0.30), ("seo-spam", 0.05, 0.70), ("arxiv", 0.05, 0.06),
    ("qa-sites", 0.05, 0.25), ("docs", 0.03, 0.10),
)
MONTHS = [f"{y}-{m:02d}" for y in range(2019, 2026) for m in range(1, 13)]
#: LLM-overused marker words per 1,000 characters (`detectors.excess_vocab`), measured on 3,000
#: texts of each label of ../shared/data/labeled/dev.parquet: human 0.025, machine 0.22. A
#: default scan stores these counts (`score_excess_vocab`), and the estimate runs its
#: reference-free bound over them, so a store without them would time less than a real one.
VOCAB_PER_1K_CHARS = {"human": 0.025, "ai": 0.22}


def month_starts() -> np.ndarray:
    return np.array([np.datetime64(f"{m}-01T00:00:00", "us") for m in MONTHS])


def machine_share(max_share: np.ndarray, month_idx: np.ndarray) -> np.ndarray:
    """0 before the cutoff; then a linear ramp to `max_share` at the last month."""
    starts = month_starts()
    cut = np.datetime64(DEFAULT_CUTOFF.isoformat(), "us")
    first_after = int(np.argmax(starts >= cut))
    span = len(MONTHS) - 1 - first_after
    ramp = np.clip((month_idx - first_after + 1) / max(span, 1), 0.0, 1.0)
    return np.where(month_idx >= first_after, max_share * ramp, 0.0)


def reference_scores() -> dict[str, dict[str, np.ndarray]]:
    """Shipped reference scores by detector and label, to draw realistic scores from."""
    out = {}
    for det in DETECTORS:
        path = REPO / "detectors" / "models" / "references" / f"{det}.parquet"
        t = pq.read_table(path, columns=["score", "label"])
        scores = t.column("score").to_numpy()
        labels = np.array(t.column("label").to_pylist())
        out[det] = {"human": scores[labels == "human"], "ai": scores[labels == "ai"]}
    return out


def unit_table(rng: np.random.Generator, start: int, n: int, refs: dict,
               vocab_rng: np.random.Generator | None = None) -> tuple[pa.Table, int]:
    """One side-car's rows; returns the table and how many rows are machine-written.

    With `vocab_rng`, a `score_excess_vocab` column of marker counts (Poisson at
    `VOCAB_PER_1K_CHARS` of the row's label and length), drawn from its own generator so the
    other columns are the same with or without it."""
    shares = np.array([s[1] for s in SOURCES])
    src_idx = rng.choice(len(SOURCES), size=n, p=shares / shares.sum())
    month_idx = rng.integers(0, len(MONTHS), n)
    is_ai = rng.random(n) < machine_share(np.array([s[2] for s in SOURCES])[src_idx], month_idx)
    starts = month_starts()
    stamps = starts[month_idx] + rng.integers(0, 28 * 86400, n).astype("timedelta64[s]")
    cutoff = np.datetime64(DEFAULT_CUTOFF.isoformat(), "us")
    n_chars = rng.lognormal(7.4, 0.8, n).astype(np.int64) + 50
    ids = pc.binary_join_element_wise(
        "d", pc.cast(pa.array(np.arange(start, start + n)), pa.string()), "")
    source_names = pa.array([s[0] for s in SOURCES])
    month_names = pa.array(MONTHS)
    null_str = pa.nulls(n, pa.string())
    columns = {
        "id": ids,
        "source": pc.take(source_names, pa.array(src_idx)),
        "shard": pc.binary_join_element_wise(
            "s3://corpus/", pc.take(source_names, pa.array(src_idx)),
            f"/part-{start // ROWS_PER_FILE:05d}.parquet", ""),
        "offset": pa.array(np.arange(n, dtype=np.int64)),
        "url": null_str, "domain": null_str,
        "crawl_date": pa.array(stamps.astype("datetime64[us]")).cast(
            pa.timestamp("us", tz="UTC")),
        "crawl_month": pc.take(month_names, pa.array(month_idx)),
        "license": pa.array(np.full(n, "unknown")),
        "language": pa.array(np.full(n, "en")),
        "role": pa.array(np.full(n, "corpus")),
        "pre_cutoff": pa.array(stamps < cutoff),
        "synthetic_by_construction": pa.array(np.zeros(n, dtype=bool)),
        "n_chars": pa.array(n_chars),
        "n_tokens": pa.array((n_chars / 4.6).astype(np.int64)),
        "snippet": null_str, "meta": null_str,
    }
    assert list(columns) == PROVENANCE_SCHEMA.names
    arrays = [columns[f.name] for f in PROVENANCE_SCHEMA]
    fields = list(PROVENANCE_SCHEMA)
    for det in DETECTORS:
        human, ai = refs[det]["human"], refs[det]["ai"]
        scores = human[rng.integers(0, len(human), n)]
        n_ai = int(is_ai.sum())
        scores[is_ai] = ai[rng.integers(0, len(ai), n_ai)]
        arrays.append(pa.array(scores))
        fields.append(pa.field(score_column(det), pa.float64()))
    if vocab_rng is not None:
        rate = np.where(is_ai, VOCAB_PER_1K_CHARS["ai"], VOCAB_PER_1K_CHARS["human"])
        arrays.append(pa.array(vocab_rng.poisson(rate * n_chars / 1000).astype(np.float64)))
        fields.append(pa.field(score_column("excess_vocab"), pa.float64()))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields)), int(is_ai.sum())


def generate(db: Path, rows: int, seed: int = 0, rows_per_file: int = ROWS_PER_FILE,
             vocab: bool = True) -> dict:
    """Write a store of `rows` rows at `db` (replacing one there); return its truth.
    With `vocab`, the rows carry excess-vocabulary marker counts too (`unit_table`)."""
    from auditor.store.catalogue import open_store
    from auditor.store.sidecar import write_sidecar

    for p in (db, Path(f"{db}.wal"), Path(f"{db}.sidecars"), Path(f"{db}.logs")):
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    vocab_rng = np.random.default_rng([seed, 1]) if vocab else None
    refs = reference_scores()
    versions = {d: "synthetic" for d in (*DETECTORS, *(("excess_vocab",) if vocab else ()))}
    run_id = "synthetic-bench"
    n_files = -(-rows // rows_per_file)
    t0 = time.perf_counter()
    n_ai = 0
    with open_store(db) as store:
        now = dt.datetime.now(dt.timezone.utc)
        store.begin_run(run_id, now, ["synthetic"], versions, {"generator": SCRIPT}, n_files)
        for k in range(n_files):
            start = k * rows_per_file
            n = min(rows_per_file, rows - start)
            table, ai = unit_table(rng, start, n, refs, vocab_rng)
            n_ai += ai
            shard = f"synthetic://{db.name}/unit-{k:05d}"
            path = store.paths.sidecar_path(shard, 0, 1)
            write_sidecar(path, table, {"shard": shard, "part": 0, "n_parts": 1}, versions)
            store.upsert_shard(shard, "parquet", n, None, None, 1, run_id)
            store.record_unit(run_id, {
                "shard": shard, "part": 0, "n_parts": 1, "range_start": 0, "range_stop": -1,
                "status": "ok", "sidecar": path, "fingerprint": "synthetic",
                "detectors": versions, "n_stored": n, "n_skipped": 0, "n_failed": 0,
                "bytes": int(table.column("n_chars").to_numpy().sum())}, [])
            store.summarise_shard(shard, run_id)
            if (k + 1) % 10 == 0 or k + 1 == n_files:
                print(f"  {start + n:>12,} rows  {time.perf_counter() - t0:6.0f} s", flush=True)
        store.finish_run(run_id, dt.datetime.now(dt.timezone.utc), "ok",
                         {"units_scanned": n_files, "stored": rows}, "synthetic benchmark store")
        store.refresh_view()
    truth = {"rows": rows, "machine_rows": n_ai, "machine_fraction": n_ai / rows, "seed": seed,
             "excess_vocab": vocab,
             "files": n_files, "generator": SCRIPT,
             "bytes_on_disk": sum(f.stat().st_size for f in Path(f"{db}.sidecars").iterdir())}
    Path(f"{db}.truth.json").write_text(json.dumps(truth, indent=2))
    return truth


def ensure(db: Path, rows: int, seed: int = 0, vocab: bool = True) -> dict:
    """The truth of the store at `db`, generating it first unless one of `rows` rows exists."""
    truth_path = Path(f"{db}.truth.json")
    if db.exists() and truth_path.exists():
        truth = json.loads(truth_path.read_text())
        if (truth.get("rows") == rows and truth.get("seed") == seed
                and truth.get("excess_vocab") == vocab):
            return truth
    print(f"generating a synthetic store of {rows:,} rows at {db} ...", flush=True)
    db.parent.mkdir(parents=True, exist_ok=True)
    return generate(db, rows, seed, vocab=vocab)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--db", default=str(REPO / ".bench" / "est_10m" / "audit.duckdb"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-vocab", action="store_true",
                    help="leave out the excess-vocabulary marker counts (as before 2026-12-01)")
    args = ap.parse_args()
    if args.rows < 1:
        raise SystemExit("--rows must be at least 1")
    truth = ensure(Path(args.db), args.rows, args.seed, vocab=not args.no_vocab)
    print(json.dumps(truth, indent=2))


if __name__ == "__main__":
    main()
