"""The CLI as a user runs it, for the QA tests: one home for the runner and for the first scan
of the real crawl samples that several test modules start from (each keeps its own store)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from auditor.cli import main


def invoke(args: list[str]) -> Result:
    """Run `auditor ARGS`; an exception fails the test with its own traceback."""
    return CliRunner().invoke(main, args, catch_exceptions=False)


def scan_crawl(shared_data: Path, folder: Path) -> tuple[str, Result]:
    """Scan `../shared/data/crawl` with default options into a new store in `folder`, `--json`."""
    db = str(folder / "crawl.duckdb")
    return db, invoke(["scan", str(shared_data / "crawl"), "--db", db, "--json"])


def demo_corpus_scan(folder: Path) -> tuple[str, list[str]]:
    """Copy the demo corpus into `folder`; return its store path and the nightly scan command
    (licence column, classifier detector) that the rise-gate tests run once per night."""
    from auditor.demo import copy_corpus

    copy_corpus(folder / "corpus")
    db = str(folder / "audit.duckdb")
    return db, ["scan", str(folder / "corpus"), "--db", db, "--license-column", "license",
                "--detectors", "classifier"]
