"""Out-of-fold scores (detectors/out_of_fold.py) on a small real slice of the labeled data:
3 repositories x 60 rows of dev.parquet, tiny hashing dimensions."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from detectors.generalization import Recipe, load_pool
from detectors.ngram_features import HashingParams
from detectors.out_of_fold import SCHEMA, out_of_fold_scores, plan_folds

REPOS = ("baoguangsheng/fast-detect-gpt", "Jiaqi-Chen-00/ImBD", "ryuryukke/OUTFOX")
RECIPE = Recipe("tiny", params=HashingParams(bits=12), alpha=1e-5, hard_weight=2.0,
                web_weight=1.0)
WEB = ["A plain human web page about gardening, tomatoes and the weather in spring. " * 5]


@pytest.fixture(scope="module")
def slice_path(shared_data, tmp_path_factory):
    """30 human + 30 machine rows of each of 3 repositories, written as a labeled Parquet."""
    t = pq.read_table(shared_data / "labeled" / "dev.parquet")
    parts = []
    for repo in REPOS:
        for label in ("human", "ai"):
            m = pc.and_(pc.equal(t["source_repo"], repo), pc.equal(t["label"], label))
            parts.append(t.filter(m).slice(0, 30))
    path = tmp_path_factory.mktemp("oof") / "slice.parquet"
    pq.write_table(pa.concat_tables(parts), path)
    return path


@pytest.fixture(scope="module")
def scored(slice_path):
    return out_of_fold_scores([slice_path], RECIPE, max_train_per_repo=40, seed=0,
                              web_texts=WEB)


def test_held_out_repo_never_trains_its_fold(slice_path, scored):
    pool = load_pool([slice_path])
    folds = plan_folds(pool, 40, seed=0)
    assert [f.held_out for f in folds] == sorted(REPOS)
    meta = json.loads(scored.schema.metadata[b"out_of_fold"])
    for f in folds:
        assert f.train.size > 0 and not np.isin(pool.ids[f.train],
                                                pool.ids[pool.repo == f.held_out]).any()
        assert set(pool.split[f.train]).isdisjoint({"calib", "test"})
        assert meta["n_train_by_fold"][f.held_out] == f.train.size  # what trained is the plan
        for repo in set(REPOS) - {f.held_out}:  # capped: at most 20 human + 20 machine each
            assert 0 < np.sum(pool.repo[f.train] == repo) <= 40


def test_every_target_row_scored_exactly_once(slice_path, scored):
    assert scored.schema.remove_metadata() == SCHEMA
    d = scored.to_pydict()
    target = [(f, i, r) for f, i, r, role in zip(d["fold"], d["id"], d["source_repo"], d["role"],
                                                  strict=True) if role == "target"]
    assert all(f == r for f, _, r in target)  # a fold's targets are its held-out repository
    counts = Counter(i for _, i, _ in target)
    all_ids = pq.read_table(slice_path, columns=["id"])["id"].to_pylist()
    assert sorted(counts) == sorted(all_ids) and set(counts.values()) == {1}
    assert np.isfinite(d["score"]).all()


def test_reference_rows_are_other_repos_calib_rows(slice_path, scored):
    pool = load_pool([slice_path])
    d = scored.to_pydict()
    ref = [i for i, role in enumerate(d["role"]) if role == "reference"]
    assert ref
    assert all(d["split"][i] == "calib" and d["source_repo"][i] != d["fold"][i] for i in ref)
    for repo in REPOS:  # and every such row is there, once per fold
        want = set(pool.ids[(pool.split == "calib") & (pool.repo != repo)])
        assert {d["id"][i] for i in ref if d["fold"][i] == repo} == want
        # the fold's threshold keeps at most 1% of its human reference rows above it
        h = [d["score"][i] for i in ref if d["fold"][i] == repo and d["label"][i] == "human"]
        thr = {d["threshold"][i] for i in range(len(d["fold"])) if d["fold"][i] == repo}
        assert len(thr) == 1 and np.mean(np.array(h) > thr.pop()) <= 0.01


def test_held_back_web_text_raises_the_fold_threshold(slice_path, scored):
    """Human web text never trained on sets the threshold when it scores higher than the
    reference humans (the shipped rule): here machine rows stand in for such web text."""
    t = pq.read_table(slice_path)
    high = t.filter(pc.equal(t["label"], "ai"))["text"].to_pylist()[:40]
    raised = out_of_fold_scores([slice_path], RECIPE, max_train_per_repo=40, seed=0,
                                web_texts=WEB, threshold_web_texts=high)
    before = dict(zip(scored["fold"].to_pylist(), scored["threshold"].to_pylist(), strict=True))
    after = dict(zip(raised["fold"].to_pylist(), raised["threshold"].to_pylist(), strict=True))
    assert all(after[f] >= before[f] for f in REPOS) and any(after[f] > before[f] for f in REPOS)
    assert np.allclose(raised["score"].to_numpy(), scored["score"].to_numpy())  # same models
    assert json.loads(raised.schema.metadata[b"out_of_fold"])["threshold_web_pieces"] == 40
