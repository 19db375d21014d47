"""The report's figures as PNG bytes (matplotlib, Agg backend, imported on first use).

PNG rather than a JS chart library: the HTML report must open offline, from a mail attachment or
a CI artifact, with no script or stylesheet to fetch. Every figure's title names the method (and
the caption in the page its floor), so a plot is never read without how it was made.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from auditor.estimate.result import Status
from auditor.output_files import printable

_REGIME_COLORS = {"replace": "#c0392b", "accumulate": "#2471a3",
                  "accumulate-subsample": "#7d3c98", "fresh": "#229954"}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


#: At most this many sources in the forest plot (the largest by documents): a thousand sources
#: made a 965 x 37,484 px image nobody can read. The table and the JSON keep every source.
MAX_FOREST_SOURCES = 30


def text(value: Any) -> str:
    """A data value as plain matplotlib text: `$` would start mathtext (and can raise)."""
    return printable(value).replace("$", r"\$")


def _known(x: Any) -> bool:
    return x is not None and x == x  # not None, not NaN


def forest(sources: list[dict[str, Any]], overall: dict[str, Any] | None,
           max_sources: int = MAX_FOREST_SOURCES) -> bytes | None:
    """Per-source synthetic fraction with its 95% interval, the overall estimate last; only the
    `max_sources` largest sources, so the figure's height is capped."""
    def drawn(e: dict[str, Any] | None) -> bool:
        """A point with its interval, or (no matching human reference) an upper bound alone."""
        return bool(e) and _known(e.get("ci_high")) and (
            _known(e.get("fraction"))
            or e.get("status") in (Status.NO_MATCH.value, Status.OVERALL.value))

    rows = [(s["source"], s["estimate"]) for s in sources if drawn(s.get("estimate"))]
    n_all = len(rows)
    if n_all > max_sources:
        size = {s["source"]: s.get("n_docs", 0) for s in sources}
        keep = set(sorted((n for n, _ in rows), key=lambda n: (-size.get(n, 0), str(n)))[:max_sources])
        rows = [r for r in rows if r[0] in keep]
    if drawn(overall):
        rows.append(("ALL SOURCES", overall))
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(rows) + 1.4))
    for i, (name, e) in enumerate(reversed(rows)):
        color = "#111111" if name == "ALL SOURCES" else "#2471a3"
        lo, hi = 100 * (e.get("ci_low") or 0.0), 100 * e["ci_high"]
        ax.plot([lo, hi], [i, i], color=color, lw=2)
        if _known(e.get("fraction")):  # else no point estimate: the upper bound alone
            ax.plot([100 * e["fraction"]], [i], "D" if name == "ALL SOURCES" else "o",
                    color=color)
    ax.set_yticks(range(len(rows)), [text(n) for n, _ in reversed(rows)])
    ax.set_xlabel("synthetic fraction (%), point estimate and 95% interval")
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    methods = sorted({f"{e['method']} / {e['detector']}" for _, e in rows})
    shown = (f"; the {max_sources} largest of {n_all:,} sources, all in the table"
             if n_all > max_sources else "")
    ax.set_title(text("Synthetic fraction by source  (method: " + "; ".join(methods) + ")"
                      + shown), fontsize=9)
    return _png(fig)


def monthly(months: list[dict[str, Any]], cutoff: str) -> bytes | None:
    """The synthetic fraction by crawl month with its band, the cutoff marked."""
    pts = [(dt.date.fromisoformat(m["month"] + "-15"), m["estimate"]) for m in months
           if m.get("estimate") and m["estimate"].get("fraction") is not None]
    if not pts:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.4))
    xs = [p[0] for p in pts]
    f = [100 * p[1]["fraction"] for p in pts]
    lo = [100 * p[1]["ci_low"] for p in pts]
    hi = [100 * p[1]["ci_high"] for p in pts]
    ax.fill_between(xs, lo, hi, color="#2471a3", alpha=0.2, label="95% interval")
    ax.plot(xs, f, "o-", color="#2471a3", ms=3, label="estimate")
    c = dt.date.fromisoformat(cutoff)
    ax.axvline(c, color="#c0392b", ls="--", lw=1.2, label=f"cutoff {cutoff}")
    ax.set_ylabel("synthetic fraction (%)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    methods = sorted({f"{p[1]['method']} / {p[1]['detector']}" for p in pts})
    ax.set_title(text("Synthetic fraction by crawl month  (method: " + "; ".join(methods) + ")"),
                 fontsize=9)
    fig.autofmt_xdate()
    return _png(fig)


def collapse_metrics(rows: list[dict[str, Any]], max_panels: int = 4) -> list[str]:
    """The first metric of each definition of collapse, in order: one panel per definition
    reads better than six panels of which three say the same thing."""
    seen: list[str] = []
    defs: set[str] = set()
    for r in rows:
        d = r.get("definition") or r["metric"]
        if r["metric"] not in seen and d not in defs:
            seen.append(r["metric"])
            defs.add(d)
    return seen[:max_panels]


def collapse(section: dict[str, Any], max_panels: int = 4) -> bytes | None:
    """Replace vs accumulate, one panel per metric, band from the alpha interval / Monte Carlo."""
    rows = section.get("rows") or []
    metrics = collapse_metrics(rows, max_panels)
    if not metrics:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=False):
        defs = set()
        for regime in section.get("regimes", []):
            pts = sorted((r for r in rows if r["metric"] == metric and r["regime"] == regime),
                         key=lambda r: r["generation"])
            if not pts:
                continue
            defs.update(r.get("definition") or "" for r in pts)
            g = [r["generation"] for r in pts]
            color = _REGIME_COLORS.get(regime, None)
            ax.plot(g, [r["value"] for r in pts], "-o", ms=3, color=color, label=regime)
            if all(r.get("low") is not None and r.get("high") is not None for r in pts):
                ax.fill_between(g, [r["low"] for r in pts], [r["high"] for r in pts],
                                color=color, alpha=0.2)
        ax.set_title(f"{metric}\n({', '.join(sorted(d for d in defs if d))})", fontsize=8)
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Collapse projection, model {section.get('model')}, alpha "
                 f"{100 * section['alpha']:.1f}% [{100 * section['alpha_ci'][0]:.1f}, "
                 f"{100 * section['alpha_ci'][1]:.1f}]", fontsize=9)
    fig.tight_layout()
    return _png(fig)
