#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then lint, types, tests.
#   bash scripts/test.sh            (extra arguments go to pytest, e.g. -k spool)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$python" -m venv .venv
fi
echo "== installing heliograph and test dependencies"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
echo "== installing the npm client used by the conformance test"
bash scripts/npm/install.sh
echo "== installing OpenCode for the agent end-to-end test"
bash scripts/npm/install-pinned.sh opencode-ai 1.18.33 npm-opencode
echo "== installing Claude Code for its end-to-end test"
bash scripts/npm/install-pinned.sh @anthropic-ai/claude-code 2.1.197 npm-claude  # the newest that runs on Node 20
echo "== installing chromium for the dashboard's browser tests (if missing)"
bash scripts/install-chromium.sh

echo "== ruff"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"
