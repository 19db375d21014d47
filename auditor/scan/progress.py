"""Scan progress for people (a rich bar: docs/s, MB/s, ETA) and for machines (JSON lines in
`<db>.logs/<run_id>.log`, so a scheduler or a second terminal can follow a long scan)."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text


class _DocsPerSecond(ProgressColumn):
    def render(self, task) -> Text:
        elapsed = task.elapsed or 0.0
        docs = task.fields.get("docs", 0)
        rate = docs / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.0f} docs/s", style="cyan")


class ScanProgress:
    """Counts units, docs and bytes as results arrive; draws the bar and writes the log.

    The log gets a line every `log_every_s` seconds and a last one at `close`, each a JSON
    object: ts, run_id, units_done, units_total, docs, bytes, docs_per_s, mb_per_s, elapsed_s.
    """

    def __init__(self, run_id: str, log_path: str, units_total: int, bytes_total: int,
                 show_bar: bool, log_every_s: float = 5.0) -> None:
        self.run_id = run_id
        self.units_total = units_total
        self.units_done = 0
        self.docs = 0
        self.bytes = 0
        self.log_every_s = log_every_s
        self.docs_running = 0.0  # records counted inside units still running
        self._estimated: dict[tuple, float] = {}  # bar bytes advanced per running unit
        self._counted: dict[tuple, float] = {}  # records counted per running unit
        self._t0 = time.monotonic()
        self._last_log = self._t0
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        self._log: IO[str] = open(log_path, "a", encoding="utf-8")
        self._bar: Progress | None = None
        if show_bar:
            self._bar = Progress(
                TextColumn("[bold]scan"), BarColumn(), TaskProgressColumn(),
                TextColumn("{task.fields[units]}"), _DocsPerSecond(), TransferSpeedColumn(),
                TimeRemainingColumn(), console=Console(stderr=True), transient=False)
            self._task = self._bar.add_task("scan", total=max(bytes_total, 1), docs=0,
                                            units=f"0/{units_total} units")
            self._bar.start()

    def event(self, kind: str, **fields) -> None:
        """A non-progress line in the run log (start, reconcile, finish)."""
        self._write({"event": kind, **fields})

    def records(self, key: tuple, n: float, unit_bytes: int) -> None:
        """`n` more records done inside the running unit `key` (of `unit_bytes` bytes).

        The docs count moves by records; the bar's bytes move by an estimate (the bytes per
        record of the units finished so far, else 1 KB a record), never past 95% of the unit,
        and `advance` settles the unit's true bytes when it ends.
        """
        self.docs_running += n
        self._counted[key] = self._counted.get(key, 0.0) + n
        per_record = self.bytes / self.docs if self.docs else 1024.0
        before = self._estimated.get(key, 0.0)
        after = min(before + n * per_record, 0.95 * unit_bytes)
        self._estimated[key] = after
        if self._bar is not None:
            self._bar.update(self._task, advance=after - before,
                             docs=self.docs + int(self.docs_running))
        self._maybe_log()

    def advance(self, docs: int, nbytes: int, key: tuple | None = None) -> None:
        """A unit finished: `docs` stored from `nbytes` of input. With `key`, what `records`
        counted and estimated for it is replaced by the truth."""
        self.units_done += 1
        self.docs += docs
        self.bytes += nbytes
        estimated = self._estimated.pop(key, 0.0)
        self.docs_running = max(self.docs_running - self._counted.pop(key, 0.0), 0.0)
        if self._bar is not None:
            self._bar.update(self._task, advance=nbytes - estimated,
                             docs=self.docs + int(self.docs_running),
                             units=f"{self.units_done}/{self.units_total} units")
        self._maybe_log()

    def _maybe_log(self) -> None:
        now = time.monotonic()
        if now - self._last_log >= self.log_every_s:
            self._last_log = now
            self._write(self.snapshot())

    def snapshot(self) -> dict:
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        return {"event": "progress", "units_done": self.units_done,
                "units_total": self.units_total, "docs": self.docs,
                "docs_in_running_units": int(self.docs_running), "bytes": self.bytes,
                "docs_per_s": round(self.docs / elapsed, 1),
                "mb_per_s": round(self.bytes / elapsed / 1e6, 2),
                "elapsed_s": round(elapsed, 2)}

    def _write(self, record: dict) -> None:
        line = {"ts": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
                "run_id": self.run_id, **record}
        self._log.write(json.dumps(line) + "\n")
        self._log.flush()

    def close(self, **finish) -> None:
        """Last progress line, then a `finish` line with `finish` fields (status, counts)."""
        self._write(self.snapshot())
        self._write({"event": "finish", **finish})
        if self._bar is not None:
            self._bar.stop()
        self._log.close()
