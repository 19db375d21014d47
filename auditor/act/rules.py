"""Filter rules a user states on the command line, parsed into a small safe grammar.

    --drop "score:classifier > 2.27"      a detector score against a number (its own scale)
    --keep "crawl_date < 2022-11-30"      a provenance column against a date, number or string
    --drop synthetic-by-construction      a named flag (see `FLAGS`)
    --drop contaminated                   documents the contamination detector matched
    --drop "score:classifier > source_threshold"   each source's own threshold (see below)

A rule is `NAME OP LITERAL` or a flag; nothing is evaluated. Column names are checked against
the store's `documents` view before they reach SQL (and then double-quoted); literals are always
bound as parameters. A document is dropped when a drop rule matches and no keep rule does: keep
rules protect data (the usual one protects everything crawled before ChatGPT), as the collapse
literature advises to protect human data first. A comparison with a missing value (no date, no
score) does not match.

`source_threshold` in place of a number is each source's threshold from the store's audit
(`auditor.estimate.source_thresholds`): the 1%-false-positive quantile of the source's own
pre-cutoff documents where it has enough of them, else the detector's shipped threshold. Such
a rule never matches a pre-cutoff document: those documents set the threshold, and they are
the human data a filter should protect first.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

#: Prefix of the manifest reason of a kept document that a drop rule could not judge.
UNJUDGED = "unjudged"
#: Comparison operators, longest first so `<=` is not read as `<`.
OPERATORS = ("<=", ">=", "!=", "==", "=", "<", ">")
_SQL_OP = {"==": "=", "=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

#: Score column of the contamination detector (benchmark n-gram overlap share per document).
CONTAMINATION_SCORE = "score_contamination"

#: Named flags: rule text -> (SQL over the `documents` view, column it needs).
FLAGS: dict[str, tuple[str, str]] = {
    "synthetic-by-construction": ('"synthetic_by_construction"', "synthetic_by_construction"),
    "pre-cutoff": ('"pre_cutoff"', "pre_cutoff"),
    "machine-reference": ("\"role\" = 'machine_reference'", "role"),
    "contaminated": (f'"{CONTAMINATION_SCORE}" > 0', CONTAMINATION_SCORE),
}

#: The literal that stands for each source's own threshold in a score rule.
SOURCE_THRESHOLD = "source_threshold"

_NAME = re.compile(r"^(score:)?([A-Za-z_][A-Za-z0-9_]*)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?(Z|[+-]\d{2}:?\d{2})?$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class RuleError(ValueError):
    """A rule that cannot be parsed or does not fit the store; the message names the rule."""


@dataclass(frozen=True)
class Rule:
    """One parsed rule. `column` is the view column (score:x -> score_x), None for a flag."""

    action: str  # "drop" | "keep"
    text: str  # as the user wrote it, normalised spacing: the reason shown in the manifest
    flag: str | None = None
    column: str | None = None
    op: str | None = None
    value: Any = None
    per_source: bool = False  # the literal is SOURCE_THRESHOLD
    thresholds: tuple[tuple[str, float], ...] = ()  # (source, threshold), once resolved
    default_threshold: float | None = None  # for a source without one (no scored documents)
    resolved: bool = False

    def with_thresholds(self, thresholds: dict[str, float], default: float | None) -> Rule:
        """This per-source rule with each source's threshold filled in."""
        from dataclasses import replace

        pairs = tuple(sorted((str(k), float(v)) for k, v in thresholds.items()
                             if k is not None and v is not None))
        return replace(self, thresholds=pairs, default_threshold=default, resolved=True)

    def detector(self) -> str | None:
        """The detector of a score rule (`score_x` -> `x`), else None."""
        c = self.column or ""
        return c[len("score_"):] if c.startswith("score_") else None

    def sql(self, columns: dict[str, str]) -> tuple[str, list]:
        """(boolean SQL expression, parameters) over the `documents` view with `columns`
        ({name: duckdb type}). Raises `RuleError` when the rule names a missing column."""
        if self.flag is not None:
            expr, needs = FLAGS[self.flag]
            if needs not in columns:
                if self.flag == "contaminated":
                    raise RuleError(
                        f"rule {self.text!r}: the store has no contamination results yet (no "
                        f"column {CONTAMINATION_SCORE}); scan with the contamination detector "
                        "first (`auditor scan INPUT --db DB --detectors contamination`)")
                raise RuleError(f"rule {self.text!r}: the store has no column {needs!r}")
            return f"COALESCE({expr}, false)", []
        assert self.column is not None and self.op is not None
        if self.column not in columns:
            known = sorted(c for c in columns if c not in ("snippet", "meta"))
            raise RuleError(f"rule {self.text!r}: no column {self.column!r} in the store; "
                            f"use one of {', '.join(known)} (scores as score:NAME)")
        if self.per_source:
            if not self.resolved:
                raise RuleError(f"rule {self.text!r}: per-source thresholds not read from "
                                "the audit yet (internal: call with_thresholds first)")
            return (f'COALESCE(NOT COALESCE("pre_cutoff", false) AND "{self.column}" '
                    f"{_SQL_OP[self.op]} COALESCE(map_extract(MAP(?::VARCHAR[], ?::DOUBLE[]), "
                    f'"source")[1], ?), false)',
                    [[k for k, _ in self.thresholds], [v for _, v in self.thresholds],
                     self.default_threshold])
        value = _coerce(self, columns[self.column])
        return f'COALESCE("{self.column}" {_SQL_OP[self.op]} ?, false)', [value]


def _coerce(rule: Rule, duck_type: str) -> Any:
    """The literal as the column's type, so DuckDB compares like with like."""
    t = duck_type.upper()
    v = rule.value
    if t.startswith("TIMESTAMP") or t == "DATE":
        if not isinstance(v, str) or not _DATE.match(v):
            raise RuleError(f"rule {rule.text!r}: {rule.column} is a date; compare it with "
                            "YYYY-MM-DD")
        when = dt.datetime.fromisoformat(v.replace("Z", "+00:00").replace(" ", "T"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        return when
    if t in ("DOUBLE", "FLOAT", "REAL", "BIGINT", "INTEGER", "SMALLINT", "HUGEINT") or \
            t.startswith("DECIMAL"):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise RuleError(f"rule {rule.text!r}: {rule.column} is a number; compare it with "
                            "a number")
        return float(v)
    if t == "BOOLEAN":
        if str(v).lower() not in ("true", "false"):
            raise RuleError(f"rule {rule.text!r}: {rule.column} is true/false")
        return str(v).lower() == "true"
    return str(v)


def parse_rule(text: str, action: str) -> Rule:
    """Parse one `--drop`/`--keep` rule; raises `RuleError` saying what is expected."""
    if action not in ("drop", "keep"):
        raise RuleError(f"action must be drop or keep, got {action!r}")
    raw = " ".join(str(text).split())
    if not raw:
        raise RuleError(f"empty --{action} rule")
    if raw.lower() in FLAGS:
        return Rule(action, raw.lower(), flag=raw.lower())
    quote_at = min((i for i in (raw.find("'"), raw.find('"')) if i >= 0), default=len(raw))
    found = [(raw.find(op, 0, quote_at), op) for op in OPERATORS]
    found = [(i, op) for i, op in found if i >= 0]
    if found:
        at, op = min(found, key=lambda f: (f[0], -len(f[1])))
        left, right = raw[:at], raw[at + len(op):]
    else:
        raise RuleError(f"rule {raw!r}: expected NAME OP VALUE (OP one of "
                        f"{' '.join(OPERATORS)}) or one of {', '.join(FLAGS)}")
    name, literal = left.strip(), right.strip()
    m = _NAME.match(name)
    if not m:
        raise RuleError(f"rule {raw!r}: {name!r} is not a column name or score:DETECTOR")
    column = f"score_{m.group(2)}" if m.group(1) else m.group(2)
    quoted = len(literal) >= 2 and literal[0] == literal[-1] and literal[0] in "'\""
    if literal == SOURCE_THRESHOLD:
        if not m.group(1) or op not in (">", ">="):
            raise RuleError(f"rule {raw!r}: {SOURCE_THRESHOLD} goes with a score and > or >=, "
                            f"as in 'score:classifier > {SOURCE_THRESHOLD}'")
        return Rule(action, f"{name} {op} {literal}", column=column, op=op, value=literal,
                    per_source=True)
    if not literal or (not quoted and any(o in literal for o in ("<", ">", "=", "'", '"'))):
        raise RuleError(f"rule {raw!r}: expected one literal after {op!r}")
    return Rule(action, f"{name} {op} {literal}", column=column, op=op, value=_literal(literal))


def _literal(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if _NUMBER.match(text):
        return float(text) if any(c in text for c in ".eE") else int(text)
    return text


def parse_rules(drop: list[str] | tuple[str, ...], keep: list[str] | tuple[str, ...] = ()
                ) -> tuple[Rule, ...]:
    """Drop rules then keep rules, each parsed; the order is kept for the manifest's reasons."""
    return (tuple(parse_rule(t, "drop") for t in drop)
            + tuple(parse_rule(t, "keep") for t in keep))


def view_types(con) -> dict[str, str]:
    """{column: DuckDB type} of the `documents` view."""
    return {row[0]: row[1] for row in con.execute("DESCRIBE documents").fetchall()}


def decision_sql(rules: tuple[Rule, ...], columns: dict[str, str]
                 ) -> tuple[tuple[str, list], tuple[str, list]]:
    """((decision SQL, params), (reasons SQL, params)) for a SELECT over `documents`.

    Reasons are the texts of every rule that matched, prefixed `drop:` or `keep:`, in the order
    the rules were given, then, for a kept document, each drop rule whose column it has no value
    in, prefixed `unjudged:`; the decision is `drop` when a drop rule matched and no keep rule
    did, else `keep`.
    """
    compiled = [(rule, *rule.sql(columns)) for rule in rules]
    reason_parts, reason_params = [], []
    for rule, expr, p in compiled:
        reason_parts.append(f"CASE WHEN {expr} THEN ? END")
        reason_params += [*p, f"{rule.action}: {rule.text}"]
    keeps = [(e, p) for r, e, p in compiled if r.action == "keep"]
    drops = [(e, p) for r, e, p in compiled if r.action == "drop"]
    any_keep = " OR ".join(e for e, _ in keeps) or "false"
    any_drop = " OR ".join(e for e, _ in drops) or "false"
    decision_params = [x for _, p in keeps + drops for x in p]
    decision = (f"CASE WHEN ({any_keep}) THEN 'keep' WHEN ({any_drop}) THEN 'drop' "
                "ELSE 'keep' END")
    # a kept document a drop rule could not judge (no score: a language the detector does
    # not cover; no date) says so: on the crawl folder 70 documents passed a classifier rule
    # unexamined, with no reason in the manifest and no line in the summary
    for rule in rules:
        if rule.action == "drop" and rule.column is not None:
            reason_parts.append(f"CASE WHEN ({decision}) = 'keep' AND \"{rule.column}\" IS NULL "
                                "THEN ? END")
            detector = rule.detector()
            missing = f"no {detector} score" if detector is not None else f"no {rule.column}"
            reason_params += [*decision_params, f"{UNJUDGED}: {rule.text} ({missing})"]
    reasons_sql = (f"list_filter([{', '.join(reason_parts)}]::VARCHAR[], lambda x: x IS NOT NULL)"
                   if reason_parts else "[]::VARCHAR[]")
    return (decision, decision_params), (reasons_sql, reason_params)
