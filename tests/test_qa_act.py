"""`auditor filter --write` and `auditor export-attributes` on the real crawl's WARC and WET of
one Wikipedia page (`cc-main-2024-22-wikipedia.warc.gz` and `.warc.wet.gz`): both become dolma
JSON lines, and both were written to `cc-main-2024-22-wikipedia.jsonl.gz`, the second over the
first, while the summary said every kept record was written (silent loss)."""

from __future__ import annotations

import gzip
import json
import shutil

from tests.cli_run import invoke

PAGE = "cc-main-2024-22-wikipedia"


def test_a_warc_and_its_wet_are_written_to_two_files(shared_data, tmp_path):
    corpus = tmp_path / "crawl"
    corpus.mkdir()
    for ext in (".warc.gz", ".warc.wet.gz"):
        shutil.copy(shared_data / "crawl" / f"{PAGE}{ext}", corpus / f"{PAGE}{ext}")
    db = str(tmp_path / "audit.duckdb")
    r = invoke(["scan", str(corpus), "--db", db, "--detectors", "markers"])
    assert r.exit_code == 0, r.output

    out = tmp_path / "filtered"
    r = invoke(["filter", "--db", db, "--drop", "score:markers > 100",
                "-o", str(tmp_path / "manifest.parquet"), "--write", str(out), "--json"])
    assert r.exit_code == 0, r.output
    written = sorted(p for p in out.iterdir() if not p.name.startswith("."))
    assert len(written) == 2 and all(p.name.endswith(f"-{PAGE}.jsonl.gz") for p in written)
    docs = [json.loads(line) for p in written for line in gzip.open(p, "rt", encoding="utf-8")]
    assert len(docs) == 2
    assert {d["metadata"]["shard"].rsplit("/", 1)[1] for d in docs} == {
        f"{PAGE}.warc.gz", f"{PAGE}.warc.wet.gz"}

    attrs = tmp_path / "attrs"
    r = invoke(["export-attributes", "--db", db, "-o", str(attrs)])
    assert r.exit_code == 0, r.output
    dolma = sorted(p.name for p in (attrs / "attributes" / "auditor").iterdir())
    assert dolma == [p.name for p in written]  # paired with the documents by name
    assert len(list((attrs / "datatrove").iterdir())) == 2
