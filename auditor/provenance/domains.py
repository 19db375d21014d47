"""Registered domain of a URL (`news.bbc.co.uk` -> `bbc.co.uk`), offline.

Estimates are grouped by site, and sites are registered domains, not hosts: `en.wikipedia.org`
and `de.wikipedia.org` are one source. The rule is tldextract's with its bundled public-suffix
list and private domains left out (`TLDExtract(suffix_list_urls=())`): the longest ICANN
suffix, wildcards (`*.ck`) and their exceptions (`!www.ck`) included, matched on labels with
punycode decoded, plus the one label before it. The list is read from the snapshot file
tldextract ships, without importing tldextract: its import pulls in `requests` and its first
lookup builds a trie of every suffix, both in each scan's start-up (the scan's fixed start-up
is in reports/scan_bench.md). `tests/test_domains_psl.py` checks the two agree on real crawl
hosts and on every rule of the list.
"""

from __future__ import annotations

import functools
import importlib.util
import ipaddress
import os
import re

#: The public-suffix list snapshot inside the tldextract package, and where its private
#: (non-ICANN) section starts: tldextract's defaults.
PSL_SNAPSHOT = ".tld_set_snapshot"
PRIVATE_SECTION = "// ===BEGIN PRIVATE DOMAINS==="
_RULE = re.compile(r"^(?P<suffix>[.*!]*\w[\S]*)", re.UNICODE | re.MULTILINE)  # tldextract's
_DOTS = ("\u3002", "\uff0e", "\uff61")  # ideographic and full-width full stops


class _Node:
    """One label of the suffix trie (labels right to left)."""

    __slots__ = ("end", "matches")

    def __init__(self) -> None:
        self.matches: dict[str, _Node] = {}
        self.end = False


@functools.lru_cache(maxsize=1)
def _suffix_trie() -> _Node:
    """The ICANN rules of the bundled list as a trie (a few ms; read once per process)."""
    spec = importlib.util.find_spec("tldextract")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("tldextract is not installed: its public-suffix list is needed "
                           "for registered domains (pip install tldextract)")
    path = os.path.join(list(spec.submodule_search_locations)[0], PSL_SNAPSHOT)
    with open(path, encoding="utf-8") as fh:
        public = fh.read().partition(PRIVATE_SECTION)[0]
    root = _Node()
    for rule in {m.group("suffix") for m in _RULE.finditer(public)}:
        node = root
        for label in reversed(rule.split(".")):
            node = node.matches.setdefault(label, _Node())
        node.end = True
    return root


def _decoded(label: str) -> str:
    """A label as the list spells it: lower case, punycode (`xn--`) decoded when it decodes."""
    lowered = label.lower()
    if lowered.startswith("xn--"):
        import idna

        try:
            return idna.decode(lowered)
        except (UnicodeError, IndexError):
            pass
    return lowered


def _suffix_start(labels: list[str]) -> int | None:
    """Index of the first label of the public suffix of `labels`, None when none matches."""
    node = _suffix_trie()
    suffix_at = at = len(labels)
    for label in reversed(labels):
        decoded = _decoded(label)
        if decoded in node.matches:
            at -= 1
            node = node.matches[decoded]
            if node.end:
                suffix_at = at
            continue
        if "*" in node.matches:  # a wildcard rule, unless this label is its exception
            return at if "!" + decoded in node.matches else at - 1
        break
    return None if suffix_at == len(labels) else suffix_at


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
    # the host as tldextract's lenient parser leaves it, with ASCII dots
    name = host.rpartition("@")[-1].partition(":")[0].strip().rstrip("." + "".join(_DOTS))
    for dot in _DOTS:
        name = name.replace(dot, ".")
    labels = name.split(".")
    start = _suffix_start(labels)
    if start is not None and start > 0 and labels[start - 1] and start < len(labels):
        return ".".join(labels[start - 1:])
    return host
