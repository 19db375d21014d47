"""AI-text detectors, one module a family. Importing this package registers them all by name,
without importing any heavy dependency (see `detectors.base`)."""

from detectors.base import Detector, DetectorSpec, load, parse_names, register, specs

register(DetectorSpec(
    name="markers", factory="detectors.markers:MarkersDetector", tier="cheap",
    needs="nothing",
    summary="assistant boilerplate, chat-template residue and AI-generator metadata markers",
))
register(DetectorSpec(
    name="excess_vocab", factory="detectors.excess_vocab:ExcessVocabDetector", tier="cheap",
    needs="nothing",
    summary="count of LLM-overused words, for the reference-free excess-vocabulary estimate",
))
register(DetectorSpec(
    name="compression", factory="detectors.compression:CompressionDetector", tier="cheap",
    needs="nothing",
    summary="compression ratio against a reference of machine text (ZipPy-style)",
))
register(DetectorSpec(
    name="classifier", factory="detectors.classifier:NgramClassifier", tier="cheap",
    needs="shipped model (detectors/models/classifier)",
    summary="hashed word and character n-grams with a calibrated linear classifier",
))
register(DetectorSpec(
    name="embedding", factory="detectors.embedding:EmbeddingDetector", tier="model",
    needs="extra 'lm' (torch, transformers); local sentence encoder",
    summary="sentence-encoder embeddings with a linear head",
))
register(DetectorSpec(
    name="lm", factory="detectors.lm_zero_shot:LogLikelihoodDetector", tier="lm",
    needs="extra 'lm'; local causal LM folder or GGUF (default SmolLM2-135M)",
    summary="zero-shot LM statistics: log-likelihood, log-rank, entropy",
))
register(DetectorSpec(
    name="fast_detectgpt", factory="detectors.lm_zero_shot:FastDetectGPT", tier="lm",
    needs="extra 'lm'; local causal LM",
    summary="Fast-DetectGPT analytic sampling discrepancy",
))
register(DetectorSpec(
    name="binoculars", factory="detectors.lm_zero_shot:Binoculars", tier="lm",
    needs="extra 'lm'; observer and performer LMs sharing a tokenizer",
    summary="Binoculars: perplexity over cross-perplexity of two LMs",
))
register(DetectorSpec(
    name="watermark", factory="detectors.watermark:WatermarkZDetector", tier="lm",
    needs="extra 'lm'; the generator's tokenizer and watermark key",
    summary="Kirchenbauer green-list watermark z-score",
))

__all__ = ["Detector", "DetectorSpec", "load", "parse_names", "register", "specs"]
