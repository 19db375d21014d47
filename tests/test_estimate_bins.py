"""The SQL binning used for histograms agrees with numpy's rule (count of edges <= score)."""

import duckdb
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.estimate.histograms import bin_sql

finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(finite, max_size=60), st.lists(finite, min_size=1, max_size=200))
def test_sql_bins_match_counting_edges(edge_values, scores):
    edges = np.unique(np.asarray(edge_values, dtype=float))
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest(?::DOUBLE[]) AS score", [scores + [float("nan")]])
    got = [b for (b,) in con.execute(f"SELECT {bin_sql('score', edges)} FROM t").fetchall()]
    expected = [int(np.sum(edges <= s)) for s in scores] + [len(edges)]  # NaN sorts last
    assert got == expected
