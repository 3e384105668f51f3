#!/usr/bin/env bash
# Debian's chromium and chromium-driver, for the dashboard's browser tests
# (tests/receiver/test_dashboard_browser.py). Idempotent and quiet: does nothing when both
# are installed; otherwise installs them with apt (needs root, or sudo without a password).
# The tests never download a browser; without these packages they skip and say why.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: no apt-get here; install chromium and chromedriver yourself" \
    "(the browser tests skip without them)" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    echo "install-chromium: not root and no passwordless sudo; the browser tests will skip" >&2
    exit 0
  fi
fi
echo "== installing chromium and chromium-driver (apt)"
export DEBIAN_FRONTEND=noninteractive
# apt's chatter (debconf notes included) is shown only when a step fails.
for step in "update" "install -y --no-install-recommends chromium chromium-driver"; do
  # shellcheck disable=SC2086  # $step is deliberately split into apt-get's arguments
  if ! output=$($sudo apt-get -qq $step 2>&1); then
    echo "$output" >&2
    echo "install-chromium: apt-get $step failed" >&2
    exit 1
  fi
done
