#!/usr/bin/env bash
# The seed scenario on the local broker (brought up first if needed): start oslo-listen,
# send a notification with oslo-notify, and see it printed.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-build-deps.sh
scripts/ensure-rabbitmq.sh
cargo build --release --quiet --locked
bin=target/release
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo '$ oslo-listen --topic notifications --count 1 &'
"$bin/oslo-listen" --topic notifications --event-type just.testing --count 1 --timeout 60 2>"$log" &
listener=$!
until grep -q 'listening on' "$log"; do
    if ! kill -0 "$listener" 2>/dev/null; then cat "$log" >&2; exit 1; fi
    sleep 0.1
done

echo '$ oslo-notify info just.testing '\''{"heavy":"payload"}'\'''
"$bin/oslo-notify" info just.testing '{"heavy":"payload"}'
wait "$listener"
