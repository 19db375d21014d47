"""Which human reference each source is estimated against, and why (a `RefKind`, never a string
to parse).

Order, best first: a reference the user gave; the source's own pre-cutoff documents (all of
them: they are human by assumption and are not part of the target, so none has to be set aside
for it); documents of the same source scanned as `human_reference`; pre-cutoff documents
BORROWED from the most similar sources of the same store (same language, same value of a genre
column the user names, nearest by low-score quantile and length); all documents scanned as
`human_reference`; the detector's shipped human rows (last resort, interval widened).

The floor of a reference is what it reads on documents known to be human that it was not fitted
on: its own held-out half (hash of the id) for own and role references, and the source's own
few pre-cutoff documents for a borrowed or default reference (the honest check that borrowing
worked; a borrowed reference is checked on its donors' held-out halves when the source has fewer
than `MIN_FLOOR_DOCS`). None when there are fewer than `MIN_FLOOR_DOCS` such documents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb

from auditor.estimate.bootstrap import Hist, pooled
from auditor.estimate.references import MIN_FLOOR_DOCS, MIN_HUMAN_REF
from auditor.estimate.result import RefKind

#: Borrow from at most this many donors beyond what reaching MIN_HUMAN_REF needs.
MAX_DONORS = 3


@dataclass(frozen=True)
class HumanRef:
    kind: RefKind
    hist: Hist  # what the method is fitted on
    floor_fit: Hist | None  # fitted on this for the floor ...
    floor_held: Hist | None  # ... and estimated on this (known human, not in floor_fit)
    donors: tuple[str, ...] = ()

    @property
    def fallback(self) -> bool:
        return self.kind is RefKind.DEFAULT


@dataclass(frozen=True)
class Profile:
    """What makes two sources alike enough to lend a reference."""

    n_pre: int
    language: str | None
    genre: str | None
    low_score: float  # 10th percentile of the detector score (the human end of a source)
    log_length: float  # median log token count


def profiles(con: duckdb.DuckDBPyConnection, score: str, cols: dict[str, str],
             genre: str | None) -> dict[str, Profile]:
    """Per-source profile of scored corpus documents (`score`, `genre` quoted, validated).

    Approximate quantiles (t-digest): bounded memory per source on a store of any size."""
    lang = "mode(language)" if "language" in cols else "NULL"
    gen = f"mode({genre})" if genre else "NULL"
    rows = con.execute(
        f"SELECT source, COUNT(*) FILTER (WHERE pre_cutoff), {lang}, {gen},"
        f" approx_quantile({score}, 0.1), approx_quantile(ln(1 + COALESCE(n_tokens, 0)), 0.5)"
        f" FROM documents WHERE role = 'corpus' AND {score} IS NOT NULL GROUP BY source"
    ).fetchall()
    return {s: Profile(int(n or 0), lg, None if g is None else str(g), float(q or 0.0),
                       float(ll or 0.0)) for s, n, lg, g, q, ll in rows}


def donors_for(source: str, prof: dict[str, Profile], own_ok: list[str]) -> list[str]:
    """The most similar sources with a usable own reference, nearest first, enough of them to
    reach MIN_HUMAN_REF documents. Language (when known on both sides) and the genre column
    (when given) must match; distance is over the low-score quantile and the log length, each
    scaled by its spread across the store's sources."""
    me = prof.get(source)
    if me is None:
        return []
    cands = [d for d in own_ok if d != source and d in prof
             and (me.language is None or prof[d].language in (None, me.language))
             and (me.genre is None or prof[d].genre == me.genre)]
    if not cands:
        return []
    vals = list(prof.values())

    def spread(xs: list[float]) -> float:
        lo, hi = min(xs), max(xs)
        return (hi - lo) or 1.0

    s_score = spread([p.low_score for p in vals])
    s_len = spread([p.log_length for p in vals])
    cands.sort(key=lambda d: (math.hypot((prof[d].low_score - me.low_score) / s_score,
                                         (prof[d].log_length - me.log_length) / s_len), d))
    out, n = [], 0
    for d in cands:
        if n >= MIN_HUMAN_REF and len(out) >= 1:
            break
        out.append(d)
        n += prof[d].n_pre
        if len(out) >= MAX_DONORS and n >= MIN_HUMAN_REF:
            break
    return out if n >= MIN_HUMAN_REF else []


def usable_own(own: dict) -> list[str]:
    """The sources whose own pre-cutoff documents reach MIN_HUMAN_REF: the possible donors.
    Computed once per estimate and handed to every `resolve`: computed once per source, it
    made an estimate quadratic in the number of sources."""
    return sorted(s for s in {k[0] for k in own}
                  if (pooled(own, sources={s}) or Hist.empty(1)).n >= MIN_HUMAN_REF)


def resolve(source: str, own: dict, role: dict, default: dict, user: dict,
            prof: dict[str, Profile], own_ok: list[str] | None = None) -> HumanRef | None:
    """The human reference of one source (see the module docstring for the order); `own_ok`
    is `usable_own(own)`, computed here when not given."""
    own_src = pooled(own, sources={source})
    if user:
        return HumanRef(RefKind.GIVEN, pooled(user), pooled(user, True), own_src or pooled(user, False))
    if own_src is not None and own_src.n >= MIN_HUMAN_REF:
        return HumanRef(RefKind.OWN, own_src, own.get((source, True)), own.get((source, False)))
    role_src = pooled(role, sources={source})
    if role_src is not None and role_src.n >= MIN_HUMAN_REF:
        return HumanRef(RefKind.ROLE_SAME, role_src, role.get((source, True)),
                        own_src or role.get((source, False)))
    donors = donors_for(source, prof, usable_own(own) if own_ok is None else own_ok)
    if donors:
        borrowed = pooled(own, sources=donors)
        fit = pooled(own, True, donors)
        held = own_src
        if held is None or held.n < MIN_FLOOR_DOCS:
            # too few own documents to check on: the donors' held-out halves
            held = pooled(own, False, donors)
            fit_for_floor = fit
        else:
            fit_for_floor = borrowed
        return HumanRef(RefKind.BORROWED, borrowed, fit_for_floor, held, tuple(donors))
    role_all = pooled(role)
    if role_all is not None and role_all.n >= MIN_HUMAN_REF:
        return HumanRef(RefKind.ROLE_ALL, role_all, pooled(role, True),
                        own_src or pooled(role, False))
    if default:
        if own_src is not None:
            return HumanRef(RefKind.DEFAULT, pooled(default), pooled(default), own_src)
        return HumanRef(RefKind.DEFAULT, pooled(default), pooled(default, True),
                        pooled(default, False))
    return None


def distinct_reference_docs(refs: dict[str, HumanRef], own: dict, role: dict, default: dict,
                            user: dict) -> int:
    """How many human reference documents the sources of `refs` are estimated against
    together, each document counted once.

    A headline that summed its rows' reference sizes counted a source's reference once per
    group it appears in, and a donor's documents once more per borrower: `--by domain` on the
    real crawl samples (1,121 documents) showed 991,118 human reference documents. The pools
    are the `resolve` inputs: each source's own pre-cutoff documents (its own reference, or a
    borrower's through its donors), each source's `human_reference` documents (all of them
    when any source uses them all), the shipped default rows, the user's reference."""
    pools: set[tuple[str, ...]] = set()
    for source, ref in refs.items():
        if ref.kind is RefKind.OWN:
            pools.add(("own", source))
        elif ref.kind is RefKind.BORROWED:
            pools.update(("own", d) for d in ref.donors)
        elif ref.kind is RefKind.ROLE_SAME:
            pools.add(("role", source))
        elif ref.kind in (RefKind.ROLE_ALL, RefKind.DEFAULT, RefKind.GIVEN):
            pools.add((ref.kind.name,))
    if (RefKind.ROLE_ALL.name,) in pools:  # every source's role documents are in it already
        pools = {p for p in pools if p[0] != "role"}
    whole = {RefKind.ROLE_ALL.name: role, RefKind.DEFAULT.name: default,
             RefKind.GIVEN.name: user}

    def size(pool: tuple[str, ...]) -> int:
        if len(pool) == 2:
            h = pooled(own if pool[0] == "own" else role, sources={pool[1]})
        else:
            h = pooled(whole[pool[0]])
        return 0 if h is None else int(h.n)

    return sum(size(p) for p in pools)


__all__ = ["HumanRef", "MIN_HUMAN_REF", "Profile", "distinct_reference_docs", "donors_for",
           "profiles", "resolve"]
