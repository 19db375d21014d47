"""`auditor benchmarks add` on JSON lines a user exports by hand, with real GSM8K test items
(`../shared/data/benchmarks/gsm8k.parquet`): a broken first line made the whole file unreadable
("no column 'question' (columns: __bad__)": Arrow took the columns from the first row alone), a
byte-order mark broke line 1, and a line nested thousands deep raised RecursionError (a
traceback)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from click.testing import CliRunner

from auditor.cli import main


def _items(shared_data, n: int = 20) -> list[str]:
    rows = pq.read_table(shared_data / "benchmarks" / "gsm8k.parquet").slice(0, n).to_pylist()
    return [json.dumps({"question": r["question"], "answer": r["answer"]}) for r in rows]


def _add(path, db, name: str):
    return CliRunner().invoke(main, ["benchmarks", "add", str(path), "--name", name,
                                     "--db", str(db), "--json"], catch_exceptions=False)


def test_a_broken_first_line_skips_that_line_only(shared_data, tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text('{"question": "cut short\n' + "\n".join(_items(shared_data)) + "\n")
    r = _add(path, tmp_path / "audit.duckdb", "mine")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)[0]
    assert got["n_items"] == 20 and len(got["skipped"]) == 1
    assert "row 0: invalid JSON" in got["skipped"][0]


def test_a_byte_order_mark_and_a_deeply_nested_line(shared_data, tmp_path):
    lines = _items(shared_data, 10)
    path = tmp_path / "bom.jsonl"
    path.write_text("\ufeff" + "\n".join(lines) + "\n" + "[" * 100_000 + "]" * 100_000 + "\n",
                    encoding="utf-8")
    r = _add(path, tmp_path / "audit.duckdb", "bom")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)[0]
    assert got["n_items"] == 10 and len(got["skipped"]) == 1
    assert "nested too deeply" in got["skipped"][0]

    array = tmp_path / "deep.json"
    array.write_text("[" * 100_000 + "]" * 100_000)
    r = _add(array, tmp_path / "audit.duckdb", "deep")
    assert r.exit_code == 1 and "nests JSON too deeply" in r.output
