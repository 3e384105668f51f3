#!/usr/bin/env bash
# Install the npm client that tests/conformance compares Heliograph against:
# @helicone/helpers 1.8.3 (and its peer openai), pinned by package-lock.json, into
# <repo>/.cache/npm. Idempotent: does nothing when that version is already installed.
#
#   scripts/npm/install.sh        # CI calls this before pytest
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
prefix="$root/.cache/npm"
want="1.8.3"
installed="$prefix/node_modules/@helicone/helpers/package.json"

if [ -f "$installed" ] && grep -q "\"version\": \"$want\"" "$installed"; then
  echo "@helicone/helpers $want already installed in $prefix"
  exit 0
fi

command -v npm >/dev/null || { echo "npm is not on PATH; install Node.js 20+" >&2; exit 1; }
mkdir -p "$prefix"
cp "$here/package.json" "$here/package-lock.json" "$prefix/"
npm ci --prefix "$prefix" --no-audit --no-fund
grep -q "\"version\": \"$want\"" "$installed"
echo "installed @helicone/helpers $want in $prefix"
