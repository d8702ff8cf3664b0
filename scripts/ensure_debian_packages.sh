#!/usr/bin/env bash
# Install the Debian packages unipay uses (tests and demo) when they are missing.
# Idempotent and fast when everything is there; uses sudo only when not root.
# Usage: scripts/ensure_debian_packages.sh pkg [pkg ...]
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "unipay: Debian packages missing (${missing[*]}) and no sudo; install them as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
echo "unipay: installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
