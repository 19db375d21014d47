"""`auditor benchmarks add|list` and `auditor contamination`: which evaluation items leaked.

Thin on purpose: `auditor.contamination.benchmarks.add_benchmark` and
`auditor.contamination.results.summarize` do the work and the tests call them too.
"""

from __future__ import annotations

import json

import click


@click.group("benchmarks")
def benchmarks_group() -> None:
    """Benchmarks whose items the scan looks for in every document (contamination).

    \b
    Examples:
      auditor benchmarks add builtin --db audit.duckdb          # the 8 shipped test sets
      auditor benchmarks add test.jsonl --name mybench --release-date 2024-05 --db audit.duckdb
      auditor benchmarks add items.csv --name qa --question-column q --answer-column a
      auditor benchmarks add hf:openai/gsm8k:main@test --name gsm8k-hf --text-column question
      auditor benchmarks list --db audit.duckdb
    Then `auditor scan INPUT --db audit.duckdb` checks every document against them (the
    `contamination` detector joins the default cheap tier once a store has benchmarks), and
    `auditor contamination --db audit.duckdb` says what leaked.
    """


@benchmarks_group.command("add")
@click.argument("source", metavar="FILE|DIR|hf:NAME|builtin[:NAME]")
@click.option("--db", default="audit.duckdb", show_default=True, help="Store to add it to.")
@click.option("--name", default=None, help="Benchmark name (required except for built-ins).")
@click.option("--text-column", default="text", show_default=True,
              help="Column with the whole item (question and answer); when absent, question "
                   "and answer are joined.")
@click.option("--question-column", default="question", show_default=True,
              help="Column with the question part alone (for question-only leaks).")
@click.option("--answer-column", default="answer", show_default=True,
              help="Column with the answer part.")
@click.option("--id-column", default="item_id", show_default=True,
              help="Column with the item id (default when absent: the row number).")
@click.option("--split-column", default="split", show_default=True,
              help="Column with the split (default when absent: test).")
@click.option("--release-date", default=None, metavar="YYYY-MM[-DD]",
              help="When the benchmark was published (built-ins carry theirs).")
@click.option("--ngram", "n", default=None, type=click.IntRange(5, 50),
              help="Words per n-gram for the store's index (default 13, or the store's).")
@click.option("--short-questions/--no-short-questions", default=None,
              help="Also look for questions shorter than the n-gram on their own, those "
                   "held by one item only, not stems shared by several (default on, or the "
                   "store's setting).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def add_command(source, db, name, text_column, question_column, answer_column, id_column,
                split_column, release_date, n, short_questions, as_json) -> None:
    """Add (or replace) a benchmark and rebuild the store's index."""
    from auditor.contamination.benchmarks import add_benchmark
    from auditor.contamination.items import BenchmarkInputError, Columns
    from auditor.store.catalogue import StoreLockedError

    columns = Columns(text=text_column, question=question_column, answer=answer_column,
                      item_id=id_column, split=split_column)
    try:
        results = add_benchmark(db, source, name=name, columns=columns,
                                release_date=release_date, n=n,
                                short_questions=short_questions)
    except (BenchmarkInputError, ValueError, StoreLockedError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], indent=2))
        return
    for r in results:
        click.echo(f"{r.name}: {r.n_items} items from {r.source}"
                   + (f", released {r.release_date}" if r.release_date else "")
                   + (f"; {len(r.skipped)} rows skipped (first: {r.skipped[0]})"
                      if r.skipped else ""))
    last = results[-1]
    click.echo(f"index: {last.index_items} items, {last.index_memory_bytes / 2**20:.1f} MiB")


@benchmarks_group.command("list")
@click.option("--db", default="audit.duckdb", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def list_command(db, as_json) -> None:
    """The store's benchmarks."""
    from auditor.contamination.benchmarks import list_benchmarks

    try:
        rows = list_benchmarks(db)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no benchmarks; add some with `auditor benchmarks add builtin`")
    for r in rows:
        click.echo(f"{r['name']:<14} {r['n_items']:>7} items  released "
                   f"{r['release_date'] or '?':<10}  {r['source']}")


@click.command("contamination")
@click.option("--db", default="audit.duckdb", show_default=True)
@click.option("--by", "by", multiple=True,
              type=click.Choice(["benchmark", "source", "crawl_month"]),
              help="Groupings to show (repeatable; default: all three).")
@click.option("--items", "n_items", default=20, show_default=True, type=click.IntRange(0),
              help="Leaked items listed per benchmark in the table view.")
@click.option("--min-share", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Count only matches holding at least this share of an item's n-grams "
                   "(question share for question-only matches).")
@click.option("--json", "as_json", is_flag=True, help="Everything as JSON (all items).")
def contamination_command(db, by, n_items, min_share, as_json) -> None:
    """Which benchmark items leaked into the scanned corpus, where, and since when.

    Per benchmark: items found (exact, partial, question only) and the share of the
    benchmark leaked; per source: contaminated documents; per crawl month: items first seen
    then, before or after the benchmark's release.

    \b
    Examples:
      auditor contamination --db audit.duckdb
      auditor contamination --db audit.duckdb --by benchmark --by source --json
      auditor contamination --db audit.duckdb --min-share 0.8     # near-complete copies only
    """
    from auditor.contamination.results import GROUPINGS, NoContaminationData, summarize

    by = tuple(by) or GROUPINGS
    try:
        summary = summarize(db, min_share=min_share)
    except (NoContaminationData, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(summary.to_dict(by), indent=2, default=str))
        return
    _print(summary, by, n_items)


def _print(summary, by, n_items: int) -> None:
    """Tables through `print_table`: rich at a terminal, whole TSV when piped; values from the
    data (sources, item ids, document ids) printed as text, never as rich markup."""
    from auditor.cli.tables import print_line, print_table

    print_line(f"{summary.n_docs_contaminated} of {summary.n_docs_scanned} scanned documents "
               "hold benchmark items")
    if "benchmark" in by:
        print_table(["benchmark", "items", "leaked", "share", "exact", "partial",
                     "question only", "released", "first seen before / after"],
                    [[b["benchmark"], str(b["n_items"] or "?"), str(b["n_leaked"]),
                      f"{100 * b['share_leaked']:.2f}%" if b["share_leaked"] is not None
                      else "?", str(b["n_exact"]), str(b["n_partial"]),
                      str(b["n_question_only"]), b["release_date"] or "?",
                      f"{b['n_first_seen_before_release']} / {b['n_first_seen_after_release']}"]
                     for b in summary.benchmarks],
                    title="Leaked items per benchmark")
        if n_items:
            rows, shown = [], {}
            for i in summary.items:
                if shown.get(i.benchmark, 0) >= n_items:
                    continue
                shown[i.benchmark] = shown.get(i.benchmark, 0) + 1
                rows.append([i.benchmark, f"{i.split}/{i.item_id}", i.form, f"{i.max_share:.2f}",
                             str(i.n_docs), i.first_seen or "?",
                             f"{i.example_doc} [{i.example_span[0]}:{i.example_span[1]}]"])
            print_table(["benchmark", "item", "form", "share", "docs", "first seen", "example"],
                        rows, title=f"Leaked items (first {n_items} per benchmark)")
    if "source" in by:
        print_table(["source", "docs", "contaminated", "share", "items", "benchmarks"],
                    [[str(r["source"]), str(r["n_docs_scanned"]), str(r["n_docs_contaminated"]),
                      f"{100 * r['share_contaminated']:.2f}%", str(r["n_items"]),
                      ", ".join(r["benchmarks"])] for r in summary.by_source],
                    title="Contaminated documents per source")
    if "crawl_month" in by:
        print_table(["crawl month", "items first seen", "before release", "after release",
                     "benchmarks"],
                    [[r["crawl_month"], str(r["n_items_first_seen"]), str(r["n_before_release"]),
                      str(r["n_after_release"]), ", ".join(r["benchmarks"])]
                     for r in summary.by_crawl_month],
                    title="Items by month first seen")


COMMANDS = [benchmarks_group, contamination_command]
