"""A new user's first run on the real crawl samples (`../shared/data/crawl`): scan the folder
with default options, scan it again, estimate, report and check. Every document there predates
2022-11-30 except one 2024 Wikipedia page (in a WARC and its WET), and one Parquet file has no
`text` column, so the store holds pre-cutoff groups, a group under --min-docs and a failed
unit: the cases that broke the headline, the report and the re-run's exit code."""

from __future__ import annotations

import json

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.cli_run import invoke
from tests.corpus_files import copy_store


@pytest.fixture(scope="module")
def crawl_store(crawl_scanned, tmp_path_factory) -> str:
    db, r = crawl_scanned
    summary = json.loads(r.stdout)
    # the Parquet sample names its text `content`: its one unit-ending issue is a failed record
    assert r.exit_code == 3 and summary["counts"]["failed"] == 1
    return copy_store(db, tmp_path_factory.mktemp("crawl"))  # this module writes to it


def _n_documents(db: str) -> int:
    con = duckdb.connect(db, read_only=True)
    try:
        return con.execute("SELECT count(*) FROM documents").fetchone()[0]
    finally:
        con.close()


def test_rescan_of_a_store_with_failed_records_still_exits_partial(crawl_store, shared_data):
    """`auditor scan --help`: exit 3 when records failed "now or in an earlier run"; a nightly
    re-run that reuses every unit must not turn a store with a failed file into exit 0."""
    r = invoke(["scan", str(shared_data / "crawl"), "--db", crawl_store, "--json"])
    s = json.loads(r.stdout)
    # the Parquet file without `text` failed as a whole: held back (not reused as if done)
    # until it changes or --retry-failed
    assert s["counts"]["units_reused"] == 6 and s["counts"]["failed"] == 0
    assert r.exit_code == 3 and s["status"] == "partial"
    assert s["counts"]["units_held_failed"] == 1
    assert any("failed in an earlier run held back" in n for n in s["notes"])


def test_headline_counts_each_document_once(crawl_store):
    """The 2024 Wikipedia group is under --min-docs: shown as 'too few' and pooled in 'other';
    the headline row must count its documents once, not twice."""
    from auditor.estimate import estimate_db

    rows = estimate_db(crawl_store, by=["source"], overall=True, n_boot=20, record=False)
    headline = rows[-1]
    assert headline.group == {}
    assert headline.n_docs == _n_documents(crawl_store) == 1121
    alone = estimate_db(crawl_store, n_boot=20, record=False)[0]
    assert alone.n_docs == headline.n_docs


def test_all_pre_cutoff_headline_has_an_interval_and_the_report_runs(crawl_store, tmp_path):
    """Every estimated group predates the cutoff (0 by assumption, no replicates): the headline
    is 0 with the interval [0, 0], and report and check run on it (they crashed on a None
    interval in the collapse projection)."""
    from auditor.estimate import estimate_db

    headline = estimate_db(crawl_store, n_boot=20, record=False)[0]
    assert (headline.fraction, headline.ci_low, headline.ci_high) == (0.0, 0.0, 0.0)
    out = tmp_path / "crawl.md"
    r = invoke(["report", "--db", crawl_store, "-o", str(out), "--n-boot", "20"])
    assert r.exit_code == 0, r.output
    assert "synthetic fraction (95% CI): **0.0% [0.0, 0.0]**" in out.read_text()
    config = tmp_path / "gates.toml"
    config.write_text("[estimate]\nn_boot = 20\n[gates.fraction]\nmax_overall = 0.10\n")
    r = invoke(["check", "--db", crawl_store, "--config", str(config)])
    assert r.exit_code == 0, r.output


def test_a_floor_needs_enough_held_out_documents(shared_data, tmp_path):
    """With --source-by domain the C4 sample is ~1,000 domains of one 2019 page each, all
    borrowing a reference: a floor read on one held-out page is 0 or 100%, and 450 rows printed
    "floor 100.0%" and the headline floor (their document-weighted mean) 40.8% on a crawl that
    is all human. Below `MIN_FLOOR_DOCS` own documents the donors' held-out halves are used."""
    from auditor.estimate import estimate_db

    db = str(tmp_path / "domains.duckdb")
    r = invoke(["scan", str(shared_data / "crawl"), "--db", db, "--source-by", "domain",
                "--exclude", "*.parquet", "--detectors", "classifier"])
    assert r.exit_code == 0, r.output
    rows = estimate_db(db, by=["source"], overall=True, n_boot=10, record=False)
    one_page = [e for e in rows if e.group and e.n_pre_cutoff == 1]
    assert len(one_page) > 500
    assert all(e.floor is None or e.floor < 0.05 for e in rows)
    assert rows[-1].group == {} and rows[-1].floor is not None and rows[-1].floor < 0.05


def test_the_pooled_other_row_is_never_gated(crawl_store, tmp_path):
    """The 2024 Wikipedia page (Aragonese: the English classifier leaves it unscored) is a group
    under --min-docs, pooled into 'other', which has no estimate. The notes say the pooled row
    is "kept out of per-group gates", yet `fraction.source[other]` failed the check (exit 1)."""
    from auditor.estimate import estimate_db

    other = [e for e in estimate_db(crawl_store, by=["source"], n_boot=10, record=False)
             if e.group == {"source": "other"}]
    assert len(other) == 1 and other[0].status == "no estimate" and not other[0].in_gates
    config = tmp_path / "gates.toml"
    config.write_text("[estimate]\nn_boot = 20\n[gates.fraction]\nmax_per_source = 0.2\n")
    r = invoke(["check", "--db", crawl_store, "--config", str(config), "--recompute", "--json"])
    gates = [g["name"] for g in json.loads(r.stdout)["gates"]]
    assert "fraction.source[other]" not in gates and "fraction.source[c4-sample-2019]" in gates
    assert r.exit_code == 0, r.output


def test_an_unmatched_headline_keeps_its_upper_bound_in_the_report(shared_data, tmp_path):
    """The 2026 llms.txt sample (all post-cutoff, no human reference of its own) has no point
    estimate, only an upper bound: `estimate` and `check` print it, the report printed a bare
    "n/a"."""
    db = str(tmp_path / "llms.duckdb")
    r = invoke(["scan", str(shared_data / "crawl" / "cc-main-2026-30-sample.parquet"),
                "--db", db, "--text-column", "content", "--detectors", "classifier"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "r.md"
    r = invoke(["report", "--db", db, "-o", str(out), "--n-boot", "20"])
    assert r.exit_code == 0, r.output
    from auditor.estimate import estimate_db

    overall = estimate_db(db, n_boot=20, record=False)[0]  # the same settings as the report
    assert overall.fraction != overall.fraction and overall.ci_high > 0  # NaN: no point
    assert (f"synthetic fraction (95% CI): **n/a (at most {100 * overall.ci_high:.1f}%)**"
            in out.read_text())


def test_a_copy_of_a_shard_under_another_name_is_named(shared_data, tmp_path):
    """The same file twice in a folder (a mirror, a second download) is two shards: its
    documents are counted twice, which the summary did not say."""
    import shutil

    src = shared_data / "crawl" / "dolma-cc-en-head-2020.jsonl.gz"
    for name in ("dolma.jsonl.gz", "dolma (1).jsonl.gz"):
        shutil.copy(src, tmp_path / name)
    (tmp_path / "empty-a.jsonl").write_text("")
    (tmp_path / "empty-b.jsonl").write_text("")
    r = invoke(["scan", str(tmp_path), "--db", str(tmp_path / "a.duckdb"), "--detectors",
                "none", "--json"])
    s = json.loads(r.stdout)
    assert r.exit_code == 0 and s["counts"]["stored"] == 20
    copies = [n for n in s["notes"] if "same size and content digest" in n]
    assert len(copies) == 1 and "dolma (1).jsonl.gz = dolma.jsonl.gz" in copies[0]
    assert "empty" not in copies[0]


def test_a_corpus_copied_with_its_store_is_named_when_scanned_at_its_new_path(shared_data,
                                                                               tmp_path):
    """A store and its corpus folder copied elsewhere, the copy scanned into the copied store:
    the old paths still exist, so nothing was "missing", and every document counted twice."""
    import shutil

    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    shutil.copy(shared_data / "crawl" / "dolma-cc-en-head-2020.jsonl.gz", old / "d.jsonl.gz")
    db = str(tmp_path / "a.duckdb")
    assert invoke(["scan", str(old), "--db", db, "--detectors", "none"]).exit_code == 0
    shutil.copytree(old, new)
    r = invoke(["scan", str(new), "--db", db, "--detectors", "none", "--json"])
    s = json.loads(r.stdout)
    assert r.exit_code == 0 and s["counts"]["stored"] == 10 and _n_documents(db) == 20
    named = [n for n in s["notes"] if "as a shard the store holds under another path" in n]
    assert len(named) == 1 and f"d.jsonl.gz = {old / 'd.jsonl.gz'}" in named[0]
    again = json.loads(invoke(["scan", str(new), "--db", db, "--detectors", "none",
                               "--json"]).stdout)
    assert any("under another path" in n for n in again["notes"])  # until pruned


def test_estimate_says_when_the_scan_left_records_out(crawl_store):
    """The Parquet sample failed as a whole (its text column is `content`): its 147 rows are in
    no estimate, and `auditor estimate` printed its table without a word about it."""
    r = invoke(["estimate", "--db", crawl_store, "--n-boot", "10", "--no-record"])
    assert r.exit_code == 0, r.output
    assert ("note: the scan could not read 1 record(s) and 1 work unit(s); they are in no "
            "estimate") in r.stderr


def test_a_filter_says_which_kept_documents_its_score_rule_could_not_judge(crawl_store,
                                                                            tmp_path):
    """A score rule never matches a document without that score (a language the detector does
    not cover): on the crawl folder such documents were kept with no reason in the manifest
    and no line in the summary. Each now carries an `unjudged:` reason, counted in the summary;
    a document the rule dropped or that has the score carries none."""
    out = tmp_path / "m.parquet"
    r = invoke(["filter", "--db", crawl_store, "--drop", "score:classifier > 0.5",
                "-o", str(out)])
    assert r.exit_code == 0, r.output
    t = pq.read_table(out, columns=["id", "decision", "reasons"]).to_pylist()
    con = duckdb.connect(crawl_store, read_only=True)
    try:
        unscored = {i for (i,) in con.execute(
            "SELECT id FROM documents WHERE score_classifier IS NULL").fetchall()}
    finally:
        con.close()
    assert len(unscored) >= 20  # the crawl's pages in other languages
    reason = "unjudged: score:classifier > 0.5 (no classifier score)"
    assert {d["id"] for d in t if reason in d["reasons"]} == unscored
    assert all(d["decision"] == "keep" for d in t if d["id"] in unscored)
    assert f"{len(unscored)}  {reason}" in r.output


def test_the_scan_summary_says_how_many_documents_a_detector_left_unscored(crawl_scanned):
    """Pages in languages the classifier does not cover are left unscored by it; the counts
    were only in `--json`'s counts, so a multilingual crawl scanned without a word of it."""
    db, r = crawl_scanned
    summary = json.loads(r.stdout)
    n = summary["counts"]["unscored_language_classifier"]
    con = duckdb.connect(db, read_only=True)
    try:
        (unscored,) = con.execute("SELECT count(*) FROM documents WHERE score_classifier IS NULL"
                                  ).fetchone()
    finally:
        con.close()
    assert n == unscored >= 20
    [note] = [x for x in summary["notes"] if x.startswith("documents left unscored")]
    assert f"{n:,} by classifier" in note
