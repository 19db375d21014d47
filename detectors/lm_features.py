"""Per-text token statistics of one causal LM pass, the inputs of the trained LM head.

Why one module: each zero-shot LM detector (`lm`, `fast_detectgpt`, `binoculars`) reduces the
same logits to one number, and each alone transfers unevenly across sources (a statistic that
separates news may invert on code). A small trained head over many statistics of the SAME
forward pass costs nothing extra in model time and lets training pick the combination that
holds up when a whole repository is left out (reports/lm_tier.md).

Every statistic is computed from float32 log-probabilities of the scoring model, per sequence:

- `loglik`, `logrank`, `entropy`: means over tokens of log p(x_t), log rank(x_t), H_t;
- `fast_detectgpt`: analytic sampling discrepancy (Bao et al., 2024), summed over tokens;
- `z_mean`: mean per-token z-score (log p(x_t) - E log p) / sd, the entropy-normalised
  likelihood (a per-token form of the same idea that long texts do not inflate);
- `binoculars`: log-perplexity over mean entropy, the single-model Binoculars ratio;
- `ll_q10` ... `ll_q90`, `ll_std`: quantiles and spread of the per-token log-probabilities;
- `top1`, `top10`: shares of tokens that were the model's first choice / in its top ten (GLTR);
- `log_tokens`: log of the number of scored tokens (statistics of short texts are noisier).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detectors.lm_loading import load_causal_lm, require_lm
from detectors.lm_zero_shot import _CausalLMScorer

#: Feature names, in the order of the head's coefficient vector.
LM_FEATURES = ("loglik", "logrank", "entropy", "fast_detectgpt", "z_mean", "binoculars",
               "ll_q10", "ll_q25", "ll_q50", "ll_q75", "ll_q90", "ll_std", "top1", "top10",
               "log_tokens")
_QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90)


def sequence_features(lp, labels) -> dict[str, float]:
    """Every feature of one sequence from its `[n-1, vocab]` float32 log-probabilities."""
    torch, _ = require_lm()
    ll = lp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    p = lp.exp()
    mean = (p * lp).sum(-1)  # E_{x~p} log p(x) = -H_t
    var = ((p * lp.square()).sum(-1) - mean.square()).clamp_min(1e-12)
    rank = (lp > ll.unsqueeze(-1)).sum(-1) + 1
    entropy = -mean
    q = torch.quantile(ll.double(), torch.tensor(_QUANTILES, dtype=torch.float64))
    n = int(ll.numel())
    out = {
        "loglik": float(ll.mean()),
        "logrank": float(torch.log(rank.double()).mean()),
        "entropy": float(entropy.mean()),
        "fast_detectgpt": float((ll.sum() - mean.sum()) / torch.sqrt(var.sum())),
        "z_mean": float(((ll - mean) / var.sqrt()).mean()),
        "binoculars": float(-ll.mean() / entropy.mean().clamp_min(1e-6)),
        "ll_std": float(ll.std()) if n > 1 else 0.0,
        "top1": float((rank == 1).double().mean()),
        "top10": float((rank <= 10).double().mean()),
        "log_tokens": math.log(n),
    }
    for name, v in zip(("ll_q10", "ll_q25", "ll_q50", "ll_q75", "ll_q90"), q.tolist(),
                       strict=True):
        out[name] = float(v)
    return out


class LMFeatureExtractor(_CausalLMScorer):
    """The shared batched LM loop of `detectors.lm_zero_shot`, reducing to `LM_FEATURES`.

    Not a registered detector (it returns many numbers, not one score): `lm_head` and the
    evaluation script use it. Texts too short to score (fewer than 2 tokens) get the values of a
    uniform guess over the vocabulary, as the zero-shot `lm` detector does.
    """

    name = "lm_features"
    version = "1"
    _stat_names = LM_FEATURES

    def __init__(self, model: str | Path | None = None, max_tokens: int = 128,
                 batch_size: int = 16, device: str | None = None,
                 dtype: str | None = "auto") -> None:
        super().__init__(max_tokens=max_tokens, batch_size=batch_size)
        self._models = [load_causal_lm(model, device=device, dtype=dtype)]

    def _sequence_stats(self, logits, labels):
        torch, _ = require_lm()
        return sequence_features(torch.log_softmax(logits[0], dim=-1), labels)

    def _fallback(self):
        v = float(self._models[0].vocab_size) if self._models else 50_000.0
        lv = math.log(v)
        return {"loglik": -lv, "logrank": math.log(v / 2), "entropy": lv,
                "fast_detectgpt": 0.0, "z_mean": 0.0, "binoculars": 1.0,
                "ll_q10": -lv, "ll_q25": -lv, "ll_q50": -lv, "ll_q75": -lv, "ll_q90": -lv,
                "ll_std": 0.0, "top1": 0.0, "top10": 0.0, "log_tokens": 0.0}

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """`[len(texts), len(LM_FEATURES)]` float64 matrix."""
        if len(texts) == 0:
            return np.zeros((0, len(LM_FEATURES)))
        stats = self.statistics(texts)
        return np.column_stack([stats[k] for k in LM_FEATURES]).astype(np.float64)

    def _score_from(self, stats):  # pragma: no cover - not a detector on its own
        raise NotImplementedError("LMFeatureExtractor gives features; use detectors.lm_head")
