"""Findings of a QA walkthrough on the real crawl samples (`../shared/data/crawl`) and the demo
corpus: the headline's reference count, audits kept across code upgrades, the JSON headline of
`estimate --by`, the rise gate's comparable runs, and the separation check's cost."""

from __future__ import annotations

import pytest

from tests.cli_run import copy_night_one, invoke
from tests.corpus_files import copy_store


@pytest.fixture(scope="module")
def crawl_store(crawl_scanned, tmp_path_factory) -> str:
    db, r = crawl_scanned
    assert r.exit_code in (0, 3), r.output  # 3: the scan left a record out, said so
    return copy_store(db, tmp_path_factory.mktemp("crawl"))


def test_the_headline_counts_each_reference_document_once(crawl_store):
    """`--by domain` summed the domains' reference sizes into the headline: 991,118 human
    reference documents on a store of 1,121 documents (each domain of a source counted that
    source's whole reference again, each borrower its donor's)."""
    from auditor.estimate import estimate_db

    heads = {}
    for by in (["domain"], ["source"], []):
        rows = estimate_db(crawl_store, by=by, overall=True, n_boot=0, record=False)
        heads[tuple(by)] = [e for e in rows if not e.group][0]
    by_source = [e for e in estimate_db(crawl_store, by=["source"], n_boot=0, record=False)
                 if e.group]
    # the references do not depend on how the target is grouped
    assert len({h.n_human_ref for h in heads.values()}) == 1, heads
    # each document once: at most the store's own documents plus the shipped default rows
    shipped = max((e.n_human_ref for e in by_source if e.human_ref_kind.startswith("default")),
                  default=0)
    head = heads[("domain",)]
    assert 0 < head.n_human_ref <= head.n_docs + shipped


def test_an_audit_made_by_other_code_is_recomputed(crawl_scanned, tmp_path):
    """A stored audit is keyed by scan run and settings; after an upgrade (another package
    version, AUDIT_VERSION or shipped model) `report` and `check` showed the old audit until a
    new scan or `--recompute`. Here the stored audit is what classifier v2 made, marked so the
    test can tell it apart: it is recomputed, in memory on a store that cannot be written (and
    said so), then stored once the store can be written."""
    import json

    import duckdb

    from auditor.audit import AuditSettings, code_identity, load_audit
    from tests.test_store_errors import read_only_folder

    folder = tmp_path / "store"
    db = copy_store(crawl_scanned[0], folder)  # the crawl samples, scanned
    settings = AuditSettings(n_boot=10)
    first = load_audit(db, settings)
    assert first.persisted and first.code == code_identity() and first.notes == ()
    n_docs = first.overall["n_docs"]
    con = duckdb.connect(db)
    try:  # what an older install stored for the same run and settings
        payload = json.loads(con.execute("SELECT audit FROM audits").fetchone()[0])
        payload["code"]["models"]["classifier"] = "2"
        payload["estimates"]["overall"][0]["n_docs"] = -1
        con.execute("UPDATE audits SET audit = ?", [json.dumps(payload)])
    finally:
        con.close()
    now = code_identity()["models"]["classifier"]
    with read_only_folder(folder):
        ro = load_audit(db, settings)
    assert not ro.persisted and ro.overall["n_docs"] == n_docs
    assert any(f"classifier 2 -> {now}" in n and "recomputed" in n for n in ro.notes), ro.notes
    assert any("not stored" in n for n in ro.notes), ro.notes
    redone = load_audit(db, settings)
    assert redone.persisted and redone.overall["n_docs"] == n_docs
    assert any("recomputed" in n for n in redone.notes)
    reused = load_audit(db, settings)  # stored by this code now: reused, nothing to say
    assert reused.persisted and reused.notes == () and reused.computed_at == redone.computed_at


def test_estimate_by_json_ends_with_the_headline_the_table_shows(crawl_store):
    """`estimate --by source` printed a headline row ('all') in its table but not in --json."""
    import json

    table = invoke(["estimate", "--db", crawl_store, "--by", "source", "--n-boot", "0",
                    "--no-record", "--no-baseline"])
    (all_row,) = [line.split("\t") for line in table.stdout.splitlines()
                  if line.startswith("all\t")]
    res = invoke(["estimate", "--db", crawl_store, "--by", "source", "--json", "--n-boot",
                  "0", "--no-record"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    *groups, head = rows
    assert all(r["group"].get("source") for r in groups) and len(groups) >= 5
    assert head["group"] == {} and head["status"] == "overall"
    assert f"{head['n_docs']:,}" == all_row[1]  # the table's headline, the same figures
    assert f"{head['n_human_ref']}/{head['n_machine_ref']}" in all_row
    alone = json.loads(invoke(["estimate", "--db", crawl_store, "--json", "--n-boot", "0",
                               "--no-record"]).stdout)
    assert [r["status"] for r in alone] == ["overall"] and alone[0]["n_docs"] == head["n_docs"]


def test_the_rise_gate_compares_only_estimates_made_with_the_same_settings(tmp_path,
                                                                           demo_night_one):
    """The rise gate matched earlier estimates by detector and method only: an estimate made
    with another --min-docs (or --similar-by, or reference) was taken as the previous run's.
    Here run 1 is checked with min_docs = 5; run 2 (the same files) with the default has no
    comparable previous run, and check says so; with min_docs = 5 again it compares."""
    import json

    db, scan = copy_night_one(demo_night_one, tmp_path)  # run 1: the demo corpus scanned
    small = tmp_path / "small.toml"
    small.write_text("[estimate]\nn_boot = 5\nmin_docs = 5\n[gates.rise]\nmax_rise = 0.02\n")
    default = tmp_path / "default.toml"
    default.write_text("[estimate]\nn_boot = 5\n[gates.rise]\nmax_rise = 0.02\n")
    first = invoke(["check", "--db", db, "--config", str(small), "--json"])
    assert first.exit_code == 0 and json.loads(first.stdout)["n_gates"] == 0
    assert invoke(scan).exit_code == 0  # run 2: every unit reused
    other = json.loads(invoke(["check", "--db", db, "--config", str(default), "--json"]).stdout)
    assert other["n_gates"] == 0, other["gates"]
    assert any(n.startswith("no comparable previous run") for n in other["notes"]), other
    same = invoke(["check", "--db", db, "--config", str(small), "--json"])
    gates = json.loads(same.stdout)["gates"]
    assert same.exit_code == 0 and len(gates) == 7  # overall and six sources
    assert all(abs(g["value"]) < 1e-9 for g in gates)  # the same data, the same estimates


def test_a_named_detectors_separation_check_runs_once_per_audit(crawl_store, monkeypatch):
    """Naming a detector adds a sampled pass over its references (`separation_auc`, the check
    against MIN_MACHINE_AUC); the audit estimated its three groupings with three passes, and
    `auditor estimate --detector` two (the cc baseline again). Counted, not replaced: the real
    check runs."""
    import auditor.estimate.histograms as histograms
    from auditor.audit import AuditSettings, load_audit

    real = histograms.separation_auc
    calls: list[str] = []

    def counted(con, machine, human, *args, **kwargs):
        calls.append(machine.description)
        return real(con, machine, human, *args, **kwargs)

    monkeypatch.setattr(histograms, "separation_auc", counted)
    audit = load_audit(crawl_store, AuditSettings(detector="classifier", n_boot=5),
                       persist=False)
    assert audit.overall is not None and audit.overall["detector"] == "classifier"
    assert len(calls) == 1, calls
    calls.clear()
    r = invoke(["estimate", "--db", crawl_store, "--by", "source", "--detector", "classifier",
                "--n-boot", "5", "--no-record"])
    assert r.exit_code == 0, r.output
    assert len(calls) == 1, calls


def test_a_reference_file_changed_in_place_is_another_setting(tmp_path):
    """The rise gate compares estimates made with the same settings; a reference override file
    was hashed by its name, so editing it in place let a run be compared with one made on the
    old references (a rise that is the file's, not the corpus's)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from auditor.estimate.history import settings_hash

    ref = tmp_path / "machine.parquet"
    pq.write_table(pa.table({"score": [0.9, 0.8, 0.95]}), ref)
    first = settings_hash(machine_reference=str(ref))
    assert settings_hash(machine_reference=str(ref)) == first  # unchanged: comparable
    pq.write_table(pa.table({"score": [0.2, 0.8, 0.95]}), ref)  # edited in place
    assert settings_hash(machine_reference=str(ref)) != first
    # a source name in the store is hashed as given
    assert settings_hash(human_reference="wiki") == settings_hash(human_reference="wiki")
    assert settings_hash(human_reference="wiki") != settings_hash(human_reference="blogs")


def test_the_default_detector_on_a_multilingual_crawl_is_one_that_can_estimate(
        crawl_store, shared_data, tmp_path):
    """With the crawl's Parquet sample in the store (38% of its pages in other languages), the
    English-only classifier scored 94% of the corpus, under the 95% that makes a detector a
    full tier, so the default estimate fell back to the markers, whose references do not
    separate (AUC 0.51): the 2026 sample read 100% machine-written, interval [100%, 100%], and
    the headline 10.9%. Coverage now counts the documents in a detector's languages, and
    neither the default nor a two-tier partner is a detector that cannot separate."""
    import json
    import shutil

    db = copy_store(crawl_store, tmp_path)
    parquet = tmp_path / "sample.parquet"
    shutil.copy(shared_data / "crawl" / "cc-main-2026-30-sample.parquet", parquet)
    r = invoke(["scan", str(parquet), "--db", db, "--text-column", "content"])
    assert r.exit_code == 0, r.output
    rows = json.loads(invoke(["estimate", "--db", db, "--by", "source", "--json",
                              "--n-boot", "50", "--no-record"]).stdout)
    assert {r["detector"] for r in rows} == {"classifier"}
    sample = next(r for r in rows if r["group"].get("source") == "sample")
    assert sample["n_pre_cutoff"] == 0 and sample["fraction"] < 0.5 and sample["ci_high"] < 0.9
    assert sample["fraction_post"] == sample["fraction"]  # no pre-cutoff documents
    assert all(not n.startswith("WARNING") for r in rows for n in r["notes"])
    # by language: the pooled small languages are mostly out of the classifier's reach; they
    # were estimated from their 10 scored documents as "0.0%, at most 0.0%"
    rows = json.loads(invoke(["estimate", "--db", db, "--by", "language", "--json",
                              "--n-boot", "50", "--no-record"]).stdout)
    by = {r["group"].get("language"): r for r in rows}
    assert by["en"]["status"] == "estimated" and by["en"]["ci_high"] < 0.5
    assert by["other"]["status"] == "no estimate", by["other"]
    assert any(n.startswith("only 10 post-cutoff document(s) have a classifier score")
               for n in by["other"]["notes"])


def test_a_store_scored_only_by_a_detector_that_cannot_separate_says_so_on_every_row(
        shared_data, tmp_path):
    """The default choice takes the first separating detector; when none separates (a store
    scanned with the markers alone) it still estimates, and every row says the estimate is
    not identified, as it does for a detector the user names."""
    import json

    db = str(tmp_path / "markers.duckdb")
    for name in ("c4-sample-2019.json.gz", "ia-2008-blackbook.warc.gz"):
        r = invoke(["scan", str(shared_data / "crawl" / name), "--db", db,
                    "--detectors", "markers"])
        assert r.exit_code == 0, r.output
    rows = json.loads(invoke(["estimate", "--db", db, "--by", "source", "--json",
                              "--n-boot", "0", "--no-record"]).stdout)
    assert rows and {r["detector"] for r in rows} == {"markers"}
    assert all(r["notes"][0].startswith("WARNING: detector markers: its machine reference "
                                        "separates") for r in rows), rows[0]["notes"]


def test_a_source_in_several_languages_says_which_documents_its_estimate_covers(
        shared_data, tmp_path):
    """English, Chinese and Spanish labeled texts in one source: the English-only classifier
    scores the English ones, and the fraction is a share of those. The row said nothing of the
    scored share's size, and its pre-cutoff note counted the unscored pre-cutoff documents as
    human (they are in no denominator). The estimate now says how many it covers."""
    import gzip
    import json

    import duckdb
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(shared_data / "labeled" / "dev.parquet",
                          columns=["id", "text", "label", "language"]).to_pylist()
    rng = np.random.default_rng(4)
    rows = []
    for language in ("en", "zh", "es"):
        pool = [r for r in table if r["language"] == language]
        for k, i in enumerate(rng.choice(len(pool), 400, replace=False)):
            r = pool[int(i)]
            human_before = k % 2 == 0 and r["label"] == "human"
            rows.append({"id": r["id"], "text": r["text"],
                         "date": "2021-05-01" if human_before else "2024-03-01"})
    path = tmp_path / "mixed.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    db = str(tmp_path / "m.duckdb")
    assert invoke(["scan", str(path), "--db", db, "--detectors", "classifier"]).exit_code == 0
    [row, _] = json.loads(invoke(["estimate", "--db", db, "--by", "source", "--json",
                                  "--n-boot", "20", "--no-record"]).stdout)
    con = duckdb.connect(db, read_only=True)
    try:
        scored, pre_scored, pre_unscored, post_unscored = con.execute(
            "SELECT count(score_classifier), count(score_classifier) FILTER (WHERE pre_cutoff), "
            "count(*) FILTER (WHERE pre_cutoff AND score_classifier IS NULL), "
            "count(*) FILTER (WHERE NOT pre_cutoff AND score_classifier IS NULL) "
            "FROM documents").fetchone()
    finally:
        con.close()
    assert row["n_docs"] == 1200 and 300 < scored < 600 and pre_unscored > 0
    assert (f"the estimate covers the {scored} of 1,200 documents with a classifier score; "
            f"{post_unscored} after the cutoff and {pre_unscored} before it have none") \
        in " ".join(row["notes"])
    assert any(n.startswith(f"{pre_scored} pre-cutoff documents counted as human")
               for n in row["notes"])
