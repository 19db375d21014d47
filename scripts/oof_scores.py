"""Out-of-fold scores of the shipped classifier recipe, for validations that hold out a labeled
repository (scripts/validate_estimation.py): one model per source repository R, trained as the
shipped one on every other repository, scoring R's rows (`target`) and the others' `calib` rows
(`reference`). See detectors/out_of_fold.py.

    python scripts/oof_scores.py [--labeled-dir ../shared/data/labeled] [--out .bench/oof_scores.parquet]
                                 [--max-train-per-repo 8000] [--seed 0]

Writes a Parquet file (git-ignored under .bench/: this script is its reproducible source) and
prints per fold the rows scored, the AUROC of R's rows and the seconds taken.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import pyarrow.parquet as pq  # noqa: E402

from detectors.out_of_fold import MAX_TRAIN_PER_REPO, out_of_fold_scores  # noqa: E402

LABELED_FILES = ("dev.parquet", "extra.parquet")  # what the shipped classifier trains on


def main() -> None:
    from ood_section import SHIPPED_RECIPE, chunk_pages
    from web_pages import web_split

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labeled-dir", default=str(REPO.parent / "shared" / "data" / "labeled"))
    ap.add_argument("--out", default=str(REPO / ".bench" / "oof_scores.parquet"))
    ap.add_argument("--max-train-per-repo", type=int, default=MAX_TRAIN_PER_REPO)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.time()
    pages: list[str] = []
    if SHIPPED_RECIPE.web_weight:
        web_train, _ = web_split()  # the training crawl files only, as the shipped model
        pages = chunk_pages([t for v in web_train.values() for t in v])
    print(f"recipe {SHIPPED_RECIPE.name!r} ({SHIPPED_RECIPE.describe()}); {len(pages)} web "
          f"pieces; at most {args.max_train_per_repo} training rows per repository", flush=True)
    paths = [Path(args.labeled_dir) / f for f in LABELED_FILES]
    table = out_of_fold_scores(paths, SHIPPED_RECIPE, args.max_train_per_repo, args.seed,
                               web_texts=pages, log=lambda line: print("  " + line, flush=True))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(out)
    print(f"wrote {out} ({table.num_rows:,} rows) in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
