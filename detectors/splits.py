"""One deterministic split of the labeled development set, shared by training, calibration,
detector evaluation and the estimation validation.

Random-row splits flatter a detector: the same generator and the same source repository appear
on both sides. So whole generators and whole source repositories are held out for testing, and
the rest is split by a hash of the pair key (a human text and its machine counterpart stay on
the same side).
"""

from __future__ import annotations

import hashlib

#: Generators never seen in training or calibration (AI rows only).
HELD_OUT_GENERATORS: frozenset[str] = frozenset(
    {"gpt-4o", "Llama-3-8B", "gpt-4", "gpt-neox-20b", "falcon-7b"}
)
#: Source repositories never seen in training or calibration (all their rows).
HELD_OUT_REPOS: frozenset[str] = frozenset({"mbzuai-nlp/M4", "Xianjun-Yang/DNA-GPT"})

SPLITS = ("train", "calib", "test", "test_generator", "test_repo")
#: Splits the shipped classifier never trains on: `calib` sets its threshold and calibration and
#: is its estimation reference with `test`, which also gives the in-distribution figures.
NOT_TRAINED = ("calib", "test")


def _bucket(key: str) -> float:
    """Uniform in [0, 1) from a string, stable across runs and machines."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) / 2**32


def split_of(id: str, label: str, generator: str | None, source_repo: str,
             pair_key: str | None = None) -> str:
    """The split a labeled row belongs to: one of `SPLITS`.

    `test_repo` wins over `test_generator`; other rows go 70/15/15 to train/calib/test by a hash
    of `pair_key` (or `id` when unpaired).
    """
    if source_repo in HELD_OUT_REPOS:
        return "test_repo"
    if label == "ai" and generator in HELD_OUT_GENERATORS:
        return "test_generator"
    u = _bucket(pair_key or id)
    if u < 0.70:
        return "train"
    if u < 0.85:
        return "calib"
    return "test"


def add_split_column(table):
    """Return a pyarrow Table with a `split` column computed by `split_of` for each row."""
    import pyarrow as pa

    cols = table.select(["id", "label", "generator", "source_repo", "pair_key"]).to_pydict()
    splits = [
        split_of(i, lab, gen, repo, pk)
        for i, lab, gen, repo, pk in zip(
            cols["id"], cols["label"], cols["generator"], cols["source_repo"], cols["pair_key"],
            strict=True,
        )
    ]
    return table.append_column("split", pa.array(splits, pa.string()))
