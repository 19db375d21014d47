"""Hostile inputs that once cost memory or whole units (issue 12, items 3, 5, 6): over-long
JSONL lines and a gzip bomb with no newline, JSON nested thousands deep, a WARC garbage record
between good ones. Each bad record fails with its reason and the reader goes on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

from auditor.readers import ReaderOptions, discover, plan_units, read_unit
from auditor.records import Document, RecordIssue
from tests.corpus_files import write_jsonl_lines

REPO = Path(__file__).resolve().parents[1]


def read_all(path, **options) -> tuple[list[Document], list[RecordIssue]]:
    opts = ReaderOptions(**options)
    docs, issues = [], []
    for unit in plan_units(discover([str(path)]), opts):
        for item in read_unit(unit, opts):
            (docs if isinstance(item, Document) else issues).append(item)
    return docs, issues


def test_over_long_line_fails_alone_and_the_reader_resynchronises(tmp_path):
    long_text = "word " * 40_000  # 200 KB
    path = write_jsonl_lines(tmp_path / "c.jsonl", [
        json.dumps({"id": "a", "text": "first good line"}),
        json.dumps({"id": "big", "text": long_text}),
        json.dumps({"id": "b", "text": "second good line"}),
    ])
    docs, issues = read_all(path, max_record_bytes=64 << 10)
    assert [d.id for d in docs] == ["a", "b"]
    assert len(issues) == 1 and issues[0].status == "failed"
    assert issues[0].record == "line 2" and "longer than 65536 bytes" in issues[0].reason
    # the offsets of the record after it are still exact byte offsets
    data = path.read_bytes()
    assert data[docs[1].offset:].startswith(b'{"id": "b"')
    # with the default cap (16 MiB) the same line is a document
    docs, issues = read_all(path)
    assert [d.id for d in docs] == ["a", "big", "b"] and not issues


def test_over_long_line_in_a_split_jsonl_unit(tmp_path):
    rows = [json.dumps({"id": f"r{i}", "text": f"text {i}"}) for i in range(50)]
    rows[25] = json.dumps({"id": "huge", "text": "x" * 300_000})
    path = write_jsonl_lines(tmp_path / "c.jsonl", rows)
    opts = ReaderOptions(max_record_bytes=100_000)
    units = plan_units(discover([str(path)]), opts, target_bytes=50_000)
    assert len(units) > 2
    docs, issues = [], []
    for unit in units:
        for item in read_unit(unit, opts):
            (docs if isinstance(item, Document) else issues).append(item)
    assert sorted(d.id for d in docs) == sorted(f"r{i}" for i in range(50) if i != 25)
    assert len(issues) == 1 and "longer than 100000 bytes" in issues[0].reason


_BOMB_CHILD = r"""
import json, resource, sys
from auditor.readers import ReaderOptions, discover, plan_units, read_unit
from auditor.records import Document

def vm(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
path, headroom, cap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
opts = ReaderOptions(max_record_bytes=cap)
units = plan_units(discover([path]), opts)
limit = vm("VmPeak:") + headroom
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
out = []
try:
    for unit in units:
        for item in read_unit(unit, opts):
            out.append([type(item).__name__, getattr(item, "id", None),
                        getattr(item, "reason", None)])
except MemoryError:
    out.append(["MemoryError", None, None])
print(json.dumps(out))
"""


def test_gzip_bomb_without_newline_stays_bounded(tmp_path):
    """128 MiB of zeros with no newline (a 130 KB gzip) between two good lines, read under an
    address-space limit of 96 MiB above the reader's own: the bomb fails as one record, both
    good lines are kept. Without the per-record cap the line alone needs more than the limit
    (the 10 GiB bomb of the issue scales the same way: memory is bounded by the cap)."""
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    parts = [comp.compress(b'{"id": "before", "text": "a good line"}\n')]
    parts += [comp.compress(zeros) for _ in range(128)]
    parts.append(comp.compress(b'\n{"id": "after", "text": "another good line"}\n'))
    parts.append(comp.flush())
    bomb = tmp_path / "bomb.jsonl.gz"
    bomb.write_bytes(b"".join(parts))
    assert bomb.stat().st_size < 1 << 20
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-c", _BOMB_CHILD, str(bomb), str(96 << 20),
                          str(1 << 20)], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert [o[0] for o in out] == ["Document", "RecordIssue", "Document"], out
    assert (out[0][1], out[2][1]) == ("before", "after")
    assert "longer than 1048576 bytes" in out[1][2]


def test_deeply_nested_json_line_fails_alone(tmp_path):
    deep = '{"text": "nested", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    lines = [json.dumps({"id": f"ok{i}", "text": f"good line {i}"}) for i in range(51)]
    lines.insert(20, deep)
    path = write_jsonl_lines(tmp_path / "c.jsonl", lines)
    docs, issues = read_all(path)
    assert len(docs) == 51
    assert len(issues) == 1 and issues[0].record == "line 21"
    assert "nests JSON too deeply" in issues[0].reason


def warc_with_garbage(tmp_path, garbage: bytes, name: str = "g.warc"):
    from tests.corpus_files import sample_pages, write_warc

    full = write_warc(tmp_path / "full.warc", sample_pages() * 2, gzip_records=False)
    data = full.read_bytes()
    mid = data.find(b"WARC/1.", len(data) // 2)
    path = tmp_path / name
    path.write_bytes(data[:mid] + garbage + data[mid:])
    return full, path


def test_warc_garbage_record_keeps_the_good_records_after_it(tmp_path):
    full, bad = warc_with_garbage(tmp_path, b"this is garbage\r\nnot a header\r\n\r\n"
                                  + bytes(300) + b"\r\n\r\n")
    want, _ = read_all(full)
    docs, issues = read_all(bad)
    assert [d.id for d in docs] == [d.id for d in want] and len(docs) == 12
    data = bad.read_bytes()
    assert all(data[d.offset:d.offset + 7] == b"WARC/1." for d in docs)  # true offsets
    failed = [i for i in issues if i.status == "failed"]
    assert len(failed) == 1 and "reading went on at the next WARC/ header" in failed[0].reason


def test_warc_record_with_a_broken_header_is_skipped_alone(tmp_path):
    """A record whose own header is broken (a false WARC/ start, then no Content-Length):
    the reader restarts at it, fails, and searches on; one issue for the stretch."""
    full, bad = warc_with_garbage(tmp_path, b"WARC/1.0\r\nWARC-Type: response\r\n"
                                  b"Content-Length: nope\r\n\r\n<html>lost</html>\r\n\r\n")
    docs, issues = read_all(bad)
    assert len(docs) == 12
    assert len([i for i in issues if i.status == "failed"]) == 1
