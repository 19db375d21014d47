"""The store: side-car Parquet files (per work unit: provenance, plus one attribute side-car
per detector) and a DuckDB catalogue.

    store = open_store("audit.duckdb")
    store.documents_view().aggregate("source, count(*)")

See `auditor.store.catalogue` (tables and the `documents` view), `auditor.store.sidecar`
(the files), `auditor.store.reconcile` (crash recovery) and `auditor.store.sample`
(real texts back from the shards).
"""

from auditor.store.catalogue import Store, StoreLockedError, open_store
from auditor.store.paths import StorePaths
from auditor.store.sample import sample_texts

__all__ = ["Store", "StoreLockedError", "StorePaths", "open_store", "sample_texts"]
