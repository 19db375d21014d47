"""Machine references generated from each leave-one-repository-out source's own human text, and
their out-of-fold scores: the inputs of the "generated machine reference" rows of
scripts/validate_estimation.py (issue 10, item 2).

For every LORO source of scripts/validate_estimation_ood.py (a domain of a held-out repository),
the offline SmolLM2 model (`detectors.lm_generate`, the very function `auditor detectors
generate` uses) writes `--per-source` texts from a seeded sample of the source's human rows
(the rows a store would hold as its pre-cutoff documents), alternating the continue and rewrite
prompts. Then each held-out repository's fold model (the shipped recipe trained without it, as
scripts/oof_scores.py trains it: `detectors.out_of_fold.score_with_fold_models`) scores its
sources' generated texts, so the machine reference is scored by a detector that never saw the
repository, exactly as the target is.

Both steps cache under .bench/ (git-ignored; this script is their reproducible source):
`loro_generated_texts.parquet` (appended source by source: an interrupted run resumes) and
`loro_generated_scores.parquet` (with the out-of-fold file's size and mtime in its metadata, so
a replaced .bench/oof_scores.parquet makes the validation ask for a rescore).

    nice -n 10 python scripts/loro_generated.py [--per-source 24] [--max-new-tokens 80]
                                                [--skip-score]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import validate_estimation_ood as OOD  # noqa: E402

TEXTS = REPO / ".bench" / "loro_generated_texts.parquet"
SCORES = REPO / ".bench" / "loro_generated_scores.parquet"
LABELED_FILES = ("dev.parquet", "extra.parquet")


def oof_stamp() -> str:
    """What identifies the out-of-fold scores the generated texts were scored beside."""
    st = OOD.OOF.stat()
    return f"{st.st_size}:{int(st.st_mtime)}"


def source_inputs(per_source: int, seed: int = 0,
                  max_per_repo: int = 2) -> dict[tuple[str, str], list[str]]:
    """Per LORO source (fold, domain): `per_source` human texts of that source (seeded sample of
    its out-of-fold human rows), the documents the model writes from. Sources of the
    development repositories (`OOD.is_dev_repo`) come first, so the rule can be decided while
    the rest is written. At most `max_per_repo` sources per repository (those with the most
    human rows, as `loro_sources` orders them): CPU time, not choice, limits the sources."""
    keys, seen = [], {}
    for k in OOD.loro_sources(say=lambda *_: None):
        seen[k[0]] = seen.get(k[0], 0) + 1
        if seen[k[0]] <= max_per_repo:
            keys.append(k)
    keys.sort(key=lambda k: not OOD.is_dev_repo(k[0]))
    oof = pq.read_table(OOD.OOF, columns=["fold", "id", "label", "domain", "role"]).to_pandas()
    oof = oof[(oof["role"] == "target") & (oof["label"] == "human")]
    texts: dict[str, str] = {}
    for name in LABELED_FILES:
        t = pq.read_table(OOD.SHARED / "labeled" / name, columns=["id", "text"]).to_pydict()
        texts.update(zip(t["id"], t["text"], strict=True))
    out = {}
    for fold, domain in keys:
        ids = sorted(set(oof[(oof["fold"] == fold) & (oof["domain"] == domain)]["id"]))
        rng = np.random.default_rng(seed)
        pick = [ids[i] for i in rng.permutation(len(ids))[:per_source]]
        out[(fold, domain)] = [texts[i] for i in pick if isinstance(texts.get(i), str)]
    return out


def all_texts() -> dict[str, list]:
    """Every generated text so far: the main cache and those of parallel runs (`--part`), one
    run's texts per source (the first file that has the source)."""
    files = [TEXTS] + sorted(TEXTS.parent.glob(f"{TEXTS.stem}.*.parquet"))
    out: dict[str, list] = {"fold": [], "domain": [], "text": [], "origin": []}
    seen: set = set()
    for f in files:
        if not f.is_file():
            continue
        t = pq.read_table(f).to_pydict()
        keys = set(zip(t["fold"], t["domain"], strict=True)) - seen
        for i, k in enumerate(zip(t["fold"], t["domain"], strict=True)):
            if k in keys:
                for c in out:
                    out[c].append(t[c][i])
        seen |= keys
    return out


def done_sources() -> set:
    t = all_texts()
    return set(zip(t["fold"], t["domain"], strict=True))


def generate(per_source: int, max_new_tokens: int, seed: int, batch_size: int,
             max_per_repo: int, part: str = "", reverse: bool = False) -> None:
    from detectors.lm_generate import generate_from_documents

    parts = []
    out = TEXTS.with_name(f"{TEXTS.stem}.{part}.parquet") if part else TEXTS
    if out.is_file():
        parts.append(pq.read_table(out))
    inputs = source_inputs(per_source, seed, max_per_repo)
    items = list(inputs.items())[::-1] if reverse else list(inputs.items())
    for i, (key, docs) in enumerate(items):
        if key in done_sources():  # done here or by a parallel run (another --part)
            continue
        t0 = time.time()
        made = generate_from_documents(docs, per_source, max_new_tokens=max_new_tokens,
                                       batch_size=batch_size, seed=seed)
        parts.append(pa.table({
            "fold": [key[0]] * len(made), "domain": [key[1]] * len(made),
            "text": [t for t, _ in made], "origin": [o for _, o in made]}))
        tmp = out.with_suffix(".tmp")
        pq.write_table(pa.concat_tables(parts), tmp)
        tmp.replace(out)
        print(f"[{i + 1}/{len(inputs)}] {key[1]} [{key[0]}]: {len(made)} texts in "
              f"{time.time() - t0:.0f}s", flush=True)


def fold_models(paths, recipe, folds: list[str], meta: dict, pages: list[str]) -> dict:
    """The fold models (coefficients, intercept), cached in .bench/fold_models/ as plain .npz
    (no pickle) under the out-of-fold file's stamp, so a rescore does not retrain."""
    from detectors.out_of_fold import train_fold_models

    cache = REPO / ".bench" / "fold_models"
    cache.mkdir(parents=True, exist_ok=True)
    stamp = oof_stamp().replace(":", "_")
    path = {f: cache / f"{stamp}_{f.replace('/', '__')}.npz" for f in folds}
    out = {}
    for f in folds:
        if path[f].is_file():
            with np.load(path[f], allow_pickle=False) as z:
                out[f] = (z["coef"], float(z["intercept"]))
    missing = [f for f in folds if f not in out]
    if missing:
        trained = train_fold_models(paths, recipe, missing, meta.get("max_train_per_repo"),
                                    meta.get("seed", 0), web_texts=pages,
                                    log=lambda s: print("  " + s, flush=True))
        for f, (coef, b) in trained.items():
            np.savez(path[f], coef=coef, intercept=np.float64(b))
            out[f] = (coef, b)
    return out


def score() -> None:
    from ood_section import SHIPPED_RECIPE, chunk_pages
    from web_pages import web_split

    from detectors.out_of_fold import score_with

    t = all_texts()
    by_fold: dict[str, list[str]] = {}
    for f, text in zip(t["fold"], t["text"], strict=True):
        by_fold.setdefault(f, []).append(text)
    # check: 20 labeled rows per fold, scored again, must match their out-of-fold scores
    oof = pq.read_table(OOD.OOF, columns=["fold", "id", "role", "score"]).to_pandas()
    oof = oof[oof["role"] == "target"].drop_duplicates("id", keep=False)
    labeled: dict[str, str] = {}
    for name in LABELED_FILES:
        lt = pq.read_table(OOD.SHARED / "labeled" / name, columns=["id", "text"]).to_pydict()
        labeled.update(zip(lt["id"], lt["text"], strict=True))
    check = {}
    for f in by_fold:
        rows = oof[oof["fold"] == f].head(20)
        check[f] = rows["score"].to_numpy()
        by_fold[f] = by_fold[f] + [labeled[i] for i in rows["id"]]
    meta = json.loads(pq.read_schema(OOD.OOF).metadata[b"out_of_fold"])
    pages: list[str] = []
    if SHIPPED_RECIPE.web_weight and meta.get("web_pieces"):
        web_train, _ = web_split()
        pages = chunk_pages([x for v in web_train.values() for x in v])
    paths = [OOD.SHARED / "labeled" / f for f in LABELED_FILES]
    every = sorted({k[0] for k in OOD.loro_sources(say=lambda *_: None)} | set(by_fold))
    models = fold_models(paths, SHIPPED_RECIPE, every, meta, pages)  # all: cached for reruns
    scores = {f: score_with(SHIPPED_RECIPE, models[f], texts) for f, texts in by_fold.items()}
    for f, want in check.items():
        got = scores[f][len(scores[f]) - len(want):]
        print(f"  {f}: re-trained fold model vs out-of-fold scores on {len(want)} rows: "
              f"max |diff| {np.max(np.abs(got - want)):.2e}", flush=True)
    at = {f: 0 for f in by_fold}
    out = []
    for f in t["fold"]:
        out.append(float(scores[f][at[f]]))
        at[f] += 1
    table = pa.table({"fold": t["fold"], "domain": t["domain"], "origin": t["origin"],
                      "score": out})
    table = table.replace_schema_metadata({"oof_stamp": oof_stamp(),
                                           "recipe": SHIPPED_RECIPE.name})
    pq.write_table(table, SCORES)
    print(f"wrote {SCORES} ({table.num_rows} scores)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-source", type=int, default=24)
    ap.add_argument("--max-new-tokens", type=int, default=80)
    ap.add_argument("--batch-size", type=int, default=12)
    ap.add_argument("--max-per-repo", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-score", action="store_true")
    ap.add_argument("--score-only", action="store_true")
    ap.add_argument("--part", default="", help="write to a side file (a parallel run)")
    ap.add_argument("--reverse", action="store_true", help="sources in reverse order")
    args = ap.parse_args()
    t0 = time.time()
    if not args.score_only:
        generate(args.per_source, args.max_new_tokens, args.seed, args.batch_size,
                 args.max_per_repo, args.part, args.reverse)
    print(f"generation done at {time.time() - t0:.0f}s", flush=True)
    if not args.skip_score:
        score()
    print(f"total {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
