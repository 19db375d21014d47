"""Real web pages from the shared crawl samples, as plain texts, for detector training and the
web false-positive test (used by scripts/eval_detectors.py and scripts/train_classifier.py).

The crawl files are split by FILE, never by page: the pages of one crawl share sites, boiler-
plate and extraction quirks, so a page-level split would leak. All four files predate 2022
(before machine text was common on the web), so every page counts as human-written.
"""

from __future__ import annotations

from pathlib import Path

CRAWL_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "crawl"
#: Pre-2022 crawl files whose pages train the classifier as human text.
WEB_TRAIN_FILES = ("ia-2008-blackbook.warc.gz", "dolma-cc-en-head-2020.jsonl.gz")
#: Pre-2022 crawl files held out: the web false-positive test.
WEB_TEST_FILES = ("c4-sample-2019.json.gz", "cc-main-2020-34-sample.warc.gz")
MIN_CHARS = 200  # as the labeled data: shorter pages are navigation stubs


def web_texts(path: str | Path, min_chars: int = MIN_CHARS) -> list[str]:
    """Texts of the documents of one crawl file (read by the project's own readers, the same
    text extraction a scan uses), at least `min_chars` characters each."""
    from auditor.readers import ReaderOptions, discover, plan_units, read_unit
    from auditor.records import Document

    options = ReaderOptions()
    out = []
    for unit in plan_units(discover([str(path)]), options):
        for item in read_unit(unit, options):
            if isinstance(item, Document) and len(item.text.strip()) >= min_chars:
                out.append(item.text)
    return out


def web_split(crawl_dir: str | Path = CRAWL_DIR) -> tuple[dict[str, list[str]],
                                                          dict[str, list[str]]]:
    """({train file: texts}, {test file: texts})."""
    d = Path(crawl_dir)
    return ({f: web_texts(d / f) for f in WEB_TRAIN_FILES},
            {f: web_texts(d / f) for f in WEB_TEST_FILES})


#: Share of each training file's pages held back from fitting: their pieces set the web side of
#: the shipped threshold (see `detectors.calibration.shipped_threshold`), so that threshold is
#: set on web text the model never fitted, and the test files stay untouched.
THRESHOLD_SHARE = 1 / 3


def hold_back_pages(web_train: dict[str, list[str]], share: float = THRESHOLD_SHARE,
                    seed: int = 0) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """({file: pages to fit}, {file: pages held back for the threshold}): a seeded share of
    each training file's distinct pages, split by page: pieces of one page, and copies of one
    page (a crawl can hold the same page twice), never land on both sides."""
    import numpy as np

    fit, held = {}, {}
    for f, pages in web_train.items():
        distinct = list(dict.fromkeys(pages))
        rng = np.random.default_rng([seed, len(distinct)])
        back = {distinct[i] for i in rng.choice(len(distinct), int(round(share * len(distinct))),
                                                  replace=False)}
        fit[f] = [t for t in pages if t not in back]
        held[f] = [t for t in pages if t in back]
    return fit, held
