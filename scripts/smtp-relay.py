#!/usr/bin/env python3
"""An SMTP server for the tests and the mail benchmark: accepts mail on
loopback (aiosmtpd) and delivers it by LMTP into Dovecot's mailboxes, so that
a notification lands in its recipient's IMAP mailbox as it would in production.

Usage: smtp-relay.py PORT LMTP_HOST:LMTP_PORT [LOG]
Prints "ready" once listening; stops on SIGTERM. With LOG, each message
delivered appends one line per recipient: Message-ID, recipient, time (s).
"""
import email.parser
import email.policy
import signal
import smtplib
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Relay:
    def __init__(self, lmtp, log=None):
        host, port = lmtp.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.log = log

    async def handle_DATA(self, server, session, envelope):
        try:
            with smtplib.LMTP(self.host, self.port) as lmtp:
                lmtp.sendmail(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)
        except Exception as error:  # the client retries a 4xx
            return f"451 delivery failed: {error}"
        if self.log:
            headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
                envelope.original_content
            )
            message_id = (headers.get("Message-ID") or "").strip()
            with open(self.log, "a", encoding="utf-8") as log:
                for rcpt in envelope.rcpt_tos:
                    log.write(f"{message_id}\t{rcpt}\t{time.time():.3f}\n")
        return "250 OK delivered"


def main():
    port, lmtp = int(sys.argv[1]), sys.argv[2]
    log = sys.argv[3] if len(sys.argv) > 3 else None
    controller = Controller(Relay(lmtp, log), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
