"""Licence normalisation (table and properties) and provenance read from raw HTML."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.provenance.domains import registered_domain
from auditor.provenance.html_meta import html_provenance
from auditor.provenance.licenses import normalize_license


@pytest.mark.parametrize("value,expected", [
    ("https://creativecommons.org/licenses/by-sa/4.0/deed.en", "CC-BY-SA-4.0"),
    ("//creativecommons.org/licenses/by/2.5/", "CC-BY-2.5"),
    ("http://creativecommons.org/licenses/by-nc-nd/3.0/us/", "CC-BY-NC-ND-3.0"),
    ("http://creativecommons.org/licenses/by-nd/3.0", "CC-BY-ND-3.0"),
    ("https://creativecommons.org/licenses/by-nc-sa/2.0/legalcode", "CC-BY-NC-SA-2.0"),
    ("http://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0"),
    ("https://creativecommons.org/publicdomain/mark/1.0/", "PDM-1.0"),
    ("http://creativecommons.org/licenses/publicdomain/", "CC-PDDC"),
    ("CC BY-SA 4.0", "CC-BY-SA-4.0"), ("cc-by-4.0", "CC-BY-4.0"), ("CC-BY-NC-ND-3.0", "CC-BY-NC-ND-3.0"),
    ("Creative Commons BY-NC 4.0", "CC-BY-NC-4.0"), ("cc by nc sa 2", "CC-BY-NC-SA-2.0"),
    ("CC0", "CC0-1.0"), ("cc0-1.0", "CC0-1.0"), ("Apache 2.0", "Apache-2.0"), ("mit", "MIT"),
    ("odc-by", "ODC-By-1.0"), ("Public Domain", "public-domain"),
    ("https://creativecommons.org/", "unknown"), ("http://creativecommons.org/license/", "unknown"),
    ("cc-by-nd-sa-4.0", "unknown"), ("all rights reserved", "unknown"), ("", "unknown"),
    (None, "unknown"), ("https://example.com/licenses/by/4.0/", "unknown"),
])
def test_licence_table(value, expected):
    assert normalize_license(value) == expected


elements = st.sampled_from([["by"], ["by", "sa"], ["by", "nd"], ["by", "nc"], ["by", "nc", "sa"],
                            ["by", "nc", "nd"]])
versions = st.sampled_from(["1.0", "2.0", "2.5", "3.0", "4.0"])


@settings(derandomize=True)
@given(elements, versions, st.booleans(), st.sampled_from(["", "deed.en", "legalcode", "us/"]))
def test_url_and_text_forms_agree(parts, version, https, tail):
    expected = "CC-" + "-".join(p.upper() for p in parts) + "-" + version
    url = f"{'https' if https else 'http'}://creativecommons.org/licenses/{'-'.join(parts)}/{version}/{tail}"
    assert normalize_license(url) == expected
    assert normalize_license(f"CC {'-'.join(parts).upper()} {version}") == expected
    assert normalize_license(expected.lower()) == expected
    assert normalize_license(expected) == expected  # idempotent


@settings(derandomize=True)
@given(st.text(max_size=40))
def test_never_raises_and_is_idempotent(text):
    once = normalize_license(text)
    assert isinstance(once, str) and once
    assert normalize_license(once) in (once, "unknown") if once == "public-domain" else \
        normalize_license(once) == once


def test_html_prefers_rel_license_over_other_links():
    html = b"""<html><head><meta name="generator" content="WordPress 6.4">
      <link rel="license" href="https://creativecommons.org/licenses/by-sa/4.0/"></head><body>
      <a href="http://creativecommons.org/licenses/by/2.5/">other work</a></body></html>"""
    found = html_provenance(html)
    assert (found.license, found.license_source) == ("CC-BY-SA-4.0", "rel")
    assert found.licenses_found == ("CC-BY-SA-4.0", "CC-BY-2.5")
    assert found.generator == "WordPress 6.4"


@pytest.mark.parametrize("tag,expected", [
    ('<a rel="license" href="//creativecommons.org/publicdomain/zero/1.0/">', "CC0-1.0"),
    ("<A REL='cc:license' HREF='http://creativecommons.org/licenses/by-nc/3.0/'>", "CC-BY-NC-3.0"),
    ('<a href="https://creativecommons.org/licenses/by-nd/4.0/deed.de" rel="license noopener">',
     "CC-BY-ND-4.0"),
    ('<a rel=license href=http://creativecommons.org/licenses/by/3.0/>', "CC-BY-3.0"),
    ('<a href="https://creativecommons.org/licenses/by-nc-sa/4.0/">', "CC-BY-NC-SA-4.0"),
    ('<meta name="dc.rights" content="https://creativecommons.org/licenses/by/4.0/">', "CC-BY-4.0"),
    ('<a href="http://creativecommons.org/">Creative Commons</a>', "unknown"),
    ('<a rel="license" href="/terms">Terms</a>', "unknown"),
])
def test_html_licence_forms(tag, expected):
    assert html_provenance(f"<html><body>{tag}text</a></body></html>").license == expected


def test_html_generator_and_iptc_digital_source_type():
    html = ('<meta content="Hugo 0.121" name="Generator"><meta property="Iptc4xmpExt:'
            'DigitalSourceType" content="http://cv.iptc.org/newscodes/digitalsourcetype/'
            'trainedAlgorithmicMedia">')
    found = html_provenance(html)
    assert found.generator == "Hugo 0.121" and found.digital_source_type == "trainedAlgorithmicMedia"
    json_ld = '<script type="application/ld+json">{"digitalSourceType": ' \
              '"compositeWithTrainedAlgorithmicMedia"}</script>'
    assert html_provenance(json_ld).digital_source_type == "compositeWithTrainedAlgorithmicMedia"
    plain = html_provenance("<p>We discuss algorithmic media and digital source types.</p>")
    assert plain.digital_source_type is None and plain.generator is None
    assert plain.license == "unknown" and plain.license_source is None


@pytest.mark.parametrize("url,expected", [
    ("https://news.bbc.co.uk/x", "bbc.co.uk"), ("an.wikipedia.org/wiki/E", "wikipedia.org"),
    ("http://127.0.0.1:8080/a", "127.0.0.1"), ("http://localhost/", "localhost"),
    ("//www.Example.COM/path", "example.com"), ("https://user:pw@a.b.example.org:443/", "example.org"),
    ("", None), (None, None),
])
def test_registered_domain(url, expected):
    assert registered_domain(url) == expected
