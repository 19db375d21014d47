"""The scan driver: inputs -> work units -> plan against the catalogue -> execute -> catalogue.

Only this process writes the DuckDB catalogue; workers write side-cars and return counts. The
order of writes makes a crash at any instant recoverable: side-car first (atomic), then its
catalogue row; a run row stays `running` until the end, and the next scan reconciles whatever a
killed one left (see `auditor.store.reconcile`).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from auditor.provenance.language import preload_identifier
from auditor.readers.base import WorkUnit
from auditor.scan.local_executor import run_local
from auditor.scan.options import ScanOptions
from auditor.scan.plan import make_plan
from auditor.scan.progress import ScanProgress
from auditor.scan.unit import (
    MAX_URL_CHARS,
    UnitResult,
    fingerprint,
    fingerprint_content,
    loaded_detector,
    same_file_other_options,
    unit_bytes,
)
from auditor.store.catalogue import open_store
from auditor.store.paths import StorePaths
from auditor.store.prune import missing_shards
from auditor.store.reconcile import reconcile, remove_temporaries

#: Exit status of `auditor scan` when the run finished but some records or units failed.
EXIT_PARTIAL = 3

Executor = Callable[..., Iterator[UnitResult]]


class ScanError(RuntimeError):
    """The scan could not run at all (no inputs, unknown detector, store locked...)."""


@dataclass
class ScanSummary:
    """What one `run_scan` did; `counts` are for this run only."""

    run_id: str
    status: str  # ok | partial | failed
    db: str
    log: str
    detectors: dict[str, str]
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    shards: int = 0
    #: catalogued shards whose files are gone (`auditor prune` removes them)
    missing_shards: list[str] = field(default_factory=list)
    #: files in the inputs that are not corpus shards: {"file", "reason"}
    skipped_files: list[dict] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "ok" else EXIT_PARTIAL

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "status": self.status, "db": self.db, "log": self.log,
                "detectors": self.detectors, "shards": self.shards, "counts": self.counts,
                "notes": self.notes, "skipped_files": self.skipped_files,
                "missing_shards": self.missing_shards,
                "exit_code": self.exit_code}


#: Prefix of the run counts of documents a detector left unscored, not its language
#: (`unscored_language_<detector>`, in `--json` and the summary's note).
UNSCORED_LANGUAGE = "unscored_language_"

#: Cheap-tier detectors the default scan leaves out (run them by naming them in --detectors).
#: compression: measured in reports/detectors.md ("Default scan tier"), it costs about twice
#: the rest of the tier per document and adds nothing to the classifier's accuracy.
DEFAULT_EXCLUDED: tuple[str, ...] = ("compression",)


def resolve_detectors(spec: str | Sequence[str] | None,
                      paths: StorePaths | None = None) -> tuple[dict[str, str], list[str]]:
    """Detector names -> versions, loading each once; plus notes about what was left out.

    None or "" means the cheap tier but `DEFAULT_EXCLUDED`, as far as it loads here (a cheap
    detector whose model is missing is noted and skipped); "none" means provenance only. Named
    detectors must load.
    """
    notes: list[str] = []
    if isinstance(spec, str) and spec.strip().lower() == "none":
        return {}, notes  # before importing the registry, which provenance alone never needs
    import detectors

    if spec is None or (isinstance(spec, str) and spec.strip() in ("", "default")):
        versions = {}
        for s in detectors.specs():
            if s.tier != "cheap" or s.name in DEFAULT_EXCLUDED:
                continue
            if s.reads_store and paths is None:  # its state lives in a store: none given
                continue
            try:
                versions[s.name] = str(loaded_detector(s.name, paths).version)
            except detectors.NotConfigured:  # nothing to do in this store (no benchmarks)
                continue
            except Exception as exc:  # optional by design: the default uses what is available
                notes.append(f"detector {s.name!r} not available, skipped "
                             f"({type(exc).__name__}: {exc})")
        return versions, notes
    try:
        names = detectors.parse_names(spec)
    except KeyError as exc:
        raise ScanError(str(exc.args[0])) from None
    versions = {}
    for name in names:
        try:
            versions[name] = str(loaded_detector(name, paths).version)
        except Exception as exc:
            raise ScanError(f"detector {name!r} could not be loaded: {type(exc).__name__}: "
                            f"{exc}; install what it needs (`auditor detectors list`) or leave "
                            "it out of --detectors") from exc
    return versions, notes


@dataclass(frozen=True)
class PlannedInputs:
    """The work units of a scan's inputs, the files left out (with the reason) and notes on
    named columns that some shards lack."""

    units: list[WorkUnit]
    skipped_files: list  # readers.discover.SkippedFile
    notes: list[str]


def plan_inputs(inputs: Sequence[str], options: ScanOptions, paths: StorePaths | None = None,
                include: Sequence[str] = (), exclude: Sequence[str] = ()) -> PlannedInputs:
    """Discover shards and cut them into work units (through the readers).

    The store's own files (catalogue, side-cars, logs) are never inputs, even when the store
    lives inside a scanned folder: scanning its side-cars would feed the store into itself.
    Files that are not corpus shards (or left out by `include`/`exclude` globs) are listed.
    A flag naming a column that no shard has is an error (it would store nulls silently and
    change the result); one that some shards lack is a note naming them.
    """
    from auditor.readers import plan_units
    from auditor.readers.columns import fields_hint, missing_columns
    from auditor.readers.discover import find_shards
    from auditor.readers.errors import ReaderError

    ignore = (lambda uri: _is_store_file(uri, paths)) if paths is not None else None
    try:
        found = find_shards(list(inputs), options.reader.format, include=include,
                            exclude=exclude, ignore=ignore)
    except ReaderError as exc:
        raise ScanError(str(exc)) from None
    if not found.shards:
        left = (f" ({len(found.skipped)} file(s) skipped: "
                + "; ".join(f"{f.uri}: {f.reason}" for f in found.skipped[:3]) + ")"
                if found.skipped else "")
        raise ScanError(f"no input shards found in {', '.join(inputs)}{left}; give files, "
                        "folders or globs of Parquet, JSONL, WARC/WET or a Hugging Face dataset")
    notes = []
    for m in missing_columns(found.shards, options.reader):
        if m.in_none:
            hint = fields_hint(found.shards)
            raise ScanError(f"{m.label}: no shard has a field {m.column!r}"
                            + (f" ({hint})" if hint else "") + "; check the name")
        shown = ", ".join(os.path.basename(u) for u in m.missing[:5])
        more = f" and {len(m.missing) - 5} more" if len(m.missing) > 5 else ""
        notes.append(f"{m.label}: missing in {len(m.missing)} of {m.checked} shards "
                     f"({shown}{more}); their documents get no value from it")
    copies = _copies(found.shards)
    if copies:
        shown = "; ".join(" = ".join(os.path.basename(s.uri) for s in group)
                          for group in copies[:5])
        notes.append(f"{sum(len(g) - 1 for g in copies)} input shard(s) have the same size and "
                     f"content digest as another input ({shown}): copies of one file, whose "
                     "documents are counted once per copy; leave the copies out with --exclude")
    return PlannedInputs(plan_units(found.shards, options.reader, options.unit_bytes),
                         found.skipped, notes)


def _stored_elsewhere(catalogue: dict, units: list[WorkUnit]) -> list[tuple[str, str]]:
    """(input shard, stored shard) pairs: a shard of this run with the size and content digest
    of a catalogued shard under another path (the corpus folder copied or moved with its store:
    both paths exist, so nothing says "missing", and every document is counted twice)."""
    planned = {u.shard for u in units}
    stored: dict[tuple[int, str], str] = {}
    for (shard, _part), row in catalogue.items():
        content = fingerprint_content(row.get("fingerprint"))
        if content is not None and shard not in planned:
            stored.setdefault(content, shard)
    out = []
    for u in units:
        old = stored.get((u.size, u.digest)) if u.digest and u.size else None
        if old is not None and (u.shard, old) not in out:
            out.append((u.shard, old))
    return out


def _copies(shards) -> list[list]:
    """Groups of input shards with one size and content digest (first and last 16 KiB): the
    same file under two names (a mirror, a second download), scanned as two shards."""
    groups: dict[tuple, list] = {}
    for s in shards:
        if s.digest and s.size:  # empty files are all alike, and hold nothing
            groups.setdefault((s.size, s.digest), []).append(s)
    return [g for g in groups.values() if len(g) > 1]


def _is_store_file(uri: str, paths: StorePaths) -> bool:
    if "://" in uri and not uri.startswith("file://"):
        return False
    path = os.path.abspath(uri[len("file://"):] if uri.startswith("file://") else uri)
    return (path in (paths.db, paths.db + ".wal")
            or path.startswith(paths.sidecars + os.sep)
            or path.startswith(paths.benchmarks + os.sep)
            or path.startswith(paths.logs + os.sep))


def new_run_id(now: dt.datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def run_scan(inputs: Sequence[str], db: str | os.PathLike, options: ScanOptions | None = None,
             detectors: str | Sequence[str] | None = None, workers: int = 1,
             force: bool = False, progress: bool = False, log_every_s: float = 5.0,
             executor: Executor = run_local, retry_failed: bool = False,
             include: Sequence[str] = (), exclude: Sequence[str] = ()) -> ScanSummary:
    """Scan `inputs` into the store at `db`; resumable, incremental, all records accounted.

    Returns a `ScanSummary` whose status is `ok` when every record was stored or skipped by
    policy, `partial` when some records or units failed (they are in the `errors` table),
    in this run or earlier: a unit that failed is held back (not read again) until its file
    changes or `retry_failed`.
    Raises `ScanError` when nothing can run (bad inputs, unknown detector, store locked).
    """
    from auditor.store.catalogue import StoreAccessError, StoreLockedError, check_writable

    options = options or ScanOptions()
    if workers <= 1 and executor is run_local:  # documents are read in this process
        preload_identifier()
    try:  # the output first: a store that cannot be written fails now, not after the work
        check_writable(db)
    except StoreAccessError as exc:
        raise ScanError(str(exc)) from None
    versions, notes = resolve_detectors(detectors, StorePaths.for_db(db))
    try:
        store = open_store(db, holder="auditor scan")
    except (StoreLockedError, StoreAccessError) as exc:
        raise ScanError(str(exc)) from None
    started = dt.datetime.now(dt.timezone.utc)
    run_id = new_run_id(started)
    with store:
        store.set_holder("auditor scan", store.paths.log_path(run_id))
        planned = plan_inputs(inputs, options, store.paths, include, exclude)
        units, skipped_files = planned.units, planned.skipped_files
        notes += planned.notes
        if skipped_files:
            shown = ", ".join(os.path.basename(f.uri) for f in skipped_files[:10])
            more = f" and {len(skipped_files) - 10} more" if len(skipped_files) > 10 else ""
            notes.append(f"{len(skipped_files)} file(s) that are not corpus shards skipped: "
                         f"{shown}{more} (the list is in the run log; narrow with --include "
                         "or --exclude)")
        fps = {(u.shard, u.part): fingerprint(u, options) for u in units}
        fixed = reconcile(store, by_run=run_id)
        if fixed.interrupted_runs:
            notes.append(f"resumed after interrupted run(s) {', '.join(fixed.interrupted_runs)}: "
                         f"{fixed.removed_orphan_sidecars} uncatalogued side-car(s), "
                         f"{fixed.removed_orphan_attributes} detector side-car(s) without "
                         "their unit and "
                         f"{fixed.removed_tmp} partial file(s) removed, "
                         f"{fixed.dropped_unit_rows} unit row(s) without side-car dropped")
        retrying = _record_poison_units(store, run_id, fixed.interrupted_runs, units, options,
                                        notes) if workers <= 1 else None
        catalogue = store.unit_index()
        plan = make_plan(units, fps, catalogue, versions, force=force,
                         retry_failed=retry_failed)
        # units kept from an earlier run with records that failed there: still failed in the
        # store, so the run is partial (exit 3) until their file changes, as the help says
        earlier_failed = [catalogue[(u.shard, u.part)] for u in plan.reuse + plan.rescore
                          if (catalogue[(u.shard, u.part)].get("n_failed") or 0) > 0]
        if earlier_failed:
            notes.append(f"{len(earlier_failed)} unit(s) stored by an earlier run hold "
                         f"{sum(r['n_failed'] for r in earlier_failed):,} failed record(s) "
                         "(see `auditor status --errors`); they are read again when their "
                         "file changes")
        gone = missing_shards(store)
        if gone:
            shown = ", ".join(gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
            notes.append(f"{len(gone)} shard(s) in the store no longer exist on disk ({shown}); "
                         f"their documents are still counted: `auditor prune --db {db}` removes "
                         "them")
        if plan.held:
            notes.append(f"{len(plan.held)} unit(s) that failed in an earlier run held back "
                         "(see `auditor status --errors`); they are retried when their file "
                         "changes or with --retry-failed")
        elsewhere = _stored_elsewhere(catalogue, units)
        if elsewhere:
            shown = "; ".join(f"{os.path.basename(new)} = {old}" for new, old in elsewhere[:5])
            notes.append(f"{len(elsewhere)} input shard(s) have the same size and content digest "
                         f"as a shard the store holds under another path ({shown}): a copied "
                         "or moved corpus, whose documents are now counted twice; "
                         f"`auditor prune --db {db}` drops the old paths once they are deleted")
        respelled = _respelled_shards(store, plan.shards)
        if respelled:
            for old_uri in respelled:
                store.forget_shard(old_uri)
                store.con.execute("DELETE FROM shards WHERE uri = ?", [old_uri])
            notes.append(f"{len(respelled)} shard(s) stored under another spelling of their path "
                         "(from an earlier version) replaced by their resolved path, so no "
                         "document is counted twice")
        reread = _read_again_under_other_options(catalogue, fps, plan)
        if reread:
            names = ", ".join(os.path.basename(s) for s, _ in reread[:5])
            more = f" and {len(reread) - 5} more" if len(reread) > 5 else ""
            notes.append(
                f"{len(reread)} shard(s) stored under other reader options are read again "
                f"under this run's (or under newer row rules, after an upgrade), replacing their "
                f"{sum(n for _, n in reread):,} stored document(s): {names}{more}; a file that "
                "needs options of its own (--text-column, --id-column, ...) is read with the "
                "folder's when the folder is scanned: scan the others by name, or give it its "
                "options again")
        for shard in plan.forget:
            store.forget_shard(shard)
        for shard in plan.register:
            u = plan.shards[shard][0]
            store.upsert_shard(shard, u.format, u.size, u.mtime, u.etag, u.n_parts, run_id)
        store.begin_run(run_id, started, list(inputs), versions,
                        {**options.to_dict(), "workers": workers, "force": force,
                         "retry_failed": retry_failed}, len(units))
        tasks = plan.tasks()
        log_path = store.paths.log_path(run_id)
        prog = ScanProgress(run_id, log_path, len(tasks),
                            sum(unit_bytes(u) for u, _ in tasks), show_bar=progress,
                            log_every_s=log_every_s)
        prog.event("start", inputs=list(inputs), detectors=versions, units=len(units),
                   scan=len(plan.scan), rescore=len(plan.rescore), reuse=len(plan.reuse),
                   retrying_after_crash=list(retrying) if retrying else None,
                   skipped_files=[{"file": f.uri, "reason": f.reason} for f in skipped_files])
        counts = {"units": len(units), "units_scanned": 0, "units_rescored": 0,
                  "units_reused": len(plan.reuse), "units_failed": 0,
                  "units_held_failed": len(plan.held),
                  "units_reused_with_failures": len(earlier_failed), "stored": 0,
                  "future_dates": 0,
                  "long_urls": 0, "invalid_utf8": 0, "unreadable_dates": 0,
                  "skipped_by_reason": {},
                  "skipped": 0, "failed": 0, "bytes": 0}
        status = "failed"
        try:
            sizes = {(u.shard, u.part): unit_bytes(u) for u, _ in tasks}

            def on_records(key: tuple, n: float) -> None:
                prog.records(key, n, sizes.get(key, 0))

            def on_start(key: tuple) -> None:
                prog.event("unit_start", shard=key[0], part=key[1])

            for res in executor(tasks, options, list(versions), store.paths, workers=workers,
                                on_records=on_records, on_start=on_start):
                prog.event("unit_done", shard=res.shard, part=res.part)
                _catalogue(store, run_id, res, counts)
                prog.advance(res.n_stored if res.mode == "scan" else 0, res.bytes,
                             key=(res.shard, res.part))
            remove_temporaries(store)  # left by workers that died mid-unit (retried since)
            for shard in plan.shards:
                store.summarise_shard(shard, run_id)
            bad = (counts["failed"] or counts["units_failed"] or counts["units_held_failed"]
                   or counts["units_reused_with_failures"])
            status = "partial" if bad else "ok"
        except BaseException as exc:
            note = ("interrupted" if isinstance(exc, KeyboardInterrupt)
                    else f"{type(exc).__name__}: {exc}")
            store.finish_run(run_id, dt.datetime.now(dt.timezone.utc), "failed", counts, note)
            prog.close(status="failed", note=note, **counts)
            store.refresh_view()
            if isinstance(exc, Exception) and not isinstance(exc, ScanError):
                raise ScanError(f"scan {run_id} stopped: {note}; units already stored are kept, "
                                "re-run the same command to resume") from exc
            raise
        if counts["future_dates"]:
            notes.append(f"{counts['future_dates']} crawl date(s) later than the scan's clock "
                         "stored empty (a wrong --date-column, or bad dates in the data)")
        if counts["unreadable_dates"]:
            notes.append(f"{counts['unreadable_dates']} date(s) that could not be read stored "
                         "empty (each document's `meta` keeps the value as unparsed_date; name "
                         "the right field with --date-column)")
        if counts["long_urls"]:
            notes.append(f"{counts['long_urls']} URL(s) longer than {MAX_URL_CHARS} characters "
                         "stored cut")
        if counts["skipped_by_reason"]:
            ranked = sorted(counts["skipped_by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))
            shown = "; ".join(f"{n:,} {reason}" for reason, n in ranked[:8])
            more = f"; and {len(ranked) - 8} more reason(s)" if len(ranked) > 8 else ""
            notes.append(f"skipped records by reason: {shown}{more}")
        if counts["invalid_utf8"]:
            notes.append(f"{counts['invalid_utf8']} record(s) stored with invalid UTF-8 replaced "
                         "by U+FFFD (listed as 'kept' in `auditor status --errors`)")
        unscored = {k[len(UNSCORED_LANGUAGE):]: n for k, n in counts.items()
                    if k.startswith(UNSCORED_LANGUAGE) and n}
        if unscored:  # the counts were in --json only: a multilingual crawl scanned silently
            notes.append("documents left unscored, in a language the detector does not cover: "
                         + "; ".join(f"{n:,} by {name}" for name, n in sorted(unscored.items()))
                         + " (their languages: `auditor detectors list`; estimates say how "
                         "many of a group's documents they cover)")
        store.finish_run(run_id, dt.datetime.now(dt.timezone.utc), status, counts,
                         "; ".join(notes) or None)
        prog.close(status=status, **counts)
        store.refresh_view()
    return ScanSummary(run_id=run_id, status=status, db=store.paths.db, log=log_path,
                       missing_shards=gone,
                       detectors=versions, counts=counts, notes=notes, shards=len(plan.shards),
                       skipped_files=[{"file": f.uri, "reason": f.reason}
                                      for f in skipped_files])


def _respelled_shards(store, planned: dict) -> list[str]:
    """Catalogued shards whose URI is another spelling (relative, through a link, `file://`)
    of a shard planned now under its resolved path: stores written before shards were keyed
    by resolved path hold them so, and would count their documents twice."""
    from auditor.readers.discover import resolved

    out = []
    for row in store.shards():
        uri = row["uri"]
        if uri in planned or uri.startswith("hf:"):
            continue
        try:
            if resolved(uri) in planned:
                out.append(uri)
        except (OSError, ValueError):
            continue
    return out


def _record_poison_units(store, run_id: str, interrupted: list[str], units: list[WorkUnit],
                         options: ScanOptions, notes: list[str]) -> tuple | None:
    """Record as failed the units the scan process died on twice in a row (see
    `auditor.scan.crashes`); return the unit it died on once, which this run retries."""
    from auditor.scan.crashes import poison_units
    from auditor.scan.unit import crashed_result

    poison, once = poison_units([store.paths.log_path(r) for r in interrupted])
    by_key = {(u.shard, u.part): u for u in units}
    for key in poison:
        unit = by_key.get(key)
        if unit is None:
            continue  # no longer among the inputs
        res = crashed_result(unit, options, store.paths, False,
                             "the scan process died on it in two runs in a row")
        store.record_unit(run_id, res.catalogue_row(), res.issues)
        notes.append(f"{unit.shard} (unit {unit.part + 1}/{unit.n_parts}) killed the scan "
                     "process twice: recorded as failed and held back; scan with --workers 2 "
                     "or more to isolate such units")
    if once is not None and once in by_key:
        notes.append(f"retrying {once[0]} (unit {once[1] + 1}), which was running when the "
                     "last scan died; if it dies again it is held back")
        return once
    return None


def _read_again_under_other_options(catalogue: dict, fingerprints: dict,
                                    plan) -> list[tuple[str, int]]:
    """(shard, stored documents) of the shards the plan forgets only because this run reads
    them under other reader options (the file is the same): a folder scan with default options
    after `--text-column content` on one of its files dropped that file's 137 documents for a
    failed unit, and said nothing of them."""
    forgotten = set(plan.forget)
    by_shard: dict[str, list[dict]] = {}
    for (shard, _part), row in catalogue.items():  # one pass: every shard may be forgotten
        if shard in forgotten:
            by_shard.setdefault(shard, []).append(row)
    out = []
    for shard in plan.forget:
        rows = by_shard.get(shard, [])
        current = fingerprints[(shard, plan.shards[shard][0].part)]
        if rows and all(same_file_other_options(r.get("fingerprint"), current) for r in rows):
            out.append((shard, sum(int(r.get("n_stored") or 0) for r in rows)))
    return out


def skip_reason_key(reason: str) -> str:
    """A skip reason without its per-record detail (`not HTML (image/png)` -> `not HTML`), to
    count skipped records by reason in the summary."""
    return reason.split(" (", 1)[0]


def _catalogue(store, run_id: str, res: UnitResult, counts: dict) -> None:
    """Write one unit's outcome to the catalogue and add it to the run counts."""
    if res.mode == "rescore":
        if res.status == "failed":
            counts["units_failed"] += 1
            store.add_errors(run_id, res.part, res.issues)
        else:
            counts["units_rescored"] += 1
            store.set_unit_detectors(res.shard, res.part, res.detectors)
        return
    store.record_unit(run_id, res.catalogue_row(), res.issues)
    counts["units_failed" if res.status == "failed" else "units_scanned"] += 1
    counts["stored"] += res.n_stored
    counts["skipped"] += res.n_skipped
    counts["failed"] += res.n_failed
    counts["bytes"] += res.bytes
    counts["future_dates"] += res.n_future_dates
    counts["long_urls"] += res.n_long_urls
    counts["invalid_utf8"] += res.n_invalid_utf8
    counts["unreadable_dates"] += res.n_unreadable_dates
    by_reason = counts["skipped_by_reason"]
    for issue in res.issues:
        if issue.status == "skipped":
            key = skip_reason_key(issue.reason)
            by_reason[key] = by_reason.get(key, 0) + issue.count
    for name, n in res.n_out_of_language.items():  # left unscored: not the detector's language
        key = f"{UNSCORED_LANGUAGE}{name}"
        counts[key] = counts.get(key, 0) + n
    for issue in res.issues[:3] if res.status == "failed" else ():
        print(f"auditor scan: {issue.shard}: {issue.record}: {issue.reason}", file=sys.stderr)
