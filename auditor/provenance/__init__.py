"""Provenance facts read from records and raw HTML, one module per fact.

- `dates.parse_date`: any date form corpora use -> UTC `datetime` (crawl dates decide the
  pre-cutoff human reference).
- `domains.registered_domain`: URL -> registered domain, offline (sources are sites).
- `licenses.normalize_license`: licence URLs and names -> SPDX-like ids.
- `html_meta.html_provenance`: licence links, `<meta name="generator">` and IPTC
  digital-source-type from raw HTML, before text extraction throws them away.

Readers (`auditor.readers.mapping`) apply these to every record; nothing here reads files.
"""

from auditor.provenance.dates import crawl_month, parse_date
from auditor.provenance.domains import registered_domain
from auditor.provenance.html_meta import HtmlProvenance, html_provenance
from auditor.provenance.licenses import UNKNOWN, normalize_license

__all__ = ["UNKNOWN", "HtmlProvenance", "crawl_month", "html_provenance", "normalize_license",
           "parse_date", "registered_domain"]
