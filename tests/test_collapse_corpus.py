"""The corpus-grounded family on real human texts of the shared development set."""

from __future__ import annotations

import json

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from auditor.collapse import collapse_profile
from auditor.collapse.inputs import texts_from_file
from auditor.collapse.ngram import CorpusLM, tokenize


@pytest.fixture(scope="module")
def human_texts(shared_data) -> list[str]:
    pf = pq.ParquetFile(shared_data / "labeled" / "dev.parquet", pre_buffer=False,
                        buffer_size=1 << 20)
    out: list[str] = []
    for i in range(pf.num_row_groups):
        t = pf.read_row_group(i, columns=["text", "label", "language"])
        t = t.filter(pc.and_(pc.equal(t["label"], "human"), pc.equal(t["language"], "en")))
        out += t["text"].to_pylist()
        if len(out) >= 1500:
            break
    return out[:1500]


@pytest.fixture(scope="module")
def corpus_model(human_texts) -> CorpusLM:
    return CorpusLM(human_texts, samples=200, vocab_size=600, segment_len=24, seed=0)


def test_replace_is_worse_than_accumulate_on_real_human_text(corpus_model):
    p = collapse_profile(1.0, regimes=("replace", "accumulate", "accumulate-subsample"),
                         generations=3, model=corpus_model, n_runs=3, seed=0)
    rep = p.row("replace", 3, "perplexity_ratio")
    acc = p.row("accumulate", 3, "perplexity_ratio")
    sub = p.row("accumulate-subsample", 3, "perplexity_ratio")
    assert rep.low > sub.high and sub.low > acc.high, (rep, sub, acc)
    assert rep.value > 1.3  # a real loss of fit to real documents after 3 generations
    # tails go first: rare real bigram types and vocabulary vanish under replace only
    assert p.row("replace", 3, "vocab_retained").high < 0.9
    assert p.row("accumulate", 3, "vocab_retained").value == 1.0
    assert (p.row("replace", 3, "rare_bigrams_retained").value
            < p.row("accumulate", 3, "rare_bigrams_retained").value)
    assert p.row("replace", 3, "entropy_ratio").value < 1.0
    # perplexity rises generation after generation under replace
    ppl = [r.value for r in p.series("replace", "perplexity")]
    assert ppl == sorted(ppl)


def test_keeping_real_data_limits_the_damage(corpus_model):
    kw = dict(regimes=("replace",), generations=3, model=corpus_model, n_runs=3, seed=1)
    none_kept = collapse_profile(1.0, **kw).row("replace", 3, "perplexity_ratio")
    half_kept = collapse_profile(0.5, **kw).row("replace", 3, "perplexity_ratio")
    clean = collapse_profile(0.0, **kw).row("replace", 3, "perplexity_ratio")
    assert none_kept.value > half_kept.value > clean.value
    assert clean.value == 1.0  # alpha = 0: the same real data, the same model


def test_fresh_real_data_at_alpha_zero_does_not_degrade(corpus_model):
    p = collapse_profile(0.0, regimes=("fresh",), generations=2, model=corpus_model,
                         n_runs=3, seed=2)
    r = p.row("fresh", 2, "perplexity_ratio")
    assert r.low <= 1.03 and r.high >= 0.97


def test_corpus_model_needs_enough_text():
    with pytest.raises(ValueError, match="needs human documents"):
        CorpusLM(["", "   "], samples=10)
    with pytest.raises(ValueError, match="needs at least samples=500"):
        CorpusLM(["a few words here. " * 20] * 5, samples=500, segment_len=8)


def test_tokenize_keeps_words_and_punctuation():
    assert tokenize("It's a Test, isn't it?") == ["it's", "a", "test", ",", "isn't", "it", "?"]


def test_texts_from_files(tmp_path, human_texts):
    import pyarrow as pa

    pq.write_table(pa.table({"text": ["human one", "ai one", "human two"],
                             "label": ["human", "ai", "human"]}), tmp_path / "t.parquet")
    assert texts_from_file(tmp_path / "t.parquet", 10) == ["human one", "human two"]
    good = tmp_path / "t.jsonl"
    good.write_text("\n".join(json.dumps({"text": t}) for t in human_texts[:3]) + "\n")
    assert texts_from_file(good, 2) == human_texts[:2]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{not json\n')
    with pytest.raises(ValueError, match="bad.jsonl: line 2 is not JSON"):
        texts_from_file(bad, 10)
    with pytest.raises(ValueError, match="no column 'body'"):
        texts_from_file(tmp_path / "t.parquet", 10, text_column="body")
    with pytest.raises(ValueError, match="no such file"):
        texts_from_file(tmp_path / "missing.parquet", 10)
