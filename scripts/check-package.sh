#!/usr/bin/env bash
# Builds the Debian package and checks it the way an operator meets it: installs it with
# dpkg -i, runs both tools from /usr/bin, finds the man page, completes an option in an
# interactive bash that loads completions from the system folder, verifies the exporter's
# systemd unit (installed disabled) and its settings, compares the installed files with the
# expected list, then purges the package and checks nothing is left.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

fail() {
    echo "check-package: $*" >&2
    exit 1
}

if dpkg-query -W -f='${Status}' oslo-notify 2>/dev/null | grep -q "ok installed" \
    && [ "${CI:-}" != true ]; then
    echo "check-package: skipped: the oslo-notify package is installed here already" \
        "(dpkg -r oslo-notify to run this check)" >&2
    exit 0
fi

deb=$(scripts/package.sh)
[ -f "$deb" ] || fail "scripts/package.sh made no package"

# What the check itself uses: man-db for man -w, bash-completion's loader, tmux for a
# real interactive shell.
missing=()
command -v man >/dev/null 2>&1 || missing+=(man-db)
[ -f /usr/share/bash-completion/bash_completion ] || missing+=(bash-completion)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
[ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"

depends=$(dpkg-deb -f "$deb" Depends)
case "$depends" in
    *libssl*) ;;
    *) fail "Depends does not name libssl: $depends" ;;
esac
[ "$(dpkg-deb -f "$deb" Section)" = net ] || fail "section is not net"

session=oslo-pkg-$$
cleanup() {
    tmux kill-session -t "$session" 2>/dev/null || true
    as_root dpkg --purge oslo-notify >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Documentation a minimal image leaves out (dpkg path-exclude) is installed all the same.
as_root dpkg -i --path-include='/usr/share/man/*' --path-include='/usr/share/doc/*' \
    "$deb" >/dev/null

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
for tool in oslo-notify oslo-listen; do
    said=$(/usr/bin/$tool --version)
    [ "$said" = "$tool $version" ] || fail "/usr/bin/$tool --version said: $said"
done

page=$(man -w oslo-listen)
[ "$page" = /usr/share/man/man1/oslo-listen.1.gz ] || fail "man -w oslo-listen: $page"
man -w oslo-notify >/dev/null || fail "no man page for oslo-notify"
zcat /usr/share/man/man1/oslo-listen.1.gz | grep -q '^\.TH oslo-listen' \
    || fail "the oslo-listen man page is not roff"

# A person's shell: bash-completion loads the installed script when oslo-listen is first
# completed; two tabs list the candidates (--prefetch and --priority).
tmux new-session -d -s "$session" -x 200 -y 50 "env -i PATH=/usr/bin:/bin TERM=xterm bash --norc --noprofile"
tmux send-keys -t "$session" '. /usr/share/bash-completion/bash_completion' Enter
sleep 1
tmux send-keys -t "$session" 'oslo-listen --pr' Tab
sleep 1
tmux send-keys -t "$session" Tab
screen=""
for _ in $(seq 1 50); do
    screen=$(tmux capture-pane -p -t "$session")
    case "$screen" in *--prefetch*--priority*|*--priority*--prefetch*) break ;; esac
    sleep 0.1
done
case "$screen" in
    *--prefetch*--priority*|*--priority*--prefetch*) ;;
    *) fail "bash did not list the completions of 'oslo-listen --pr'; the screen: $screen" ;;
esac
tmux kill-session -t "$session"

# The exporter's unit: installed, disabled, and sound as systemd reads it.
unit=/lib/systemd/system/oslo-listen.service
[ -f "$unit" ] || fail "no $unit"
verified=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify $unit: $verified"
[ -z "$verified" ] || fail "systemd-analyze verify $unit said: $verified"
[ ! -e /etc/systemd/system/multi-user.target.wants/oslo-listen.service ] \
    || fail "the unit is enabled on install"
[ "$(stat -c %a /etc/default/oslo-listen)" = 600 ] || fail "/etc/default/oslo-listen is not 600"
dpkg-query -W -f='${Conffiles}' oslo-notify | grep -q /etc/default/oslo-listen \
    || fail "/etc/default/oslo-listen is not a conffile"
# Its settings, as the unit passes them, make a command oslo-listen accepts (not exit 2;
# it cannot reach the broker given here, exit 3).
code=0
(
    set -a
    # shellcheck source=/dev/null
    . /etc/default/oslo-listen
    set +a
    # shellcheck disable=SC2086
    exec /usr/bin/oslo-listen --format none --metrics 127.0.0.1:0 $OSLO_LISTEN_ARGS \
        --transport-url rabbit://guest:guest@127.0.0.1:1/ --timeout 0.5 >/dev/null 2>&1
) || code=$?
[ "$code" -eq 3 ] || fail "the default settings of /etc/default/oslo-listen: exit $code, not 3"

expected="/etc/default/oslo-listen
/lib/systemd/system/oslo-listen.service
/usr/bin/oslo-listen
/usr/bin/oslo-notify
/usr/share/bash-completion/completions/oslo-listen
/usr/share/bash-completion/completions/oslo-notify
/usr/share/doc/oslo-notify/README.md
/usr/share/doc/oslo-notify/copyright
/usr/share/doc/oslo-notify/oslo-listen-dashboard.json
$(for page in docs/*.md; do echo "/usr/share/doc/oslo-notify/$page"; done)
/usr/share/fish/vendor_completions.d/oslo-listen.fish
/usr/share/fish/vendor_completions.d/oslo-notify.fish
/usr/share/man/man1/oslo-listen.1.gz
/usr/share/man/man1/oslo-notify.1.gz
/usr/share/zsh/vendor-completions/_oslo-listen
/usr/share/zsh/vendor-completions/_oslo-notify"
expected=$(echo "$expected" | sort)
installed=$(dpkg -L oslo-notify | while read -r path; do
    [ -d "$path" ] || echo "$path"
done | sort)
[ "$installed" = "$expected" ] \
    || fail "dpkg -L lists other files than expected:$(diff <(echo "$expected") <(echo "$installed"))"

as_root dpkg --purge oslo-notify >/dev/null
trap - EXIT
for path in $expected; do
    [ ! -e "$path" ] || fail "$path is left after dpkg --purge"
done
echo "check-package: $(basename "$deb") installs, works and removes cleanly"
