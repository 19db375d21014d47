"""Out-of-distribution parts of scripts/validate_estimation.py: leave-one-repository-out corpora
from out-of-fold classifier scores of every labeled repository (scripts/oof_scores.py), and the
real crawl samples scanned with `auditor scan`.

Imported by validate_estimation.py (see its docstring for the design); not a tool of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/data")

from auditor.estimate import methods as M  # noqa: E402
from auditor.estimate.bootstrap import Hist  # noqa: E402
from auditor.estimate.cells import Cell, SourceFit, combine_cells, estimate_cells  # noqa: E402
from auditor.estimate.choice import auto_method  # noqa: E402

#: Machine-written variants used (see the main docstring): text a model wrote (a continuation
#: keeps a short human prefix, as in the fast-detect-gpt and Binoculars sets). Attacks,
#: perturbations, back-translation and light polish of human text are left out.
MACHINE_VARIANTS = ("pure", "llm_rewrite_of_human_text", "llm_paraphrase_of_ai_text",
                    "llm_expand_of_human_text", "llm_generation", "continuation_of_human_prefix")
#: Out-of-fold scores (scripts/oof_scores.py): per held-out repository (`fold`), its rows scored
#: by a classifier trained without it (role target) and the other repositories' calib rows
#: scored by that same model (role reference).
OOF = REPO / ".bench" / "oof_scores.parquet"
#: Source sizes: the human reference is 40% of the source's human rows, between
#: `MIN_REF` (the store's own minimum before it borrows: references.MIN_HUMAN_REF) and
#: `MAX_REF`; the target is the rest, at most `MAX_TARGET`, at least `MIN_TARGET`.
MIN_REF, MAX_REF, MIN_TARGET, MAX_TARGET = 50, 300, 50, 500
#: At most this many domains per repository (those with the most human rows), so that one
#: repository with many genres does not outweigh the others; machine rows capped per source.
MAX_DOMAINS, MAX_MACHINE = 4, 300


def is_dev_repo(repo: str) -> bool:
    """Development repositories of the leave-one-repository-out corpora: where a design choice
    (e.g. how a generated machine reference is used) is decided, by a hash of the name fixed
    before any result was seen. Figures reported for such a choice come from the others."""
    return int(hashlib.sha1(f"dev:{repo}".encode()).hexdigest()[:8], 16) % 3 == 0


def draw_corpus(human: np.ndarray, machine: np.ndarray, n_ref: int, n_target: int, k: int,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One seeded replicate: a human reference of `n_ref` scores and a disjoint target of
    `n_target` scores, `k` of them machine. The one draw both validations use."""
    rng = np.random.default_rng(seed)
    hp = rng.permutation(human)
    h_ref, h_target = hp[:n_ref], hp[n_ref:n_ref + n_target - k]
    return h_ref, np.concatenate([rng.choice(machine, k, replace=False), h_target])


def source_sizes(n_human: int) -> tuple[int, int] | None:
    """(human reference, target) sizes for a source with `n_human` human rows, or None."""
    n_ref = min(MAX_REF, max(MIN_REF, int(0.4 * n_human)))
    n_target = min(MAX_TARGET, n_human - n_ref)
    return (n_ref, n_target) if n_target >= MIN_TARGET else None


def loro_sources(say=print, oof: Path = OOF) -> dict[tuple[str, str], dict]:
    """Per (held-out repository, domain): out-of-fold human and machine scores, sizes, and the
    fold's machine reference (label ai, role reference: the other repositories' calib rows).
    `oof`: out-of-fold scores in the schema of .bench/oof_scores.parquet (another detector's,
    e.g. scripts/stack_search.py's stack)."""
    if not oof.is_file():
        raise SystemExit(f"{oof} is missing: run `nice -n 10 python scripts/oof_scores.py` first")
    t = pq.read_table(oof, columns=["fold", "label", "domain", "variant", "role",
                                    "score"]).to_pandas()
    t = t[np.isfinite(t["score"])]
    out = {}
    for fold, rows in t.groupby("fold", sort=True):
        tg = rows[rows["role"] == "target"]
        m_ref = rows[(rows["role"] == "reference") & (rows["label"] == "ai")]["score"].to_numpy()
        cands = []
        for domain, d in tg.groupby("domain", sort=True):
            human = d[d["label"] == "human"]["score"].to_numpy()
            machine = d[(d["label"] == "ai") & d["variant"].isin(MACHINE_VARIANTS)]
            sizes = source_sizes(len(human))
            if sizes is None or len(machine) < 10:
                continue
            rng = np.random.default_rng(7)
            ms = machine["score"].to_numpy()
            ms = ms[np.sort(rng.permutation(len(ms))[:MAX_MACHINE])]
            cands.append((len(human), domain, human, ms, sizes))
        for _n_h, domain, human, ms, sizes in sorted(cands, key=lambda c: (-c[0], c[1]))[
                :MAX_DOMAINS]:
            out[(fold, domain)] = {"human": human, "machine": ms, "sizes": sizes,
                                   "machine_ref": m_ref}
    say(f"LORO sources: {len(out)} from {len({k[0] for k in out})} repositories")
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
             say=print, oof: Path = OOF) -> list[dict]:
    rows = []
    for key, d, frac, k, rep, seed, h_ref, target in loro_draws(loro_sources(say, oof),
                                                                 fractions, replicates):
        n_ref, n_target = d["sizes"]
        for method in methods:
            iv = estimate_one(h_ref, d["machine_ref"], target, method, n_boot, seed)
            rows.append(dict(source=f"{key[1]} [{key[0]}]", repo=key[0], n_ref=n_ref,
                             fraction=frac, truth=k / n_target, rep=rep, method=method,
                             est=iv.fraction, lo=iv.ci_low, hi=iv.ci_high))
    return rows


def loro_draws(data: dict, fractions, replicates: int, keep=lambda key: True):
    """Every (source, fraction, replicate) corpus of the LORO validation, seeded by its place
    in `data` (so a subset of sources, `keep`, draws the same corpora as the whole): yields
    key, source data, fraction, machine count k, replicate, seed, human reference, target.
    Fractions whose machine rows (or human rows) a source lacks are skipped for it."""
    for s_i, (key, d) in enumerate(data.items()):
        if not keep(key):
            continue
        human, machine = d["human"], d["machine"]
        n_ref, n_target = d["sizes"]
        for f_i, frac in enumerate(fractions):
            k = int(round(frac * n_target))
            if k > len(machine) or n_ref + n_target - k > len(human):
                continue
            for rep in range(replicates):
                seed = 1_000_000 * s_i + 1000 * f_i + rep
                h_ref, target = draw_corpus(human, machine, n_ref, n_target, k, seed)
                yield key, d, frac, k, rep, seed, h_ref, target


#: Out-of-fold scores of machine text generated from each LORO source's own human rows
#: (scripts/loro_generated.py).
GENERATED = REPO / ".bench" / "loro_generated_scores.parquet"
#: How a source's machine reference is made in the generated-reference rows: the fold's shared
#: reference as before, the generated texts alone, or both mixed (`auditor.estimate.generated`).
REF_RULES = ("shared", "alone", "mixed")


def generated_scores() -> dict[tuple[str, str], np.ndarray] | None:
    """{(fold, domain): scores of its generated texts}, or None when the file is missing or was
    scored beside other out-of-fold scores than the present ones."""
    if not GENERATED.is_file():
        return None
    t = pq.read_table(GENERATED)
    st = OOF.stat()
    stamp = (t.schema.metadata or {}).get(b"oof_stamp", b"").decode()
    if stamp != f"{st.st_size}:{int(st.st_mtime)}":
        return None
    d = t.to_pydict()
    out: dict[tuple[str, str], list[float]] = {}
    for f, dom, sc in zip(d["fold"], d["domain"], d["score"], strict=True):
        if sc is not None and np.isfinite(sc):
            out.setdefault((f, dom), []).append(sc)
    return {k: np.asarray(v) for k, v in out.items()}


def estimate_with_rule(h_ref: np.ndarray, m_shared: np.ndarray, generated: np.ndarray,
                       target: np.ndarray, rule: str, n_boot: int, seed: int):
    """The post-cutoff share as `estimate_db` computes it for a source whose stored machine
    texts scored `generated`: bins from the human and the shared machine reference (as the
    store path sets them), the source's machine reference by `rule` (`source_machine`), method
    `auto` for the resulting reference sizes."""
    from auditor.estimate.generated import source_machine

    edges = M.reference_edges(h_ref, m_shared)
    H, T = (Hist.of(M.histogram(x, edges)) for x in (h_ref, target))
    shared = Hist.of(M.histogram(m_shared, edges))
    if rule == "shared":
        MM, ms = shared, m_shared
    else:
        MM, ms = source_machine(shared, m_shared, generated, edges, rule)
    method, _ = auto_method(len(h_ref), MM.n, False)
    cell = Cell((), "s", T, 0.0, len(target), 0, 0.0)
    est = estimate_cells([cell], {"s": SourceFit(H, method)}, MM, n_boot, seed,
                         machine_scores=ms, edges=edges)
    return combine_cells([0], [cell], est).post


def run_loro_generated(fractions, replicates: int, n_boot: int, rules=REF_RULES,
                       say=print) -> list[dict]:
    """The LORO corpora of `run_loro` (same draws and seeds), estimated with `auto` under each
    machine-reference rule; sources without generated scores are left out."""
    data = loro_sources(say)
    gen = generated_scores()
    if gen is None:
        raise SystemExit(f"{GENERATED} is missing or stale: run "
                         "`nice -n 10 python scripts/loro_generated.py`")
    rows = []
    for key, d, frac, k, rep, seed, h_ref, target in loro_draws(
            data, fractions, replicates, keep=lambda key: key in gen):
        n_ref, n_target = d["sizes"]
        for rule in rules:
            iv = estimate_with_rule(h_ref, d["machine_ref"], gen[key], target, rule, n_boot, seed)
            rows.append(dict(source=f"{key[1]} [{key[0]}]", repo=key[0], n_ref=n_ref,
                             dev=is_dev_repo(key[0]), fraction=frac,
                             truth=k / n_target, rep=rep, method=rule,
                             n_generated=len(gen[key]), est=iv.fraction, lo=iv.ci_low,
                             hi=iv.ci_high))
    return rows


def loro_auc() -> dict[str, tuple]:
    from scipy.stats import mannwhitneyu

    out = {}
    for (repo, domain), d in loro_sources(say=lambda *_: None).items():
        h, m, m_ref = d["human"], d["machine"], d["machine_ref"]
        out[f"{domain} [{repo}]"] = (
            float(mannwhitneyu(m, h).statistic / (len(m) * len(h))),
            float(mannwhitneyu(m_ref, h).statistic / (len(m_ref) * len(h))),
            float(np.median(m)), float(np.median(m_ref)), len(h), len(m), d["sizes"])
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


__all__ = ["MACHINE_VARIANTS", "crawl_rows", "estimate_one", "loro_auc",
           "run_loro"]
