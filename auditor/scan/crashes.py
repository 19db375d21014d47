"""A unit that kills the scan process itself, found from the run logs.

With one worker, units run inside the scan process, so a unit that crashes it (a segfault in a
native parser, the out-of-memory killer) takes the whole scan down and leaves no result to
record. The run log says which unit was running: the driver writes `unit_start` before each
unit and `unit_done` after it. One death on a unit is not proof (the user may have killed the
scan), so the next run reads it again and says so in its `start` event; when that run dies on
the same unit too, the run after records the unit as failed, and it is held back like any
failed unit (until its file changes or `--retry-failed`).
"""

from __future__ import annotations

import json
import os


def unit_running_at_death(log_path: str) -> tuple[tuple[str, int] | None, tuple | None]:
    """(the unit started but not finished in a run's log, the unit that run was retrying
    after an earlier death), each `(shard, part)` or None."""
    running: dict[tuple, bool] = {}
    retrying = None
    try:
        with open(log_path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line cut by the crash
                kind = event.get("event")
                if kind == "start" and event.get("retrying_after_crash"):
                    retrying = tuple(event["retrying_after_crash"])
                elif kind == "unit_start":
                    running[(event["shard"], event["part"])] = True
                elif kind == "unit_done":
                    running.pop((event["shard"], event["part"]), None)
    except OSError:
        return None, None
    last = list(running)[-1] if running else None
    return last, retrying


def poison_units(log_paths: list[str]) -> tuple[list[tuple], tuple | None]:
    """From the logs of the interrupted runs (oldest first): the units the process died on
    twice in a row (to record as failed), and the unit the newest one died on once (for the
    next run to note it is retrying it)."""
    poison = []
    once = None
    for path in log_paths:
        if not os.path.exists(path):
            continue
        died_on, retrying = unit_running_at_death(path)
        if died_on is not None and died_on == retrying:
            poison.append(died_on)
            once = None
        else:
            once = died_on
    return poison, once
