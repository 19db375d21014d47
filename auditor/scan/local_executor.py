"""Run work units in this process or in a pool of spawned processes.

An executor takes (unit, rescore) tasks and yields `UnitResult`s as they finish; the driver
alone writes the catalogue. Another executor (Ray) can stand in with the same shape.
Processes are spawned, not forked: the driver holds a DuckDB connection and maybe threads,
which do not survive a fork safely.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from auditor.readers.base import WorkUnit
from auditor.readers.stream import read_unit_chunks
from auditor.scan.options import ScanOptions
from auditor.scan.unit import Reading, UnitResult, crashed_result, process_unit
from auditor.store.paths import StorePaths


class ExecutorError(RuntimeError):
    """The worker pool itself broke in a way no unit explains; not a bad input."""


def run_local(tasks: Sequence[tuple[WorkUnit, bool]], options: ScanOptions,
              detector_names: Sequence[str], paths: StorePaths,
              workers: int = 1, on_records=None, on_start=None) -> Iterator[UnitResult]:
    """Yield one `UnitResult` per task, in completion order.

    At most `2 * workers` tasks are in flight, so a plan of a million units does not sit in
    the pool's queue (and results are catalogued as they come). When a worker process dies
    (a signal, out of memory, a crash in native code) the pool breaks without saying which
    unit killed it: each unit that was in flight is then run again alone in its own process,
    the one that dies again comes back `failed` with the cause, and a fresh pool takes the
    rest. One poison file costs one failed unit, not the scan.

    `on_records((shard, part), n)` hears of records done inside running units (workers send
    them through a queue), so progress moves within long units. With one worker, units run
    in this process and `on_start((shard, part))` is called before each: if the process dies,
    the driver's log says on which unit (see `auditor.scan.crashes`).
    """
    if workers <= 1:
        yield from _run_in_process(tasks, options, detector_names, paths, on_records, on_start)
        return
    ctx = multiprocessing.get_context("spawn")
    ticks = ctx.Queue() if on_records is not None else None
    pending = iter(tasks)
    while True:
        suspects: list[tuple[WorkUnit, bool]] = []
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                   initializer=_set_ticks, initargs=(ticks,))
        try:
            in_flight: dict = {}
            _top_up(pool, pending, in_flight, 2 * workers, options, detector_names, paths)
            while in_flight and not suspects:
                done, _ = wait(in_flight, timeout=None if ticks is None else 0.5,
                               return_when=FIRST_COMPLETED)
                _drain(ticks, on_records)
                for fut in done:
                    task = in_flight.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        suspects.append(task)
                        continue
                    yield result
                if suspects:
                    suspects += in_flight.values()
                    in_flight.clear()
                else:
                    _top_up(pool, pending, in_flight, 2 * workers, options, detector_names,
                            paths)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if not suspects:
            return
        for unit, rescore in suspects:
            yield run_isolated(unit, rescore, options, detector_names, paths)


def _run_in_process(tasks: Sequence[tuple[WorkUnit, bool]], options: ScanOptions,
                    detector_names: Sequence[str], paths: StorePaths, on_records,
                    on_start) -> Iterator[UnitResult]:
    """The tasks one after another in this process, each unit's reading started as soon as
    the unit before has read its last record (`Reading`): its first batches are then decoded
    while the unit before finishes its side-car and is catalogued, instead of after (the
    whole scan's speed: scripts/bench_scan.py). `on_start` is told of a unit when its reading
    starts."""
    tasks = list(tasks)
    ahead: dict[int, Iterator] = {}  # task index -> its reader, started early

    def start_reading(i: int):
        def start() -> None:
            if i < len(tasks) and not tasks[i][1]:  # a rescore may not read at all
                unit = tasks[i][0]
                if on_start is not None:
                    on_start((unit.shard, unit.part))
                ahead[i] = read_unit_chunks(unit, options.reader)
        return start

    try:
        for i, (unit, rescore) in enumerate(tasks):
            chunks = ahead.pop(i, None)
            if chunks is None and on_start is not None:
                on_start((unit.shard, unit.part))
            yield process_unit(unit, options, detector_names, paths, rescore=rescore,
                               on_records=on_records,
                               reading=Reading(chunks, start_reading(i + 1)))
    finally:
        for chunks in ahead.values():  # the driver stopped early: stop the reader's thread
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


def _top_up(pool, pending, in_flight: dict, limit: int, options: ScanOptions,
            detector_names: Sequence[str], paths: StorePaths) -> None:
    """Submit tasks until `limit` are in flight or none are left."""
    while len(in_flight) < limit:
        try:
            unit, rescore = next(pending)
        except StopIteration:
            return
        fut = pool.submit(_pooled_unit, unit, options, list(detector_names), paths, rescore)
        in_flight[fut] = (unit, rescore)


#: In a pool worker: the queue record counts go to (set by the pool's initializer).
_TICKS = None


def _set_ticks(queue) -> None:
    global _TICKS
    _TICKS = queue


def _pooled_unit(unit, options, detector_names, paths, rescore) -> UnitResult:
    report = None if _TICKS is None else (lambda key, n: _TICKS.put((key, n)))
    return process_unit(unit, options, detector_names, paths, rescore=rescore,
                        on_records=report)


def _drain(ticks, on_records) -> None:
    """Hand the record counts waiting in the queue to `on_records`."""
    if ticks is None:
        return
    while True:
        try:
            key, n = ticks.get_nowait()
        except queue.Empty:
            return
        on_records(key, n)


def run_isolated(unit: WorkUnit, rescore: bool, options: ScanOptions,
                 detector_names: Sequence[str], paths: StorePaths) -> UnitResult:
    """Run one task in a process of its own; if that process dies, a failed result naming
    how (signal or exit code)."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_isolated_child,
                       args=(send, unit, options, list(detector_names), paths, rescore))
    proc.start()
    send.close()
    try:
        result = receive.recv()
    except EOFError:
        result = None
    finally:
        receive.close()
        proc.join()
    if isinstance(result, UnitResult):
        return result
    return crashed_result(unit, options, paths, rescore, _exit_cause(proc.exitcode))


def _isolated_child(send, unit, options, detector_names, paths, rescore) -> None:
    send.send(process_unit(unit, options, detector_names, paths, rescore=rescore))
    send.close()


def _exit_cause(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (often the out-of-memory killer)" if name == "SIGKILL" else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"
