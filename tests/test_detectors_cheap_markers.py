"""Markers detector: fires with the right reason on real signatures, stays silent on human text."""

from __future__ import annotations

import re

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import detectors
from detectors.markers import TEXT_MARKERS, MarkersDetector

CASES = [
    ("As an AI language model, I cannot browse the internet.", "as_an_ai_language_model"),
    ("I'm sorry, but I can't assist with that.", "sorry_cannot_assist"),
    ("I cannot fulfill this request because it violates policy.", "cannot_fulfill"),
    ("As of my last knowledge update in September 2021, the company was private.",
     "knowledge_cutoff"),
    ("Certainly! Here's a short poem about the sea:\nWaves...", "certainly_heres"),
    ("Here is the revised version of your paragraph: The study shows...",
     "heres_revised_version"),
    ("<|im_start|>assistant\nThe capital of France is Paris.<|im_end|>", "chatml_token"),
    ("[INST] Write a story [/INST] Once upon a time", "llama_inst"),
    ("<|assistant|> Hello there", "role_token"),
    ("The answer is 42.\n\nRegenerate response", "regenerate_response"),
    ("You said: hi\nChatGPT said: Hello! How can I help?", "chatgpt_said"),
    ("The end of the sample.<|endoftext|>Another one", "endoftext_token"),
    ("Use this:\npython\nCopy code\nprint('hi')", "copy_code_button"),
    ("As a large language model, my answers may be wrong.", "as_a_large_language_model"),
    ("I am an AI assistant and cannot see images.", "i_am_an_ai"),
    ("As an AI assistant, I recommend checking the manual.", "as_an_ai_assistant"),
    ("I was trained by OpenAI on a large corpus.", "trained_by_openai"),
    ("I don't have real-time data about the stock price.", "no_realtime_access"),
    ("My knowledge cutoff is 2023, so newer events are missing.", "my_knowledge_cutoff"),
    ("<|start_header_id|>assistant<|end_header_id|> Hi", "llama3_header"),
    ("<start_of_turn>model\nHello<end_of_turn>", "gemma_turn"),
    ("I don't have personal opinions, but here are some views.", "no_personal_opinions"),
    ("Restart the router. I hope this helps!", "i_hope_this_helps"),
    ("I apologize for the confusion in my previous answer.", "apologize_confusion"),
    ("### Instruction:\nSummarise the text.\n### Response:\nThe text...", "alpaca_template"),
]


@pytest.mark.parametrize(("text", "marker"), CASES)
def test_marker_fires_with_its_reason(text: str, marker: str) -> None:
    det = MarkersDetector()
    scores, reasons = det.score_and_reasons([text])
    weight = next(m.weight for m in TEXT_MARKERS if m.name == marker)
    assert scores[0] >= weight > 0
    assert marker in reasons[0].split(";")
    assert det.score([text.upper()])[0] == scores[0]  # case-insensitive


def test_every_marker_has_a_case_and_lower_case_anchors() -> None:
    assert {m for _, m in CASES} == {m.name for m in TEXT_MARKERS}
    for m in TEXT_MARKERS:
        assert m.anchors and all(a == a.lower() for a in m.anchors), m.name
        re.compile(m.pattern)


def test_plain_human_text_scores_zero() -> None:
    texts = [
        "The council voted on Tuesday to extend the library's opening hours.",
        "I hope you are well. Here is the report you asked for.",
        "She said: the model of the bridge was built at a scale of 1:50.",
        "Of course, the instructions were unclear.",
    ]
    det = MarkersDetector()
    scores, reasons = det.score_and_reasons(texts)
    assert np.all(scores == 0.0)
    assert reasons == [None] * len(texts)


def test_metadata_markers() -> None:
    det = MarkersDetector()
    texts = ["A page.", "A page.", "A page.", "A page.", "A page."]
    metas = [
        {"html_generator": "Jasper AI content writer"},
        {"html_generator": "WordPress 6.4.2"},
        {"digital_source_type": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"},
        {"digital_source_type": "compositeWithTrainedAlgorithmicMedia"},
        None,
    ]
    scores, reasons = det.score_and_reasons(texts, metas=metas)
    assert scores[0] == 1.0 and reasons[0] == "meta:html_generator=jasper"
    assert scores[1] == 0.0 and reasons[1] is None
    assert scores[2] == 1.0 and "trained_algorithmic_media" in reasons[2]
    assert 0 < scores[3] < 1.0 and "composite" in reasons[3]
    assert scores[4] == 0.0
    with pytest.raises(ValueError, match="2 texts but 1 metas"):
        det.score(["a", "b"], metas=[{}])


def test_registry_builds_markers() -> None:
    det = detectors.load("markers")
    assert det.gives_reasons and det.tier == "cheap"


def test_no_false_positive_on_dev_human_rows(shared_data) -> None:
    """Precision check on real human text (a seeded sample of the dev set's human rows)."""
    table = pq.read_table(shared_data / "labeled" / "dev.parquet", columns=["text", "label"])
    human = table.filter(pc.equal(table["label"], "human"))
    rng = np.random.default_rng(3)
    idx = rng.choice(human.num_rows, size=2000, replace=False)
    texts = human.take(idx)["text"].to_pylist()
    scores = MarkersDetector().score(texts)
    assert (scores > 0).mean() <= 0.002
