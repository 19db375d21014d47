"""Build the embedded demo corpus (auditor/demo_data/) from the shared labeled development set.

Why a built corpus and not hand-made files: `auditor demo` must show the whole flow on data whose
synthetic fraction is KNOWN, so a person can see whether the estimates and their intervals cover
the truth. So every source here mixes human rows with a chosen share of machine rows from the
development set, and `truth.json` records the fractions.

Choices that keep the comparison honest:
- machine rows come only from the `test_generator` split (detectors/splits.py): the shipped
  classifier never trained or calibrated on their generators;
- human rows come from the `calib`/`test`/`test_repo` splits, never `train`;
- documents crawled before 2022-11-30 are all human (the estimator's human reference);
- AI-polished human text (`llm_polish_of_human_text`) is left out: it is neither clearly human nor
  clearly machine, which would blur the truth.

The licences attached to the demo pages (`rel="license"` links, `license` columns) are
illustrative provenance for the coverage section of the report. The texts themselves come from the
source repositories named in NOTICE, under those repositories' licences; `manifest.jsonl.gz` keeps
the source repository, licence and development-set id of every row used.

Usage: python3 scripts/build_demo_corpus.py [--dev ../shared/data/labeled/dev.parquet] [--seed 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import html
import io
import json
import random
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from auditor.records import DEFAULT_CUTOFF  # noqa: E402
from detectors.splits import add_split_column  # noqa: E402

OUT = REPO / "auditor" / "demo_data"
MAX_CHARS = 2400  # keeps the shipped files small; cut at a sentence end
HUMAN_SPLITS = ("calib", "test", "test_repo")
MACHINE_VARIANTS = ("continuation_of_human_prefix", "llm_generation", "llm_rewrite_of_human_text",
                    "llm_expand_of_human_text", "pure")


@dataclass(frozen=True)
class SourcePlan:
    """One demo source: where its rows come from, how it is stored, and its true fraction."""

    name: str
    file: str  # file name under demo_data/; the reader names the source by the file stem
    fmt: str  # parquet | jsonl | jsonl.gz | warc
    site: str  # domain used for URLs
    human_domains: tuple[str, ...]
    machine_domains: tuple[str, ...]
    n_docs: int
    n_machine: int
    n_pre_cutoff: int  # all human
    license: str  # illustrative licence of the pages ("" = none given)
    license_share: float  # share of documents that carry it
    url_share: float = 1.0
    date_share: float = 1.0
    synthetic_by_construction: bool = False


PLANS = (
    SourcePlan("news", "news.warc.gz", "warc", "dailynews.example.org",
               ("news (BBC XSum)",), ("news (BBC XSum)",), 900, 135, 360,
               "https://creativecommons.org/licenses/by/4.0/", 0.4),
    SourcePlan("stories", "stories.jsonl.gz", "jsonl.gz", "stories.example.net",
               ("creative writing (Reddit WritingPrompts)",),
               ("creative writing (Reddit WritingPrompts)",), 700, 210, 250,
               "CC-BY-SA-4.0", 0.7, url_share=0.85),
    SourcePlan("wiki", "wiki.parquet", "parquet", "wiki.example.org",
               ("wikipedia (SQuAD contexts)",), ("wikipedia (SQuAD contexts)",), 480, 24, 200,
               "CC-BY-SA-4.0", 1.0),
    SourcePlan("blogs", "blogs.jsonl", "jsonl", "blogs.example.com",
               ("creative writing (Reddit WritingPrompts)", "news (BBC XSum)"), (), 300, 0, 120,
               "", 0.0, date_share=0.95),
    SourcePlan("science", "science.warc.gz", "warc", "journal.example.edu",
               ("biomedical QA (PubMedQA)", "scientific abstracts (Nature)"),
               ("biomedical QA (PubMedQA)",), 320, 32, 130,
               "https://creativecommons.org/licenses/by/4.0/", 0.9),
    SourcePlan("cosmopedia-demo", "cosmopedia-demo.parquet", "parquet", "",
               (), ("news (BBC XSum)", "biomedical articles (PubMed)"), 200, 200, 0,
               "ODC-BY-1.0", 1.0, url_share=0.0, synthetic_by_construction=True),
)

PRE_RANGE = (dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc),
             dt.datetime(2022, 11, 29, tzinfo=dt.timezone.utc))
POST_RANGE = (dt.datetime(2022, 12, 1, tzinfo=dt.timezone.utc),
              dt.datetime(2024, 10, 31, tzinfo=dt.timezone.utc))


def _clip(text: str) -> str:
    text = text.strip()
    if len(text) <= MAX_CHARS:
        return text
    cut = text[:MAX_CHARS]
    end = max(cut.rfind(". "), cut.rfind(".\n"))
    return cut[: end + 1] if end > MAX_CHARS // 2 else cut


def _date(rng: random.Random, lo: dt.datetime, hi: dt.datetime) -> dt.datetime:
    span = int((hi - lo).total_seconds())
    return (lo + dt.timedelta(seconds=rng.randrange(span))).replace(microsecond=0)


def _pick(rows: list[dict], n: int, rng: random.Random, what: str) -> list[dict]:
    if len(rows) < n:
        raise SystemExit(f"not enough {what}: need {n}, have {len(rows)}; lower the plan sizes")
    picked = rng.sample(rows, n)
    for r in picked:
        rows.remove(r)  # a row is used once across all sources
    return picked


def build_docs(dev: Path, seed: int) -> list[dict]:
    """Draw the rows of every source and give them ids, URLs, dates and licences."""
    rng = random.Random(seed)
    table = add_split_column(pq.read_table(dev))
    rows = [r for r in table.to_pylist() if (r["language"] or "en") == "en" and r["text"].strip()]
    humans: dict[str, list[dict]] = {}
    machines: dict[str, list[dict]] = {}
    for r in rows:
        if r["label"] == "human" and r["split"] in HUMAN_SPLITS:
            humans.setdefault(r["domain"], []).append(r)
        elif (r["label"] == "ai" and r["split"] == "test_generator"
              and r["variant"] in MACHINE_VARIANTS):
            machines.setdefault(r["domain"], []).append(r)
    docs: list[dict] = []
    for plan in PLANS:
        human_pool = [r for d in plan.human_domains for r in humans.get(d, [])]
        machine_pool = [r for d in plan.machine_domains for r in machines.get(d, [])]
        chosen_h = _pick(human_pool, plan.n_docs - plan.n_machine, rng, f"human rows for {plan.name}")
        chosen_m = _pick(machine_pool, plan.n_machine, rng, f"machine rows for {plan.name}")
        for r in chosen_h:
            humans[r["domain"]].remove(r)
        for r in chosen_m:
            machines[r["domain"]].remove(r)
        labelled = [(r, "human") for r in chosen_h] + [(r, "ai") for r in chosen_m]
        # the first n_pre_cutoff human rows are dated before the cutoff, the rest after it
        pre_ids = {r["id"] for r in chosen_h[: plan.n_pre_cutoff]}
        rng.shuffle(labelled)
        for i, (r, label) in enumerate(labelled):
            pre = r["id"] in pre_ids
            date = _date(rng, *(PRE_RANGE if pre else POST_RANGE))
            has_date = plan.synthetic_by_construction or rng.random() < plan.date_share or pre
            has_url = bool(plan.site) and rng.random() < plan.url_share
            has_license = bool(plan.license) and rng.random() < plan.license_share
            doc_id = f"{plan.name}-{i:05d}"
            docs.append({
                "source": plan.name, "file": plan.file, "id": doc_id, "label": label,
                "text": _clip(r["text"]), "title": _clip(r["text"])[:60].split("\n")[0],
                "url": f"https://{plan.site}/{date:%Y/%m}/{doc_id}.html" if has_url else None,
                "crawl_date": date if has_date else None, "pre_cutoff": pre,
                "license": plan.license if has_license else None,
                "dev_id": r["id"], "generator": r["generator"], "variant": r["variant"],
                "source_repo": r["source_repo"], "dev_license": r["license"], "split": r["split"],
                "record_id": f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>",
            })
    return docs


def _iso(d: dt.datetime | None) -> str | None:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ") if d else None


def write_parquet(path: Path, docs: list[dict]) -> None:
    table = pa.table({
        "id": [d["id"] for d in docs],
        "text": [d["text"] for d in docs],
        "url": [d["url"] for d in docs],
        "crawl_date": pa.array([d["crawl_date"] for d in docs], pa.timestamp("s", tz="UTC")),
        "license": [d["license"] for d in docs],
    })
    pq.write_table(table, path, compression="zstd", row_group_size=250)


def write_jsonl(path: Path, docs: list[dict], compress: bool) -> None:
    lines = []
    for d in docs:
        row = {"id": d["id"], "text": d["text"]}
        if d["url"]:
            row["url"] = d["url"]
        if d["crawl_date"]:
            row["crawl_date"] = _iso(d["crawl_date"])
        if d["license"]:
            row["license"] = d["license"]
        lines.append(json.dumps(row, ensure_ascii=False))
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if compress:
        path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    else:
        path.write_bytes(data)


def _page(d: dict) -> bytes:
    """An HTML page for one document; a `rel="license"` link where the document has a licence."""
    paras = "\n".join(f"<p>{html.escape(p.strip())}</p>" for p in d["text"].split("\n") if p.strip())
    lic = (f'<footer><a rel="license" href="{d["license"]}">Creative Commons licence</a></footer>'
           if d["license"] else "<footer>All rights reserved.</footer>")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(d['title'])}</title></head><body>"
            f"<nav><a href=\"/\">Home</a></nav><article>\n{paras}\n</article>{lic}"
            f"</body></html>").encode()


def write_warc(path: Path, docs: list[dict]) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for d in docs:
        body = _page(d)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                          ("Content-Length", str(len(body)))],
                                protocol="HTTP/1.1")
        headers = {"WARC-Record-ID": d["record_id"]}
        if d["crawl_date"]:
            headers["WARC-Date"] = _iso(d["crawl_date"])
        record = writer.create_warc_record(d["url"], "response", payload=io.BytesIO(body),
                                           http_headers=http, warc_headers_dict=headers)
        writer.write_record(record)
    path.write_bytes(buf.getvalue())


def truth_of(docs: list[dict]) -> dict:
    """True fractions per source: over all documents, and over the post-cutoff ones."""
    out: dict = {"cutoff": DEFAULT_CUTOFF.isoformat(), "sources": {}, "overall": {}}

    def frac(ds: list[dict]) -> float | None:
        return round(sum(d["label"] == "ai" for d in ds) / len(ds), 6) if ds else None

    for plan in PLANS:
        ds = [d for d in docs if d["source"] == plan.name]
        post = [d for d in ds if not d["pre_cutoff"]]
        out["sources"][plan.name] = {
            "file": plan.file, "format": plan.fmt, "n_docs": len(ds),
            "n_machine": sum(d["label"] == "ai" for d in ds),
            "fraction": frac(ds), "n_post_cutoff": len(post), "fraction_post_cutoff": frac(post),
            "synthetic_by_construction": plan.synthetic_by_construction,
        }
    post = [d for d in docs if not d["pre_cutoff"]]
    out["overall"] = {"n_docs": len(docs), "n_machine": sum(d["label"] == "ai" for d in docs),
                      "fraction": frac(docs), "fraction_post_cutoff": frac(post)}
    return out


def write_notice(path: Path, docs: list[dict]) -> None:
    repos: dict[tuple[str, str], int] = {}
    for d in docs:
        key = (d["source_repo"], d["dev_license"])
        repos[key] = repos.get(key, 0) + 1
    lines = [
        "Provenance Auditor demo corpus",
        "",
        "The texts in this folder are drawn from public AI-text detection benchmarks, collected in",
        "the project's labeled development set. Each row keeps its source repository and licence in",
        "manifest.jsonl.gz. Sources and licences (documents used):",
        "",
    ]
    for (repo, lic), n in sorted(repos.items()):
        lines.append(f"  https://github.com/{repo}  ({lic}): {n} documents")
    lines += [
        "",
        "Human texts originate from the corpora those repositories redistribute (BBC XSum news,",
        "Reddit WritingPrompts, SQuAD Wikipedia contexts, PubMedQA, Nature abstracts);",
        "machine texts were generated by the models named in the manifest.",
        "",
        "The URLs (example.org/.net/.com/.edu domains), crawl dates and the licences attached to",
        "pages and rows are illustrative provenance made up for the demo; they are not the licences",
        "of the texts. Built by scripts/build_demo_corpus.py.",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dev", default=str(REPO.parent / "shared" / "data" / "labeled" / "dev.parquet"))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    docs = build_docs(Path(args.dev), args.seed)
    for plan in PLANS:
        ds = [d for d in docs if d["source"] == plan.name]
        path = out / plan.file
        if plan.fmt == "parquet":
            write_parquet(path, ds)
        elif plan.fmt in ("jsonl", "jsonl.gz"):
            write_jsonl(path, ds, compress=plan.fmt.endswith(".gz"))
        else:
            write_warc(path, ds)
    manifest = [{k: (_iso(v) if isinstance(v, dt.datetime) else v) for k, v in d.items()
                 if k not in ("text", "title")} for d in docs]
    (out / "manifest.jsonl.gz").write_bytes(gzip.compress(
        ("\n".join(json.dumps(m) for m in manifest) + "\n").encode(), 9, mtime=0))
    (out / "truth.json").write_text(json.dumps(truth_of(docs), indent=2) + "\n")
    write_notice(out / "NOTICE", docs)
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"wrote {len(docs)} documents in {len(PLANS)} sources to {out} ({total / 1e6:.2f} MB)")
    for name, t in truth_of(docs)["sources"].items():
        print(f"  {name:16s} {t['n_docs']:5d} docs  fraction {t['fraction']:.3f}  "
              f"post-cutoff {t['fraction_post_cutoff']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
