"""The `[gates.contamination]` gate of `auditor check`: how many items of each benchmark may
have leaked into the corpus.

    [gates.contamination]
    max_items = 0                       # default for every benchmark in the store (0 if unset)
    max_share = 0.001                   # optional: share of a benchmark's items
    items_per_benchmark = { gsm8k = 3 } # per-benchmark item limits (override max_items)
    share_per_benchmark = { bbh = 0.01 }
    forms = ["exact", "partial", "question_only"]   # which forms count as leaked (default all)

One gate per benchmark and limit, named `contamination.items[NAME]` or
`contamination.share[NAME]`. A benchmark named in the config but not in the store fails (a
typo must not pass). Gates come back as plain dicts with `auditor.check.GateResult`'s fields,
so this module does not import the check module that calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.contamination import FORMS

#: Keys of the config table and their types (the check validates them like its own).
CONFIG_KEYS: dict[str, type | tuple[type, ...]] = {
    "max_items": int, "max_share": (int, float), "items_per_benchmark": dict,
    "share_per_benchmark": dict, "forms": list,
}


class GateConfigError(ValueError):
    """The table is malformed (the message names the key)."""


@dataclass(frozen=True)
class ContaminationGate:
    max_items: int | None = 0
    max_share: float | None = None
    items_per_benchmark: dict[str, int] = field(default_factory=dict)
    share_per_benchmark: dict[str, float] = field(default_factory=dict)
    forms: tuple[str, ...] = FORMS


def parse_gate(table: dict, path: str) -> ContaminationGate:
    """The validated gate from the `[gates.contamination]` table (types checked by the caller)."""
    where = f"{path}: [gates.contamination]"
    items = table.get("items_per_benchmark", {})
    shares = table.get("share_per_benchmark", {})
    for name, v in items.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise GateConfigError(f"{where} items_per_benchmark.{name} must be a count >= 0")
    for name, v in {**shares, **({"max_share": table["max_share"]}
                                 if "max_share" in table else {})}.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise GateConfigError(f"{where} {name} must be a share between 0 and 1")
    if table.get("max_items", 0) < 0:
        raise GateConfigError(f"{where} max_items must be >= 0")
    forms = tuple(table.get("forms", FORMS))
    if not forms or any(f not in FORMS for f in forms):
        raise GateConfigError(f"{where} forms must list some of {', '.join(FORMS)}")
    max_share = float(table["max_share"]) if "max_share" in table else None
    max_items = table.get("max_items", None if max_share is not None else 0)
    return ContaminationGate(max_items=max_items, max_share=max_share,
                             items_per_benchmark=dict(items),
                             share_per_benchmark={k: float(v) for k, v in shares.items()},
                             forms=forms)


def contamination_gates(db: str, gate: ContaminationGate) -> list[dict]:
    """One gate dict per benchmark and limit. Raises `LookupError` when the store has no
    contamination results (the check cannot run)."""
    from auditor.contamination.results import summarize

    summary = summarize(db)
    per = summary.leaked_by_benchmark()
    counted: dict[str, int] = {}
    for item in summary.items:
        if item.form in gate.forms:
            counted[item.benchmark] = counted.get(item.benchmark, 0) + 1
    forms = ", ".join(gate.forms)
    out = []
    names = sorted(set(per) | set(gate.items_per_benchmark) | set(gate.share_per_benchmark))
    for name in names:
        if name not in per:
            for kind, thr in (("items", gate.items_per_benchmark.get(name)),
                              ("share", gate.share_per_benchmark.get(name))):
                if thr is not None:
                    out.append(_gate(f"contamination.{kind}[{name}]", False, None, thr,
                                     f"benchmark {name!r} named in the config is not in the "
                                     "store (`auditor benchmarks list`)"))
            continue
        n = counted.get(name, 0)
        total = per[name]["n_items"]
        limit = gate.items_per_benchmark.get(name, gate.max_items)
        if limit is not None:
            out.append(_gate(f"contamination.items[{name}]", n <= limit, n, limit,
                             f"{n} of {total} {name} items found in the corpus ({forms}) vs max "
                             f"{limit}"))
        share_limit = gate.share_per_benchmark.get(name, gate.max_share)
        if share_limit is not None:
            share = n / total if total else 0.0
            out.append(_gate(f"contamination.share[{name}]", share <= share_limit, share,
                             share_limit, f"{n} of {total} {name} items ({100 * share:.3f}%) "
                             f"found ({forms}) vs max {100 * share_limit:.3f}%"))
    return out


def _gate(name: str, passed: bool, value, threshold, detail: str) -> dict:
    return {"name": name, "passed": bool(passed), "value": value, "threshold": threshold,
            "comparison": "<=", "detail": detail}
