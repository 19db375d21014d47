"""Provenance read from raw HTML before text extraction: licences, generator, IPTC source type.

Text extraction throws away `<link rel="license">`, `<meta name="generator">` and embedded
IPTC/XMP metadata, which are the only places a page states its licence or that a tool (or a
generative model) made it. So WARC readers call `html_provenance` on the raw HTML first, as
dolma's Creative Commons tagger does. Regular expressions over the tags, not a DOM parse:
this runs on every crawled page and only needs attributes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditor.provenance.licenses import UNKNOWN, license_from_cc_url, normalize_license

_TAG = re.compile(rb"<(a|link|meta|area)\b([^>]{0,4000})>", re.IGNORECASE)
_ATTR = re.compile(rb"""([a-zA-Z_:][\w:.\-]*)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")
_CC_HREF = re.compile(rb"creativecommons\.org/(?:licenses|licence|license|publicdomain)", re.I)
#: The IPTC code as a URL (`cv.iptc.org/newscodes/digitalsourcetype/CODE`), or one of the
#: generative-AI codes written bare (XMP, JSON-LD, C2PA manifests quote them without the URL).
_DIGITAL_SOURCE = re.compile(
    rb"cv\.iptc\.org/newscodes/digitalsourcetype/(?P<code>[A-Za-z]{4,64})"
    rb"|\b(?P<bare>compositeWithTrainedAlgorithmicMedia|trainedAlgorithmicMedia|algorithmicMedia)\b",
    re.IGNORECASE,
)
#: Plain substring checks that gate the (slow, case-insensitive) regex on every page.
_DIGITAL_SOURCE_HINTS = (b"lgorithmicMedia", b"lgorithmicmedia", b"igitalsourcetype",
                         b"ALGORITHMICMEDIA", b"igitalSourceType")
_GENERATOR_MAX = 200


@dataclass(frozen=True)
class HtmlProvenance:
    """What a page says about itself. `license` prefers a `rel="license"` link over other links."""

    license: str = UNKNOWN
    license_source: str | None = None  # "rel" (rel=license) or "link" (any creativecommons.org link)
    licenses_found: tuple[str, ...] = ()
    generator: str | None = None
    digital_source_type: str | None = None


def _attrs(raw: bytes) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in _ATTR.findall(raw):
        key = name.decode("ascii", "replace").lower()
        if key not in found:
            text = value.strip(b"\"'").decode("utf-8", "replace")
            found[key] = _unescape(text).strip()
    return found


def _unescape(text: str) -> str:
    if "&" not in text:
        return text
    import html

    return html.unescape(text)


def html_provenance(html: bytes | str) -> HtmlProvenance:
    """Licences, generator and IPTC digital-source-type stated in raw HTML.

    A licence comes from `<a|link|area rel="license" href=...>` (any rel token ending in
    `license`, so RDFa `cc:license` counts) first, else from any creativecommons.org licence link
    in an `href` or a `<meta content>`. `generator` is `<meta name="generator" content>`;
    `digital_source_type` is the IPTC code (e.g. `trainedAlgorithmicMedia`) found anywhere.
    """
    raw = html.encode("utf-8", "replace") if isinstance(html, str) else html
    rel_licenses: list[str] = []
    link_licenses: list[str] = []
    generator: str | None = None
    for tag, body in _TAG.findall(raw):
        tag = tag.lower()
        lowered = body.lower()
        if tag == b"meta":
            if b"generator" in lowered or b"creativecommons" in lowered:
                attrs = _attrs(body)
                if attrs.get("name", "").lower() == "generator" and generator is None:
                    generator = attrs.get("content", "")[:_GENERATOR_MAX] or None
                content = attrs.get("content", "")
                if _CC_HREF.search(content.encode()):
                    found = license_from_cc_url(content)
                    if found:
                        link_licenses.append(found)
            continue
        if b"license" not in lowered and b"licence" not in lowered and b"creativecommons" not in lowered:
            continue
        attrs = _attrs(body)
        href = attrs.get("href", "")
        rel_tokens = attrs.get("rel", "").lower().split()
        if any(t.endswith("license") or t.endswith("licence") for t in rel_tokens) and href:
            normalised = normalize_license(href)
            if normalised != UNKNOWN:
                rel_licenses.append(normalised)
                continue
        if href and _CC_HREF.search(href.encode()):
            found = license_from_cc_url(href)
            if found:
                link_licenses.append(found)
    dst = _DIGITAL_SOURCE.search(raw) if any(k in raw for k in _DIGITAL_SOURCE_HINTS) else None
    digital_source_type = (dst["code"] or dst["bare"]).decode("ascii") if dst else None
    found_all = tuple(dict.fromkeys(rel_licenses + link_licenses))
    if rel_licenses:
        license, source = rel_licenses[0], "rel"
    elif link_licenses:
        license, source = link_licenses[0], "link"
    else:
        license, source = UNKNOWN, None
    return HtmlProvenance(
        license=license,
        license_source=source,
        licenses_found=found_all,
        generator=generator,
        digital_source_type=digital_source_type,
    )
