#!/usr/bin/env bash
# Installs the system packages Slipway needs on Debian 12.
#   scripts/install-deps.sh          what the server needs (build + run)
#   scripts/install-deps.sh --test   plus what the test suite drives (podman, skopeo, PostgreSQL, ...)
# Skips apt entirely when everything is already installed.
set -euo pipefail
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

PKGS=(pkg-config libgit2-dev libssh2-1-dev libarchive-dev libsqlite3-dev libpq-dev
      buildah podman skopeo runc crun busybox-static git curl ca-certificates)
if [ "${1:-}" = "--test" ]; then
  PKGS+=(postgresql python3-pytest python3-aiosmtpd openssl chromium docker-registry wrk jq openssh-server)
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The e2e suite runs under whichever python3 is first on PATH (a pyenv one may not see Debian's
# python3-* packages): make sure that interpreter has pytest and aiosmtpd (the SMTP sink).
if [ "${1:-}" = "--test" ] && ! python3 -c 'import pytest, aiosmtpd' 2>/dev/null; then
  python3 -m pip install -q pytest aiosmtpd >&2
fi

if ! command -v swift >/dev/null 2>&1; then
  for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do [ -x "$d/swift" ] && export PATH="$d:$PATH"; done
fi
command -v swift >/dev/null 2>&1 || { echo "Swift 6 toolchain not found: install it from swift.org (or put it on PATH) and re-run" >&2; exit 1; }
