#!/usr/bin/env bash
# Holds the OpenAPI document to the API: starts `guichet serve --demo` on a
# fresh database and a free port, then runs schemathesis (pinned, installed
# by scripts/test.sh) with every check against it. Exits non-zero on any
# failure. Usage: scripts/openapi-check.sh [BINARY] (default target/debug/guichet)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${GUICHET_BIN:-$root/target/debug/guichet}}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
dir=$(mktemp -d /tmp/guichet-openapi.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cd "$dir"
GUICHET_LOG=warn "$bin" serve --demo --bind "127.0.0.1:$port" >serve.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 200); do
  grep -q "Guichet is listening" serve.log 2>/dev/null && break
  sleep 0.1
done
token=$(awk '$1 == "admin" { print $NF }' serve.log)
[ -n "$token" ] || { echo "the demo server printed no admin token" >&2; cat serve.log >&2; exit 1; }
# One worker: hypothesis describes its strategies with ast.parse, and two
# threads parsing at once trip CPython 3.11's AST recursion-depth check
# ("AST constructor recursion depth mismatch", CPython gh-106905), which
# schemathesis reports as a runtime error of the operation it was testing.
python3 -m schemathesis.cli --config-file "$root/scripts/schemathesis.toml" run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --url "http://127.0.0.1:$port/api/v1" -H "Authorization: Bearer $token" \
  --checks all --phases examples,coverage,fuzzing --max-examples "${OPENAPI_EXAMPLES:-25}" \
  --seed "${OPENAPI_SEED:-20261202}" --workers 1 --no-color
