"""Run the scan's work units on a Ray cluster instead of local processes.

The driver (`auditor.scan.runner.run_scan`) is unchanged: it plans the same work units, and it
alone writes the DuckDB catalogue from the `UnitResult`s this executor yields. Each unit runs
`auditor.scan.unit.process_unit` inside a Ray actor, exactly as a local worker process would,
so the side-car files, their names and their rows are the same whichever executor ran, and
estimation, reports and `check` cannot tell the difference.

Why actors and not plain tasks: an actor is a long-lived worker process, so each detector
(a model for the `model` and `lm` tiers) is loaded once per actor and reused for every unit
it is given. When the cluster has GPUs and a `model`/`lm` detector is requested, each actor
asks for a share of a GPU (`num_gpus`), Ray sets `CUDA_VISIBLE_DEVICES` for it, and the
detectors pick CUDA up themselves. Those detectors score each scan batch (`--batch-size`
documents) in length-sorted sub-batches (`detectors.lm_tokens.length_sorted_batches`, and
sentence-transformers' own sort), so padding stays small; a larger `--batch-size` gives
tighter length buckets on a GPU.

Fault tolerance: a unit is all-or-nothing (its side-car is written under a temporary name and
renamed), and side-car names are a function of (shard, part, n_parts). An actor that dies
mid-unit (killed, out of memory, node lost) is restarted by Ray and the unit retried, up to
`max_retries` times; a retried unit overwrites its own file, so nothing is stored twice.
When retries run out the executor raises `ExecutorError`; the scan stops with what it has
catalogued, and re-running the command resumes it (the usual reconcile + plan).

Where files live: workers read inputs by path or URI (local paths, `file://`, and the fsspec
schemes such as `s3://`, `gs://`, `hf://` that pyarrow/fsspec open) and write side-cars to the
store's side-car folder. On a multi-node cluster that folder must therefore be a path every
node can write (a shared filesystem mounted at the same place); the DuckDB catalogue stays on
the driver. The store itself cannot be an object-store URI (`--db s3://...`): DuckDB writes
its database only to local files, and side-cars are made atomic by a rename, which object
stores lack (a side-car folder on object storage would need writes by single PUT and listing
through fsspec in `auditor.store`; not done). `memory://` inputs exist only inside one
process and cannot be read by Ray workers.

    from auditor.scan import run_scan
    from auditor.scan.ray_executor import ray_executor
    run_scan(["s3://bucket/crawl/"], "audit.duckdb", executor=ray_executor(address="auto"),
             workers=16)

`ray` is imported only here, on first use, so `import auditor` stays light; without the
`ray` extra the executor says how to install it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from auditor.readers.base import WorkUnit
from auditor.scan.local_executor import ExecutorError
from auditor.scan.options import ScanOptions
from auditor.scan.unit import UnitResult, loaded_detector, process_unit
from auditor.store.paths import StorePaths

#: Detector tiers that benefit from a GPU (and are worth giving one).
GPU_TIERS = ("model", "lm")
#: Object store of a local cluster this executor starts itself: results are small (counts and
#: record issues), so Ray's default (30% of RAM in shared memory) would only waste memory.
LOCAL_OBJECT_STORE_BYTES = 256 << 20
#: Tasks in flight per actor: one running, one queued, so an actor never waits for the driver.
IN_FLIGHT_PER_ACTOR = 2


class RayMissingError(ExecutorError):
    """`--executor ray` was asked for but Ray is not installed."""


def import_ray():
    """The `ray` module, or a clear error saying how to get it."""
    try:
        import ray
    except ImportError as exc:
        raise RayMissingError(
            "the Ray executor needs Ray: pip install 'provenance-auditor[ray]' "
            f"(or pip install 'ray[data]'); import failed with: {exc}") from exc
    return ray


@dataclass(frozen=True)
class RaySettings:
    """How to reach the cluster and shape the actors.

    `address`: None starts a private local cluster for this scan (and stops it after), "auto"
    joins the cluster this machine belongs to, "ray://host:10001" a remote one. When Ray is
    already initialised in this process (a notebook, a test), that connection is used as is.
    `num_gpus`: per actor; None gives each actor an equal share of the cluster's GPUs when a
    `model`/`lm` detector is requested and GPUs exist, else 0.
    """

    address: str | None = None
    num_gpus: float | None = None
    num_cpus: float = 1.0
    max_retries: int = 2

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.num_gpus is not None and self.num_gpus < 0:
            raise ValueError(f"num_gpus must be >= 0, got {self.num_gpus}")


class UnitWorker:
    """A Ray actor body: loads the detectors once, then runs `process_unit` for each unit.

    Detectors registered in the driver at run time (plugins) are unknown to a fresh worker
    process, so the driver's registry entries travel with the actor and are registered here.
    """

    def __init__(self, specs: Sequence, detector_names: Sequence[str]) -> None:
        import detectors

        known = {s.name for s in detectors.specs()}
        for spec in specs:
            if spec.name not in known:
                detectors.register(spec)
        for name in detector_names:  # fail here, once, rather than in every unit
            loaded_detector(name)
        self.pid = os.getpid()

    def ready(self) -> int:
        return self.pid

    def run(self, unit: WorkUnit, options: ScanOptions, detector_names: Sequence[str],
            paths: StorePaths, rescore: bool) -> UnitResult:
        return process_unit(unit, options, detector_names, paths, rescore=rescore)


def package_root() -> str:
    """The folder holding the `auditor` and `detectors` packages, for workers' PYTHONPATH."""
    import auditor

    return os.path.dirname(os.path.dirname(os.path.abspath(auditor.__file__)))


def init_local_cluster(num_cpus: int, **kwargs) -> None:
    """Start a private local Ray cluster sized for a scan (used by tests and benchmarks too).

    Workers get this checkout on their PYTHONPATH, so a scan from a source tree works without
    installing the package; no dashboard; a small object store (results are small).
    """
    ray = import_ray()
    env = dict(kwargs.pop("runtime_env", None) or {})
    env_vars = dict(env.get("env_vars") or {})
    paths = [package_root()] + [p for p in env_vars.get("PYTHONPATH", "").split(os.pathsep) if p]
    env_vars["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["env_vars"] = env_vars
    ray.init(num_cpus=num_cpus, include_dashboard=False,
             object_store_memory=kwargs.pop("object_store_memory", LOCAL_OBJECT_STORE_BYTES),
             runtime_env=env, logging_level=kwargs.pop("logging_level", "WARNING"),
             log_to_driver=kwargs.pop("log_to_driver", False), **kwargs)


def _connect(settings: RaySettings, workers: int) -> bool:
    """Make sure Ray is initialised; True when this call started it (and must stop it)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        if settings.address is None:
            init_local_cluster(num_cpus=max(workers, 1))
        else:
            ray.init(address=settings.address, include_dashboard=False, logging_level="WARNING",
                     log_to_driver=False)
    except Exception as exc:
        where = settings.address or "a local cluster"
        raise ExecutorError(f"could not start or join Ray ({where}): {type(exc).__name__}: "
                            f"{exc}; check `ray status` on the cluster, or use --executor local"
                            ) from exc
    return True


def gpus_per_actor(settings: RaySettings, detector_names: Sequence[str], n_actors: int,
                   cluster_gpus: float) -> float:
    """GPU share each actor asks for: explicit, else an equal share when a GPU tier runs."""
    if settings.num_gpus is not None:
        return settings.num_gpus
    if cluster_gpus <= 0 or not needs_gpu(detector_names):
        return 0.0
    return min(1.0, cluster_gpus / max(n_actors, 1))


def needs_gpu(detector_names: Sequence[str]) -> bool:
    """True when any requested detector is in a tier that runs a neural model."""
    import detectors

    tiers = {s.name: s.tier for s in detectors.specs()}
    return any(tiers.get(n) in GPU_TIERS for n in detector_names)


def run_ray(tasks: Sequence[tuple[WorkUnit, bool]], options: ScanOptions,
            detector_names: Sequence[str], paths: StorePaths, workers: int = 1,
            settings: RaySettings | None = None,
            on_records: Callable[[tuple, int], None] | None = None,
            on_start: Callable[[tuple], None] | None = None) -> Iterator[UnitResult]:
    """Yield one `UnitResult` per (unit, rescore) task, in completion order, computed by
    `workers` Ray actors. Same contract as `auditor.scan.local_executor.run_local`, except
    that progress is reported per unit (`on_records` and `on_start` are not called: a
    worker's death is handled by Ray's restarts).

    Raises `ExecutorError` when Ray cannot start, an actor cannot load its detectors, or a unit
    kept killing its worker after `settings.max_retries` restarts.
    """
    settings = settings or RaySettings()
    tasks = list(tasks)
    if not tasks:
        return
    ray = import_ray()
    started = _connect(settings, workers)
    actors: list = []
    try:
        import detectors

        n_actors = max(1, min(workers, len(tasks)))
        gpus = gpus_per_actor(settings, detector_names, n_actors,
                              float(ray.cluster_resources().get("GPU", 0)))
        actor_cls = ray.remote(UnitWorker).options(
            num_cpus=settings.num_cpus, num_gpus=gpus, max_restarts=settings.max_retries,
            max_task_retries=settings.max_retries)
        specs = detectors.specs()
        names = list(detector_names)
        actors = [actor_cls.remote(specs, names) for _ in range(n_actors)]
        try:
            ray.get([a.ready.remote() for a in actors])
        except Exception as exc:
            raise ExecutorError(f"Ray workers could not load the detectors {names}: "
                                f"{_cause(exc)}; check that the package and its models are "
                                "installed on every node") from exc
        opts_ref, paths_ref = ray.put(options), ray.put(paths)
        yield from _drive(ray, actors, tasks, opts_ref, names, paths_ref)
    finally:
        for actor in actors:
            try:
                ray.kill(actor)
            except Exception:  # already gone: nothing to release
                pass
        if started:
            ray.shutdown()


def _drive(ray, actors: list, tasks: list[tuple[WorkUnit, bool]], opts_ref, names: list[str],
           paths_ref) -> Iterator[UnitResult]:
    """Keep every actor busy (IN_FLIGHT_PER_ACTOR tasks each) and yield results as they end."""
    pending = iter(tasks)
    in_flight: dict = {}  # ObjectRef -> (actor index, unit)
    load = [0] * len(actors)

    def submit(i: int) -> bool:
        try:
            unit, rescore = next(pending)
        except StopIteration:
            return False
        ref = actors[i].run.remote(unit, opts_ref, names, paths_ref, rescore)
        in_flight[ref] = (i, unit)
        load[i] += 1
        return True

    for i in range(len(actors)):
        for _ in range(IN_FLIGHT_PER_ACTOR):
            submit(i)
    while in_flight:
        done, _ = ray.wait(list(in_flight), num_returns=1)
        ref = done[0]
        i, unit = in_flight.pop(ref)
        load[i] -= 1
        try:
            result = ray.get(ref)
        except Exception as exc:
            raise ExecutorError(
                f"a Ray scan worker died on {unit.shard} (unit {unit.part + 1}/{unit.n_parts}) "
                f"and was not recovered after its retries: {_cause(exc)}; units already stored "
                "are kept; re-run the same command to resume (perhaps with a smaller "
                "--batch-size or more memory per worker)") from exc
        yield result
        submit(i)


def _cause(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def ray_executor(address: str | None = None, **settings) -> Callable[..., Iterator[UnitResult]]:
    """An executor for `run_scan(..., executor=...)` bound to a cluster `address` (see
    `RaySettings` for the other settings)."""
    return functools.partial(run_ray, settings=RaySettings(address=address, **settings))
