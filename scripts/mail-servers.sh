#!/usr/bin/env bash
# Starts the mail servers the tests and `guichet bench mail` run against, on
# loopback, in a temporary directory: Dovecot for IMAP (any user name, one
# password) with LMTP delivery into the same mailboxes. Prints the variables
# to export. Usage: eval "$(scripts/mail-servers.sh start DIR)"; scripts/mail-servers.sh stop DIR
set -euo pipefail

command=${1:?start or stop}
dir=${2:?a working directory}
imap_port=${IMAP_PORT:-10143}
lmtp_port=${LMTP_PORT:-10024}

case "$command" in
start)
    if ! command -v dovecot >/dev/null; then
        echo "dovecot is not installed (apt-get install dovecot-imapd dovecot-lmtpd)" >&2
        exit 1
    fi
    mkdir -p "$dir/mail" "$dir/run"
    chown -R dovecot:dovecot "$dir/mail"
    chmod 755 "$dir"
    cat >"$dir/dovecot.conf" <<CONF
protocols = imap lmtp
listen = 127.0.0.1
base_dir = $dir/run
state_dir = $dir/run
log_path = $dir/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:$dir/mail/%n
first_valid_uid = 1
# support+interne@… is delivered to support: the desk's internal address in the tests.
recipient_delimiter = +
passdb {
  driver = static
  args = password=guichet
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$dir/mail/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $imap_port
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $lmtp_port
  }
  unix_listener lmtp {
    mode = 0666
  }
}
protocol lmtp {
  auth_username_format = %n
}
mail_max_userip_connections = 1000
CONF
    dovecot -c "$dir/dovecot.conf"
    for _ in $(seq 50); do
        (exec 3<>/dev/tcp/127.0.0.1/$imap_port) 2>/dev/null && break
        sleep 0.1
    done
    echo "export GUICHET_TEST_IMAP=127.0.0.1:$imap_port GUICHET_TEST_LMTP=127.0.0.1:$lmtp_port"
    ;;
stop)
    if [ -f "$dir/dovecot.conf" ]; then dovecot -c "$dir/dovecot.conf" stop 2>/dev/null || true; fi
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
