"""Run work units in this process or in a pool of spawned processes.

An executor takes (unit, rescore) tasks and yields `UnitResult`s as they finish; the driver
alone writes the catalogue. Another executor (Ray) can stand in with the same shape.
Processes are spawned, not forked: the driver holds a DuckDB connection and maybe threads,
which do not survive a fork safely.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from auditor.readers.base import WorkUnit
from auditor.scan.options import ScanOptions
from auditor.scan.unit import UnitResult, process_unit
from auditor.store.paths import StorePaths


class ExecutorError(RuntimeError):
    """The worker pool itself broke (a worker killed, out of memory); not a bad input."""


def run_local(tasks: Sequence[tuple[WorkUnit, bool]], options: ScanOptions,
              detector_names: Sequence[str], paths: StorePaths,
              workers: int = 1) -> Iterator[UnitResult]:
    """Yield one `UnitResult` per task, in completion order.

    At most `2 * workers` tasks are in flight, so a plan of a million units does not sit in
    the pool's queue (and results are catalogued as they come).
    """
    if workers <= 1:
        for unit, rescore in tasks:
            yield process_unit(unit, options, detector_names, paths, rescore=rescore)
        return
    ctx = multiprocessing.get_context("spawn")
    pending = iter(tasks)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        in_flight = set()

        def top_up() -> None:
            while len(in_flight) < 2 * workers:
                try:
                    unit, rescore = next(pending)
                except StopIteration:
                    return
                in_flight.add(pool.submit(process_unit, unit, options, list(detector_names),
                                          paths, rescore))

        top_up()
        while in_flight:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for fut in done:
                in_flight.discard(fut)
                try:
                    yield fut.result()
                except BrokenProcessPool as exc:
                    raise ExecutorError(
                        "a scan worker process died (killed or out of memory); units already "
                        "stored are kept; re-run the same command to resume, perhaps with fewer "
                        "--workers or a smaller --batch-size") from exc
            top_up()
