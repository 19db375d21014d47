"""The token estimate (`records.estimate_tokens`): whitespace words plus the characters of
scripts written without spaces, the same number from Python strings and from Arrow's UTF-8
bytes, stored by a scan, and a store scanned under older row rules read again."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.readers.textstats import (
    arrow_token_counts,
    arrow_unspaced_chars,
    token_counts,
    unspaced_counts,
)
from auditor.records import TOKENS_PER_WORD, estimate_tokens, unspaced_chars
from auditor.scan import ScanOptions
from auditor.scan.runner import run_scan
from auditor.store import open_store


def labeled_texts(shared_data, per_language: int = 150) -> list[str]:
    """Real texts in every language of the labeled set (Chinese among them), a sample each."""
    rng = np.random.default_rng(3)
    out = []
    for name in ("dev", "extra"):
        table = pq.read_table(shared_data / "labeled" / f"{name}.parquet",
                              columns=["text", "language"])
        languages = np.array(table.column("language").to_pylist())
        for language in sorted(set(languages)):
            rows = np.flatnonzero(languages == language)
            pick = rng.choice(rows, min(per_language, rows.size), replace=False)
            out += table.column("text").take(pa.array(np.sort(pick))).to_pylist()
    return out


def test_words_count_for_spaced_scripts_characters_for_unspaced_ones():
    assert estimate_tokens("the river and the city") == round(5 * TOKENS_PER_WORD)
    assert estimate_tokens("") == 0
    # one whitespace "word" of 13 Han characters and a full stop (not counted)
    chinese = "我们今天去公园散步天气很好。"
    assert unspaced_chars(chinese) == 13
    assert estimate_tokens(chinese) == round(1 * TOKENS_PER_WORD + 13)
    assert unspaced_chars("ひらがな カタカナ") == 8  # kana
    assert unspaced_chars("สวัสดี") == 6  # Thai, combining marks included
    assert unspaced_chars("\U00020000\U0001f600") == 1  # CJK Extension B yes, an emoji no
    assert unspaced_chars("Привет, мир") == 0  # Cyrillic is written with spaces


def test_the_estimate_of_real_texts_is_the_same_from_python_and_from_arrow(shared_data):
    texts = labeled_texts(shared_data)
    assert any(unspaced_chars(t) > 100 for t in texts)  # the Chinese texts are there
    expected = [estimate_tokens(t) for t in texts]
    assert token_counts(texts).tolist() == expected
    arr = pa.array(texts, pa.string())
    assert arrow_token_counts(arr).tolist() == expected
    assert arrow_token_counts(arr.cast(pa.large_string())).tolist() == expected
    assert arrow_token_counts(arr.slice(7)).tolist() == expected[7:]  # an offset array
    assert arrow_unspaced_chars(arr).tolist() == unspaced_counts(texts).tolist()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(
    [" ", "a", "\u00e9", "\u0e01", "\u0e40", "\u0eff", "\u0f00", "\u109f", "\u10a0", "\u1780",
     "\u3000", "\u3040", "\u30ff", "\u3100", "\u4e00", "\u9fff", "\ua000", "\uf900", "\ufaff",
     "\U00020000", "\U0003134f", "\U00031350", "\U0001f600", "\u2028", "\n"]),
    max_size=12), max_size=30), st.integers(0, 4))
def test_arrow_unspaced_chars_is_the_python_rule_at_every_range_edge(texts, start):
    arr = pa.array(texts, pa.string()).slice(min(start, len(texts)))
    rest = texts[min(start, len(texts)):]
    assert arrow_unspaced_chars(arr).tolist() == [unspaced_chars(t) for t in rest]
    assert arrow_token_counts(arr).tolist() == [estimate_tokens(t) for t in rest]


def test_a_scan_stores_the_estimate_of_chinese_text(shared_data, tmp_path):
    table = pq.read_table(shared_data / "labeled" / "dev.parquet",
                          columns=["id", "text", "language"])
    zh = table.filter(pa.compute.equal(table.column("language"), "zh")).slice(0, 200)
    assert zh.num_rows == 200
    path = tmp_path / "zh.parquet"
    pq.write_table(zh, path)
    db = str(tmp_path / "zh.duckdb")
    run_scan([str(path)], db, ScanOptions(), detectors="none")
    with open_store(db, read_only=True) as store:
        rows = store.con.execute("SELECT id, n_tokens FROM documents").fetchall()
    stored = dict(rows)
    texts = dict(zip(zh.column("id").to_pylist(), zh.column("text").to_pylist(), strict=True))
    assert stored == {i: estimate_tokens(t) for i, t in texts.items()}
    # the texts written in Chinese (some rows labeled zh are English): by whitespace words
    # alone each was a handful of tokens
    chinese = {i: t for i, t in texts.items() if unspaced_chars(t) >= 50}
    assert len(chinese) >= 50
    assert all(stored[i] >= unspaced_chars(t) for i, t in chinese.items())
    words = sum(round(len(t.split()) * TOKENS_PER_WORD) for t in chinese.values())
    assert sum(stored[i] for i in chinese) > 10 * words


def test_units_stored_under_older_row_rules_are_read_again(tmp_path, monkeypatch):
    path = tmp_path / "en.parquet"
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(40)],
                             "text": [f"the river and the city number {i}" for i in range(40)]}),
                   path)
    db = str(tmp_path / "en.duckdb")
    first = run_scan([str(path)], db, ScanOptions(), detectors="none")
    assert first.counts["units_scanned"] == 1
    again = run_scan([str(path)], db, ScanOptions(), detectors="none")
    assert again.counts["units_scanned"] == 0  # same rules: reused
    import auditor.scan.options as options

    monkeypatch.setattr(options, "PROVENANCE_RULES_VERSION", options.PROVENANCE_RULES_VERSION + 1)
    newer = run_scan([str(path)], db, ScanOptions(), detectors="none")
    assert newer.counts["units_scanned"] == 1
    with open_store(db, read_only=True) as store:
        assert store.con.execute("SELECT count(*) FROM documents").fetchall() == [(40,)]
