#!/usr/bin/env bash
# Makes the databases of a release that the upgrade test migrates to the
# current schema (crates/server/tests/fixtures/<tag>/), from that release's
# own binary and demo:
#
#   git worktree add /tmp/old v0.1.0 && (cd /tmp/old && cargo build --bin guichet)
#   GUICHET_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
#     scripts/make-upgrade-fixture.sh v0.1.0 /tmp/old/target/debug/guichet
#
# Small on purpose (5 schools, 40 tickets): the test checks that every
# migration since keeps the data and that the API works on it, not speed.
set -euo pipefail
cd "$(dirname "$0")/.."
tag="$1"
old="$(realpath "$2")"
: "${GUICHET_TEST_POSTGRES_URL:?set it to a PostgreSQL URL whose role may create databases}"
out="crates/server/tests/fixtures/$tag"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
demo=(demo --establishments 5 --tickets 40 --seed 11)

# SQLite: the demo's file, zipped (the demo closes it checkpointed: no -wal).
(cd "$work" && "$old" "${demo[@]}" > logins.txt 2>/dev/null)
grep "API token" "$work/logins.txt" > "$out/logins.txt"
python3 - "$work/guichet-data/guichet.db" "$out/guichet-sqlite.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as z:
    z.write(sys.argv[1], "guichet.db")
PY

# PostgreSQL: the same demo in a new database, dumped in pg_dump's custom format.
name="guichet_fixture_$$"
admin="$GUICHET_TEST_POSTGRES_URL"
psql "$admin" -qc "CREATE DATABASE $name"
url="${admin%/*}/$name"
"$old" --database-url "$url" "${demo[@]}" >/dev/null 2>&1
pg_dump --format=custom --no-owner --file="$out/guichet-postgres.dump" "$url"
psql "$admin" -qc "DROP DATABASE $name"
"$old" --version > "$out/version.txt"
ls -l "$out"
