#!/usr/bin/env bash
# Installs what building the crate needs beyond Rust: OpenSSL headers and pkg-config (TLS),
# and the openssl command the TLS tests make their certificates with.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

# tmux: the tests of oslo-listen --top's terminal face run it in one.
if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl \
    && command -v openssl >/dev/null 2>&1 && command -v tmux >/dev/null 2>&1; then
    exit 0
fi
echo "ensure-build-deps: installing pkg-config, libssl-dev, openssl and tmux" >&2
apt_install pkg-config libssl-dev openssl tmux
