"""Kirchenbauer et al. (2023) green-list watermark test, through transformers' `WatermarkDetector`.

A watermarking generator adds a bias to a pseudo-random "green" part of the vocabulary, seeded by
the previous token(s) and a secret key. Human text hits the green list at the base rate
`greenlist_ratio`; watermarked text hits it far more often. The one-proportion z-test on the
green-token count is the score: ~N(0, 1) for unwatermarked text, large for watermarked text.

The test is only as good as its configuration: it needs the generator's tokenizer, its model
config's `vocab_size`, the same key, green-list ratio, seeding scheme and context width, and the
device the generator ran on (the green lists come from a torch RNG, which differs between CPU and
CUDA). All of these are constructor options, or one JSON file (`config=PATH`) holding them.

Undefined scores: a text with too few tokens for one seeded position gets z = 0.0 ("no
evidence"), and `reasons` says so. The decision in `reasons` is `z > z_threshold` (default 4.0,
one-sided p ~ 3e-5).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import Detector, detector
from detectors.lm_loading import model_folder, require_lm
from detectors.lm_tokens import encode_texts

#: Keys of a watermark configuration file, with transformers' defaults.
WATERMARK_DEFAULTS: dict[str, Any] = {
    "greenlist_ratio": 0.25,
    "bias": 2.0,
    "hashing_key": 15485863,
    "seeding_scheme": "lefthash",
    "context_width": 1,
}


def load_watermark_config(path: str | Path) -> dict[str, Any]:
    """Watermark settings from a JSON file; unknown keys are refused (a typo would silently
    fall back to a default key and make every text look unwatermarked)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read watermark config {p}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"watermark config {p} must be a JSON object")
    unknown = sorted(set(data) - set(WATERMARK_DEFAULTS))
    if unknown:
        raise ValueError(f"watermark config {p}: unknown keys {unknown}; "
                         f"allowed: {sorted(WATERMARK_DEFAULTS)}")
    return {**WATERMARK_DEFAULTS, **data}


@detector(name='watermark', tier='lm',
          needs="extra 'lm'; the generator's tokenizer and watermark key",
          summary='Kirchenbauer green-list watermark z-score',
          languages=None)
class WatermarkZDetector(Detector):
    """Green-list z-score of each text under a known generator watermark configuration."""

    version = "1"
    gives_reasons = True

    def __init__(self, model: str | Path | None = None, config: str | Path | None = None,
                 hashing_key: int | None = None, greenlist_ratio: float | None = None,
                 seeding_scheme: str | None = None, context_width: int | None = None,
                 z_threshold: float = 4.0, max_tokens: int = 512,
                 ignore_repeated_ngrams: bool = False, device: str | None = None,
                 batch_size: int | None = None) -> None:
        """`model`: the generator's model folder or GGUF (its tokenizer and config are read,
        its weights are not used). `config`: JSON with the watermark settings; explicit
        keyword options override it. `batch_size` is accepted for a uniform interface."""
        torch, transformers = require_lm()
        from transformers.generation import WatermarkDetector, WatermarkingConfig

        settings = load_watermark_config(config) if config is not None else dict(WATERMARK_DEFAULTS)
        for key, value in (("hashing_key", hashing_key), ("greenlist_ratio", greenlist_ratio),
                           ("seeding_scheme", seeding_scheme), ("context_width", context_width)):
            if value is not None:
                settings[key] = value
        wm_config = WatermarkingConfig(**settings)
        wm_config.validate()
        folder = model_folder(model)
        self.model_config = transformers.AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
        # The generator's green lists come from a torch RNG on the generator's device.
        self.device = device or "cpu"
        self.settings = settings
        self.z_threshold = float(z_threshold)
        self.max_tokens = int(max_tokens)
        self._detector = WatermarkDetector(
            model_config=self.model_config, device=self.device, watermarking_config=wm_config,
            ignore_repeated_ngrams=ignore_repeated_ngrams)
        self._torch = torch
        self._last: tuple[tuple, list[dict[str, float] | None]] | None = None

    def _details(self, texts: Sequence[str]) -> list[dict[str, float] | None]:
        key = tuple(t if isinstance(t, str) else repr(t) for t in texts)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        if self._detector is None:
            raise RuntimeError("watermark detector was closed; build a new one to score")
        ids = encode_texts(self.tokenizer, list(texts), self.max_tokens, add_special_tokens=False)
        min_len = int(self.settings["context_width"]) + 1
        out: list[dict[str, float] | None] = []
        for seq in ids:
            if len(seq) < min_len:
                out.append(None)
                continue
            # One text at a time: padding would be counted as tokens by the detector.
            tensor = self._torch.tensor([seq], dtype=self._torch.long, device=self.device)
            res = self._detector(tensor, z_threshold=self.z_threshold, return_dict=True)
            z = float(res.z_score[0])
            out.append({
                "z": z if math.isfinite(z) else 0.0,
                "green": float(res.num_green_tokens[0]),
                "scored": float(res.num_tokens_scored[0]),
                "p": float(res.p_value[0]),
            })
        self._last = (key, out)
        return out

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([d["z"] if d else 0.0 for d in self._details(texts)], dtype=np.float64)

    def reasons(self, texts: Sequence[str]) -> list[str | None]:
        out: list[str | None] = []
        for d in self._details(texts):
            if d is None:
                out.append("too short for the watermark test: z set to 0")
                continue
            verdict = "watermarked" if d["z"] > self.z_threshold else "not watermarked"
            out.append(f"{verdict}: z={d['z']:.2f} (threshold {self.z_threshold:g}), "
                       f"{int(d['green'])}/{int(d['scored'])} green tokens, p={d['p']:.2g}")
        return out

    def decisions(self, texts: Sequence[str]) -> np.ndarray:
        """True where the watermark is detected (z above `z_threshold`)."""
        return self.score(texts) > self.z_threshold

    def close(self) -> None:
        self._detector = None
        self._last = None
