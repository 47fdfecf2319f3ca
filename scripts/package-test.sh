#!/usr/bin/env bash
# Installs the Debian package on this machine, starts the service the way
# its systemd unit does, checks /readyz, and removes the package.
#
#   scripts/package-test.sh [BINARY]     # default: target/debug/guichet
#
# Needs root (dpkg). CI's machines run no systemd as PID 1: the unit is
# checked offline (`systemd-analyze verify`, and `security` for its
# hardening score) and its ExecStart is run as its User, in its
# WorkingDirectory, with its Environment.
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:-target/debug/guichet}"
fail() { echo "package-test: $*" >&2; exit 1; }

if dpkg -s guichet >/dev/null 2>&1; then
  fail "a guichet package is already installed here; remove it first (dpkg --purge guichet)"
fi
deb=$(scripts/package-deb.sh --binary "$binary")
echo "package-test: built $deb ($(du -h "$deb" | cut -f1))"
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true
  dpkg --purge guichet >/dev/null 2>&1 || true
  rm -rf /var/lib/guichet
}
trap cleanup EXIT
dpkg -i "$deb" >/dev/null

[ "$(/usr/bin/guichet --version)" = "$("$binary" --version)" ] || fail "/usr/bin/guichet is not the packaged binary"
getent passwd guichet >/dev/null || fail "the guichet user was not created"
[ "$(stat -c %U:%G:%a /var/lib/guichet)" = "guichet:guichet:750" ] || fail "/var/lib/guichet: $(stat -c %U:%G:%a /var/lib/guichet)"
[ "$(stat -c %U:%G:%a /etc/guichet/guichet.toml)" = "root:guichet:640" ] || fail "/etc/guichet/guichet.toml: $(stat -c %U:%G:%a /etc/guichet/guichet.toml)"
dpkg-query -W -f='${Conffiles}\n' guichet | grep -q /etc/guichet/guichet.toml || fail "the configuration is not a conffile"

unit=/lib/systemd/system/guichet.service
systemd-analyze verify "$unit" || fail "systemd-analyze verify found problems in $unit"
exposure=$(systemd-analyze security --offline=true "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for guichet.service: \([0-9.]*\).*/\1/p')
echo "package-test: systemd exposure level $exposure (0 = most hardened, 10 = none)"
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 2.0) }' || fail "exposure level $exposure is above 2.0"

# The unit's own command line, user, directory and environment.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
user=$(sed -n 's/^User=//p' "$unit")
workdir=$(sed -n 's/^WorkingDirectory=//p' "$unit")
environment=$(sed -n 's/^Environment=//p' "$unit")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
(cd "$workdir" && exec setpriv --reuid "$user" --regid "$user" --init-groups -- env $environment GUICHET_BIND="127.0.0.1:$port" $exec_start) >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "the service stopped at start"; }
  sleep 0.2
done
ready=$(curl -fsS "http://127.0.0.1:$port/readyz") || { cat "$log" >&2; fail "/readyz did not answer"; }
echo "$ready" | grep -q '"status":"ready"' || fail "/readyz answered $ready"
[ -f /var/lib/guichet/guichet.db ] || fail "no database in the state directory"
[ "$(stat -c %U /var/lib/guichet/guichet.db)" = guichet ] || fail "the database is not the service user's"
if grep -q $'\e\[' "$log"; then fail "colour codes in the service's log"; fi
kill -TERM "$pid"
wait "$pid" || { status=$?; cat "$log" >&2; fail "the service did not stop cleanly on SIGTERM (exit $status)"; }
pid=""

dpkg --purge guichet >/dev/null
[ ! -e /usr/bin/guichet ] || fail "/usr/bin/guichet is still there after purge"
[ ! -e /etc/guichet/guichet.toml ] || fail "the configuration is still there after purge"
[ -d /var/lib/guichet ] || fail "purge removed the desk's data"
echo "package-test: installed, started as $user, ready on 127.0.0.1:$port, stopped and purged"
