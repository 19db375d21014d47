"""Language tags as the store keeps them: ISO 639-1 (`en`, `es`), whatever the input wrote.

Common Crawl's WET files name languages in ISO 639-3 (`WARC-Identified-Content-Language: eng`),
other corpora and the identifier in ISO 639-1; stored as-is, `--by language` would split one
language in two. This is the one table from three-letter to two-letter codes: the WARC reader
maps with it, and detectors compare their declared languages through it.
"""

from __future__ import annotations

#: ISO 639-3 -> ISO 639-1 for the languages corpora and detectors name most.
ISO639_3_TO_1 = {"eng": "en", "deu": "de", "fra": "fr", "spa": "es", "por": "pt", "ita": "it",
                 "nld": "nl", "rus": "ru", "zho": "zh", "jpn": "ja", "kor": "ko", "ara": "ar"}


def primary_language(tag: str | None) -> str | None:
    """The primary ISO 639-1 code of a language tag or list (`eng,spa` -> `en`, `en-US` ->
    `en`, `pt_BR` -> `pt`); an unknown three-letter code is kept as written; None or empty ->
    None."""
    if not tag:
        return None
    head = tag.strip().lower().split(",")[0].strip().replace("_", "-").split("-")[0]
    return ISO639_3_TO_1.get(head, head) or None
