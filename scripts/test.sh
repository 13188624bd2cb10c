#!/usr/bin/env bash
# Runs every check and test, bringing up what they need first: build dependencies, RabbitMQ,
# Prometheus (for the tests of --metrics), and a virtualenv with the reference oslo.messaging
# for the interop tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-build-deps.sh
scripts/ensure-rabbitmq.sh
scripts/ensure-prometheus.sh
OSLO_PEER_PYTHON=$(scripts/ensure-oslo-venv.sh)
export OSLO_PEER_PYTHON

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
# The library's documentation: every link resolves, and nothing private is linked.
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps
cargo test --locked
# The interop matrix against the Python peer (ignored by a plain `cargo test`).
cargo test --locked --test integration -- --ignored interop::
# Failover on a three-node cluster of the test's own (the tools', and the library's listener),
# one scenario at a time so that the failover times it prints are not skewed by the other.
cargo test --locked --test integration -- --ignored --nocapture --test-threads 1 cluster:: library::
# Two minutes of traffic through broken links: no loss, no growth.
scripts/soak.sh 2
# The Debian package, installed into this machine, checked and removed again: in CI, or on
# a developer's machine when asked (OSLO_CHECK_PACKAGE=1), as it changes the system.
if [ "${CI:-}" = true ] || [ "${OSLO_CHECK_PACKAGE:-}" = 1 ]; then
    scripts/check-package.sh
else
    echo "test.sh: the package check (installs into this system) runs in CI;" \
        "OSLO_CHECK_PACKAGE=1 runs it here" >&2
fi
# The benchmark in its quick mode: proves it still runs; speed is not judged here.
scripts/bench.sh --quick --json target/bench/quick.json
