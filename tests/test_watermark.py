"""Watermark round trip: a tiny model generates with a green-list watermark and a key; the
detector, given the same tokenizer and key, finds it (z > 4); plain text stays below 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import detectors  # noqa: E402
from detectors.watermark import WatermarkZDetector, load_watermark_config  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_lm import build_tiny_lm, sentence  # noqa: E402

KEY = 424242


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("wm_tiny"), seed=3)


def _generate(folder: Path, watermark: bool, seed: int, key: int = KEY) -> list[str]:
    from transformers import AutoModelForCausalLM, AutoTokenizer, WatermarkingConfig

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder)).eval()
    prompts = tok(["the story of the river", "a study of the people"], return_tensors="pt")
    kwargs = {}
    if watermark:
        kwargs["watermarking_config"] = WatermarkingConfig(bias=3.0, hashing_key=key)
    torch.manual_seed(seed)
    with torch.inference_mode():
        out = model.generate(**prompts, do_sample=True, max_new_tokens=80, min_new_tokens=80,
                             pad_token_id=tok.pad_token_id, **kwargs)
    new = out[:, prompts["input_ids"].shape[1]:]
    return tok.batch_decode(new, skip_special_tokens=True)


def test_watermark_round_trip(tiny):
    marked = _generate(tiny, watermark=True, seed=0)
    plain = _generate(tiny, watermark=False, seed=0)
    det = detectors.load("watermark", model=str(tiny), hashing_key=KEY)
    try:
        z_marked = det.score(marked)
        z_plain = det.score(plain + [sentence(100)])
        assert (z_marked > 4).all(), z_marked
        assert (z_plain < 2).all(), z_plain
        assert det.decisions(marked).all() and not det.decisions(plain).any()
        reasons = det.reasons(marked)
        assert all(r.startswith("watermarked: z=") for r in reasons)
        assert det.reasons(plain)[0].startswith("not watermarked")
        # The wrong key finds nothing in the watermarked text.
        wrong = WatermarkZDetector(model=tiny, hashing_key=KEY + 1)
        assert (wrong.score(marked) < 2).all()
    finally:
        det.close()


def test_config_file_and_odd_text(tiny, tmp_path):
    cfg = tmp_path / "wm.json"
    cfg.write_text(json.dumps({"hashing_key": KEY, "greenlist_ratio": 0.25}))
    assert load_watermark_config(cfg)["hashing_key"] == KEY
    det = WatermarkZDetector(model=tiny, config=cfg)
    texts = ["", "the", None, "x\udcff the model", "the " * 300_000]
    z = det.score(texts)
    assert np.isfinite(z).all() and z[0] == 0.0 and z[1] == 0.0
    assert det.reasons(texts)[0].startswith("too short")
    det.close()
    with pytest.raises(RuntimeError, match="closed"):
        det.score(["the model was good"])

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hashing_kye": 1}))
    with pytest.raises(ValueError, match="unknown keys"):
        WatermarkZDetector(model=tiny, config=bad)
    with pytest.raises(ValueError, match="seeding_scheme"):
        WatermarkZDetector(model=tiny, seeding_scheme="middlehash")
