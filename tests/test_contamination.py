"""Benchmark contamination on the shared benchmark files and the leaky corpus: plants found with
the right item and span, decoys not, the same index from JSONL and Parquet, the scan filling
the store, `auditor contamination` and the `[gates.contamination]` gate of `auditor check`."""

from __future__ import annotations

import csv
import gzip
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.contamination.benchmarks import add_benchmark, index_folder, list_benchmarks
from auditor.contamination.index import build_index, load_index
from auditor.contamination.items import ITEM_SCHEMA, Columns, load_items
from auditor.contamination.match import Matcher
from auditor.contamination.tokens import NgramHasher, tokenize
from auditor.scan.runner import run_scan

#: Benchmarks indexed by the matcher tests: the small ones with plants (the full set is
#: measured by scripts/validate_contamination.py).
SMALL = ("gsm8k", "humaneval", "svamp", "truthfulqa")
SPAN_SLACK = 3  # characters: a span ends at a word, a plant may end in punctuation


def bench_dir(shared_data: Path) -> Path:
    return shared_data / "benchmarks"


def items_of(shared_data: Path, names) -> pa.Table:
    tables = [pq.read_table(bench_dir(shared_data) / f"{n}.parquet") for n in names]
    return pa.concat_tables(tables).select([f.name for f in ITEM_SCHEMA])


@pytest.fixture(scope="module")
def leaky(shared_data):
    """(docs by id, truth rows) of the leaky corpus."""
    root = bench_dir(shared_data) / "leaky_corpus"
    docs = {}
    for shard in sorted(root.glob("shard_*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                docs[d["id"]] = d
    truth = json.loads((root / "truth.json").read_text())["planted"]
    return docs, truth


@pytest.fixture(scope="module")
def matcher(shared_data):
    return Matcher(build_index(items_of(shared_data, SMALL)))


def stripped_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The planted span without the whitespace at its ends (a match starts and ends in text)."""
    segment = text[start:end]
    return start + len(segment) - len(segment.lstrip()), end - len(segment) + len(
        segment.rstrip())


def plants(truth, kind, benchmarks=SMALL):
    return [p for p in truth if p["kind"] == kind and p["benchmark"] in benchmarks]


def test_normalisation_ignores_case_whitespace_and_stripped_punctuation():
    a = tokenize(["Janet’s ducks lay 16 eggs, (per day): she sells 3,000!"])
    b = tokenize(["JANETS  ducks\nlay 16 eggs per   day she sells 3000"])
    assert np.array_equal(a.hashes, b.hashes)
    assert a.char_span(0, 0, len(a.hashes) - 1) == (0, len("Janet’s ducks lay 16 eggs, (per "
                                                           "day): she sells 3,000"))
    assert a.char_span(0, 1, 1) == (8, 13)  # "ducks"
    # n-grams never cross documents of a batch
    batch = tokenize(["one two three", "four five"])
    h, first = NgramHasher(batch).hashes(3)
    assert len(h) == 1 and first.tolist() == [0]


@pytest.mark.parametrize("kind", ["verbatim", "embedded", "altered"])
def test_plants_found_with_right_item_and_span(leaky, matcher, kind):
    docs, truth = leaky
    cases = plants(truth, kind)
    assert len(cases) >= 5
    found = matcher.match([docs[p["doc_id"]]["text"] for p in cases])
    for p, matches in zip(cases, found, strict=True):
        hit = [m for m in matches if (m.benchmark, m.item_id) == (p["benchmark"], p["item_id"])]
        assert hit, f"{kind} plant {p['benchmark']}/{p['item_id']} in {p['doc_id']} not found"
        m = hit[0]
        assert m.form == "exact" and m.answer_present and m.share >= 0.9
        start, end = stripped_span(docs[p["doc_id"]]["text"], p["char_start"], p["char_end"])
        assert abs(m.char_start - start) <= SPAN_SLACK, (m, p)
        assert abs(m.char_end - end) <= SPAN_SLACK, (m, p)


def test_question_only_and_partial_plants_get_their_form(leaky, matcher):
    docs, truth = leaky
    long_questions = [p for p in plants(truth, "question_only")
                      if p["char_end"] - p["char_start"] > 120]
    assert long_questions
    for p, matches in zip(long_questions, matcher.match(
            [docs[p["doc_id"]]["text"] for p in long_questions]), strict=True):
        hit = [m for m in matches if m.item_id == p["item_id"]]
        assert hit and hit[0].form == "question_only" and not hit[0].answer_present, p
    partial = plants(truth, "partial60")
    found = matcher.match([docs[p["doc_id"]]["text"] for p in partial])
    n_found = sum(any(m.item_id == p["item_id"] for m in f) for p, f in zip(partial, found,
                                                                              strict=True))
    assert n_found >= 0.9 * len(partial)


def test_decoys_and_clean_documents_are_not_flagged(leaky, shared_data):
    docs, truth = leaky
    decoys = [p for p in truth if p["kind"] == "decoy"]
    imitated = sorted({p["benchmark"] for p in decoys})
    items = items_of(shared_data, imitated)
    m = Matcher(build_index(items))
    found = m.match([docs[p["doc_id"]]["text"] for p in decoys])
    # Two decoys of the truth ("What happens if you crack your knuckles a lot? My grandmother
    # ...") hold a TruthfulQA question verbatim: a decoy may only be flagged as that, a whole
    # item question it really contains, never for a stock phrase.
    question = {(b, i): q for b, i, q in zip(items.column("benchmark").to_pylist(),
                                            items.column("item_id").to_pylist(),
                                            items.column("question").to_pylist(), strict=True)}
    for p, matches in zip(decoys, found, strict=True):
        for hit in matches:
            assert hit.form == "question_only", (p, hit)
            assert words(question[(hit.benchmark, hit.item_id)]) in words(
                docs[p["doc_id"]]["text"]), (p, hit)
    assert sum(1 for f in found if f) <= 2
    planted = {p["doc_id"] for p in truth}
    clean = [d["text"] for i, d in docs.items() if i not in planted][:1500]
    assert not any(m.match(clean))


def words(text: str) -> str:
    """Lower-cased words, apostrophes and quotes dropped, one space apart (for containment)."""
    return " " + " ".join(re.findall(r"\w+", re.sub(r"['\"]", "", text.lower()))) + " "


def test_short_question_matches_when_only_one_item_holds_it(shared_data):
    tq = items_of(shared_data, ["truthfulqa"])
    q = tq.column("question").to_pylist()
    short = next(x for x in q if 9 <= len(x.split()) <= 11)
    text = f"My grandmother always asked this. {short} Nobody knew."
    assert Matcher(build_index(tq, short_questions=False)).match([text]) == [[]]
    found = Matcher(build_index(tq)).match([text])[0]
    assert [m.form for m in found] == ["question_only"]


def test_short_question_shared_by_items_never_counts_alone():
    """A stem several items share (an LSAT-style "Which one of the following ...") is evidence
    of no item; a short question only one item holds is, even inside a longer question."""
    stem = "Which one of the following most weakens the argument?"
    rows = [(f"Passage {k}: the council voted {k} times on the bridge budget.", stem,
             f"{stem} Passage {k}: the council voted {k} times on the bridge budget.\n(A)")
            for k in ("two", "three", "four")]
    own = "Why do cats purr when they are content?"
    rows.append(("", own, f"{own}\nBecause purring signals comfort."))
    items = pa.table({"benchmark": ["b"] * 4, "split": ["test"] * 4,
                      "item_id": [str(i) for i in range(4)],
                      "text": [r[2] for r in rows], "question": [r[1] for r in rows],
                      "answer": [None] * 4}, schema=ITEM_SCHEMA)
    index = build_index(items)
    assert int(index.short_question.sum()) == 1
    m = Matcher(index)
    got = m.match([f"Critics asked: {stem} Nobody answered.",
                   f"My aunt asked me: {own} I had no idea."])
    assert got[0] == []
    assert [(h.item_id, h.form) for h in got[1]] == [("3", "question_only")]


def test_near_misses_are_items_sharing_ngrams_without_a_match(shared_data):
    gsm = items_of(shared_data, ["gsm8k"]).slice(300, 50)
    words_ = gsm.column("question").to_pylist()[4].split()
    assert len(words_) >= 40
    glimpse = " ".join(words_[:14])  # two 13-grams: fewer than MIN_HITS
    whole = gsm.column("text").to_pylist()[9]
    m = Matcher(build_index(gsm))
    texts = [f"Someone wrote: {glimpse} and then left.", f"Copied: {whole}", "Nothing here."]
    assert [[h.item_id for h in f] for f in m.match(texts)] == [[], ["309"], []]
    assert m.near_misses(texts) == [[4], [], []]


def test_short_items_match_whole(shared_data):
    """Items shorter than n words are matched as a whole, not through 13-grams."""
    items = pa.table({"benchmark": ["tiny"], "split": ["test"], "item_id": ["0"],
                      "text": ["Is the following sentence plausible? Joao Moutinho caught the "
                               "screen pass."], "question": [None], "answer": [None]},
                     schema=ITEM_SCHEMA)
    m = Matcher(build_index(items))
    hit = m.match(["Intro. is the following sentence plausible joao moutinho caught the "
                   "screen pass. Outro."])[0]
    assert [(x.item_id, x.form) for x in hit] == [("0", "exact")]
    assert m.match(["the following sentence plausible joao moutinho caught the screen"]) == [[]]


def test_jsonl_and_parquet_give_the_same_index(shared_data, tmp_path):
    src = bench_dir(shared_data) / "svamp.parquet"
    rows = pq.read_table(src).to_pylist()
    jsonl = tmp_path / "svamp.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    a = add_benchmark(tmp_path / "a.duckdb", str(src), name="svamp", release_date="2021-03")
    b = add_benchmark(tmp_path / "b.duckdb", str(jsonl), name="svamp", release_date="2021-03")
    assert a[0].n_items == b[0].n_items == 1000
    ia, ib = load_index(index_folder(tmp_path / "a.duckdb")), load_index(
        index_folder(tmp_path / "b.duckdb"))
    assert ia.digest == ib.digest
    assert np.array_equal(ia.hashes, ib.hashes) and np.array_equal(ia.item, ib.item)
    assert list_benchmarks(tmp_path / "b.duckdb")[0]["release_date"] == "2021-03-01"


def test_csv_with_named_columns_and_a_bad_row(tmp_path):
    path = tmp_path / "qa.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["qid", "q", "a"])
        w.writerow(["x1", "What is the boiling point of water at sea level in degrees?", "100"])
        w.writerow(["x2", "", ""])
    got = load_items(str(path), "qa", Columns(text=None, question="q", answer="a",
                                              item_id="qid", split=None))
    assert got.table.column("item_id").to_pylist() == ["x1"]
    assert got.table.column("text").to_pylist()[0].endswith("\n100")
    assert len(got.skipped) == 1 and "qa.csv row 1" in got.skipped[0]


def _write_docs(path: Path, docs: list[dict]) -> None:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, shared_data, leaky):
    """Two stores with svamp added: one scanned with svamp plants and clean docs, one with
    clean docs only."""
    docs, truth = leaky
    root = tmp_path_factory.mktemp("contam")
    planted = {p["doc_id"] for p in truth}
    svamp = [p for p in truth if p["benchmark"] == "svamp" and p["kind"] != "decoy"]
    clean = [d for i, d in docs.items() if i not in planted][:300]
    leak_dir, clean_dir = root / "leak", root / "clean"
    leak_dir.mkdir()
    clean_dir.mkdir()
    _write_docs(leak_dir / "docs.jsonl", clean + [docs[p["doc_id"]] for p in svamp])
    _write_docs(clean_dir / "docs.jsonl", clean)
    out = {}
    for name, folder in (("leak", leak_dir), ("clean", clean_dir)):
        db = str(root / f"{name}.duckdb")
        add_benchmark(db, str(bench_dir(shared_data) / "svamp.parquet"), name="svamp",
                      release_date="2021-03")
        summary = run_scan([str(folder)], db, detectors="contamination")
        assert summary.status == "ok"
        out[name] = db
    return out, svamp


def test_scan_stores_results_and_cli_reports_them(scanned):
    dbs, svamp = scanned
    res = CliRunner().invoke(main, ["contamination", "--db", dbs["leak"], "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    bench = {b["benchmark"]: b for b in data["benchmarks"]}["svamp"]
    planted_ids = {p["item_id"] for p in svamp}
    found_ids = {i["item_id"] for i in data["items"]}
    assert planted_ids - found_ids == set() or len(planted_ids - found_ids) <= 1
    assert bench["n_leaked"] == len(found_ids) and bench["n_items"] == 1000
    assert data["n_docs_contaminated"] == len(found_ids)
    assert data["by_source"] and data["by_crawl_month"]
    assert all(i["before_release"] in (True, False) for i in data["items"])
    strict = json.loads(CliRunner().invoke(main, ["contamination", "--db", dbs["leak"],
                                                  "--min-share", "0.95", "--json"]).output)
    kept = {i["item_id"] for i in strict["items"]}
    assert kept < found_ids and all(i["max_share"] >= 0.95 or i["form"] == "question_only"
                                    for i in strict["items"])


def test_default_scan_runs_contamination_only_where_benchmarks_exist(tmp_path, scanned):
    dbs, _ = scanned
    folder = tmp_path / "in"
    folder.mkdir()
    _write_docs(folder / "d.jsonl", [{"id": "a", "text": "plain text " * 20}])
    bare = run_scan([str(folder)], str(tmp_path / "bare.duckdb"))
    assert "contamination" not in bare.detectors and not any(
        "contamination" in n for n in bare.notes)
    with_benchmarks = str(tmp_path / "with.duckdb")
    add_benchmark(with_benchmarks, "builtin:humaneval")
    summary = run_scan([str(folder)], with_benchmarks)
    assert summary.detectors["contamination"].endswith(
        load_index(index_folder(with_benchmarks)).digest)
    assert "markers" in summary.detectors  # the rest of the cheap tier still runs


def test_gate_fails_with_a_leak_and_passes_without(scanned, tmp_path):
    dbs, _ = scanned
    cfg = tmp_path / "gates.toml"
    cfg.write_text("[gates.contamination]\n", encoding="utf-8")
    for name, code in (("leak", 1), ("clean", 0)):
        out_json, junit = tmp_path / f"{name}.json", tmp_path / f"{name}.xml"
        res = CliRunner().invoke(main, ["check", "--db", dbs[name], "--config", str(cfg),
                                        "--json-out", str(out_json), "--junit-out", str(junit)])
        assert res.exit_code == code, res.output
        result = json.loads(out_json.read_text())
        gate = next(g for g in result["gates"] if g["name"] == "contamination.items[svamp]")
        assert gate["passed"] is (code == 0)
        assert "contamination.items[svamp]" in junit.read_text()
    cfg.write_text("[gates.contamination]\nitems_per_benchmark = { svamp = 1000 }\n"
                   "max_share = 0.5\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["check", "--db", dbs["leak"], "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    cfg.write_text("[gates.contamination]\nitems_per_benchmark = { nosuch = 0 }\n")
    res = CliRunner().invoke(main, ["check", "--db", dbs["clean"], "--config", str(cfg)])
    assert res.exit_code == 1 and "nosuch" in res.output


def test_benchmarks_cli_add_builtin_one_and_list(tmp_path):
    db = str(tmp_path / "b.duckdb")
    res = CliRunner().invoke(main, ["benchmarks", "add", "builtin:humaneval", "--db", db,
                                    "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)[0]["n_items"] == 164
    res = CliRunner().invoke(main, ["benchmarks", "list", "--db", db, "--json"])
    listed = json.loads(res.output)
    assert listed[0]["name"] == "humaneval" and listed[0]["release_date"] == "2021-07-01"
    res = CliRunner().invoke(main, ["benchmarks", "add", str(tmp_path / "missing.jsonl"),
                                    "--name", "x", "--db", db])
    assert res.exit_code == 1 and "missing.jsonl" in res.output


def test_report_section_lists_leaks_with_highlighted_escaped_text(scanned):
    from auditor.report.contamination import collect_contamination, contamination_html

    dbs, svamp = scanned
    notes: list[str] = []
    section = collect_contamination(dbs["leak"], notes)
    page = contamination_html(section)
    assert page.count("<mark>") == len(section["items"]) >= len(svamp) - 1
    assert all(f"test/{i['item_id']}" in page for i in section["items"])
    assert contamination_html({}) == ""
    evil = dict(section, items=[dict(section["items"][0], item_id="<script>x</script>",
                                     example_excerpt={"before": "<b>", "match": "a&b",
                                                      "after": "</td>"})])
    html_text = contamination_html(evil)
    assert "<script>x" not in html_text and "&lt;script&gt;x" in html_text
    assert "<mark>a&amp;b</mark>" in html_text and "&lt;/td&gt;" in html_text


def test_markdown_report_section_lists_leaks_with_escaped_text(scanned):
    from auditor.report.contamination import collect_contamination
    from auditor.report.data import ReportData
    from auditor.report.markdown import render_markdown

    dbs, svamp = scanned
    section = collect_contamination(dbs["leak"], [])
    md = render_markdown(ReportData(db_path=dbs["leak"], generated_at="now", cutoff="2022-11",
                                    contamination=section))
    assert "## Benchmark contamination" in md
    rows = [line for line in md.splitlines() if line.startswith("| svamp | test/")]
    assert len(rows) == len(section["items"]) >= len(svamp) - 1
    assert all(line.count(" | ") == 9 and "**" in line for line in rows)
    assert "## Benchmark contamination" not in render_markdown(
        ReportData(db_path="x", generated_at="now", cutoff="2022-11"))
    evil = dict(section, items=[dict(section["items"][0], item_id="a|b`c<script>",
                                     example_excerpt={"before": "x|y", "match": "**m**\nn",
                                                      "after": "<img src=x>"})])
    md = render_markdown(ReportData(db_path="x", generated_at="now", cutoff="2022-11",
                                    contamination=evil))
    row = next(line for line in md.splitlines() if line.startswith("| svamp | test/"))
    assert row.count(" | ") == 9  # the pipes in the data did not add cells
    assert "a\\|b\\`c&lt;script&gt;" in row and "<script>" not in md and "<img" not in md
    assert "**\\*\\*m\\*\\* n**" in row  # the bold is ours; the data's stars are escaped


def test_hf_packaged_json_builder_gives_the_same_items(shared_data, tmp_path):
    pytest.importorskip("datasets")
    src = bench_dir(shared_data) / "svamp.parquet"
    jsonl = tmp_path / "svamp.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in pq.read_table(src).to_pylist()),
                     encoding="utf-8")
    via_hf = load_items(f"hf:json:{jsonl}@train", "svamp").table
    direct = load_items(str(src), "svamp").table
    assert build_index(via_hf).digest == build_index(direct).digest


def test_gate_cannot_run_without_contamination_results(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _write_docs(folder / "d.jsonl", [{"id": "a", "text": "plain text " * 20}])
    db = str(tmp_path / "none.duckdb")
    run_scan([str(folder)], db, detectors="none")
    cfg = tmp_path / "g.toml"
    cfg.write_text("[gates.contamination]\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["check", "--db", db, "--config", str(cfg)])
    assert res.exit_code == 2 and "benchmarks add" in res.output
    cfg.write_text("[gates.contamination]\nforms = [\"verbatim\"]\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["check", "--db", db, "--config", str(cfg)])
    assert res.exit_code == 2 and "forms" in res.output
