"""`auditor detectors list|train|eval|adapt`: what detectors exist, train one, measure them,
adapt one to a store.

Thin: each command parses options and calls `detectors.training.train_detector`,
`detectors.evaluation.evaluate` or the registry, which the tests call too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import click

THROUGHPUT_FILE = Path(__file__).resolve().parents[2] / "detectors" / "models" / "throughput.json"


def _throughput() -> dict:
    """Measured docs/s per detector, written by scripts/eval_detectors.py (empty when absent)."""
    try:
        return json.loads(THROUGHPUT_FILE.read_text(encoding="utf-8")).get("detectors", {})
    except (OSError, json.JSONDecodeError):
        return {}


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=1, default=lambda o: str(o)))


def _need_store(db: str) -> None:
    """`adapt` and `generate` re-read the store's own documents: none there is the user's error."""
    if not os.path.exists(db):
        raise click.ClickException(f"no store at {db}: run `auditor scan INPUT --db {db}`")


def _progress(as_json: bool) -> Callable[[str], None]:
    """Progress lines on stderr for a person; nothing under --json, whose stdout a script reads."""
    def say(msg: str) -> None:
        if not as_json:
            click.echo(f"  {msg}", err=True)
    return say


@click.group("detectors")
def detectors_group() -> None:
    """List, train and evaluate the AI-text detectors.

    \b
    Examples:
      auditor detectors list
      auditor detectors train labeled.parquet --detector classifier -o models/clf
      auditor detectors eval labeled.parquet --detectors markers,classifier --json
    """


@detectors_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(as_json: bool) -> None:
    """Registered detectors: name, cost tier, languages, what each needs, measured docs/s.

    Documents in a language a detector does not list are left unscored by it (and counted in
    the scan summary as unscored_language_<detector>).

    docs/s is per core (CPU time) on 2 KB documents, one process, by scripts/eval_detectors.py
    (see reports/detectors.md); "-" where not measured yet.

    \b
    Example:
      auditor detectors list --json
    """
    import detectors

    speeds = _throughput()
    rows = [{"name": s.name, "tier": s.tier, "needs": s.needs, "summary": s.summary,
             "languages": list(s.languages) if s.languages is not None else None,
             "docs_per_s": speeds.get(s.name, {}).get("docs_per_s")} for s in detectors.specs()]
    if as_json:
        _echo_json(rows)
        return
    from auditor.cli.tables import print_table

    print_table(["name", "tier", "languages", "docs/s", "needs", "what"],
                [[r["name"], r["tier"], ",".join(r["languages"] or ["any"]),
                  f"{r['docs_per_s']:,.0f}" if r["docs_per_s"] else "-", r["needs"],
                  r["summary"]] for r in rows])


@detectors_group.command("train")
@click.argument("labeled", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--detector", "name", type=click.Choice(["classifier", "embedding"]),
              default="classifier", show_default=True, help="Which trainable detector.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder to write the model, calibration.json and training.json into.")
@click.option("--fpr", default=0.01, show_default=True, type=click.FloatRange(0, 0.5),
              help="False-positive rate the threshold is chosen for (on the calib split).")
@click.option("--calibration", type=click.Choice(["isotonic", "platt"]), default="isotonic",
              show_default=True, help="Score -> probability map fitted on the calib split.")
@click.option("--max-train", type=click.IntRange(2), default=None,
              help="Train on a seeded sample of at most this many rows (quick runs).")
@click.option("--seed", default=0, show_default=True, help="Seed for sampling and training.")
@click.option("--json", "as_json", is_flag=True, help="Print the training summary as JSON.")
def train_cmd(labeled: Path, name: str, out_dir: Path, fpr: float, calibration: str,
              max_train: int | None, seed: int, as_json: bool) -> None:
    """Train a detector on LABELED (Parquet with `text` and `label` = human|ai).

    Rows are split by detectors.splits: fit on `train`, calibrate and set the threshold on
    `calib`, report on `test` and the held-out generators/repositories. Optional columns
    id, generator, domain, variant, language, source_repo, pair_key sharpen the split.
    Writes plain arrays + JSON (never pickle).

    \b
    Examples:
      auditor detectors train ../shared/data/labeled/dev.parquet -o models/clf
      auditor detectors train mine.parquet --detector embedding -o models/emb --json
    """
    from detectors.training import train_detector

    def progress(msg: str) -> None:
        if not as_json:
            click.echo(f"  {msg}", err=True)

    try:
        info = train_detector(name, labeled, out_dir, fpr=fpr, calibration=calibration,
                              max_train=max_train, seed=seed, progress=progress)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        _echo_json(info)
        return
    click.echo(f"trained {name} -> {out_dir}")
    click.echo(f"threshold {info['calibration']['threshold']:.4f} for "
               f"{info['calibration']['threshold_fpr']:.1%} FPR on calib")
    for split, m in info["held_out"].items():
        auroc = "n/a" if m["auroc"] is None else f"{m['auroc']:.3f}"
        tpr = "n/a" if m["tpr_at_1fpr"] is None else f"{m['tpr_at_1fpr']:.3f}"
        click.echo(f"  {split:15s} human {m['n_human']:6d} ai {m['n_ai']:6d} "
                   f"AUROC {auroc}  TPR@1%FPR {tpr}")


@detectors_group.command("eval")
@click.argument("labeled", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--detectors", "names", default=None,
              help="Comma-separated detector names (default: all registered).")
@click.option("--sample", default=300, show_default=True, type=click.IntRange(1),
              help="Stratified sample size for lm-tier detectors.")
@click.option("--max-rows", default=None, type=click.IntRange(1),
              help="Seeded sample of held-out rows for the cheap and model tiers.")
@click.option("--fpr", default=0.01, show_default=True, type=click.FloatRange(0.0001, 0.5),
              help="FPR at which TPR is reported.")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print all metrics as JSON.")
def eval_cmd(labeled: Path, names: str | None, sample: int, max_rows: int | None, fpr: float,
             seed: int, as_json: bool) -> None:
    """Evaluate detectors on the held-out splits of LABELED.

    Reports AUROC, TPR at --fpr, FPR at each detector's shipped threshold, overall and per
    split (random test, held-out generators, held-out repositories), domain, generator,
    language and length bucket, and docs/s. Detectors that cannot load are listed with why.

    \b
    Examples:
      auditor detectors eval ../shared/data/labeled/dev.parquet --detectors markers,classifier
      auditor detectors eval labeled.parquet --sample 200 --json > eval.json
    """
    import detectors
    from detectors.evaluation import evaluate

    try:
        selected = detectors.parse_names(names) if names else None
    except KeyError as e:
        raise click.ClickException(str(e.args[0])) from e

    def progress(msg: str) -> None:
        if not as_json:
            click.echo(f"  {msg}", err=True)

    try:
        result = evaluate(str(labeled), selected, sample=sample, fpr=fpr, seed=seed,
                          max_rows=max_rows, progress=progress)
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        _echo_json(result)
        return
    key = f"tpr_at_{fpr * 100:g}fpr"
    for name, r in result["detectors"].items():
        if "skipped" in r:
            click.echo(f"{name}: skipped ({r['skipped']})")
            continue
        click.echo(f"{name} ({r['tier']}, {r['n']} texts, {r['docs_per_cpu_s']:,.0f} docs per "
                   "CPU-second)")
        for split, m in {"overall": r["overall"], **r["split"]}.items():
            auroc = "n/a" if m["auroc"] is None else f"{m['auroc']:.3f}"
            tpr = "n/a" if m[key] is None else f"{m[key]:.3f}"
            fpr_t = "n/a" if m["fpr_at_threshold"] is None else f"{m['fpr_at_threshold']:.3f}"
            click.echo(f"  {split:15s} AUROC {auroc}  TPR@{fpr:.0%}FPR {tpr}  "
                       f"FPR@threshold {fpr_t}")


COMMANDS = [detectors_group]


@detectors_group.command("adapt")
@click.option("--db", default="audit.duckdb", show_default=True,
              type=click.Path(dir_okay=False), help="Store whose documents to adapt to.")
@click.option("--limit", default=2000, show_default=True, type=click.IntRange(1),
              help="Most pre-cutoff documents to re-read from the shards (seeded sample).")
@click.option("--machine", "machine_file", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Machine texts: JSONL with a 'text' field, or plain text, one text per "
                   "blank-line-separated block.")
@click.option("--generate", default=0, show_default=True, type=click.IntRange(0),
              help="Machine texts to write with the offline LM from the store's own "
                   "pre-cutoff documents (rewrite and continue prompts; slow on CPU).")
@click.option("--max-new-tokens", default=96, show_default=True, type=click.IntRange(8, 1024),
              help="Tokens the LM writes per generated text.")
@click.option("--seed", default=0, show_default=True, help="Seed for sampling and generation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def adapt_cmd(db: str, limit: int, machine_file: Path | None, generate: int,
              max_new_tokens: int, seed: int, as_json: bool) -> None:
    """Fit a detector on this store's own documents: `adapted`.

    Human side: the store's pre-cutoff documents (re-read from the shards). Machine side: the
    texts of --machine and/or --generate texts written by the offline SmolLM2 model from those
    documents. 30% of each side is held out: it sets the threshold, measures the model (in
    distribution for this store) and is saved as its estimation reference. The model is saved
    in DB.models/adapted/; `scan --detectors adapted` and `estimate --detector adapted` use it.

    \b
    Examples:
      auditor detectors adapt --db audit.duckdb --machine machine.jsonl
      auditor detectors adapt --db audit.duckdb --generate 200 --limit 1000
      auditor scan data/ --db audit.duckdb --detectors classifier,adapted
      auditor estimate --db audit.duckdb --detector adapted
    """
    from auditor.store.sample import sample_texts
    from detectors.adapted import adapted_dir, fit_adapted, read_machine_texts

    _need_store(db)
    if machine_file is None and generate == 0:
        raise click.ClickException("no machine text: pass --machine FILE and/or --generate N")
    say = _progress(as_json)
    human = sample_texts(db, limit, pre_cutoff_only=True, seed=seed)
    say(f"{len(human)} pre-cutoff documents re-read from the shards")
    machine: list[str] = []
    origin: list[str] = []
    try:
        if machine_file is not None:
            given = read_machine_texts(machine_file)
            machine += given
            origin += ["given"] * len(given)
            say(f"{len(given)} machine texts from {machine_file}")
        if generate:
            from detectors.lm_generate import generate_from_documents

            made = generate_from_documents(
                human, generate, max_new_tokens=max_new_tokens, seed=seed,
                progress=lambda done, total: say(f"generated {done}/{total} machine texts"))
            machine += [t for t, _ in made]
            origin += [o for _, o in made]
        result = fit_adapted(human, machine, adapted_dir(db), machine_origin=origin, seed=seed,
                             store_note=os.path.realpath(db))
    except (ValueError, OSError, ImportError) as e:
        raise click.ClickException(str(e)) from e
    info = {"folder": str(result.folder), "version": result.version,
            "train": {"human": result.n_train_human, "machine": result.n_train_machine},
            "held_out": {"human": result.n_held_human, "machine": result.n_held_machine},
            "held_out_metrics": result.held_out, "shipped_classifier_held_out":
                result.shipped_held_out}
    if as_json:
        _echo_json(info)
        return
    m, s = result.held_out, result.shipped_held_out or {}
    click.echo(f"adapted model {result.version} -> {result.folder}")
    click.echo(f"  trained on {result.n_train_human} human + {result.n_train_machine} machine "
               f"texts; held out {result.n_held_human} + {result.n_held_machine}")

    def fmt(v):
        return "n/a" if v is None else f"{v:.3f}"

    click.echo(f"  held out (in distribution for this store): AUROC {fmt(m['auroc'])}, "
               f"TPR@1%FPR {fmt(m['tpr_at_1fpr'])}; shipped classifier on the same texts: "
               f"AUROC {fmt(s.get('auroc'))}")
    click.echo(f"  next: auditor scan INPUT --db {db} --detectors adapted; "
               f"auditor estimate --db {db} --detector adapted")


@detectors_group.command("generate")
@click.option("--db", default="audit.duckdb", show_default=True,
              type=click.Path(dir_okay=False), help="Store whose sources to write machine text for.")
@click.option("--per-source", default=40, show_default=True, type=click.IntRange(1),
              help="Machine texts per source (each from one of its pre-cutoff documents).")
@click.option("--source", "sources", multiple=True,
              help="Only these sources (repeatable; default: every source with pre-cutoff "
                   "documents).")
@click.option("--machine", "machine_file", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Keep these machine texts for the one --source instead of generating "
                   "(JSONL with a 'text' field, or blank-line-separated plain text).")
@click.option("--max-new-tokens", default=120, show_default=True, type=click.IntRange(8, 1024),
              help="Tokens the LM writes per generated text.")
@click.option("--seed", default=0, show_default=True, help="Seed for sampling and generation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def generate_cmd(db: str, per_source: int, sources: tuple[str, ...], machine_file: Path | None,
                 max_new_tokens: int, seed: int, as_json: bool) -> None:
    """Write machine text from each source's own pre-cutoff documents, for its machine reference.

    The offline SmolLM2 model continues or rewrites (alternating) --per-source of the
    source's pre-cutoff documents (re-read from the shards). The texts are kept in
    DB.models/generated/machine_texts.parquet; `auditor estimate --generated-reference` then
    scores them with its detector and mixes them into that source's machine reference (its
    notes say "machine reference: generated from this source's pre-cutoff documents (N)").
    Off by default: on the leave-one-repository-out validation it did not lower the error
    (reports/estimation.md, section 1b). Slow on CPU (measured: 24 texts of 80 tokens took
    5-7 minutes on a busy shared core, far longer for Chinese); running it again for a source
    replaces that source's texts.

    \b
    Examples:
      auditor detectors generate --db audit.duckdb --per-source 40
      auditor detectors generate --db audit.duckdb --source news --machine news_ai.jsonl
      auditor estimate --db audit.duckdb --by source --generated-reference
    """
    from auditor.store.catalogue import open_store
    from auditor.store.sample import sample_texts
    from detectors.adapted import read_machine_texts
    from detectors.store_machine_texts import save_machine_texts

    _need_store(db)
    if machine_file is not None and len(sources) != 1:
        raise click.ClickException("--machine keeps texts for one source: name it with --source")
    say = _progress(as_json)
    with open_store(db, read_only=True) as store:
        counts = dict(store.con.execute(
            "SELECT source, COUNT(*) FROM documents WHERE pre_cutoff AND role = 'corpus' "
            "AND NOT synthetic_by_construction GROUP BY source").fetchall())
        known = {r[0] for r in store.con.execute("SELECT DISTINCT source FROM documents")
                 .fetchall()}
    unknown = [s for s in sources if s not in known]
    if unknown:
        raise click.ClickException(f"no source {', '.join(map(repr, unknown))} in {db}; sources: "
                                   f"{', '.join(sorted(map(str, known)))}")
    result: dict[str, dict] = {}
    try:
        if machine_file is not None:
            texts = read_machine_texts(machine_file)
            path = save_machine_texts(db, sources[0], texts, ["given"] * len(texts))
            result[sources[0]] = {"texts": len(texts), "origin": "given"}
        else:
            from detectors.lm_generate import generate_from_documents

            wanted = list(sources) or sorted(counts)
            path = None
            for s in wanted:
                if not counts.get(s):
                    result[s] = {"texts": 0, "skipped": "no pre-cutoff documents"}
                    say(f"{s}: no pre-cutoff documents, skipped")
                    continue
                docs = sample_texts(db, per_source, pre_cutoff_only=True, seed=seed, source=s)
                made = generate_from_documents(
                    docs, per_source, max_new_tokens=max_new_tokens, seed=seed,
                    progress=lambda done, total, s=s: say(f"{s}: generated {done}/{total}"))
                path = save_machine_texts(db, s, [t for t, _ in made], [o for _, o in made])
                result[s] = {"texts": len(made), "from_documents": len(docs),
                             "origin": "generated"}
    except (ValueError, OSError, ImportError) as e:
        raise click.ClickException(str(e)) from e
    info = {"file": str(path) if path else None, "sources": result}
    if as_json:
        _echo_json(info)
        return
    for s, r in result.items():
        click.echo(f"{s}: {r['texts']} machine texts"
                   + (f" ({r['skipped']})" if "skipped" in r else f" ({r['origin']})"))
    if path:
        click.echo(f"kept in {path}; `auditor estimate --db {db} --generated-reference` uses "
                   "them")
