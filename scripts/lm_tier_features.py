"""Compute (once) and cache the LM-tier features of a per-repository sample of the labeled data.

Why a cache: SmolLM2-135M scores a few hundred tokens a second on 2 shared CPU cores, so the
features of the evaluation sample cost many minutes; `scripts/eval_lm_tier.py` reads them from
`.bench/lm_tier/` (git-ignored) and re-runs in seconds. Work is written in chunks, so a killed
run resumes where it stopped.

The sample: the rows `scripts/eval_detectors.py` evaluates the cheap tier on (per repository
at most 1,000 human and 1,000 machine rows, seed 0), English rows only (the LM detectors
declare English), then per repository at most `--per-repo`/2 human and machine rows (seed 1).

Usage: nice -n 10 python3 scripts/lm_tier_features.py [--per-repo 160] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from detectors.generalization import load_pool, sample_per_repo  # noqa: E402
from detectors.lm_features import LM_FEATURES, LMFeatureExtractor  # noqa: E402

LABELED = [ROOT.parent / "shared" / "data" / "labeled" / f for f in ("dev.parquet",
                                                                      "extra.parquet")]
CACHE = ROOT / ".bench" / "lm_tier"
CHEAP_CAP, CHEAP_SEED = 2000, 0  # as scripts/eval_detectors.py samples the cheap tier


def sample_rows(pool, per_repo: int) -> tuple[np.ndarray, np.ndarray]:
    """(cheap-evaluation rows, LM rows within them), both as indices into `pool`."""
    cheap = sample_per_repo(pool, CHEAP_CAP, seed=CHEAP_SEED)
    en = cheap[pool.language[cheap] == "en"]
    sub = pool.take(en)
    lm = en[sample_per_repo(sub, per_repo, seed=1)]
    return cheap, lm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-repo", type=int, default=160)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--chunk", type=int, default=64)
    args = ap.parse_args()
    pool = load_pool(LABELED)
    _, rows = sample_rows(pool, args.per_repo)
    out = CACHE / f"t{args.max_tokens}"
    out.mkdir(parents=True, exist_ok=True)
    done = set()
    for f in out.glob("chunk-*.parquet"):
        done.update(pq.read_table(f, columns=["id"])["id"].to_pylist())
    todo = [i for i in rows if pool.ids[i] not in done]
    print(f"{rows.size} rows sampled, {len(todo)} to score", flush=True)
    ext = LMFeatureExtractor(max_tokens=args.max_tokens, batch_size=args.batch_size)
    t0, n_done, n_tok = time.time(), 0, 0
    for k in range(0, len(todo), args.chunk):
        chunk = todo[k:k + args.chunk]
        t = time.time()
        feats = ext.features([pool.texts[i] for i in chunk])
        dt = time.time() - t
        n_tok += int(ext.statistics([pool.texts[i] for i in chunk])["n_tokens"].sum())
        cols = {"id": [pool.ids[i] for i in chunk], "seconds": [dt / len(chunk)] * len(chunk)}
        cols.update({n: feats[:, j] for j, n in enumerate(LM_FEATURES)})
        pq.write_table(pa.table(cols), out / f"chunk-{int(time.time() * 1000)}.parquet")
        n_done += len(chunk)
        el = time.time() - t0
        print(f"{n_done}/{len(todo)} texts, {n_done / el:.2f} texts/s, {n_tok / el:.0f} "
              f"tokens/s", flush=True)


if __name__ == "__main__":
    main()
