#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, when missing.
set -euo pipefail
pkgs=(redis-server postgresql prometheus prometheus-alertmanager curl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then echo "install-deps: run as root to install ${missing[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || { echo "install-deps: Go 1.26 is required (expected at /usr/local/go)" >&2; exit 1; }
