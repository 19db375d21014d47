"""Language tags as the store keeps them: ISO 639-1 (`en`, `es`), whatever the input wrote.

Common Crawl's WET files name languages in ISO 639-3 (`WARC-Identified-Content-Language: eng`),
library catalogues in ISO 639-2/B (`ger`, `fre`), other corpora in BCP 47 with a region
(`en-US`, `pt_BR`) or in capitals (`EN`), and the identifier in ISO 639-1. Stored as given,
`--by language` would split one language into several rows. Every language value a reader gives
(a metadata column, a format's default, a WARC header) goes through `primary_language` once
per distinct value (auditor/readers/columnar.py), so the stored column holds one code per language;
detectors compare their declared languages through the same function.

The stored column is the language alone: a region or script subtag (`en-US`, `zh-Hant`) and any
further languages of a list (`eng,spa`) are dropped there, because the tools split by language,
not by dialect. What was dropped is not lost: the reader keeps the tag as written in
`meta.language_raw` (`tag_loses_detail`).
"""

from __future__ import annotations

#: ISO 639-3 (and the ISO 639-2/T codes, the same letters) -> ISO 639-1, for the languages
#: corpora, Common Crawl's language identifier and py3langid name most.
ISO639_3_TO_1 = {
    "afr": "af", "amh": "am", "ara": "ar", "aze": "az", "bel": "be", "ben": "bn", "bos": "bs",
    "bul": "bg", "cat": "ca", "ces": "cs", "cym": "cy", "dan": "da", "deu": "de", "ell": "el",
    "eng": "en", "epo": "eo", "est": "et", "eus": "eu", "fao": "fo", "fas": "fa", "fin": "fi",
    "fra": "fr", "gle": "ga", "glg": "gl", "guj": "gu", "hau": "ha", "heb": "he", "hin": "hi",
    "hrv": "hr", "hun": "hu", "hye": "hy", "ibo": "ig", "ind": "id", "isl": "is", "ita": "it",
    "jav": "jv", "jpn": "ja", "kan": "kn", "kat": "ka", "kaz": "kk", "khm": "km", "kir": "ky",
    "kor": "ko", "kur": "ku", "lao": "lo", "lat": "la", "lav": "lv", "lit": "lt", "ltz": "lb",
    "mal": "ml", "mar": "mr", "mkd": "mk", "mlt": "mt", "mon": "mn", "msa": "ms", "mya": "my",
    "nep": "ne", "nld": "nl", "nno": "nn", "nob": "nb", "nor": "no", "ori": "or", "pan": "pa",
    "pol": "pl", "por": "pt", "pus": "ps", "ron": "ro", "rus": "ru", "sin": "si", "slk": "sk",
    "slv": "sl", "som": "so", "spa": "es", "sqi": "sq", "srp": "sr", "sun": "su", "swa": "sw",
    "swe": "sv", "tam": "ta", "tat": "tt", "tel": "te", "tgl": "tl", "tha": "th", "tur": "tr",
    "ukr": "uk", "urd": "ur", "uzb": "uz", "vie": "vi", "xho": "xh", "yor": "yo", "zho": "zh",
    "zul": "zu",
    # ISO 639-2/B (bibliographic) codes that differ from the 639-3 ones
    "alb": "sq", "arm": "hy", "baq": "eu", "bur": "my", "chi": "zh", "cze": "cs", "dut": "nl",
    "fre": "fr", "geo": "ka", "ger": "de", "gre": "el", "ice": "is", "mac": "mk", "may": "ms",
    "per": "fa", "rum": "ro", "slo": "sk", "wel": "cy",
}


def _split(tag: str) -> tuple[str, str]:
    """The tag lower-cased and trimmed, with `_` read as `-`, and its primary language subtag."""
    whole = tag.strip().lower().replace("_", "-")
    return whole, whole.split(",")[0].strip().split("-")[0].strip()


def primary_language(tag: str | None) -> str | None:
    """The stored language of a tag or list: its first language's primary subtag, lower-case,
    as ISO 639-1 where the table knows the three-letter code (`eng,spa` -> `en`, `EN` -> `en`,
    `en-US` -> `en`, `pt_BR` -> `pt`, `ger` -> `de`); an unknown code is kept lower-cased as
    written; None, empty or blank -> None (no language given: the text is identified).
    Idempotent: a stored code maps to itself."""
    if not tag:
        return None
    head = _split(tag)[1]
    return ISO639_3_TO_1.get(head, head) or None


def tag_loses_detail(tag: str | None) -> bool:
    """Whether `primary_language` drops part of the tag (a region or script subtag, further
    languages of a list), so the reader keeps the tag as written in `meta.language_raw`. Case
    and three-letter codes lose nothing: `EN` and `eng` are `en`."""
    if not tag:
        return False
    whole, head = _split(tag)
    return bool(head) and whole != head
