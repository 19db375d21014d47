"""Zero-shot detectors from a causal LM's token probabilities: no training data, one forward pass.

Three detectors share one scoring loop (length-sorted batches, right padding with attention
masks, texts cut to `max_tokens`, statistics from float32 logits one sequence at a time so memory
stays at one `[tokens, vocab]` matrix):

- `LogLikelihoodDetector` ("lm"): mean token log-likelihood, mean log-rank and mean predictive
  entropy. It reports one of them (`statistic=`, default log-rank: on a dev-set sample it
  separated human and machine text best of the three, see reports/lm_detectors_bench.md) and
  exposes all through `statistics()`.
- `FastDetectGPT` ("fast_detectgpt"): the analytic sampling discrepancy of Bao et al. (ICLR
  2024): how much more likely the text is than the expectation over texts the reference model
  would sample, in units of that expectation's standard deviation. With one model the reference
  is the scoring model itself (the paper's "white-box" setting).
- `Binoculars` ("binoculars"): log-perplexity under the performer over the cross-perplexity of
  observer and performer (Hans et al., 2024), computed as in the authors' code. Low values mean
  machine text, so the score is `-B`. Observer and performer must share a tokenizer; this is
  checked. Only one offline LM is installed (SmolLM2-135M-Instruct), so the default uses it as
  both observer and performer: B then compares the text's log-perplexity with the model's own
  predictive entropy, a weaker form of the method than a base/instruct pair.

Undefined scores: a text with fewer than 2 tokens (empty, a lone word piece) has no token to
score. It gets a fixed fallback meaning "no evidence of machine authorship", never NaN, and
`reasons` says so: for `lm` the values of a uniform guess over the vocabulary (log-likelihood
-log V, log-rank log V/2, entropy log V), for `fast_detectgpt` 0.0 (as likely as the model's own
samples), for `binoculars` -1.0 (perplexity equal to cross-perplexity). Fallback rows should be
excluded from estimation by length, not trusted as human.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detectors.base import Detector, detector
from detectors.lm_loading import LoadedLM, load_causal_lm, require_lm
from detectors.lm_tokens import encode_texts, length_sorted_batches, pad_batch

#: Statistics `LogLikelihoodDetector` can report, each oriented so higher = more machine-like.
LM_STATISTICS = ("loglik", "logrank", "entropy")


class _CausalLMScorer(Detector):
    """Shared loop: tokenize once, run each model on length-sorted batches, reduce per sequence."""

    gives_reasons = False  # reasons() works from Python; scans store scores only
    #: Names of the per-text statistics `_sequence_stats` returns.
    _stat_names: tuple[str, ...] = ()

    def __init__(self, max_tokens: int = 256, batch_size: int = 8) -> None:
        if max_tokens < 2:
            raise ValueError(f"max_tokens must be at least 2, got {max_tokens}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.max_tokens = int(max_tokens)
        self.batch_size = int(batch_size)
        self._models: list[LoadedLM] = []
        self._last: tuple[tuple[str, ...], dict[str, np.ndarray]] | None = None

    # -- subclasses -------------------------------------------------------------------------
    def _sequence_stats(self, logits: list, labels) -> dict[str, float]:
        """Statistics of one sequence from each model's float32 `[n-1, vocab]` logits."""
        raise NotImplementedError

    def _fallback(self) -> dict[str, float]:
        raise NotImplementedError

    def _score_from(self, stats: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------
    @property
    def lm(self) -> LoadedLM:
        """The (first) loaded model, e.g. to generate text with the scoring model."""
        self._check_open()
        return self._models[0]

    @property
    def tokenizer(self):
        return self.lm.tokenizer

    def _check_open(self) -> None:
        if not self._models or self._models[0].model is None:
            raise RuntimeError(f"detector {self.name!r} was closed; build a new one to score")

    def statistics(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Every statistic this detector computes, one array per name, plus `n_tokens`.

        Texts too short to score hold the fallback values. The last result is kept so that
        `score` followed by `reasons` on the same texts runs the model once.
        """
        key = tuple(t if isinstance(t, str) else repr(t) for t in texts)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        torch, _ = require_lm()
        self._check_open()
        tok = self._models[0].tokenizer
        n = len(texts)
        ids = encode_texts(tok, list(texts), self.max_tokens)
        out = {k: np.full(n, np.nan) for k in self._stat_names}
        out["n_tokens"] = np.array([len(s) for s in ids], dtype=np.int64)
        scorable = [i for i in range(n) if len(ids[i]) >= 2]
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
        device = self._models[0].device
        for batch in length_sorted_batches([len(ids[i]) for i in scorable], self.batch_size):
            rows = [scorable[b] for b in batch]
            input_ids, mask = pad_batch([ids[i] for i in rows], pad_id, device)
            with torch.inference_mode():
                all_logits = [m.model(input_ids=input_ids, attention_mask=mask,
                                      use_cache=False).logits for m in self._distinct_models()]
                vocab = min(lg.shape[-1] for lg in all_logits)
                for r, i in enumerate(rows):
                    length = len(ids[i])
                    per = [lg[r, :length - 1, :vocab].float() for lg in all_logits]
                    stats = self._sequence_stats(per, input_ids[r, 1:length])
                    for k, v in stats.items():
                        out[k][i] = v
        fallback = self._fallback()
        for k in self._stat_names:
            bad = ~np.isfinite(out[k])
            out[k][bad] = fallback[k]
        self._last = (key, out)
        return out

    def _distinct_models(self) -> list:
        """Each loaded model once (observer and performer may be the same object)."""
        seen: list = []
        for m in self._models:
            if all(m is not s for s in seen):
                seen.append(m)
        return seen

    def score(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(self._score_from(self.statistics(texts)), dtype=np.float64)

    def reasons(self, texts: Sequence[str]) -> list[str | None]:
        if len(texts) == 0:
            return []
        stats = self.statistics(texts)
        out: list[str | None] = []
        for i in range(len(texts)):
            n_tok = int(stats["n_tokens"][i])
            if n_tok < 2:
                out.append(f"too short to score ({n_tok} token(s)): fallback score")
                continue
            parts = [f"{k}={stats[k][i]:.4g}" for k in self._stat_names]
            out.append(" ".join(parts) + f" tokens={n_tok}")
        return out

    def close(self) -> None:
        for m in self._models:
            m.close()
        self._models = []
        self._last = None


def _single_model_stats(lp, labels) -> dict[str, float]:
    """Log-likelihood, log-rank, entropy and the analytic discrepancy from one model's log-probs."""
    torch, _ = require_lm()
    ll = lp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    p = lp.exp()
    mean = (p * lp).sum(-1)  # E_{x~p}[log p(x)] = -entropy, per position
    var = (p * lp.square()).sum(-1) - mean.square()
    rank = (lp > ll.unsqueeze(-1)).sum(-1) + 1
    discrepancy = (ll.sum() - mean.sum()) / torch.sqrt(var.sum().clamp_min(1e-12))
    return {
        "loglik": float(ll.mean()),
        "logrank": float(torch.log(rank.double()).mean()),
        "entropy": float(-mean.mean()),
        "fast_detectgpt": float(discrepancy),
    }


@detector(name='lm', tier='lm',
          needs="extra 'lm'; local causal LM folder or GGUF (default SmolLM2-135M)",
          summary='zero-shot LM statistics: log-likelihood, log-rank, entropy',
          languages=('en',))
class LogLikelihoodDetector(_CausalLMScorer):
    """Log-likelihood, log-rank and entropy under one causal LM (Gehrmann et al., GLTR, 2019).

    Machine text sits in the high-probability region of a model, so it has a higher
    log-likelihood, lower token ranks and lower entropy than human text. Scores are oriented
    higher = more machine-like: `loglik`, `-logrank`, `-entropy`.
    """

    version = "1"
    _stat_names = ("loglik", "logrank", "entropy", "fast_detectgpt")

    def __init__(self, model: str | Path | None = None, statistic: str = "logrank",
                 max_tokens: int = 256, batch_size: int = 8, device: str | None = None,
                 dtype: str | None = "auto") -> None:
        if statistic not in LM_STATISTICS:
            raise ValueError(f"statistic must be one of {LM_STATISTICS}, got {statistic!r}")
        super().__init__(max_tokens=max_tokens, batch_size=batch_size)
        self.statistic = statistic
        self._models = [load_causal_lm(model, device=device, dtype=dtype)]

    def _sequence_stats(self, logits, labels):
        torch, _ = require_lm()
        return _single_model_stats(torch.log_softmax(logits[0], dim=-1), labels)

    def _fallback(self):
        v = float(self._models[0].vocab_size) if self._models else 50_000.0
        # As if every token were a uniform guess: rank ~ V/2, entropy log V.
        return {"loglik": -math.log(v), "logrank": math.log(v / 2), "entropy": math.log(v),
                "fast_detectgpt": 0.0}

    def _score_from(self, stats):
        sign = {"loglik": 1.0, "logrank": -1.0, "entropy": -1.0}[self.statistic]
        return sign * stats[self.statistic]


@detector(name='fast_detectgpt', tier='lm',
          needs="extra 'lm'; local causal LM",
          summary='Fast-DetectGPT analytic sampling discrepancy',
          languages=('en',))
class FastDetectGPT(_CausalLMScorer):
    """Fast-DetectGPT analytic sampling discrepancy (Bao et al., ICLR 2024).

    Score = (log p(x) - E[log p(x~q)]) / sd, summed over tokens, with p the scoring model and q
    the reference (sampling) model. Without `reference`, q = p. Fallback for untokenisable
    text: 0.0 (the text is exactly as likely as the model's own samples).
    """

    version = "1"
    _stat_names = ("fast_detectgpt", "loglik", "entropy")

    def __init__(self, model: str | Path | None = None, reference: str | Path | None = None,
                 max_tokens: int = 256, batch_size: int = 8, device: str | None = None,
                 dtype: str | None = "auto") -> None:
        super().__init__(max_tokens=max_tokens, batch_size=batch_size)
        scoring = load_causal_lm(model, device=device, dtype=dtype)
        self._models = [scoring]
        if reference is not None and not _same_path(reference, model):
            ref = load_causal_lm(reference, device=scoring.device, dtype=dtype)
            check_same_tokenizer(scoring, ref, roles=("scoring model", "reference model"))
            self._models.append(ref)

    def _sequence_stats(self, logits, labels):
        torch, _ = require_lm()
        lp = torch.log_softmax(logits[0], dim=-1)
        if len(logits) == 1:
            s = _single_model_stats(lp, labels)
            return {k: s[k] for k in self._stat_names}
        p_ref = torch.softmax(logits[1], dim=-1)
        ll = lp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
        mean = (p_ref * lp).sum(-1)
        var = (p_ref * lp.square()).sum(-1) - mean.square()
        disc = (ll.sum() - mean.sum()) / torch.sqrt(var.sum().clamp_min(1e-12))
        return {"fast_detectgpt": float(disc), "loglik": float(ll.mean()),
                "entropy": float(-(lp.exp() * lp).sum(-1).mean())}

    def _fallback(self):
        v = float(self._models[0].vocab_size) if self._models else 50_000.0
        return {"fast_detectgpt": 0.0, "loglik": -math.log(v), "entropy": math.log(v)}

    def _score_from(self, stats):
        return stats["fast_detectgpt"]


@detector(name='binoculars', tier='lm',
          needs="extra 'lm'; observer and performer LMs sharing a tokenizer",
          summary='Binoculars: perplexity over cross-perplexity of two LMs',
          languages=('en',))
class Binoculars(_CausalLMScorer):
    """Binoculars (Hans et al., 2024): B = log PPL_performer(x) / X-PPL(observer, performer).

    Score = -B (higher = more machine-like). `observer`/`performer` default to the offline
    SmolLM2 model; when both resolve to the same path, one model is loaded and serves as both.
    Fallback for untokenisable text: -1.0 (perplexity equal to cross-perplexity).
    """

    version = "1"
    _stat_names = ("binoculars", "log_ppl", "x_ppl")

    def __init__(self, observer: str | Path | None = None, performer: str | Path | None = None,
                 model: str | Path | None = None, max_tokens: int = 256, batch_size: int = 8,
                 device: str | None = None, dtype: str | None = "auto") -> None:
        super().__init__(max_tokens=max_tokens, batch_size=batch_size)
        observer = observer if observer is not None else model
        performer = performer if performer is not None else observer
        obs = load_causal_lm(observer, device=device, dtype=dtype)
        if _same_path(observer, performer):
            perf = obs
        else:
            perf = load_causal_lm(performer, device=obs.device, dtype=dtype)
            check_same_tokenizer(obs, perf, roles=("observer", "performer"))
        self._models = [obs, perf]
        self.same_model = perf is obs

    def _sequence_stats(self, logits, labels):
        torch, _ = require_lm()
        obs_logits = logits[0]
        perf_logits = logits[1] if len(logits) > 1 else logits[0]
        lp_perf = torch.log_softmax(perf_logits, dim=-1)
        log_ppl = -lp_perf.gather(-1, labels.unsqueeze(-1)).squeeze(-1).mean()
        p_obs = torch.softmax(obs_logits, dim=-1)
        x_ppl = -(p_obs * lp_perf).sum(-1).mean()
        b = log_ppl / x_ppl.clamp_min(1e-6)
        return {"binoculars": float(b), "log_ppl": float(log_ppl), "x_ppl": float(x_ppl)}

    def _fallback(self):
        v = float(self._models[0].vocab_size) if self._models else 50_000.0
        return {"binoculars": 1.0, "log_ppl": math.log(v), "x_ppl": math.log(v)}

    def _score_from(self, stats):
        return -stats["binoculars"]


def _same_path(a: str | Path | None, b: str | Path | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def check_same_tokenizer(a: LoadedLM, b: LoadedLM, roles: tuple[str, str] = ("first", "second")) -> None:
    """Refuse two models whose tokenizers map tokens to different ids.

    Binoculars and a separate Fast-DetectGPT reference compare two models' distributions token by
    token; with different vocabularies that comparison is meaningless, so fail loudly.
    """
    va, vb = a.tokenizer.get_vocab(), b.tokenizer.get_vocab()
    if va == vb:
        return
    only_a = sorted(set(va) - set(vb))[:3]
    only_b = sorted(set(vb) - set(va))[:3]
    moved = sorted(t for t in set(va) & set(vb) if va[t] != vb[t])[:3]
    raise ValueError(
        f"{roles[0]} {a.path} and {roles[1]} {b.path} do not share a tokenizer "
        f"(vocab sizes {len(va)} and {len(vb)}; only in the {roles[0]}: {only_a}; only in the "
        f"{roles[1]}: {only_b}; different ids: {moved}). Use two models of one family "
        "(e.g. a base model and its instruct variant).")
