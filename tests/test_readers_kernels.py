"""Kernels the row builder shares between threads and batches: the one-pass byte bounds that
pick the word-count and language kernels, and the host memo that maps hosts to registered
domains across batches (reset when full) with the same answers as `registered_domain`, and
both after a fork."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.provenance.domains import registered_domain
from auditor.readers import columnar
from auditor.readers.textstats import arrow_word_counts, byte_bounds, text_bytes


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(
    [" ", "\t", "\n", "\x1f", "\x00", "\x07", "a", "Z", "\u00e9", "\u00a0", "\u3000", "\x85"]),
    max_size=15), max_size=30))
def test_byte_bounds_pick_kernels_that_count_like_str_split(texts):
    arr = pa.array(texts, pa.string())
    buf = text_bytes(arr)[0]
    low, high = byte_bounds(buf)
    if buf.size:
        assert (low, high) == (int(buf.min()), int(buf.max()))
    expected = [len(t.split()) for t in texts]
    assert arrow_word_counts(arr, ascii_only=high < 0x80, controls=low < 0x20).tolist() == expected
    # a caller unsure about control bytes may say so
    assert arrow_word_counts(arr, ascii_only=high < 0x80, controls=True).tolist() == expected


def test_host_memo_answers_like_registered_domain_across_batches_and_resets(monkeypatch):
    monkeypatch.setattr(columnar, "DOMAIN_MEMO", 6)
    memo = columnar._HostMemo()
    batches = [
        ["news.bbc.co.uk", None, "en.wikipedia.org", "news.bbc.co.uk", "127.0.0.1"],
        ["de.wikipedia.org", "localhost", None, "a.b.example.com", "en.wikipedia.org"],
        ["x.github.io", "blog.example.org", "sub.x.github.io", "news.bbc.co.uk", "q.r.s.t.uk"],
    ]
    for hosts in batches:
        got = memo.domains_of(pa.array(hosts, pa.string())).to_pylist()
        assert got == [None if h is None else registered_domain(h) for h in hosts]
        assert len(memo.hosts) == len(memo.domains) <= 6 + len(set(hosts))
    # the third batch overflowed the memo: it starts again from that batch's hosts
    assert sorted(memo.hosts.to_pylist()) == sorted(set(batches[-1]))
    # every memo entry is a host with its own domain, null never among them
    assert memo.hosts.null_count == 0
    assert memo.domains.to_pylist() == [registered_domain(h) for h in memo.hosts.to_pylist()]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_builds_rows_again():
    """The row helper's thread and the memo's lock do not survive a fork: a child forked
    after a scan (a fork-based worker pool, a data loader) gets fresh ones instead of
    waiting forever on a thread that is not there."""
    columnar._helper().submit(int).result()
    columnar._HOSTS.domains_of(pa.array(["b.example.org"]))
    pid = os.fork()
    if pid == 0:  # the child: report by exit code only
        try:
            ok = columnar._helper().submit(lambda: 41 + 1).result(timeout=10) == 42
            ok &= (columnar._HOSTS.domains_of(pa.array(["a.example.com"])).to_pylist()
                   == [registered_domain("a.example.com")])
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
