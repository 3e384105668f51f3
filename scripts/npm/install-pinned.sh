#!/usr/bin/env bash
# Install one pinned npm package into <repo>/.cache/<folder>, for the tests that run it for
# real offline (OpenCode, Claude Code). Idempotent: does nothing when that version is there.
#
#   scripts/npm/install-pinned.sh opencode-ai 1.18.33 npm-opencode
#   scripts/npm/install-pinned.sh @anthropic-ai/claude-code 2.1.197 npm-claude
set -euo pipefail

package="$1"
want="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix="$(cd "$here/../.." && pwd)/.cache/$3"
installed="$prefix/node_modules/$package/package.json"

if [ -f "$installed" ] && grep -q "\"version\": \"$want\"" "$installed"; then
  echo "$package $want already installed in $prefix"
  exit 0
fi

command -v npm >/dev/null || { echo "npm is not on PATH; install Node.js 20+" >&2; exit 1; }
mkdir -p "$prefix"
npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error \
  "$package@$want" >/dev/null
grep -q "\"version\": \"$want\"" "$installed"
echo "installed $package $want in $prefix"
