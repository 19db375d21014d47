"""How close the stored token estimate (`n_tokens`, `auditor.records.estimate_tokens`) comes to
a real tokenizer's count in each language, before and after unspaced-script characters were
counted, and what that costs the scan's kernel.

Why: `n_tokens` was whitespace words * 1.3. A Chinese or Japanese text has few spaces, so a
paragraph was one "word": token-weighted estimates (`--weight tokens`) and every report's
"tokens (est.)" counted such a source at a small fraction of its size. Now characters of the
scripts written without spaces (Han, kana, Thai, Lao, Khmer, Myanmar) count one token each.

Accuracy: real texts of ../shared/data/labeled (dev and extra), up to --per-language a language
(seeded), against the one tokenizer this machine has offline, SmolLM2-135M's (a byte-level BPE
trained mostly on English: it gives non-English text more tokens than multilingual tokenizers,
so every estimate reads low against it outside English; the ratio per language is what moves).
Cost: `arrow_token_counts` against `arrow_word_counts` alone (the kernel before) on the same
Arrow batches, best of --repeats: the scan benchmark's English corpus (.bench/corpus_100000
.parquet from scripts/bench_scan.py, when present) and the labeled texts.

    python scripts/bench_token_estimate.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from auditor.readers.textstats import arrow_token_counts, arrow_word_counts  # noqa: E402
from auditor.records import TOKENS_PER_WORD, estimate_tokens  # noqa: E402

LABELED = REPO.parent / "shared" / "data" / "labeled"


def labeled(per_language: int, seed: int) -> tuple[list[str], list[str]]:
    """(texts, languages): up to `per_language` texts of each language, all files together."""
    texts, languages = [], []
    for name in ("dev", "extra"):
        table = pq.read_table(LABELED / f"{name}.parquet", columns=["text", "language"])
        texts += table.column("text").to_pylist()
        languages += table.column("language").to_pylist()
    rng = np.random.default_rng(seed)
    rows = defaultdict(list)
    for i, language in enumerate(languages):
        rows[language].append(i)
    pick = sorted(int(i) for idx in rows.values()
                  for i in rng.choice(idx, min(per_language, len(idx)), replace=False))
    return [texts[i] for i in pick], [languages[i] for i in pick]


def accuracy(texts: list[str], languages: list[str]) -> list[dict]:
    from detectors.lm_loading import load_tokenizer

    tokenizer = load_tokenizer()
    true = np.array([len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts],
                    dtype=np.float64)
    old = np.array([round(len(t.split()) * TOKENS_PER_WORD) for t in texts], dtype=np.float64)
    new = np.array([estimate_tokens(t) for t in texts], dtype=np.float64)
    rows = []
    groups = defaultdict(list)
    for i, language in enumerate(languages):
        groups[language].append(i)
    for language, idx in [*sorted(groups.items()), ("all", list(range(len(texts))))]:
        idx = np.array(idx)
        t = np.maximum(true[idx], 1)
        rows.append({"language": language, "texts": idx.size,
                     "old_ratio": float(np.median(old[idx] / t)),
                     "new_ratio": float(np.median(new[idx] / t)),
                     "old_within2": float(np.mean((old[idx] / t >= 0.5) & (old[idx] / t <= 2))),
                     "new_within2": float(np.mean((new[idx] / t >= 0.5) & (new[idx] / t <= 2))),
                     "old_sum": float(old[idx].sum() / t.sum()),
                     "new_sum": float(new[idx].sum() / t.sum())})
    return rows


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cost(name: str, batches: list[pa.Array], repeats: int) -> dict:
    docs = sum(len(b) for b in batches)
    before = best(lambda: [arrow_word_counts(b) for b in batches], repeats)
    after = best(lambda: [arrow_token_counts(b) for b in batches], repeats)
    return {"corpus": name, "docs": docs, "mb": sum(b.nbytes for b in batches) / 1e6,
            "before_s_per_1m": before * 1e6 / docs, "after_s_per_1m": after * 1e6 / docs,
            "ratio": after / before}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-language", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "reports" / "token_estimate.md"))
    args = ap.parse_args()
    texts, languages = labeled(args.per_language, args.seed)
    acc = accuracy(texts, languages)
    batches = []
    english = REPO / ".bench" / "corpus_100000.parquet"
    costs = []
    if english.exists():
        pf = pq.ParquetFile(english)
        batches = [pf.read_row_group(i, columns=["text"]).column(0).combine_chunks()
                   for i in range(min(5, pf.metadata.num_row_groups))]
        costs.append(cost("scan benchmark's English corpus (ASCII)", batches, args.repeats))
    everything = pa.concat_arrays([pq.read_table(LABELED / f"{n}.parquet", columns=["text"])
                                   .column(0).combine_chunks().cast(pa.string())
                                   for n in ("dev", "extra")])
    real = [everything.slice(i, 10_000) for i in range(0, len(everything), 10_000)]
    costs.append(cost("labeled texts, all 7 languages (77,242 texts)", real, args.repeats))

    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["<!-- generated by scripts/bench_token_estimate.py; do not edit by hand -->",
             "# The token estimate against a tokenizer", "",
             f"Generated by `scripts/bench_token_estimate.py --per-language {args.per_language} "
             f"--seed {args.seed} --repeats {args.repeats}` on {when}, Python "
             f"{platform.python_version()}.", "",
             "`n_tokens` was whitespace words x 1.3 (old). It is now words x 1.3 plus one token "
             "per character of the scripts written without spaces between words (Han, kana, "
             "Thai, Lao, Khmer, Myanmar) (new, `auditor.records.estimate_tokens`). Measured on "
             "real texts of ../shared/data/labeled (dev and extra), up to "
             f"{args.per_language} per language, against SmolLM2-135M's tokenizer, the one "
             "this machine has offline: a byte-level BPE trained mostly on English, which gives "
             "non-English text more tokens than multilingual tokenizers do (Llama 3 or Qwen "
             "give a Chinese character roughly 0.7-1.5 tokens, SmolLM2 about 2), so outside "
             "English every estimate reads low against it. The language is the data set's "
             "label; some rows labeled zh are English.", "",
             "| language | texts | median estimate / tokenizer, old | new | within x2, old | "
             "new | total estimate / total tokens, old | new |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in acc:
        lines.append(f"| {r['language']} | {r['texts']:,} | {r['old_ratio']:.3f} | "
                     f"{r['new_ratio']:.3f} | {r['old_within2']:.0%} | {r['new_within2']:.0%} | "
                     f"{r['old_sum']:.3f} | {r['new_sum']:.3f} |")
    lines += ["", "## What it costs the scan's kernel", "",
              "`arrow_token_counts` (words and unspaced characters) against `arrow_word_counts` "
              f"(words only, the kernel before) on the same Arrow batches, best of "
              f"{args.repeats}; seconds per million documents. ASCII batches skip the new "
              "pass (no byte of them can start an unspaced character).", "",
              "| corpus | docs | MB | before (s / 1M docs) | after | after / before |",
              "|---|---:|---:|---:|---:|---:|"]
    for c in costs:
        lines.append(f"| {c['corpus']} | {c['docs']:,} | {c['mb']:.0f} | "
                     f"{c['before_s_per_1m']:.2f} | {c['after_s_per_1m']:.2f} | "
                     f"{c['ratio']:.2f}x |")
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
