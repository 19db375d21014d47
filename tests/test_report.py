"""`auditor report` on a real store (demo files in Parquet, JSONL.gz and WARC plus a hostile JSONL
written here, scanned by `auditor scan`'s library function): the numbers match the input files,
HTML/Markdown/JSON carry the same content, the HTML is self-contained, and it renders in headless
Chromium with no console error, the per-source table, the plots and a working sort."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import require

from auditor.cli import main
from auditor.demo import demo_data_dir
from auditor.readers.base import ReaderOptions
from auditor.report import ReportData, store_sql, write_report
from auditor.report.collect import collect
from auditor.report.markdown import render_markdown
from auditor.scan.options import ScanOptions
from auditor.scan.runner import run_scan

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"
FILES = ("wiki.parquet", "stories.jsonl.gz", "news.warc.gz", "cosmopedia-demo.parquet")
HOSTILE = [
    {"id": "x-1", "text": "<script>alert('pwned')</script> A page that tries to inject markup.",
     "crawl_date": "2024-02-01T00:00:00Z", "url": "https://hostile.example/1"},
    {"id": "x-2", "text": "As an AI language model, I cannot browse the internet. I hope this "
     "helps! Certainly! Here's a summary of the article you asked for.",
     "crawl_date": "2024-03-01T00:00:00Z"},
    {"id": "x-3", "text": "An old post about gardening and the weather in spring.",
     "crawl_date": "2021-03-01T00:00:00Z", "url": "https://hostile.example/3"},
]


def _machine_reference(shared_data: Path, path: Path, n: int = 300) -> None:
    import pyarrow.compute as pc

    from detectors.splits import add_split_column

    t = add_split_column(pq.read_table(shared_data / "labeled" / "dev.parquet",
                                       columns=["id", "text", "label", "generator",
                                                "source_repo", "pair_key"]))
    t = t.filter(pc.and_(pc.equal(t["label"], "ai"), pc.equal(t["split"], "calib")))
    pq.write_table(t.select(["id", "text"]).slice(0, n), path)


@pytest.fixture(scope="module")
def store(tmp_path_factory, shared_data) -> str:
    root = tmp_path_factory.mktemp("report")
    corpus = root / "corpus"
    corpus.mkdir()
    for name in FILES:
        shutil.copyfile(demo_data_dir() / name, corpus / name)
    lines = [json.dumps(r) for r in HOSTILE] + ['{"id": "broken", "text": ']  # one bad line
    (corpus / "hostile.jsonl").write_text("\n".join(lines) + "\n")
    (root / "ref").mkdir()
    _machine_reference(shared_data, root / "ref" / "machine.parquet")
    db = str(root / "audit.duckdb")
    run_scan([str(corpus)], db, ScanOptions(reader=ReaderOptions(license_column="license")))
    run_scan([str(root / "ref")], db, ScanOptions(reader=ReaderOptions(role="machine_reference")))
    return db


#: The report settings of the `data` fixture; the CLI test asks for the same, so the store's
#: one stored audit serves both.
N_BOOT, GENERATIONS = 10, 5


@pytest.fixture(scope="module")
def data(store) -> ReportData:
    return collect(store, n_boot=N_BOOT, top_k=3, generations=GENERATIONS)


def _expected_counts() -> dict[str, dict[str, int]]:
    """Documents and missing URLs per source, read straight from the input files."""
    from warcio.archiveiterator import ArchiveIterator

    wiki = pq.read_table(demo_data_dir() / "wiki.parquet")
    cosmo = pq.read_table(demo_data_dir() / "cosmopedia-demo.parquet")
    with gzip.open(demo_data_dir() / "stories.jsonl.gz", "rt") as fh:
        stories = [json.loads(line) for line in fh]
    with open(demo_data_dir() / "news.warc.gz", "rb") as fh:
        news = [r for r in ArchiveIterator(fh) if r.rec_type == "response"]
    return {
        "wiki": {"n": wiki.num_rows, "no_url": wiki.column("url").null_count},
        "cosmopedia-demo": {"n": cosmo.num_rows, "no_url": cosmo.column("url").null_count},
        "stories": {"n": len(stories), "no_url": sum("url" not in r for r in stories)},
        "news": {"n": len(news), "no_url": 0},
        "hostile": {"n": 3, "no_url": 1},
    }


def test_report_data_matches_the_input_files(data):
    expected = _expected_counts()
    assert data.summary["n_docs"] == sum(e["n"] for e in expected.values())
    assert data.summary["n_sources"] == len(expected)
    assert data.summary["date_min"].startswith("2021") and data.summary["date_max"] >= "2024"
    assert {s["source"]: s["n_docs"] for s in data.sources} == {k: e["n"] for k, e in expected.items()}
    cov = {c["source"]: c for c in data.coverage["sources"]}
    for src, e in expected.items():
        assert cov[src]["missing_url"] == e["no_url"], src
    assert cov["cosmopedia-demo"]["url_share"] == 0.0
    by_src = {s["source"]: s for s in data.sources}
    assert by_src["cosmopedia-demo"]["n_synthetic_by_construction"] == expected["cosmopedia-demo"]["n"]
    assert by_src["wiki"]["n_synthetic_by_construction"] == 0
    # the broken JSON line is accounted for as a failed record
    assert data.issues["errors"].get("failed") == 1 and data.issues["n_runs"] == 2
    # months on both sides of the cutoff, pre-cutoff ones flagged
    months = [m["month"] for m in data.months]
    assert months == sorted(months) and months[0] < "2022-11" < months[-1]
    assert all(m["pre_cutoff"] == (m["month"] < "2022-11") for m in data.months
               if m["month"] != "2022-11")
    # every estimate names its method and detector
    for s in data.sources:
        if s["estimate"]:
            assert s["estimate"]["method"] and s["estimate"]["detector"]


def test_agreement_and_flagged_are_computed_from_the_scores(store, data):
    dets = data.agreement["detectors"]
    assert len(data.agreement["pairs"]) == len(dets) * (len(dets) - 1) // 2
    con = duckdb.connect(store, read_only=True)
    try:
        for p in data.agreement["pairs"]:
            x = np.array(con.execute(
                f'SELECT "score_{p["a"]}", "score_{p["b"]}" FROM documents WHERE role = '
                f"'corpus' AND \"score_{p['a']}\" IS NOT NULL AND \"score_{p['b']}\" IS NOT NULL"
            ).fetchall(), dtype=float)
            if x[:, 0].std() > 0 and x[:, 1].std() > 0:
                assert p["pearson"] == pytest.approx(np.corrcoef(x[:, 0], x[:, 1])[0, 1], abs=1e-9)
            assert p["n"] == len(x)
            flags = (x[:, 0] > p["threshold_a"]) == (x[:, 1] > p["threshold_b"])
            assert p["agreement"] == pytest.approx(flags.mean(), abs=1e-12)
    finally:
        con.close()
    with store_sql.connect(store) as c:
        flagged = store_sql.top_flagged(c, "markers", 2)
        if len(dets) >= 2:  # big stores: the statistics come from a seeded reservoir sample
            (small,) = store_sql.agreement(c, dets[:2], data.agreement["thresholds"], sample=100)
            assert small["n_used"] == 100 < small["n"]
            again = store_sql.agreement(c, dets[:2], data.agreement["thresholds"], sample=100)
            assert again[0] == small
    top = flagged["hostile"][0]
    assert top["id"] == "x-2" and top["scores"]["markers"] > 0 and top["reasons"]["markers"]
    assert set(data.flagged) == {s["source"] for s in data.sources}
    assert all(len(v) <= 3 for v in data.flagged.values())


def test_html_markdown_json_carry_the_same_content(data, tmp_path):
    html = write_report(data, tmp_path / "r.html").read_text()
    md = write_report(data, tmp_path / "r.md").read_text()
    js = json.loads(write_report(data, tmp_path / "r.json").read_text())
    assert ReportData.from_dict(js).summary == data.summary
    for s in data.sources:
        assert f'data-v="{s["source"]}"' in html and f"| {s['source']} |" in md
    for docs in data.flagged.values():
        for d in docs:
            assert d["id"] in html and d["id"] in md
    for section in ("summary", "sources", "months", "coverage", "agreement", "collapse",
                    "flagged", "issues"):
        assert f'<section id="{section}">' in html
    for heading in ("## Summary", "## Synthetic fraction by source", "## Synthetic fraction by "
                    "crawl month", "## Licence and provenance coverage", "## Detector agreement",
                    "## Model-collapse projection", "## Most confidently flagged documents",
                    "## Scan runs, skipped and failed records"):
        assert heading in md
    for png in (tmp_path / "r_files").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # both name the audit the numbers come from (the one `auditor check` judges)
    assert data.audit["settings_hash"] and f"settings {data.audit['settings_hash']}" in html
    assert f"settings {data.audit['settings_hash']}" in md
    # self-contained: nothing to fetch, markup from documents escaped
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert 'src="http' not in html and "<link" not in html and "@import" not in html
    o = data.summary["overall"]
    if o and o["fraction"] is not None:
        assert f"method {o['method']}, detector {o['detector']}" in html
        assert f"method {o['method']}, detector {o['detector']}" in md


def test_report_cli_formats_and_errors(store, tmp_path):
    r = CliRunner().invoke(main, ["report", "--db", store, "-o", str(tmp_path / "a.out"),
                                  "--format", "json", "--n-boot", str(N_BOOT), "--generations",
                                  str(GENERATIONS), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "a.out").read_text())["summary"]["n_docs"] > 0
    r = CliRunner().invoke(main, ["report", "--db", store, "-o", str(tmp_path / "a.pdf")])
    assert r.exit_code == 2 and "cannot tell the report format" in r.output
    r = CliRunner().invoke(main, ["report", "--db", str(tmp_path / "none.duckdb"), "-o",
                                  str(tmp_path / "x.html")])
    assert r.exit_code == 1 and "no store at" in r.output


# --- headless Chromium --------------------------------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--enable-logging=stderr",
                  "--v=0"]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run_chromium(exe: str, tmp: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
                          capture_output=True, text=True, timeout=90, cwd=tmp)


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


#: Appended to a copy of the page: clicks the "documents" header of the per-source table and
#: writes the resulting order into the DOM, so --dump-dom shows whether sorting works.
SORT_PROBE = """<script>
var t=document.getElementById('source-table');
var th=Array.prototype.filter.call(t.tHead.rows[0].cells,function(c){return c.textContent==='documents';})[0];
th.click();
var order=Array.prototype.map.call(t.tBodies[0].rows,function(r){return r.cells[1].getAttribute('data-v');});
document.body.setAttribute('data-sorted',order.join(','));
</script></body>"""


def _need_chromium() -> str:
    exe = _chromium()
    require(exe is not None, "chromium is not installed (scripts/setup.sh installs it: "
                             "apt-get install chromium)")
    return exe


def _allow_script(page: str, script: str) -> str:
    """The page with `script` appended and its hash added to the page's CSP, as a test probe
    needs (the CSP blocks any inline script it does not name)."""
    body = script.removeprefix("<script>").removesuffix("</script></body>")
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    page = page.replace("script-src ", f"script-src &#x27;sha256-{digest}&#x27; ", 1)
    return page.replace("</body>", script)


def test_html_renders_in_headless_chromium(data, tmp_path):
    exe = _need_chromium()
    page = write_report(data, tmp_path / "audit.html")
    dom_run = _run_chromium(exe, tmp_path, page.as_uri(), "--dump-dom")
    assert dom_run.returncode == 0, dom_run.stderr[-2000:]
    assert _console_lines(dom_run.stderr) == []
    dom = dom_run.stdout
    assert 'id="source-table"' in dom
    n_rows = dom.split('id="source-table"')[1].split("</table>")[0].count("<tr>")
    assert n_rows == len(data.sources) + 1  # header + one row a source
    assert dom.count('src="data:image/png;base64,') >= (2 if data.summary.get("overall") and
                                                        data.summary["overall"]["fraction"]
                                                        is not None else 0)
    if data.collapse.get("rows"):
        assert 'id="collapse-plot"' in dom
    # the sortable table really sorts in the browser
    probe = tmp_path / "probe.html"
    probe.write_text(_allow_script(page.read_text(), SORT_PROBE))
    sort_run = _run_chromium(exe, tmp_path, probe.as_uri(), "--dump-dom")
    assert _console_lines(sort_run.stderr) == []
    order = sort_run.stdout.split('data-sorted="')[1].split('"')[0].split(",")
    assert [int(v) for v in order] == sorted(s["n_docs"] for s in data.sources)
    # a screenshot, kept as a test artifact, that is not blank
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    if shot.exists():
        os.unlink(shot)
    shot_run = _run_chromium(exe, tmp_path, page.as_uri(), f"--screenshot={shot}",
                             "--window-size=1280,2400", "--hide-scrollbars")
    assert shot_run.returncode == 0 and shot.exists(), shot_run.stderr[-2000:]
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.shape[0] >= 1000 and img.shape[1] >= 1000
    assert img.std() > 10  # text and plots on a white page, not a blank page
    assert (img < 128).mean() > 0.005


# --- hostile values: escaped in every output, and a CSP behind the escaping --------------------

HOSTILE_SOURCES = [
    '"><img src=x onerror=document.body.dataset.pwned=1>',
    "<script>document.body.dataset.pwned=2</script>",
    "x' onmouseover='document.body.dataset.pwned=3' data-x='",
    "[click](javascript:document.body.dataset.pwned=4) | `code` ![i](x)",
    "$\\frac{1}{$ <b>bold</b>",
    "\x1b[2J\x1b[31mred\x1b[0m\rover",
]


@pytest.fixture(scope="module")
def hostile_data(tmp_path_factory) -> ReportData:
    """A real store scanned from JSONL whose `source` column holds markup and script."""
    root = tmp_path_factory.mktemp("hostile")
    rows = []
    for i, name in enumerate(HOSTILE_SOURCES):
        for j in range(4):
            date = "2021-05-01T00:00:00Z" if j % 2 else "2024-05-01T00:00:00Z"
            rows.append({"id": f"h{i}-{j}", "source": name, "crawl_date": date,
                         "url": f"https://example.org/{i}/{j}?q=<x>",
                         "text": f"Certainly! As an AI language model, {name} item {j}. "
                                 "I hope this helps with your question about the garden."})
    (root / "x.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = str(root / "x.duckdb")
    run_scan([str(root / "x.jsonl")], db,
             ScanOptions(reader=ReaderOptions(source_by="column:source")))
    return collect(db, n_boot=10, top_k=2, generations=3)


def test_hostile_source_names_are_inert_in_html_and_markdown(hostile_data, tmp_path):
    assert {s["source"] for s in hostile_data.sources} == set(HOSTILE_SOURCES)
    assert set(hostile_data.flagged) == set(HOSTILE_SOURCES)
    page = write_report(hostile_data, tmp_path / "x.html").read_text()
    for name in HOSTILE_SOURCES:  # never raw, neither in text nor in an attribute
        assert (name not in page) == any(c in name for c in "<>\"'&\x1b"), name
    assert "<img src=x" not in page and "<script>document" not in page
    assert 'Content-Security-Policy' in page and "default-src &#x27;none&#x27;" in page
    import re

    ids = re.findall(r'\bid="([^"]*)"', page)
    assert all(re.fullmatch(r"[a-z0-9-]+", i) for i in ids), ids
    assert len(ids) == len(set(ids))
    text = render_markdown(hostile_data)
    for name in HOSTILE_SOURCES:  # quotes are inert in Markdown text; markup is not
        assert (name not in text) == any(c in name for c in "<>[]`|$\x1b"), name
    assert "<img" not in text and "<script>" not in text and "<b>" not in text
    assert "\x1b" not in text and "\x1b" not in page and "\\x1b[31mred" in page
    assert not re.search(r"(?<!\\)\]\(", text) and "![i](x)" not in text  # no link or image
    # every row of the source table keeps the header's column count: no pipe from the data
    # opens a cell
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| source | documents"))
    end = lines.index("", start)

    def cells(line: str) -> int:
        return line.replace("\\|", "").count("|")

    assert end - start - 2 == len(HOSTILE_SOURCES)
    assert all(cells(line) == cells(lines[start]) for line in lines[start:end])


def test_hostile_report_renders_in_chromium_and_runs_no_injected_script(hostile_data, tmp_path):
    exe = _need_chromium()
    page = write_report(hostile_data, tmp_path / "x.html")
    run = _run_chromium(exe, tmp_path, page.as_uri(), "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    body = dom.split("<body", 1)[1].split(">", 1)[0]
    assert "data-pwned" not in body
    assert 'data-sortable="ready"' in body  # the page's own script still ran under the CSP
    assert dom.count("<tr>") > len(HOSTILE_SOURCES)
    # the CSP alone blocks an injected inline script that escaping had missed
    leaked = tmp_path / "leaked.html"
    leaked.write_text(page.read_text().replace(
        "</body>", "<script>document.body.dataset.pwned='csp'</script></body>"))
    run = _run_chromium(exe, tmp_path, leaked.as_uri(), "--dump-dom")
    body = run.stdout.split("<body", 1)[1].split(">", 1)[0]
    assert "data-pwned" not in body and 'data-sortable="ready"' in body


# --- output targets: only a regular file is replaced, checked before the work -----------------

def test_report_output_refuses_links_folders_and_special_files(store, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.html"
    link.symlink_to(victim)
    fifo = tmp_path / "pipe.html"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.html"
    folder.mkdir()
    under_a_file = victim / "x.html"  # a folder that cannot exist: unwritable for root too
    for target, words in ((link, "symbolic link"), (fifo, "not a regular file"),
                          (folder, "directory"), (under_a_file, "cannot")):
        r = CliRunner().invoke(main, ["report", "--db", store, "-o", str(target)])
        assert r.exit_code == 2, (target, r.output)
        assert words in r.output and "Traceback" not in r.output
        assert len([line for line in r.output.splitlines() if line.startswith("Error")]) == 1
        assert "estimating" not in r.output  # refused before any work
    assert link.is_symlink() and victim.read_text() == "keep me"
    assert fifo.is_fifo() and folder.is_dir()


def test_report_replaces_a_regular_file_through_a_temporary_file(data, tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")
    write_report(data, target)
    assert json.loads(target.read_text())["summary"]["n_docs"] == data.summary["n_docs"]
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left


# --- an empty store says what is missing --------------------------------------------------------

def test_empty_store_says_what_is_missing(tmp_path):
    from auditor.store.catalogue import open_store

    empty = str(tmp_path / "empty.duckdb")
    open_store(empty).close()
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": f"A page about rivers {i}."})
                              + "\n" for i in range(5)))
    unscored = str(tmp_path / "unscored.duckdb")
    r = CliRunner().invoke(main, ["scan", str(corpus), "--db", unscored, "--detectors", "none"])
    assert r.exit_code == 0, r.output
    for db, words in ((empty, "no corpus documents (nothing scanned yet)"),
                      (unscored, "5 corpus documents but no detector scores")):
        for args in (["project", "--db", db], ["estimate", "--db", db]):
            r = CliRunner().invoke(main, args)
            assert r.exit_code == 1, (args, r.output)
            assert words in r.output, (args, r.output)
            assert "nan" not in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["report", "--db", empty, "-o", str(tmp_path / "r.html")])
    assert r.exit_code == 1 and "no corpus documents" in r.output
    # without scores a report is still worth writing (coverage, runs), and says why it has no
    # fractions
    r = CliRunner().invoke(main, ["report", "--db", unscored, "-o", str(tmp_path / "r.html")])
    assert r.exit_code == 0 and "no detector scores" in r.output


def test_a_thousand_sources_cap_the_forest_plot(many_sources_store):
    from PIL import Image

    from auditor.audit import AuditSettings, load_audit
    from auditor.report import plots

    # the settings of the check's thousand-sources test (n_boot 5, min_docs 1: every source
    # estimated, none pooled): the store's one stored audit serves both, computed once
    audit = load_audit(many_sources_store, AuditSettings(n_boot=5, min_docs=1))
    data = collect(many_sources_store, top_k=1, audit=audit)
    assert len(data.sources) == 1000  # the table and the JSON keep every source
    png = plots.forest(data.sources, data.summary["overall"])
    import io

    width, height = Image.open(io.BytesIO(png)).size
    assert height < 2500 and width < 2000, (width, height)  # was 965 x 37,484 px


def test_tables_are_whole_tsv_when_stdout_is_not_a_terminal():
    r = CliRunner().invoke(main, ["project", "--fraction", "0.2", "--generations", "3",
                                  "--regime", "replace", "--tolerance", "0.5", "--metric",
                                  "risk_ratio"])
    assert r.exit_code == 0, r.output
    assert "…" not in r.output and "━" not in r.output  # no rich box, nothing cut
    lines = r.output.splitlines()
    header = next(line for line in lines if line.startswith("regime\tmetric\tdefinition"))
    rows = [line for line in lines if line.startswith("replace\t")]
    assert rows and all(line.count("\t") == header.count("\t") for line in rows[:-1])
    assert any(line == "regime\tmax alpha" for line in lines)
    # the definitions are printed whole, however long
    assert any(len(line) > 80 for line in rows)


def test_report_explains_its_figures_and_carries_no_install_paths(data, tmp_path):
    md_text = render_markdown(data)
    page = write_report(data, tmp_path / "x.html").read_text()
    for words in ("relative to the real-data-only model", "Flag agreement",
                  "listed whether or not they pass"):
        assert words in md_text and words in page
    rows = [r for r in data.collapse["rows"] if r["generation"] == data.collapse["generations"]]
    specs = {m["name"]: m for m in data.collapse["metrics"]}
    acc = next(r for r in rows if r["regime"] == "accumulate" and r["metric"] == "risk_ratio")
    from auditor.report.data import metric_reading
    from auditor.report.markdown import md

    reading = metric_reading(specs["risk_ratio"], acc["value"])
    assert md(reading) in md_text
    way = "less" if acc["value"] < 1 else "more"
    assert f"{abs(acc['value'] - 1):.0%} {way} than a model trained on real data only" in reading
    # a listed document below the threshold says so
    thr = data.agreement["thresholds"][data.detector]
    below = [d for docs in data.flagged.values() for d in docs
             if d["scores"][data.detector] <= thr]
    assert below and f"no (below {thr:.3g})" in md_text and f"no (below {thr:.3g})" in page
    # no absolute install path in any note
    root = str(REPO)
    js = json.dumps(data.to_dict())
    assert root not in js and root not in md_text and root not in page


def test_hostile_names_reach_the_terminal_inert(hostile_data, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[gates.synthetic_by_construction]\nforbid_in = ["*"]\n')
    r = CliRunner().invoke(main, ["check", "--db", hostile_data.db_path, "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "\\x1b[2J\\x1b[31mred" in r.output  # shown, not acted on
    assert "\x1b" not in r.output and "\r" not in r.output
    assert r.output.count("PASS  synthetic_by_construction[") == len(HOSTILE_SOURCES)
