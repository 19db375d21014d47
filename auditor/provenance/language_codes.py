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
not by dialect. A value that names no language (`und`, `unknown`, a number, a sentence) is no
language: the text is identified, as when the field is missing. What was dropped is not lost:
the reader keeps the value as written in `meta.language_raw` (`tag_loses_detail`).
"""

from __future__ import annotations

import re

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


#: English names datasets write instead of a code (`"language": "English"`).
LANGUAGE_NAMES = {
    "english": "en", "german": "de", "french": "fr", "spanish": "es", "portuguese": "pt",
    "italian": "it", "dutch": "nl", "russian": "ru", "chinese": "zh", "japanese": "ja",
    "korean": "ko", "arabic": "ar", "polish": "pl", "turkish": "tr", "vietnamese": "vi",
    "hindi": "hi", "indonesian": "id", "ukrainian": "uk", "swedish": "sv", "czech": "cs",
    "greek": "el", "persian": "fa", "hebrew": "he", "thai": "th",
}

#: Values that say the language is not known (ISO 639 `und`, `mul`, `zxx`, `mis` among them):
#: no language, so the text is identified, as when the field is missing.
NOT_A_LANGUAGE = frozenset({"und", "mul", "zxx", "mis", "unknown", "none", "null", "n/a", "nan"})

#: One BCP 47-like tag: a two- or three-letter language, then subtags (`en`, `en-us`,
#: `zh-hant-tw`), after lower-casing and reading `_` as `-`.
_TAG = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")
#: What separates the languages of a list (`eng,spa`, `en; fr`, `en fr`).
_LIST = re.compile(r"\s*[,;\s]\s*")


def parse_tag(tag: str | None) -> tuple[str | None, bool]:
    """(`primary_language`, `tag_loses_detail`) of a tag in one parse, for a caller that needs
    both."""
    whole = tag.strip().lower().replace("_", "-") if tag else ""
    if not whole:
        return None, False
    first = _LIST.split(whole, maxsplit=1)[0]
    if first in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[first], first != whole
    if first in NOT_A_LANGUAGE or not _TAG.fullmatch(first):
        return None, True  # not a language code: identified from the text, the value kept
    head = first.split("-")[0]
    return ISO639_3_TO_1.get(head, head), head != whole


def primary_language(tag: str | None) -> str | None:
    """The stored language of a tag or list: its first language's primary subtag, lower-case,
    as ISO 639-1 where the table knows the three-letter code (`eng,spa` -> `en`, `EN` -> `en`,
    `en-US` -> `en`, `pt_BR` -> `pt`, `ger` -> `de`, `English` -> `en`); an unknown two- or
    three-letter code is kept lower-cased as written. None where the value names no language
    (empty, `und`, `unknown`, a number, a sentence): the text is then identified, as when the
    field is missing. Idempotent: a stored code maps to itself."""
    return parse_tag(tag)[0]


def tag_loses_detail(tag: str | None) -> bool:
    """Whether the stored code drops part of the value (a region or script subtag, further
    languages of a list, or the whole value when it names no language), so the reader keeps
    the value as written in `meta.language_raw`. Case, three-letter codes and names lose
    nothing: `EN`, `eng` and `English` are `en`."""
    return parse_tag(tag)[1]
