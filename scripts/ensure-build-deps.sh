#!/usr/bin/env bash
# Installs what building the crate needs beyond Rust: OpenSSL headers and pkg-config (TLS),
# and the openssl command the TLS tests make their certificates with.
set -euo pipefail

if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl \
    && command -v openssl >/dev/null 2>&1; then
    exit 0
fi
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
echo "ensure-build-deps: installing pkg-config, libssl-dev and openssl" >&2
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pkg-config libssl-dev openssl >/dev/null
