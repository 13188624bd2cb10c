#!/usr/bin/env bash
# Sends the seed notification to the local broker, bringing the broker up first if needed,
# and shows it waiting in the notifications.info queue.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-build-deps.sh
scripts/ensure-rabbitmq.sh
cargo build --release --quiet --locked

echo '$ oslo-notify info just.testing '\''{"heavy":"payload"}'\'''
./target/release/oslo-notify info just.testing '{"heavy":"payload"}'

echo
echo '$ rabbitmqctl list_queues name messages  # notifications.info holds it until it is read'
rabbitmqctl list_queues -q name messages 2>/dev/null | grep -E '^(name|notifications\.info)\b' || true
