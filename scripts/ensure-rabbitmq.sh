#!/usr/bin/env bash
# Makes sure a RabbitMQ broker answers AMQP on 127.0.0.1:5672 (guest/guest).
# Does nothing when one already answers; otherwise installs Debian's rabbitmq-server if it
# is missing, starts it detached and waits until it has booted.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

port=5672
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

if answers; then
    exit 0
fi


if ! command -v rabbitmq-server >/dev/null 2>&1; then
    echo "ensure-rabbitmq: installing rabbitmq-server from Debian's packages" >&2
    apt_install rabbitmq-server
fi

# The package's install step may have started it already.
if ! answers; then
    echo "ensure-rabbitmq: starting rabbitmq-server" >&2
    as_root rabbitmq-server -detached
fi

for _ in $(seq 1 120); do
    if answers && as_root rabbitmqctl await_startup --timeout 5 >/dev/null 2>&1; then
        echo "ensure-rabbitmq: RabbitMQ answers on 127.0.0.1:$port" >&2
        exit 0
    fi
    sleep 1
done
echo "ensure-rabbitmq: RabbitMQ did not come up on 127.0.0.1:$port within 2 minutes" >&2
exit 1
