"""`auditor demo`: the whole flow on the embedded demo corpus, compared with the known truth.

The demo corpus (auditor/demo_data/, built by scripts/build_demo_corpus.py from the shared
development set) has six sources in Parquet, JSONL(.gz) and WARC, crawl dates on both sides of
2022-11-30, licences, and KNOWN synthetic fractions (truth.json; the label of every document in
manifest.jsonl.gz). The demo runs scan -> estimate -> project -> report -> check through the same
library functions as the CLI, then sets every estimate beside the true fraction of exactly the
documents that estimate covers, and says whether the truth lies in the interval. A new user sees
in a minute what the tool does and how far to trust it.
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from auditor.estimate.choice import N_BOOT

#: File that marks a folder as the demo's own, so a rerun may rebuild its store.
DEMO_MARKER = ".auditor-demo"

#: Corpus files shipped in auditor/demo_data (the rest there is truth, manifest and NOTICE).
CORPUS_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".warc.gz")

#: The check the demo runs. The cosmopedia-style source is synthetic by construction, so the
#: `synthetic_by_construction` gate on "*" (every source) fails on purpose: the demo shows what a
#: failing gate looks like.
DEMO_CHECK_TOML = """\
# Gates of the demo (see examples/auditor.toml for every option, documented).
[estimate]
method = "auto"
n_boot = {n_boot}
seed = {seed}

[gates.fraction]
max_overall = 0.40
max_per_source = 0.60
[gates.fraction.per_source]
wiki = 0.25

[gates.rise]
max_rise = 0.05

[gates.coverage]
min_date = 0.95
min_url = 0.80
min_license = 0.50

[gates.collapse]
regime = "replace"
generations = 5
model = "gaussian"
metric = "risk_ratio"
max_degradation = 1.0

[gates.synthetic_by_construction]
forbid_in = ["*"]
"""


@dataclass
class DemoResult:
    """Where everything went and how the estimates compare with the truth."""

    out_dir: str
    db: str
    reports: dict[str, str]
    collapse_plot: str | None
    comparison: list[dict[str, Any]]
    check: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    audit: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": self.out_dir, "db": self.db, "reports": self.reports,
                "collapse_plot": self.collapse_plot, "comparison": self.comparison,
                "check": self.check, "timings": self.timings, "notes": self.notes,
                "audit": self.audit}


def demo_data_dir() -> Path:
    """The embedded corpus folder inside the installed package."""
    return Path(str(resources.files("auditor") / "demo_data"))


def load_truth() -> dict[str, Any]:
    return json.loads((demo_data_dir() / "truth.json").read_text(encoding="utf-8"))


def load_labels() -> dict[str, str]:
    """Document id -> 'human' | 'ai' for every demo document (WARC ids with and without <>)."""
    labels: dict[str, str] = {}
    with gzip.open(demo_data_dir() / "manifest.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            m = json.loads(line)
            labels[m["id"]] = m["label"]
            rid = m["record_id"]
            labels[rid] = labels[rid.strip("<>")] = m["label"]
    return labels


def copy_corpus(dest: Path) -> list[Path]:
    """Copy the embedded corpus files into `dest` (the scan reads them there, like user data)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for p in sorted(demo_data_dir().iterdir()):
        if p.name.endswith(CORPUS_SUFFIXES) and p.name != "manifest.jsonl.gz":
            shutil.copyfile(p, dest / p.name)
            out.append(dest / p.name)
    if not out:
        raise FileNotFoundError(f"no demo corpus files in {demo_data_dir()}: rebuild them with "
                                "python3 scripts/build_demo_corpus.py")
    return out


def target_truth(db: str, labels: dict[str, str], by_source: dict[str, dict]) -> dict[str, dict]:
    """True machine fraction of exactly the documents each source's estimate covers.

    The estimator's target is a source's corpus documents minus the pre-cutoff half it uses as
    its own human reference (`auditor.estimate.histograms.REF_SLICE_SQL`); comparing with the
    fraction over all documents would make a correct estimate look wrong.
    """
    from auditor.estimate.histograms import REF_SLICE_SQL
    from auditor.report.store_sql import connect

    with connect(db) as con:
        rows = con.execute(
            f"SELECT source, id, coalesce(pre_cutoff AND {REF_SLICE_SQL}, false) AS in_ref "
            "FROM documents WHERE role = 'corpus'").fetchall()
    out: dict[str, dict] = {}
    for source, doc_id, in_ref in rows:
        est = by_source.get(source) or {}
        own_ref = "pre-cutoff" in (est.get("human_ref") or "")
        t = out.setdefault(source, {"n": 0, "machine": 0, "unlabelled": 0})
        if own_ref and in_ref:
            continue
        label = labels.get(doc_id)
        if label is None:
            t["unlabelled"] += 1
            continue
        t["n"] += 1
        t["machine"] += label == "ai"
    return out


def compare(by_source: dict[str, dict], overall: dict | None, truth: dict[str, Any],
            target: dict[str, dict]) -> list[dict[str, Any]]:
    """One row per source (and overall): estimate, interval, truth, and whether it is covered."""
    rows = []
    for source, t in truth["sources"].items():
        e = by_source.get(source) or {}
        tt = target.get(source) or {}
        tf = tt["machine"] / tt["n"] if tt.get("n") else t["fraction"]
        rows.append(_row(source, e, tf, t["fraction"]))
    tn = sum(t.get("n", 0) for t in target.values())
    tf = sum(t.get("machine", 0) for t in target.values()) / tn if tn else None
    rows.append(_row("ALL SOURCES", overall or {}, tf, truth["overall"]["fraction"]))
    return rows


def _row(source: str, e: dict, target_truth_: float | None, all_truth: float) -> dict[str, Any]:
    f, lo, hi = e.get("fraction"), e.get("ci_low"), e.get("ci_high")
    covered = (None if f is None or target_truth_ is None
               else bool(lo - 1e-9 <= target_truth_ <= hi + 1e-9))
    return {"source": source, "estimate": f, "ci_low": lo, "ci_high": hi,
            "method": e.get("method"), "detector": e.get("detector"), "floor": e.get("floor"),
            "truth": target_truth_, "truth_all_documents": all_truth, "in_interval": covered,
            "error": None if f is None or target_truth_ is None else f - target_truth_}


def run_demo(out_dir: str | Path = "demo-output", *, n_boot: int = N_BOOT, seed: int = 0,
             say: Callable[[str], None] | None = None) -> DemoResult:
    """Scan, estimate, project, report and check the embedded corpus in `out_dir`.

    The store is rebuilt from scratch each time so the demo always shows the same thing.
    """
    from auditor import check as gates
    from auditor.audit import AuditSettings, load_audit
    from auditor.output_files import write_bytes_atomic
    from auditor.readers.base import ReaderOptions
    from auditor.report import plots, write_report
    from auditor.report.collect import collect
    from auditor.scan.options import ScanOptions
    from auditor.scan.runner import run_scan

    say = say or (lambda _m: None)
    out = Path(out_dir).resolve()
    db = out / "audit.duckdb"
    marker = out / DEMO_MARKER
    if db.exists() and not marker.exists():  # never delete a store the demo did not make
        raise FileExistsError(f"{db} exists and was not made by `auditor demo`: choose another "
                              f"--out folder")
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text("made by `auditor demo`; the demo rebuilds this folder's store\n")
    for stale in (db, Path(f"{db}.wal"), Path(f"{db}.sidecars"), Path(f"{db}.logs")):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    timings: dict[str, float] = {}
    notes: list[str] = []

    t0 = time.perf_counter()
    files = copy_corpus(out / "corpus")
    say(f"scanning {len(files)} demo files ({', '.join(p.name for p in files)})")
    summary = run_scan([str(out / "corpus")], str(db),
                       ScanOptions(reader=ReaderOptions(license_column="license")))
    notes += summary.notes
    timings["scan_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    say("estimating the synthetic fraction overall, per source and per month; projecting "
        "model collapse (one audit, read by the report and the check below)")
    audit = load_audit(str(db), AuditSettings(n_boot=n_boot, seed=seed))
    overall, by_source = audit.overall, audit.by("source")
    notes += list(audit.errors)
    timings["estimate_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    collapse_png = None
    png = plots.collapse(audit.collapse) if audit.collapse.get("rows") else None
    if png:
        collapse_png = str(write_bytes_atomic(out / "collapse.png", png))
    timings["project_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    say("writing the report (HTML, Markdown, JSON)")
    data = collect(str(db), n_boot=n_boot, seed=seed, audit=audit)
    reports = {fmt: str(write_report(data, out / f"report.{fmt}", fmt))
               for fmt in ("html", "md", "json")}
    notes += [n for n in data.notes if n not in notes]
    timings["report_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    say("running the check gates")
    cfg_path = out / "auditor.toml"
    cfg_path.write_text(DEMO_CHECK_TOML.replace("{n_boot}", str(n_boot)).replace(
        "{seed}", str(seed)), encoding="utf-8")
    try:
        result = gates.run_check(str(db), gates.load_config(cfg_path))
        gates.write_json(result, out / "check.json")
        gates.write_junit(result, out / "check.xml")
        check = result.to_dict()
        check["summary"] = gates.summary_lines(result)
    except gates.CheckError as e:
        gates.write_error_json(str(e), out / "check.json", str(db), str(cfg_path))
        check = {"status": "error", "exit_code": gates.EXIT_ERROR, "error": str(e), "gates": []}
    timings["check_s"] = time.perf_counter() - t0

    comparison = compare(by_source, overall, load_truth(),
                         target_truth(str(db), load_labels(), by_source))
    return DemoResult(out_dir=str(out), db=str(db), reports=reports, collapse_plot=collapse_png,
                      comparison=comparison, check=check, timings=timings, notes=notes,
                      audit={"run_id": audit.run_id, "settings_hash": audit.settings_hash,
                             "persisted": audit.persisted})
