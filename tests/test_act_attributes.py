"""`auditor export-attributes` on real files: the dolma attribute format, and a real datatrove
filter acting on the exported scores with no auditor code in its pipeline."""

from __future__ import annotations

import gzip
import json
import os

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import require

from auditor.act.attributes import export_attributes
from auditor.act.manifest import write_manifest
from auditor.act.rules import parse_rules
from auditor.act.shards import write_filtered
from auditor.cli import main
from auditor.scan import ScanOptions, run_scan
from tests.corpus_files import make_rows, write_jsonl, write_parquet


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("attrs")
    data = root / "documents"
    data.mkdir()
    rows = make_rows(240, seed=11)
    for r in rows:
        r["source"] = "forum"
        r["text"] = r["text"] * 3
    write_jsonl(data / "forum.jsonl.gz", rows, compression="gzip")
    write_parquet(data / "rows.parquet", make_rows(150, seed=12), row_group_size=40)
    db = str(root / "a.duckdb")
    run_scan([str(data)], db, ScanOptions(), detectors="classifier")
    return db, data


def _lines(path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_dolma_attribute_files_follow_the_schema(store, tmp_path):
    db, data = store
    s = export_attributes(db, tmp_path / "x")
    assert s.n_shards == 2 and s.n_docs == 390
    attr = tmp_path / "x" / "attributes" / "auditor" / "forum.jsonl.gz"
    lines = _lines(attr)
    with gzip.open(data / "forum.jsonl.gz", "rt", encoding="utf-8") as fh:
        originals = [json.loads(line) for line in fh]
    # one line per document, in the document file's own order, ids paired line by line
    assert [x["id"] for x in lines] == [o["id"] for o in originals]
    for x, o in zip(lines, originals, strict=True):
        assert set(x) == {"id", "attributes"}
        spans = x["attributes"]["auditor__classifier__score"]
        assert len(spans) == 1
        start, end, score = spans[0]
        assert (start, end) == (0, len(o["text"])) and isinstance(score, float)
        for name, value in x["attributes"].items():
            assert name.count("__") == 2 and isinstance(value, list)
            assert all(len(span) == 3 and span[0] <= span[1] for span in value)
    pre = [x["attributes"]["auditor__provenance__pre_cutoff"] for x in lines]
    assert any(pre) and not all(pre)
    table = pq.read_table(tmp_path / "x" / "datatrove" / "rows.parquet")
    assert table.column_names == ["id", "auditor_score_classifier",
                                  "auditor_synthetic_by_construction", "auditor_pre_cutoff"]
    assert table.num_rows == 150


def test_manifest_export_pairs_with_written_shards(store, tmp_path):
    db, _ = store
    man = tmp_path / "m.parquet"
    summary = write_manifest(db, parse_rules(["score:classifier > 0"]), man)
    write_filtered(db, man, tmp_path / "corpus" / "documents")
    export_attributes(db, tmp_path / "corpus", manifest=man)
    docs = _lines(tmp_path / "corpus" / "documents" / "forum.jsonl.gz")
    attrs = _lines(tmp_path / "corpus" / "attributes" / "auditor" / "forum.jsonl.gz")
    assert [d["id"] for d in docs] == [a["id"] for a in attrs]
    assert summary.by_source["forum"]["keep"] == len(docs)


def test_a_real_datatrove_filter_acts_on_the_scores(store, tmp_path):
    pytest.importorskip("datatrove")
    from datatrove.pipeline.filters import LambdaFilter
    from datatrove.pipeline.readers import JsonlReader, ParquetReader

    db, data = store
    export_attributes(db, tmp_path / "x")
    threshold = 0.0
    # what a datatrove user writes: load the exported scores, filter by them
    scores = {}
    for name in ("forum.parquet", "rows.parquet"):
        t = pq.read_table(tmp_path / "x" / "datatrove" / name)
        scores.update(zip(t["id"].to_pylist(), t["auditor_score_classifier"].to_pylist(),
                          strict=True))
    keep = LambdaFilter(lambda doc: scores[doc.id] <= threshold)
    kept = []
    for reader in (JsonlReader(str(data), glob_pattern="*.jsonl.gz"),
                   ParquetReader(str(data), glob_pattern="*.parquet")):
        kept += [d.id for d in keep.run(reader.run())]
    man = tmp_path / "m.parquet"
    write_manifest(db, parse_rules([f"score:classifier > {threshold}"]), man)
    t = pq.read_table(man)
    expected = [i for i, dec in zip(t["id"].to_pylist(), t["decision"].to_pylist(), strict=True)
                if dec == "keep"]
    assert sorted(kept) == sorted(expected) and 0 < len(kept) < 390


def test_export_cli(store, tmp_path):
    db, _ = store
    r = CliRunner().invoke(main, ["export-attributes", "--db", db, "-o", str(tmp_path / "o"),
                                  "--prefix", "pa", "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert "pa__classifier__score" in got["attribute_names"]
    assert all(os.path.exists(p) for p in got["dolma_files"] + got["datatrove_files"])
    r = CliRunner().invoke(main, ["export-attributes", "--db", db, "-o", str(tmp_path / "o"),
                                  "--prefix", "a b"])
    assert r.exit_code == 2


def _dolma_rust():
    """dolma's mixer is Rust (`dolma.dolma`, what `dolma mix` calls with a JSON config); load the
    extension alone so its Python dependencies (heavy, and slow to resolve) are not needed."""
    import glob
    import importlib.machinery
    import importlib.util

    spec = importlib.util.find_spec("dolma")
    if spec is None or not spec.submodule_search_locations:
        require(False, "dolma is not installed (scripts/setup.sh installs it with --no-deps)")
    found = glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "dolma.*.so"))
    if not found:
        require(False, "dolma's Rust extension not found")
    loader = importlib.machinery.ExtensionFileLoader("dolma", found[0])
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("dolma", loader))
    loader.exec_module(module)
    return module


def test_the_real_dolma_mixer_drops_by_our_attributes(store, tmp_path):
    rust = _dolma_rust()
    db, data = store
    export_attributes(db, data.parent)  # attributes/auditor/ beside documents/
    threshold = 0.0
    cfg = {"streams": [{
        "name": "kept", "documents": [str(data / "*.jsonl.gz")], "attributes": ["auditor"],
        "output": {"path": str(tmp_path / "mixed"), "max_size_in_bytes": 100_000_000},
        "filter": {"include": [], "exclude": [
            "$.attributes[?(@.auditor__classifier__score && @.auditor__classifier__score[0] "
            f"&& @.auditor__classifier__score[0][2] > {threshold})]"]}}],
        "processes": 1,
        "work_dir": {"input": str(tmp_path / "wi"), "output": str(tmp_path / "wo")}}
    rust.mixer_entrypoint(json.dumps(cfg))
    mixed = []
    for path in sorted((tmp_path / "mixed").glob("*.gz")):
        mixed += [d["id"] for d in _lines(path)]
    man = tmp_path / "m.parquet"
    write_manifest(db, parse_rules([f"score:classifier > {threshold}"]), man)
    t = pq.read_table(man)
    expected = [i for i, s, dec in zip(t["id"].to_pylist(), t["shard"].to_pylist(),
                                       t["decision"].to_pylist(), strict=True)
                if dec == "keep" and s.endswith("forum.jsonl.gz")]
    assert sorted(mixed) == sorted(expected) and 0 < len(mixed) < 240
