"""PNG of a collapse profile. matplotlib is imported here, lazily, with the Agg backend so that
plotting works on headless machines and `import auditor` stays light."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.collapse.profile import CollapseProfile

COLORS = {"replace": "#c0392b", "accumulate": "#2471a3", "accumulate-subsample": "#7d3c98",
          "fresh": "#229954"}


def plot_profile(profile: CollapseProfile, path: str | Path,
                 metrics: Sequence[str] | None = None) -> Path:
    """One panel per metric; Monte Carlo as a line with its band, closed forms dashed."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    names = list(metrics) if metrics else [m["name"] for m in profile.metrics]
    known = {m["name"]: m for m in profile.metrics}
    for n in names:
        if n not in known:
            raise ValueError(f"metric {n!r} is not in this {profile.model} profile; "
                             f"choose from {', '.join(known)}")
    cols = min(3, len(names))
    nrows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols, 3.4 * nrows), squeeze=False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        for regime in profile.regimes:
            c = COLORS.get(regime)
            mc = profile.series(regime, name)
            gens = [r.generation for r in mc]
            # fresh coincides with replace at alpha = 1: dotted and on top, so both stay visible
            style = {"linestyle": ":", "linewidth": 2.2, "zorder": 3} if regime == "fresh" else {}
            ax.plot(gens, [r.value for r in mc], color=c, label=regime, **style)
            ax.fill_between(gens, [r.low for r in mc], [r.high for r in mc], color=c, alpha=0.18)
            cf = profile.series(regime, name, "closed form")
            if cf:
                ax.plot([r.generation for r in cf], [r.value for r in cf], color=c,
                        linestyle="--", linewidth=1)
        ax.set_title(f"{name}\n({known[name]['definition']})", fontsize=9)
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    a = profile.alphas
    alpha_txt = f"alpha={a[0]:.3g}" if len(set(a)) == 1 else f"alpha {a[0]:.3g}->{a[-1]:.3g}"
    fig.suptitle(f"collapse profile: {profile.model}, {alpha_txt}, {profile.n_runs} runs "
                 "(band: 95%; dashed: closed form)", fontsize=10)
    axes.ravel()[0].legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
