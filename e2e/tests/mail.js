// Real mail for the end-to-end tests: the SMTP relay into Dovecot that the
// Rust tests use, and Python's standard library to send and read mail.
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { root } from "./helpers.js";

/** The IMAP and LMTP addresses of the Dovecot started by the test command, if any. */
export function dovecot() {
  const imap = process.env.GUICHET_TEST_IMAP;
  const lmtp = process.env.GUICHET_TEST_LMTP;
  return imap && lmtp ? { imap, lmtp } : null;
}

export async function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts an SMTP server on loopback delivering into Dovecot; resolves with its port and a stop function. */
export async function startRelay(lmtp) {
  const port = await freePort();
  const child = spawn("python3", [join(root, "scripts", "smtp-relay.py"), String(port), lmtp], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolve, reject) => {
    child.on("exit", (code) => reject(new Error(`smtp-relay exited with ${code}`)));
    createInterface({ input: child.stdout }).on("line", (line) => line.trim() === "ready" && resolve());
  });
  return { port, stop: () => child.kill("SIGTERM") };
}

/** The authserv-id the tests' "mail server" writes in Authentication-Results. */
export const AUTHSERV_ID = "mx.guichet.test";

/** Sends a plain-text mail through the relay, with the verdict the desk's
 * mail server would add after checking the sender's domain (DMARC pass). */
export function sendMail(port, from, to, subject, body) {
  const script = `
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
domain = sys.argv[2].rsplit("@", 1)[1]
m["Authentication-Results"] = f"${AUTHSERV_ID}; dmarc=pass header.from={domain}"
m["From"], m["To"], m["Subject"] = sys.argv[2], sys.argv[3], sys.argv[4]
m.set_content(sys.argv[5])
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.send_message(m)
`;
  execFileSync("python3", ["-c", script, String(port), from, to, subject, body]);
}

/** The mails in a Dovecot user's inbox: subject and plain-text body. */
export function readMailbox(imap, user) {
  const script = `
import imaplib, json, sys, email
from email import policy
host, port = sys.argv[1].rsplit(":", 1)
out = []
with imaplib.IMAP4(host, int(port)) as c:
    c.login(sys.argv[2], "guichet")
    c.select("INBOX")
    _, ids = c.search(None, "ALL")
    for i in ids[0].split():
        _, data = c.fetch(i, "(RFC822)")
        m = email.message_from_bytes(data[0][1], policy=policy.default)
        part = m.get_body(preferencelist=("plain",))
        out.append({"subject": str(m["Subject"]), "body": part.get_content() if part else ""})
print(json.dumps(out))
`;
  return JSON.parse(execFileSync("python3", ["-c", script, imap, user]).toString());
}
