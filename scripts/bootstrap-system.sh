#!/usr/bin/env bash
# Installs the Debian and npm packages the test suite's real servers need, once.
# Idempotent: a package already present is left alone (no upgrades behind your back).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(postgresql pgbouncer prometheus prometheus-alertmanager git chromium)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends --no-upgrade \
    "${missing[@]}" >/dev/null
fi

if [ -f package.json ] && [ ! -f node_modules/.package-lock.json ]; then
  echo "bootstrap: installing npm packages from package-lock.json"
  npm ci --no-audit --no-fund --silent
fi
