#!/usr/bin/env bash
# Runs the benchmark (benches/compare): oslo-notify and oslo-listen side by side with
# amqp-publish, a raw amiquip client and the Python oslo.messaging tools, on one broker.
# Brings up what it needs first. Arguments go to the benchmark, e.g. --quick, --count N,
# --python-count N, --runs N, --json PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-build-deps.sh
scripts/ensure-rabbitmq.sh
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
if ! command -v amqp-publish >/dev/null 2>&1; then
    echo "bench: installing amqp-tools from Debian's packages" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq amqp-tools >/dev/null
fi
OSLO_PEER_PYTHON=$(scripts/ensure-oslo-venv.sh)
export OSLO_PEER_PYTHON

cargo bench --locked --bench compare -- "$@"
