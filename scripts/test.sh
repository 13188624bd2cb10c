#!/usr/bin/env bash
# Runs every check and test, bringing up what they need first (RabbitMQ, build dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-build-deps.sh
scripts/ensure-rabbitmq.sh

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
