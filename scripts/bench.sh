#!/usr/bin/env bash
# Runs the benchmark (benches/compare): oslo-notify and oslo-listen side by side with
# amqp-publish, a raw amiquip client and the Python oslo.messaging tools, on one broker.
# Brings up what it needs first. Arguments go to the benchmark, e.g. --quick, --count N,
# --python-count N, --runs N, --json PATH.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

scripts/ensure-build-deps.sh
scripts/ensure-rabbitmq.sh
if ! command -v amqp-publish >/dev/null 2>&1; then
    echo "bench: installing amqp-tools from Debian's packages" >&2
    apt_install amqp-tools
fi
# A second virtual host, for the rows that read two brokers at once (--source).
if command -v rabbitmqctl >/dev/null 2>&1; then
    rabbitmqctl add_vhost oslo-bench-b >/dev/null 2>&1 || true
    rabbitmqctl set_permissions -p oslo-bench-b guest '.*' '.*' '.*' >/dev/null 2>&1 || true
fi
OSLO_PEER_PYTHON=$(scripts/ensure-oslo-venv.sh)
export OSLO_PEER_PYTHON

cargo bench --locked --bench compare -- "$@"
