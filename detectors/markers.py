"""High-precision signatures of machine-generated text: the cheapest detector, and the only one
that can say exactly *why* a document is flagged.

Chat assistants leave fingerprints that people almost never type: disclaimers ("as an AI
language model"), knowledge-cutoff hedges, eager openers ("Certainly! Here's"), and residue of
chat templates (`<|im_start|>`, `[INST]`) or of the ChatGPT web page ("Regenerate response",
"ChatGPT said:"). Web pages written with AI tools sometimes say so in their HTML generator meta
tag, and images/pages following IPTC declare `trainedAlgorithmicMedia` as their digital source
type. Each signature is curated for precision over recall: a marker that fires on ordinary human
prose is worse than no marker, because it becomes a floor under every estimate. The measured
false-positive rate on the human rows of the development set is in `reports/detectors.md`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from detectors.base import Detector, detector


@dataclass(frozen=True)
class Marker:
    """One text signature: `name` goes into the reason string, `weight` is the score it gives.

    Weight 1.0 is for signatures that essentially only a chat assistant produces; lower weights
    are for phrases a person writes now and then (forum answers, letters).
    """

    name: str
    pattern: str  # regex, matched case-insensitively
    anchors: tuple[str, ...]  # lower-case literals, one of which every match contains
    weight: float = 1.0


#: Curated text markers. Patterns are case-insensitive; keep them specific (see module doc).
#: `anchors`: lower-case literals of which at least one occurs in any text the pattern matches;
#: a fast substring test on them skips the regex for the vast majority of texts.
TEXT_MARKERS: tuple[Marker, ...] = (
    # Self-identification and refusals.
    Marker("as_an_ai_language_model", r"\bas an ai(?:[- ]powered)? (?:language )?model\b",
           ("as an ai",)),
    Marker("as_a_large_language_model", r"\bas a (?:large )?language model\b",
           ("language model",)),
    Marker("i_am_an_ai", r"\bi(?:'m| am) (?:just )?an? (?:ai|artificial intelligence)"
                         r"(?: language model| assistant| model| developed| created| trained)\b",
           ("an ai", "a ai", "artificial intelligence")),
    Marker("as_an_ai_assistant", r"\bas an ai (?:assistant|chatbot|developed by)\b",
           ("as an ai",)),
    Marker("trained_by_openai", r"\bi (?:was|am) (?:trained|developed|created) by "
                                r"(?:openai|anthropic|google deepmind|meta ai)\b",
           ("openai", "anthropic", "deepmind", "meta ai")),
    Marker("cannot_fulfill", r"\bi (?:cannot|can't|can not|am unable to|'m unable to) "
                             r"(?:fulfill|comply with|complete) (?:this|that|your) request\b",
           (" request",)),
    Marker("sorry_cannot_assist", r"\bi'?m sorry,? but i (?:can't|cannot) "
                                  r"(?:assist|help) with (?:that|this)\b",
           ("sorry",)),
    Marker("no_personal_opinions", r"\bi (?:don't|do not) have (?:personal )?(?:opinions|"
                                   r"feelings|emotions|beliefs|personal experiences)"
                                   r"(?:,| or| as an ai)",
           ("'t have ", "not have "), 0.6),
    Marker("no_realtime_access", r"\bi (?:don't|do not) have (?:access to )?(?:real-time|"
                                 r"the ability to browse|browsing capabilit)",
           ("'t have ", "not have ")),
    # Knowledge-cutoff hedges.
    Marker("knowledge_cutoff", r"\bas of my (?:last )?(?:knowledge (?:update|cut-?off)|"
                               r"training (?:data|cut-?off)|last update)\b",
           ("as of my",)),
    Marker("my_knowledge_cutoff", r"\bmy (?:knowledge|training) (?:cut-?off|data "
                                  r"(?:only )?(?:goes|extends) (?:up )?to)\b",
           ("my knowledge", "my training")),
    # Eager openers and closers.
    Marker("certainly_heres", r"(?:^|[\n.!?]\s*)(?:certainly|sure|absolutely|of course)[!,.] "
                              r"here(?:'s| is| are) (?:a|an|the|some|your)\b",
           ("certainly", "sure", "absolutely", "of course")),
    Marker("heres_revised_version", r"\bhere(?:'s| is) (?:a |the |your )?(?:revised|rewritten|"
                                    r"polished|paraphrased|improved|refined) (?:version|text|"
                                    r"paragraph|essay|passage)\b",
           ("here's", "here is")),
    Marker("i_hope_this_helps", r"\bi hope (?:this|that) helps\b",
           ("hope this helps", "hope that helps"), 0.5),
    Marker("apologize_confusion", r"\bi apologi[sz]e for (?:any|the) (?:confusion|"
                                  r"misunderstanding|oversight)\b",
           ("apologi",), 0.6),
    # Chat-template residue (tokens of the template leaked into the text).
    Marker("chatml_token", r"<\|(?:im_start|im_end|im_sep)\|>", ("<|im_",)),
    Marker("role_token", r"<\|(?:assistant|user|system)\|>",
           ("<|assistant|>", "<|user|>", "<|system|>")),
    Marker("llama_inst", r"\[/?INST\]|<</?SYS>>", ("inst]", "sys>>")),
    Marker("llama3_header", r"<\|(?:start_header_id|end_header_id|eot_id|begin_of_text)\|>",
           ("_header_id|>", "<|eot_id|>", "<|begin_of_text|>")),
    Marker("gemma_turn", r"<(?:start|end)_of_turn>", ("_of_turn>",)),
    Marker("endoftext_token", r"<\|endoftext\|>", ("<|endoftext|>",)),
    Marker("alpaca_template", r"^### (?:instruction|response):", ("### ",), 0.8),
    # Residue of the chat web pages copied with the answer.
    Marker("regenerate_response", r"\bregenerate (?:response|draft)\b", ("regenerate ",)),
    Marker("chatgpt_said", r"(?:^|\n)\s*(?:chatgpt|claude|gemini|copilot) said:", (" said:",)),
    Marker("copy_code_button", r"(?:^|\n)[a-z0-9+#-]{0,16}\s?copy code\s*(?:\n|$)",
           ("copy code",), 0.8),
)

#: HTML `<meta name="generator">` values that name AI writing tools (word-bounded, lower case).
AI_GENERATOR_TOOLS: tuple[str, ...] = (
    "chatgpt", "openai", "gpt-3", "gpt-4", "gpt-4o", "claude", "anthropic", "gemini",
    "google bard", "jasper", "jasper.ai", "copy.ai", "writesonic", "rytr", "wordtune",
    "article forge", "articleforge", "koala.sh", "koala writer", "contentbot", "sudowrite",
    "hypotenuse", "anyword", "peppertype", "closerscopy", "zimmwriter", "textcortex", "copysmith",
    "neuroflash", "junia.ai", "seowriting.ai", "autoblogging.ai", "byword.ai", "aiwriter",
    "ai writer", "ai content generator", "writecream", "simplified ai",
)

_TOOL_RE = re.compile(
    r"(?<![a-z0-9])(?:" + "|".join(re.escape(t) for t in AI_GENERATOR_TOOLS) + r")(?![a-z0-9])",
    re.IGNORECASE,
)
#: IPTC digital-source-type codes for media made by a trained model (fully, or as a composite).
_IPTC_TRAINED = re.compile(r"(composite(?:with)?)?trainedalgorithmicmedia", re.IGNORECASE)

# Each marker's regex runs only on texts containing one of its anchors: the common case (no
# marker) costs a few fast substring searches of the lower-cased text. (One alternation regex
# of all markers was tried first and was an order of magnitude slower: Python's `re` tries every
# alternative at every position.)
_COMPILED = tuple(
    (m, re.compile(m.pattern, re.IGNORECASE | re.MULTILINE)) for m in TEXT_MARKERS
)
#: Each distinct anchor once, with the markers it gates: a text is searched for every anchor
#: once (a flat loop, no generator per marker), then only the gated markers' regexes run.
#: Anchors with a character that prose seldom has (template tokens: `<|im_`, `[inst]`, `### `)
#: are grouped behind that character: one single-character search skips the group. Measured
#: on 2 KB texts (fastest of 7 runs): 14,400 docs per CPU-second without the grouping, 16,800
#: with it.
_GATE_CHARS = "|<>[]#:"


def _anchor_groups() -> tuple[tuple[tuple[str, tuple[int, ...]], ...],
                              tuple[tuple[str, tuple[tuple[str, tuple[int, ...]], ...]], ...]]:
    anchors = [(a, tuple(i for i, m in enumerate(TEXT_MARKERS) if a in m.anchors))
               for a in dict.fromkeys(a for m in TEXT_MARKERS for a in m.anchors)]
    plain = tuple((a, idx) for a, idx in anchors if not any(c in a for c in _GATE_CHARS))
    groups: dict[str, list] = {}
    for a, idx in anchors:
        gate = next((c for c in _GATE_CHARS if c in a), None)
        if gate is not None:
            groups.setdefault(gate, []).append((a, idx))
    return plain, tuple((g, tuple(v)) for g, v in groups.items())


_PLAIN_ANCHORS, _GATED_ANCHORS = _anchor_groups()


def _text_hits(text: str) -> dict[str, float]:
    """Distinct text markers found, name -> weight."""
    low = text.lower()
    gated = [idx for a, idx in _PLAIN_ANCHORS if a in low]
    for gate, group in _GATED_ANCHORS:
        if gate in low:
            gated += [idx for a, idx in group if a in low]
    hits: dict[str, float] = {}
    if not gated:
        return hits
    for i in sorted({i for idx in gated for i in idx}):
        marker, rx = _COMPILED[i]
        if rx.search(text):
            hits[marker.name] = marker.weight
    return hits


def _meta_hits(meta: Mapping | None) -> dict[str, float]:
    """Metadata markers found in a reader's `Document.meta` (keys `html_generator`,
    `digital_source_type`), name -> weight."""
    if not meta:
        return {}
    hits: dict[str, float] = {}
    generator = meta.get("html_generator")
    if generator:
        found = _TOOL_RE.search(str(generator))
        if found:
            hits[f"meta:html_generator={found.group(0).lower()}"] = 1.0
    source_type = meta.get("digital_source_type")
    if source_type:
        found = _IPTC_TRAINED.search(str(source_type))
        if found:
            composite = found.group(1) is not None
            name = "composite_with_trained_algorithmic_media" if composite else \
                "trained_algorithmic_media"
            hits[f"meta:digital_source_type={name}"] = 0.7 if composite else 1.0
    return hits


def _combine(weights: Sequence[float]) -> float:
    """Noisy-or: independent pieces of evidence add up, a single strong one gives 1.0."""
    p_none = 1.0
    for w in weights:
        p_none *= 1.0 - w
    return 1.0 - p_none


@detector(name='markers', tier='cheap',
          needs='nothing',
          summary='assistant boilerplate, chat-template residue and AI-generator metadata markers',
          languages=None)
class MarkersDetector(Detector):
    """Flags texts that carry an explicit signature of machine generation, and says which.

    Score: noisy-or of the weights of the distinct markers that fired (1.0 for a strong marker,
    0 when none fired). Scores are therefore nearly binary: use `reasons` to see the marker.

    Metadata: detectors only receive texts, but the readers put HTML and IPTC metadata into
    `Document.meta`. Pass those dicts, aligned with `texts`, as the optional keyword `metas`
    to `score`, `reasons` or `score_and_reasons`; the keys read are `html_generator` (the HTML
    `<meta name="generator">` content; fires when it names an AI writing tool) and
    `digital_source_type` (IPTC; fires on `trainedAlgorithmicMedia` and, weaker, on
    `compositeWithTrainedAlgorithmicMedia`). Callers that do not have metadata omit it.
    """

    version = "1"
    gives_reasons = True
    accepts_metas = True  # the scanner passes Document.meta dicts as `metas=` when this is True
    # Flag when any marker fired. Not a tuned threshold: the scores are marker weights, and their
    # false-positive rate on human text is measured in reports/detectors.md.
    threshold = 0.0

    def __init__(self, max_chars: int | None = None) -> None:
        """`max_chars`: scan only this many leading characters (None: the whole text)."""
        self.max_chars = max_chars

    def _hits(self, text: object, meta: Mapping | None) -> dict[str, float]:
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        if self.max_chars is not None:
            text = text[: self.max_chars]
        hits = _text_hits(text)
        hits.update(_meta_hits(meta))
        return hits

    def score_and_reasons(
        self, texts: Sequence[str], metas: Sequence[Mapping | None] | None = None
    ) -> tuple[np.ndarray, list[str | None]]:
        """Scores and reasons in one pass (what the scanner should call)."""
        if metas is not None and len(metas) != len(texts):
            raise ValueError(
                f"markers: got {len(texts)} texts but {len(metas)} metas; pass one meta dict "
                "(or None) per text"
            )
        scores = np.zeros(len(texts), dtype=np.float64)
        reasons: list[str | None] = [None] * len(texts)
        for i, text in enumerate(texts):
            hits = self._hits(text, metas[i] if metas is not None else None)
            if hits:
                scores[i] = _combine(list(hits.values()))
                reasons[i] = ";".join(sorted(hits))
        return scores, reasons

    def score(
        self, texts: Sequence[str], metas: Sequence[Mapping | None] | None = None
    ) -> np.ndarray:
        return self.score_and_reasons(texts, metas)[0]

    def reasons(
        self, texts: Sequence[str], metas: Sequence[Mapping | None] | None = None
    ) -> list[str | None]:
        return self.score_and_reasons(texts, metas)[1]
