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


#: Every HOLD_BACK_EVERY-th distinct page of each training file, by decreasing length, is held
#: back from fitting: its pieces set the web side of the shipped threshold (see
#: `detectors.calibration.shipped_threshold`), so that threshold is set on web text the model
#: never fitted, and the test files stay untouched.
HOLD_BACK_EVERY = 3


def hold_back_pages(web_train: dict[str, list[str]], every: int = HOLD_BACK_EVERY
                    ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """({file: pages to fit}, {file: pages held back for the threshold}).

    Split by page (pieces of one page, and copies of one page, since a crawl can hold the same
    page twice, never land on both sides) and stratified by length: pages range from 200 to
    340,000 characters, and one long page is cut into many training pieces, so a random draw of
    pages would leave either side with most of the text. The distinct pages sorted by decreasing
    length (ties by text), positions every-1, 2*every-1, ... are held back: about 1/every of the
    pages and somewhat less of the text (the longest page always fits). Deterministic."""
    fit, held = {}, {}
    for f, pages in web_train.items():
        ranked = sorted(dict.fromkeys(pages), key=lambda t: (-len(t), t))
        back = set(ranked[every - 1::every])
        fit[f] = [t for t in pages if t not in back]
        held[f] = [t for t in pages if t in back]
    return fit, held
