"""`auditor demo`: thin wrapper over `auditor.demo.run_demo`."""

from __future__ import annotations

import json

import click

from auditor.estimate.choice import N_BOOT


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


@click.command("demo")
@click.option("--out", "out_dir", default="demo-output", show_default=True,
              type=click.Path(file_okay=False), help="Work folder; its demo store is rebuilt on each run.")
@click.option("--n-boot", default=N_BOOT, show_default=True, help="Bootstrap replicates.")
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
    from rich.text import Text

    from auditor.cli.tables import is_terminal, print_line, print_table

    colour = is_terminal()
    rows = []
    for r in res.comparison:
        ok = {True: "yes", False: "no", None: "n/a"}[r["in_interval"]]
        if colour:
            ok = Text(ok, style={"yes": "green", "no": "red"}.get(ok, ""))
        rows.append([r["source"], _pct(r["estimate"]),
                     f"[{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]", _pct(r["truth"]), ok,
                     f"{r['method']} / {r['detector']}", _pct(r["floor"])])
    print_table(["source", "estimate", "95% interval", "truth", "truth in interval", "method",
                 "floor"], rows, "Estimated vs true synthetic fraction (demo corpus)")
    print_line("truth = the true machine fraction of all of a source's documents (its pre-cutoff "
               "documents, its human reference, are human: the estimate counts them so); "
               "method = quantification method / detector whose scores it corrects; floor = the "
               "same method's estimate on held-out pre-cutoff documents of the source, known to "
               "be human (it should read 0: the error to expect).")
    for line in res.check.get("summary") or [f"check could not run: {res.check.get('error')}"]:
        print_line(line)
    if any(g["name"].startswith("synthetic_by_construction") and not g["passed"]
           for g in res.check.get("gates", [])):
        print_line("(the check fails on purpose: cosmopedia-demo is synthetic by construction)")
    for n in res.notes:
        print_line(f"note: {n}")
    total = sum(res.timings.values())
    print_line(f"\nreport: {res.reports['html']}  (also {res.reports['md']}, "
               f"{res.reports['json']})")
    print_line(f"check result: {res.out_dir}/check.json, {res.out_dir}/check.xml; "
               f"took {total:.0f} s")


COMMANDS = [demo_command]
