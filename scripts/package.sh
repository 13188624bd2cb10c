#!/usr/bin/env bash
# Builds the Debian package target/debian/oslo-notify_<version>-1_<arch>.deb: both binaries,
# their man pages and bash, zsh and fish completions (generated here by the binaries' own
# --man and --completions), README and the license. Prints the package's path.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

scripts/ensure-build-deps.sh
# dpkg-shlibdeps computes the package's dependencies from the binaries.
command -v dpkg-shlibdeps >/dev/null 2>&1 || apt_install dpkg-dev
if ! cargo deb --version >/dev/null 2>&1; then
    echo "package: installing cargo-deb from crates.io" >&2
    cargo install cargo-deb --locked --quiet
fi

cargo build --release --locked --bins --quiet

assets=target/package
rm -rf "$assets"
mkdir -p "$assets"/{man,bash,zsh,fish}
for tool in oslo-notify oslo-listen; do
    bin=target/release/$tool
    "$bin" --man > "$assets/man/$tool.1"
    "$bin" --completions bash > "$assets/bash/$tool"
    "$bin" --completions zsh > "$assets/zsh/_$tool"
    "$bin" --completions fish > "$assets/fish/$tool.fish"
done

cargo deb --no-build --locked --quiet >/dev/null
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
ls target/debian/oslo-notify_"$version"-1_*.deb
