"""One self-contained HTML page from a `ReportData`: inline CSS, PNG plots as data URIs and a
few lines of inline JS that make tables sortable. Nothing is fetched, so the page reads the same
offline, from a CI artifact or an e-mail."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from typing import Any

from auditor.output_files import printable
from auditor.report import plots
from auditor.report.contamination import contamination_html
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

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:1.5em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f5f7}table.sortable th{cursor:pointer;user-select:none}
table.sortable th:after{content:" \\2195";color:#aaa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.kpi{display:inline-block;margin:.4em 1.4em .4em 0}.kpi b{display:block;font-size:1.4em}
.caption{color:#555;font-size:.85em;margin:.2em 0 1em}
.snippet{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.8em;max-width:560px}
td{overflow-wrap:anywhere}
.note{background:#fff6e0;border-left:4px solid #e6a700;padding:.4em .8em;margin:.4em 0}
img.plot{max-width:100%;border:1px solid #eee}
td.notes{font-size:.75em;color:#555;max-width:320px}
mark{background:#ffe08a}
"""

_JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){
    th.addEventListener('click',function(){
      var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
      var asc=th.getAttribute('data-dir')!=='asc';th.setAttribute('data-dir',asc?'asc':'desc');
      rows.sort(function(a,b){
        var x=a.cells[i].getAttribute('data-v'),y=b.cells[i].getAttribute('data-v');
        var nx=parseFloat(x),ny=parseFloat(y);
        var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:String(x).localeCompare(String(y));
        return asc?c:-c;});
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});
document.body.setAttribute('data-sortable','ready');
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


#: The page may run only its own inline script and style (by hash) and show only inline (data:)
#: images; nothing is fetched, no other script runs, even if a value from the data were ever
#: printed unescaped: a second line of defence behind `_e`.
CSP = (f"default-src 'none'; script-src {_csp_hash(_JS)}; style-src {_csp_hash(_CSS)}; "
       "img-src data:; base-uri 'none'; form-action 'none'")


def _e(v: Any) -> str:
    """Every value from the data goes through here, in text and in attributes (quote=True);
    control characters are shown as `\\x1b`, not passed on."""
    return html.escape(printable("" if v is None else v), quote=True)


def slug(text: Any, index: int) -> str:
    """An HTML id from a data value: ASCII letters, digits and dashes only, made unique by the
    index, so no source name can end the attribute or collide with another id."""
    part = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:40]
    return f"{index}-{part}" if part else str(index)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _num(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _img(png: bytes | None, alt: str, ident: str) -> str:
    if not png:
        return f'<p class="note">{_e(alt)}: not available (see notes).</p>'
    b64 = base64.b64encode(png).decode("ascii")
    return f'<img class="plot" id="{_e(ident)}" alt="{_e(alt)}" src="data:image/png;base64,{b64}">'


def _td(text: Any, value: Any = None, num: bool = False) -> str:
    v = text if value is None else value
    cls = ' class="num"' if num else ""
    return f'<td{cls} data-v="{_e(v)}">{_e(text)}</td>'


def _table(ident: str, headers: list[str], rows: list[str], sortable: bool = True) -> str:
    cls = ' class="sortable"' if sortable else ""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return (f'<table id="{_e(ident)}"{cls}><thead><tr>{head}</tr></thead><tbody>'
            + "".join(f"<tr>{r}</tr>" for r in rows) + "</tbody></table>")


def _summary(d: ReportData) -> str:
    s, o = d.summary, d.summary.get("overall")
    kpis = [("documents", f"{s.get('n_docs', 0):,}"), ("tokens (est.)", f"{s.get('n_tokens', 0):,}"),
            ("sources", s.get("n_sources", 0)),
            ("crawl dates", f"{(s.get('date_min') or 'n/a')[:10]} to {(s.get('date_max') or 'n/a')[:10]}"),
            ("synthetic fraction (95% CI)", estimate_label(o))]
    body = "".join(f'<div class="kpi">{_e(k)}<b>{_e(v)}</b></div>' for k, v in kpis)
    roles = ", ".join(f"{k}: {v:,}" for k, v in (s.get("roles") or {}).items())
    return (f'<section id="summary"><h2>Summary</h2>{body}'
            f'<p class="caption">Overall estimate: {_e(method_label(o))}; weighted by '
            f'{_e(d.weight)}{_e(coverage_label(o, s.get("n_docs", 0)))}. Documents by role: '
            f'{_e(roles)}. Human reference: {_e((o or {}).get("human_ref") or "n/a")}.</p>'
            '</section>')


def _sources(d: ReportData) -> str:
    rows = []
    for s in d.sources:
        e = s.get("estimate") or {}
        rows.append("".join([
            _td(s["source"]), _td(f"{s['n_docs']:,}", s["n_docs"], True),
            _td(f"{s['n_tokens']:,}", s["n_tokens"], True),
            _td(_pct(e.get("fraction")), e.get("fraction", -1), True),
            _td(_pct(e.get("ci_low")), e.get("ci_low", -1), True),
            _td(_pct(e.get("ci_high")), e.get("ci_high", -1), True),
            _td(e.get("method", "n/a")), _td(e.get("detector", "n/a")),
            _td(_pct(e.get("floor")), e.get("floor", -1) if e.get("floor") is not None else -1, True),
            _td(f"{s['n_synthetic_by_construction']:,}", s["n_synthetic_by_construction"], True),
            f'<td class="notes">{_e("; ".join(e.get("notes") or []))}</td>',
        ]))
    table = _table("source-table", ["source", "documents", "tokens", "synthetic", "CI low",
                                    "CI high", "method", "detector", "floor",
                                    "synthetic by construction", "notes"], rows)
    png = plots.forest(d.sources, d.summary.get("overall"))
    return (f'<section id="sources"><h2>Synthetic fraction by source</h2>'
            f'{_img(png, "forest plot of per-source synthetic fractions", "forest-plot")}'
            f'<p class="caption">Points: estimates; bars: 95% intervals (one-sided upper bound '
            f'at 0). Methods and floors per source in the table; overall: '
            f'{_e(method_label(d.summary.get("overall")))}. Floor: the estimate on held-out '
            f'pre-cutoff documents of the source, which should be 0; a floor above 0 is the '
            f'error to expect. Click a column to sort.</p>'
            f'{table}</section>')


def _months(d: ReportData) -> str:
    png = plots.monthly(d.months, d.cutoff)
    rows = []
    for m in d.months:
        e = m.get("estimate") or {}
        rows.append("".join([_td(m["month"]), _td("before" if m["pre_cutoff"] else "after"),
                             _td(f"{m['n_docs']:,}", m["n_docs"], True),
                             _td(estimate_label(e or None), e.get("fraction", -1), True),
                             _td(method_label(e or None))]))
    table = _table("month-table", ["crawl month", f"vs cutoff {d.cutoff}", "documents",
                                   "synthetic (95% CI)", "method"], rows)
    return (f'<section id="months"><h2>Synthetic fraction by crawl month</h2>'
            f'{_img(png, "synthetic fraction by crawl month", "month-plot")}'
            f'<p class="caption">The dashed line marks {_e(d.cutoff)}, the scan\'s cutoff '
            f'(by default 2022-11-30, ChatGPT\'s release). Months '
            f'before it serve as the human reference, so their estimates show the floor. '
            f'Overall: {_e(method_label(d.summary.get("overall")))}; per month in the table.</p>'
            f'<details><summary>table</summary>{table}</details></section>')


def _coverage(d: ReportData) -> str:
    c = d.coverage or {}

    def row(name: str, r: dict) -> str:
        return "".join([_td(name), _td(f"{r['n_docs']:,}", r["n_docs"], True)] + [
            _td(f"{r[f'missing_{k}']:,} ({_pct(1 - r[f'{k}_share'] if r[f'{k}_share'] is not None else None)})",
                r[f"missing_{k}"], True) for k in ("date", "url", "license")])

    rows = [row(s["source"], s) for s in c.get("sources", [])]
    if c.get("overall"):
        rows.append(row("ALL SOURCES", c["overall"]))
    table = _table("coverage-table", ["source", "documents", "no date", "no URL", "no licence"],
                   rows)
    return (f'<section id="coverage"><h2>Licence and provenance coverage</h2>{table}'
            f'<p class="caption">Counts of corpus documents lacking each field (share in '
            f'brackets). Undated documents cannot serve as a pre-cutoff human reference; a '
            f'licence of "unknown" counts as missing.</p></section>')


def _calibration(d: ReportData) -> str:
    c = d.calibration or {}
    if not c.get("sources"):
        return ('<section id="calibration"><h2>Thresholds per source</h2>'
                '<p class="note">No per-source thresholds (see notes).</p></section>')
    rows = ["".join([_td(s["source"]), _td(_num(s["threshold"]), s["threshold"], True),
                     _td(s["origin_label"]),
                     _td(f"{s['n_pre_cutoff']:,}", s["n_pre_cutoff"], True),
                     _td(f"{s['n_target']:,}", s["n_target"], True),
                     _td(_pct(s["flagged_target"]), s["flagged_target"], True),
                     _td(_pct(s["flagged_pre_cutoff"]), s["flagged_pre_cutoff"], True),
                     _td(_num(s["mean_p_machine"]), s["mean_p_machine"], True)])
            for s in c["sources"]]
    table = _table("calibration-table", ["source", "threshold", "origin",
                                         "pre-cutoff documents", "documents after",
                                         "flagged after the cutoff",
                                         "flagged before the cutoff", "mean P(machine)"], rows)
    return (f'<section id="calibration"><h2>Thresholds per source</h2>'
            f'<p class="caption">Detector {_e(c["detector"])}, false-positive rate '
            f'{_e(_pct(c["fpr"]))}; an own threshold needs at least {_e(c["min_pre_cutoff"])} '
            f'scored pre-cutoff documents, else the shipped threshold '
            f'({_e(_num(c.get("shipped_threshold")))}). {_e(c.get("machine_reference"))}.</p>'
            f'{table}<p class="caption">{_e(CALIBRATION_EXPLAINED)}</p></section>')


def _agreement(d: ReportData) -> str:
    a = d.agreement or {}
    rows = ["".join([_td(p["a"]), _td(p["b"]), _td(f"{p['n']:,}", p["n"], True),
                     _td(_num(p["pearson"]), p["pearson"], True),
                     _td(_num(p["spearman"]), p["spearman"], True),
                     _td(_pct(p["agreement"]), p["agreement"], True),
                     _td(f"{p['threshold_a']:.3g} / {p['threshold_b']:.3g}")])
            for p in a.get("pairs", [])]
    if not rows:
        body = (f'<p>Only {len(a.get("detectors", []))} detector score column(s) in the store '
                f'({_e(", ".join(a.get("detectors", [])) or "none")}): nothing to compare.</p>')
    else:
        body = _table("agreement-table", ["detector A", "detector B", "documents", "Pearson r",
                                          "Spearman rho", "flag agreement", "thresholds"], rows)
    return (f'<section id="agreement"><h2>Detector agreement</h2>{body}'
            f'<p class="caption">{_e(AGREEMENT_EXPLAINED)}</p></section>')


def _collapse(d: ReportData) -> str:
    c = d.collapse or {}
    if not c.get("rows"):
        return ('<section id="collapse"><h2>Model-collapse projection</h2>'
                '<p class="note">No projection available (see notes).</p></section>')
    last = max(r["generation"] for r in c["rows"])
    specs = {m["name"]: m for m in c.get("metrics") or []}
    rows = ["".join([_td(r["regime"]), _td(r["metric"]), _td(r.get("definition")),
                     _td(_num(r["value"]), r["value"], True),
                     _td(f"[{_num(r.get('low'))}, {_num(r.get('high'))}]"), _td(r.get("method")),
                     f'<td class="notes">{_e(metric_reading(specs.get(r["metric"]), r["value"]))}'
                     f'</td>'])
            for r in c["rows"] if r["generation"] == last]
    table = _table("collapse-table", ["regime", "metric", "definition of collapse",
                                      f"value at generation {last}", "band", "method",
                                      "what it means"], rows)
    png = plots.collapse(c)
    return (f'<section id="collapse"><h2>Model-collapse projection</h2>'
            f'{_img(png, "collapse projection, replace vs accumulate", "collapse-plot")}'
            f'<p class="caption">Model family {_e(c.get("model"))}, synthetic share alpha = '
            f'{_pct(c["alpha"])} (the overall estimate; band from its interval '
            f'[{_pct(c["alpha_ci"][0])}, {_pct(c["alpha_ci"][1])}]; '
            f'{_e(method_label(d.summary.get("overall")))}). Replace: each generation '
            f'trains on the previous model\'s output; accumulate: real and all past synthetic '
            f'data are kept. Methods per row below.</p>{table}'
            f'<p class="caption">{_e(COLLAPSE_EXPLAINED)}</p></section>')


def _flagged(d: ReportData) -> str:
    thr = (d.agreement or {}).get("thresholds", {}).get(d.detector)
    parts = [f'<section id="flagged"><h2>Most confidently flagged documents</h2>'
             f'<p class="caption">Per source, the documents detector {_e(d.detector)} scores '
             f'highest (its shipped threshold: {_e(_num(thr))}; each source\'s rows are judged '
             f'at the source\'s own threshold where the audit set one, see Thresholds per '
             f'source), with every score and reason. '
             f'{_e(FLAGGED_EXPLAINED)}</p>']
    for i, (source, docs) in enumerate(d.flagged.items()):
        t = source_threshold(d.calibration, d.detector, source, thr)
        rows = []
        for doc in docs:
            scores = ", ".join(f"{k}={_num(v)}" for k, v in doc["scores"].items())
            reasons = "; ".join(f"{k}: {v}" for k, v in doc["reasons"].items()) or "none"
            rows.append("".join([_td(doc["id"]), _td(doc.get("url") or "no URL"),
                                 _td(above_threshold(doc, d.detector, t)),
                                 _td(scores), _td(reasons),
                                 f'<td class="snippet">{_e(doc.get("snippet"))}</td>']))
        parts.append(f"<h3>{_e(source)}</h3>" + _table(
            f"flagged-{slug(source, i)}", ["id", "url", "flagged", "scores", "reasons",
                                           "snippet"], rows, False))
    return "".join(parts) + "</section>"


def _issues(d: ReportData) -> str:
    i = d.issues or {}
    errs = ", ".join(f"{k}: {v:,}" for k, v in (i.get("errors") or {}).items()) or "none"
    rows = ["".join([_td(r["status"]), _td(r["reason"]), _td(r["n"], r["n"], True)])
            for r in i.get("top_reasons", [])]
    last = i.get("last_run") or {}
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in d.notes)
    return (f'<section id="issues"><h2>Scan runs, skipped and failed records</h2>'
            f'<p>Runs: {i.get("n_runs", 0)}; last run {_e(last.get("run_id"))} '
            f'({_e(last.get("status"))}). Records not stored: {_e(errs)}.</p>'
            + (_table("issues-table", ["status", "reason", "records"], rows) if rows else "")
            + f"<h3>Notes</h3>{notes or '<p>none</p>'}</section>")


def render_html(d: ReportData) -> str:
    """The whole page as a string."""
    body = "".join([_summary(d), _sources(d), _calibration(d), _months(d), _coverage(d),
                    _agreement(d),
                    _collapse(d), contamination_html(d.contamination), _flagged(d),
                    _issues(d)])
    meta = json.dumps({"db": d.db_path, "generated_at": d.generated_at})
    meta = meta.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Provenance audit: {_e(d.db_path)}</title><style>{_CSS}</style></head><body>"
            f"<h1>Provenance audit</h1><p class=\"caption\">Store {_e(d.db_path)}; generated "
            f"{_e(d.generated_at)} by auditor report; cutoff {_e(d.cutoff)}; numbers from the "
            f"{_e(audit_label(d.audit))}.</p>{body}"
            f'<script type="application/json" id="report-meta">{meta}</script>'
            f"<script>{_JS}</script></body></html>")
