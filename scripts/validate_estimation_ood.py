"""Out-of-distribution parts of scripts/validate_estimation.py: leave-one-repository-out corpora
from labeled/extra.parquet, and the real crawl samples scanned with `auditor scan`.

Imported by validate_estimation.py (see its docstring for the design); not a tool of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/data")
CACHE = REPO / ".bench" / "validate_estimation_extra_scores.parquet"

from auditor.estimate import methods as M  # noqa: E402
from auditor.estimate.bootstrap import Hist  # noqa: E402
from auditor.estimate.cells import Cell, SourceFit, combine_cells, estimate_cells  # noqa: E402
from auditor.estimate.choice import auto_method  # noqa: E402

#: Machine-written variants used (see the main docstring); attacks and polish are left out.
MACHINE_VARIANTS = ("pure", "llm_rewrite_of_human_text", "llm_paraphrase_of_ai_text")
#: LORO sources: (repo, domain) -> (human reference size, target size). All human rows the
#: repository has for the domain are needed at a 0% target: sizes fit what exists.
LORO_SOURCES = {
    ("junchaoIU/DetectRL", "news (BBC XSum)"): (300, 500),
    ("junchaoIU/DetectRL", "reviews (Yelp)"): (300, 500),
    ("junchaoIU/DetectRL", "scientific abstracts (arXiv)"): (300, 500),
    ("junchaoIU/DetectRL", "creative writing (Reddit WritingPrompts)"): (300, 500),
    ("MarkGHX/BiScope", "creative writing (Reddit WritingPrompts)"): (300, 500),
    ("ranhli/l2r_data", "education material (L2R)"): (80, 120),
    ("ranhli/l2r_data", "government public (L2R)"): (80, 120),
    ("ranhli/l2r_data", "legal document (L2R)"): (80, 120),
    ("ranhli/l2r_data", "religious (L2R)"): (80, 120),
    ("ranhli/l2r_data", "technical writing (L2R)"): (80, 120),
}
MAX_MACHINE = 300


def _machine_reference() -> np.ndarray:
    path = REPO / "detectors" / "models" / "references" / "classifier.parquet"
    t = pq.read_table(path, columns=["score", "label", "split"]).to_pydict()
    s = np.asarray(t["score"], float)
    ok = (np.isfinite(s) & (np.asarray(t["label"]) == "ai")
          & np.isin(np.asarray(t["split"]), ["calib", "test", "test_generator"]))
    return s[ok]


def loro_scores(say=print) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Classifier scores of the LORO sources' human and machine rows (cached)."""
    if not CACHE.is_file():
        t = pq.read_table(SHARED / "labeled" / "extra.parquet",
                          columns=["id", "text", "label", "domain", "source_repo", "variant"])
        keep = []
        for (repo, domain) in LORO_SOURCES:
            sub = t.filter(pc.and_(pc.equal(t["source_repo"], repo), pc.equal(t["domain"], domain)))
            human = sub.filter(pc.equal(sub["label"], "human"))
            machine = sub.filter(pc.and_(pc.equal(sub["label"], "ai"), pc.is_in(
                sub["variant"], value_set=pa.array(MACHINE_VARIANTS))))
            rng = np.random.default_rng(7)
            idx = np.sort(rng.permutation(machine.num_rows)[:MAX_MACHINE])
            keep += [human, machine.take(pa.array(idx, pa.int64()))]
        rows = pa.concat_tables(keep)
        from detectors import load

        say(f"scoring {rows.num_rows} extra.parquet texts with the shipped classifier ...")
        det = load("classifier")
        scores = det.score(rows["text"].to_pylist())
        out = rows.drop(["text"]).append_column("score", pa.array(scores, pa.float64()))
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(out, CACHE)
    t = pq.read_table(CACHE).to_pydict()
    out = {}
    for key in LORO_SOURCES:
        repo, domain = key
        m = [(r == repo and d == domain) for r, d in zip(t["source_repo"], t["domain"],
                                                         strict=True)]
        lab = np.asarray(t["label"])[m]
        sc = np.asarray(t["score"], float)[m]
        out[key] = {"human": sc[lab == "human"], "machine": sc[lab == "ai"]}
    return out


def estimate_one(h_ref: np.ndarray, m_ref: np.ndarray, target: np.ndarray, method: str,
                 n_boot: int, seed: int):
    """The post-cutoff share of `target` exactly as `estimate_db` computes it for one source."""
    edges = M.reference_edges(h_ref, m_ref)
    H, MM, T = (Hist.of(M.histogram(x, edges)) for x in (h_ref, m_ref, target))
    if method == "auto":
        method, _ = auto_method(len(h_ref), len(m_ref), False)
    cell = Cell((), "s", T, 0.0, len(target), 0, 0.0)
    est = estimate_cells([cell], {"s": SourceFit(H, method)}, MM, n_boot, seed,
                         machine_scores=m_ref, edges=edges)
    return combine_cells([0], [cell], est).post


def run_loro(fractions, replicates: int, n_boot: int, methods=("auto", "mlm", "acc"),
             say=print) -> list[dict]:
    data = loro_scores(say)
    m_ref = _machine_reference()
    rows = []
    for s_i, (key, (n_ref, n_target)) in enumerate(LORO_SOURCES.items()):
        human, machine = data[key]["human"], data[key]["machine"]
        for f_i, frac in enumerate(fractions):
            k = int(round(frac * n_target))
            if k > len(machine) or n_ref + n_target - k > len(human):
                continue
            for rep in range(replicates):
                seed = 1_000_000 * s_i + 1000 * f_i + rep
                rng = np.random.default_rng(seed)
                hp = rng.permutation(human)
                h_ref, h_target = hp[:n_ref], hp[n_ref:n_ref + n_target - k]
                target = np.concatenate([rng.choice(machine, k, replace=False), h_target])
                for method in methods:
                    iv = estimate_one(h_ref, m_ref, target, method, n_boot, seed)
                    rows.append(dict(source=f"{key[1]} [{key[0]}]", repo=key[0],
                                     fraction=frac, truth=k / n_target, rep=rep, method=method,
                                     est=iv.fraction, lo=iv.ci_low, hi=iv.ci_high))
    return rows


def loro_auc() -> dict[str, float]:
    from scipy.stats import mannwhitneyu

    data = loro_scores()
    m_ref = _machine_reference()
    out = {}
    for (repo, domain), d in data.items():
        h, m = d["human"], d["machine"]
        out[f"{domain} [{repo}]"] = (
            float(mannwhitneyu(m, h).statistic / (len(m) * len(h))),
            float(mannwhitneyu(m_ref, h).statistic / (len(m_ref) * len(h))),
            float(np.median(m)), float(np.median(m_ref)), len(h), len(m))
    return out


def scan_crawl(db: str, cutoff: str | None) -> None:
    cmd = [sys.executable, "-m", "auditor", "scan", str(SHARED / "crawl"), "--db", db,
           "--detectors", "classifier,excess_vocab", "--no-progress"]
    if cutoff:
        cmd += ["--cutoff", cutoff]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if res.returncode not in (0, 3):
        raise RuntimeError(f"scan failed ({res.returncode}): {res.stderr[-2000:]}")


def crawl_rows(n_boot: int) -> dict[str, list[dict]]:
    """estimate_db --by source on the crawl folder, with real dates and without them."""
    from auditor.estimate import estimate_db

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for view, cutoff in (("real dates", None), ("no dates (all treated as post-cutoff)",
                                                    "1990-01-01")):
            db = os.path.join(tmp, f"crawl-{len(out)}.duckdb")
            scan_crawl(db, cutoff)
            ests = estimate_db(db, by=["source"], n_boot=n_boot, record=False)
            out[view] = [json.loads(json.dumps(e.to_dict(), default=str)) for e in ests]
    return out


__all__ = ["LORO_SOURCES", "MACHINE_VARIANTS", "crawl_rows", "estimate_one", "loro_auc",
           "run_loro"]
