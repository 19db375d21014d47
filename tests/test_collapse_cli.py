"""`auditor project` through click's CliRunner: --fraction, --json, --plot, the inverse question,
bad parameters, the corpus model from a text file, and a real store built by `auditor scan`."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from auditor.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args: str):
    return CliRunner().invoke(main, ["project", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def dev_rows(shared_data) -> list[dict]:
    pf = pq.ParquetFile(shared_data / "labeled" / "dev.parquet", pre_buffer=False,
                        buffer_size=1 << 20)
    t = pf.read_row_group(0, columns=["text", "label", "language"])
    t = t.filter(pc.equal(t["language"], "en"))
    return t.to_pylist()


def test_fraction_json_has_every_regime_and_a_band():
    res = run("--fraction", "0.15", "--fraction-ci", "0.1", "0.2", "--generations", "3",
              "--runs", "200", "--json")
    assert res.exit_code == 0, res.output
    prof = json.loads(res.output)["profile"]
    assert prof["alphas"] == [0.15] * 3 and prof["alpha_low"] == [0.1] * 3
    assert {r["regime"] for r in prof["rows"]} == {"replace", "accumulate",
                                                   "accumulate-subsample", "fresh"}
    row = next(r for r in prof["rows"] if r["regime"] == "replace" and r["generation"] == 3
               and r["metric"] == "risk_ratio")
    assert row["low"] < row["value"] < row["high"]
    assert row["definition"] == "population risk increase" and row["method"] == "monte carlo"


def test_table_and_plot(tmp_path):
    png = tmp_path / "profile.png"
    res = run("--fraction", "1", "--model", "linear", "--dim", "4", "--samples", "30",
              "--regime", "replace", "--generations", "4", "--runs", "300", "--plot", str(png))
    assert res.exit_code == 0, res.output
    assert "risk_ratio" in res.output and "excess_risk" in res.output
    assert "population" in res.output  # the definition of collapse sits beside each number
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000
    import matplotlib.image as mpimg

    img = mpimg.imread(png)
    assert img.shape[0] > 100 and img.shape[1] > 100


def test_categorical_parameters_reach_the_model():
    res = run("--fraction", "1", "--model", "categorical", "--categories", "40", "--zipf", "0.5",
              "--samples", "60", "--regime", "replace", "--generations", "2", "--runs", "50",
              "--json")
    assert res.exit_code == 0, res.output
    params = json.loads(res.output)["profile"]["params"]
    assert params == {"samples": 60, "categories": 40, "zipf": 0.5}


def test_inverse_question():
    res = run("--tolerance", "0.5", "--metric", "risk_ratio", "--regime", "all",
              "--generations", "3", "--samples", "50", "--runs", "300", "--json")
    assert res.exit_code == 0, res.output
    inv = {r["regime"]: r["max_alpha"] for r in json.loads(res.output)["inverse"]}
    assert set(inv) == {"replace", "accumulate", "accumulate-subsample", "fresh"}
    assert 0 < inv["replace"] < 1 and inv["accumulate"] > inv["replace"]


@pytest.mark.parametrize("args,code,message", [
    (["--fraction", "1.5"], 2, "0.0<=x<=1.0"),
    (["--fraction", "-0.1"], 2, "0.0<=x<=1.0"),
    (["--fraction", "0.1", "--samples", "1"], 2, "x>=2"),
    (["--fraction", "0.1", "--generations", "0"], 2, "x>=1"),
    (["--fraction", "0.1", "--model", "linear", "--dim", "0"], 2, "x>=1"),
    (["--fraction", "0.1", "--model", "linear", "--dim", "40", "--samples", "20"], 1,
     "must exceed dim + 1"),
    (["--fraction", "0.1", "--dim", "3"], 2, "--model linear only"),
    (["--fraction", "0.1", "--zipf", "1.2"], 2, "--model categorical only"),
    ([], 2, "give --fraction ALPHA or --db STORE"),
    (["--fraction", "0.1", "--db", "x.duckdb"], 2, "not both"),
    (["--db", "nowhere.duckdb"], 2, "no store at nowhere.duckdb"),
    (["--fraction", "0.3", "--fraction-ci", "0.4", "0.5"], 2, "does not contain"),
    (["--fraction", "0.3", "--tolerance", "0.1"], 2, "go together"),
    (["--fraction", "0.3", "--tolerance", "0.1", "--metric", "bogus"], 2,
     "not a gaussian metric"),
    (["--fraction", "0.3", "--model", "corpus"], 2, "needs human texts"),
])
def test_bad_parameters(args, code, message):
    res = CliRunner().invoke(main, ["project", *args])
    assert res.exit_code == code, res.output
    assert message in res.output


def test_corpus_model_from_a_text_file(tmp_path, dev_rows):
    path = tmp_path / "human.parquet"
    pq.write_table(pa.Table.from_pylist(dev_rows), path)  # label column: only human rows used
    res = run("--fraction", "1", "--model", "corpus", "--texts", str(path), "--samples", "100",
              "--regime", "replace", "--generations", "2", "--runs", "2", "--json")
    assert res.exit_code == 0, res.output
    prof = json.loads(res.output)["profile"]
    assert prof["model"] == "corpus" and prof["params"]["documents"] > 100
    ppl = [r["value"] for r in prof["rows"] if r["metric"] == "perplexity_ratio"]
    assert ppl[0] == 1.0 and ppl[-1] > 1.1


def test_project_from_a_scanned_store(tmp_path, dev_rows):
    """A real store: `auditor scan` over a JSONL of human (pre-cutoff) and mixed (post-cutoff)
    dev-set texts, then the fraction, its interval, the monthly schedule and the corpus model's
    human texts all come from it."""
    human = [r["text"] for r in dev_rows if r["label"] == "human"][:200]
    ai = [r["text"] for r in dev_rows if r["label"] == "ai"][:40]
    lines = [{"id": f"h{i}", "text": t, "date": f"2021-{i % 12 + 1:02d}-15"}
             for i, t in enumerate(human[:120])]
    post = human[120:] + ai
    lines += [{"id": f"p{i}", "text": t, "date": f"2024-{i % 12 + 1:02d}-15"}
              for i, t in enumerate(post)]
    src = tmp_path / "corpus.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    db = str(tmp_path / "audit.duckdb")
    scan = CliRunner().invoke(main, ["scan", str(src), "--db", db, "--detectors", "classifier",
                                     "--no-progress"])
    assert scan.exit_code == 0, scan.output

    res = run("--db", db, "--regime", "replace", "--generations", "2", "--runs", "200",
              "--json")
    assert res.exit_code == 0, res.output
    prof = json.loads(res.output)["profile"]
    a, lo, hi = prof["alphas"][0], prof["alpha_low"][0], prof["alpha_high"][0]
    assert 0 < a < 1 and lo <= a <= hi
    assert any("alpha from" in n for n in prof["notes"])

    res = run("--db", db, "--schedule", "monthly", "--regime", "fresh", "--generations", "3",
              "--runs", "100", "--json")
    assert res.exit_code == 0, res.output
    alphas = json.loads(res.output)["profile"]["alphas"]
    assert len(alphas) == 3 and alphas[0] <= alphas[1] <= alphas[2]

    res = run("--db", db, "--schedule", "by-source", "--regime", "fresh", "--generations", "2",
              "--runs", "100", "--json")
    assert res.exit_code == 0, res.output
    prof = json.loads(res.output)["profile"]
    assert prof["alpha_kind"] == "mix" and list(prof["mix"]) == ["corpus"]
    assert prof["alpha_low"][0] <= prof["alphas"][0] <= prof["alpha_high"][0]

    res = run("--db", db, "--model", "corpus", "--samples", "50", "--regime", "replace",
              "--generations", "2", "--runs", "2", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["profile"]["params"]["documents"] > 50
