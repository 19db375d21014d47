"""Per-source thresholds (issue 15, item 7) end to end on a store scanned from real files.

The corpus is two JSON lines files of real labeled texts (../shared/data/labeled/dev.parquet),
one source per file: `essays.example` has 230 student essays from before the cutoff and 60
texts after it (human and machine); the second source, named with HTML and Markdown
metacharacters, has only 20 pre-cutoff news texts, too few for a threshold of its own. The
shipped classifier scores them; every expectation is recomputed from the stored scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from auditor.audit import AuditSettings, load_audit
from auditor.estimate.source_thresholds import source_calibrations
from auditor.readers.base import ReaderOptions
from auditor.scan.options import ScanOptions
from auditor.scan.runner import run_scan
from detectors.calibration import MIN_SOURCE_HUMAN, ThresholdOrigin, threshold_for_fpr

ESSAYS = "essays.example"
HOSTILE = '<b>news</b> & "co" | [x](javascript:alert(1))'
ESSAY_DOMAIN = "student argumentative essays (Kaggle Feedback Prize, grades 6-12)"
NEWS_DOMAIN = "news (BBC XSum)"
PRE, POST = "2021-03-01T00:00:00Z", "2024-03-01T00:00:00Z"
SETTINGS = AuditSettings(n_boot=20, generations=3)


def _texts(shared_data, domain: str, label: str, n: int) -> list[str]:
    t = pq.read_table(shared_data / "labeled" / "dev.parquet", columns=["text", "label", "domain"])
    t = t.filter(pc.and_(pc.equal(t["domain"], domain), pc.equal(t["label"], label)))
    return [x[:1200] for x in t.column("text").to_pylist()[:n]]


@pytest.fixture(scope="module")
def store(tmp_path_factory, shared_data) -> str:
    root = tmp_path_factory.mktemp("calib")
    corpus = root / "corpus"
    corpus.mkdir()
    essays_h = _texts(shared_data, ESSAY_DOMAIN, "human", 260)
    essays_ai = _texts(shared_data, ESSAY_DOMAIN, "ai", 30)
    news_h = _texts(shared_data, NEWS_DOMAIN, "human", 50)
    news_ai = _texts(shared_data, NEWS_DOMAIN, "ai", 30)

    def rows(source, pre, post):
        out = [{"id": f"{source[:4]}-pre-{i}", "source": source, "crawl_date": PRE, "text": t}
               for i, t in enumerate(pre)]
        return out + [{"id": f"{source[:4]}-post-{i}", "source": source, "crawl_date": POST,
                       "text": t} for i, t in enumerate(post)]

    files = {"essays.jsonl": rows(ESSAYS, essays_h[:230], essays_h[230:] + essays_ai),
             "news.jsonl": rows(HOSTILE, news_h[:20], news_h[20:] + news_ai)}
    for name, rs in files.items():
        (corpus / name).write_text("".join(json.dumps(r) + "\n" for r in rs))
    db = str(root / "audit.duckdb")
    run_scan([str(corpus)], db, ScanOptions(reader=ReaderOptions(source_by="column:source")),
             detectors="classifier")
    return db


def _scores(db: str, source: str, pre: bool) -> np.ndarray:
    con = duckdb.connect(db, read_only=True)
    try:
        return np.array([r[0] for r in con.execute(
            "SELECT score_classifier FROM documents WHERE source = ? AND pre_cutoff = ? "
            "AND score_classifier IS NOT NULL", [source, pre]).fetchall()], dtype=float)
    finally:
        con.close()


@pytest.fixture(scope="module")
def audit(store):
    return load_audit(store, SETTINGS)


def test_thresholds_come_from_own_pre_cutoff_documents_else_shipped(store, audit):
    import detectors

    cal = audit.calibration
    assert cal["detector"] == "classifier" and cal["fpr"] == 0.01
    shipped = detectors.load("classifier").threshold
    assert cal["shipped_threshold"] == pytest.approx(shipped)
    by = {s["source"]: s for s in cal["sources"]}
    essays, news = by[ESSAYS], by[HOSTILE]
    pre = _scores(store, ESSAYS, True)
    assert essays["n_pre_cutoff"] == pre.size == 230 >= MIN_SOURCE_HUMAN
    assert essays["origin"] == ThresholdOrigin.OWN.value
    assert essays["threshold"] == pytest.approx(threshold_for_fpr(pre, 0.01))
    # at most 1% of the source's own old essays lie above it: a threshold of its own
    assert essays["flagged_pre_cutoff"] == pytest.approx(np.mean(pre > essays["threshold"]))
    assert essays["flagged_pre_cutoff"] <= 0.01
    assert essays["threshold"] != pytest.approx(shipped)
    post = _scores(store, ESSAYS, False)
    assert essays["n_target"] == post.size == 60
    assert essays["flagged_target"] == pytest.approx(np.mean(post > essays["threshold"]))
    assert 0.0 <= essays["mean_p_machine"] <= 1.0
    # the machine reference is named without this machine's install path
    assert "detectors/models/references/classifier.parquet" in cal["machine_reference"]
    assert str(Path(detectors.__file__).parents[1]) not in cal["machine_reference"]
    assert news["n_pre_cutoff"] == 20 and news["origin"] == ThresholdOrigin.SHIPPED.value
    assert news["threshold"] == pytest.approx(shipped) and news["mean_p_machine"] is None
    post = _scores(store, HOSTILE, False)
    assert news["flagged_target"] == pytest.approx(np.mean(post > shipped))


def test_the_audit_stores_them_and_the_sql_rule_equals_the_array_rule(store, audit):
    again = load_audit(store, SETTINGS)
    assert again.persisted and again.calibration == audit.calibration
    # the SQL rank (`fpr_rank`) and `threshold_for_fpr` agree at other rates and minimums too
    con = duckdb.connect(store, read_only=True)
    try:
        cal = source_calibrations(con, "classifier", fpr=0.05, min_pre_cutoff=10, shipped=9.0)
    finally:
        con.close()
    for s in cal.sources:
        assert s.origin is ThresholdOrigin.OWN
        assert s.threshold == pytest.approx(threshold_for_fpr(_scores(store, s.source, True),
                                                              0.05))


def test_filter_with_the_per_source_rule_drops_the_right_documents(store, audit, tmp_path):
    from auditor.cli import main

    out = tmp_path / "m.parquet"
    res = CliRunner().invoke(main, ["filter", "--db", store, "--drop",
                                    "score:classifier > source_threshold", "-o", str(out),
                                    "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)["manifest"]
    thr = {s["source"]: s["threshold"] for s in audit.calibration["sources"]}
    con = duckdb.connect(store, read_only=True)
    try:
        docs = con.execute("SELECT shard, \"offset\", source, pre_cutoff, score_classifier "
                           "FROM documents").fetchall()
    finally:
        con.close()
    expected = {(sh, off) for sh, off, src, pre, sc in docs
                if not pre and sc is not None and sc > thr[src]}
    manifest = pq.read_table(out).to_pylist()
    dropped = {(r["shard"], r["offset"]) for r in manifest if r["decision"] == "drop"}
    assert dropped == expected and len(manifest) == len(docs)
    # pre-cutoff documents are never dropped, though some score above their threshold
    assert any(pre and sc > thr[src] for _, _, src, pre, sc in docs)
    assert summary["by_source"][ESSAYS]["drop"] == sum(
        1 for _, _, src, pre, sc in docs if src == ESSAYS and not pre and sc > thr[src]) > 0
    (named,) = summary["source_thresholds"]
    assert named["detector"] == "classifier"
    assert named["sources"][ESSAYS]["origin"] == "own"
    assert named["sources"][HOSTILE]["origin"] == "shipped"
    assert named["sources"][ESSAYS]["threshold"] == pytest.approx(thr[ESSAYS])
    # the text summary names each source's threshold and origin, the hostile name inert
    res = CliRunner().invoke(main, ["filter", "--db", store, "--drop",
                                    "score:classifier > source_threshold", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert f"{ESSAYS}: {thr[ESSAYS]:.4g} (own pre-cutoff documents, 230" in res.output
    assert "(shipped (too few pre-cutoff documents), 20 pre-cutoff documents)" in res.output


def test_source_threshold_rule_is_checked(store, tmp_path):
    from auditor.act.rules import RuleError, parse_rule

    for bad in ("crawl_date > source_threshold", "score:classifier < source_threshold"):
        with pytest.raises(RuleError, match="source_threshold"):
            parse_rule(bad, "drop")
    from auditor.cli import main

    res = CliRunner().invoke(main, ["filter", "--db", store, "--drop",
                                    "score:nosuch > source_threshold", "-o",
                                    str(tmp_path / "m.parquet")])
    assert res.exit_code == 2 and "nosuch" in res.output


def test_report_shows_thresholds_and_origins_escaped(store, audit, tmp_path):
    from auditor.report import write_report
    from auditor.report.collect import collect

    data = collect(store, n_boot=SETTINGS.n_boot, generations=SETTINGS.generations, top_k=2)
    assert data.calibration == audit.calibration
    md = write_report(data, tmp_path / "r.md").read_text()
    section = md.split("## Thresholds per source")[1].split("\n## ")[0]
    essays = next(line for line in section.splitlines() if line.startswith(f"| {ESSAYS}"))
    assert "own pre-cutoff documents" in essays and "| 230 | 60 |" in essays
    hostile = next(line for line in section.splitlines() if "news" in line)
    assert "shipped (too few pre-cutoff documents)" in hostile
    assert "<b>" not in hostile and "[x](" not in hostile
    assert "&lt;b&gt;news" in hostile and "\\[x\\](" in hostile and "\\|" in hostile
    page = write_report(data, tmp_path / "r.html").read_text()
    table = page.split('id="calibration-table"')[1].split("</table>")[0]
    assert "&lt;b&gt;news&lt;/b&gt; &amp; &quot;co&quot;" in table and "<b>" not in table
    assert table.count(">own pre-cutoff documents<") == 1
    assert table.count(">shipped (too few pre-cutoff documents)<") == 1
    js = json.loads(write_report(data, tmp_path / "r.json").read_text())
    assert {s["source"]: s["origin"] for s in js["calibration"]["sources"]} == {
        ESSAYS: "own", HOSTILE: "shipped"}


def test_tradeoff_and_mix_cut_each_source_at_its_own_threshold(store, audit):
    from auditor.act.mix import plan_mix
    from auditor.act.tradeoff import filter_tradeoff, tradeoff_markdown

    thr = {s["source"]: s["threshold"] for s in audit.calibration["sources"]}
    curve = filter_tradeoff(store, "classifier", [0.0], per_source_threshold=True)
    at = {p.source: p for p in curve.at_source_thresholds}
    # the hostile source's estimate borrows the essays' pre-cutoff documents: the curve uses
    # that same borrowed reference, so both sources are in it
    assert set(at) == {ESSAYS, HOSTILE, ""}
    sources = [s for s in at if s]
    for source in sources:
        pre, post = _scores(store, source, True), _scores(store, source, False)
        assert at[source].threshold == pytest.approx(thr[source])
        # pre-cutoff documents are kept whatever their score; the rest when at or below
        assert at[source].n_kept == pre.size + int(np.sum(post <= thr[source]))
        assert at[source].n_docs == pre.size + post.size
    assert at[""].n_kept == sum(at[s].n_kept for s in sources)
    assert curve.source_thresholds[ESSAYS]["origin"] == "own"
    text = tradeoff_markdown(curve)
    assert "own pre-cutoff documents" in text and f"| {ESSAYS} |" in text
    from auditor.act.tradeoff import _md

    assert "<b>" not in _md(HOSTILE) and "[x](" not in _md(HOSTILE) and "| [" not in _md(HOSTILE)
    plan = plan_mix(store, "risk_ratio", 0.1, "replace", 3, n_runs=50, n_boot=0,
                    per_source_threshold=True)
    assert "source_threshold" in plan.filter_rule and f"{ESSAYS} {thr[ESSAYS]:.4g} (own)" \
        in plan.filter_rule
    kept = {s.source: s.n_docs for s in plan.sources}
    assert kept == {s: at[s].n_kept for s in sources}


def test_flagged_rows_are_judged_at_their_source_threshold(store, audit, tmp_path):
    from auditor.report import write_report
    from auditor.report.collect import collect

    data = collect(store, n_boot=SETTINGS.n_boot, generations=SETTINGS.generations, top_k=80)
    thr = {s["source"]: s["threshold"] for s in audit.calibration["sources"]}
    shipped = audit.calibration["shipped_threshold"]
    md = write_report(data, tmp_path / "r.md").read_text()
    part = md.split(f"### {ESSAYS}")[1].split("###")[0]
    docs = data.flagged[ESSAYS]
    # rows between the two thresholds tell them apart
    low, high = sorted((thr[ESSAYS], shipped))
    assert any(low < d["scores"]["classifier"] <= high for d in docs)
    for doc in docs:
        score = doc["scores"]["classifier"]
        want = "yes" if score > thr[ESSAYS] else f"no (below {thr[ESSAYS]:.3g})"
        row = next(line for line in part.splitlines() if line.startswith(f"| {doc['id']} |"))
        assert f"| {want} |" in row


def test_a_source_name_with_a_line_break_stays_on_its_row_of_the_tradeoff_table():
    """The trade-off table escaped data with an escaper of its own that let a line break
    through: a source name holding one split its row. Every Markdown output now uses the one
    escaper (`output_files.markdown_text`): the same text from all three, one line, inert."""
    from auditor.act.tradeoff import _md as tradeoff_md
    from auditor.output_files import markdown_text
    from auditor.report.contamination import _md as contamination_md
    from auditor.report.markdown import md

    name = "news\n| [x](javascript:alert(1)) | <img src=x> *bold* \x1b[2J"
    cell = markdown_text(name)
    assert "\n" not in cell and "\x1b" not in cell
    assert "<img" not in cell and "[x](" not in cell and "| [" not in cell and "*bold*" not in cell
    assert tradeoff_md(name) == md(name) == cell
    assert contamination_md(name) == " ".join(cell.split())
    assert markdown_text(None) == ""
