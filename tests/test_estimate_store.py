"""estimate_db on real stores: side-car Parquet files written with the store's own
`provenance_batch`, opened through `open_store` (the real `documents` view over them)."""

from __future__ import annotations

import datetime as dt
import json
import math

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from auditor.estimate import estimate_db
from auditor.estimate.identifiers import group_columns, view_columns
from auditor.estimate.result import RefKind, Status
from auditor.readers.provenance_rows import provenance_batch
from auditor.records import DEFAULT_CUTOFF, Document
from auditor.store.catalogue import open_store

PRE = dt.datetime(2020, 6, 1, tzinfo=dt.timezone.utc)
POST = dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc)


def human_scores(rng, n):
    return rng.beta(2, 6, n)


def machine_scores(rng, n):
    return rng.beta(6, 2, n)


def write_sidecar(db: str, name: str, rows: list[dict]) -> None:
    """One side-car: rows of {id, source, role, date, scores: {detector: score|None}, words}."""
    docs = [Document(id=r["id"], text=" ".join(["w"] * r.get("words", 10)), source=r["source"],
                     shard=f"{name}.jsonl", offset=i, crawl_date=r.get("date"),
                     role=r.get("role", "corpus"), domain=r.get("domain"))
            for i, r in enumerate(rows)]
    table = pa.Table.from_batches([provenance_batch(docs, DEFAULT_CUTOFF)])
    detectors = sorted({d for r in rows for d in r["scores"]})
    for d in detectors:
        table = table.append_column(pa.field(f"score_{d}", pa.float64()),
                                    pa.array([r["scores"].get(d) for r in rows], pa.float64()))
    folder = db + ".sidecars"
    import os

    os.makedirs(folder, exist_ok=True)
    pq.write_table(table, os.path.join(folder, f"{name}.parquet"))


def corpus_rows(rng, source: str, n_pre: int, n_post: int, fraction: float,
                detector: str = "classifier", start: int = 0, words=None) -> list[dict]:
    """Pre-cutoff human documents plus post-cutoff documents with `fraction` machine."""
    rows = []
    for i in range(n_pre):
        rows.append(dict(id=f"{source}-pre-{start + i}", source=source, date=PRE,
                         scores={detector: float(human_scores(rng, 1)[0])}))
    k = int(round(fraction * n_post))
    for i in range(n_post):
        s = machine_scores(rng, 1)[0] if i < k else human_scores(rng, 1)[0]
        rows.append(dict(id=f"{source}-post-{start + i}", source=source, date=POST,
                         scores={detector: float(s)},
                         words=(words(i < k) if words else 10)))
    return rows


def machine_ref_rows(rng, n: int, detector: str = "classifier") -> list[dict]:
    return [dict(id=f"mref-{i}", source="labeled", role="machine_reference",
                 scores={detector: float(machine_scores(rng, 1)[0])}) for i in range(n)]


def make_store(tmp_path, sources: dict[str, float], n_pre=600, n_post=1500, seed=0,
               n_machine_ref=800) -> str:
    rng = np.random.default_rng(seed)
    db = str(tmp_path / "audit.duckdb")
    for src, f in sources.items():
        write_sidecar(db, src, corpus_rows(rng, src, n_pre, n_post, f))
    write_sidecar(db, "mref", machine_ref_rows(rng, n_machine_ref))
    open_store(db).close()  # creates the catalogue and the documents view
    return db


def test_estimates_recover_known_fractions_per_source(tmp_path):
    db = make_store(tmp_path, {"web": 0.0, "forum": 0.2, "news": 0.5})
    res = {e.group["source"]: e for e in estimate_db(db, by=["source"], n_boot=100, seed=1)}
    assert set(res) == {"web", "forum", "news"}
    for src, truth in {"web": 0.0, "forum": 0.2, "news": 0.5}.items():
        e = res[src]
        # whole group: 600 pre-cutoff documents (human by assumption) + 1500 post-cutoff
        n_post_machine = round(truth * 1500)
        true_share = n_post_machine / e.n_docs
        assert e.ci_low <= true_share <= e.ci_high, (src, e)
        assert abs(e.fraction - true_share) < 0.04
        assert e.ci_low_post <= truth <= e.ci_high_post, (src, e)
        assert abs(e.fraction_post - truth) < 0.05
        assert e.method == "mlms" and e.detector == "classifier"
        assert e.human_ref_kind == RefKind.OWN.value and e.status == Status.ESTIMATED.value
        assert e.n_human_ref == 600 and e.n_pre_cutoff == 600  # every pre-cutoff document
        assert e.n_machine_ref == 800
        assert e.floor is not None and e.floor < 0.03
        assert e.n_docs == 2100
    assert res["web"].ci_low == 0.0 or res["web"].fraction > 0


def test_recorded_rows_and_overall_group(tmp_path):
    db = make_store(tmp_path, {"a": 0.1, "b": 0.3})
    overall = estimate_db(db, n_boot=50, seed=0)
    assert len(overall) == 1 and overall[0].group == {}
    ticks = []
    per = estimate_db(db, by=("source",), method="acc", n_boot=50, seed=0,
                      progress=lambda done, total: ticks.append((done, total)))
    assert ticks[0] == (0, 2) and ticks[-1] == (2, 2)
    con = duckdb.connect(db, read_only=True)
    rows = con.execute("SELECT group_by, group_key, method, fraction, ci_low, ci_high, n_docs, "
                       "floor, run_id FROM estimates ORDER BY estimated_at, group_key").fetchall()
    con.close()
    assert len(rows) == 3
    assert json.loads(rows[0][0]) == [] and json.loads(rows[0][1]) == {}
    assert {json.loads(r[1])["source"] for r in rows[1:]} == {"a", "b"}
    assert all(r[2] == "acc" for r in rows[1:])
    assert rows[1][3] == pytest.approx(per[0].fraction)


def test_token_weighting_counts_tokens_not_documents(tmp_path):
    rng = np.random.default_rng(3)
    db = str(tmp_path / "t.duckdb")
    # machine documents are 4x longer: 20% of documents, 50% of tokens
    rows = corpus_rows(rng, "s", 800, 1000, 0.2, words=lambda machine: 40 if machine else 10)
    write_sidecar(db, "s", rows)
    write_sidecar(db, "mref", machine_ref_rows(rng, 800))
    open_store(db).close()
    docs = estimate_db(db, by=["source"], n_boot=60, record=False)[0]
    toks = estimate_db(db, by=["source"], weight="tokens", n_boot=60, record=False)[0]
    machine_tokens = 200 * round(40 * 1.3)
    assert toks.weight == "tokens" and docs.weight == "docs"
    assert toks.n_tokens == machine_tokens + round(10 * 1.3) * (toks.n_docs - 200)
    assert abs(docs.fraction - 200 / docs.n_docs) < 0.04
    assert abs(toks.fraction - machine_tokens / toks.n_tokens) < 0.06
    assert toks.fraction > docs.fraction + 0.15


def test_no_human_reference_falls_back_with_a_note(tmp_path):
    rng = np.random.default_rng(5)
    db = str(tmp_path / "f.duckdb")
    write_sidecar(db, "new", corpus_rows(rng, "new", 0, 500, 0.3))  # no pre-cutoff documents
    write_sidecar(db, "old", corpus_rows(rng, "old", 500, 0, 0.0))
    write_sidecar(db, "mref", machine_ref_rows(rng, 500))
    open_store(db).close()
    res = {e.group["source"]: e for e in estimate_db(db, by=["source"], record=False, n_boot=40)}
    assert res["old"].status == Status.PRE_CUTOFF.value and res["old"].fraction == 0.0
    new = res["new"]
    # no own pre-cutoff documents: borrowed from the store's other source, and said so
    assert new.human_ref_kind == RefKind.BORROWED.value and new.human_ref_sources == ("old",)
    assert any("borrowed" in n and "old" in n for n in new.notes), new.notes
    assert new.ci_low <= 0.3 <= new.ci_high


def test_human_reference_role_documents_are_used_when_source_has_no_dates(tmp_path):
    rng = np.random.default_rng(6)
    db = str(tmp_path / "h.duckdb")
    write_sidecar(db, "new", corpus_rows(rng, "new", 0, 800, 0.25))
    write_sidecar(db, "href", [dict(id=f"h{i}", source="labeled-human", role="human_reference",
                                    scores={"classifier": float(human_scores(rng, 1)[0])})
                               for i in range(600)])
    write_sidecar(db, "mref", machine_ref_rows(rng, 600))
    open_store(db).close()
    (e,) = [x for x in estimate_db(db, by=["source"], record=False, n_boot=60)
            if x.group["source"] == "new"]
    assert e.human_ref == "documents scanned as human_reference (all)"
    assert any("human_reference" in n for n in e.notes)
    assert e.ci_low <= 0.25 <= e.ci_high
    assert e.floor is not None and e.floor < 0.05


def test_group_by_rejects_injection_and_unknown_columns(tmp_path):
    db = make_store(tmp_path, {"a": 0.1}, n_pre=60, n_post=60, n_machine_ref=60)
    for bad in ['source"; DROP TABLE runs; --', "nope", "source; select 1", "score_classifier",
                "id"]:
        with pytest.raises(ValueError, match="not a column"):
            estimate_db(db, by=[bad], record=False, n_boot=0)
    con = duckdb.connect(db, read_only=True)
    cols = view_columns(con)
    assert group_columns(["source", "crawl_month"], cols) == ['"source"', '"crawl_month"']
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0  # table still there
    con.close()
    with pytest.raises(ValueError, match="detector"):
        estimate_db(db, detector="nope", record=False, n_boot=0)
    with pytest.raises(ValueError, match="method"):
        estimate_db(db, method="magic", record=False)
    with pytest.raises(FileNotFoundError, match="auditor scan"):
        estimate_db(str(tmp_path / "missing.duckdb"))


def test_edge_groups_empty_all_human_all_machine_single(tmp_path):
    rng = np.random.default_rng(8)
    db = str(tmp_path / "e.duckdb")
    rows = corpus_rows(rng, "ref", 800, 0, 0.0)
    # three more sources, compared against "ref" through grouping by crawl_month of one source
    rows += [dict(id=f"allh-{i}", source="allh", date=POST, scores={"classifier":
             float(human_scores(rng, 1)[0])}) for i in range(300)]
    rows += [dict(id=f"allm-{i}", source="allm", date=POST, scores={"classifier":
             float(machine_scores(rng, 1)[0])}) for i in range(300)]
    rows += [dict(id="one", source="one", date=POST, scores={"classifier": 0.95})]
    rows += [dict(id=f"unscored-{i}", source="unscored", date=POST, scores={"classifier": None})
             for i in range(5)]
    write_sidecar(db, "all", rows)
    write_sidecar(db, "mref", machine_ref_rows(rng, 800))
    write_sidecar(db, "href", [dict(id=f"h{i}", source="labeled-human", role="human_reference",
                                    scores={"classifier": float(human_scores(rng, 1)[0])})
                               for i in range(800)])
    open_store(db).close()
    res = {e.group["source"]: e for e in estimate_db(db, by=["source"], record=False,
                                                      n_boot=80, seed=2)}
    allh, allm, one, empty = res["allh"], res["allm"], res["one"], res["unscored"]
    assert allh.fraction < 0.02 and allh.ci_low == 0.0 and 0 < allh.ci_high
    # the upper end also covers machine text that scores below the machine reference (down to
    # methods.MIN_MACHINE_AUC separation), which a pure-human target cannot rule out: wider
    # than the plain bootstrap's few points, and said so
    assert allh.ci_high < 0.25
    assert any("widened for reference mismatch" in n for n in allh.notes)
    assert allm.fraction > 0.97 and allm.ci_high == 1.0
    for small in (one, empty):  # below the minimum group size: not estimated, not gated
        assert small.status == Status.TOO_FEW.value and not small.in_gates
        assert math.isnan(small.fraction)
    assert one.n_docs == 1 and empty.n_docs == 5
    # the pooled row: one scored document of six (five have no score) is too few to estimate
    other = res["other"]
    assert other.status == Status.NO_ESTIMATE.value and not other.in_gates and other.n_docs == 6
    assert any(n.startswith("only 1 post-cutoff document(s) have a classifier score")
               for n in other.notes)
    # the reference source itself: all pre-cutoff, a human reference with its floor
    ref = res["ref"]
    assert ref.status == Status.PRE_CUTOFF.value and ref.fraction == 0.0
    assert ref.floor is not None and ref.floor < 0.03


def test_every_method_runs_on_a_store(tmp_path):
    db = make_store(tmp_path, {"s": 0.3}, n_pre=1200, n_post=800, n_machine_ref=800)
    for m in ("cc", "acc", "pcc", "pacc", "em", "hdy", "mlm"):
        (e,) = estimate_db(db, by=["source"], method=m, n_boot=30, record=False)
        assert e.method == m
        assert 0 <= e.ci_low <= e.fraction <= e.ci_high <= 1
        if m != "cc" and m != "pcc":
            assert e.ci_low - 0.02 <= 240 / e.n_docs <= e.ci_high + 0.02, (m, e)


def test_sql_histograms_match_the_numpy_rule(tmp_path):
    """The bins DuckDB computes are the bins `methods.histogram` computes on the same scores."""
    from auditor.estimate.histograms import target_hists
    from auditor.estimate.methods import histogram, reference_edges

    db = make_store(tmp_path, {"s": 0.4}, n_pre=0, n_post=700, n_machine_ref=60)
    con = duckdb.connect(db, read_only=True)
    scores = [r[0] for r in con.execute(
        "SELECT score_classifier FROM documents WHERE role = 'corpus'").fetchall()]
    edges = reference_edges(scores[:300], scores[300:], n_bins=12)
    groups = target_hists(con, '"score_classifier"', ['"source"'], edges, tokens=False)
    con.close()
    (rows,) = groups.values()
    (hist,) = rows.by_source.values()
    assert np.array_equal(hist.docs, histogram(scores, edges))


def test_own_references_from_the_target_pass_equal_their_own_query(tmp_path):
    """The own pre-cutoff reference histograms that `target_and_own_hists` takes out of the
    target pass (to save a pass over the store) are exactly `source_hists` over the own
    reference's SQL: per (source, slice), by documents and by tokens, with unscored pre-cutoff
    documents, undated ones, another role and a second group key present."""
    from auditor.estimate.histograms import source_hists, target_and_own_hists
    from auditor.estimate.methods import reference_edges
    from auditor.estimate.references import plan_references

    rng = np.random.default_rng(5)
    db = str(tmp_path / "own.duckdb")
    rows = (corpus_rows(rng, "a", 300, 200, 0.3) + corpus_rows(rng, "b", 120, 300, 0.1)
            + [dict(id=f"u{i}", source="a", date=PRE, scores={}, words=7) for i in range(40)]
            + [dict(id=f"n{i}", source="b", date=None, words=3,
                    scores={"classifier": float(human_scores(rng, 1)[0])}) for i in range(50)])
    for i, r in enumerate(rows):
        r["words"] = r.get("words", 5 + i % 17)
    write_sidecar(db, "c", rows)
    write_sidecar(db, "mref", machine_ref_rows(rng, 100))
    open_store(db).close()
    con = duckdb.connect(db, read_only=True)
    score = '"score_classifier"'
    plan = plan_references(con, "classifier", score)
    edges = reference_edges(human_scores(rng, 400), machine_scores(rng, 400), n_bins=10)
    for tokens in (False, True):
        groups, own = target_and_own_hists(con, score, ['"crawl_month"'], edges, tokens)
        alone = source_hists(con, plan.own, edges, tokens)
        assert set(own) == set(alone) == {("a", True), ("a", False), ("b", True), ("b", False)}
        for k in alone:
            assert np.array_equal(own[k].docs, alone[k].docs), k
            assert np.array_equal(own[k].weight, alone[k].weight), k
        assert sum(h.n for h in own.values()) == 420  # scored, dated pre-cutoff corpus rows
        plain = target_and_own_hists(con, score, ['"crawl_month"'], edges, tokens, own=False)[0]
        assert set(plain) == set(groups)
        for key, g in groups.items():
            assert set(g.by_source) == set(plain[key].by_source)
            assert all(np.array_equal(h.weight, plain[key].by_source[k].weight)
                       for k, h in g.by_source.items())
            assert (g.tokens, g.unscored_by_source) == (plain[key].tokens,
                                                        plain[key].unscored_by_source)
    # a two-tier sample restricts the target, so the own reference needs its own pass
    assert target_and_own_hists(con, score, [], edges, False, sample_of=score)[1] is None
    con.close()


@pytest.mark.parametrize("small_source_docs", [0, 300])
def test_reference_edges_are_the_quantiles_at_the_smallest_references_bins(tmp_path,
                                                                          small_source_docs):
    """`reference_edges` takes the sizes and the quantiles of the own references from one pass
    at the bins the machine reference allows, and computes them again when a small source
    lowers the bins: either way the edges are the quantiles of the reference slices at
    `bins_for(the smallest usable reference)`."""
    from auditor.estimate.histograms import reference_edges
    from auditor.estimate.methods import bins_for
    from auditor.estimate.references import plan_references

    rng = np.random.default_rng(9)
    db = str(tmp_path / "edges.duckdb")
    rows = corpus_rows(rng, "big", 3000, 100, 0.2)
    if small_source_docs:
        rows += corpus_rows(rng, "small", small_source_docs, 50, 0.2)
    rows += corpus_rows(rng, "tiny", 30, 50, 0.2)  # under min_human: not used for the bins
    write_sidecar(db, "c", rows)
    write_sidecar(db, "mref", machine_ref_rows(rng, 1200))
    open_store(db).close()
    con = duckdb.connect(db, read_only=True)
    plan = plan_references(con, "classifier", '"score_classifier"')
    edges = reference_edges(con, [plan.own], plan.machine)
    sizes = dict(con.execute(f"SELECT source, COUNT(*) FROM ({plan.own.sql}) WHERE in_ref "
                             "GROUP BY source", plan.own.params).fetchall())
    n_machine = con.execute(f"SELECT COUNT(*) FROM ({plan.machine.sql})",
                            plan.machine.params).fetchone()[0]
    n_bins = bins_for(min(min(n for n in sizes.values() if n >= 50), n_machine))
    assert n_bins == (bins_for(n_machine) if not small_source_docs else
                      bins_for(sizes["small"]))
    assert bins_for(sizes["small"]) < bins_for(n_machine) if small_source_docs else True
    levels = np.linspace(0, 1, n_bins + 1)[1:-1]
    human = [r[0] for r in con.execute(f"SELECT score FROM ({plan.own.sql}) WHERE in_ref",
                                       plan.own.params).fetchall()]
    machine = [r[0] for r in con.execute(f"SELECT score FROM ({plan.machine.sql}) WHERE in_ref",
                                         plan.machine.params).fetchall()]
    con.close()
    expected = np.unique(np.concatenate([np.quantile(human, levels),
                                         np.quantile(machine, levels)]))
    assert np.allclose(edges, expected, rtol=0, atol=1e-12)


def test_group_by_source_and_month_uses_the_sources_reference(tmp_path):
    rng = np.random.default_rng(12)
    db = str(tmp_path / "m.duckdb")
    rows = corpus_rows(rng, "web", 800, 0, 0.0)
    for month, frac in ((3, 0.1), (9, 0.4)):
        date = dt.datetime(2024, month, 1, tzinfo=dt.timezone.utc)
        k = int(600 * frac)
        rows += [dict(id=f"web-{month}-{i}", source="web", date=date, scores={"classifier": float(
            (machine_scores if i < k else human_scores)(rng, 1)[0])}) for i in range(600)]
    write_sidecar(db, "web", rows)
    write_sidecar(db, "mref", machine_ref_rows(rng, 800))
    open_store(db).close()
    res = {e.group["crawl_month"]: e for e in
           estimate_db(db, by=["source", "crawl_month"], n_boot=60, record=False)}
    assert set(res) == {"2020-06", "2024-03", "2024-09"}
    assert res["2024-03"].human_ref.startswith("own pre-cutoff")  # from the 2020 documents
    assert res["2024-03"].ci_low <= 0.1 <= res["2024-03"].ci_high
    assert res["2024-09"].ci_low <= 0.4 <= res["2024-09"].ci_high
    assert res["2024-03"].n_docs == 600 and res["2024-09"].n_docs == 600
    assert res["2020-06"].n_docs == 800 and res["2020-06"].status == Status.PRE_CUTOFF.value


def test_store_without_scores_says_what_to_do(tmp_path):
    db = str(tmp_path / "empty.duckdb")
    open_store(db).close()  # a store with no side-cars yet
    with pytest.raises(LookupError, match="auditor scan"):
        estimate_db(db, record=False)


def test_the_headline_names_the_rows_it_leaves_out_for_want_of_an_estimate(tmp_path):
    """A source the detector could not score (its language) has no estimate; the headline
    counted its documents and combined the others' fractions without saying it left it out."""
    rng = np.random.default_rng(12)
    db = str(tmp_path / "h.duckdb")
    rows = corpus_rows(rng, "en", 300, 300, 0.2)
    rows += [dict(id=f"zh-{i}", source="zh", date=POST, scores={"classifier": None})
             for i in range(60)]
    # ten of its documents scored (an English page among them, say), all machine-like
    rows += [dict(id=f"zh-en-{i}", source="zh", date=POST,
                  scores={"classifier": float(machine_scores(rng, 1)[0])}) for i in range(10)]
    write_sidecar(db, "all", rows)
    write_sidecar(db, "mref", machine_ref_rows(rng, 800))
    open_store(db).close()
    *groups, head = estimate_db(db, by=["source"], record=False, n_boot=20, overall=True)
    zh = next(e for e in groups if e.group == {"source": "zh"})
    assert zh.status == Status.NO_ESTIMATE.value
    assert head.n_docs == 670
    assert ("1 row(s) without an estimate (zh; 70 documents) are left out of this combination"
            in " ".join(head.notes))
    # the headline (the audit's, `check`'s) leaves out the same source: one figure everywhere
    # (it took zh's ten scored documents in, so `check` read another overall than the table)
    [alone] = estimate_db(db, record=False, n_boot=20)
    assert alone.fraction == head.fraction and alone.n_docs == head.n_docs
    # which documents the headline is a share of, for the report's summary line
    assert head.n_docs_covered == alone.n_docs_covered == 600
    from tests.cli_run import invoke

    out = tmp_path / "r.md"
    assert invoke(["report", "--db", db, "-o", str(out)]).exit_code == 0
    summary = next(line for line in out.read_text().splitlines()
                   if line.startswith("- synthetic fraction"))
    assert "it covers 600 of the 670 documents" in summary
