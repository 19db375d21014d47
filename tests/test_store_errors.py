"""Errors a user can act on (issue 12, items 9 and 12): one line and exit 2 instead of a
traceback when the store cannot be written, the output checked before the work, `estimate`
working on a store it cannot write, and a lock message that names what holds the store."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main
from tests.corpus_files import make_rows, write_jsonl
from tests.test_estimate_store import make_store

REPO = Path(__file__).resolve().parents[1]


def one_line_error(res) -> str:
    assert "Traceback" not in res.output, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    return lines[0]


def test_scan_into_a_path_that_cannot_be_a_store(tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    write_jsonl(tmp_path / "c.jsonl", make_rows(5))
    res = CliRunner().invoke(main, ["scan", str(tmp_path / "c.jsonl"), "--db",
                                    str(tmp_path / "blocker" / "audit.duckdb")])
    assert res.exit_code == 2
    assert "cannot write the store" in one_line_error(res)


def test_output_is_checked_before_the_inputs_and_the_work(tmp_path):
    (tmp_path / "blocker").write_text("x")
    res = CliRunner().invoke(main, ["scan", str(tmp_path / "missing-input"), "--db",
                                    str(tmp_path / "blocker" / "a.duckdb")])
    assert res.exit_code == 2 and "cannot write the store" in one_line_error(res)


@contextlib.contextmanager
def read_only_folder(path: Path):
    """`path` made read-only for this process: permission bits for a normal user; for root
    (whom permission bits do not stop) a read-only bind mount, where the system allows it."""
    if os.geteuid() != 0:
        os.chmod(path, 0o555)
        try:
            yield
        finally:
            os.chmod(path, 0o755)
        return
    res = subprocess.run(["mount", "--bind", "-o", "ro", str(path), str(path)],
                         capture_output=True)
    if res.returncode != 0:
        pytest.skip("running as root without permission to make a read-only mount")
    try:
        yield
    finally:
        subprocess.run(["umount", str(path)], check=False)


def test_scan_and_estimate_in_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    db = make_store(folder, {"web": 0.2})
    write_jsonl(tmp_path / "c.jsonl", make_rows(5))
    runner = CliRunner()
    with read_only_folder(folder):
        res = runner.invoke(main, ["scan", str(tmp_path / "c.jsonl"), "--db", db])
        assert res.exit_code == 2 and "cannot write the store" in one_line_error(res)
        res = runner.invoke(main, ["scan", str(tmp_path / "c.jsonl"), "--db",
                                   str(folder / "new" / "audit.duckdb")])
        assert res.exit_code == 2 and "cannot write the store" in one_line_error(res)
        res = runner.invoke(main, ["estimate", "--db", db, "--n-boot", "20", "--json"])
        assert res.exit_code == 0, res.output
        assert "not added to the store's history" in res.stderr
        res = runner.invoke(main, ["status", "--db", db])
        assert res.exit_code == 0, res.output


HOLD = """
import sys, time
from auditor.store.catalogue import open_store
store = open_store(sys.argv[1], holder="auditor report", read_only=sys.argv[2] == "ro")
print("held", flush=True)
time.sleep(60)
"""


@contextlib.contextmanager
def held(db: str, read_only: bool):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLD), db,
                             "ro" if read_only else "rw"], stdout=subprocess.PIPE, text=True,
                            env=env)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_estimate_works_when_the_store_cannot_be_written(tmp_path):
    """Another process has the store open read-only (as a report would), so it cannot be
    written: the estimate is still computed and printed, with a note."""
    db = make_store(tmp_path, {"web": 0.2})
    with held(db, read_only=True):
        res = CliRunner().invoke(main, ["estimate", "--db", db, "--n-boot", "20", "--json"])
    assert res.exit_code == 0, res.output
    assert "not added to the store's history" in res.stderr


def test_lock_message_names_the_holder_and_its_log(tmp_path):
    db = make_store(tmp_path, {"web": 0.2})
    write_jsonl(tmp_path / "c.jsonl", make_rows(5))
    with held(db, read_only=False) as pid:
        t0 = time.monotonic()
        res = CliRunner().invoke(main, ["scan", str(tmp_path / "c.jsonl"), "--db", db])
        assert time.monotonic() - t0 < 30
    line = one_line_error(res)
    assert res.exit_code == 2
    assert "`auditor report`" in line and f"pid {pid}" in line


def test_lock_message_names_a_holder_that_left_no_holder_file(tmp_path):
    """A read-only reader writes no holder file: the message still names its command line."""
    db = make_store(tmp_path, {"web": 0.2})
    write_jsonl(tmp_path / "c.jsonl", make_rows(5))
    with held(db, read_only=True) as pid:
        res = CliRunner().invoke(main, ["scan", str(tmp_path / "c.jsonl"), "--db", db])
    line = one_line_error(res)
    assert res.exit_code == 2 and f"(pid {pid})" in line and "python" in line, line
