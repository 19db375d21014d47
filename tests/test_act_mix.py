"""`auditor mix`: weights that keep a mixture inside a collapse tolerance. The weights are the
optimum of their linear programme, and they never break the tolerance in their own projection."""

from __future__ import annotations

import json
import math
import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from auditor.act.mix import (
    mix_html,
    mix_markdown,
    mix_weights,
    plan_mix,
    plan_mix_from_fractions,
)
from auditor.cli import main
from auditor.collapse import collapse_profile, make_family
from auditor.collapse.schedule import mix_alpha
from auditor.scan import ScanOptions, run_scan

DEMO = os.path.join(os.path.dirname(__file__), "..", "auditor", "demo_data")

sources_st = st.dictionaries(
    st.sampled_from(list("abcdefgh")),
    st.tuples(st.integers(1, 10_000).map(float), st.floats(0.0, 1.0)),
    min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(sources_st, st.floats(0.0, 1.0))
def test_weights_meet_the_target_at_least_human_cost(sources, target):
    w = mix_weights(sources, target)
    assert all(0.0 <= x <= 1.0 for x in w.values())
    kept = {s: (n * w[s], a) for s, (n, a) in sources.items() if n * w[s] > 0}
    if kept:
        assert mix_alpha(kept)[0] <= target + 1e-9
    # the same linear programme solved by scipy: same human cost
    names = sorted(sources)
    n = np.array([sources[s][0] for s in names])
    a = np.array([sources[s][1] for s in names])
    res = linprog(c=-(n * (1 - a)), A_ub=[n * (a - target)], b_ub=[0.0],
                  bounds=[(0, 1)] * len(names), method="highs")
    assert res.status == 0
    ours = sum(n[i] * (1 - a[i]) * w[s] for i, s in enumerate(names))
    assert ours >= -res.fun - 1e-6 * max(1.0, -res.fun)


def _breaks(plan, family) -> bool:
    """Project the returned mixture independently and test the tolerance at every generation."""
    kept = {s.source: (s.n_docs * s.weight, s.fraction) for s in plan.sources if s.weight > 0}
    prof = collapse_profile(kept, regimes=(plan.regime,), generations=plan.generations,
                            model=family, seed=0, n_runs=300)
    spec = next(m for m in prof.metrics if m["name"] == plan.metric)
    rows = prof.series(plan.regime, plan.metric)
    for r in rows[1:]:
        ratio = r.value / rows[0].value
        if (spec["worse"] == "up" and ratio > 1 + plan.tolerance) or (
                spec["worse"] == "down" and ratio < 1 - plan.tolerance):
            return True
    return False


@pytest.mark.parametrize("regime,tolerance,metric", [
    ("accumulate", 0.1, "risk_ratio"), ("replace", 0.1, "risk_ratio"),
    ("replace", 0.05, "risk_ratio"), ("fresh", 0.2, "variance_mean"),
    ("replace", 0.3, "tail_retained")])
def test_mix_never_breaks_the_tolerance(regime, tolerance, metric):
    family = make_family("gaussian")
    sources = {"web": (5000.0, 0.12), "forum": (1200.0, 0.45), "synthetic": (800.0, 1.0),
               "books": (3000.0, 0.02)}
    plan = plan_mix_from_fractions(sources, metric, tolerance, regime, 5, "gaussian",
                                   n_runs=300)
    assert plan.within_after
    assert plan.alpha_after <= plan.max_alpha + 1e-9
    assert not _breaks(plan, family)
    if plan.within_before:
        assert all(s.weight == 1.0 for s in plan.sources) and plan.human_lost == 0
    else:  # the most synthetic source per human document goes first
        assert plan.sources[[s.source for s in plan.sources].index("synthetic")].weight == 0.0


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("mix")
    for name in ("wiki.parquet", "stories.jsonl.gz", "cosmopedia-demo.parquet", "blogs.jsonl"):
        shutil.copy(os.path.join(DEMO, name), root / name)
    db = str(root / "m.duckdb")
    run_scan([str(root / n) for n in ("wiki.parquet", "stories.jsonl.gz",
                                      "cosmopedia-demo.parquet", "blogs.jsonl")],
             db, ScanOptions(), detectors="classifier")
    return db


def test_plan_on_a_scanned_store_and_cli(demo_store):
    plan = plan_mix(demo_store, "risk_ratio", 0.1, "replace", 5, n_runs=300, n_boot=20)
    assert {s.source for s in plan.sources} == {"wiki", "stories", "cosmopedia-demo", "blogs"}
    assert plan.alpha_before > plan.max_alpha and plan.within_after and not plan.within_before
    assert not _breaks(plan, make_family("gaussian"))
    cons = plan_mix(demo_store, "risk_ratio", 0.1, "replace", 5, n_runs=300, n_boot=20,
                    conservative=True)
    assert cons.human_lost >= plan.human_lost  # upper bounds cost at least as much
    r = CliRunner().invoke(main, ["mix", "--db", demo_store, "--metric", "risk_ratio",
                                  "--tolerance", "0.1", "--regime", "accumulate",
                                  "--generations", "5", "--runs", "300", "--n-boot", "20",
                                  "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert got["within_after"] is True and len(got["curve_after"]) == 6
    assert all(math.isfinite(s["weight"]) for s in got["sources"])
    r = CliRunner().invoke(main, ["mix", "--db", demo_store, "--metric", "nope", "--n-boot", "0"])
    assert r.exit_code == 1 and "not a gaussian metric" in r.output
    r = CliRunner().invoke(main, ["mix", "--db", demo_store, "--conservative", "--n-boot", "0"])
    assert r.exit_code == 2 and "--conservative reads each source's 95% interval" in r.output


def test_fragments_escape_and_show_both_curves():
    plan = plan_mix_from_fractions({"<b>web</b>": (100.0, 0.5), "books": (100.0, 0.0)},
                                   "risk_ratio", 0.1, "replace", 3, n_runs=200)
    frag = mix_html(plan)
    assert "<b>web</b>" not in frag and "&lt;b&gt;web&lt;/b&gt;" in frag
    md = mix_markdown(plan)
    assert md.count("\n| ") >= 2 + 4  # two sources, generations 0..3


def test_filter_then_weights(demo_store):
    from auditor.act.tradeoff import filter_tradeoff

    plain = plan_mix(demo_store, "risk_ratio", 0.1, "replace", 5, n_runs=300, n_boot=0)
    both = plan_mix(demo_store, "risk_ratio", 0.1, "replace", 5, n_runs=300,
                    filter_threshold=2.0)
    curve = filter_tradeoff(demo_store, "classifier", [2.0])
    by_source = {p.source: p for p in curve.points if p.source}
    assert {s.source: s.n_docs for s in both.sources} == {
        k: p.n_kept for k, p in by_source.items()}
    assert both.filter_rule.startswith("score:classifier > 2")
    assert both.filter_human_lost == pytest.approx(sum(p.human_lost for p in by_source.values()))
    assert both.alpha_before < plain.alpha_before  # the filter already removed machine text
    assert both.within_after and not _breaks(both, make_family("gaussian"))
    with pytest.raises(ValueError, match="conservative"):
        plan_mix(demo_store, filter_threshold=2.0, conservative=True)
