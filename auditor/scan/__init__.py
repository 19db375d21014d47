"""The scan: readers -> detectors -> store, resumable and incremental.

    from auditor.scan import ScanOptions, run_scan
    summary = run_scan(["data/"], "audit.duckdb", ScanOptions(), detectors="markers", workers=4)

Structure (so other executors, e.g. Ray, plug in without touching the rest):
  `runner.run_scan`      driver: plan units, reconcile and update the DuckDB catalogue
  `plan.make_plan`       which units to scan, rescore (new detector) or reuse
  `unit.process_unit`    one unit in any process: read, score in batches, write its side-car
  `local_executor.run_local`  in-process or spawned process pool over units
An executor is any callable `(tasks, options, detector_names, store_paths, workers=N)`
yielding `UnitResult`s; pass it as `run_scan(..., executor=...)`.
"""

from auditor.scan.options import ScanOptions
from auditor.scan.runner import EXIT_PARTIAL, ScanError, ScanSummary, run_scan
from auditor.scan.unit import UnitResult, process_unit

__all__ = ["EXIT_PARTIAL", "ScanError", "ScanOptions", "ScanSummary", "UnitResult",
           "process_unit", "run_scan"]
