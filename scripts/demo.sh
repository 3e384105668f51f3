#!/usr/bin/env bash
# Heliograph's main job on its embedded default, from a fresh clone: install, then start the
# local receiver, log a sample session, deliver it and show what arrived (no account, no cloud).
#   bash scripts/demo.sh                 (add --keep-serving to leave the receiver running)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/heliograph demo "$@"
