"""Licence strings and URLs -> SPDX-like ids (`CC-BY-SA-4.0`, `CC0-1.0`, `PDM-1.0`, `MIT`).

Corpus builders filter and report by licence, so the many spellings of one licence (a
creativecommons.org deed URL, `CC BY-SA 4.0`, `cc-by-sa-4.0`) must become one id. Anything not
recognised is `unknown`: a wrong licence is worse than none.
"""

from __future__ import annotations

import functools
import re

UNKNOWN = "unknown"

_CC_URL = re.compile(
    r"creativecommons\.org/(?P<kind>licenses|licence|license|publicdomain)"
    r"(?:/(?P<name>[a-z0-9+\-]+))?(?:/(?P<version>\d+(?:\.\d+)?))?",
    re.IGNORECASE,
)
_CC_ELEMENTS = ("by", "nc", "nd", "sa")
_CC_TEXT = re.compile(
    r"^(?:cc|creative\s*commons)[\s_\-:]*(?P<name>(?:by|nc|nd|sa|zero|0)(?:[\s_\-+]*(?:by|nc|nd|sa))*)"
    r"(?:[\s_\-]*(?:v(?:ersion)?\s*)?(?P<version>\d+(?:\.\d+)?))?",
    re.IGNORECASE,
)

#: Non-CC licences seen in corpora, by lower-cased spelling -> SPDX id.
_SPDX = {
    spelling.lower(): spdx
    for spdx, spellings in {
        "MIT": ("mit", "mit license", "expat"),
        "Apache-2.0": ("apache-2.0", "apache 2.0", "apache2", "apache license 2.0", "apache-2"),
        "BSD-2-Clause": ("bsd-2-clause", "bsd 2-clause"),
        "BSD-3-Clause": ("bsd-3-clause", "bsd 3-clause", "bsd"),
        "GPL-2.0": ("gpl-2.0", "gplv2", "gpl 2.0", "gpl-2.0-only"),
        "GPL-3.0": ("gpl-3.0", "gplv3", "gpl 3.0", "gpl-3.0-only"),
        "LGPL-3.0": ("lgpl-3.0", "lgplv3"),
        "AGPL-3.0": ("agpl-3.0", "agplv3"),
        "MPL-2.0": ("mpl-2.0",),
        "ODC-By-1.0": ("odc-by", "odc-by-1.0", "odc-by 1.0"),
        "ODbL-1.0": ("odbl", "odbl-1.0"),
        "PDDL-1.0": ("pddl", "pddl-1.0"),
        "Unlicense": ("unlicense", "the unlicense"),
        "CC0-1.0": ("cc0", "cc0-1.0", "cc0 1.0", "cc-zero"),
        "PDM-1.0": ("pdm", "pdm-1.0", "public domain mark"),
        "public-domain": ("public domain", "public-domain", "publicdomain", "pd"),
        "GFDL-1.3": ("gfdl", "gfdl-1.3", "gnu free documentation license"),
    }.items()
    for spelling in (*spellings, spdx)
}


def _cc_id(elements: list[str], version: str | None) -> str | None:
    """`['by', 'nc', 'sa'], '4.0'` -> `CC-BY-NC-SA-4.0`; None when the elements are not a licence."""
    if not elements or elements[0] != "by" or len(set(elements)) != len(elements):
        return None
    if any(e not in _CC_ELEMENTS for e in elements) or ("nd" in elements and "sa" in elements):
        return None
    ordered = [e for e in _CC_ELEMENTS if e in elements]
    name = "CC-" + "-".join(e.upper() for e in ordered)
    if version:
        version = version if "." in version else version + ".0"
        name += "-" + version
    return name


def license_from_cc_url(url: str) -> str | None:
    """SPDX-like id for a creativecommons.org licence or public-domain URL, else None."""
    match = _CC_URL.search(url)
    if match is None:
        return None
    kind = match["kind"].lower()
    name = (match["name"] or "").lower()
    version = match["version"]
    if kind == "publicdomain":
        if name == "zero":
            return f"CC0-{version or '1.0'}"
        if name == "mark":
            return f"PDM-{version or '1.0'}"
        if name in ("", "deed", "deed.en"):
            return "CC-PDDC"  # the 2005-era public domain dedication and certification
        return None
    if name == "publicdomain":  # creativecommons.org/licenses/publicdomain/: the same dedication
        return "CC-PDDC"
    return _cc_id(name.replace("+", "-").split("-"), version)


def normalize_license(value: object) -> str:
    """Map a licence URL or name to an SPDX-like id; `unknown` when it is not recognised.

    Examples: `https://creativecommons.org/licenses/by-sa/4.0/deed.en` -> `CC-BY-SA-4.0`,
    `CC BY-NC-ND 3.0` -> `CC-BY-NC-ND-3.0`, `//creativecommons.org/publicdomain/mark/1.0/` ->
    `PDM-1.0`, `apache 2.0` -> `Apache-2.0`.
    """
    if value is None:
        return UNKNOWN
    return _normalize(str(value)[:500])


@functools.lru_cache(maxsize=4096)  # a corpus repeats a handful of licence spellings
def _normalize(value: str) -> str:
    text = value.strip()
    if not text:
        return UNKNOWN
    from_url = license_from_cc_url(text)
    if from_url is not None:
        return from_url
    if "creativecommons.org" in text.lower():
        return UNKNOWN
    known = _SPDX.get(text.lower())
    if known is not None:
        return known
    match = _CC_TEXT.match(text)
    if match is not None and match.end() == len(text.rstrip(" .")):
        name = match["name"].lower()
        if name in ("zero", "0"):
            return "CC0-1.0"
        elements = [e for e in re.split(r"[\s_\-+]+", name) if e]
        cc = _cc_id(elements, match["version"])
        if cc is not None:
            return cc
    return UNKNOWN
