"""One language code per language, whatever the format wrote: `eng`, `EN`, `en-US` and `en_GB`
from a JSONL field, a Parquet column (`--language-column`) or a WET header are all stored as
`en`, so `estimate --by language` gives one row per language; the tags that lose a region or
further languages are kept as written in `meta.language_raw`."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner
from corpus_files import write_wet

from auditor.cli import main
from auditor.provenance.language_codes import primary_language, tag_loses_detail

ENGLISH = "The river runs through the old city and the people of the town walk along it daily. "
SPANISH = "El río pasa por la vieja ciudad y la gente del pueblo camina a su lado cada día. "
#: (tag as written, the language it names): the ways corpora write English and Spanish
TAGS = (("eng", "en"), ("EN", "en"), ("en-US", "en"), ("en_GB", "en"), ("spa", "es"),
        ("ES", "es"), ("es-419", "es"), ("SPA", "es"))


def _rows(prefix: str, n: int) -> list[dict]:
    return [{"id": f"{prefix}{i}", "text": (ENGLISH if lang == "en" else SPANISH) * 2 + str(i),
             "lang": tag} for i in range(n) for tag, lang in [TAGS[i % len(TAGS)]]]


def _scan(paths, db, *extra) -> None:
    res = CliRunner().invoke(main, ["scan", *map(str, paths), "--db", str(db), "--detectors",
                                    "markers", *extra], catch_exceptions=False)
    assert res.exit_code == 0, res.output


def test_tags_map_to_one_code_and_stored_codes_map_to_themselves():
    for tag, code in (*TAGS, ("pt_BR", "pt"), ("zh-Hant-TW", "zh"), ("ger", "de"),
                      ("fre", "fr"), (" Deu ", "de"), ("eng,spa", "en"), ("en; fr", "en"),
                      ("xyz", "xyz"), ("English", "en"), ("Spanish, English", "es")):
        assert primary_language(tag) == code, tag
        assert primary_language(code) == code  # idempotent: the builder may see stored codes
    # values that name no language: none, so the text is identified (the value kept in meta)
    for nothing in ("", "  ", "und", "Unknown", "5", "true", "['en', 'fr']", "x" * 500):
        assert primary_language(nothing) is None, nothing
        assert tag_loses_detail(nothing) == bool(nothing.strip()), nothing
    assert [t for t, _ in TAGS if tag_loses_detail(t)] == ["en-US", "en_GB", "es-419"]
    assert tag_loses_detail("eng,spa") and not tag_loses_detail(None)
    assert not tag_loses_detail("English") and tag_loses_detail("English, French")


def test_a_detector_takes_stored_codes_as_they_are_and_maps_other_tags():
    import detectors

    english_only = detectors.Detector()
    english_only.languages = ("en",)
    assert [t for t in ("en", "EN", "eng", "en-US", "es", "spa", "es-419", None)
            if english_only.valid_for(t)] == ["en", "EN", "eng", "en-US", None]


def test_jsonl_parquet_and_wet_languages_give_one_estimate_row_per_language(tmp_path):
    rows = _rows("j", 64)
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = pa.table({"id": [f"p{i}" for i in range(len(rows))],
                      "body": [r["text"] for r in rows],
                      "code": [r["lang"] for r in rows]})
    pq.write_table(table, tmp_path / "b.parquet")
    write_wet(tmp_path / "c.warc.wet.gz", [
        (f"https://example.com/{i}", ENGLISH * 2, "2024-01-02T00:00:00Z", tag)
        for i, tag in enumerate(("eng", "eng,spa", "ENG"))])
    db = tmp_path / "s.duckdb"
    # JSONL and WET: the language found by its default field names (`lang`, the WET header)
    _scan([tmp_path / "a.jsonl", tmp_path / "c.warc.wet.gz"], db)
    # Parquet: named by --language-column, in another text column
    _scan([tmp_path / "b.parquet"], db, "--language-column", "code", "--text-column", "body")

    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = dict(con.execute(
            "SELECT language, count(*) FROM documents GROUP BY 1").fetchall())
        raw = con.execute("SELECT json_extract_string(meta, '$.language_raw') AS r, count(*) "
                          "FROM documents WHERE r IS NOT NULL GROUP BY 1 ORDER BY 1").fetchall()
    finally:
        con.close()
    assert stored == {"en": 64 + 3, "es": 64}
    # the region or list a stored code drops is kept as written; case and 639-3 lose nothing
    assert raw == [("en-US", 16), ("en_GB", 16), ("eng,spa", 1), ("es-419", 16)]

    res = CliRunner().invoke(main, ["estimate", "--db", str(db), "--by", "language",
                                    "--detector", "markers", "--n-boot", "10", "--json"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = [(e["group"], e["n_docs"]) for e in json.loads(res.stdout)]
    assert rows == [({"language": "en"}, 67), ({"language": "es"}, 64), ({}, 131)]


def test_a_value_naming_no_language_is_identified_from_the_text_and_kept(tmp_path):
    """"", "  ", `und`, `unknown` and a number name no language: the text is identified, as
    when the field is missing, instead of storing them as languages."""
    rows = [{"id": f"r{i}", "text": SPANISH * 3, "language": tag}
            for i, tag in enumerate(("", "  ", None, "es", "und", "unknown", 7))]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = tmp_path / "s.duckdb"
    _scan([tmp_path / "a.jsonl"], db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT DISTINCT language FROM documents").fetchall() == [("es",)]
        kept = con.execute("SELECT id, json_extract_string(meta, '$.language_raw') FROM "
                           "documents WHERE meta LIKE '%language_raw%' ORDER BY id").fetchall()
        assert kept == [("r4", "und"), ("r5", "unknown"), ("r6", "7")]
    finally:
        con.close()
