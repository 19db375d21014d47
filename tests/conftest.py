"""Shared fixtures. `shared_data` is the read-only `../shared/data` beside the checkout.

In CI (the `CI` environment variable set, as `.ci/run` and most CI systems do) everything a test
needs is installed, so a missing prerequisite is a failure, never a silent skip: a suite whose
tests skip themselves can pass while testing nothing. Only a local run skips, and says why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# OpenMP threads (torch's) that wait by sleeping, not spinning, unless the caller chose: set
# before any test module imports torch, and inherited by the suite's subprocesses. On the
# shared 2-core machine a spinning thread holds a core another process needs, and its partner
# waits for it: tests/test_detectors_adapt.py + test_detectors_lm_head.py took 214 s beside
# one busy process with the default policy, 42-52 s with PASSIVE (33-80 s with one thread),
# and 30 s either way on a quiet machine (34.5 s with one thread). The suite passes either way.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def in_ci() -> bool:
    """True on a CI machine: `CI` set to anything but an empty string, 0 or false."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(ok: bool, what: str) -> None:
    """Fail in CI, skip locally (saying so), when a prerequisite `what` is missing."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"{what} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(f"{what}; skipped because this is a local run (in CI, with CI set, it fails)")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    require(SHARED_DATA.is_dir(), f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def many_sources_store(tmp_path_factory) -> str:
    """A real store of 1,000 sources, two documents each (see `build_many_sources_store`)."""
    from tests.corpus_files import build_many_sources_store

    return build_many_sources_store(tmp_path_factory.mktemp("many"))


@pytest.fixture(scope="session")
def demo_night_one(tmp_path_factory) -> tuple[str, list[str]]:
    """The demo corpus scanned once by the rise-gate tests' nightly command: (store, command).
    The store is only read; a test writes to its own copy (`tests.cli_run.copy_night_one`)."""
    from tests.cli_run import demo_corpus_scan, invoke

    db, scan = demo_corpus_scan(tmp_path_factory.mktemp("demo-night-one"))
    r = invoke(scan)
    assert r.exit_code == 0, r.output
    return db, scan


@pytest.fixture(scope="session")
def crawl_scanned(shared_data, tmp_path_factory):
    """The real crawl samples scanned once with default options (`tests.cli_run.scan_crawl`):
    (store, the scan's CLI result). Only read: each module takes a copy (`copy_store`)."""
    from tests.cli_run import scan_crawl

    return scan_crawl(shared_data, tmp_path_factory.mktemp("crawl"))
