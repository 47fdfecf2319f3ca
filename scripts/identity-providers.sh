#!/usr/bin/env bash
# Starts the identity providers the sign-in tests run against, on loopback, in
# a temporary directory: a CAS 3.0 server (django-cas-server, people in JSON
# files a test can write) and an OpenID Connect provider (oidc-provider-mock).
# Prints the variables to export.
# Usage: eval "$(scripts/identity-providers.sh start DIR)"; scripts/identity-providers.sh stop DIR
set -euo pipefail

command=${1:?start or stop}
dir=${2:?a working directory}
here=$(cd "$(dirname "$0")" && pwd)
cas_port=${CAS_PORT:-10480}
oidc_port=${OIDC_PORT:-10490}

wait_for() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1: see $2" >&2
  return 1
}

case "$command" in
start)
  mkdir -p "$dir/cas/users"
  export CAS_DATA_DIR="$dir/cas"
  (cd "$here/cas-server" && python3 manage.py migrate --verbosity 0 \
    && python3 manage.py shell --verbosity 0 -c "import casdesk.services") >"$dir/cas.log" 2>&1
  (cd "$here/cas-server" && exec python3 manage.py runserver --noreload --nothreading "127.0.0.1:$cas_port") \
    >>"$dir/cas.log" 2>&1 &
  echo $! >"$dir/cas.pid"
  python3 -m oidc_provider_mock --host 127.0.0.1 --port "$oidc_port" --require-nonce true >"$dir/oidc.log" 2>&1 &
  echo $! >"$dir/oidc.pid"
  wait_for "$cas_port" "$dir/cas.log"
  wait_for "$oidc_port" "$dir/oidc.log"
  echo "export GUICHET_TEST_CAS=http://127.0.0.1:$cas_port/cas GUICHET_TEST_CAS_USERS=$dir/cas/users GUICHET_TEST_OIDC=http://127.0.0.1:$oidc_port"
  ;;
stop)
  for pid in "$dir/cas.pid" "$dir/oidc.pid"; do
    if [ -f "$pid" ]; then kill "$(cat "$pid")" 2>/dev/null || true; fi
  done
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac
