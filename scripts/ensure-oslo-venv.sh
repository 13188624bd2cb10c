#!/usr/bin/env bash
# Makes a virtualenv with the reference oslo.messaging from PyPI for the interop tests, and
# prints its python. Cached between runs in $OSLO_VENV (default ~/.cache/oslo-notify).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

version=${OSLO_MESSAGING_VERSION:-18.3.1}
venv=${OSLO_VENV:-$HOME/.cache/oslo-notify/venv-oslo.messaging-$version}
python=$venv/bin/python

if [ -x "$python" ] && "$python" -c 'import oslo_messaging, oslo_context' 2>/dev/null; then
    echo "$python"
    exit 0
fi

if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    echo "ensure-oslo-venv: installing python3-venv from Debian's packages" >&2
    apt_install python3 python3-venv
fi

echo "ensure-oslo-venv: creating $venv with oslo.messaging $version" >&2
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "oslo.messaging==$version" >&2
echo "$python"
