"""What an estimate says, end to end from scanned files: real labeled texts written as JSONL,
`auditor scan` with the shipped classifier, then `estimate_db`.

Covers issue 10's cases: a source with only pre-cutoff documents (a human reference, 0 by
assumption, with its floor), a source with too few of its own (a borrowed reference, named), a
small group (too few documents, pooled, not gated), and a headline that is exactly the weighted
combination of its rows.
"""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.estimate import estimate_db
from auditor.estimate.result import RefKind, Status
from tests.test_estimate_cli import _labeled


def _write(path, rows):
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def _docs(rows, date):
    return [{"id": r["id"], "text": r["text"], "date": date} for r in rows]


@pytest.fixture(scope="module")
def store(tmp_path_factory, shared_data):
    tmp = tmp_path_factory.mktemp("scanned")
    human, machine = _labeled(shared_data, "news (BBC XSum)")
    assert len(human) >= 330 and len(machine) >= 50
    _write(tmp / "archive.jsonl", _docs(human[:120], "2019-04-01"))  # all pre-cutoff
    _write(tmp / "fresh.jsonl", _docs(human[120:160], "2019-05-01")  # 40 own: too few
           + _docs(human[160:280], "2024-03-01") + _docs(machine[:40], "2024-03-01"))
    _write(tmp / "tiny.jsonl", _docs(human[280:290], "2024-03-01"))
    _write(tmp / "old_tiny.jsonl", _docs(human[360:368], "2018-01-01"))
    _write(tmp / "mixed.jsonl", _docs(human[290:330], "2019-06-01")
           + _docs(machine[40:50], "2024-06-01") + _docs(human[330:360], "2024-06-01"))
    db = str(tmp / "audit.duckdb")
    res = CliRunner().invoke(main, ["scan", str(tmp), "--db", db, "--detectors", "classifier,excess_vocab",
                                    "--date-column", "date", "--no-progress"])
    assert res.exit_code == 0, res.output
    return db


def _by_source(db, **kw):
    return {e.group["source"]: e
            for e in estimate_db(db, by=["source"], n_boot=60, record=False, **kw)}


def test_pre_cutoff_source_is_a_human_reference_with_a_floor(store):
    e = _by_source(store)["archive"]
    assert e.status == Status.PRE_CUTOFF.value
    assert (e.fraction, e.ci_low, e.ci_high) == (0.0, 0.0, 0.0)
    assert e.n_docs == 120 and e.n_pre_cutoff == 120
    assert e.floor is not None and e.floor <= 0.05  # computed on its held-out half
    assert any("0 by assumption" in n for n in e.notes)


def test_source_without_enough_own_references_borrows_and_says_from_whom(store):
    e = _by_source(store)["fresh"]
    assert e.status == Status.ESTIMATED.value
    assert e.human_ref_kind == RefKind.BORROWED.value
    assert e.human_ref_sources and set(e.human_ref_sources) <= {"archive", "mixed"}
    assert any("borrowed" in n for n in e.notes)
    assert e.floor is not None  # checked on its own 40 pre-cutoff documents
    assert e.n_docs == 200 and e.n_pre_cutoff == 40
    truth_post, truth_all = 40 / 160, 40 / 200
    assert e.ci_low_post - 0.05 <= truth_post <= e.ci_high_post + 0.05, e
    assert e.fraction == pytest.approx(e.fraction_post * 160 / 200, abs=1e-9)
    assert e.ci_low - 0.05 <= truth_all <= e.ci_high + 0.05
    # the reference-free bound sits beside it (news texts: no planted vocabulary, no alarm)
    assert e.vocab_fraction is not None and e.vocab_ci_low <= 0.1 and not e.disagree


def test_small_group_is_too_few_pooled_and_not_gated(store):
    rows = _by_source(store)
    tiny = rows["tiny"]
    assert tiny.status == Status.TOO_FEW.value and not tiny.in_gates
    assert math.isnan(tiny.fraction) and tiny.n_docs == 10
    other = rows["other"]
    assert other.status == Status.OTHER.value and not other.in_gates and other.n_docs == 10
    # a small group whose documents all predate the cutoff is a reference, not "too few"
    assert rows["old_tiny"].status == Status.PRE_CUTOFF.value and rows["old_tiny"].in_gates
    # a lower minimum estimates it on its own
    assert _by_source(store, min_docs=5)["tiny"].status == Status.ESTIMATED.value


def test_headline_is_the_weighted_combination_of_its_rows(store):
    (head,) = estimate_db(store, n_boot=60, record=False)
    rows = estimate_db(store, by=["source"], n_boot=60, record=False, min_docs=0)
    assert head.status == Status.OVERALL.value and head.n_docs == sum(r.n_docs for r in rows)
    combined = sum(r.fraction * r.n_docs for r in rows) / sum(r.n_docs for r in rows)
    assert head.fraction == pytest.approx(combined, abs=1e-12)
    assert head.ci_low <= head.fraction <= head.ci_high
    # with small groups pooled, the overall row of the table still combines the rows shown
    table = estimate_db(store, by=["source"], n_boot=60, record=False, overall=True)
    total = table[-1]
    assert total.group == {} and total.status == Status.OVERALL.value
    shown = [r for r in table[:-1] if r.status != Status.TOO_FEW.value]
    assert total.fraction == pytest.approx(
        sum(r.fraction * r.n_docs for r in shown) / sum(r.n_docs for r in shown), abs=1e-12)


def test_cli_prints_pre_cutoff_and_too_few_rows(store):
    res = CliRunner().invoke(main, ["estimate", "--db", store, "--by", "source", "--n-boot",
                                    "20", "--no-record", "--no-baseline"],
                             env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert "pre-cutoff" in res.output and "too few docs" in res.output
