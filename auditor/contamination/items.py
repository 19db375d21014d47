"""Benchmark items from Parquet, JSONL, CSV or a Hugging Face dataset, as one Arrow table.

Every benchmark becomes rows of `ITEM_SCHEMA`: the item's full `text` (what a leak would copy:
question and answer), its `question` part alone and its `answer`, under the benchmark's name
and its own item id. Bad rows (no text) are skipped with a reason naming the file and row, so
one broken line never loses a benchmark.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import pyarrow as pa

ITEM_SCHEMA = pa.schema([
    ("benchmark", pa.string()), ("split", pa.string()), ("item_id", pa.string()),
    ("text", pa.string()), ("question", pa.string()), ("answer", pa.string()),
])
#: Largest benchmark file read (benchmarks are small; a bigger file is a mistake).
MAX_FILE_BYTES = 2 << 30
_EXTENSIONS = (".parquet", ".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".json.gz", ".csv",
               ".csv.gz", ".tsv")


class BenchmarkInputError(ValueError):
    """A benchmark input that cannot be read at all (the message names the file)."""


@dataclass(frozen=True)
class Columns:
    """Which input columns hold what. `text` None means question + newline + answer."""

    text: str | None = "text"
    question: str | None = "question"
    answer: str | None = "answer"
    item_id: str | None = "item_id"
    split: str | None = "split"


@dataclass
class LoadedItems:
    table: pa.Table
    skipped: list[str] = field(default_factory=list)  # "file row N: reason"


def input_files(path: str) -> list[str]:
    """The benchmark files of FILE or DIR (sorted, so ids and indexes are reproducible)."""
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path)
                       if f.endswith(_EXTENSIONS) and not f.startswith("."))
        if not files:
            raise BenchmarkInputError(f"{path}: no Parquet, JSONL or CSV files in this folder")
        return files
    if not os.path.exists(path):
        raise BenchmarkInputError(f"{path}: file not found")
    return [path]


def read_rows(path: str) -> pa.Table:
    """One file as an Arrow table (all columns), by extension."""
    if os.path.getsize(path) > MAX_FILE_BYTES:
        raise BenchmarkInputError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB; a benchmark "
                                  "file is expected to be small")
    name = path.lower()
    try:
        if name.endswith(".parquet"):
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if name.endswith((".csv", ".csv.gz", ".tsv")):
            import pyarrow.csv as pcsv

            parse = pcsv.ParseOptions(delimiter="\t" if name.endswith(".tsv") else ",",
                                      newlines_in_values=True)
            convert = pcsv.ConvertOptions(strings_can_be_null=False)
            return pcsv.read_csv(path, parse_options=parse, convert_options=convert)
        rows = _json_rows(path)
        # columns from every row: `from_pylist` takes them from the first row alone, so a
        # broken first line (a `__bad__` marker) hid every good row's columns and a broken
        # later line lost its reason
        names = list(dict.fromkeys(k for r in rows for k in r))
        return pa.Table.from_pylist([{k: r.get(k) for k in names} for r in rows])
    except BenchmarkInputError:
        raise
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise BenchmarkInputError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc


def _json_rows(path: str) -> list[dict]:
    """JSONL (or one JSON array), gzip/zstd aware; a bad line is kept as a marker row."""
    from auditor.readers.files import decompressed, open_binary

    raw = open_binary(path)
    with raw:
        stream, _ = decompressed(raw)
        data = stream.read(MAX_FILE_BYTES + 1)
    text = data.decode("utf-8-sig", "replace")  # a byte-order mark is not part of line 1
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except RecursionError:  # hostile nesting: a user error, not a traceback
            raise BenchmarkInputError(f"{path}: nests JSON too deeply to parse") from None
        return [r if isinstance(r, dict) else {"__bad__": "not an object"} for r in rows]
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            row = {"__bad__": f"invalid JSON ({exc.msg})"}
        except RecursionError:  # a line nested thousands deep: that row, not the command
            row = {"__bad__": "JSON nested too deeply to parse"}
        rows.append(row if isinstance(row, dict) else {"__bad__": "not an object"})
    return rows


def _str(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "\n".join(str(v) for v in value)
    return str(value)


def _column(table: pa.Table, name: str | None, role: str, where: str,
            required: bool) -> list | None:
    if name is None:
        return None
    if name not in table.column_names:
        if required:
            raise BenchmarkInputError(
                f"{where}: no column {name!r} for the {role} (columns: "
                f"{', '.join(table.column_names)}); name it with --{role.replace('_', '-')}-column")
        return None
    return table.column(name).to_pylist()


def items_from_table(table: pa.Table, benchmark: str, columns: Columns, where: str,
                     default_split: str = "test", skipped: list[str] | None = None,
                     id_prefix: str = "") -> pa.Table:
    """Rows of `table` as `ITEM_SCHEMA` rows for `benchmark` (see the module docstring)."""
    skipped = skipped if skipped is not None else []
    need_text = columns.text is not None and columns.text in table.column_names
    texts = _column(table, columns.text, "text", where, required=columns.question is None)
    questions = _column(table, columns.question, "question", where,
                        required=not need_text and columns.question is not None)
    answers = _column(table, columns.answer, "answer", where, required=False)
    ids = _column(table, columns.item_id, "id", where, required=False)
    splits = _column(table, columns.split, "split", where, required=False)
    bad = table.column("__bad__").to_pylist() if "__bad__" in table.column_names else None
    out: dict[str, list] = {f.name: [] for f in ITEM_SCHEMA}
    for i in range(table.num_rows):
        if bad is not None and bad[i]:
            skipped.append(f"{where} row {i}: {bad[i]}")
            continue
        question = _str(questions[i]) if questions else None
        answer = _str(answers[i]) if answers else None
        text = _str(texts[i]) if texts else None
        if not text:
            text = "\n".join(p for p in (question, answer) if p)
        if not text or not text.strip():
            skipped.append(f"{where} row {i}: no text (empty text/question/answer)")
            continue
        out["benchmark"].append(benchmark)
        out["split"].append(_str(splits[i]) if splits and splits[i] else default_split)
        out["item_id"].append(_str(ids[i]) if ids and ids[i] is not None else f"{id_prefix}{i}")
        out["text"].append(text)
        out["question"].append(question or None)
        out["answer"].append(answer or None)
    return pa.table(out, schema=ITEM_SCHEMA)


def load_items(source: str, benchmark: str, columns: Columns = Columns()) -> LoadedItems:
    """Items of FILE, DIR (every benchmark file in it) or `hf:NAME[:CONFIG][@SPLIT]`."""
    columns = columns or Columns()
    skipped: list[str] = []
    if source.startswith("hf:"):
        table = _hf_rows(source)
        return LoadedItems(items_from_table(table, benchmark, columns, source, skipped=skipped),
                           skipped)
    files = input_files(source)
    tables = []
    for path in files:
        prefix = f"{os.path.basename(path).split('.')[0]}/" if len(files) > 1 else ""
        tables.append(items_from_table(read_rows(path), benchmark, columns, path,
                                       skipped=skipped, id_prefix=prefix))
    table = pa.concat_tables(tables) if tables else ITEM_SCHEMA.empty_table()
    return LoadedItems(_unique_ids(table, source), skipped)


def _unique_ids(table: pa.Table, where: str) -> pa.Table:
    keys = list(zip(table.column("split").to_pylist(), table.column("item_id").to_pylist(),
                    strict=True))
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise BenchmarkInputError(f"{where}: item id {dup[1]!r} (split {dup[0]!r}) occurs more "
                                  "than once; name a unique column with --id-column")
    return table


def _hf_rows(source: str) -> pa.Table:
    """A Hugging Face dataset through `datasets` (never running remote code)."""
    from auditor.readers.hf import parse_hf_uri

    spec = parse_hf_uri(source)
    try:
        import datasets
    except ImportError as exc:
        raise BenchmarkInputError(f"{source}: needs the `datasets` package "
                                  "(pip install datasets)") from exc
    kwargs = {"split": spec.split or "test"}
    if spec.data_files:
        kwargs["data_files"] = spec.data_files
    elif spec.config:
        kwargs["name"] = spec.config
    try:
        ds = datasets.load_dataset(spec.name, **kwargs)
    except Exception as exc:  # network, missing split, unknown dataset: one clear message
        raise BenchmarkInputError(f"{source}: cannot load ({type(exc).__name__}: {exc})") from exc
    return ds.data.table if hasattr(ds, "data") else pa.Table.from_pylist(list(ds))


def builtin_items(name: str | None = None) -> pa.Table:
    """The shipped items (all, or one benchmark's). Here, beside the schema, so the contamination
    detector can read them without the store-facing `benchmarks` module."""
    from importlib import resources

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = resources.files("auditor.contamination.builtin").joinpath("benchmarks.parquet")
    with resources.as_file(path) as p:
        table = pq.read_table(p)
    if name is not None:
        table = table.filter(pc.equal(table.column("benchmark"), name))
    return table.select([f.name for f in ITEM_SCHEMA]).cast(ITEM_SCHEMA)
