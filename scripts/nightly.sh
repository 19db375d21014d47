#!/usr/bin/env bash
# Nightly provenance audit: scan what is new, report, and gate. Meant for cron or a CI job
# (see docs/nightly.md and docs/nightly-audit.yml).
#
# `auditor scan` is incremental: shards already in the store with the same size/mtime (or etag)
# and the same detector versions are skipped, changed shards are rescanned, new ones scanned.
# So running the same command every night only pays for the new data.
#
# Environment (all optional):
#   AUDIT_INPUTS   shards to audit (files, folders, globs, s3://...)   default: data/
#   AUDIT_DB       the store                                          default: audit.duckdb
#   AUDIT_CONFIG   the gates                                          default: examples/auditor.toml
#   AUDIT_OUT      where reports and check results go                 default: reports/nightly/<date>
#   AUDIT_WORKERS  scan processes                                     default: 2
#   AUDIT_SCAN_ARGS extra `auditor scan` flags, e.g. "--license-column license"
#   AUDIT_REPORTS  report formats to write                           default: html json
#   AUDIT_REPORT_ARGS extra `auditor report` flags, e.g. "--weight tokens --top 5"
#
# Exit status: that of `auditor check` (0 pass, 1 a gate failed, 2 could not run); 2 as well
# when the scan itself could not run. A partial scan (some records failed, exit 3) still goes on
# to the check: failed records are in the report's error section, and the gates judge the rest.
set -uo pipefail

INPUTS=${AUDIT_INPUTS:-data/}
DB=${AUDIT_DB:-audit.duckdb}
CONFIG=${AUDIT_CONFIG:-examples/auditor.toml}
OUT=${AUDIT_OUT:-reports/nightly/$(date -u +%Y-%m-%d)}
WORKERS=${AUDIT_WORKERS:-2}
AUDITOR=${AUDITOR:-auditor}  # e.g. "python3 -m auditor"
mkdir -p "$OUT"

# shellcheck disable=SC2086  # AUDITOR, AUDIT_INPUTS, AUDIT_*_ARGS are word lists on purpose
$AUDITOR scan $INPUTS --db "$DB" --workers "$WORKERS" --no-progress --json \
    ${AUDIT_SCAN_ARGS:-} > "$OUT/scan.json"
scan_rc=$?
if [ "$scan_rc" -ne 0 ] && [ "$scan_rc" -ne 3 ]; then
    echo "nightly: scan could not run (exit $scan_rc); see $OUT/scan.json" >&2
    exit 2
fi
[ "$scan_rc" -eq 3 ] && echo "nightly: scan was partial; failed records are listed in the report" >&2

for fmt in ${AUDIT_REPORTS:-html json}; do
    $AUDITOR report --db "$DB" -o "$OUT/audit.$fmt" ${AUDIT_REPORT_ARGS:-} \
        || echo "nightly: $fmt report failed" >&2
done

$AUDITOR check --db "$DB" --config "$CONFIG" \
    --json-out "$OUT/check.json" --junit-out "$OUT/check.xml"
check_rc=$?
echo "nightly: check exit $check_rc; results in $OUT" >&2
exit "$check_rc"
