#!/usr/bin/env bash
# Makes sure Prometheus and promtool are installed (Debian's prometheus package): the tests
# of oslo-listen --metrics start a Prometheus of their own, with a configuration of their
# own, and ask its HTTP API; promtool lints what is scraped.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi
echo "ensure-prometheus: installing prometheus from Debian's packages" >&2
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    prometheus >/dev/null
