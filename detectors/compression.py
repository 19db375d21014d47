"""ZipPy-style detector: does a text compress better against machine text than against human text?

A compressor primed with a reference text encodes a new text cheaply where it repeats the
reference's strings. Machine text reuses the same phrasing and function-word patterns more than
human text, so it gains more from a machine-written reference. The score is the saving from a
machine reference relative to a human one, per compressed byte:

    score = (deflate(text | human reference) - deflate(text | machine reference)) / deflate(text)

Higher = more machine-like. Both references (32 KB each, zlib's whole window) are prefixes of
English texts from the development set's `train` split, built by `build_references` (called by
`scripts/train_classifier.py`) and shipped in `detectors/models/compression/` with a NOTICE.
CPU only, no model; the primed compressor state is copied per text, so priming costs nothing.
It is weak on its own (see reports/detectors.md) and meant as a cheap, model-free second
opinion.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from detectors.base import Detector, detector
from detectors.calibration import Calibration, load_calibration

DEFAULT_DIR = Path(__file__).resolve().parent / "models" / "compression"
AI_FILE = "ai_reference.txt"
HUMAN_FILE = "human_reference.txt"
WINDOW = 32 * 1024  # deflate's window: reference bytes beyond it are never used


def _encode(text: object, max_chars: int) -> bytes:
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return text[:max_chars].encode("utf-8", "replace")  # lone surrogates -> '?'


@detector(name='compression', tier='cheap',
          needs='nothing',
          summary='compression ratio against a reference of machine text (ZipPy-style)',
          languages=('en',))
class CompressionDetector(Detector):
    """Score = deflate saving from a machine reference over a human reference (see module doc).

    Empty texts score 0 (no evidence either way). `level` is zlib's level, `max_chars` the
    number of leading characters compressed (speed; the score is a per-byte ratio anyway).
    """

    version = "1"
    calibration: Calibration | None = None

    def __init__(self, reference_dir: str | Path | None = None, level: int = 6,
                 max_chars: int = 2000) -> None:
        ref_dir = Path(reference_dir) if reference_dir is not None else DEFAULT_DIR
        try:
            ai = (ref_dir / AI_FILE).read_bytes()[-WINDOW:]
            human = (ref_dir / HUMAN_FILE).read_bytes()[-WINDOW:]
        except OSError as e:
            raise FileNotFoundError(
                f"compression: reference texts missing in {ref_dir} ({e}); rebuild them with "
                "`python scripts/train_classifier.py`"
            ) from e
        if not ai or not human:
            raise ValueError(f"compression: empty reference text in {ref_dir}")
        self.level = level
        self.max_chars = max_chars
        self._ai = self._primed(ai)
        self._human = self._primed(human)
        self.calibration = load_calibration(ref_dir)  # fitted by scripts/train_classifier.py
        if self.calibration is not None:
            self.threshold = self.calibration.threshold
            self.threshold_fpr = self.calibration.threshold_fpr

    def probability(self, scores: np.ndarray) -> np.ndarray | None:
        return None if self.calibration is None else self.calibration.probability(scores)

    def _primed(self, reference: bytes):
        # Raw deflate (wbits -15): no header/checksum bytes blurring short texts.
        return zlib.compressobj(self.level, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY,
                                reference)

    @staticmethod
    def _length(primed, data: bytes) -> int:
        c = primed.copy()
        return len(c.compress(data)) + len(c.flush())

    def score(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(texts), dtype=np.float64)
        for i, text in enumerate(texts):
            data = _encode(text, self.max_chars)
            if not data:
                continue
            plain = len(zlib.compress(data, self.level))
            out[i] = (self._length(self._human, data) - self._length(self._ai, data)) / plain
        return out


def build_references(texts: Sequence[str], labels: np.ndarray, out_dir: str | Path,
                     seed: int = 0, chars_per_text: int = 1500) -> list[int]:
    """Write the machine and human reference texts: shuffled (seeded) text prefixes of each class
    concatenated up to the deflate window. Pass English rows of the `train` split only.
    Returns the indices (into `texts`) of the texts used, for the NOTICE."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y = np.asarray(labels).astype(int)
    used: list[int] = []
    for label, fname in ((1, AI_FILE), (0, HUMAN_FILE)):
        buf = bytearray()
        for i in rng.permutation(np.flatnonzero(y == label)):
            buf += _encode(texts[i], chars_per_text).strip() + b"\n\n"
            used.append(int(i))
            if len(buf) >= WINDOW:
                break
        (out / fname).write_bytes(bytes(buf[:WINDOW]))
    return sorted(used)
