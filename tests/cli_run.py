"""The CLI as a user runs it, for the QA tests: one home for the runner and for the first scan
of the real crawl samples that several test modules start from (scanned once, the
`crawl_scanned` fixture; each module keeps its own copy of the store)."""

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
    return db, nightly_scan(folder / "corpus", db)


def nightly_scan(corpus: Path, db: str) -> list[str]:
    """The nightly scan command of the rise-gate tests: `corpus` into the store `db`."""
    return ["scan", str(corpus), "--db", db, "--license-column", "license",
            "--detectors", "classifier"]


def copy_night_one(scanned: tuple[str, list[str]], folder: Path) -> tuple[str, list[str]]:
    """The store after the first night (`scanned`, the `demo_night_one` fixture: the demo
    corpus scanned once by the nightly command) copied into `folder`, and the nightly command
    for the copy. The corpus stays where the first night read it, so the next night's scan of
    the copy reuses every unit, as it would in place."""
    from tests.corpus_files import copy_store

    db, scan = scanned
    copy = copy_store(db, folder)
    return copy, nightly_scan(Path(scan[1]), copy)
