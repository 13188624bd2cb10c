#!/usr/bin/env bash
# The seed scenario on the local broker (brought up first if needed): start oslo-listen,
# send a notification with oslo-notify, and see it printed. Each command is shown as it
# is run, exactly.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-build-deps.sh
scripts/ensure-rabbitmq.sh
echo 'Building the tools (release) ...'
cargo build --release --locked
PATH="$PWD/target/release:$PATH"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Prints a command as a person would type it (words with anything but letters, digits and
# _./=:,- in single quotes), with a leading "$ ".
show() {
    local line='$' word
    for word in "$@"; do
        if [[ $word =~ ^[A-Za-z0-9_./=:,-]+$ ]]; then
            line+=" $word"
        else
            line+=" '${word//\'/\'\\\'\'}'"
        fi
    done
    printf '%s\n' "$line"
}

listen=(oslo-listen --topic notifications --event-type just.testing --count 1 --timeout 60)
show "${listen[@]}"
"${listen[@]}" 2>"$log" &
listener=$!
until grep -q 'listening on' "$log"; do
    if ! kill -0 "$listener" 2>/dev/null; then cat "$log" >&2; exit 1; fi
    sleep 0.1
done

notify=(oslo-notify info just.testing '{"heavy":"payload"}')
show "${notify[@]}"
"${notify[@]}"
wait "$listener"
