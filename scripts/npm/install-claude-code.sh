#!/usr/bin/env bash
# Install the real Claude Code CLI that tests/capture/agents/test_claude_code.py drives
# offline: @anthropic-ai/claude-code 2.1.197 (the newest release that runs on Node 20) into
# <repo>/.cache/npm-claude. Idempotent: does nothing when that version is already installed.
#
#   scripts/npm/install-claude-code.sh        # scripts/test.sh calls this before pytest
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
prefix="$root/.cache/npm-claude"
want="2.1.197"
installed="$prefix/node_modules/@anthropic-ai/claude-code/package.json"

if [ -f "$installed" ] && grep -q "\"version\": \"$want\"" "$installed"; then
  echo "@anthropic-ai/claude-code $want already installed in $prefix"
  exit 0
fi

command -v npm >/dev/null || { echo "npm is not on PATH; install Node.js 20+" >&2; exit 1; }
mkdir -p "$prefix"
npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error \
  "@anthropic-ai/claude-code@$want" >/dev/null
grep -q "\"version\": \"$want\"" "$installed"
echo "installed @anthropic-ai/claude-code $want in $prefix"
