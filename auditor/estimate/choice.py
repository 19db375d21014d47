"""Which detector and which method an estimate uses when the user does not say.

Detector: the first of `PREFERENCE` with a score column that covers (nearly) every corpus
document and a machine reference; a better detector that scored only a sample is combined with
it (two tiers) when the user names it. Method (`auto`, per group): the mixture MLE with a shiftable
machine component (`mlms`) when both references are at least the store's minimum and not a stated fallback; it uses the
whole score distribution, equals the plain mixture MLE where the machine reference fits, and
halved the leave-one-repository-out error where the target's machine text scored beyond the
reference (`scripts/validate_estimation.py`, reports/estimation.md). Otherwise adjusted
classify-and-count: less accurate, but its wider intervals still cover with small references,
and it trusts only two rates from a default reference taken from other corpora.
"""

from __future__ import annotations

import duckdb

from auditor.records import NON_AUTHORSHIP_DETECTORS

#: Bootstrap replicates of an interval unless the caller says otherwise (CLI, report, check).
N_BOOT = 200
#: Groups smaller than this are "too few documents": not estimated on their own, pooled into
#: one "other" row and kept out of per-group gates (`estimate_db(min_docs=...)` overrides it).
MIN_GROUP_DOCS = 30
#: Detectors in order of preference for estimation (best first). The one home of this order:
#: the report and the CLI import it.
PREFERENCE = ("classifier", "embedding", "compression", "markers", "binoculars",
              "fast_detectgpt", "lm", "watermark")
#: Score columns that are not detector scores of one document's authorship: left out when a
#: detector is chosen (the excess-vocabulary counts feed `vocab`, a separate estimator; the
#: contamination counts are benchmark leaks). One home: `auditor.records`.
NOT_FOR_FRACTIONS = NON_AUTHORSHIP_DETECTORS
#: A detector scored "everything" when it scored at least this share of corpus documents.
FULL_COVERAGE = 0.95
#: References at least this large let `auto` use the mixture MLE: the store's own minimum
#: before a source borrows (`references.MIN_HUMAN_REF`), so every source with its own reference
#: gets it. Decided from simulation (beta scores) and the in-distribution dev splits, not from
#: the leave-one-repository-out corpora (tests/test_estimate_choice_small.py): at 50 and 80
#: human references mlm had a lower floor than acc on all five corpora tried (e.g. news 0.0 vs
#: 0.4 points at 50), a lower error on four, and coverage >= 92%; acc's one threshold turns
#: small-reference noise into a wide spread, and an estimate clipped at 0 reads about 0.4 times
#: that spread at a true 0 (the floor). Before, acc was used below 100.
AUTO_MIN_REF = 50


def coverage(con: duckdb.DuckDBPyConnection, score: str,
             languages: tuple[str, ...] | None = None) -> tuple[int, int]:
    """(scored corpus documents, corpus documents it could score) for a quoted score column.
    `languages`: the detector's declared ones (None: any); a document in another language is
    out of its reach, one of unknown language is not (the scanner scores it,
    `detectors.base.Detector.valid_for`)."""
    scope, params = "", {}
    if languages is not None:
        scope = " AND (language IS NULL OR list_contains($languages::VARCHAR[], language))"
        params = {"languages": list(languages)}
    row = con.execute(f"SELECT COUNT({score}), COUNT(*) FROM documents WHERE role = 'corpus'"
                      f"{scope}", params).fetchone()
    return int(row[0]), int(row[1])


def scored_everything(con: duckdb.DuckDBPyConnection, score: str,
                      languages: tuple[str, ...] | None = None) -> bool:
    """True when the detector scored (nearly) every corpus document it could (`coverage`): a
    full tier, not a sample. An English-only detector on a crawl with a few percent of other
    languages is full: counting those made the classifier a "sample" on the real crawl folder
    (1,188 of 1,258) and the estimate fell back to the markers, which cannot estimate."""
    scored, total = coverage(con, score, languages)
    return total > 0 and scored >= FULL_COVERAGE * total


def declared_languages(detector: str) -> tuple[str, ...] | None:
    """The languages a registered detector declares (None: any language, or not registered)."""
    import detectors

    spec = {s.name: s for s in detectors.specs()}.get(detector)
    return None if spec is None else spec.languages


def rank(names: list[str]) -> list[str]:
    """Detector names by `PREFERENCE`, unknown ones last in name order (minus
    `NOT_FOR_FRACTIONS`)."""
    names = [n for n in names if n not in NOT_FOR_FRACTIONS]
    return sorted(names, key=lambda n: (PREFERENCE.index(n) if n in PREFERENCE else 99, n))


def auto_method(n_human: int, n_machine: int, fallback: bool) -> tuple[str, str]:
    """(method, reason) for one group."""
    if fallback:
        return "acc", ("auto chose acc: the human reference is a stated default, not this "
                       "group's own documents, so only two rates are trusted from it")
    if n_human < AUTO_MIN_REF or n_machine < AUTO_MIN_REF:
        return "acc", (f"auto chose acc: references are small (human {n_human}, machine "
                       f"{n_machine}, < {AUTO_MIN_REF}), where per-bin likelihoods overfit")
    return "mlms", (f"auto chose mlms: references are large (human {n_human}, machine "
                    f"{n_machine}); the machine component may shift to higher scores when the "
                    "target's machine text is more extreme than the reference (a likelihood-"
                    "ratio test decides; otherwise it is the plain mixture MLE)")
