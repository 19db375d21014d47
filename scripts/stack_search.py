"""Would a small stack over the cheap scores generalise better than the classifier alone? Writes
reports/stack_search.md.

    nice -n 10 python scripts/stack_search.py [--capped] [--cap 2000] [--seed 0]
                                              [--estimate] [--loro-replicates 10] [--n-boot 100]

Headline: leave one repository out on ALL labeled rows (dev.parquet + extra.parquet), from the
out-of-fold classifier scores of `.bench/oof_scores.parquet` (scripts/oof_scores.py: fold model R
never saw repository R). `markers` and `excess_vocab` (not trained) are scored on the same texts.
For each held-out repository R a logistic regression over some of these columns is fitted on
rows R never contributed to and scores R's rows; pooled AUROC and TPR @ 1% FPR over every
labeled row, as scripts/eval_detectors.py's headline (`detectors.evaluation.binary_metrics` on
all pooled out-of-fold scores: the 1%-FPR threshold is set on the pooled human rows).

The stack's fit sets (each fold):
- `other repositories`: the other repositories' target rows, with their own out-of-fold scores
  (from fold models that did see R: a small leak into a few coefficients), as the capped run;
- `fold reference`: fold R's `reference` rows: the other repositories' `calib` rows scored by
  fold R's own model (never trained on them, never saw R): no leak, and the same model's scale;
- either plus `web`: the held-back pieces of the training crawl files (the pages that set the
  web side of the shipped classifier's threshold, never fitted by any fold model) as human,
  scored by fold R's model (retrained here exactly as scripts/oof_scores.py trains it, checked
  against its scores). The web TEST files (C4 2019, CC 2020) are never read here.

Rule fixed before looking (written here before the first all-rows run): the candidate with the
highest pooled LORO AUROC wins; candidates within 0.005 AUROC of it are tied and the highest
pooled TPR @ 1% FPR among them wins. The stack ships (as a default-tier detector, first in
the estimator's preference) only if the winner beats the classifier alone by >= 0.02 pooled TPR
and its AUROC is not lower by more than 0.005.

--capped adds the earlier capped-sample comparison (recipe_search's sample, fold models
retrained on it). --estimate writes the chosen stack's out-of-fold scores in the schema of
.bench/oof_scores.parquet (.bench/stack_oof_scores.parquet) and runs the estimation
validation's leave-one-repository-out corpora (scripts/validate_estimation_ood.run_loro, the
draws of reports/estimation.md's headline) on both, `auto` method: does the estimate move?
"""

from __future__ import annotations

import argparse
import datetime as dt
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

from detectors.calibration import DEFAULT_FPR, shipped_threshold  # noqa: E402
from detectors.evaluation import binary_metrics  # noqa: E402
from detectors.generalization import (  # noqa: E402
    featurize_all,
    leave_one_repo_out,
    load_pool,
    sample_per_repo,
)

SCRIPT = "scripts/stack_search.py"
#: The stack's input columns from the three default-tier scores (`stack_features`).
STACK_INPUTS = ("classifier", "markers fired", "log excess_vocab")
REPORT = REPO / "reports" / "stack_search.md"
OOF = REPO / ".bench" / "oof_scores.parquet"
WEB_SCORES = REPO / ".bench" / "stack_web_scores.parquet"
STACK_OOF = REPO / ".bench" / "stack_oof_scores.parquet"
LABELED_DIR = REPO.parent / "shared" / "data" / "labeled"
LABELED_FILES = ("dev.parquet", "extra.parquet")
ESSAYS = "ryuryukke/OUTFOX"
#: (name, columns of the stack's inputs); column 0 alone is the classifier as shipped.
STACKS = (
    ("classifier alone", ("classifier",)),
    ("classifier + length", ("classifier", "log length")),
    ("classifier + markers + excess_vocab", STACK_INPUTS),
    ("classifier + markers + excess_vocab + length",
     STACK_INPUTS + ("log length", "classifier x log length", "excess_vocab per log length")),
)
#: Fit sets of the all-rows run: (name, base rows, weight of the web pieces in total as a share
#: of the base rows' human weight; 0: no web pieces).
FIT_SETS = (
    ("other repositories", "others", 0.0),
    ("other repositories + web", "others", 0.25),
    ("fold reference", "reference", 0.0),
    ("fold reference + web", "reference", 0.25),
)
AUROC_TIE = 0.005
SHIP_TPR_GAIN, SHIP_AUROC_LOSS = 0.02, 0.005


def stack_features(classifier: np.ndarray, markers: np.ndarray,
                   excess_vocab: np.ndarray) -> np.ndarray:
    """The columns of `STACK_INPUTS`: the classifier's decision value, whether any marker fired
    (markers' scores are near-binary weights) and log(1 + count of LLM-overused words)."""
    return np.column_stack([np.asarray(classifier, np.float64),
                            (np.asarray(markers) > 0).astype(np.float64),
                            np.log1p(np.asarray(excess_vocab, np.float64))])


def columns(classifier: np.ndarray, texts: list[str]) -> dict[str, np.ndarray]:
    """Every candidate input column."""
    from detectors.excess_vocab import ExcessVocabDetector
    from detectors.markers import MarkersDetector

    markers, ev = MarkersDetector().score(texts), ExcessVocabDetector().score(texts)
    cols = dict(zip(STACK_INPUTS, stack_features(classifier, markers, ev).T, strict=True))
    n = np.log1p([len(t) for t in texts])
    cols.update({"log length": n, "classifier x log length": classifier * n,
                 "excess_vocab per log length": cols["log excess_vocab"] / np.maximum(n, 1.0)})
    return cols


# ---- all rows ---------------------------------------------------------------------------------

def web_pieces() -> tuple[list[str], list[str]]:
    """(pieces the fold models fit as human, held-back pieces), as scripts/oof_scores.py."""
    from ood_section import chunk_pages
    from web_pages import hold_back_pages, web_split

    web_train, _ = web_split()  # reads the test files too, but only the training ones are used
    fit, held = hold_back_pages(web_train)
    return (chunk_pages([t for v in fit.values() for t in v]),
            chunk_pages([t for v in held.values() for t in v]))


def fold_web_scores(pool, target_by_fold: dict[str, np.ndarray], check_scores,
                    fit: list[str], held: list[str]) -> dict:
    """{fold: classifier scores of the held-back web pieces under fold R's model}, cached in
    .bench/stack_web_scores.parquet. The fold models are retrained exactly as
    scripts/oof_scores.py trains them; 20 target rows per fold are rescored and must match."""
    from ood_section import SHIPPED_RECIPE

    from detectors.out_of_fold import score_with, train_fold_models

    meta = json.loads(pq.read_schema(OOF).metadata[b"out_of_fold"])
    stamp = f"{OOF.stat().st_size}:{meta['seconds_by_fold']}"
    if WEB_SCORES.exists():
        t = pq.read_table(WEB_SCORES)
        if t.schema.metadata and t.schema.metadata.get(b"oof") == stamp.encode():
            d = t.to_pydict()
            return {f: np.array(d["score"], np.float64)[np.array(d["fold"]) == f]
                    for f in sorted(set(d["fold"]))}
    models = train_fold_models([LABELED_DIR / f for f in LABELED_FILES], SHIPPED_RECIPE,
                               sorted(target_by_fold), meta["max_train_per_repo"], meta["seed"],
                               web_texts=fit, log=lambda s: print("  " + s, flush=True))
    out = {}
    for f, model in models.items():
        rows = target_by_fold[f][:20]
        got = score_with(SHIPPED_RECIPE, model, [pool.texts[i] for i in rows])
        diff = float(np.max(np.abs(got - check_scores(f, rows))))
        print(f"  {f}: retrained fold model vs out-of-fold scores, max |diff| {diff:.1e}",
              flush=True)
        if diff > 1e-3:
            raise SystemExit(f"{f}: the retrained fold model does not reproduce its scores")
        out[f] = score_with(SHIPPED_RECIPE, model, held)
    folds = sorted(out)
    table = pa.table({"fold": [f for f in folds for _ in out[f]],
                      "score": np.concatenate([out[f] for f in folds])})
    WEB_SCORES.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata({"oof": stamp}), WEB_SCORES)
    return out


def align_rows(pool, table: pa.Table) -> np.ndarray:
    """Each out-of-fold row's index in `pool` (the labeled files it was scored from).
    `out_of_fold_scores` writes, per fold, its target rows then its reference rows, each in
    pool order: the same selections over the pool give each row's text, checked by id."""
    fold = np.array(table["fold"].to_pylist(), dtype=object)
    pool_row = np.empty(len(fold), dtype=np.int64)
    calib = pool.split == "calib"
    for r in sorted(set(fold)):
        tgt, ref = np.flatnonzero(pool.repo == r), np.flatnonzero(calib & (pool.repo != r))
        idx = np.flatnonzero(fold == r)
        if idx.size != tgt.size + ref.size:
            raise SystemExit(f"{r}: {idx.size} out-of-fold rows, pool gives {tgt.size + ref.size}")
        pool_row[idx] = np.concatenate([tgt, ref])
    if not (pool.ids[pool_row] == np.array(table["id"].to_pylist(), dtype=object)).all():
        raise SystemExit("out-of-fold rows do not line up with the labeled files (ids differ)")
    return pool_row


def assemble(pool, table: pa.Table, pool_row: np.ndarray, web: dict[str, np.ndarray],
             held: list[str]) -> dict:
    """What the search needs per out-of-fold row (fold, role, label, score, input columns,
    repository) and per fold the input columns of the held-back web pieces (`web`: their
    classifier scores under each fold's model)."""
    d = table.select(["fold", "role", "label", "score", "threshold"]).to_pydict()
    score = np.array(d["score"], np.float64)
    # markers / excess_vocab depend on the text only: computed once per labeled row
    uniq, inv = np.unique(pool_row, return_inverse=True)
    base = columns(np.zeros(uniq.size), [pool.texts[i] for i in uniq])
    cols = {k: v[inv] for k, v in base.items()}
    cols["classifier"] = score  # then what involves the classifier, with each row's own score
    cols["classifier x log length"] = score * cols["log length"]
    return {"fold": np.array(d["fold"], dtype=object), "role": np.array(d["role"], dtype=object),
            "y": np.array([v == "ai" for v in d["label"]], np.int8), "score": score,
            "cols": cols, "threshold": np.array(d["threshold"], np.float64),
            "web": {f: columns(s, held) for f, s in web.items()}, "n_web": len(held),
            "repo": pool.repo[pool_row]}


def load_all() -> dict:
    """`assemble` on every labeled row's out-of-fold scores (.bench/oof_scores.parquet)."""
    pool = load_pool([LABELED_DIR / f for f in LABELED_FILES])
    t = pq.read_table(OOF, columns=["fold", "id", "role", "label", "score", "threshold"])
    pool_row = align_rows(pool, t)
    print(f"{len(pool_row):,} out-of-fold rows aligned with the labeled texts", flush=True)
    fold = np.array(t["fold"].to_pylist(), dtype=object)
    target = np.array(t["role"].to_pylist(), dtype=object) == "target"
    score = t["score"].to_numpy()
    target_by_fold = {r: pool_row[target & (fold == r)] for r in sorted(set(fold))}
    by_pool = {(fold[i], pool_row[i]): score[i] for i in np.flatnonzero(target)}
    fit, held = web_pieces()  # reads the crawl files once, for the cache check and the rows
    web = fold_web_scores(pool, target_by_fold,
                          lambda f, rows: np.array([by_pool[(f, r)] for r in rows]), fit, held)
    return assemble(pool, t, pool_row, web, held)


def _matrix(cols: dict, use: tuple[str, ...], rows=None) -> np.ndarray:
    x = np.column_stack([cols[c] for c in use])
    return x if rows is None else x[rows]


def fit_stack(x: np.ndarray, y: np.ndarray, w: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000, class_weight="balanced").fit(x, y, sample_weight=w)


def _with_web(x: np.ndarray, y: np.ndarray, web_x: np.ndarray, share: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs, labels, weights) of a fit set, plus the web pieces `web_x` as human weighing
    `share` of its human rows in total (share 0: the fit set alone, every row weight 1)."""
    w = np.ones(len(y))
    if not share:
        return x, y, w
    per_piece = share * float((y == 0).sum()) / len(web_x)
    return (np.vstack([x, web_x]), np.concatenate([y, np.zeros(len(web_x), np.int8)]),
            np.concatenate([w, np.full(len(web_x), per_piece)]))


def _fit_rows(data: dict, r: str, base: str) -> np.ndarray:
    fold, role = data["fold"], data["role"]
    if base == "others":
        return np.flatnonzero((role == "target") & (fold != r))
    return np.flatnonzero((role == "reference") & (fold == r))


def loro_all(data: dict) -> list[dict]:
    """Every (stack, fit set) candidate: pooled over all target rows, per fold, transfer FPR."""
    fold, role, y, cols = data["fold"], data["role"], data["y"], data["cols"]
    target = role == "target"
    folds = sorted(set(fold[target]))
    out = []
    for name, use in STACKS:
        for fit_name, base, web_share in (FIT_SETS if len(use) > 1 else (("-", "-", 0.0),)):
            s = np.full(len(y), np.nan)
            thr = {}
            for r in folds:
                held = np.flatnonzero(target & (fold == r))
                ref = np.flatnonzero((role == "reference") & (fold == r))
                wx = _matrix(data["web"][r], use)
                if len(use) == 1:
                    s[held], s_ref, s_web = (data["score"][held], data["score"][ref], wx[:, 0])
                    s[ref] = s_ref
                else:
                    rows = _fit_rows(data, r, base)
                    m = fit_stack(*_with_web(_matrix(cols, use, rows), y[rows], wx, web_share))
                    s[held] = m.decision_function(_matrix(cols, use, held))
                    s_ref, s_web = m.decision_function(_matrix(cols, use, ref)), \
                        m.decision_function(wx)
                    s[ref] = s_ref
                # the fold's threshold as the shipped rule: calib humans and held-back web
                thr[r] = shipped_threshold(s_ref[y[ref] == 0], s_web, DEFAULT_FPR)[0]
            t = np.flatnonzero(target)
            p = binary_metrics(s[t], y[t])
            per = []
            flagged = np.zeros(len(y), bool)
            for r in folds:
                h = np.flatnonzero(target & (fold == r))
                fm = binary_metrics(s[h], y[h], thr[r])
                flagged[h] = s[h] > thr[r]
                per.append({"held_out": r, **fm})
            hum = target & (y == 0)
            row = {"name": name, "inputs": list(use), "fit": fit_name, "auroc": p["auroc"],
                   "tpr": p["tpr_at_1fpr"], "transfer_fpr": float(flagged[hum].mean()),
                   "essays_fpr": next(f["fpr_at_threshold"] for f in per
                                      if f["held_out"] == ESSAYS),
                   "folds": per}
            print(f"{name} [{fit_name}]: AUROC {p['auroc']:.4f}, TPR {p['tpr_at_1fpr']:.3f}, "
                  f"transfer FPR {row['transfer_fpr']:.3f}", flush=True)
            row["scores"], row["thresholds"] = s, thr
            out.append(row)
    return out


def choose(rows: list[dict]) -> tuple[dict, dict, bool]:
    """The fixed rule (module docstring): (winner, classifier alone, ships?)."""
    alone = next(r for r in rows if r["inputs"] == ["classifier"])
    best = max(r["auroc"] for r in rows)
    tied = [r for r in rows if r["auroc"] >= best - AUROC_TIE]
    win = max(tied, key=lambda r: (r["tpr"], r["auroc"]))
    ships = win is not alone and win["tpr"] - alone["tpr"] >= SHIP_TPR_GAIN and \
        win["auroc"] >= alone["auroc"] - SHIP_AUROC_LOSS
    return win, alone, ships


def fit_all_rows(data: dict, win: dict) -> dict:
    """The winner's coefficients fitted on every fold's fit rows at once (what would ship)."""
    use = tuple(win["inputs"])
    base = next(b for n, b, _ in FIT_SETS if n == win["fit"])
    share = next(s for n, _, s in FIT_SETS if n == win["fit"])
    fold, role, y = data["fold"], data["role"], data["y"]
    rows = np.flatnonzero(role == ("target" if base == "others" else "reference"))
    # every fold's scores of the web pieces, together the same share
    wx = np.vstack([_matrix(data["web"][r], use) for r in sorted(data["web"])])
    x, yy, w = _with_web(_matrix(data["cols"], use, rows), y[rows], wx, share)
    m = fit_stack(x, yy, w)
    return {"inputs": list(use), "coef": [float(c) for c in m.coef_[0]],
            "intercept": float(m.intercept_[0]),
            "fitted_on": f"{win['fit']}: {rows.size:,} (fold, row) scores of "
                         f"{', '.join(LABELED_FILES)} ({int((yy[:rows.size] == 1).sum()):,} ai; "
                         + ("each calib row scored by every fold model that did not hold out "
                            "its repository)" if base == "reference" else "each row once)")
                         + (f" + {sum(len(v['classifier']) for v in data['web'].values()):,} "
                            "fold scores of held-back web pieces as human" if share else ""),
            "n_folds": len(set(fold))}


# ---- capped sample (the earlier comparison) -------------------------------------------------

def run_capped(cap: int, seed: int) -> dict:
    from ood_section import SHIPPED_RECIPE, chunk_pages
    from sklearn.linear_model import LogisticRegression
    from web_pages import CRAWL_DIR, WEB_TRAIN_FILES, hold_back_pages, web_texts

    full = load_pool([LABELED_DIR / f for f in LABELED_FILES])
    pool = full.take(sample_per_repo(full, cap, seed))
    web_fit, _ = hold_back_pages({f: web_texts(CRAWL_DIR / f) for f in WEB_TRAIN_FILES})
    pages = chunk_pages([t for v in web_fit.values() for t in v])
    folds = leave_one_repo_out(pool, featurize_all(pool, pages, SHIPPED_RECIPE.params),
                               SHIPPED_RECIPE, seed)
    oof = np.zeros(len(pool.texts))
    for f in folds:
        oof[f.rows] = f.scores
    cols = columns(oof, pool.texts)
    rows = []
    for name, use in STACKS:
        x = np.column_stack([cols[c] for c in use])
        s = np.zeros(len(oof))
        for r in sorted(set(pool.repo)):
            held = pool.repo == r
            if len(use) == 1:
                s[held] = x[held, 0]
                continue
            stack = LogisticRegression(max_iter=1000, class_weight="balanced")
            stack.fit(x[~held], pool.y[~held])
            s[held] = stack.decision_function(x[held])
        m = binary_metrics(s, pool.y)
        rows.append({"name": name, "inputs": list(use), "auroc": m["auroc"],
                     "tpr": m["tpr_at_1fpr"]})
        print(f"capped {name}: AUROC {m['auroc']:.4f}, TPR {m['tpr_at_1fpr']:.3f}", flush=True)
    return {"rows": rows, "n": len(pool.texts), "cap": cap, "seed": seed,
            "recipe": SHIPPED_RECIPE.describe()}


# ---- report -----------------------------------------------------------------------------------

def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def fire_rates(data: dict) -> dict:
    """Per label, the share of labeled rows where a marker fired / an overused word occurs, and
    the share of machine rows missed by the classifier alone that either fires on."""
    t = data["role"] == "target"
    y, c = data["y"][t], {k: v[t] for k, v in data["cols"].items()}
    fired, ev = c["markers fired"] > 0, c["log excess_vocab"] > 0
    from detectors.calibration import threshold_for_fpr

    missed = (y == 1) & (c["classifier"] <= threshold_for_fpr(c["classifier"][y == 0]))
    return {"markers": [float(fired[y == k].mean()) for k in (0, 1)],
            "excess": [float(ev[y == k].mean()) for k in (0, 1)],
            "missed_fired": float((fired | ev)[missed].mean())}


def markdown(rows: list[dict], win: dict, alone: dict, ships: bool, n_rows: int, n_web: int,
             fitted: dict, est: dict | None, capped: dict | None, seconds: float,
             rates: dict) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    L = [f"Generated by `{SCRIPT}` on {now} ({seconds:.0f} s); do not edit by hand.", "",
         "# A stack over the cheap scores, leave one repository out", "",
         "## All labeled rows (headline)", "",
         f"Every labeled row of dev.parquet + extra.parquet ({n_rows:,}) with its out-of-fold "
         "classifier score from `.bench/oof_scores.parquet` (scripts/oof_scores.py: the fold "
         "model of repository R never saw R). `markers` and `excess_vocab` are not trained and "
         "score the same texts. For each held-out repository the stack (logistic regression, "
         "classes balanced) is fitted on one of these sets and scores R's rows:", "",
         "- `other repositories`: the other repositories' rows with their own out-of-fold "
         "scores (from fold models that saw R: a small leak into the stack's few coefficients);",
         "- `fold reference`: the other repositories' `calib` rows scored by fold R's model "
         "(never trained on them, never saw R: no leak);",
         f"- `+ web`: plus {n_web} held-back pieces of the training crawl files (never fitted "
         "by any fold model; they set the web side of the classifier's threshold) scored by "
         "fold R's model, as human, together weighing 25% of the fit set's human rows. The web "
         "test files (C4 2019, CC 2020) are never read.", "",
         "Pooled figures over every labeled row, as reports/detectors.md's headline (AUROC; "
         "TPR at the 1%-FPR threshold of the pooled human rows). `transfer FPR`: human rows "
         "flagged at their fold's threshold, set by the shipped rule (the higher of the 1%-FPR "
         "thresholds on the fold's calib human rows and on the held-back web pieces). "
         "`essays`: OUTFOX's human essays flagged at their fold's threshold.", "",
         "Rule fixed before the first all-rows run: highest pooled AUROC; candidates within "
         f"{AUROC_TIE} of it tied, broken by pooled TPR. Ships if TPR gains >= {SHIP_TPR_GAIN} "
         f"over the classifier alone and AUROC is not lower by more than {SHIP_AUROC_LOSS}.", "",
         "| stack | inputs | fit set | LORO AUROC | LORO TPR @ 1% FPR | transfer FPR | "
         "essays flagged |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        mark = " **(chosen)**" if r is win else ""
        L.append(f"| {r['name']}{mark} | {', '.join(r['inputs'])} | {r['fit']} | "
                 f"{_f(r['auroc'])} | {_f(r['tpr'])} | {_f(r['transfer_fpr'])} | "
                 f"{_f(r['essays_fpr'])} |")
    L += ["", f"Chosen: {win['name']} [{win['fit']}]: AUROC {_f(win['auroc'])} vs "
          f"{_f(alone['auroc'])}, TPR {_f(win['tpr'])} vs {_f(alone['tpr'])} (classifier alone)"
          f". {'Ships as `stack`.' if ships else 'Does not meet the bar: not shipped.'}", "",
          "### Per held-out repository (chosen stack vs the classifier alone)", "",
          "| held-out repository | human | ai | AUROC stack / alone | TPR @ 1% FPR stack / "
          "alone | transfer FPR stack / alone |", "|---|---|---|---|---|---|"]
    for a, b in zip(win["folds"], alone["folds"], strict=True):
        L.append(f"| {a['held_out']} | {a['n_human']:,} | {a['n_ai']:,} | {_f(a['auroc'])} / "
                 f"{_f(b['auroc'])} | {_f(a['tpr_at_1fpr'])} / {_f(b['tpr_at_1fpr'])} | "
                 f"{_f(a['fpr_at_threshold'])} / {_f(b['fpr_at_threshold'])} |")
    L += ["", "How often the two added inputs fire on the labeled rows (human / machine): "
          f"a marker {rates['markers'][0]:.2%} / {rates['markers'][1]:.2%}, at least one "
          f"LLM-overused word {rates['excess'][0]:.1%} / {rates['excess'][1]:.1%}; and "
          "machine rows the classifier alone misses at the pooled 1%-FPR threshold that "
          f"fire either: {rates['missed_fired']:.1%}. The capped sample's larger gain (below) "
          "came with weaker fold models (trained on 12-14k rows instead of 31-38k), which left "
          "more for the added inputs to catch.",
          "", "### The chosen stack fitted on every fold's rows at once", "",
          f"Fitted on {fitted['fitted_on']}: "
          + ", ".join(f"{c} {v:+.4f}" for c, v in zip(fitted["inputs"], fitted["coef"],
                                                      strict=True))
          + f"; intercept {fitted['intercept']:+.4f}. "
          + ("These are what ships." if ships else "Not shipped (below the bar); given so the "
             "weights can be read: the classifier carries the score, markers and excess_vocab "
             "add a step for the texts they fire on.")]
    if est:
        c, s_ = est["rows"]["classifier"], est["rows"]["stack"]
        L += ["", "### Does the estimate move? (estimation validation, leave one repository out)",
              "", "The corpora of reports/estimation.md's headline "
              "(`scripts/validate_estimation_ood.run_loro`: per held-out repository and domain, "
              "its own human rows as reference, a disjoint target at known fractions, the "
              "fold's reference machine rows as machine reference), estimated with `auto`, "
              f"{est['replicates']} replicates, {est['n_boot']} bootstrap replicates, once with "
              "the classifier's out-of-fold scores and once with the chosen stack's "
              "(.bench/stack_oof_scores.parquet, same rows, fold thresholds by the shipped "
              "rule), the same draws for both. Over fractions 0-30%:", "",
              "| scores | estimates | MAE (points) | 95% coverage | floor (points) |",
              "|---|---|---|---|---|",
              f"| classifier (out of fold) | {c['n']:,} | {c['mae']:.2f} | {c['coverage']:.0f}% "
              f"| {c['floor']:.2f} |",
              f"| stack (out of fold) | {s_['n']:,} | {s_['mae']:.2f} | {s_['coverage']:.0f}% | "
              f"{s_['floor']:.2f} |"]
    if capped:
        L += ["", "## Capped sample (earlier comparison)", "",
              f"Capped sample ({capped['n']:,} rows, at most {capped['cap'] // 2:,} human and "
              f"{capped['cap'] // 2:,} machine rows per repository, seed {capped['seed']}); "
              f"classifier fold models retrained on it (recipe {capped['recipe']}); the stack "
              "is fitted on the other repositories' rows.", "",
              "| stack | inputs | LORO AUROC | LORO TPR @ 1% FPR |", "|---|---|---|---|"]
        for r in capped["rows"]:
            L.append(f"| {r['name']} | {', '.join(r['inputs'])} | {_f(r['auroc'])} | "
                     f"{_f(r['tpr'])} |")
    return "\n".join(L) + "\n"


def write_stack_oof(data: dict, win: dict, source: Path = OOF, out: Path = STACK_OOF) -> Path:
    """The chosen stack's out-of-fold scores (target rows: fitted without their repository;
    reference rows: the fold's stack) and fold thresholds, in .bench/oof_scores.parquet's
    schema, so the estimation validation can read them as it reads the classifier's."""
    t = pq.read_table(source)
    thr = [win["thresholds"][f] for f in data["fold"]]
    t = t.set_column(t.schema.get_field_index("score"), "score",
                     pa.array(win["scores"], pa.float64()))
    t = t.set_column(t.schema.get_field_index("threshold"), "threshold", pa.array(thr, pa.float64()))
    pq.write_table(t, out)
    return out


def estimation(replicates: int, n_boot: int) -> dict:
    """MAE / coverage / floor over 0-30% (`auto`) on the estimation validation's
    leave-one-repository-out corpora, from the classifier's and from the stack's scores."""
    import validate_estimation as VE
    import validate_estimation_ood as OOD

    out = {}
    for name, path in (("classifier", OOF), ("stack", STACK_OOF)):
        t0 = time.time()
        rows = OOD.run_loro(VE.FRACTIONS, replicates, n_boot, ("auto",), oof=path)
        mae, cov, floor = VE.verdict(rows, "auto")
        out[name] = {"mae": mae, "coverage": cov, "floor": floor, "n": len(rows),
                     "seconds": time.time() - t0}
        print(f"estimation LORO with {name} scores: MAE {mae:.2f}, coverage {cov:.0f}%, "
              f"floor {floor:.2f} ({len(rows)} estimates, {time.time() - t0:.0f}s)", flush=True)
    return {"replicates": replicates, "n_boot": n_boot, "rows": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capped", action="store_true", help="add the capped-sample comparison")
    ap.add_argument("--cap", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--estimate", action="store_true",
                    help="also compare the estimate's LORO error with the stack's scores")
    ap.add_argument("--loro-replicates", type=int, default=10)
    ap.add_argument("--n-boot", type=int, default=100)
    args = ap.parse_args()
    t0 = time.time()
    data = load_all()
    rows = loro_all(data)
    win, alone, ships = choose(rows)
    fitted = fit_all_rows(data, win)
    est = None
    if args.estimate:
        write_stack_oof(data, win)
        est = estimation(args.loro_replicates, args.n_boot)
    capped = run_capped(args.cap, args.seed) if args.capped else None
    n_rows = int((data["role"] == "target").sum())
    REPORT.write_text(markdown(rows, win, alone, ships, n_rows, data["n_web"], fitted, est,
                               capped, time.time() - t0, fire_rates(data)), encoding="utf-8")
    summary = {"generated_by": SCRIPT, "n_rows": n_rows, "ships": ships,
               "chosen": {k: win[k] for k in ("name", "inputs", "fit", "auroc", "tpr",
                                              "transfer_fpr", "essays_fpr")},
               "classifier_alone": {k: alone[k] for k in ("auroc", "tpr", "transfer_fpr",
                                                          "essays_fpr")},
               "estimation": est}
    REPORT.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n",
                                           encoding="utf-8")
    print(f"wrote {REPORT.relative_to(REPO)} in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
