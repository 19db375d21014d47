"""Machine references close to each source (issue 10, item 2), end to end on scanned files.

Real data: the development set's BBC XSum news and WritingPrompts stories, written as two JSONL
files (two sources): per source, human documents dated 2019 (pre-cutoff: its human reference),
then 2024 documents, human and machine. `auditor detectors generate` keeps machine texts for a
source (given from a file: other machine-written rows of the same domain, none in the corpus;
or written by the offline LM, kept tiny); `auditor estimate` scores them with its detector, mixes
them into that source's machine reference and names it in the notes. Also: a store's adapted
model is the default detector when present.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from auditor.cli import main
from tests.corpus_files import copy_store

NEWS, STORIES = "news (BBC XSum)", "creative writing (Reddit WritingPrompts)"


def _rows(shared_data, domain):
    t = pq.read_table(shared_data / "labeled" / "dev.parquet",
                      columns=["id", "text", "label", "domain"]).to_pylist()
    rows = [r for r in t if r["domain"] == domain and len(r["text"]) > 400]
    return ([r for r in rows if r["label"] == "human"], [r for r in rows if r["label"] == "ai"])


def _write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def _corpus(tmp_path, shared_data, n_machine=40):
    """Two sources (files news.jsonl, stories.jsonl): 150 pre-cutoff human documents, then 120
    post-cutoff human and `n_machine` machine documents each. Returns the news machine rows the
    corpus does not contain."""
    spare = {}
    for name, domain in (("news", NEWS), ("stories", STORIES)):
        human, machine = _rows(shared_data, domain)
        rows = ([{"id": r["id"], "text": r["text"], "date": "2019-05-01"} for r in human[:150]]
                + [{"id": r["id"], "text": r["text"], "date": "2024-03-01"}
                   for r in human[150:270] + machine[:n_machine]])
        _write_jsonl(tmp_path / f"{name}.jsonl", rows)
        spare[name] = machine[n_machine:]
    return spare


def _scan(runner, corpus, db, detectors="classifier"):
    res = runner.invoke(main, ["scan", str(corpus / "news.jsonl"), str(corpus / "stories.jsonl"),
                               "--db", db, "--date-column", "date", "--no-progress", "--json",
                               "--detectors", detectors])
    assert res.exit_code == 0, res.output


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, shared_data):
    """(corpus folder, store, spare machine rows): `_corpus` scanned once with the classifier.
    Each test writes to a copy of the store (`copy_store`); the corpus files are read in place."""
    corpus = tmp_path_factory.mktemp("generated")
    spare = _corpus(corpus, shared_data)
    db = str(corpus / "audit.duckdb")
    _scan(CliRunner(), corpus, db)
    return corpus, db, spare


def _estimate(runner, db, *extra):
    res = runner.invoke(main, ["estimate", "--db", db, "--by", "source", "--json", "--n-boot",
                               "40", "--no-record", *extra])
    assert res.exit_code == 0, res.output
    return {e["group"]["source"]: e for e in json.loads(res.output) if e["group"]}


def _source_of(rows: dict, stem: str) -> str:
    (name,) = [s for s in rows if stem in s]
    return name


def test_machine_texts_given_for_a_source_become_its_machine_reference(tmp_path, scanned):
    _, scanned_db, spare = scanned
    db = copy_store(scanned_db, tmp_path)
    runner = CliRunner()
    before = _estimate(runner, db)
    news = _source_of(before, "news")
    _write_jsonl(tmp_path / "news_ai.jsonl", [{"text": r["text"]} for r in spare["news"][:60]])
    res = runner.invoke(main, ["detectors", "generate", "--db", db, "--source", news,
                               "--machine", str(tmp_path / "news_ai.jsonl"), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output[res.output.index("{"):])
    assert info["sources"] == {news: {"texts": 60, "origin": "given"}}
    kept = pq.read_table(tmp_path / "audit.duckdb.models" / "generated" /
                         "machine_texts.parquet").to_pydict()
    assert set(kept["source"]) == {news} and len(kept["text"]) == 60

    after = _estimate(runner, db, "--generated-reference")
    stories = _source_of(after, "stories")
    note = f"{news}: machine reference: machine texts given for this source (60)"
    assert any(n.startswith(note) for n in after[news]["notes"]), after[news]["notes"]
    # the other source keeps the shared reference, and its figures do not move
    assert not any("machine texts given" in n and n.startswith(stories)
                   for n in after[stories]["notes"])
    assert after[stories]["fraction"] == pytest.approx(before[stories]["fraction"])
    # the news estimate changed, and its interval still holds the truth (40 of 310 documents)
    assert after[news]["fraction"] != pytest.approx(before[news]["fraction"])
    truth = 40 / after[news]["n_docs"]
    assert after[news]["ci_low"] <= truth <= after[news]["ci_high"], after[news]
    # switched off, the estimate is the shared-reference one again; the default is what the
    # validation measured best (`generated.USE_BY_DEFAULT`)
    off = _estimate(runner, db, "--no-generated-reference")
    assert off[news]["fraction"] == pytest.approx(before[news]["fraction"])
    assert not any("machine texts given" in n for n in off[news]["notes"])
    from auditor.estimate.generated import USE_BY_DEFAULT

    default = _estimate(runner, db)
    assert default[news]["fraction"] == pytest.approx(
        (after if USE_BY_DEFAULT else off)[news]["fraction"])

    # bad input: --machine needs exactly one --source; an unknown source is named
    res = runner.invoke(main, ["detectors", "generate", "--db", db, "--machine",
                               str(tmp_path / "news_ai.jsonl")])
    assert res.exit_code != 0 and "--source" in res.output
    res = runner.invoke(main, ["detectors", "generate", "--db", db, "--source", "nope",
                               "--machine", str(tmp_path / "news_ai.jsonl")])
    assert res.exit_code != 0 and "no source 'nope'" in res.output


@pytest.mark.slow
def test_generated_texts_from_pre_cutoff_documents_are_used_and_named(tmp_path, scanned):
    """The offline LM writes the texts (kept tiny: 10 texts of 8 new tokens for one source)."""
    pytest.importorskip("torch")
    db = copy_store(scanned[1], tmp_path)
    runner = CliRunner()
    news = _source_of(_estimate(runner, db), "news")
    res = runner.invoke(main, ["detectors", "generate", "--db", db, "--source", news,
                               "--per-source", "10", "--max-new-tokens", "8", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output[res.output.index("{"):])
    assert info["sources"][news]["texts"] == 10
    kept = pq.read_table(tmp_path / "audit.duckdb.models" / "generated" /
                         "machine_texts.parquet").to_pydict()
    assert set(kept["origin"]) == {"generated:continue", "generated:rewrite"}
    rows = _estimate(runner, db, "--generated-reference")
    note = f"{news}: machine reference: generated from this source's pre-cutoff documents (10)"
    assert any(n.startswith(note) for n in rows[news]["notes"]), rows[news]["notes"]


@pytest.mark.slow
def test_the_stores_adapted_model_is_the_default_detector(tmp_path, scanned):
    corpus, scanned_db, spare = scanned
    db = copy_store(scanned_db, tmp_path)
    runner = CliRunner()
    assert {e["detector"] for e in _estimate(runner, db).values()} == {"classifier"}
    _write_jsonl(tmp_path / "ai.jsonl",
                 [{"text": r["text"]} for r in spare["news"][:80] + spare["stories"][:80]])
    res = runner.invoke(main, ["detectors", "adapt", "--db", db, "--machine",
                               str(tmp_path / "ai.jsonl")])
    assert res.exit_code == 0, res.output
    # fitted but not scanned yet: the classifier stays the default
    assert {e["detector"] for e in _estimate(runner, db).values()} == {"classifier"}
    _scan(runner, corpus, db, "classifier,adapted")
    rows = _estimate(runner, db)
    assert {e["detector"] for e in rows.values()} == {"adapted"}
    for e in rows.values():
        assert e["notes"][0].startswith("detector adapted chosen by default"), e["notes"]
        assert any("reference.parquet" in n for n in e["notes"])
    # naming another detector still works
    assert {e["detector"] for e in _estimate(runner, db, "--detector", "classifier").values()
            } == {"classifier"}
