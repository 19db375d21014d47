"""Registered domains without importing tldextract (`auditor.provenance.domains`) give what
tldextract itself gives, on the hosts of the real crawl samples and on every rule of the
public-suffix list, wildcards, exceptions, private domains and punycode included."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import tldextract

from auditor.provenance.domains import (
    PRIVATE_SECTION,
    PSL_SNAPSHOT,
    _domain_of_host,
    host_of,
    registered_domain,
)


def tldextract_domain(host: str) -> str:
    """The rule as it was before: tldextract on the host, private domains left out."""
    parts = EXTRACT(host)
    return f"{parts.domain}.{parts.suffix}" if parts.domain and parts.suffix else host


EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def snapshot_rules() -> tuple[list[str], list[str]]:
    folder = list(importlib.util.find_spec("tldextract").submodule_search_locations)[0]
    with open(os.path.join(folder, PSL_SNAPSHOT), encoding="utf-8") as fh:
        public, _, private = fh.read().partition(PRIVATE_SECTION)

    def rules(text: str) -> list[str]:
        return [line.split()[0] for line in text.splitlines()
                if line.strip() and not line.startswith("//")]
    return rules(public), rules(private)


def test_every_rule_of_the_list_gives_what_tldextract_gives():
    public, private = snapshot_rules()
    assert len(public) > 5000 and len(private) > 1000 and any(r.startswith("!") for r in public)
    hosts = set()
    for rule in public + private:
        bare = rule.lstrip("!").removeprefix("*.")
        hosts |= {bare, f"shop.{bare}", f"a.b.{bare}", f"www.{bare}", f"www.a.{bare}"}
    hosts |= {"localhost", "a..com", "com", ".", "uk", "co.uk", "www.ck", "a.www.ck", "b.ck",
              "a.b.ck", "xn--80ak6aa92e.com", "a.xn--p1ai", "xn--zz.com", "a.xn--zz",
              "www.b\u00fccher.de", "a\u3002b\u3002co\u3002uk", "x.y.co.uk\uff0e",
              "nic.xn--3e0b707e", "bbc.co.uk.", "MiXeD.Example.CO.UK", "1.2.3.4", "999.1.1.1",
              "user@host.example.com", "host.example.com:8080", "::1", "2001:db8::1"}
    differ = sorted(h for h in hosts if _domain_of_host(h) != tldextract_domain(h))
    assert not differ, differ[:20]


def test_the_real_crawl_hosts_give_what_tldextract_gives(shared_data):
    crawl = shared_data / "crawl"
    urls = pq.read_table(crawl / "cc-main-2026-30-sample.parquet",
                         columns=["WARC-Target-URI"]).column(0).to_pylist()
    with gzip.open(crawl / "c4-sample-2019.json.gz", "rt", encoding="utf-8") as fh:
        urls += [json.loads(line).get("url") for line in fh]
    with gzip.open(crawl / "dolma-cc-en-head-2020.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            meta = json.loads(line).get("metadata") or {}
            urls.append(meta.get("url") if isinstance(meta, dict) else None)
    hosts = {host_of(u) for u in urls if isinstance(u, str)} - {None}
    assert len(hosts) > 1000
    differ = sorted(h for h in hosts if _domain_of_host(h) != tldextract_domain(h))
    assert not differ, differ[:20]
    assert registered_domain("https://en.wikipedia.org/wiki/X") == "wikipedia.org"


def test_a_lookup_imports_neither_tldextract_nor_requests():
    code = ("import sys; from auditor.provenance.domains import registered_domain as r; "
            "assert r('http://news.bbc.co.uk/a') == 'bbc.co.uk'; "
            "print(sorted(m for m in ('tldextract', 'requests') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.stdout.strip() == "[]"
