"""Values from the data in terminal output: a source name or a shard path holding rich markup
(`[/bold]`, `[/]`) or control characters is printed as it is, never parsed (rich raised
MarkupError, a traceback, in `auditor estimate` and `auditor status`), and `auditor estimate`
piped prints whole TSV rows (a wrapped 80-column table cut every value: `fr…`)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from auditor.cli import main

HOSTILE = "[/bold] [red]evil\x1b[31m"


def _corpus(path, source: str) -> None:
    rows = []
    for i in range(80):
        text = (f"Ordinary words about the river and the town council meeting, number {i}. ") * 6
        rows.append({"id": f"h{i}", "text": text,
                     "date": "2021-05-01" if i % 2 else "2024-03-01",
                     "src": source if i < 40 else "plain"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_estimate_prints_markup_in_source_names_as_text_and_tsv_when_piped(tmp_path):
    corpus = tmp_path / "hostile.jsonl"
    _corpus(corpus, HOSTILE)
    db = str(tmp_path / "h.duckdb")
    r = CliRunner().invoke(main, ["scan", str(corpus), "--db", db, "--source-by", "column:src",
                                  "--detectors", "markers"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["estimate", "--db", db, "--by", "source", "--n-boot", "10",
                                  "--no-record"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    header = next(line for line in lines if line.startswith("source\t"))
    assert "fraction (all)" in header.split("\t") and "95% CI" in header.split("\t")
    shown = "[/bold] [red]evil\\x1b[31m"  # the name whole, its ESC shown, not acted on
    rows = [line.split("\t") for line in lines if line.startswith((shown, "plain\t", "all\t"))]
    assert [row[0] for row in rows] == [shown, "plain", "all"]
    assert all(len(row) == len(header.split("\t")) for row in rows)
    assert "\x1b" not in r.stdout
    assert any(line.startswith(f"source={shown}: ") for line in lines)  # notes name it too


def test_status_prints_a_shard_path_holding_markup_and_tsv_when_piped(tmp_path):
    folder = tmp_path / "["
    folder.mkdir()
    corpus = folder / "]x.jsonl"  # the path holds `[/]`, a rich closing tag
    _corpus(corpus, "plain")
    db = str(tmp_path / "s.duckdb")
    r = CliRunner().invoke(main, ["scan", str(corpus), "--db", db, "--detectors", "none"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["status", "--db", db, "--errors"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()  # piped: whole TSV rows, like every other table
    assert "shard\tformat\tstatus\tunits\tstored\tskipped\tfailed\tlast run" in lines
    assert any(line.startswith(f"{corpus}\tjsonl\tok\t1\t80\t") for line in lines)
    r = CliRunner().invoke(main, ["runs", "--db", db], catch_exceptions=False)
    assert r.exit_code == 0 and r.stdout.splitlines()[1].startswith("run\tstarted\tstatus")


def test_detectors_list_piped_is_whole_tsv():
    """Piped (a script, `grep`), the table was rich at 80 columns: `detectors/mo…` cut, every
    row spread over several lines."""
    r = CliRunner().invoke(main, ["detectors", "list"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == ["name", "tier", "languages", "docs/s", "needs", "what"]
    classifier = next(line.split("\t") for line in lines if line.startswith("classifier\t"))
    assert classifier[4] == "shipped model (detectors/models/classifier)"


def test_a_store_that_cannot_be_opened_is_one_line_and_exit_2(shared_data, tmp_path):
    """`--db` naming a file that is not a DuckDB store (here a real Parquet shard, an easy slip)
    printed a StoreAccessError traceback and exit 1 in most commands."""
    import shutil

    import pytest

    db = tmp_path / "audit.duckdb"
    shutil.copy(shared_data / "crawl" / "cc-main-2026-30-sample.parquet", db)
    for args in (["estimate"], ["report", "-o", str(tmp_path / "r.md")], ["project"],
                 ["filter", "--drop", "pre-cutoff", "-o", str(tmp_path / "m.parquet")],
                 ["tradeoff"], ["mix"], ["contamination"],
                 ["export-attributes", "-o", str(tmp_path / "attrs")], ["status"]):
        r = CliRunner().invoke(main, [*args, "--db", str(db)], catch_exceptions=False)
        if r.exit_code != 2:
            pytest.fail(f"{args[0]}: exit {r.exit_code}\n{r.output}")
        assert "Error: cannot open the store" in r.output and "Traceback" not in r.output


def test_contamination_piped_is_whole_tsv(shared_data, tmp_path):
    """`auditor contamination` piped printed rich tables at width 200 (README: whole TSV)."""
    db = str(tmp_path / "leak.duckdb")
    r = CliRunner().invoke(main, ["benchmarks", "add", "builtin:gsm8k", "--db", db])
    assert r.exit_code == 0, r.output
    shard = shared_data / "benchmarks" / "leaky_corpus" / "shard_00.jsonl.gz"
    r = CliRunner().invoke(main, ["scan", str(shard), "--db", db, "--detectors", "contamination"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["contamination", "--db", db], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert ("benchmark\titems\tleaked\tshare\texact\tpartial\tquestion only\treleased\t"
            "first seen before / after") in lines
    assert any(line.startswith("gsm8k\t1319\t") for line in lines)
    assert any(line.startswith("shard_00\t2000\t") for line in lines)  # per source
