"""Gates a nightly pipeline can trust: one exit code, one JSON file, one JUnit file.

`auditor check --db audit.duckdb --config auditor.toml` reads a TOML config (see
examples/auditor.toml), evaluates every configured gate against the store and returns a
`CheckResult`. Fractions are judged on the UPPER end of their 95% interval: a gate that passes
only because the point estimate is low, while the data cannot rule out a breach, is not a pass.
Rises are judged on point estimates against the previous scan run's recorded estimates (the
store's `estimates` history), since both ends share the same method bias.

Exit codes (`exit_code`): 0 every gate passed; 1 a gate failed; 2 the check could not run (bad
config, missing store, no scores). A check that cannot run never reports a pass.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from auditor.audit import Audit, AuditError, AuditSettings, load_audit
from auditor.contamination import gate as contamination_gate
from auditor.estimate.choice import MIN_GROUP_DOCS, N_BOOT
from auditor.output_files import printable, write_text_atomic

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2

#: Every key the config accepts, per table: a typo is an error, not a silently skipped gate.
_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "estimate": {"method": str, "detector": str, "weight": str, "n_boot": int, "seed": int,
                 "min_docs": int},
    "gates.fraction": {"max_overall": (int, float), "max_per_source": (int, float),
                       "per_source": dict},
    "gates.rise": {"max_rise": (int, float), "per_source": bool},
    "gates.coverage": {"min_date": (int, float), "min_url": (int, float),
                       "min_license": (int, float)},
    "gates.collapse": {"regime": str, "generations": int, "model": str, "metric": str,
                       "max_degradation": (int, float)},
    "gates.synthetic_by_construction": {"forbid_in": list},
    "gates.contamination": contamination_gate.CONFIG_KEYS,
}
_REGIMES = ("replace", "accumulate", "accumulate-subsample", "fresh")


class CheckError(Exception):
    """The check could not run (exit code 2); the message says what to fix."""


@dataclass(frozen=True)
class CheckConfig:
    """A parsed, validated config. `None` thresholds mean that gate is not configured."""

    path: str = "<defaults>"
    method: str = "auto"
    detector: str | None = None
    weight: str = "docs"
    n_boot: int = N_BOOT
    min_docs: int = MIN_GROUP_DOCS
    seed: int = 0
    max_overall: float | None = None
    max_per_source: float | None = None
    per_source: dict[str, float] = field(default_factory=dict)
    max_rise: float | None = None
    rise_per_source: bool = True
    min_coverage: dict[str, float] = field(default_factory=dict)  # date/url/license -> share
    collapse_regime: str = "replace"
    collapse_generations: int = 5
    collapse_model: str = "gaussian"
    collapse_metric: str | None = None
    max_degradation: float | None = None
    forbid_synthetic_in: tuple[str, ...] = ()
    contamination: contamination_gate.ContaminationGate | None = None


@dataclass(frozen=True)
class GateResult:
    """One gate: what was measured, against what, and whether it passed."""

    name: str  # e.g. "fraction.source[news]"
    passed: bool
    value: float | None
    threshold: float
    comparison: str  # "<=" or ">="
    detail: str


@dataclass
class CheckResult:
    db: str
    config: str
    checked_at: str
    run_id: str | None
    gates: list[GateResult]
    notes: list[str] = field(default_factory=list)
    audit: dict[str, Any] = field(default_factory=dict)  # run_id, settings_hash, persisted

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def exit_code(self) -> int:
        return EXIT_PASS if self.passed else EXIT_FAIL

    def to_dict(self) -> dict[str, Any]:
        return {"status": "pass" if self.passed else "fail", "exit_code": self.exit_code,
                "db": self.db, "config": self.config, "checked_at": self.checked_at,
                "run_id": self.run_id, "n_gates": len(self.gates),
                "n_failed": sum(not g.passed for g in self.gates),
                "gates": [asdict(g) for g in self.gates], "notes": list(self.notes),
                "audit": dict(self.audit)}


@dataclass(frozen=True)
class CheckContext:
    """What every gate function reads: the store path, the config and the store's audit."""

    db: str
    cfg: CheckConfig
    audit: Audit


#: What a gate function returns: its gates and its notes.
GateOutcome = tuple[list[GateResult], list[str]]


# --- config -----------------------------------------------------------------------------------

def _share(path: str, key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
        raise CheckError(f"{path}: {key} must be a share between 0 and 1, got {v!r}")
    return float(v)


def _table(raw: dict, dotted: str) -> dict:
    node: Any = raw
    for part in dotted.split("."):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    if not isinstance(node, dict):
        raise CheckError(f"[{dotted}] must be a table")
    return node


def parse_config(raw: dict[str, Any], path: str = "<config>") -> CheckConfig:
    """Validate a config dict (as tomllib returns it) into a `CheckConfig`."""
    for top in raw:
        if top not in ("estimate", "gates"):
            raise CheckError(f"{path}: unknown table [{top}]; expected [estimate] and [gates.*]")
    for sub in _table(raw, "gates"):
        if f"gates.{sub}" not in _SCHEMA:
            known = ", ".join(k for k in _SCHEMA if k.startswith("gates."))
            raise CheckError(f"{path}: unknown gate [gates.{sub}]; known: {known}")
    for dotted, keys in _SCHEMA.items():
        for k, v in _table(raw, dotted).items():
            if k not in keys:
                raise CheckError(f"{path}: unknown key {k!r} in [{dotted}]; known: "
                                 f"{', '.join(keys)}")
            if not isinstance(v, keys[k]) or (isinstance(v, bool) and keys[k] is not bool):
                raise CheckError(f"{path}: [{dotted}] {k} has the wrong type ({v!r})")
    est = _table(raw, "estimate")
    frac = _table(raw, "gates.fraction")
    rise = _table(raw, "gates.rise")
    cov = _table(raw, "gates.coverage")
    col = _table(raw, "gates.collapse")
    syn = _table(raw, "gates.synthetic_by_construction")
    if col and ("max_degradation" not in col or "metric" not in col):
        raise CheckError(f"{path}: [gates.collapse] needs both metric and max_degradation")
    regime = col.get("regime", "replace")
    if regime not in _REGIMES:
        raise CheckError(f"{path}: [gates.collapse] regime must be one of {', '.join(_REGIMES)}")
    if col.get("generations", 5) < 1:
        raise CheckError(f"{path}: [gates.collapse] generations must be >= 1")
    if est.get("weight", "docs") not in ("docs", "tokens"):
        raise CheckError(f"{path}: [estimate] weight must be 'docs' or 'tokens'")
    if any(not isinstance(s, str) for s in syn.get("forbid_in", [])):
        raise CheckError(f"{path}: [gates.synthetic_by_construction] forbid_in must list source names")
    if "max_degradation" in col and col["max_degradation"] < 0:
        raise CheckError(f"{path}: [gates.collapse] max_degradation must be >= 0")
    if "max_rise" in rise and not 0 <= rise["max_rise"] <= 1:
        raise CheckError(f"{path}: [gates.rise] max_rise must be between 0 and 1")
    return CheckConfig(
        path=path, method=est.get("method", "auto"), detector=est.get("detector"),
        weight=est.get("weight", "docs"), n_boot=est.get("n_boot", N_BOOT), seed=est.get("seed", 0),
        min_docs=est.get("min_docs", MIN_GROUP_DOCS),
        max_overall=(_share(path, "max_overall", frac["max_overall"])
                     if "max_overall" in frac else None),
        max_per_source=(_share(path, "max_per_source", frac["max_per_source"])
                        if "max_per_source" in frac else None),
        per_source={s: _share(path, f"per_source.{s}", v)
                    for s, v in frac.get("per_source", {}).items()},
        max_rise=float(rise["max_rise"]) if "max_rise" in rise else None,
        rise_per_source=rise.get("per_source", True),
        min_coverage={k[4:]: _share(path, k, v) for k, v in cov.items()},
        collapse_regime=regime, collapse_generations=col.get("generations", 5),
        collapse_model=col.get("model", "gaussian"), collapse_metric=col.get("metric"),
        max_degradation=(float(col["max_degradation"]) if "max_degradation" in col else None),
        forbid_synthetic_in=tuple(syn.get("forbid_in", ())),
        contamination=_contamination_config(raw, path),
    )


def _contamination_config(raw: dict, path: str) -> contamination_gate.ContaminationGate | None:
    if "contamination" not in (raw.get("gates") or {}):
        return None
    try:
        return contamination_gate.parse_gate(_table(raw, "gates.contamination"), path)
    except contamination_gate.GateConfigError as e:
        raise CheckError(str(e)) from e


def check_collapse_metric(cfg: CheckConfig) -> None:
    """A collapse gate's metric must be one its model produces: said when the config is read,
    not after the estimation (the example once suggested `tail_mass_ratio`, which no model
    has)."""
    if cfg.max_degradation is None:
        return
    from auditor.collapse import make_family

    try:
        names = [m.name for m in make_family(cfg.collapse_model).metrics]
    except (ValueError, KeyError, TypeError) as e:
        raise CheckError(f"{cfg.path}: [gates.collapse] model {cfg.collapse_model!r}: {e}") from e
    if cfg.collapse_metric not in names:
        raise CheckError(f"{cfg.path}: [gates.collapse] metric {cfg.collapse_metric!r} is not "
                         f"produced by model {cfg.collapse_model!r}; its metrics: "
                         f"{', '.join(names)}")


def load_config(path: str | Path) -> CheckConfig:
    """Read and validate a TOML config; `CheckError` names the file and the problem."""
    p = Path(path)
    if not p.is_file():
        raise CheckError(f"config {p} not found: pass --config with a TOML file "
                         f"(see examples/auditor.toml)")
    try:
        import tomllib
    except ImportError:  # Python 3.10: the same parser, as a package
        try:
            import tomli as tomllib
        except ImportError:
            raise CheckError("reading TOML on Python 3.10 needs `pip install tomli`") from None
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CheckError(f"config {p} is not valid TOML: {e}") from e
    cfg = parse_config(raw, str(p))
    check_collapse_metric(cfg)
    if not any([cfg.max_overall is not None, cfg.max_per_source is not None, cfg.per_source,
                cfg.max_rise is not None, cfg.min_coverage, cfg.max_degradation is not None,
                cfg.forbid_synthetic_in, cfg.contamination is not None]):
        raise CheckError(f"config {p} configures no gate: add a [gates.*] table "
                         f"(see examples/auditor.toml)")
    return cfg


# --- gates ------------------------------------------------------------------------------------

def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _fraction_gate(name: str, est: dict[str, Any], threshold: float) -> GateResult:
    if est.get("ci_high") is None:  # cannot rule out a breach: fail, and say why
        return GateResult(name, False, None, threshold, "<=",
                          "no estimate: " + ("; ".join(est.get("notes") or []) or "unknown"))
    upper = float(est["ci_high"])
    return GateResult(
        name=name, passed=upper <= threshold, value=upper, threshold=threshold, comparison="<=",
        detail=(f"upper 95% bound {_pct(upper)} of estimate {_pct(est['fraction'])} "
                f"[{_pct(est['ci_low'])}, {_pct(upper)}] (method {est['method']}, detector "
                f"{est['detector']}, floor {_pct(est.get('floor'))}) vs max {_pct(threshold)}"))


def fraction_gates(cfg: CheckConfig, overall: dict | None,
                   by_source: dict[str, dict]) -> list[GateResult]:
    gates = []
    if cfg.max_overall is not None:
        if overall is None:
            raise CheckError("no overall estimate: does the store hold scored corpus documents?")
        gates.append(_fraction_gate("fraction.overall", overall, cfg.max_overall))
    if cfg.max_per_source is not None or cfg.per_source:
        for src in sorted(set(by_source) | set(cfg.per_source)):
            thr = cfg.per_source.get(src, cfg.max_per_source)
            if thr is None:
                continue
            if src not in by_source:
                gates.append(GateResult(f"fraction.source[{src}]", False, None, thr, "<=",
                                        f"source {src!r} named in the config has no estimate "
                                        f"in the store"))
                continue
            gates.append(_fraction_gate(f"fraction.source[{src}]", by_source[src], thr))
    return gates


def _key(group_key: Any) -> str:
    if isinstance(group_key, str):
        try:
            group_key = json.loads(group_key)
        except json.JSONDecodeError:
            return group_key
    return json.dumps(group_key, sort_keys=True)


def _previous_estimates(db: str, run_id: str | None, weight: str, settings: str
                        ) -> tuple[dict[tuple[str, str, str, str], tuple[float, str]], int]:
    """((group_by, group_key, detector, method) -> (fraction, run) of the most recent earlier
    run made with the settings of hash `settings` (`history.settings_hash`), and how many
    earlier rows were left out for other settings. The method is part of the key: `auditor
    estimate --method cc` by hand records its rows too, and a rise measured against them (80.5%
    by cc -> 100% by mlms) failed a gate; the settings hash, because another --min-docs,
    --similar-by or reference moves a point estimate as much. Rows of versions that did not
    record settings (NULL) are not comparable either: their settings are unknown."""
    from auditor.store.catalogue import open_store

    with open_store(db, read_only=True) as store:
        recorded = store.con.execute(  # a read-only store of an older version may lack it
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'estimates' "
            "AND column_name = 'settings_hash'").fetchone()[0]
        same = "settings_hash IS NOT DISTINCT FROM ?" if recorded else "FALSE AND ? IS NULL"
        try:
            rows = store.con.execute(
                f"SELECT group_by, group_key, fraction, detector, method, run_id, {same} "
                "FROM estimates WHERE run_id IS DISTINCT FROM ? AND coalesce(weight, 'docs') = ? "
                "AND fraction IS NOT NULL ORDER BY estimated_at DESC",
                [settings, run_id, weight]).fetchall()
        except duckdb.CatalogException:  # no history table yet
            rows = []
    prev: dict[tuple[str, str, str, str], tuple[float, str]] = {}
    for gb, gk, f, det, method, rid, same in rows:
        if same:
            prev.setdefault((_key(gb), _key(gk), det, method), (f, rid))
    return prev, sum(1 for *_, same in rows if not same)


def rise_gates(ctx: CheckContext) -> GateOutcome:
    """Compare the audit's estimates with those recorded for the previous scan run."""
    cfg, audit = ctx.cfg, ctx.audit
    if cfg.max_rise is None:
        return [], []
    prev, other_settings = _previous_estimates(ctx.db, audit.run_id, cfg.weight,
                                               audit.settings.estimates_hash())
    current = [("[]", e) for e in audit.estimates.get("overall") or []]
    if cfg.rise_per_source:
        current += [('["source"]', e) for e in audit.estimates.get("source") or []]
    gates, notes = [], []
    for gb, e in current:
        group = e["group"]
        name = "rise.overall" if not group else f"rise.source[{group['source']}]"
        key = (_key(gb), _key(group), e["detector"], e["method"])
        if e.get("fraction") is None:
            notes.append(f"{name}: no estimate in this run to compare")
            continue
        if key not in prev:
            notes.append(f"{name}: no estimate from an earlier run to compare with")
            continue
        before, before_run = prev[key]
        rise = float(e["fraction"]) - float(before)
        gates.append(GateResult(
            name, rise <= cfg.max_rise, rise, cfg.max_rise, "<=",
            f"{_pct(before)} in run {before_run} -> {_pct(e['fraction'])} in run "
            f"{audit.run_id} (detector {e['detector']}): rise {_pct(rise)} vs max "
            f"{_pct(cfg.max_rise)}"))
    if not prev and current:
        notes.insert(0, "no comparable previous run: the earlier runs' estimates were made with "
                        "other settings (weight, min_docs, similar_by, references; or by a "
                        "version that did not record them): rise gates skipped"
                     if other_settings else
                     "no estimates from an earlier scan run in the store: rise gates skipped")
    return sorted(gates, key=lambda g: g.name), notes


def coverage_gates(ctx: CheckContext) -> GateOutcome:
    cfg = ctx.cfg
    cov = ctx.audit.coverage["overall"]
    gates = []
    for k in ("date", "url", "license"):
        if k in cfg.min_coverage:
            share, thr = cov[f"{k}_share"], cfg.min_coverage[k]
            gates.append(GateResult(
                f"coverage.{k}", share is not None and share >= thr, share, thr, ">=",
                f"{cov['n_docs'] - cov[f'missing_{k}']:,} of {cov['n_docs']:,} corpus documents "
                f"have a {k} ({_pct(share)}) vs min {_pct(thr)}"))
    return gates, []


def collapse_gates(ctx: CheckContext) -> GateOutcome:
    if ctx.cfg.max_degradation is None:
        return [], []
    return [collapse_gate(ctx.cfg, ctx.audit.overall)], []


def collapse_gate(cfg: CheckConfig, overall: dict | None) -> GateResult:
    """Relative change of the metric after N generations, projected at the UPPER alpha bound."""
    from auditor.collapse import collapse_profile

    if overall is None:
        raise CheckError("no overall estimate to project: does the store hold scored documents?")
    if overall.get("ci_high") is None:
        raise CheckError("no overall estimate to project: " + "; ".join(overall.get("notes") or []))
    alpha = float(overall["ci_high"])
    try:
        profile = collapse_profile(alpha, regimes=(cfg.collapse_regime,),
                                   generations=cfg.collapse_generations,
                                   model=cfg.collapse_model, seed=cfg.seed)
    except (ValueError, KeyError) as e:
        raise CheckError(f"[gates.collapse]: cannot project: {e}") from e
    rows = [r if isinstance(r, dict) else asdict(r) for r in profile.rows]
    metrics = sorted({r["metric"] for r in rows})
    pts = {r["generation"]: r for r in rows if r["metric"] == cfg.collapse_metric
           and r["regime"] == cfg.collapse_regime}
    if not pts:
        raise CheckError(f"[gates.collapse]: metric {cfg.collapse_metric!r} is not produced by "
                         f"model {cfg.collapse_model!r}; its metrics: {', '.join(metrics)}")
    g0, gn = min(pts), max(pts)
    v0, vn = float(pts[g0]["value"]), float(pts[gn]["value"])
    deg = abs(vn - v0) / abs(v0) if v0 else abs(vn - v0)
    thr = float(cfg.max_degradation)
    return GateResult(
        f"collapse.{cfg.collapse_regime}.{cfg.collapse_metric}",
        math.isfinite(deg) and deg <= thr, deg, thr, "<=",
        f"{cfg.collapse_metric} ({pts[gn].get('definition')}) goes {v0:.4g} -> {vn:.4g} after "
        f"{gn} generations under {cfg.collapse_regime}, model {cfg.collapse_model}, at alpha = "
        f"upper bound {_pct(alpha)}: relative change {_pct(deg)} vs max {_pct(thr)}")


def synthetic_gates(ctx: CheckContext) -> GateOutcome:
    cfg = ctx.cfg
    if not cfg.forbid_synthetic_in:
        return [], []
    present = {r["source"]: r["n_synthetic_by_construction"]
               for r in ctx.audit.coverage.get("sources", [])}
    names = sorted(present) if "*" in cfg.forbid_synthetic_in else list(cfg.forbid_synthetic_in)
    gates = []
    for src in names:
        n = present.get(src)
        gates.append(GateResult(
            f"synthetic_by_construction[{src}]", bool(n is not None and n == 0), n, 0, "<=",
            f"source {src!r} not in the store" if n is None else
            f"{n:,} documents of {src!r} come from datasets that are synthetic by construction"))
    return gates, []


def estimate_fraction_gates(ctx: CheckContext) -> GateOutcome:
    cfg = ctx.cfg
    if cfg.max_overall is None and cfg.max_per_source is None and not cfg.per_source:
        return [], []
    # rows with in_gates False (too few documents, the pooled "other") are not gated
    by_source = {k: e for k, e in ctx.audit.by("source").items() if e.get("in_gates", True)}
    return fraction_gates(cfg, ctx.audit.overall, by_source), []


def contamination_gates(ctx: CheckContext) -> GateOutcome:
    """Benchmark items leaked per named benchmark (`[gates.contamination]`); read from the
    store's contamination results, not from the audit, since they are counts, not estimates."""
    if ctx.cfg.contamination is None:
        return [], []
    try:
        found = contamination_gate.contamination_gates(ctx.db, ctx.cfg.contamination)
    except LookupError as e:
        raise CheckError(str(e)) from e
    return [GateResult(**g) for g in found], []


#: Every gate family, in the order of the output. A gate function takes the `CheckContext` and
#: returns (gates, notes); one that is not configured returns ([], []). A new gate is one more
#: function here and its keys in `_SCHEMA`.
GATES: list[Callable[[CheckContext], GateOutcome]] = [
    estimate_fraction_gates, rise_gates, coverage_gates, synthetic_gates, collapse_gates,
    contamination_gates]


def audit_settings(cfg: CheckConfig) -> AuditSettings:
    """The audit a config judges: its [estimate] settings, the rest as `auditor report`'s
    defaults, so report and check read one stored audit."""
    return AuditSettings(method=cfg.method, detector=cfg.detector, weight=cfg.weight,
                         n_boot=cfg.n_boot, seed=cfg.seed, min_docs=cfg.min_docs)


def _needs_estimates(cfg: CheckConfig) -> bool:
    return (cfg.max_overall is not None or cfg.max_per_source is not None or bool(cfg.per_source)
            or cfg.max_rise is not None or cfg.max_degradation is not None)


def run_check(db_path: str | Path, cfg: CheckConfig, *, audit: Audit | None = None,
              recompute: bool = False) -> CheckResult:
    """Evaluate every configured gate on the store's audit (`audit` when given, else the stored
    one for the config's settings, computed when missing or stale); `CheckError` when the check
    cannot run."""
    db = str(db_path)
    if audit is None:
        try:
            audit = load_audit(db, audit_settings(cfg), recompute=recompute)
        except AuditError as e:
            raise CheckError(str(e)) from e
    if _needs_estimates(cfg):
        ests = [e for rows in audit.estimates.values() for e in rows]
        if not ests:
            raise CheckError(f"cannot estimate the synthetic fraction in {db}: "
                             + ("; ".join(audit.errors) or "no estimate"))
        if all(e["fraction"] is None for e in ests):
            why = "; ".join(sorted({n for e in ests for n in e.get("notes") or []}))
            raise CheckError(f"no synthetic fraction can be estimated in {db}: {why}")
    ctx = CheckContext(db=db, cfg=cfg, audit=audit)
    gates: list[GateResult] = []
    notes: list[str] = list(audit.notes)
    for gate in GATES:
        g, n = gate(ctx)
        gates += g
        notes += n
    return CheckResult(db=db, config=cfg.path, run_id=audit.run_id, gates=gates, notes=notes,
                       audit={"run_id": audit.run_id, "settings_hash": audit.settings_hash,
                              "computed_at": audit.computed_at, "persisted": audit.persisted},
                       checked_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))


# --- outputs ----------------------------------------------------------------------------------

def write_json(result: CheckResult, path: str | Path) -> None:
    write_text_atomic(path, json.dumps(result.to_dict(), indent=2) + "\n")


def write_error_json(message: str, path: str | Path, db: str, config: str) -> None:
    """The JSON a pipeline reads when the check could not run (exit 2)."""
    write_text_atomic(path, json.dumps({"status": "error", "exit_code": EXIT_ERROR, "db": db,
                                        "config": config, "error": message, "gates": []},
                                       indent=2) + "\n")


def junit_xml(result: CheckResult) -> str:
    """JUnit XML: one test case per gate, a <failure> for each failed one."""
    suite = ET.Element("testsuite", name="auditor check", tests=str(len(result.gates)),
                       failures=str(sum(not g.passed for g in result.gates)), errors="0",
                       timestamp=result.checked_at)
    for g in result.gates:
        case = ET.SubElement(suite, "testcase", classname="auditor.check", name=g.name)
        if not g.passed:
            fail = ET.SubElement(case, "failure", message=g.detail, type="GateFailed")
            fail.text = json.dumps(asdict(g))
        else:
            ET.SubElement(case, "system-out").text = g.detail
    return ET.tostring(ET.ElementTree(suite).getroot(), encoding="unicode", xml_declaration=True)


def write_junit(result: CheckResult, path: str | Path) -> None:
    write_text_atomic(path, junit_xml(result) + "\n")


#: Gates and notes the terminal summary shows: with a thousand sources, `check` printed 1,959
#: gates (398 KB). Failures come first; --json-out and --junit-out hold every gate.
SUMMARY_GATES = 25
SUMMARY_NOTES = 10


def summary_lines(result: CheckResult, max_gates: int = SUMMARY_GATES,
                  max_notes: int = SUMMARY_NOTES) -> list[str]:
    """The short human summary: failed gates first, at most `max_gates` lines of gates (the
    rest counted in one line), then the notes, then the verdict."""
    ordered = sorted(result.gates, key=lambda g: g.passed)  # stable: failures first, in order
    lines = []
    for g in ordered[:max_gates]:
        value = "n/a" if g.value is None else f"{g.value:.4g}"
        lines.append(printable(f"{'PASS' if g.passed else 'FAIL'}  {g.name}: {value} "
                               f"{g.comparison} {g.threshold:.4g}  ({g.detail})"))
    hidden = ordered[max_gates:]
    if hidden:
        n_fail = sum(not g.passed for g in hidden)
        lines.append(f"... and {len(hidden):,} more gates ({n_fail:,} failed, "
                     f"{len(hidden) - n_fail:,} passed): every gate is in --json-out and "
                     f"--junit-out")
    lines += [printable(f"note: {n}") for n in result.notes[:max_notes]]
    if len(result.notes) > max_notes:
        lines.append(f"... and {len(result.notes) - max_notes:,} more notes (in --json-out)")
    n_fail = sum(not g.passed for g in result.gates)
    lines.append(f"{'PASSED' if result.passed else 'FAILED'}: {len(result.gates) - n_fail} of "
                 f"{len(result.gates)} gates passed")
    return lines
