"""Byte-range splitting of uncompressed JSON lines: whatever the cut points, every line is read
by exactly one unit (the one its first byte falls in)."""

from __future__ import annotations

import json
import random

import pytest
from corpus_files import jsonl_line_offsets, make_rows, write_jsonl, write_jsonl_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.readers import ReaderOptions, WorkUnit, discover, plan_units, read_unit
from auditor.records import Document

OPTIONS = ReaderOptions()


@pytest.fixture(scope="module")
def jsonl_file(tmp_path_factory):
    """600 lines of very different lengths, blank lines and multi-byte characters (~250 kB)."""
    rng = random.Random(42)
    rows = make_rows(600, seed=42)
    for row in rows:
        row["text"] = row["text"] * rng.choice((1, 1, 2, 8))
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    for i in sorted(rng.sample(range(len(lines)), 30), reverse=True):
        lines.insert(i, "   " if i % 2 else "")  # blank lines are not records
    path = write_jsonl_lines(tmp_path_factory.mktemp("split") / "big.jsonl", lines)
    return path, [r["id"] for r in rows], jsonl_line_offsets(path)


def _read(units):
    return [x for u in units for x in read_unit(u, OPTIONS)]


@settings(derandomize=True, max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.integers(min_value=1_000, max_value=300_000))
def test_plan_units_any_target_size_loses_and_duplicates_nothing(jsonl_file, target):
    path, ids, offsets = jsonl_file
    units = plan_units(discover([str(path)]), OPTIONS, target_bytes=target)
    size = path.stat().st_size
    assert units[0].start == 0 and units[-1].stop in (size, -1)
    assert all(a.stop == b.start for a, b in zip(units, units[1:], strict=False))
    docs = _read(units)
    assert all(isinstance(d, Document) for d in docs)
    assert [d.id for d in docs] == ids
    assert [d.offset for d in docs] == offsets


@settings(derandomize=True, max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_arbitrary_cut_points_read_each_line_once(jsonl_file, data):
    path, ids, offsets = jsonl_file
    size = path.stat().st_size
    # cut points anywhere, including exactly on line starts, mid-character and at the ends
    interesting = st.one_of(st.integers(0, size), st.sampled_from(offsets),
                            st.sampled_from([o + 1 for o in offsets] + [o - 1 for o in offsets[1:]]))
    cuts = sorted(set(data.draw(st.lists(interesting, max_size=12)) + [0, size]))
    units = [WorkUnit(str(path), "jsonl", i, len(cuts) - 1, a, b, size)
             for i, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False))]
    docs = _read(units)
    assert [d.offset for d in docs] == offsets
    assert [d.id for d in docs] == ids
    for unit in units:  # each unit owns exactly the lines that start inside it
        owned = [d.offset for d in _read([unit])]
        assert owned == [o for o in offsets if unit.start <= o < unit.stop]


def test_compressed_jsonl_is_never_split(tmp_path):
    path = write_jsonl(tmp_path / "big.jsonl.gz", make_rows(2000, seed=1), compression="gzip")
    units = plan_units(discover([str(path)]), OPTIONS, target_bytes=1000)
    assert len(units) == 1 and (units[0].start, units[0].stop) == (0, -1)


def test_issue_records_in_later_units_name_the_byte_offset(tmp_path):
    lines = [json.dumps({"text": f"line number {i}"}) for i in range(50)]
    lines[40] = "{not json"
    path = write_jsonl_lines(tmp_path / "x.jsonl", lines)
    offset = jsonl_line_offsets(path)[40]
    units = plan_units(discover([str(path)]), OPTIONS, target_bytes=300)
    assert len(units) > 2
    issues = [x for x in _read(units) if not isinstance(x, Document)]
    assert [i.record for i in issues] == [f"offset {offset}"]
    assert "invalid JSON" in issues[0].reason
