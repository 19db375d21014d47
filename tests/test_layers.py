"""The layers hold (issue 11, item 2): data flows readers -> detectors -> store -> scan ->
estimate -> collapse -> audit -> report/check/act -> demo -> cli, and no module imports a later
layer than its own, including imports inside functions (the ones a habit misses). One table,
below, says which layer each module is in; a new package must be placed in it to pass."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Module prefix -> layer, lowest first. The longest matching prefix decides.
LAYERS: dict[str, int] = {
    "auditor": 0,  # the package root: version only
    "auditor.records": 0,
    "auditor.output_files": 0,
    "auditor.jit": 0,  # compiling numba kernels, for any layer
    "auditor.provenance": 1,
    "auditor.readers": 2,
    # the contamination matcher (tokens, n-gram index, matching) is a detector's engine
    "auditor.contamination": 3,
    "auditor.contamination.tokens": 3,
    "auditor.contamination.index": 3,
    "auditor.contamination.match": 3,
    "auditor.contamination.items": 3,
    "detectors": 4,
    "auditor.store": 5,
    "auditor.contamination.benchmarks": 6,  # benchmarks added to a store
    "auditor.contamination.results": 7,
    "auditor.contamination.gate": 7,
    "auditor.scan": 6,
    "auditor.estimate": 7,
    "auditor.collapse": 8,
    "auditor.audit": 9,
    "auditor.report": 10,
    "auditor.check": 10,
    "auditor.act": 10,
    "auditor.demo": 11,
    "auditor.cli": 12,
    "auditor.__main__": 12,
}


def layer_of(module: str) -> int | None:
    best = None
    for prefix in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > len(best)):
            best = prefix
    return None if best is None else LAYERS[best]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from auditor import audit` imports the module auditor.audit
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def sources() -> list[Path]:
    return sorted(p for pkg in ("auditor", "detectors") for p in (REPO / pkg).rglob("*.py"))


def test_every_module_has_a_layer():
    unplaced = [module_name(p) for p in sources() if layer_of(module_name(p)) is None]
    assert not unplaced, unplaced


def violations(path: Path, module: str) -> list[str]:
    """Imports in `path` (the source of `module`) of a later layer than the module's own."""
    mine = layer_of(module)
    bad = []
    for line, target in imports(path):
        theirs = layer_of(target)
        if theirs is not None and mine is not None and theirs > mine:
            bad.append(f"{module}:{line} (layer {mine}) imports {target} (layer {theirs})")
    return bad


def test_no_import_up_the_stack():
    bad = [v for path in sources() for v in violations(path, module_name(path))]
    assert not bad, "imports up the stack:\n" + "\n".join(bad)


def test_the_rule_catches_a_violation(tmp_path):
    """The checker itself: a reader importing the store inside a function is reported, the
    other way round is not."""
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from auditor.store.catalogue import open_store\n")
    assert violations(src, "auditor.readers.jsonl") == [
        "auditor.readers.jsonl:2 (layer 2) imports auditor.store.catalogue.open_store (layer 5)"]
    assert violations(src, "auditor.cli.scan") == []
