"""The data layers hold (issue 11, item 2, for readers, store and scan): readers import
neither the store nor the scan, the store does not import the scan; imports inside functions
count too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

AUDITOR = Path(__file__).resolve().parents[1] / "auditor"

#: package -> packages it must never import (later stages of the flow)
FORBIDDEN = {
    "readers": ("auditor.store", "auditor.scan", "auditor.estimate", "auditor.collapse",
                "auditor.report", "auditor.check", "auditor.cli", "detectors"),
    "provenance": ("auditor.readers", "auditor.store", "auditor.scan", "auditor.estimate",
                   "auditor.report", "auditor.cli"),
    "store": ("auditor.scan", "auditor.estimate", "auditor.collapse", "auditor.report",
              "auditor.check", "auditor.cli"),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):  # every import, at module level or inside a function
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.lineno, node.module))
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_up_the_stack(package):
    bad = []
    for path in sorted((AUDITOR / package).rglob("*.py")):
        for line, module in imported_modules(path):
            if any(module == f or module.startswith(f + ".") for f in FORBIDDEN[package]):
                bad.append(f"{path.relative_to(AUDITOR.parent)}:{line} imports {module}")
    assert not bad, "\n".join(bad)
