#!/usr/bin/env bash
# Install the real OpenCode agent (npm opencode-ai, pinned) that
# tests/capture/agents/test_opencode.py runs offline against a fake LLM, into
# <repo>/.cache/npm-opencode. Idempotent: does nothing when that version is already installed.
#
#   scripts/npm/install-opencode.sh        # CI calls this before pytest
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
prefix="$root/.cache/npm-opencode"
want="1.18.33"
installed="$prefix/node_modules/opencode-ai/package.json"
binary="$prefix/node_modules/.bin/opencode"

if [ -f "$installed" ] && [ -x "$binary" ] && grep -q "\"version\": \"$want\"" "$installed"; then
  echo "opencode-ai $want already installed in $prefix"
  exit 0
fi

command -v npm >/dev/null || { echo "npm is not on PATH; install Node.js 20+" >&2; exit 1; }
mkdir -p "$prefix"
[ -f "$prefix/package.json" ] || echo '{"private": true}' >"$prefix/package.json"
npm install --prefix "$prefix" --no-audit --no-fund --silent --save-exact "opencode-ai@$want"
grep -q "\"version\": \"$want\"" "$installed"
echo "installed opencode-ai $want in $prefix"
