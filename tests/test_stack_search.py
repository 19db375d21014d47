"""scripts/stack_search.py on real labeled rows: out-of-fold scores line up with their texts, a
stack for held-out repository R is never fitted on R's rows, every labeled row gets exactly one
out-of-fold stack score, and the fixed choice rule (AUROC ties broken by TPR; ships only on a
clear TPR gain)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from detectors.generalization import Recipe, load_pool
from detectors.ngram_features import HashingParams

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
SMALL = Recipe("small", params=HashingParams(bits=12), alpha=1e-5, epochs=5, web_weight=1.0)
REPOS = ("baoguangsheng/fast-detect-gpt", "Jiaqi-Chen-00/ImBD", "ryuryukke/OUTFOX")


@pytest.fixture(scope="module")
def stack_search():
    sys.path.insert(0, str(SCRIPTS))
    try:
        import stack_search
    finally:
        sys.path.remove(str(SCRIPTS))
    return stack_search


@pytest.fixture(scope="module")
def real_slice(shared_data, tmp_path_factory, stack_search):
    """A real slice of dev.parquet (three repositories, 60 rows per label each), its
    out-of-fold scores as scripts/oof_scores.py computes them, and two held-back web texts
    scored by each fold's model."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from detectors.out_of_fold import out_of_fold_scores, score_with, train_fold_models

    t = pq.read_table(shared_data / "labeled" / "dev.parquet")
    parts = [t.filter(pc.and_(pc.equal(t["source_repo"], r), pc.equal(t["label"], lab)))
             .slice(0, 60) for r in REPOS for lab in ("human", "ai")]
    path = tmp_path_factory.mktemp("stack") / "slice.parquet"
    pq.write_table(pa.concat_tables(parts), path)
    web = ["A plain human page about gardening and the weather in spring. " * 20]
    held = ["Opening hours: Monday to Friday, 9 to 5. Call us or visit the shop. " * 10,
            "Minutes of the parish council meeting held on the 3rd of May. " * 10]
    table = out_of_fold_scores([path], SMALL, 1000, 0, web_texts=web, threshold_web_texts=held)
    models = train_fold_models([path], SMALL, list(REPOS), 1000, 0, web_texts=web)
    scores = {f: score_with(SMALL, m, held) for f, m in models.items()}
    pool = load_pool([path])
    return pool, table, scores, held, path


def test_out_of_fold_rows_line_up_with_their_texts(real_slice, stack_search):
    pool, table, _, _, _ = real_slice
    rows = stack_search.align_rows(pool, table)
    assert (pool.ids[rows] == np.array(table["id"].to_pylist(), dtype=object)).all()
    assert (pool.repo[rows] == np.array(table["source_repo"].to_pylist(), dtype=object)).all()
    with pytest.raises(SystemExit, match="do not line up"):
        stack_search.align_rows(pool, table.take(np.roll(np.arange(table.num_rows), 1)))


def test_every_labeled_row_gets_one_stack_score_fitted_without_its_repository(
        real_slice, stack_search):
    pool, table, web, held, _ = real_slice
    data = stack_search.assemble(pool, table, stack_search.align_rows(pool, table), web, held)
    target = data["role"] == "target"
    assert target.sum() == len(pool.texts)  # every labeled row once
    for r in REPOS:
        for _, base, _ in stack_search.FIT_SETS:
            fit = stack_search._fit_rows(data, r, base)
            assert fit.size and not (data["repo"][fit] == r).any()
    assert set(np.unique(data["cols"]["markers fired"])) <= {0.0, 1.0}
    rows = stack_search.loro_all(data)
    alone = next(r for r in rows if r["inputs"] == ["classifier"])
    assert np.array_equal(alone["scores"][target], data["score"][target])
    for r in rows:
        assert np.isfinite(r["scores"]).all()
        assert 0.0 <= r["auroc"] <= 1.0 and {f["held_out"] for f in r["folds"]} == set(REPOS)
    stack = next(r for r in rows if r["fit"] == "fold reference")
    assert not np.array_equal(stack["scores"][target], data["score"][target])


def test_stack_out_of_fold_file_keeps_the_schema(real_slice, stack_search, tmp_path):
    import pyarrow.parquet as pq

    pool, table, web, held, _ = real_slice
    src = tmp_path / "oof.parquet"
    pq.write_table(table, src)
    data = stack_search.assemble(pool, table, stack_search.align_rows(pool, table), web, held)
    win = next(r for r in stack_search.loro_all(data) if r["fit"] == "fold reference + web")
    out = pq.read_table(stack_search.write_stack_oof(data, win, src, tmp_path / "stack.parquet"))
    assert out.schema.equals(table.schema, check_metadata=False)
    assert np.allclose(out["score"].to_numpy(), win["scores"])
    fold = np.array(out["fold"].to_pylist(), dtype=object)
    thr = out["threshold"].to_numpy()
    for r in REPOS:
        assert np.allclose(thr[fold == r], win["thresholds"][r])


def test_choice_rule(stack_search):
    def row(name, auroc, tpr):
        return {"name": name, "inputs": ["classifier"] if name == "alone" else ["x", "y"],
                "auroc": auroc, "tpr": tpr}

    alone = row("alone", 0.864, 0.438)
    rows = [alone, row("a", 0.865, 0.448), row("b", 0.861, 0.452), row("c", 0.855, 0.50)]
    win, got_alone, ships = stack_search.choose(rows)
    assert got_alone is alone
    assert win["name"] == "b"  # within 0.005 of the best AUROC, higher TPR; c is not tied
    assert not ships  # +0.014 TPR is below the bar
    rows.append(row("d", 0.862, 0.46))
    win, _, ships = stack_search.choose(rows)
    assert win["name"] == "d" and ships  # +0.022 TPR, AUROC lower by 0.002
    rows.append(row("e", 0.869, 0.47))
    win, _, ships = stack_search.choose(rows)
    assert win["name"] == "e" and ships  # best AUROC now 0.869: b and d fall out of the tie
