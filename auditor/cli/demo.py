"""`auditor demo`: thin wrapper over `auditor.demo.run_demo`."""

from __future__ import annotations

import json

import click


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


@click.command("demo")
@click.option("--out", "out_dir", default="demo-output", show_default=True,
              type=click.Path(file_okay=False), help="Work folder; its demo store is rebuilt on each run.")
@click.option("--n-boot", default=200, show_default=True, help="Bootstrap replicates.")
@click.option("--seed", default=0, show_default=True, help="Seed of every random draw.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def demo_command(out_dir, n_boot, seed, as_json):
    """Run the whole flow on the embedded demo corpus and compare with the known truth.

    Copies about 2,900 documents in six sources (Parquet, JSONL, JSONL.gz, WARC; crawl dates on
    both sides of 2022-11-30; known synthetic fractions from 0% to 100%) into --out, then runs
    scan -> estimate -> project -> report -> check, prints where the report is, and a table of
    each estimate beside the true fraction of the documents it covers. The check fails on
    purpose: one source is synthetic by construction. Takes about a minute.

    \b
    Examples:
      auditor demo
      auditor demo --out /tmp/demo --json
    """
    from auditor.demo import run_demo

    say = (lambda m: None) if as_json else (lambda m: click.echo(f"... {m}", err=True))
    try:
        res = run_demo(out_dir, n_boot=n_boot, seed=seed, say=say)
    except Exception as e:  # noqa: BLE001 - the demo must end with a message, not a traceback
        from auditor.scan.runner import ScanError

        if isinstance(e, (ScanError, OSError, ValueError, LookupError)):
            raise click.ClickException(f"demo failed: {e}") from None
        raise
    if as_json:
        click.echo(json.dumps(res.to_dict(), indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()
    table = Table(title="Estimated vs true synthetic fraction (demo corpus)")
    for col in ("source", "estimate", "95% interval", "truth", "truth in interval", "method",
                "floor"):
        table.add_column(col)
    for r in res.comparison:
        ok = {True: "[green]yes[/]", False: "[red]no[/]", None: "n/a"}[r["in_interval"]]
        table.add_row(r["source"], _pct(r["estimate"]),
                      f"[{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]", _pct(r["truth"]), ok,
                      f"{r['method']} / {r['detector']}", _pct(r["floor"]))
    con.print(table)
    con.print("truth = the true fraction of the documents each estimate covers (a source's "
              "documents minus the pre-cutoff half used as its human reference).")
    for line in res.check.get("summary") or [f"check could not run: {res.check.get('error')}"]:
        con.print(line, markup=False, highlight=False)
    if any(g["name"].startswith("synthetic_by_construction") and not g["passed"]
           for g in res.check.get("gates", [])):
        con.print("(the check fails on purpose: cosmopedia-demo is synthetic by construction)")
    for n in res.notes:
        con.print(f"note: {n}", markup=False, highlight=False)
    total = sum(res.timings.values())
    con.print(f"\nreport: {res.reports['html']}  (also {res.reports['md']}, {res.reports['json']})")
    con.print(f"check result: {res.out_dir}/check.json, {res.out_dir}/check.xml; "
              f"took {total:.0f} s", highlight=False)


COMMANDS = [demo_command]
