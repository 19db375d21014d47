"""Language: identified offline on real multilingual crawl text, stored as a provenance column,
and a detector that does not declare a document's language leaves it unscored and counted."""

from __future__ import annotations

import shutil

import duckdb
import numpy as np

from auditor.provenance.language import identify_language
from auditor.readers import ReaderOptions, discover, plan_units, read_unit
from auditor.records import Document
from auditor.scan.runner import ScanOptions, run_scan


def _docs(path):
    opts = ReaderOptions()
    return [d for u in plan_units(discover([str(path)]), opts) for d in read_unit(u, opts)
            if isinstance(d, Document)]


def test_language_is_identified_on_real_multilingual_crawl_pages(shared_data):
    docs = _docs(shared_data / "crawl" / "cc-main-2020-34-sample.warc.gz")
    langs = [d.language for d in docs]
    assert None not in [d.language for d in docs if len(d.text) > 500]
    # This Common Crawl sample mixes Chinese and English sites (checked by eye on its pages).
    assert {"zh", "en"} <= set(langs)
    for d in docs:
        if d.language == "zh":
            assert sum("\u4e00" <= c <= "\u9fff" for c in d.text[:300]) > 20
    assert identify_language("Der schnelle braune Fuchs springt über den faulen Hund.") == "de"
    assert identify_language("12 34 56") is None  # too few letters: no guess


def test_metadata_language_wins_over_identification(shared_data):
    docs = _docs(shared_data / "crawl" / "dolma-cc-en-head-2020.jsonl.gz")
    assert docs and all(d.language for d in docs)


def test_out_of_language_documents_are_unscored_and_counted(tmp_path, shared_data):
    src = shared_data / "crawl" / "cc-main-2020-34-sample.warc.gz"
    shutil.copy(src, tmp_path / src.name)
    db = tmp_path / "store.duckdb"
    summary = run_scan([str(tmp_path / src.name)], db, ScanOptions(),
                       detectors="markers,classifier")
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT language, score_classifier, score_markers FROM documents").fetchall()
    con.close()
    non_en = [r for r in rows if r[0] and r[0] != "en"]
    en = [r for r in rows if r[0] == "en"]
    assert non_en and en
    assert all(r[1] is None for r in non_en)  # classifier declares English only
    assert all(r[1] is not None and np.isfinite(r[1]) for r in en)
    assert all(r[2] is not None for r in rows)  # markers: any language
    assert summary.counts["unscored_language_classifier"] == len(non_en)
    assert "unscored_language_markers" not in summary.counts


def test_the_english_fast_path_agrees_with_the_identifier_on_real_rows(shared_data):
    """Batches settle clearly English texts with vectorised counts of function words; on real
    labeled rows (English and the multilingual M4 ones) that path and py3langid agree, and
    non-English rows do not take it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from auditor.provenance import language as lang

    table = pq.read_table(shared_data / "labeled" / "dev.parquet", columns=["text", "language"])
    rows = [(t, lab) for t, lab in zip(table.column("text").to_pylist(),
                                       table.column("language").to_pylist(), strict=True)]
    english = [r for r in rows if r[1] == "en"][:1500]
    other = [r for r in rows if r[1] in ("de", "zh", "ru/uk", "id")][:500]
    texts = pa.array([t for t, _ in english + other], pa.string())
    fast = lang.clearly_english(texts).to_pylist()
    assert sum(fast[:len(english)]) > 0.7 * len(english)  # most English text takes the path
    slow = [lang._identifier().classify(t[:lang.SAMPLE_CHARS])[0] for t, _ in english + other]
    disagree = sum(f and s != "en" for f, s in zip(fast, slow, strict=True))
    assert disagree <= 0.01 * sum(fast)
    assert fast[len(english):].count(True) < 0.2 * len(other)  # M4 mixes some English in
    # one rule on both read paths: the batch array equals the per-document function
    assert lang.fill_language_array(None, texts).to_pylist() == [
        lang.identify_language(t) for t, _ in english + other]


def test_the_early_stopping_english_kernel_equals_counting_the_words(shared_data):
    """The fast path asks one regex for "eight function words" instead of counting them all;
    on real rows (English, multilingual M4, and texts cut so they hold fewer words) it gives
    exactly the counting rule, on the UTF-8 kernels and on the ASCII byte kernels."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from auditor.provenance import language as lang

    texts = pq.read_table(shared_data / "labeled" / "dev.parquet",
                          columns=["text"]).column("text").combine_chunks().cast(pa.string())
    texts = pa.concat_arrays([texts.slice(0, 4000),
                              pc.utf8_slice_codeunits(texts.slice(4000, 2000), 0, 60)])

    def counted(arr):
        sample = pc.utf8_lower(pc.utf8_slice_codeunits(arr, 0, lang.SAMPLE_CHARS))
        words = pc.count_substring_regex(sample, lang._ENGLISH_WORDS)
        the = pc.count_substring_regex(sample, r"\bthe\b")
        return pc.fill_null(pc.and_(pc.greater_equal(words, lang.ENGLISH_MIN_WORDS),
                                    pc.greater_equal(the, 1)), False).to_pylist()

    want = counted(texts)
    assert 0 < sum(want) < len(want)  # both outcomes occur
    assert lang.clearly_english(texts).to_pylist() == want
    ascii_texts = texts.filter(pc.string_is_ascii(texts))
    assert len(ascii_texts) > 1000
    assert (lang.clearly_english(ascii_texts, ascii_only=True).to_pylist()
            == counted(ascii_texts))
