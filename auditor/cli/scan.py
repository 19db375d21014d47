"""CLI commands for this area (owned by its issue; placeholder until then)."""

COMMANDS: list = []
