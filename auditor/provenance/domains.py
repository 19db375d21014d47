"""Registered domain of a URL (`news.bbc.co.uk` -> `bbc.co.uk`), offline.

Estimates are grouped by site, and sites are registered domains, not hosts: `en.wikipedia.org`
and `de.wikipedia.org` are one source. The public-suffix list bundled with tldextract is used
(`suffix_list_urls=()`), so nothing is fetched at run time.
"""

from __future__ import annotations

import functools
import ipaddress
import re


@functools.lru_cache(maxsize=1)
def _extractor():
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


_HOST = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.\-]*:)?//(?:[^@/?#]*@)?(\[[^\]/]*\]|[^:/?#]*)")


def host_of(url: str) -> str | None:
    """Lower-cased host of `url` (scheme optional), `None` when there is none."""
    text = url.strip()
    if not text:
        return None
    if "//" not in text[:12]:
        text = "//" + text  # a bare host or host/path
    match = _HOST.match(text)
    if match is None:
        return None
    host = match.group(1).strip("[]").lower().rstrip(".")
    return host or None


def registered_domain(url: str | None) -> str | None:
    """The registered domain of `url`; the host itself for IPs and hosts with no public suffix."""
    if not url:
        return None
    host = host_of(url)
    return _domain_of_host(host) if host else None


@functools.lru_cache(maxsize=1 << 16)
def _domain_of_host(host: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    parts = _extractor()(host)
    if parts.domain and parts.suffix:
        return f"{parts.domain}.{parts.suffix}"
    return host
