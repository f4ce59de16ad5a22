#!/usr/bin/env bash
# Installs the system packages Slipway needs on Debian 12.
#   scripts/install-deps.sh          what the server needs (build + run)
#   scripts/install-deps.sh --test   plus what the test suite drives (podman, skopeo, PostgreSQL, ...)
# Skips apt entirely when everything is already installed.
set -euo pipefail
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

# buildah, podman and busybox-static also make the quick start's image; jq reads the README's API examples.
# uidmap (newuidmap/newgidmap) and runc: rootless builds, the workers' default isolation.
# gdb (tests only) lets scripts/watchdog.py print the stacks of a hung test run.
PKGS=(pkg-config libgit2-dev libssh2-1-dev libarchive-dev libsqlite3-dev libpq-dev
      buildah podman skopeo runc crun uidmap busybox-static git curl jq ca-certificates qemu-user-static)
if [ "${1:-}" = "--test" ]; then
  # haproxy and iproute2: the cluster test (Tests/e2e/test_cluster.py) puts replicas behind
  # examples/haproxy.cfg, every process in a network namespace of its own. zstd: the scanner's
  # layer tests compress a layer the way zstd-compressed OCI layers are. rpm (rpm, rpmbuild): the
  # scanner's tests build packages and write a real rpmdb.sqlite with them.
  PKGS+=(postgresql python3-pytest python3-aiosmtpd openssl chromium docker-registry wrk openssh-server gdb
         haproxy iproute2 zstd rpm)
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

# Multi-architecture builds (#18): a worker runs other platforms' RUN steps under qemu-user
# emulation through binfmt_misc. Debian's qemu-user-static registers its entries through
# systemd-binfmt at install, which does nothing where systemd is not running (containers, CI):
# mount binfmt_misc if missing and register the qemu entries that are not there. Failures are
# tolerated (no privileges for the mount): the worker then reports no emulated platforms.
if [ -d /proc/sys/fs/binfmt_misc ] && [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
fi
if [ -e /proc/sys/fs/binfmt_misc/register ]; then
  for conf in /usr/lib/binfmt.d/qemu-*.conf; do
    [ -e "$conf" ] || continue
    name="$(basename "$conf" .conf)"
    [ -e "/proc/sys/fs/binfmt_misc/$name" ] && continue
    if [ -x /usr/lib/systemd/systemd-binfmt ]; then
      $SUDO /usr/lib/systemd/systemd-binfmt "$conf" 2>/dev/null || true
    elif command -v update-binfmts >/dev/null 2>&1; then
      $SUDO update-binfmts --enable "$name" 2>/dev/null || true
    fi
  done
fi
# The multi-architecture e2e test's arm64 base image is made offline from Debian's
# busybox-static:arm64 package, downloaded (not installed) into a cache the test reads.
BUSYBOX_ARM64_DIR=/var/cache/slipway-test
if [ "${1:-}" = "--test" ] && ! ls "$BUSYBOX_ARM64_DIR"/busybox-static_*_arm64.deb >/dev/null 2>&1; then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
  fi
  $SUDO apt-get update -qq
  $SUDO mkdir -p "$BUSYBOX_ARM64_DIR"
  # apt-get download writes into the working directory (it warns that root, not _apt, fetches).
  (cd "$BUSYBOX_ARM64_DIR" && $SUDO apt-get download -qq busybox-static:arm64 >/dev/null 2>&1)
fi

# The e2e suite runs under whichever python3 is first on PATH (a pyenv one may not see Debian's
# python3-* packages): make sure that interpreter has pytest and aiosmtpd (the SMTP sink).
if [ "${1:-}" = "--test" ] && ! python3 -c 'import pytest, aiosmtpd' 2>/dev/null; then
  python3 -m pip install -q pytest aiosmtpd >&2
fi
# moto_server: a real S3 API on loopback for the S3 storage driver's tests (MotoServer, which
# also provisions it with boto3, a moto dependency) and the cluster test's storage.
if [ "${1:-}" = "--test" ] && ! command -v moto_server >/dev/null 2>&1; then
  python3 -m pip install -q 'moto[server]' >&2
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi  # the moto_server shim
fi
# A real OpenID Connect provider for the identity tests (Tests/e2e/oidc_provider.py): PyPI's
# oidc-provider-mock, authlib + flask under uvicorn. Pinned with the set moto_server was checked
# to keep working with (the provider upgrades joserfc, which moto also imports).
if [ "${1:-}" = "--test" ] && ! python3 -c 'import oidc_provider_mock' 2>/dev/null; then
  python3 -m pip install -q 'oidc-provider-mock==0.3.4' 'authlib==1.9.10' 'joserfc==1.8.0' 'uvicorn==0.55.0' \
    'httpx==0.29.0' 'httpcore==1.0.9' 'h11==0.16.0' 'htpy==26.5.1' 'flask==3.1.3' 'cryptography==48.0.0' >&2
fi
# axe-core for the web UI's accessibility test: the copy bundled by axe-selenium-python, whose Axe
# class the test drives over Chromium's DevTools pipe (so Selenium itself is not needed).
if [ "${1:-}" = "--test" ] && ! python3 -c 'import axe_selenium_python' 2>/dev/null; then
  python3 -m pip install -q --no-deps axe-selenium-python >&2
fi
# Quay's own tooling for test_quay_tooling.py and the API fuzzer for test_api_fuzz.py, pinned.
# pubtools-quay hard-requires kerberos, qpid-proton, paramiko, docker, pubtools-sign, ... for
# its push commands; its QuayClient/QuayApiClient need only requests and pubtools (pluggy), so it
# goes in without its dependencies. oras is the ORAS project's Python SDK (the oras CLI has no
# Debian package).
if [ "${1:-}" = "--test" ] && ! python3 -c 'import pubtools._quay.quay_client, docker_registry_client_async, oras.client, schemathesis' 2>/dev/null; then
  python3 -m pip install -q 'schemathesis==4.32.5' 'docker-registry-client-async==1.0.3' 'oras==0.2.43' \
    'pubtools==1.4.5' requests >&2
  python3 -m pip install -q --no-deps 'pubtools-quay==0.38.0' >&2
fi

if ! command -v swift >/dev/null 2>&1; then
  for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do [ -x "$d/swift" ] && export PATH="$d:$PATH"; done
fi
# No toolchain yet: install swift.org's Debian 12 release into /opt/swift (signature checked
# with swift.org's published keys). SWIFT_VERSION picks another release.
if ! command -v swift >/dev/null 2>&1; then
  SWIFT_VERSION="${SWIFT_VERSION:-6.3.1}"
  arch="$(uname -m)"; suffix=""; [ "$arch" = aarch64 ] && suffix="-aarch64"
  name="swift-${SWIFT_VERSION}-RELEASE-debian12${suffix}"
  url="https://download.swift.org/swift-${SWIFT_VERSION}-release/debian12${suffix}/swift-${SWIFT_VERSION}-RELEASE/${name}.tar.gz"
  echo "Swift not found: installing ${name} into /opt/swift" >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    binutils gnupg2 libc6-dev libcurl4-openssl-dev libedit2 libgcc-12-dev libpython3-dev libsqlite3-0 \
    libstdc++-12-dev libxml2-dev libz3-dev tzdata unzip zlib1g-dev >/dev/null
  tmp="$(mktemp -d)"
  curl -fsSL -o "$tmp/swift.tar.gz" "$url"
  curl -fsSL -o "$tmp/swift.tar.gz.sig" "$url.sig"
  curl -fsSL https://swift.org/keys/all-keys.asc | GNUPGHOME="$tmp" gpg --batch --quiet --import
  GNUPGHOME="$tmp" gpg --batch --quiet --verify "$tmp/swift.tar.gz.sig" "$tmp/swift.tar.gz"
  $SUDO mkdir -p /opt/swift
  $SUDO tar -xzf "$tmp/swift.tar.gz" -C /opt/swift --strip-components=1
  rm -rf "$tmp"
  export PATH="/opt/swift/usr/bin:$PATH"
fi
command -v swift >/dev/null 2>&1 || { echo "Swift 6 toolchain not found: install it from swift.org (or put it on PATH) and re-run" >&2; exit 1; }
