"""Acting on the audit: what to keep, written so the pipelines people already run can use it.

- `rules`      `--drop`/`--keep` rules in a small safe grammar, compiled to parameterised SQL
- `manifest`   the per-document decision (shard, offset, id, decision, reasons) as Parquet
- `shards`     the kept records written back out (Parquet, JSON lines), streaming, resumable
- `attributes` dolma attribute files and a datatrove-readable Parquet of per-document scores
- `tradeoff`   what a score threshold costs (human documents lost) and buys (synthetic left)
- `mix`        per-source weights that keep a mixture within a collapse tolerance

Sits after `collapse`, beside `report` and `check`: it reads the store, estimates and the
collapse model, and nothing reads it but the CLI.
"""
