"""Shards the store holds whose files are gone: found (`missing_shards`, reported by the scan
and `auditor status`) and removed on request (`prune_missing`, `auditor prune`).

Nothing is removed by a scan on its own: a shard on an unmounted disk or a moved folder looks
the same as a deleted one, and its rows may be all that is left of it.
"""

from __future__ import annotations

import os

from auditor.store.catalogue import Store, open_store


def _gone(uri: str) -> bool:
    """True for a local shard whose file no longer exists (remote URIs and `hf:` datasets are
    not checked: that would mean a network call per shard)."""
    if uri.startswith("hf:") or ("://" in uri and not uri.startswith("file://")):
        return False
    return not os.path.exists(uri[len("file://"):] if uri.startswith("file://") else uri)


def missing_shards(store: Store) -> list[str]:
    """Catalogued local shards whose files are gone, sorted."""
    return sorted(s["uri"] for s in store.shards() if _gone(s["uri"]))


def prune_missing(db_path: str | os.PathLike, dry_run: bool = False) -> list[dict]:
    """Remove the rows, errors and side-cars of every shard whose file is gone.

    Returns one {"shard", "documents", "sidecars"} per shard (what was, or with `dry_run`
    would be, removed).
    """
    with open_store(db_path, read_only=dry_run, holder="auditor prune") as store:
        out = []
        for uri in missing_shards(store):
            docs = store.con.execute("SELECT coalesce(sum(n_stored), 0) FROM units "
                                     "WHERE shard = ?", [uri]).fetchone()[0]
            sidecars = len(store.paths.shard_sidecars(uri))
            if not dry_run:
                store.forget_shard(uri)
                store.con.execute("DELETE FROM shards WHERE uri = ?", [uri])
            out.append({"shard": uri, "documents": int(docs), "sidecars": sidecars})
        if out and not dry_run:
            store.refresh_view()
    return out
