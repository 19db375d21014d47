"""The contamination detector: benchmark items found in each document, in the scan's cheap tier.

Not an AI-text detector: its score is the number of benchmark items found in the document
(0 for almost all), and its reason is a JSON list of those items with their form, shares,
character span (`auditor.contamination.match.ItemMatch`) and a bounded excerpt of the matched
text (at most ~520 characters, only for the rare documents that hold an item) so the report
can show the leak without re-reading the shard. Estimation and the AI-share report
leave its column out (`auditor.records.NON_AUTHORSHIP_DETECTORS`); `auditor contamination`,
the report's contamination section and the `[gates.contamination]` check read it.

Built without a store (`detectors.load("contamination")` from Python, or the detector
benchmark) it checks against the shipped benchmarks. In a scan it is built per store: the scan
hands it the store's paths (`auditor.store.paths.StorePaths`,
received, not imported) and it loads the index of the benchmarks added to that store
(`auditor benchmarks add`), from `store.benchmark_index`. Its version is the matching
rules' version and the index digest, so adding a benchmark makes the next scan fill only this column again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np

from detectors.base import Detector, NotConfigured, detector

#: Characters of document text kept around a match, and of the match itself (head and tail):
#: enough for the report to show the leak highlighted, without storing the document.
EXCERPT_CONTEXT = 60
EXCERPT_MATCH = 400


def excerpt(text: str, start: int, end: int) -> dict[str, str]:
    """The matched span of `text` with a little context, bounded in size."""
    match = text[start:end]
    if len(match) > EXCERPT_MATCH:
        half = EXCERPT_MATCH // 2
        match = match[:half] + " \u2026 " + match[-half:]
    return {"before": text[max(0, start - EXCERPT_CONTEXT):start], "match": match,
            "after": text[end:end + EXCERPT_CONTEXT]}


@detector(name="contamination", tier="cheap",
          needs="benchmarks added to the store (`auditor benchmarks add builtin`)",
          summary="benchmark items (13-gram index) found in each document: not an AI score",
          languages=None, reads_store=True)
class ContaminationDetector(Detector):
    gives_reasons = True

    def __init__(self, store=None, index_dir: str | None = None):
        folder = index_dir or (store.benchmark_index if store is not None else None)
        self._matcher = None
        self.version = "builtin"
        if folder is None:
            return  # no store: the shipped benchmarks, indexed on first use (see _matcher_now)
        if not os.path.exists(os.path.join(folder, "index.json")):
            raise NotConfigured(f"no benchmarks in this store ({folder} is missing); add some "
                                "with `auditor benchmarks add builtin --db DB`")
        from auditor.contamination.index import load_index
        from auditor.contamination.match import MATCH_VERSION, Matcher

        index = load_index(folder)
        self._matcher = Matcher(index)
        self.version = f"{MATCH_VERSION}-n{index.n}-{index.digest}"

    def memory_bytes(self) -> int:
        return self._matcher.memory_bytes() if self._matcher is not None else 0

    def _matcher_now(self):
        """The matcher; without a store, one over the shipped benchmarks, built here once (a
        few seconds) so that listing or warming up detectors stays cheap."""
        if self._matcher is None:
            from auditor.contamination.index import build_index
            from auditor.contamination.items import builtin_items
            from auditor.contamination.match import Matcher

            self._matcher = Matcher(build_index(builtin_items()))
        return self._matcher

    def score_and_reasons(self, texts: Sequence[str], metas: Sequence[dict] | None = None
                          ) -> tuple[np.ndarray, list[str | None]]:
        texts = [t if isinstance(t, str) else "" for t in texts]
        found = self._matcher_now().match(texts)
        scores = np.array([len(f) for f in found], dtype=np.float64)
        reasons = [json.dumps([{**m.to_dict(), "excerpt": excerpt(t, m.char_start, m.char_end)}
                               for m in f], ensure_ascii=False) if f else None
                   for t, f in zip(texts, found, strict=True)]
        return scores, reasons

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return self.score_and_reasons(texts)[0]

    def reasons(self, texts: Sequence[str]) -> list[str | None]:
        return self.score_and_reasons(texts)[1]
