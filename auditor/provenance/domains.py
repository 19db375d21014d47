"""Registered domain of a URL (`news.bbc.co.uk` -> `bbc.co.uk`), offline.

Estimates are grouped by site, and sites are registered domains, not hosts: `en.wikipedia.org`
and `de.wikipedia.org` are one source. The public-suffix list bundled with tldextract is used
(`suffix_list_urls=()`), so nothing is fetched at run time.
"""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import urlsplit


@functools.lru_cache(maxsize=1)
def _extractor():
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def host_of(url: str) -> str | None:
    """Lower-cased host of `url` (scheme optional), `None` when there is none."""
    text = url.strip()
    if not text:
        return None
    if "://" not in text and not text.startswith("//"):
        text = "//" + text  # a bare host or host/path
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


@functools.lru_cache(maxsize=65536)
def registered_domain(url: str | None) -> str | None:
    """The registered domain of `url`; the host itself for IPs and hosts with no public suffix."""
    if not url:
        return None
    host = host_of(url)
    if not host:
        return None
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    parts = _extractor()(host)
    if parts.domain and parts.suffix:
        return f"{parts.domain}.{parts.suffix}"
    return host
