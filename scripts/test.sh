#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need when it is
# missing (PostgreSQL, Dovecot, aiosmtpd, nginx, a CAS server and an OpenID
# Connect provider, Chromium, systemd's tools for the package test), starts throw-away
# PostgreSQL and Dovecot servers on loopback, then runs formatting and lint
# checks and every test on both database backends.
#
#   scripts/test.sh            everything
#   scripts/test.sh -- FILTER  only tests whose name matches FILTER
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  log "installing $*"
  as_root apt-get update -qq
  # Only what each package needs: Chromium's recommendations alone pull in
  # a hundred packages (printing, avahi, samba) a headless browser never uses.
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- Chromium and the end-to-end test tools -------------------------------------
if ! command -v chromium >/dev/null 2>&1; then
  # Fonts are a recommendation of Chromium's: without them pages render as boxes.
  apt_install chromium fonts-liberation
fi
if ! command -v node >/dev/null 2>&1; then
  apt_install nodejs npm
fi
# The README's tour uses curl and jq; its examples run below.
if ! command -v jq >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
  apt_install jq curl
fi

# --- Mail servers: Dovecot (IMAP + LMTP) and aiosmtpd for SMTP -------------------
if ! command -v dovecot >/dev/null 2>&1 || [ ! -x /usr/lib/dovecot/lmtp ]; then
  apt_install dovecot-imapd dovecot-lmtpd
fi
if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
  log "installing aiosmtpd"
  python3 -m pip install --quiet aiosmtpd
fi

# --- Identity providers: a CAS server and an OpenID Connect provider -------------
if ! python3 -c 'import cas_server, oidc_provider_mock' >/dev/null 2>&1; then
  log "installing django-cas-server and oidc-provider-mock"
  python3 -m pip install --quiet "Django==5.2.19" "django-cas-server==3.1.0" "oidc-provider-mock==0.3.4" "Authlib==1.9.10"
fi

# --- nginx: the load balancer in front of three nodes (tests/cluster.rs) ----------
if [ ! -x /usr/sbin/nginx ] && ! command -v nginx >/dev/null 2>&1; then
  apt_install nginx-light
fi

# --- The Debian package's install test: dpkg, adduser, systemd's unit checks ---
if ! command -v systemd-analyze >/dev/null 2>&1 || ! command -v adduser >/dev/null 2>&1; then
  apt_install systemd adduser
fi

# --- schemathesis, which holds the OpenAPI document to the API ----------------
# hypothesis is pinned too: schemathesis accepts a range of it, and a new
# release changes how the run behaves.
schemathesis_version=4.32.5
hypothesis_version=6.170.27
if [ "$(python3 -m schemathesis.cli --version 2>/dev/null | awk '{print $NF}')" != "$schemathesis_version" ] \
  || [ "$(python3 -c 'import hypothesis; print(hypothesis.__version__)' 2>/dev/null)" != "$hypothesis_version" ]; then
  log "installing schemathesis $schemathesis_version, hypothesis $hypothesis_version"
  python3 -m pip install --quiet "schemathesis==$schemathesis_version" "hypothesis==$hypothesis_version"
fi

# --- PostgreSQL -------------------------------------------------------------
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  apt_install postgresql
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
# RUM: the desk's search ranks the most recent matches from it (docs/performance.md).
# Installing it may upgrade the server's minor version: before the server starts.
pg_major=$(basename "$(dirname "$pg_bin")")
if [ ! -f "/usr/lib/postgresql/$pg_major/lib/rum.so" ]; then
  apt_install "postgresql-$pg_major-rum"
fi

pg_dir=$(mktemp -d /tmp/guichet-pg.XXXXXX)
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# PostgreSQL refuses to run as root: use its own account then.
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir "$pg_dir" postgres
  chown postgres "$pg_dir"
  pg() { runuser -u postgres -- "$@"; }
else
  pg() { "$@"; }
fi
mail_dir=$(mktemp -d /tmp/guichet-mail.XXXXXX)
idp_dir=$(mktemp -d /tmp/guichet-idp.XXXXXX)
stop_servers() {
  pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  scripts/mail-servers.sh stop "$mail_dir" || true
  scripts/identity-providers.sh stop "$idp_dir" || true
  rm -rf "$pg_dir" "$mail_dir" "$idp_dir"
}
trap stop_servers EXIT
log "starting PostgreSQL on 127.0.0.1:$pg_port"
pg "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w start -o \
  "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null
export GUICHET_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
log "starting Dovecot (IMAP, LMTP) on loopback"
eval "$(IMAP_PORT=$(free_port) LMTP_PORT=$(free_port) scripts/mail-servers.sh start "$mail_dir")"
log "starting the identity providers (CAS, OpenID Connect) on loopback"
eval "$(CAS_PORT=$(free_port) OIDC_PORT=$(free_port) scripts/identity-providers.sh start "$idp_dir")"

# --- checks and tests ---------------------------------------------------------
# A one-off run gains nothing from incremental caches, and they take space a
# fresh CI machine may not have.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
df -h . | tail -1 | awk '{print "[test] disk: " $4 " free"}'
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
log "tests (SQLite and PostgreSQL)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
cargo build --quiet --bin guichet
export GUICHET_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/guichet"
log "the OpenAPI document against the API (schemathesis, every check)"
scripts/openapi-check.sh "$GUICHET_BIN"
log "the README's examples against a fresh demo server"
scripts/readme-check.py "$GUICHET_BIN"
log "the Debian package: installed, started as its unit would, checked, purged"
as_root scripts/package-test.sh "$GUICHET_BIN"
log "end-to-end tests in headless Chromium (screenshots in target/screenshots/; UPDATE_SCREENSHOTS=1 refreshes docs/screenshots/)"
(cd e2e && npm ci --no-audit --no-fund --loglevel=error && npm test)
