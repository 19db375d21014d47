"""Findings of a QA walkthrough on the real crawl samples (`../shared/data/crawl`) and the demo
corpus: the headline's reference count, audits kept across code upgrades, the JSON headline of
`estimate --by`, the rise gate's comparable runs, and the separation check's cost."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from auditor.cli import main


def _invoke(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def crawl_store(shared_data, tmp_path_factory) -> str:
    db = str(tmp_path_factory.mktemp("crawl") / "crawl.duckdb")
    r = _invoke(["scan", str(shared_data / "crawl"), "--db", db, "--json"])
    assert r.exit_code in (0, 3), r.output  # 3: the scan left a record out, said so
    return db


def test_the_headline_counts_each_reference_document_once(crawl_store):
    """`--by domain` summed the domains' reference sizes into the headline: 991,118 human
    reference documents on a store of 1,121 documents (each domain of a source counted that
    source's whole reference again, each borrower its donor's)."""
    from auditor.estimate import estimate_db

    heads = {}
    for by in (["domain"], ["source"], []):
        rows = estimate_db(crawl_store, by=by, overall=True, n_boot=0, record=False)
        heads[tuple(by)] = [e for e in rows if not e.group][0]
    by_source = [e for e in estimate_db(crawl_store, by=["source"], n_boot=0, record=False)
                 if e.group]
    # the references do not depend on how the target is grouped
    assert len({h.n_human_ref for h in heads.values()}) == 1, heads
    # each document once: at most the store's own documents plus the shipped default rows
    shipped = max((e.n_human_ref for e in by_source if e.human_ref_kind.startswith("default")),
                  default=0)
    head = heads[("domain",)]
    assert 0 < head.n_human_ref <= head.n_docs + shipped
