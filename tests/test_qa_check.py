"""`auditor check`'s rise gate in a nightly routine on the demo corpus (real Parquet, JSONL and
WARC files): run 1 is checked, someone runs `auditor estimate --method cc` by hand (recorded in
the history by default), the corpus is scanned again (run 2, nothing changed). The rise gate
took the hand-run cc rows as run 1's estimates: cosmopedia-demo "80.5% -> 100%: rise 19.5%"
failed the build, and blogs "7.0% -> 0%" hid any real rise."""

from __future__ import annotations

import json

from auditor.demo import copy_corpus
from tests.cli_run import copy_night_one, invoke


def test_the_rise_gate_compares_estimates_by_the_same_method(tmp_path, demo_night_one):
    db, scan = copy_night_one(demo_night_one, tmp_path)  # run 1: the demo corpus scanned
    config = tmp_path / "gates.toml"
    config.write_text("[estimate]\nn_boot = 5\n[gates.rise]\nmax_rise = 0.02\n"
                      "per_source = true\n")
    first = invoke(["check", "--db", db, "--config", str(config), "--json"])
    assert first.exit_code == 0 and json.loads(first.stdout)["n_gates"] == 0  # nothing before
    by_hand = invoke(["estimate", "--db", db, "--by", "source", "--method", "cc",
                      "--n-boot", "0"])
    assert by_hand.exit_code == 0
    assert invoke(scan).exit_code == 0  # run 2: every unit reused
    second = invoke(["check", "--db", db, "--config", str(config), "--json"])
    gates = json.loads(second.stdout)["gates"]
    assert len(gates) == 7  # overall and six sources, each against run 1's audit
    assert second.exit_code == 0, [g for g in gates if not g["passed"]]
    assert all(abs(g["value"]) < 1e-9 for g in gates)  # the same data, the same estimates


def test_the_report_names_the_cutoff_the_scan_used(tmp_path):
    """Scanned with --cutoff 2023-06-01, the report still said "cutoff 2022-11-30" in its
    header and month table while its before/after column followed the scan's cutoff."""
    copy_corpus(tmp_path / "corpus")
    db = str(tmp_path / "audit.duckdb")
    r = invoke(["scan", str(tmp_path / "corpus"), "--db", db, "--cutoff", "2023-06-01",
                "--detectors", "classifier"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "r.md"
    assert invoke(["report", "--db", db, "-o", str(out), "--n-boot", "10"]).exit_code == 0
    text = out.read_text()
    assert "by auditor report; cutoff 2023-06-01;" in text and "2022-11-30" not in text
    assert "| crawl month | vs cutoff 2023-06-01 |" in text
    assert "| 2023-05 | before |" in text and "| 2023-06 | after |" in text
