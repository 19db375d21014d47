"""`auditor check` on real stores built by scanning real files: exit codes 0/1/2, the JSON and
JUnit outputs, the rise gate across two scan runs, and config validation."""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from auditor import check as gates
from auditor.audit import load_audit
from auditor.cli import main
from auditor.demo import demo_data_dir
from auditor.readers.base import ReaderOptions
from auditor.scan.options import ScanOptions
from auditor.scan.runner import run_scan

CORPUS = ("wiki.parquet", "blogs.jsonl", "cosmopedia-demo.parquet")


def labeled_rows(shared_data: Path, n: int, split: str = "calib", label: str = "ai") -> list[str]:
    """Real texts of one label from the labeled development set."""
    from detectors.splits import add_split_column

    t = add_split_column(pq.read_table(shared_data / "labeled" / "dev.parquet",
                                       columns=["id", "text", "label", "generator",
                                                "source_repo", "pair_key", "language"]))
    t = t.filter(pc.and_(pc.equal(t["label"], label), pc.equal(t["split"], split)))
    t = t.filter(pc.equal(t["language"], "en"))
    return t.column("text").to_pylist()[:n]


def build_store(root: Path, shared_data: Path) -> str:
    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    for name in CORPUS:
        shutil.copyfile(demo_data_dir() / name, corpus / name)
    ref = root / "ref"
    ref.mkdir()
    rows = [{"id": f"m{i}", "text": t, "label": "ai"}
            for i, t in enumerate(labeled_rows(shared_data, 300))]
    rows += [{"id": f"h{i}", "text": t, "label": "human"}
             for i, t in enumerate(labeled_rows(shared_data, 300, label="human"))]
    (ref / "labeled.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = str(root / "audit.duckdb")
    run_scan([str(corpus)], db, ScanOptions(reader=ReaderOptions(license_column="license")))
    # labels -> roles human_reference / machine_reference
    run_scan([str(ref)], db, ScanOptions(reader=ReaderOptions(label_column="label")))
    return db


@pytest.fixture(scope="module")
def store(tmp_path_factory, shared_data) -> str:
    return build_store(tmp_path_factory.mktemp("check"), shared_data)


def write_config(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def invoke(*args: str):
    return CliRunner().invoke(main, ["check", *args], catch_exceptions=False)


def test_all_gates_pass_exit_0_with_json_and_junit(store, tmp_path):
    cfg = write_config(tmp_path / "ok.toml", """
[estimate]
n_boot = 10
[gates.fraction]
max_overall = 1.0
max_per_source = 1.0
[gates.coverage]
min_date = 0.5
min_license = 0.1
[gates.synthetic_by_construction]
forbid_in = ["wiki", "blogs"]
""")
    out, junit = tmp_path / "check.json", tmp_path / "check.xml"
    res = invoke("--db", store, "--config", cfg, "--json-out", str(out), "--junit-out", str(junit))
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["status"] == "pass" and data["exit_code"] == 0
    names = {g["name"] for g in data["gates"]}
    assert {"fraction.overall", "fraction.source[wiki]", "fraction.source[blogs]",
            "coverage.date", "coverage.license", "synthetic_by_construction[wiki]",
            "synthetic_by_construction[blogs]"} <= names
    for g in data["gates"]:
        assert g["passed"] and g["threshold"] is not None and "detail" in g
    overall = next(g for g in data["gates"] if g["name"] == "fraction.overall")
    assert 0 <= overall["value"] <= 1 and "upper 95% bound" in overall["detail"]
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite" and int(suite.get("tests")) == len(data["gates"])
    assert int(suite.get("failures")) == 0
    assert "PASSED" in res.output


def test_failing_gates_exit_1_and_are_named(store, tmp_path):
    # cosmopedia-demo is synthetic by construction and has no URLs: both gates must fail
    cfg = write_config(tmp_path / "fail.toml", """
[estimate]
n_boot = 10
[gates.coverage]
min_url = 0.99
min_date = 0.5
[gates.synthetic_by_construction]
forbid_in = ["*"]
""")
    out, junit = tmp_path / "check.json", tmp_path / "check.xml"
    res = invoke("--db", store, "--config", cfg, "--json-out", str(out), "--junit-out", str(junit))
    assert res.exit_code == 1, res.output
    data = json.loads(out.read_text())
    failed = {g["name"] for g in data["gates"] if not g["passed"]}
    assert failed == {"coverage.url", "synthetic_by_construction[cosmopedia-demo]"}
    url = next(g for g in data["gates"] if g["name"] == "coverage.url")
    n_wiki = pq.ParquetFile(demo_data_dir() / "wiki.parquet").metadata.num_rows
    n_cosmo = pq.ParquetFile(demo_data_dir() / "cosmopedia-demo.parquet").metadata.num_rows
    n_blogs = sum(1 for _ in open(demo_data_dir() / "blogs.jsonl"))
    assert url["value"] == pytest.approx((n_wiki + n_blogs) / (n_wiki + n_blogs + n_cosmo))
    syn = next(g for g in data["gates"] if g["name"] == "synthetic_by_construction[cosmopedia-demo]")
    assert syn["value"] == n_cosmo
    suite = ET.parse(junit).getroot()
    assert int(suite.get("failures")) == 2
    assert {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None} == failed
    assert "FAIL  coverage.url" in res.output and "FAILED" in res.output


def test_fraction_gate_judges_the_upper_bound(store):
    cfg = gates.parse_config({"estimate": {"n_boot": 10},
                              "gates": {"fraction": {"per_source": {"blogs": 0.5}}}})
    res = gates.run_check(store, cfg)
    (g,) = res.gates
    assert g.name == "fraction.source[blogs]" and g.passed
    blogs = load_audit(store, gates.audit_settings(cfg)).by("source")["blogs"]
    assert g.value == pytest.approx(blogs["ci_high"])
    # a point estimate under the threshold does not pass when the interval reaches above it
    wide = dict(blogs, fraction=0.05, ci_low=0.01, ci_high=0.12)
    (g2,) = gates.fraction_gates(gates.parse_config(
        {"gates": {"fraction": {"per_source": {"blogs": 0.10}}}}), None, {"blogs": wide})
    assert not g2.passed and g2.value == 0.12 and g2.threshold == 0.10


def test_unusable_store_or_config_exits_2(store, tmp_path):
    good = write_config(tmp_path / "good.toml", "[gates.coverage]\nmin_date = 0.5\n")
    cases = {
        "missing db": ["--db", str(tmp_path / "nope.duckdb"), "--config", good],
        "missing config": ["--db", store, "--config", str(tmp_path / "none.toml")],
        "bad toml": ["--db", store, "--config",
                     write_config(tmp_path / "bad.toml", "[gates.coverage\nmin_date = ")],
        "unknown key": ["--db", store, "--config",
                        write_config(tmp_path / "typo.toml", "[gates.coverage]\nmin_dat = 0.5\n")],
        "share out of range": ["--db", store, "--config",
                               write_config(tmp_path / "range.toml",
                                            "[gates.fraction]\nmax_overall = 1.5\n")],
        "no gate": ["--db", store, "--config", write_config(tmp_path / "empty.toml", "")],
    }
    for what, args in cases.items():
        out = tmp_path / f"{what}.json"
        res = invoke(*args, "--json-out", str(out))
        assert res.exit_code == 2, (what, res.output)
        assert "check could not run" in res.output, what
        data = json.loads(out.read_text())
        assert data["status"] == "error" and data["error"], what


def test_config_errors_name_the_problem():
    with pytest.raises(gates.CheckError, match="unknown key 'min_dat'"):
        gates.parse_config({"gates": {"coverage": {"min_dat": 0.5}}}, "x.toml")
    with pytest.raises(gates.CheckError, match=r"unknown gate \[gates.fractions\]"):
        gates.parse_config({"gates": {"fractions": {}}}, "x.toml")
    with pytest.raises(gates.CheckError, match="needs both metric and max_degradation"):
        gates.parse_config({"gates": {"collapse": {"max_degradation": 0.1}}}, "x.toml")
    with pytest.raises(gates.CheckError, match="regime must be one of"):
        gates.parse_config({"gates": {"collapse": {"regime": "sometimes", "metric": "m",
                                                   "max_degradation": 0.1}}}, "x.toml")
    with pytest.raises(gates.CheckError, match="wrong type"):
        gates.parse_config({"gates": {"rise": {"per_source": "yes"}}}, "x.toml")
    cfg = gates.parse_config({"gates": {"fraction": {"max_per_source": 0.3,
                                                     "per_source": {"wiki": 0.1}}}})
    assert cfg.max_per_source == 0.3 and cfg.per_source == {"wiki": 0.1}


def test_rise_since_previous_run_uses_the_store_history(tmp_path, shared_data):
    db = build_store(tmp_path, shared_data)
    cfg = write_config(tmp_path / "rise.toml", """
[estimate]
n_boot = 5
[gates.rise]
max_rise = 0.02
""")
    first = invoke("--db", db, "--config", cfg, "--json")
    assert first.exit_code == 0, first.output
    assert "no estimate from an earlier run" in first.output
    # next night: the blogs shard gains machine-written posts (the assistant boilerplate is real
    # marker text; the bodies are real machine text from the development set)
    blogs = tmp_path / "corpus" / "blogs.jsonl"
    posts = labeled_rows(shared_data, 150, split="test_generator")
    with open(blogs, "a", encoding="utf-8") as fh:
        for i, t in enumerate(posts):
            fh.write(json.dumps({"id": f"new-{i}", "text": "As an AI language model, " + t,
                                 "crawl_date": "2025-01-15T00:00:00Z",
                                 "url": f"https://blogs.example.com/new/{i}"}) + "\n")
    run_scan([str(tmp_path / "corpus")], db,
             ScanOptions(reader=ReaderOptions(license_column="license")))
    out = tmp_path / "rise.json"
    second = invoke("--db", db, "--config", cfg, "--json-out", str(out))
    assert second.exit_code == 1, second.output
    data = json.loads(out.read_text())
    blogs_gate = next(g for g in data["gates"] if g["name"] == "rise.source[blogs]")
    assert not blogs_gate["passed"] and blogs_gate["value"] > 0.02
    assert "-> " in blogs_gate["detail"] and data["run_id"]
    wiki_gate = next(g for g in data["gates"] if g["name"] == "rise.source[wiki]")
    assert wiki_gate["value"] == pytest.approx(0.0, abs=1e-9)  # untouched shard, same estimate


def test_example_config_is_valid_and_configures_every_gate():
    cfg = gates.load_config(Path(__file__).resolve().parents[1] / "examples" / "auditor.toml")
    assert cfg.max_overall is not None and cfg.max_per_source is not None
    assert cfg.max_rise is not None and set(cfg.min_coverage) == {"date", "url", "license"}
    assert cfg.max_degradation is not None and cfg.forbid_synthetic_in


@pytest.mark.slow
def test_nightly_script_scans_incrementally_and_gates(tmp_path, shared_data):
    """scripts/nightly.sh twice: the second night scans only the new shard, and exits with the
    check's code; the CI workflow example parses and runs the same script."""
    import subprocess
    import sys

    import yaml

    repo = Path(__file__).resolve().parents[1]
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(demo_data_dir() / "wiki.parquet", data / "wiki.parquet")
    # the report's settings (n_boot 10) in the check's config: the check reads the audit the
    # report stored, as a nightly run that shares one audit does
    cfg = write_config(tmp_path / "gates.toml", "[estimate]\nn_boot = 10\n"
                       "[gates.coverage]\nmin_url = 0.9\n"
                       "[gates.synthetic_by_construction]\nforbid_in = [\"*\"]\n")
    env = dict(os.environ, AUDIT_INPUTS=str(data), AUDIT_DB=str(tmp_path / "audit.duckdb"),
               AUDIT_CONFIG=cfg, AUDIT_WORKERS="1", AUDITOR=f"{sys.executable} -m auditor",
               AUDIT_SCAN_ARGS="--license-column license --detectors markers",
               AUDIT_REPORTS="html", AUDIT_REPORT_ARGS="--n-boot 10",
               PYTHONPATH=str(repo))

    def night(n: int) -> tuple[int, Path]:
        out = tmp_path / f"night{n}"
        p = subprocess.run(["bash", str(repo / "scripts" / "nightly.sh")], cwd=repo,
                           env=dict(env, AUDIT_OUT=str(out)), capture_output=True, text=True,
                           timeout=240)
        return p.returncode, out

    rc, out = night(1)
    assert rc == 0, (out / "check.json").read_text() if (out / "check.json").exists() else rc
    assert json.loads((out / "scan.json").read_text())["counts"]["units_scanned"] == 1
    assert (out / "audit.html").read_text().count('<section id="') == 9  # 9: per-source thresholds
    # next night a synthetic-by-construction shard without URLs arrives
    shutil.copyfile(demo_data_dir() / "cosmopedia-demo.parquet", data / "cosmopedia-demo.parquet")
    rc, out = night(2)
    scan = json.loads((out / "scan.json").read_text())
    assert scan["counts"]["units_scanned"] == 1 and scan["counts"]["units_reused"] == 1
    assert rc == 1
    check = json.loads((out / "check.json").read_text())
    assert {g["name"] for g in check["gates"] if not g["passed"]} == {
        "coverage.url", "synthetic_by_construction[cosmopedia-demo]"}
    assert ET.parse(out / "check.xml").getroot().get("failures") == "2"
    wf = yaml.safe_load((repo / "docs" / "nightly-audit.yml").read_text())
    assert wf[True]["schedule"][0]["cron"]  # YAML reads the key `on` as True
    steps = " ".join(s.get("run", "") for s in wf["jobs"]["audit"]["steps"])
    assert "scripts/nightly.sh" in steps


def test_unwritable_outputs_exit_2_before_the_check_runs(tmp_path):
    cfg = write_config(tmp_path / "c.toml", "[gates.coverage]\nmin_date = 0.5\n")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    link = tmp_path / "link.xml"
    link.symlink_to(a_file)
    for flag, target in (("--junit-out", a_file / "check.xml"), ("--json-out", tmp_path),
                         ("--junit-out", link)):
        # the store does not even exist: the output path is what is reported, at once
        r = CliRunner().invoke(main, ["check", "--db", str(tmp_path / "none.duckdb"),
                                      "--config", cfg, flag, str(target)])
        assert r.exit_code == 2, r.output
        assert str(target) in r.output and "no store" not in r.output
        assert "Traceback" not in r.output
    assert a_file.read_text() == "x" and link.is_symlink()


def test_check_and_report_work_on_a_store_they_cannot_write(store, tmp_path):
    """Another process holds the store read-only (as a read-only file or mount would): check
    and report still run, on an audit computed in memory, and say it was not stored."""
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1], "
         "read_only=True); print('ready', flush=True); sys.stdin.read()", store],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        cfg = write_config(tmp_path / "ro.toml", "[estimate]\nn_boot = 5\nseed = 7\n"
                                                 "[gates.fraction]\nmax_overall = 1.0\n")
        res = invoke("--db", store, "--config", cfg, "--json")
        assert res.exit_code == 0, res.output
        out = json.loads(res.output)
        assert any("not stored" in n for n in out["notes"]), out["notes"]
        assert out["audit"]["persisted"] is False
        r = CliRunner().invoke(main, ["report", "--db", store, "-o", str(tmp_path / "r.json"),
                                      "--n-boot", "5", "--seed", "7", "--json"])
        assert r.exit_code == 0, r.output
        report = json.loads((tmp_path / "r.json").read_text())
        assert report["audit"]["persisted"] is False
        assert any("not stored" in n for n in report["notes"])
        # the same settings give the same interval in both, stored or not
        (gate,) = out["gates"]
        assert gate["value"] == report["summary"]["overall"]["ci_high"]
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    import duckdb

    from auditor.audit import AuditSettings

    con = duckdb.connect(store, read_only=True)
    try:
        n = con.execute("SELECT count(*) FROM audits WHERE settings_hash = ?",
                        [AuditSettings(n_boot=5, seed=7).digest()]).fetchone()[0]
    except duckdb.CatalogException:  # no audit was ever stored in this store
        n = 0
    finally:
        con.close()
    assert n == 0  # nothing was written


def test_audit_is_reused_until_a_new_run_or_recompute(store, monkeypatch):
    import auditor.audit as audit_mod
    from auditor.audit import AuditSettings

    settings = AuditSettings(n_boot=5, seed=3)
    first = load_audit(store, settings)
    assert first.persisted and first.overall["fraction"] is not None
    compute = audit_mod.compute_audit
    calls = []
    monkeypatch.setattr(audit_mod, "compute_audit",
                        lambda *a, **k: calls.append(1) or compute(*a, **k))
    again = load_audit(store, settings)
    assert calls == [] and again.persisted and again.estimates == first.estimates
    redo = load_audit(store, settings, recompute=True)
    assert calls == [1] and redo.estimates == first.estimates  # seeded: the same numbers
    other = load_audit(store, AuditSettings(n_boot=5, seed=3, weight="tokens"))
    assert calls == [1, 1] and other.settings_hash != first.settings_hash


def test_a_thousand_sources_print_failures_first_and_pool_the_rest(many_sources_store,
                                                                    tmp_path):
    # two documents a source: gated one by one only when the config lowers the minimum group
    cfg = write_config(tmp_path / "many.toml", "[estimate]\nn_boot = 5\nmin_docs = 1\n"
                                               "[gates.fraction]\nmax_per_source = 0.5\n"
                                               "[gates.coverage]\nmin_date = 0.5\n")
    out = tmp_path / "many.json"
    r = invoke("--db", many_sources_store, "--config", cfg, "--json-out", str(out))
    result = json.loads(out.read_text())
    assert result["n_gates"] == 1001  # the JSON holds every gate
    lines = r.output.splitlines()
    assert len(lines) <= gates.SUMMARY_GATES + gates.SUMMARY_NOTES + 3 and len(r.output) < 20_000
    n_failed = result["n_failed"]
    assert r.exit_code == (1 if n_failed else 0)
    shown = [line for line in lines if line.startswith(("PASS  ", "FAIL  "))]
    assert len(shown) == gates.SUMMARY_GATES
    # failures first: no PASS line before a FAIL line
    kinds = [line[:4] for line in shown]
    assert kinds == sorted(kinds, key=lambda k: k == "PASS")
    assert kinds.count("FAIL") == min(n_failed, gates.SUMMARY_GATES)
    pooled = next(line for line in lines if line.startswith("... and "))
    assert f"{1001 - gates.SUMMARY_GATES:,} more gates" in pooled
    assert f"({max(n_failed - gates.SUMMARY_GATES, 0):,} failed" in pooled


def test_every_example_config_loads_and_names_only_real_metrics(tmp_path):
    import re

    from auditor.collapse import make_family

    examples = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.toml"))
    assert examples
    for path in examples:
        gates.load_config(path)
        text = path.read_text()
        listed = re.findall(r"Metrics of the (\w+) model: ([^.]*)\.", text.replace("\n# ", " "))
        for model, names in listed:
            produced = {m.name for m in make_family(model).metrics}
            for name in re.findall(r"\w+", names):
                assert name in produced, (path.name, model, name)
                # and a config naming it loads
                cfg = text.replace('metric = "risk_ratio"', f'metric = "{name}"').replace(
                    'model = "gaussian"', f'model = "{model}"')
                gates.load_config(write_config(tmp_path / "m.toml", cfg))
    assert {m for m, _ in listed} == {"gaussian", "linear", "categorical"}
    bad = examples[0].read_text().replace('metric = "risk_ratio"', 'metric = "tail_mass_ratio"')
    with pytest.raises(gates.CheckError, match="tail_mass_ratio.*is not produced by model"):
        gates.load_config(write_config(tmp_path / "bad.toml", bad))


def test_audit_and_check_import_nothing_later_in_the_flow():
    """audit sits after estimate/collapse and before report/check; check beside report. Imports
    inside functions count too."""
    import ast

    root = Path(__file__).resolve().parents[1] / "auditor"
    later = {"audit.py": ("auditor.report", "auditor.check", "auditor.demo", "auditor.cli"),
             "check.py": ("auditor.report", "auditor.demo", "auditor.cli")}
    for name, banned in later.items():
        tree = ast.parse((root / name).read_text())
        found = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        found += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in found if m.startswith(banned)], (name, found)
