"""What identifying every document's language costs the scan, per document, and what loading
py3langid's model costs a process.

The scan stores a language for every document (`auditor.provenance.language`): an Arrow-kernel
test settles clearly English texts ("fast path"), py3langid identifies the rest, all of a
batch at once (`identify_languages`, `language_model.BatchClassifier`). This times, per
document and against baselines measured in the same run:

- the batched path against py3langid one text at a time (`identify_language`, the path the
  scan took before) on real texts the fast path does not settle: the labeled development and
  extra sets (`../shared/data/labeled`: Chinese, Spanish, Portuguese, German, Russian,
  Indonesian, and English the fast path leaves), and the crawl samples' documents
  (`../shared/data/crawl`: WARC, WET, JSON lines) cut into 300-character windows;
- the whole of `fill_language_array` on the scan benchmark's generated English corpus
  (`scripts/bench_scan.py`'s, 2 KB documents);
- turning the same texts into Python strings (`to_pylist`), the least per-document Python
  work costs, as a floor;
- loading the model: from py3langid's LZMA-compressed file (a cold cache, as the first run on
  a machine) against the cached uncompressed arrays, and the same for the letter table.

CPU seconds of this process, fastest of --repeat runs each (the machine is shared). Writes
reports/language_bench.md.

    python scripts/bench_language.py [--docs 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import bench_scan  # noqa: E402  (the scan benchmark's corpus)
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from auditor.provenance import language_model  # noqa: E402
from auditor.provenance.language import (  # noqa: E402
    SAMPLE_CHARS,
    _letter_table,
    _loaded,
    clearly_english,
    fill_language_array,
    identify_language,
    identify_languages,
)
from auditor.readers import ReaderOptions, discover, plan_units, read_unit  # noqa: E402
from auditor.records import Document  # noqa: E402

SCRIPT = "scripts/bench_language.py"
SHARED = REPO.parent / "shared" / "data"
BATCH = 10_000  # rows per Arrow batch, as a scan's record batches
WINDOW = 300  # crawl documents are cut into windows of this many characters


def fastest(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def batches(arr: pa.Array) -> list[pa.Array]:
    return [arr.slice(i, BATCH) for i in range(0, len(arr), BATCH)]


def unsettled(texts: pa.Array) -> pa.Array:
    """The texts the English fast path leaves to py3langid."""
    return texts.filter(pc.invert(clearly_english(texts)))


def labeled_texts() -> pa.Array:
    parts = [pq.read_table(SHARED / "labeled" / f, columns=["text"]).column("text")
             for f in ("dev.parquet", "extra.parquet")]
    return pa.chunked_array([c.cast(pa.string()) for p in parts for c in p.chunks]
                            ).combine_chunks()


def crawl_texts() -> pa.Array:
    opts = ReaderOptions()
    texts = []
    for path in sorted((SHARED / "crawl").iterdir()):
        if path.suffix != ".md":
            for unit in plan_units(discover([str(path)]), opts):
                texts += [d.text for d in read_unit(unit, opts) if isinstance(d, Document)]
    return pa.array([t[i:i + WINDOW] for t in texts for i in range(0, len(t), WINDOW)],
                    pa.string())


@contextlib.contextmanager
def engine(batch):
    """identify_languages with another BatchClassifier (the numpy walk) for a while."""
    import auditor.provenance.language as lang

    saved = lang._LOADED[0]
    lang._LOADED[0] = (saved[0], batch, saved[2])
    try:
        yield
    finally:
        lang._LOADED[0] = saved


FRESH_LOAD = """
import resource, threading, time
t0 = time.perf_counter()
from auditor.provenance.language import _loaded
_loaded()
ready = time.perf_counter() - t0
import sys
from auditor.provenance import language_model
if sys.argv[1:] == ["product"]:  # the WARM_AFTER_TEXTS step alone: scipy's import
    language_model._start_warming(_loaded()[1], "product")
else:  # both steps at once (the second comes at COMPILE_AFTER_TEXTS)
    _loaded()[1].warm()
for t in threading.enumerate():
    if t.name == "auditor-langid-kernel":
        t.join()
compiled = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
print(ready, compiled, ru.ru_utime + ru.ru_stime)
"""
#: The load before batching: py3langid's own, from its LZMA-compressed model.
FRESH_LOAD_BEFORE = """
import resource, time
t0 = time.perf_counter()
from py3langid.langid import MODEL_FILE, LanguageIdentifier
LanguageIdentifier.from_model_file(MODEL_FILE)
ready = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
print(ready, ready, ru.ru_utime + ru.ru_stime)
"""


def fresh_process_loads(repeat: int) -> dict[str, tuple[float, float, float]]:
    """(s until identification can start, s until the compiled kernel is ready too, CPU s of
    the whole process) in a new Python process: py3langid's own load (before), and
    `_loaded()` with empty caches, then with them filled."""
    folder = Path(tempfile.mkdtemp(prefix="bench-language-fresh-"))
    env = dict(os.environ, XDG_CACHE_HOME=str(folder / "xdg"),
               NUMBA_CACHE_DIR=str(folder / "numba"), PYTHONPATH=str(REPO))

    def run(code: str, *args: str) -> tuple[float, float, float]:
        out = subprocess.run([sys.executable, "-c", code, *args], env=env, check=True,
                             capture_output=True, text=True).stdout.split()
        return float(out[0]), float(out[1]), float(out[2])

    inf = (float("inf"),) * 3
    found = {"before": inf, "empty": inf, "filled": inf, "product": inf}
    try:
        for _ in range(repeat):
            shutil.rmtree(folder, ignore_errors=True)
            found["before"] = min(found["before"], run(FRESH_LOAD_BEFORE))
            found["empty"] = min(found["empty"], run(FRESH_LOAD))
            found["filled"] = min(found["filled"], run(FRESH_LOAD))
            found["product"] = min(found["product"], run(FRESH_LOAD, "product"))
        return found
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def wait_for_kernel(batch) -> None:
    """The per-document timings are of the steady state: the compiled walk, once ready."""
    import threading

    batch.warm()
    for t in threading.enumerate():
        if t.name == "auditor-langid-kernel":
            t.join()


def peak_bytes(fn) -> int:
    """The most `fn` has allocated at once, by tracemalloc (numpy reports its arrays)."""
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def load_times(repeat: int) -> list[tuple[str, float, float]]:
    """(what, cold s, cached s): each load in this process, the cache in a fresh folder."""
    folder = Path(tempfile.mkdtemp(prefix="bench-language-cache-"))
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    try:
        out = []
        for what, load in (("py3langid model (`load_identifier`)",
                            language_model.load_identifier),
                           ("letter table (`_letter_table`)", _letter_table)):
            cold = cached = float("inf")
            for _ in range(repeat):
                shutil.rmtree(folder / language_model.CACHE_FOLDER, ignore_errors=True)
                cold = min(cold, fastest(load, 1))
                cached = min(cached, fastest(load, 1))
            out.append((what, cold, cached))
        return out
    finally:
        if old is None:
            del os.environ["XDG_CACHE_HOME"]
        else:
            os.environ["XDG_CACHE_HOME"] = old
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "reports" / "language_bench.md"))
    args = ap.parse_args()

    (REPO / ".bench").mkdir(exist_ok=True)
    path, _ = bench_scan.corpus(REPO / ".bench", args.docs)
    english = batches(pq.read_table(path, columns=["text"]).column("text").combine_chunks())
    loads = load_times(args.repeat)
    fresh = fresh_process_loads(args.repeat)
    _loaded()  # the model's one-off load is start-up, not per-document cost

    identifier, batch, _ = _loaded()
    numpy_batch = language_model.BatchClassifier.of(identifier, engine="numpy")
    wait_for_kernel(batch)
    rows = []
    for what, arr in (("labeled dev + extra, not settled by the fast path",
                       unsettled(labeled_texts())),
                      (f"crawl documents in {WINDOW}-character windows, not settled by the "
                       "fast path", unsettled(crawl_texts()))):
        py = arr.to_pylist()
        base = fastest(lambda a=arr: [b.to_pylist() for b in batches(a)], args.repeat)
        one = fastest(lambda p=py: [identify_language(t) for t in p], args.repeat)
        many = fastest(lambda a=arr: [identify_languages(b) for b in batches(a)], args.repeat)
        with engine(numpy_batch):
            many_np = fastest(lambda a=arr: [identify_languages(b) for b in batches(a)],
                              args.repeat)
        fill = fastest(lambda a=arr: [fill_language_array(None, b) for b in batches(a)],
                       args.repeat)
        want = [identify_language(t) for t in py]
        same = sum(a == b for a, b in zip(identify_languages(arr), want, strict=True))
        with engine(numpy_batch):
            same_np = sum(a == b for a, b in zip(identify_languages(arr), want, strict=True))
        samples = [identifier._encode(t[:SAMPLE_CHARS])
                   for t, w in zip(py, want, strict=True) if w is not None]
        deferred = sum(g is None for g in batch.classify(samples))
        rows.append((what, len(py), one, many, many_np, fill, base, min(same, same_np),
                     deferred, len(samples), len({w for w in want if w})))

    memory_batch = batches(unsettled(labeled_texts()))[0]
    peaks = {"compiled walk": peak_bytes(lambda: identify_languages(memory_batch))}
    with engine(numpy_batch):
        peaks["numpy walk"] = peak_bytes(lambda: identify_languages(memory_batch))
    peaks["one at a time"] = peak_bytes(
        lambda: [identify_language(t) for t in memory_batch.to_pylist()])

    n_en = sum(len(b) for b in english)
    base_en = fastest(lambda: [b.to_pylist() for b in english], args.repeat)
    fast_en = fastest(lambda: [fill_language_array(None, b) for b in english], args.repeat)
    found = pc.value_counts(pa.concat_arrays([fill_language_array(None, b) for b in english]))
    settled = {d["values"]: d["counts"] for d in found.to_pylist()}

    us = 1e6
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"Generated by `{SCRIPT} --docs {args.docs} --repeat {args.repeat}` on {now}; "
             "do not edit by hand.", "",
             "# Language identification: cost per document, and the model's load", "",
             f"Machine: {platform.machine()}, Python {platform.python_version()}, 2 shared "
             f"cores. CPU seconds of this process (fastest of {args.repeat}), per document. "
             f"Batches of {BATCH:,} rows, as the scan's record batches; the model is loaded "
             "before the per-document timings (a one-off start-up cost, timed below).", "",
             "## Texts the English fast path leaves to py3langid", "",
             "One text at a time: `identify_language` (py3langid's `classify` per text, the "
             "scan's path before batching). Batched: `identify_languages` over each batch "
             "(fast path, letter count, then `BatchClassifier` on all the batch's texts), "
             f"with the compiled walk ({'numba' if batch.worth_batching(2) else 'numpy'} "
             "here, the default where numba imports) and with the numpy walk. "
             "`fill_language_array`: the scan's call (Arrow in, Arrow out), default walk. "
             "Baseline: `to_pylist` of the same batches. Deferred: texts the batch "
             "classifier leaves to py3langid (near ties); equal: texts whose batched "
             "language equals the one-at-a-time one, both walks.", "",
             "| texts | documents | languages found | one at a time us/doc | batched us/doc "
             "| batched, numpy walk us/doc | fill_language_array us/doc | one at a time / "
             "batched | one at a time / numpy walk | baseline us/doc | equal | deferred |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for what, n, one, many, many_np, fill, base, same, deferred, classified, n_langs in rows:
        lines.append(f"| {what} | {n:,} | {n_langs} | {one / n * us:.1f} | "
                     f"{many / n * us:.1f} | {many_np / n * us:.1f} | {fill / n * us:.1f} | "
                     f"{one / many:.1f}x | {one / many_np:.1f}x | {base / n * us:.2f} | "
                     f"{same:,} of {n:,} | {deferred} of {classified:,} |")
    lines += ["", "Memory: the most a batch of "
              f"{len(memory_batch):,} of the labeled texts above allocates at once "
              "(tracemalloc's peak, numpy's arrays included; the model's arrays are not "
              "copied): "
              + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in peaks.items()) + "."]
    lines += ["", "## Generated English corpus (the scan benchmark's, 2 KB documents)", "",
              "| documents | fill_language_array us/doc | baseline us/doc | x baseline |",
              "|---:|---:|---:|---:|",
              f"| {n_en:,} | {fast_en / n_en * us:.2f} | {base_en / n_en * us:.2f} | "
              f"{fast_en / base_en:.1f} |", "",
              "Languages it found there: " + ", ".join(
                  f"{k}: {v:,}" for k, v in sorted(settled.items(), key=str)) + ".", "",
              "## Loading, once per process", "",
              "Cold: no cache (py3langid's LZMA-compressed `model.npz.xz`, or the letter "
              "regex over every code point), then the cache is written (included). Cached: "
              "the next load, from the uncompressed arrays in the cache folder. CPU seconds, "
              f"fastest of {args.repeat}, cache in a fresh temporary folder each time.", "",
              "| what | cold s | cached s | cold / cached |", "|---|---:|---:|---:|"]
    for what, cold, cached in loads:
        lines.append(f"| {what} | {cold:.3f} | {cached:.3f} | {cold / cached:.1f}x |")
    lines += ["", "A new Python process, from `import` (numpy's included) to when it can "
              "identify a language: before (py3langid's own load, as the scan did), and now "
              "(`_loaded()`: the model's arrays and the letter table), with empty caches "
              "(model and letter table in a fresh `XDG_CACHE_HOME`, numba's in a fresh "
              "`NUMBA_CACHE_DIR`: a machine's first run) and filled. The batch path is readied "
              "in a background thread: scipy's import once a process has sent "
              f"`WARM_AFTER_TEXTS` ({language_model.WARM_AFTER_TEXTS:,}) texts to "
              "identification (texts going one at a time meanwhile), numba's import and the "
              "kernel's compile, or its cache, once it has sent `COMPILE_AFTER_TEXTS` "
              f"({language_model.COMPILE_AFTER_TEXTS:,}; texts going through the numpy walk "
              "meanwhile); here both are started right after the load: `compiled walk ready` "
              "is when that thread ends; CPU s is the whole process's, that thread included (a "
              f"process that never reaches {language_model.WARM_AFTER_TEXTS:,} texts spends "
              f"only the load's). Fastest of {args.repeat}.", "",
              "| load | identification can start s | compiled walk ready s | CPU s |",
              "|---|---:|---:|---:|",
              f"| before: py3langid's own | {fresh['before'][0]:.2f} | - | "
              f"{fresh['before'][2]:.2f} |"]
    for key, what in (("empty", "now, caches empty"), ("filled", "now, caches filled"),
                      ("product", "now, caches filled, scipy's import only (the "
                       "`WARM_AFTER_TEXTS` step)")):
        ready, compiled, cpu = fresh[key]
        lines.append(f"| {what} | {ready:.2f} | {compiled:.2f} | {cpu:.2f} |")
    # the COMPILE_AFTER_TEXTS step: its CPU against what the compiled walk saves a text
    numba_cpu = fresh["filled"][2] - fresh["product"][2]
    saved = [(many_np - many) / n for _, n, _, many, many_np, *_ in rows]
    lines += ["", f"The `COMPILE_AFTER_TEXTS` step (numba's import and the kernel from its "
              f"cache, caches filled) costs {numba_cpu:.2f} s of CPU (the two rows above "
              "subtracted); the compiled walk saves "
              + " and ".join(f"{x * us:.1f} us" for x in saved)
              + " a text over the numpy walk (the two text sets above), so it pays back after "
              + " and ".join(f"{numba_cpu / x:,.0f}" for x in saved if x > 0)
              + f" texts; `COMPILE_AFTER_TEXTS` is {language_model.COMPILE_AFTER_TEXTS:,}.", ""]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
