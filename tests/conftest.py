"""Shared fixtures. `shared_data` is the read-only `../shared/data` beside the checkout.

In CI (the `CI` environment variable set, as `.ci/run` and most CI systems do) everything a test
needs is installed, so a missing prerequisite is a failure, never a silent skip: a suite whose
tests skip themselves can pass while testing nothing. Only a local run skips, and says why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
    """A real store of 1,000 sources (JSONL, `--source-by column:source`), two documents each,
    one source in seven with assistant boilerplate: the shape that swamped every output."""
    import json

    from auditor.readers.base import ReaderOptions
    from auditor.scan.options import ScanOptions
    from auditor.scan.runner import run_scan

    root = tmp_path_factory.mktemp("many")
    rows = []
    for i in range(1000):
        for j in range(2):
            marker = "As an AI language model, I hope this helps! " if i % 7 == 0 else ""
            rows.append({"id": f"s{i}-{j}", "source": f"site{i:04d}.example",
                         "crawl_date": "2024-03-01T00:00:00Z" if j else "2021-03-01T00:00:00Z",
                         "text": f"{marker}Notes on river {i} and the weather on day {j}."})
    (root / "many.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = str(root / "many.duckdb")
    run_scan([str(root / "many.jsonl")], db,
             ScanOptions(reader=ReaderOptions(source_by="column:source")))
    return db
