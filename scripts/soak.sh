#!/usr/bin/env bash
# The soak: oslo-notify --lines and oslo-listen --shared run for MINUTES (default 2) through
# the tests' fault proxy to a RabbitMQ node of their own, the link broken every few seconds
# in turn (silent partition, reset, refused). A line a minute: sent, printed, lost,
# duplicates, RSS and open files of each tool. Fails on any loss, or on open files or RSS
# (beyond 2 MiB) grown after the first minute.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-2}
scripts/ensure-build-deps.sh
scripts/ensure-rabbitmq.sh
OSLO_SOAK_MINUTES=$minutes cargo test --locked --release --test integration -- \
    --ignored --exact soak::soak --nocapture
