"""The excess-vocabulary estimator, end to end: generated monthly JSONL -> `auditor scan
--detectors excess_vocab` -> `excess_vocab` (DuckDB). A planted rise of LLM-overused words after
the cutoff is recovered; a source without one reads 0 (interval including 0)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.estimate.vocab import counterfactual, lower_bound
from auditor.estimate.vocab_db import excess_vocab

COMMON = ("the a of and to in is was for on that with as by at from it this be are were had "
          "city council road water market team season report people year week school data "
          "study result local new said plan price house game area group money work").split()
HUMAN_RARE = ("profound", "vibrant")  # people use these too: the counterfactual absorbs them
PLANTED = ("delve into", "showcasing", "a pivotal", "the intricate", "underscores")
MONTHS_PRE = [f"{y}-{m:02d}" for y in (2020, 2021, 2022) for m in range(1, 13)][:34]
MONTHS_POST = [f"{y}-{m:02d}" for y in (2023, 2024) for m in range(1, 13)]
PER_MONTH = 40
MACHINE_SHARE = 0.3


def _text(rng, machine: bool) -> str:
    words = list(rng.choice(COMMON, 60))
    if rng.random() < 0.05:
        words.insert(int(rng.integers(0, 60)), str(rng.choice(HUMAN_RARE)))
    if machine:
        words.insert(int(rng.integers(0, 60)), str(rng.choice(PLANTED)))
    return " ".join(words)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return _scanned_store(tmp_path_factory.mktemp("vocab"), days=("15",))


@pytest.fixture(scope="module")
def two_day_store(tmp_path_factory):
    """The same corpus dated on two days of each month: grouping by crawl_date splits every
    source-month over two groups."""
    return _scanned_store(tmp_path_factory.mktemp("vocab2"), days=("05", "20"))


def _scanned_store(tmp, days: tuple[str, ...]) -> str:
    rng = np.random.default_rng(3)
    for source, share in (("planted", MACHINE_SHARE), ("flat", 0.0)):
        rows = []
        for month in MONTHS_PRE + MONTHS_POST:
            post = month >= "2023"
            for i in range(PER_MONTH):
                machine = post and i < round(share * PER_MONTH)
                rows.append({"id": f"{source}-{month}-{i}", "text": _text(rng, machine),
                             "date": f"{month}-{days[i % len(days)]}"})
        with open(tmp / f"{source}.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    db = str(tmp / "audit.duckdb")
    res = CliRunner().invoke(main, ["scan", str(tmp), "--db", db, "--detectors", "excess_vocab",
                                    "--date-column", "date", "--no-progress"])
    assert res.exit_code == 0, res.output
    return db


def test_planted_rise_is_recovered_and_flat_source_reads_zero(store):
    bounds = {k[0]: b for k, b in excess_vocab(store, by=["source"]).items()}
    n_post, n_all = PER_MONTH * len(MONTHS_POST), PER_MONTH * (len(MONTHS_PRE) + len(MONTHS_POST))
    truth = round(MACHINE_SHARE * PER_MONTH) * len(MONTHS_POST) / n_all
    planted, flat = bounds["planted"], bounds["flat"]
    assert planted.n_post == n_post and planted.trend
    # every planted document carries a marker, so the bound is tight here
    assert planted.ci_low <= truth <= planted.ci_high, planted
    assert abs(planted.fraction - truth) < 0.03
    assert flat.ci_low == 0.0 and flat.fraction < 0.02, flat


def test_per_month_bound_rises_only_after_the_cutoff(store):
    by_month = excess_vocab(store, by=["source", "crawl_month"])
    post = [b.fraction for (s, m), b in by_month.items() if s == "planted"]
    assert len(post) == len(MONTHS_POST)  # pre-cutoff months have no bound: 0 by assumption
    assert np.mean(post) == pytest.approx(MACHINE_SHARE, abs=0.05)
    flat = [b.ci_low for (s, m), b in by_month.items() if s == "flat"]
    # 95% intervals: about 1 month in 40 may exclude 0 by chance, not more
    assert sum(lo > 0 for lo in flat) <= 2 and np.mean(flat) < 0.005


def test_no_counterfactual_without_enough_pre_cutoff_documents():
    assert counterfactual([(24000, 10, 1)]) is None
    cf = counterfactual([(24000 + i, 50, 5) for i in range(6)])
    assert cf.trend and cf.at(24030)[0] == pytest.approx(0.1)
    assert lower_bound([("s", 24030, 100, 10)], {"other": cf}, 100) is None


def test_disagreement_is_flagged_when_the_bound_exceeds_the_detector(store):
    """A detector estimate whose upper limit is below the vocabulary bound gets `disagree`."""
    from auditor.estimate.result import Estimate
    from auditor.estimate.vocab_db import attach_vocab
    from auditor.store.catalogue import open_store

    def est(source, hi):
        return Estimate(group={"source": source}, n_docs=1, n_tokens=0, fraction=hi / 2,
                        ci_low=0.0, ci_high=hi, method="mlm", detector="classifier")

    with open_store(store, read_only=True) as s:
        from auditor.estimate.identifiers import view_columns

        out = attach_vocab(s.con, view_columns(s.con), ["source"],
                           [est("planted", 0.02), est("flat", 0.02), est("planted", 0.5)])
    low, flat, high = out
    assert low.disagree and any(n.startswith("disagree") for n in low.notes)
    assert not flat.disagree and flat.vocab_fraction is not None
    assert not high.disagree and high.vocab_ci_low > 0.05


def _bounds_from_two_passes(con, by):
    """The bound as computed before 2026-12-01: the counterfactuals from their own query."""
    from auditor.estimate.vocab import month_index

    pre = con.execute(
        'SELECT source, crawl_month, COUNT(*), COUNT(*) FILTER (WHERE "score_excess_vocab" > 0)'
        ' FROM documents WHERE role = \'corpus\' AND "score_excess_vocab" IS NOT NULL'
        " AND pre_cutoff GROUP BY ALL ORDER BY ALL").fetchall()
    per_source = {}
    for source, month, n, k in pre:
        if month_index(month) is not None:
            per_source.setdefault(source, []).append((month_index(month), n, k))
    cfs = {s: cf for s, m in per_source.items() if (cf := counterfactual(m)) is not None}
    keys = "".join(f'"{k}", ' for k in by)
    rows = con.execute(
        f"SELECT {keys}source, crawl_month, COALESCE(pre_cutoff, false), COUNT(*),"
        ' COUNT(*) FILTER (WHERE "score_excess_vocab" > 0) FROM documents'
        " WHERE role = 'corpus' GROUP BY ALL ORDER BY ALL").fetchall()
    cells, sizes = {}, {}
    for row in rows:
        key, (source, month, is_pre, n, hits) = tuple(row[:len(by)]), row[len(by):]
        sizes[key] = sizes.get(key, 0) + n
        if not is_pre and month_index(month) is not None:
            cells.setdefault(key, []).append((source, month_index(month), n, hits))
    return {k: b for k, c in cells.items() if (b := lower_bound(c, cfs, sizes[k])) is not None}


@pytest.mark.parametrize("by", [[], ["source"], ["source", "crawl_month"], ["crawl_date"]])
def test_one_pass_bound_equals_the_two_pass_computation(two_day_store, by):
    """`vocab_bounds` takes the counterfactuals out of the targets' pass (summed over the
    groups); the bounds are exactly those of a separate counterfactual query. Grouping by
    crawl_date splits every source-month over two groups, so the sums are exercised."""
    store = two_day_store
    from auditor.estimate.identifiers import view_columns
    from auditor.estimate.vocab_db import vocab_bounds
    from auditor.store.catalogue import open_store

    with open_store(store, read_only=True) as s:
        got = vocab_bounds(s.con, view_columns(s.con), by)
        expected = _bounds_from_two_passes(s.con, by)
    assert got and got == expected
