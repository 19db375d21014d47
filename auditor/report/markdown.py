"""The report as Markdown, for terminals, pull requests and wikis: the same sections and numbers
as the HTML page (both read one `ReportData`), with the plots written as PNG files beside it."""

from __future__ import annotations

from pathlib import Path

from auditor.output_files import markdown_text, write_bytes_atomic
from auditor.report import plots
from auditor.report.contamination import contamination_markdown
from auditor.report.data import (
    AGREEMENT_EXPLAINED,
    CALIBRATION_EXPLAINED,
    COLLAPSE_EXPLAINED,
    FLAGGED_EXPLAINED,
    ReportData,
    above_threshold,
    audit_label,
    coverage_label,
    estimate_label,
    method_label,
    metric_reading,
    source_threshold,
)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


#: A value from the data as inert Markdown text (the one escaper, `markdown_text`).
md = markdown_text


def _cell(v: object) -> str:
    return md(v)


def _table(headers: list[str], rows: list[list[object]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out + [""]


def _plot(png: bytes | None, plot_dir: Path | None, name: str, alt: str) -> list[str]:
    if not png or plot_dir is None:
        return []
    write_bytes_atomic(plot_dir / name, png)
    return [f"![{alt}]({plot_dir.name}/{name})", ""]


def _calibration(d: ReportData) -> list[str]:
    """The per-source thresholds section (from the audit)."""
    c = d.calibration or {}
    L = ["## Thresholds per source", ""]
    if not c.get("sources"):
        return L + ["No per-source thresholds (see notes).", ""]
    shipped = c.get("shipped_threshold")
    L += [f"Detector {md(c['detector'])}, false-positive rate {_pct(c['fpr'])}; an own threshold "
          f"needs at least {c['min_pre_cutoff']} scored pre-cutoff documents, else the shipped "
          f"threshold ({_num(shipped)}). {md(c.get('machine_reference') or '')}.", "",
          CALIBRATION_EXPLAINED, ""]
    return L + _table(
        ["source", "threshold", "origin", "pre-cutoff documents", "documents after",
         "flagged after the cutoff", "flagged before the cutoff", "mean P(machine)"],
        [[x["source"], _num(x["threshold"]), x["origin_label"], x["n_pre_cutoff"],
          x["n_target"], _pct(x["flagged_target"]), _pct(x["flagged_pre_cutoff"]),
          _num(x["mean_p_machine"])] for x in c["sources"]])


def render_markdown(d: ReportData, plot_dir: Path | None = None) -> str:
    """The report as Markdown; plots go to `plot_dir` (linked relatively) when given."""
    s, o = d.summary, d.summary.get("overall")
    L = [f"# Provenance audit: {md(d.db_path)}", "",
         f"Generated {md(d.generated_at)} by auditor report; cutoff {md(d.cutoff)}; numbers "
         f"from the {md(audit_label(d.audit))}.", "", "## Summary", "",
         f"- documents: {s.get('n_docs', 0):,}; tokens (est.): {s.get('n_tokens', 0):,}; "
         f"sources: {s.get('n_sources', 0)}",
         f"- crawl dates: {(s.get('date_min') or 'n/a')[:10]} to {(s.get('date_max') or 'n/a')[:10]}",
         f"- synthetic fraction (95% CI): **{estimate_label(o)}** ({md(method_label(o))}; weighted by "
         f"{md(d.weight)}; human reference: {md((o or {}).get('human_ref') or 'n/a')}"
         f"{md(coverage_label(o, s.get('n_docs', 0)))})",
         "- documents by role: " + ", ".join(f"{md(k)}: {v:,}" for k, v in (s.get("roles") or {}).items()),
         "", "## Synthetic fraction by source", ""]
    L += _plot(plots.forest(d.sources, o), plot_dir, "forest.png", "per-source fractions")
    L += _table(["source", "documents", "tokens", "synthetic", "95% CI", "method", "detector",
                 "floor", "synthetic by construction", "notes"],
                [[x["source"], x["n_docs"], x["n_tokens"], _pct((x.get("estimate") or {}).get("fraction")),
                  estimate_label(x.get("estimate")).partition(" ")[2] or "n/a",
                  (x.get("estimate") or {}).get("method", "n/a"),
                  (x.get("estimate") or {}).get("detector", "n/a"),
                  _pct((x.get("estimate") or {}).get("floor")), x["n_synthetic_by_construction"],
                  "; ".join((x.get("estimate") or {}).get("notes") or [])] for x in d.sources])
    L += ["Floor: the estimate on held-out pre-cutoff documents of the source (should be 0).", "",
          "## Synthetic fraction by crawl month", ""]
    L += _plot(plots.monthly(d.months, d.cutoff), plot_dir, "months.png", "fraction by month")
    L += _table(["crawl month", f"vs cutoff {d.cutoff}", "documents", "synthetic (95% CI)", "method"],
                [[m["month"], "before" if m["pre_cutoff"] else "after", m["n_docs"],
                  estimate_label(m.get("estimate")), method_label(m.get("estimate"))]
                 for m in d.months])
    L += _calibration(d)
    c = d.coverage or {}
    def cov(name: str, x: dict) -> list[object]:
        return [name, x["n_docs"]] + [
            f"{x[f'missing_{k}']} ({_pct(None if x[f'{k}_share'] is None else 1 - x[f'{k}_share'])})"
            for k in ("date", "url", "license")]

    cov_rows = [cov(x["source"], x) for x in c.get("sources", [])]
    if c.get("overall"):
        cov_rows.append(cov("ALL SOURCES", c["overall"]))
    L += ["## Licence and provenance coverage", ""]
    L += _table(["source", "documents", "no date", "no URL", "no licence"], cov_rows)
    a = d.agreement or {}
    L += ["## Detector agreement", "", AGREEMENT_EXPLAINED, ""]
    L += _table(["detector A", "detector B", "documents", "Pearson r", "Spearman rho",
                 "flag agreement", "thresholds"],
                [[p["a"], p["b"], p["n"], _num(p["pearson"]), _num(p["spearman"]),
                  _pct(p["agreement"]), f"{p['threshold_a']:.3g} / {p['threshold_b']:.3g}"]
                 for p in a.get("pairs", [])]) if a.get("pairs") else [
        f"Detectors scored: {md(', '.join(a.get('detectors', [])) or 'none')}; nothing to compare.",
        ""]
    col = d.collapse or {}
    L += ["## Model-collapse projection", ""]
    if col.get("rows"):
        L += [f"Model {md(col['model'])}, alpha {_pct(col['alpha'])} "
              f"[{_pct(col['alpha_ci'][0])}, {_pct(col['alpha_ci'][1])}] ({md(method_label(o))}), "
              f"regimes {md(', '.join(col['regimes']))}.", ""]
        L += _plot(plots.collapse(col), plot_dir, "collapse.png", "collapse projection")
        last = max(r["generation"] for r in col["rows"])
        specs = {m["name"]: m for m in col.get("metrics") or []}
        L += _table(["regime", "metric", "definition", f"value at generation {last}", "band",
                     "method", "what it means"],
                    [[r["regime"], r["metric"], r.get("definition"), _num(r["value"]),
                      f"[{_num(r.get('low'))}, {_num(r.get('high'))}]", r.get("method"),
                      metric_reading(specs.get(r["metric"]), r["value"])]
                     for r in col["rows"] if r["generation"] == last])
        L += [COLLAPSE_EXPLAINED, ""]
    else:
        L += ["No projection available (see notes).", ""]
    L += contamination_markdown(d.contamination)
    thr = (d.agreement or {}).get("thresholds", {}).get(d.detector)
    L += ["## Most confidently flagged documents", "",
          f"Per source, the documents detector {md(d.detector)} scores highest (its shipped "
          f"threshold: {_num(thr)}; each source's rows are judged at the source's own threshold "
          f"where the audit set one, see Thresholds per source). {FLAGGED_EXPLAINED}", ""]
    for source, docs in d.flagged.items():
        L += [f"### {md(source)}", ""]
        t = source_threshold(d.calibration, d.detector, source, thr)
        L += _table(["id", "url", "flagged", "scores", "reasons", "snippet"],
                    [[x["id"], x.get("url") or "no URL", above_threshold(x, d.detector, t),
                      ", ".join(f"{k}={_num(v)}" for k, v in x["scores"].items()),
                      "; ".join(f"{k}: {v}" for k, v in x["reasons"].items()) or "none",
                      (x.get("snippet") or "")[:200]] for x in docs])
    i = d.issues or {}
    errs = ", ".join(f"{md(k)}: {v:,}" for k, v in (i.get("errors") or {}).items()) or "none"
    L += ["## Scan runs, skipped and failed records", "",
          f"Runs: {i.get('n_runs', 0)}; records not stored: {errs}.", ""]
    if i.get("top_reasons"):
        L += _table(["status", "reason", "records"],
                    [[r["status"], r["reason"], r["n"]] for r in i["top_reasons"]])
    L += ["## Notes", ""] + ([f"- {md(n)}" for n in d.notes] or ["none"]) + [""]
    return "\n".join(L)
