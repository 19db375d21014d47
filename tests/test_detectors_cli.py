"""`auditor detectors list|train|eval` through CliRunner on a small real labeled Parquet."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from auditor.cli import main


@pytest.fixture(scope="module")
def labeled(shared_data, tmp_path_factory):
    """600 seeded rows of the real dev set."""
    dev = pq.read_table(shared_data / "labeled" / "dev.parquet")
    idx = np.sort(np.random.default_rng(5).choice(dev.num_rows, 600, replace=False))
    path = tmp_path_factory.mktemp("cli") / "labeled.parquet"
    pq.write_table(dev.take(pa.array(idx)), path)
    return path


def test_list_json_shows_registry() -> None:
    result = CliRunner().invoke(main, ["detectors", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert {"markers", "compression", "classifier"} <= set(rows)
    assert rows["markers"]["tier"] == "cheap"
    table = CliRunner().invoke(main, ["detectors", "list"])
    assert table.exit_code == 0 and "markers" in table.output


def test_train_then_eval(labeled, tmp_path) -> None:
    out = tmp_path / "model"
    r = CliRunner().invoke(main, ["detectors", "train", str(labeled), "--detector", "classifier",
                                  "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["calibration"]["threshold_fpr"] == 0.01
    assert (out / "calibration.json").exists() and (out / "model.json").exists()

    r = CliRunner().invoke(main, ["detectors", "eval", str(labeled), "--detectors",
                                  "markers,classifier", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)["detectors"]
    assert res["classifier"]["overall"]["auroc"] > 0.7
    assert res["classifier"]["docs_per_s"] > 0
    assert set(res["classifier"]["split"]) <= {"test", "test_generator", "test_repo"}
    assert "domain" in res["markers"] and "length" in res["markers"]

    r = CliRunner().invoke(main, ["detectors", "eval", str(labeled), "--detectors", "markers"])
    assert r.exit_code == 0 and "AUROC" in r.output


def test_clear_errors(labeled, tmp_path) -> None:
    r = CliRunner().invoke(main, ["detectors", "eval", str(labeled), "--detectors", "nope"])
    assert r.exit_code != 0 and "unknown detector 'nope'" in r.output
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"body": ["x"]}), bad)
    r = CliRunner().invoke(main, ["detectors", "train", str(bad), "-o", str(tmp_path / "m")])
    assert r.exit_code == 1 and "missing column" in r.output
    help_text = CliRunner().invoke(main, ["detectors", "train", "--help"]).output
    assert "Examples" in help_text
