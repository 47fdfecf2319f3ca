//! The `guichet` binary as an operator uses it: commands, exit codes, one-line
//! errors, and a real server started, used over HTTP and stopped by SIGTERM.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn guichet(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_guichet"));
    command.current_dir(dir).args(args).env_remove("RUST_LOG").env("GUICHET_LOG", "warn");
    command
}

fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child =
        guichet(dir, args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const CSV: &str = "uai;name;town;parent_uai
0759990J;Académie de Paris;Paris;
0750655E;Lycée Henri Wallon;Paris;0759990J
0750655F;Lycée à la mauvaise clé;Paris;
0930124E;Lycée Paul Éluard;Saint-Denis;0939999X
bad line without fields
";

#[test]
fn help_lists_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--help"], None);
    assert!(out.status.success());
    for command in ["serve", "migrate", "establishment", "user", "token", "demo", "mail", "bench", "config", "import"] {
        assert!(text(&out.stdout).contains(command), "{command}");
    }
}

#[test]
fn establishment_import_keeps_valid_rows_and_reports_each_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("etablissements.csv");
    let valid = guichet_domain::establishment::Uai::from_number(759_990).to_string();
    let unknown_parent = guichet_domain::establishment::Uai::from_number(939_999).to_string();
    std::fs::write(&csv, CSV.replace("0759990J", &valid).replace("0939999X", &unknown_parent)).unwrap();
    let out = run(dir.path(), &["establishment", "import", "etablissements.csv"], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("etablissements.csv:4: `0750655F` has a wrong check letter: `E` expected"), "{stderr}");
    assert!(
        stderr.contains(&format!("etablissements.csv:5: parent establishment {unknown_parent} is unknown")),
        "{stderr}"
    );
    assert!(stderr.contains("etablissements.csv:6: expected 3 or 4 fields"), "{stderr}");
    assert_eq!(text(&out.stdout).trim(), "2 created, 0 updated, 0 unchanged, 3 rejected");
    // Importing again changes nothing.
    let again = run(dir.path(), &["establishment", "import", "etablissements.csv"], None);
    assert_eq!(text(&again.stdout).trim(), "0 created, 0 updated, 2 unchanged, 3 rejected");
    let missing = run(dir.path(), &["establishment", "import", "absent.csv"], None);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(text(&missing.stderr).lines().count(), 1, "{}", text(&missing.stderr));
}

#[test]
fn users_and_tokens_are_created_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("guichet.toml"), "[mail]\ntrusted_authserv_id = \"mx.guichet.test\"\n").unwrap();
    std::fs::write(dir.path().join("e.csv"), "0750655E;Lycée Henri Wallon;Paris\n").unwrap();
    assert!(run(dir.path(), &["establishment", "import", "e.csv"], None).status.success());
    let add = [
        "user",
        "add",
        "--role",
        "requester",
        "--email",
        "Admin.Local@Lycee.test",
        "--name",
        "Nathalie Durand",
        "--phone",
        "01 44 32 12 00",
        "--establishment",
        "0750655E",
        "--password-stdin",
    ];
    let out = run(dir.path(), &add, Some("un mot de passe solide\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = run(dir.path(), &add, Some("un mot de passe solide\n"));
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(text(&again.stderr).trim(), "error: a user with the address admin.local@lycee.test already exists");
    let bad = run(
        dir.path(),
        &["user", "add", "--role", "requester", "--email", "x", "--name", "X", "--establishment", "0750655F"],
        None,
    );
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(text(&bad.stderr).lines().count(), 1);
    assert!(text(&bad.stderr).contains("email: `x` is not an e-mail address"));

    let token = run(dir.path(), &["token", "create", "--user", "admin.local@lycee.test"], None);
    assert!(token.status.success());
    let token = text(&token.stdout);
    assert!(token.trim().starts_with("gch_") && token.lines().count() == 1);
    let unknown = run(dir.path(), &["token", "create", "--user", "nobody@lycee.test"], None);
    assert_eq!(text(&unknown.stderr).trim(), "error: user: no user has the address nobody@lycee.test");
}

#[test]
fn a_mistyped_database_path_is_an_error_not_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--database-url", "sqlite://nowhere/guichet.db", "migrate"], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!dir.path().join("nowhere").exists());
    let out = run(dir.path(), &["--database-url", "mysql://x", "migrate"], None);
    assert!(text(&out.stderr).contains("database_url must start with sqlite:// or postgres://"));
}

#[test]
fn config_check_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("guichet.toml"),
        "database_url = \"postgres://guichet:s3cret@db.local/guichet\"\nkey_prefix = \"ENT\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["config", "check"], None);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("postgres://guichet:***@db.local/guichet") && !stdout.contains("s3cret"), "{stdout}");
    assert!(stdout.contains("key_prefix = \"ENT\""));
    std::fs::write(dir.path().join("guichet.toml"), "colour = \"red\"\n").unwrap();
    let out = run(dir.path(), &["config", "check"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("colour"), "{}", text(&out.stderr));
}

/// Starts `guichet serve --demo` on a free port and returns it with its base URL
/// and the demo logins it printed.
fn serve_demo(dir: &Path, extra: &[&str]) -> (std::process::Child, String, Vec<(String, String)>) {
    serve_demo_with(dir, extra, &[])
}

/// [`serve_demo`] with environment variables set, its log in `serve.log`.
fn serve_demo_with(
    dir: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Child, String, Vec<(String, String)>) {
    let mut args = vec!["serve", "--demo", "--bind", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    let mut command = guichet(dir, &args);
    command.envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::from(log));
    let mut child = command.spawn().unwrap();
    let mut logins = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("the server stopped before listening").unwrap();
        if let Some(url) = line.strip_prefix("Guichet is listening on ") {
            break url.trim_end_matches('/').to_owned();
        }
        if let Some((left, token)) = line.split_once("API token: ") {
            let role = left.split_whitespace().next().unwrap().to_owned();
            logins.push((role, token.trim().to_owned()));
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (child, base, logins)
}

/// GETs a JSON document from the running server with a bearer token.
fn get_json(url: &str, token: &str) -> serde_json::Value {
    ureq::get(url).set("Authorization", &format!("Bearer {token}")).call().unwrap().into_json().unwrap()
}

fn stop(mut child: std::process::Child) -> std::process::ExitStatus {
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap()
}

#[test]
fn serve_with_demo_data_answers_over_http_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let (child, base, logins) = serve_demo(dir.path(), &[]);
    let token = |role: &str| logins.iter().find(|(r, _)| r == role).map(|(_, t)| t.clone()).unwrap();
    assert_eq!(ureq::get(&format!("{base}/healthz")).call().unwrap().into_string().unwrap(), "ok");
    let agent = token("agent");
    let list: serde_json::Value = get_json(&format!("{base}/api/v1/tickets?per_page=5"), &agent);
    // 600 generated, then six schools' reports of the demo incident and two HELP messages.
    assert_eq!(list["total"], 608);
    let requester = token("requester");
    let me: serde_json::Value = get_json(&format!("{base}/api/v1/me"), &requester);
    let uai = me["establishments"][0].as_str().unwrap();
    let created: serde_json::Value = ureq::post(&format!("{base}/api/v1/tickets"))
        .set("Authorization", &format!("Bearer {requester}"))
        .send_json(serde_json::json!({"title": "Cahier de textes vide", "establishment": uai}))
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(created["key"], "SUP-609");
    assert!(stop(child).success());

    // A second start keeps the data and prints the same logins.
    let (child, base, again) = serve_demo(dir.path(), &[]);
    assert_eq!(again, logins);
    let one: serde_json::Value = get_json(&format!("{base}/api/v1/tickets/SUP-609"), &agent);
    assert_eq!(one["title"], "Cahier de textes vide");
    assert!(stop(child).success());
}

#[test]
fn a_second_server_on_the_same_sqlite_file_is_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (child, base, _) = serve_demo(dir.path(), &[]);
    let second = run(dir.path(), &["serve", "--bind", "127.0.0.1:0"], None);
    assert_eq!(second.status.code(), Some(1));
    let stderr = text(&second.stderr);
    assert!(stderr.contains("another `guichet serve` already runs on") && stderr.contains("PostgreSQL"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    // The first one went on serving, and once it stops the file is free again.
    assert_eq!(ureq::get(&format!("{base}/healthz")).call().unwrap().into_string().unwrap(), "ok");
    assert!(stop(child).success());
    let (child, _, _) = serve_demo(dir.path(), &[]);
    assert!(stop(child).success());
}

#[test]
fn demo_is_deterministic_for_a_seed() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut summaries = Vec::new();
    for dir in [&a, &b] {
        let out = run(dir.path(), &["demo", "--establishments", "5", "--tickets", "50", "--seed", "7"], None);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.contains("Demo data: 8 establishments"), "{stdout}");
        summaries.push(
            stdout.lines().find(|l| l.contains("tickets and")).unwrap().split(" generated").next().unwrap().to_owned(),
        );
    }
    assert_eq!(summaries[0], summaries[1]);
    let tokens = |dir: &Path| {
        let out = run(dir, &["demo", "--establishments", "5", "--tickets", "0", "--seed", "7"], None);
        text(&out.stdout).lines().filter(|l| l.contains("API token")).map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(tokens(a.path()), tokens(b.path()));
}

#[test]
fn the_binary_works_on_postgresql_too() {
    let admin = guichet_testkit::postgres_admin_url();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(guichet_testkit::TestDb::new(guichet_testkit::Backend::Postgres));
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.clone();
    let out = run(dir.path(), &["--database-url", &url, "migrate"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let migrations =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/postgres")).unwrap().count();
    assert_eq!(text(&out.stdout).trim(), format!("schema version {migrations}"));
    let (child, base, logins) = serve_demo(dir.path(), &["--database-url", &url]);
    let agent = logins.iter().find(|(r, _)| r == "agent").unwrap().1.clone();
    let list: serde_json::Value = get_json(&format!("{base}/api/v1/tickets?per_page=1"), &agent);
    assert_eq!(list["total"], 608);
    assert!(stop(child).success());
    assert!(!dir.path().join("guichet-data").exists(), "no SQLite file next to a PostgreSQL setup");
    drop(admin);
}

#[test]
fn the_filter_benchmark_runs_on_a_small_data_set() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["demo", "--establishments", "5", "--tickets", "200"], None).status.success());
    let out = run(dir.path(), &["bench", "filters", "--iterations", "3"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // 200 generated, and the demo incident's reports (one per school) and two HELP messages.
    assert!(stdout.starts_with("SQLite, 207 tickets"), "{stdout}");
    for name in ["En retard", "Non attribuées", "dashboard (all tiles)"] {
        assert!(stdout.contains(name), "{stdout}");
    }
    let empty = tempfile::tempdir().unwrap();
    let out = run(empty.path(), &["bench", "filters"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no agent in the database"));
}

/// As the desk's mail server hands it over, having checked the sender's domain.
const MESSAGE: &str = "Authentication-Results: mx.guichet.test; dmarc=pass header.from=lycee.test\r\n\
From: Nathalie Durand <admin.local@lycee.test>\r\nTo: support@guichet.test\r\n\
Subject: Imprimante du CDI\r\nMessage-ID: <cli-1@lycee.test>\r\n\r\nL'imprimante du CDI n'imprime plus.\r\n";

#[test]
fn mail_ingest_files_a_piped_message_once_and_asks_for_a_retry_when_the_database_is_down() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("guichet.toml"), "[mail]\ntrusted_authserv_id = \"mx.guichet.test\"\n").unwrap();
    std::fs::write(dir.path().join("e.csv"), "0750655E;Lycée Henri Wallon;Paris\n").unwrap();
    assert!(run(dir.path(), &["establishment", "import", "e.csv"], None).status.success());
    let add = ["user", "add", "--role", "requester", "--email", "admin.local@lycee.test", "--name", "N. Durand"];
    assert!(run(dir.path(), &[&add[..], &["--establishment", "0750655E"]].concat(), None).status.success());

    let out = run(dir.path(), &["mail", "ingest", "--mailbox", "support"], Some(MESSAGE));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "filed as SUP-1");
    let again = run(dir.path(), &["mail", "ingest"], Some(MESSAGE));
    assert_eq!((again.status.code(), text(&again.stdout).trim()), (Some(0), "already imported: nothing to do"));
    // Without the mail server's verdict the same address only files a request for the desk to sort.
    let claimed = MESSAGE
        .replace("Authentication-Results: mx.guichet.test; dmarc=pass", "X-Note: none;")
        .replace("cli-1@", "cli-2@");
    let out = run(dir.path(), &["mail", "ingest"], Some(&claimed));
    assert_eq!(text(&out.stdout).trim(), "filed as SUP-2, to be sorted by the desk");
    // Subjects whose case folding changes their length, and NUL bytes, once made the intake panic.
    for (n, subject) in ["İİİİİİ[SUP-999]", "Re: İ[SUP-998]", "Nul \0 ici"].iter().enumerate() {
        let hostile = MESSAGE.replace("Imprimante du CDI", subject).replace("cli-1@", &format!("hostile-{n}@"));
        let out = run(dir.path(), &["mail", "ingest"], Some(&hostile));
        assert_eq!(out.status.code(), Some(0), "{subject}: {}", text(&out.stderr));
        assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
    }
    // Kept aside, not lost: the mail server must not bounce it.
    let broken = run(dir.path(), &["mail", "ingest"], Some("Subject: no sender\r\n\r\nx\r\n"));
    assert_eq!(broken.status.code(), Some(0));
    assert_eq!(text(&broken.stdout).trim(), "quarantined: the message has no From address");
    let empty = run(dir.path(), &["mail", "ingest"], Some(""));
    assert_eq!(empty.status.code(), Some(1));
    assert_eq!(text(&empty.stderr).trim(), "error: no message on standard input");
    // The database is unreachable: EX_TEMPFAIL, one line, so that the mail server delivers again later.
    let down =
        run(dir.path(), &["--database-url", "postgres://guichet@127.0.0.1:1/guichet", "mail", "ingest"], Some(MESSAGE));
    assert_eq!(down.status.code(), Some(75), "{}", text(&down.stderr));
    assert_eq!(text(&down.stderr).lines().count(), 1, "{}", text(&down.stderr));
    let no_mailbox = run(dir.path(), &["mail", "fetch"], None);
    assert_eq!(no_mailbox.status.code(), Some(1));
    assert!(text(&no_mailbox.stderr).contains("no mailbox is configured"));
}

fn mail_config(dir: &Path, desk: &str, smtp_port: u16) {
    let (host, port) = guichet_testkit::mail::imap_server();
    let config = format!(
        "[mail]\ntrusted_authserv_id = \"{}\"\n\n[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"none\"\nfrom = \"Support ENT <{desk}@guichet.test>\"\n\n\
         [[mailboxes]]\nname = \"{desk}\"\nhost = \"{host}\"\nport = {port}\ntls = \"none\"\nuser = \"{desk}\"\n\
         password_file = \"imap-password\"\npoll_seconds = 2\n",
        guichet_testkit::mail::AUTHSERV_ID
    );
    std::fs::write(dir.join("guichet.toml"), config).unwrap();
    std::fs::write(dir.join("imap-password"), format!("{}\n", guichet_testkit::mail::PASSWORD)).unwrap();
}

/// Sends a message with Python's standard SMTP client, as any mail program would.
fn send_smtp(port: u16, to: &str, message: &str) {
    let script = "import smtplib,sys; s=smtplib.SMTP('127.0.0.1', int(sys.argv[1])); \
                  s.sendmail(sys.argv[2], [sys.argv[3]], sys.stdin.buffer.read()); s.quit()";
    let mut child = Command::new("python3")
        .args(["-c", script, &port.to_string(), "sender@client.test", to])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    for _ in 0..100 {
        if let Some(found) = probe() {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{what} did not happen within 10 s");
}

#[test]
fn a_mail_sent_over_smtp_becomes_a_ticket_whose_acknowledgment_can_be_answered() {
    let dir = tempfile::tempdir().unwrap();
    let desk = guichet_testkit::mail::unique("support");
    let smtp_port = guichet_testkit::mail::free_port();
    let _smtp = guichet_testkit::mail::SmtpRelay::start(smtp_port);
    mail_config(dir.path(), &desk, smtp_port);
    let (child, base, logins) = serve_demo(dir.path(), &[]);
    let token = |role: &str| logins.iter().find(|(r, _)| r == role).map(|(_, t)| t.clone()).unwrap();
    let requester = token("requester");
    let me = get_json(&format!("{base}/api/v1/me"), &requester);
    let email = me["email"].as_str().unwrap().to_owned();
    let marker = guichet_testkit::mail::unique("cantine");
    let message = format!(
        "{}From: Demandeur <{email}>\r\nTo: {desk}@guichet.test\r\nSubject: Menu de la cantine {marker}\r\n\
         Message-ID: <{marker}@client.test>\r\n\r\nLe menu de la cantine ne s'affiche plus.\r\n",
        guichet_testkit::mail::authenticated(&email)
    );
    send_smtp(smtp_port, &format!("{desk}@guichet.test"), &message);
    let search = format!("{base}/api/v1/tickets?q=text%20~%20%22{marker}%22");
    let key = wait_for("the import", || {
        let list = get_json(&search, &requester);
        list["items"][0]["key"].as_str().map(str::to_owned)
    });
    let local = email.split('@').next().unwrap().to_owned();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ack = wait_for("the acknowledgment", || {
        let inbox = runtime.block_on(guichet_testkit::mail::messages(&local));
        inbox.into_iter().map(|m| text(&m)).find(|m| m.contains(&marker) && m.contains(&format!("[{key}]")))
    });
    let ack_id = ack.lines().find_map(|l| l.strip_prefix("Message-ID: ")).unwrap().trim().to_owned();
    let reply = format!(
        "From: Demandeur <{email}>\r\nTo: {desk}@guichet.test\r\nSubject: Re: menu\r\nIn-Reply-To: {ack_id}\r\n\
         Message-ID: <re-{marker}@client.test>\r\n\r\nC'est revenu, merci.\r\n\r\nOn Mon, 2 Mar 2026, Support wrote:\r\n> Bonjour\r\n"
    );
    send_smtp(smtp_port, &format!("{desk}@guichet.test"), &reply);
    let agent = token("agent");
    let comments = wait_for("the reply", || {
        let list = get_json(&format!("{base}/api/v1/tickets/{key}/comments"), &agent);
        list.as_array().filter(|c| !c.is_empty()).cloned()
    });
    assert_eq!(comments[0]["body"], "C'est revenu, merci.");
    let mailboxes = get_json(&format!("{base}/api/v1/mailboxes"), &agent);
    assert_eq!(mailboxes[0]["imported_today"], 2);
    assert!(stop(child).success());
}

#[test]
fn the_mail_benchmark_imports_from_imap_and_prints_a_rate() {
    let dir = tempfile::tempdir().unwrap();
    let desk = guichet_testkit::mail::unique("bench");
    mail_config(dir.path(), &desk, guichet_testkit::mail::free_port());
    assert!(run(dir.path(), &["demo", "--establishments", "5", "--tickets", "20"], None).status.success());
    let out = run(dir.path(), &["bench", "mail", "--count", "40"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("imported 40 (quarantined 0, already known 0)"), "{stdout}");
    assert!(stdout.contains("messages/s"), "{stdout}");
}

#[test]
fn config_check_shows_the_mail_settings_without_their_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[smtp]\nhost = \"smtp.example.fr\"\ntls = \"starttls\"\nuser = \"guichet\"\npassword = \"s3cret-smtp\"\n\
                  from = \"Support <support@example.fr>\"\n\n[[mailboxes]]\nname = \"support\"\nhost = \"imap.example.fr\"\n\
                  password = \"s3cret-imap\"\nafter_import = { action = \"move\", folder = \"Traités\" }\n";
    std::fs::write(dir.path().join("guichet.toml"), config).unwrap();
    let out = run(dir.path(), &["config", "check"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("s3cret"), "{stdout}");
    assert!(stdout.contains("after_import = { action = \"move\", folder = \"Traités\" }"), "{stdout}");
    std::fs::write(
        dir.path().join("guichet.toml"),
        "[[mailboxes]]\nname = \"a\"\nhost = \"x\"\nafter_import = \"later\"\n",
    )
    .unwrap();
    let bad = run(dir.path(), &["config", "check"], None);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(text(&bad.stderr).lines().count(), 1, "{}", text(&bad.stderr));
}

#[test]
fn the_report_benchmark_runs_on_a_small_data_set() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["demo", "--establishments", "5", "--tickets", "200"], None).status.success());
    let out = run(dir.path(), &["bench", "reports", "--iterations", "2"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for line in ["created vs resolved, last month", "created vs resolved, last year", "escalations, last year"] {
        assert!(stdout.contains(line), "{stdout}");
    }
}

#[test]
fn the_search_benchmark_runs_on_a_small_data_set() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["demo", "--establishments", "5", "--tickets", "200"], None).status.success());
    let out = run(dir.path(), &["bench", "search", "--iterations", "2"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("common word messagerie (agent)") && stdout.contains("(requester)"), "{stdout}");
    assert!(stdout.contains("common word messagerie (largest school)"), "{stdout}");
}

#[test]
fn the_http_load_generator_runs_on_a_small_data_set() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["demo", "--establishments", "5", "--tickets", "50"], None).status.success());
    let out = run(dir.path(), &["bench", "http", "--requests", "32", "--settle", "1"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("ticket creation,  1 client(s): 32 tickets"), "{stdout}");
    assert!(stdout.contains("ticket creation, 16 client(s): 32 tickets"), "{stdout}");
    assert!(stdout.contains("ticket read (API, JSON): 50 reads"), "{stdout}");
    assert!(stdout.contains("ticket page (HTML): 50 reads"), "{stdout}");
    assert!(stdout.contains("ad-hoc lists, 8 clients"), "{stdout}");
    assert!(stdout.contains("MB idle 1 s after the list load"), "{stdout}");
    let before: usize = stdout
        .split(" tickets before the load")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no ticket count before the load: {stdout}"));
    // Every ticket filed under load (32 by each phase) is in the database afterwards.
    let out = run(dir.path(), &["bench", "filters", "--iterations", "1"], None);
    let after = format!("SQLite, {} tickets", before + 64);
    assert!(text(&out.stdout).starts_with(&after), "{after}: {}", text(&out.stdout));
    // Filed by several schools' requesters, about several subjects: not a
    // wave at one school that later measurements would read.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (schools, titles): (i64, i64) = runtime.block_on(async {
        use sqlx::Connection;
        let url = format!("sqlite://{}", dir.path().join("guichet-data/guichet.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let sql = "SELECT COUNT(DISTINCT establishment_id), COUNT(DISTINCT description) FROM tickets \
                   WHERE title LIKE 'Charge %'";
        sqlx::query_as(sql).fetch_one(&mut conn).await.unwrap()
    });
    assert!(schools >= 3 && titles >= 3, "{schools} schools, {titles} subjects");
}

#[test]
fn the_cluster_benchmark_runs_through_nginx_with_one_to_three_nodes() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = runtime.block_on(guichet_testkit::empty_postgres_database());
    let dir = tempfile::tempdir().unwrap();
    let demo = ["--database-url", &url, "demo", "--establishments", "5", "--tickets", "50"];
    assert!(run(dir.path(), &demo, None).status.success());
    let out = run(dir.path(), &["--database-url", &url, "bench", "cluster", "--requests", "32"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for nodes in 1..=3 {
        let line = stdout.lines().find(|l| l.trim_start().starts_with(&format!("{nodes} node(s): 32 tickets filed")));
        let line = line.unwrap_or_else(|| panic!("no line for {nodes} node(s): {stdout}"));
        assert!(line.contains("32 reads") && line.contains("p99"), "{line}");
    }
    // On SQLite it says why not, in one line.
    let sqlite = run(dir.path(), &["bench", "cluster"], None);
    assert_eq!(sqlite.status.code(), Some(1));
    assert!(text(&sqlite.stderr).contains("needs PostgreSQL"), "{}", text(&sqlite.stderr));
}

#[test]
fn config_check_shows_the_identity_providers_without_their_secrets_and_refuses_a_lockout() {
    let dir = tempfile::tempdir().unwrap();
    let config = "public_url = \"https://support.example\"\n[auth]\npassword_roles = [\"admin\"]\n\
        [[auth.cas]]\nname = \"ent\"\nserver_url = \"https://ent.example/cas\"\n\
        [[auth.oidc]]\nname = \"academie\"\nissuer = \"https://id.example\"\nclient_id = \"guichet\"\nclient_secret = \"top-secret-value\"\n";
    std::fs::write(dir.path().join("guichet.toml"), config).unwrap();
    let out = run(dir.path(), &["config", "check"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("[[auth.cas]]\nname = \"ent\"") && stdout.contains("client_secret = \"***\""), "{stdout}");
    assert!(!stdout.contains("top-secret-value"));
    // No administrator would keep a password and no break-glass account is named: refused at start.
    std::fs::write(dir.path().join("guichet.toml"), config.replace("[\"admin\"]", "[\"requester\"]")).unwrap();
    let out = run(dir.path(), &["config", "check"], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("auth.break_glass") && stderr.trim().lines().count() == 1, "{stderr}");
}

#[test]
fn privacy_commands_preview_erase_and_export_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _, _) = serve_demo(dir.path(), &[]);
    assert!(stop(child).success());
    let email = "frederic.morel.0916414c@ac-idf.test";
    let out = run(dir.path(), &["privacy", "export", "--email", email, "--to", "frederic.zip"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let zip = std::fs::read(dir.path().join("frederic.zip")).unwrap();
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    assert!(archive.file_names().any(|n| n == "person.json"));
    let preview = run(dir.path(), &["privacy", "erase", "--email", email], None);
    assert!(preview.status.success());
    assert!(text(&preview.stdout).contains("nothing changed: run again with --yes"), "{}", text(&preview.stdout));
    let erased = run(dir.path(), &["privacy", "erase", "--email", email, "--yes"], None);
    assert!(erased.status.success(), "{}", text(&erased.stderr));
    let again = run(dir.path(), &["privacy", "erase", "--email", email], None);
    assert!(text(&again.stdout).contains("account: none at this address"), "{}", text(&again.stdout));
    let bad = run(dir.path(), &["privacy", "export", "--email", "not an address"], None);
    assert!(!bad.status.success());
    assert_eq!(text(&bad.stderr).lines().count(), 1, "{}", text(&bad.stderr));
    let retention = run(dir.path(), &["privacy", "retention"], None);
    assert!(
        retention.status.success() && text(&retention.stdout).contains("forgotten:"),
        "{}",
        text(&retention.stdout)
    );
}

/// Everything a full run of the service logs at info: sign-ins, HELP
/// messages, tickets, replies, mail in and out. It names nobody.
#[test]
fn the_log_at_info_holds_no_address_name_or_message_text() {
    let dir = tempfile::tempdir().unwrap();
    let (child, base, logins) = serve_demo_with(dir.path(), &[], &[("GUICHET_LOG", "info")]);
    let tokens: Vec<String> = logins.into_iter().map(|(_, token)| token).collect();
    let requester = &tokens[3];
    let post = |path: &str, token: &str, body: serde_json::Value| {
        ureq::post(&format!("{base}{path}"))
            .set("Authorization", &format!("Bearer {token}"))
            .send_json(body)
            .map_err(Box::new)
    };
    let created: serde_json::Value = post(
        "/api/v1/tickets",
        requester,
        serde_json::json!({"title": "Zéphyrine Quintal-Brossard ne reçoit rien", "description": "écrire à zephyrine.qb@parents.test", "establishment": "0916414C"}),
    )
    .unwrap()
    .into_json()
    .unwrap();
    let key = created["key"].as_str().unwrap();
    post(
        &format!("/api/v1/tickets/{key}/comments"),
        &tokens[1],
        serde_json::json!({"body": "Rappeler Zéphyrine au 06 55 44 33 22"}),
    )
    .unwrap();
    // A HELP message from a pupil, and a wrong password.
    let fields = [
        ("profile", "student"),
        ("name", "Zéphyrine Quintal"),
        ("email", "zephyrine.qb@eleves.test"),
        ("message", "Mot de passe perdu Zorglub"),
    ];
    let body: String = fields
        .iter()
        .map(|(k, v)| format!("--b\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"))
        .chain(["--b--\r\n".to_owned()])
        .collect();
    let help = ureq::post(&format!("{base}/aide/0916414C"))
        .set("Content-Type", "multipart/form-data; boundary=b")
        .send_string(&body);
    assert!(help.is_ok(), "{help:?}");
    let _ = ureq::post(&format!("{base}/login"))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .send_string("email=zephyrine.qb%40eleves.test&password=x");
    assert!(stop(child).success());
    // A mail from a stranger, through the mail server's pipe.
    let message = "From: Zephyrine QB <zephyrine.qb@inconnu.test>\r\nTo: support@guichet.test\r\nSubject: Zorglub ne marche plus\r\n\
        Message-ID: <log-scan@inconnu.test>\r\n\r\nBonjour, Zephyrine\r\n";
    let mut ingest = guichet(dir.path(), &["mail", "ingest"]);
    ingest.env("GUICHET_LOG", "info").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut out = ingest.spawn().unwrap();
    out.stdin.take().unwrap().write_all(message.as_bytes()).unwrap();
    let out = out.wait_with_output().unwrap();
    let logged = std::fs::read_to_string(dir.path().join("serve.log")).unwrap() + &text(&out.stderr);
    assert!(
        logged.contains("ticket created") && logged.contains("HELP message filed"),
        "the log is the service's: {logged}"
    );
    assert!(!logged.contains('\u{1b}'), "no colour codes in a file");
    for secret in ["zephyrine", "Zéphyrine", "Quintal", "Zorglub", "55 44", "@", "frederic.morel"] {
        assert!(!logged.contains(secret), "`{secret}` is in the log:\n{logged}");
    }
}

/// Every command's `--help`, recursively: each option and argument says what it is for.
#[test]
fn every_option_of_every_command_has_help_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut pending = vec![Vec::<String>::new()];
    let mut seen = 0;
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = run(dir.path(), &args, None);
        assert!(out.status.success(), "{args:?}");
        let help = text(&out.stdout);
        seen += 1;
        let mut section = "";
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.starts_with(' ') && line.ends_with(':') {
                section = line;
                continue;
            }
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            match section {
                "Commands:" => {
                    let name = trimmed.split_whitespace().next().unwrap();
                    if name != "help" {
                        pending.push(path.iter().cloned().chain([name.to_owned()]).collect());
                    }
                    assert!(trimmed.split_whitespace().count() > 1, "{args:?}: `{name}` has no description");
                }
                "Options:" | "Arguments:" => {
                    // `--name <NAME>  What it is`, or the description on the next, deeper line.
                    let indent = |l: &str| l.len() - l.trim_start().len();
                    let next_describes = lines.get(i + 1).is_some_and(|n| {
                        !n.trim().is_empty() && indent(n) > indent(line) && !n.trim_start().starts_with('-')
                    });
                    // `[FILE]` is an argument; `[env: …]`, `[default: …]` continue a description.
                    let is_item = trimmed.starts_with('-')
                        || trimmed.starts_with('<')
                        || trimmed.starts_with('[') && !trimmed.contains(": ");
                    let described = !is_item || trimmed.contains("  ") || next_describes;
                    assert!(described, "{args:?}: `{trimmed}` has no help text");
                }
                _ => {}
            }
        }
    }
    assert!(seen > 20, "only {seen} commands seen");
}

#[test]
fn users_are_listed_disabled_enabled_and_given_a_password_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        run(dir.path(), &["user", "add", "--role", "agent", "--email", "paul@desk.test", "--name", "Paul Roux"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("no password set"),
        "a user without a password is said so: {}",
        text(&out.stdout)
    );
    let list = run(dir.path(), &["user", "list", "--role", "agent"], None);
    assert!(
        text(&list.stdout).contains("paul@desk.test") && text(&list.stdout).contains("active"),
        "{}",
        text(&list.stdout)
    );
    let out =
        run(dir.path(), &["user", "password", "paul@desk.test", "--password-stdin"], Some("un mot de passe sûr\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(dir.path(), &["user", "disable", "paul@desk.test"], None);
    assert!(out.status.success());
    assert!(text(&run(dir.path(), &["user", "list"], None).stdout).contains("disabled"));
    assert!(run(dir.path(), &["user", "enable", "paul@desk.test"], None).status.success());
    // Errors: one line, the cause said once, and what to do.
    let missing = run(dir.path(), &["user", "disable", "nobody@desk.test"], None);
    assert!(!missing.status.success());
    assert_eq!(
        text(&missing.stderr).trim(),
        "error: no user has the address nobody@desk.test (see `guichet user list`)"
    );
    let none = run(dir.path(), &["user", "password", "paul@desk.test"], None);
    assert!(text(&none.stderr).contains("--password-stdin"), "{}", text(&none.stderr));
}

#[test]
fn a_port_in_use_points_to_bind_and_errors_say_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = busy.local_addr().unwrap().to_string();
    let out = run(dir.path(), &["serve", "--bind", &address], None);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--bind") && stderr.lines().count() == 1, "{stderr}");
    let Ok(url) = std::env::var("GUICHET_TEST_POSTGRES_URL") else { return };
    let missing = url.rsplit_once('/').map(|(base, _)| format!("{base}/guichet_missing_db")).unwrap();
    let out = run(dir.path(), &["--database-url", &missing, "migrate"], None);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("PostgreSQL in five minutes"), "{stderr}");
    assert_eq!(stderr.matches("does not exist").count(), 1, "the cause once: {stderr}");
}

#[test]
fn the_smtp_server_can_come_from_the_environment_with_its_password_masked() {
    let dir = tempfile::tempdir().unwrap();
    let out = guichet(dir.path(), &["config", "check"])
        .env("GUICHET_SMTP__HOST", "smtp.ent.test")
        .env("GUICHET_SMTP__PORT", "2525")
        .env("GUICHET_SMTP__FROM", "Support ENT <support@ent.test>")
        .env("GUICHET_SMTP__PASSWORD", "s3cret-env")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("host = \"smtp.ent.test\"") && shown.contains("port = 2525"), "{shown}");
    assert!(!shown.contains("s3cret-env"), "{shown}");
    let bad = guichet(dir.path(), &["config", "check"]).env("GUICHET_SMTP__PORT", "not-a-port").output().unwrap();
    assert!(!bad.status.success());
    assert_eq!(text(&bad.stderr).lines().count(), 1, "{}", text(&bad.stderr));
}

#[test]
fn json_logs_are_one_object_per_line_carrying_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("GUICHET_LOG", "info,tower_http=debug"), ("GUICHET_LOG_FORMAT", "json")];
    let (child, base, _) = serve_demo_with(dir.path(), &[], &env);
    let answer = ureq::get(&format!("{base}/healthz")).set("X-Request-Id", "support-4242").call().unwrap();
    assert_eq!(answer.header("x-request-id"), Some("support-4242"));
    assert!(stop(child).success());
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(!log.contains('\u{1b}'), "no colour codes in a file");
    let objects: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(objects.iter().all(|o| o["level"].is_string() && o["timestamp"].is_string()));
    assert!(
        objects.iter().any(|o| o["span"]["request_id"] == "support-4242" && o["span"]["route"] == "/healthz"),
        "{log}"
    );
}

/// Files tickets as `token` for `uai` from 8 threads until `stop` is set;
/// every key the server acknowledged, with when it was acknowledged.
fn writers(
    base: &str,
    token: &str,
    uai: &str,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::thread::JoinHandle<Vec<(std::time::Instant, String)>>> {
    (0..8)
        .map(|w| {
            let (base, token, uai, stop) = (base.to_owned(), token.to_owned(), uai.to_owned(), stop.clone());
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body = serde_json::json!({"title": format!("Écriture {w}"), "establishment": uai});
                    let created = ureq::post(&format!("{base}/api/v1/tickets"))
                        .set("Authorization", &format!("Bearer {token}"))
                        .send_json(body);
                    if let Ok(answer) = created {
                        let key = answer.into_json::<serde_json::Value>().unwrap()["key"].as_str().unwrap().to_owned();
                        acked.push((std::time::Instant::now(), key));
                    }
                }
                acked
            })
        })
        .collect()
}

#[test]
fn a_backup_taken_under_load_restores_every_ticket_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (child, base, logins) = serve_demo(dir.path(), &[]);
    let requester = logins.iter().find(|(r, _)| r == "requester").unwrap().1.clone();
    let uai = get_json(&format!("{base}/api/v1/me"), &requester)["establishments"][0].as_str().unwrap().to_owned();
    let halt = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads = writers(&base, &requester, &uai, &halt);
    std::thread::sleep(std::time::Duration::from_millis(800));
    let started = std::time::Instant::now();
    let out = run(dir.path(), &["backup", "--to", "sauvegardes"], None);
    std::thread::sleep(std::time::Duration::from_millis(300));
    halt.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked: Vec<(std::time::Instant, String)> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(stop(child).success());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(line.starts_with("backup written: sauvegardes/guichet-") && line.contains("schema version"), "{line}");
    let before: Vec<&String> = acked.iter().filter(|(at, _)| *at < started).map(|(_, k)| k).collect();
    let after = acked.len() - before.len();
    assert!(before.len() >= 8 && after > 0, "writes went on around the backup: {} before, {after} after", before.len());
    let backups: Vec<_> =
        std::fs::read_dir(dir.path().join("sauvegardes")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(backups.len(), 1, "one whole file, no partial one left: {backups:?}");

    // Restored into an empty data directory, it holds every acknowledged ticket and migrates.
    let restored = tempfile::tempdir().unwrap();
    let backup = backups[0].to_str().unwrap();
    let out = run(restored.path(), &["restore", backup], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(restored.path(), &["migrate"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let db = restored.path().join("guichet-data/guichet.db");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (check, numbers): (String, Vec<i64>) = runtime.block_on(async {
        use sqlx::ConnectOptions;
        let mut c = sqlx::sqlite::SqliteConnectOptions::new().filename(&db).connect().await.unwrap();
        let check = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut c).await.unwrap();
        (check, sqlx::query_scalar("SELECT id FROM tickets").fetch_all(&mut c).await.unwrap())
    });
    assert_eq!(check, "ok");
    let missing: Vec<_> =
        before.iter().filter(|k| !numbers.contains(&k.trim_start_matches("SUP-").parse::<i64>().unwrap())).collect();
    assert!(missing.is_empty(), "acknowledged before the backup and lost: {missing:?}");

    // Never over a database: the same restore again is refused in one line.
    let again = run(restored.path(), &["restore", backup], None);
    assert_eq!(again.status.code(), Some(1));
    let error = text(&again.stderr);
    assert!(error.contains("a database already exists at guichet-data/guichet.db"), "{error}");
    assert_eq!(error.lines().count(), 1, "{error}");
}

#[test]
fn restore_clears_a_stale_write_ahead_log_and_refuses_what_is_not_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["demo", "--establishments", "3", "--tickets", "20"], None).status.success());
    let out = run(dir.path(), &["backup", "--to", "b", "--keep", "2"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for _ in 0..2 {
        assert!(run(dir.path(), &["backup", "--to", "b", "--keep", "2"], None).status.success());
    }
    let mut kept: Vec<_> = std::fs::read_dir(dir.path().join("b")).unwrap().map(|e| e.unwrap().path()).collect();
    kept.sort();
    assert_eq!(kept.len(), 2, "--keep 2 keeps the two newest: {kept:?}");

    let target = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(target.path().join("guichet-data")).unwrap();
    // What a deleted database left behind would be replayed into the restored one.
    std::fs::write(target.path().join("guichet-data/guichet.db-wal"), b"stale").unwrap();
    std::fs::write(target.path().join("guichet-data/guichet.db-shm"), b"stale").unwrap();
    let out = run(target.path(), &["restore", kept[1].to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("removed the stale"), "{}", text(&out.stdout));
    assert!(!target.path().join("guichet-data/guichet.db-wal").exists());
    let out = run(target.path(), &["user", "list"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("notes.db"), b"pas une base").unwrap();
    let truncated = std::fs::read(&kept[1]).unwrap();
    std::fs::write(elsewhere.path().join("cut.db"), &truncated[..truncated.len() / 2]).unwrap();
    for (file, expected) in [
        ("notes.db", "is not a Guichet backup"),
        ("cut.db", "cannot be restored"),
        ("absent.db", "cannot open absent.db"),
    ] {
        let out = run(elsewhere.path(), &["restore", file], None);
        assert_eq!(out.status.code(), Some(1), "{file}");
        let error = text(&out.stderr);
        assert!(error.contains(expected), "{file}: {error}");
        assert_eq!(error.lines().count(), 1, "{error}");
        assert!(!elsewhere.path().join("guichet-data/guichet.db").exists(), "{file} left no database");
    }
}

/// Loads a small demo into the PostgreSQL database at `url` and backs it up
/// under `dir/b`: the dump's path.
fn postgresql_demo_backup(dir: &Path, url: &str, tickets: u32) -> String {
    let tickets = tickets.to_string();
    let demo = run(dir, &["--database-url", url, "demo", "--establishments", "3", "--tickets", &tickets], None);
    assert!(demo.status.success(), "{}", text(&demo.stderr));
    let out = run(dir, &["--database-url", url, "backup", "--to", "b"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("pg_dump custom format"), "{}", text(&out.stdout));
    let dump = std::fs::read_dir(dir.join("b")).unwrap().next().unwrap().unwrap().path();
    assert!(dump.to_str().unwrap().ends_with(".dump"));
    dump.to_str().unwrap().to_owned()
}

#[test]
fn a_postgresql_backup_is_a_pg_dump_restored_only_into_an_empty_database() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let source = runtime.block_on(guichet_testkit::TestDb::new(guichet_testkit::Backend::Postgres));
    let empty = runtime.block_on(guichet_testkit::empty_postgres_database());
    let dir = tempfile::tempdir().unwrap();
    let dump = postgresql_demo_backup(dir.path(), &source.url, 30);
    let dump = dump.as_str();

    let out = run(dir.path(), &["--database-url", &empty, "restore", dump], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let count = |url: &str| {
        let out = run(dir.path(), &["--database-url", url, "user", "list"], None);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(count(&empty), count(&source.url), "the same people after the restore");
    let again = run(dir.path(), &["--database-url", &empty, "restore", dump], None);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("restore only into an empty database"), "{}", text(&again.stderr));
    // A dump is not restored into SQLite, nor a SQLite file into PostgreSQL.
    let wrong = run(dir.path(), &["restore", dump], None);
    assert!(text(&wrong.stderr).contains("is a PostgreSQL dump and the database is SQLite"), "{}", text(&wrong.stderr));
}

/// Kept up to date through a bulk load, the RUM indexes cost each document
/// about 0.4 ms, most of the load's time: the demo makes them once at its
/// end instead, and they are there again when it is done.
#[test]
fn the_demo_on_postgresql_makes_the_rum_indexes_after_its_load_instead_of_through_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(guichet_testkit::TestDb::new(guichet_testkit::Backend::Postgres));
    let index_oid = || {
        runtime.block_on(async {
            let mut conn = db.db.conn().await.unwrap();
            assert!(guichet_store::search::has_recency_indexes(&mut conn).await.unwrap());
            let sql = "SELECT 'search_docs_recent_0_from_0'::regclass::oid::BIGINT";
            guichet_store::on_conn!(conn, |c| sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut *c).await).unwrap()
        })
    };
    let before = index_oid();
    let dir = tempfile::tempdir().unwrap();
    let demo = ["--database-url", db.url.as_str(), "demo", "--establishments", "5", "--tickets", "300"];
    let out = run(dir.path(), &demo, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = index_oid();
    assert_ne!(before, after, "the index was made again after the load");
    let out = run(dir.path(), &["--database-url", db.url.as_str(), "bench", "search", "--iterations", "1"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("common word messagerie (largest school)"), "{}", text(&out.stdout));
    let doctor = run(dir.path(), &["--database-url", db.url.as_str(), "doctor"], None);
    assert!(text(&doctor.stdout).contains("search: PostgreSQL, the most recent matches"), "{}", text(&doctor.stdout));
    // A base of a few hundred tickets fits in PostgreSQL's default page cache.
    let memory = text(&doctor.stdout).lines().find(|l| l.contains("memory: ")).map(str::to_owned);
    let memory = memory.expect("a memory line");
    assert!(memory.starts_with("ok    memory: PostgreSQL's shared_buffers "), "{memory}");
    assert!(memory.contains(" for a database of "), "{memory}");
}

#[test]
fn the_demo_on_postgresql_leaves_one_hourly_count_per_hour_for_the_reports() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(guichet_testkit::TestDb::new(guichet_testkit::Backend::Postgres));
    // Rows of differences that add nothing, as a load of 20,000 changes in
    // one hour leaves them.
    runtime.block_on(async {
        let mut conn = db.db.conn().await.unwrap();
        let sql =
            "INSERT INTO ticket_hour_counts (hour, created, resolved) SELECT 1, 0, 0 FROM generate_series(1, 20000)";
        guichet_store::on_conn!(conn, |c| sqlx::query(sql).execute(&mut *c).await.map(|_| ())).unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let demo = ["--database-url", db.url.as_str(), "demo", "--establishments", "5", "--tickets", "300"];
    let out = run(dir.path(), &demo, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Every filing appends a row of differences; the clock job of a running
    // server folds them, and a bench or a report right after the demo must
    // not read one row per change (160 ms for a month at 1M tickets, not 2).
    let (rows, hours, created): (i64, i64, i64) = runtime.block_on(async {
        let mut conn = db.db.conn().await.unwrap();
        let sql = "SELECT COUNT(*), COUNT(DISTINCT hour), CAST(SUM(created) AS BIGINT) FROM ticket_hour_counts";
        guichet_store::on_conn!(conn, |c| sqlx::query_as(sql).fetch_one(&mut *c).await).unwrap()
    });
    assert!(hours > 1, "the demo's tickets span many hours");
    assert_eq!(rows, hours, "one row per hour after the demo");
    assert!(created >= 300, "the counts are kept: {created}");
    // And in as few pages as they need: folded in place, the rows sat after
    // every page the load's rows had filled, which PostgreSQL's sums read
    // (54 MB, 20 ms for a backlog at 1M tickets, against 0.1 MB).
    let pages: i64 = runtime.block_on(async {
        let mut conn = db.db.conn().await.unwrap();
        let sql = "SELECT CAST(MAX((ctid::text::point)[0]) AS BIGINT) + 1 FROM ticket_hour_counts";
        guichet_store::on_conn!(conn, |c| sqlx::query_scalar(sql).fetch_one(&mut *c).await).unwrap()
    });
    assert!(pages * 100 <= rows + 100, "{rows} rows spread over {pages} pages");
}

#[test]
fn a_dump_with_the_rum_indexes_restores_for_an_owner_without_rum_and_migrate_makes_them_once_it_is_there() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let source = runtime.block_on(guichet_testkit::TestDb::new(guichet_testkit::Backend::Postgres));
    let recency = |db: &guichet_store::Db| {
        runtime.block_on(async {
            guichet_store::search::has_recency_indexes(&mut db.conn().await.unwrap()).await.unwrap()
        })
    };
    assert!(recency(&source.db), "the test server has RUM (scripts/test.sh installs postgresql-NN-rum)");
    let dir = tempfile::tempdir().unwrap();
    let dump = postgresql_demo_backup(dir.path(), &source.url, 60);
    let dump = dump.as_str();

    // An empty database owned by a role that is no superuser: it may not create RUM.
    let admin = guichet_testkit::postgres_admin_url();
    let name = format!("{}_owner", source.url.rsplit('/').next().unwrap());
    runtime.block_on(async {
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.unwrap();
        sqlx::query(&format!("CREATE ROLE {name} LOGIN")).execute(&mut c).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name} OWNER {name}")).execute(&mut c).await.unwrap();
    });
    let (server, _) = admin.rsplit_once('/').unwrap();
    let owner_url = server.replacen("://postgres@", &format!("://{name}@"), 1) + "/" + &name;
    assert_ne!(owner_url, format!("{server}/{name}"), "GUICHET_TEST_POSTGRES_URL names the postgres user");
    let out = run(dir.path(), &["--database-url", &owner_url, "restore", dump], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(dir.path(), &["--database-url", &owner_url, "migrate"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let owner = runtime.block_on(guichet_store::Db::connect(&owner_url, false)).unwrap();
    assert!(!recency(&owner), "no RUM for this owner, and none restored from the dump");
    let doctor = run(dir.path(), &["--database-url", &owner_url, "doctor"], None);
    assert!(text(&doctor.stdout).contains("search: no RUM extension"), "{}", text(&doctor.stdout));

    // Found alike with and without the indexes.
    let hits = |url: &str| {
        let out = run(dir.path(), &["--database-url", url, "bench", "search", "--iterations", "1"], None);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let rows = text(&out.stdout);
        rows.lines().skip(2).map(|l| l.split_whitespace().rev().nth(2).unwrap().to_owned()).collect::<Vec<_>>()
    };
    let with_rum = hits(&source.url);
    assert!(with_rum.iter().any(|n| n != "0"), "the demo's words are found: {with_rum:?}");
    assert_eq!(hits(&owner_url), with_rum);

    // A superuser installs the extension; the next migrate makes the indexes.
    runtime.block_on(async {
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&format!("{server}/{name}")).await.unwrap();
        sqlx::query("CREATE EXTENSION rum").execute(&mut c).await.unwrap();
    });
    let out = run(dir.path(), &["--database-url", &owner_url, "migrate"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(recency(&owner));
    let doctor = run(dir.path(), &["--database-url", &owner_url, "doctor"], None);
    assert!(text(&doctor.stdout).contains("search: PostgreSQL, the most recent matches"), "{}", text(&doctor.stdout));
    assert_eq!(hits(&owner_url), with_rum);
    runtime.block_on(owner.close());
}

/// A Dovecot of one test's own (`scripts/mail-servers.sh`), stopped when dropped.
struct Dovecot(tempfile::TempDir);

impl Dovecot {
    const SCRIPT: &'static str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/mail-servers.sh");

    fn start(imap_port: u16) -> Dovecot {
        let dir = tempfile::tempdir().unwrap();
        // Dovecot goes on in the background holding what it inherited: no
        // pipe for its output, which would never be closed.
        let started = Command::new(Self::SCRIPT)
            .args(["start", dir.path().to_str().unwrap()])
            .env("IMAP_PORT", imap_port.to_string())
            .env("LMTP_PORT", guichet_testkit::mail::free_port().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(started.success(), "Dovecot did not start (see {}/dovecot.log)", dir.path().display());
        wait_for("Dovecot to listen", || std::net::TcpStream::connect(("127.0.0.1", imap_port)).is_ok().then_some(()));
        Dovecot(dir)
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new(Self::SCRIPT)
            .args(["stop", self.0.path().to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn doctor_checks_every_real_server_and_names_the_one_that_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let desk = guichet_testkit::mail::unique("support");
    let smtp_port = guichet_testkit::mail::free_port();
    let _relay = guichet_testkit::mail::SmtpRelay::start(smtp_port);
    mail_config(dir.path(), &desk, smtp_port);
    // A Dovecot of this test's own, to stop it half-way.
    let imap_port = guichet_testkit::mail::free_port();
    let dovecot = Dovecot::start(imap_port);
    let (_, shared_port) = guichet_testkit::mail::imap_server();
    let config = std::fs::read_to_string(dir.path().join("guichet.toml")).unwrap();
    let own = config.replace(&format!("port = {shared_port}"), &format!("port = {imap_port}"));
    std::fs::write(dir.path().join("guichet.toml"), own).unwrap();
    let (child, base, _) = serve_demo(dir.path(), &[]);
    let config = std::fs::read_to_string(dir.path().join("guichet.toml")).unwrap();
    std::fs::write(dir.path().join("guichet.toml"), format!("public_url = \"{base}\"\n{config}")).unwrap();

    let out = run(dir.path(), &["doctor"], None);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    for line in [
        "ok    configuration: valid; 1 mailbox(es), SMTP configured".to_owned(),
        "ok    database: SQLite, schema version".to_owned(),
        "--    clock: SQLite runs on this machine's clock".to_owned(),
        "ok    search: SQLite FTS5".to_owned(),
        "--    memory: SQLite's pages are held by the system's file cache".to_owned(),
        "--    statements: SQLite runs its statements inside this program".to_owned(),
        "ok    disk: ".to_owned(),
        format!("ok    mailbox {desk}: signed in to "),
        "ok    smtp: 127.0.0.1 answers; nothing was sent".to_owned(),
        format!("ok    public url: {base} answers and is ready"),
    ] {
        assert!(report.lines().any(|l| l.starts_with(&line)), "{line}\n{report}");
    }
    assert_eq!(report.lines().count(), 10, "{report}");

    // The IMAP server stopped, and the service: each named in its own line.
    assert!(stop(child).success());
    drop(dovecot);
    wait_for("Dovecot to stop", || std::net::TcpStream::connect(("127.0.0.1", imap_port)).is_err().then_some(()));
    let out = run(dir.path(), &["doctor"], None);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    let failed: Vec<&str> = report.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(failed.len(), 2, "{report}");
    assert!(failed[0].starts_with(&format!("FAIL  mailbox {desk}: cannot reach 127.0.0.1:{imap_port}")), "{report}");
    assert!(failed[1].starts_with(&format!("FAIL  public url: nothing answers at {base}")), "{report}");
    assert_eq!(text(&out.stderr).trim(), "error: 2 check(s) failed");
}

/// A statement of Guichet's that never ends (a filing spinning in a damaged
/// index ignores cancellation) fails `doctor`; another program's long
/// statement, and one of Guichet's waiting on another's lock, do not.
#[test]
fn doctor_names_a_statement_of_guichets_that_never_ends_and_no_one_elses() {
    use sqlx::{ConnectOptions, Executor};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(guichet_testkit::TestDb::new(guichet_testkit::Backend::Postgres));
    let name: String = runtime.block_on(async {
        let mut conn = db.db.conn().await.unwrap();
        let sql = "SELECT current_setting('application_name')";
        guichet_store::on_conn!(conn, |c| sqlx::query_scalar(sql).fetch_one(&mut *c).await).unwrap()
    });
    assert_eq!(name, "guichet", "Guichet's sessions are named");
    let session = |application: &'static str, sql: &'static str| {
        let options = std::str::FromStr::from_str(&db.url)
            .map(|o: sqlx::postgres::PgConnectOptions| o.application_name(application));
        runtime.spawn(async move {
            let mut conn = options.unwrap().connect().await.unwrap();
            // Ended by the cancellation below.
            let _ = conn.execute(sql).await;
        })
    };
    let sessions = [
        session("psql", "BEGIN; LOCK TABLE settings; SELECT pg_sleep(60)"),
        session("guichet-n2", "SELECT pg_sleep(60)"),
    ];
    let active = |query: &'static str| {
        runtime.block_on(async {
            let mut conn = db.db.conn().await.unwrap();
            let sql = "SELECT COUNT(*) FROM pg_stat_activity \
                       WHERE datname = current_database() AND state = 'active' AND query = $1";
            guichet_store::on_conn!(conn, |c| sqlx::query_scalar::<_, i64>(sql).bind(query).fetch_one(&mut *c).await)
                .unwrap()
        })
    };
    let lock = "BEGIN; LOCK TABLE settings; SELECT pg_sleep(60)";
    wait_for("the sessions to start", || (active("SELECT pg_sleep(60)") + active(lock) == 2).then_some(()));
    let waiting = session("guichet", "SELECT COUNT(*) FROM settings");
    wait_for("the read to wait for the lock", || (active("SELECT COUNT(*) FROM settings") == 1).then_some(()));
    std::thread::sleep(std::time::Duration::from_millis(1500));

    let dir = tempfile::tempdir().unwrap();
    let doctor = |limit: &[&str]| {
        let args = [&["--database-url", db.url.as_str(), "doctor"], limit].concat();
        let out = run(dir.path(), &args, None);
        let line = text(&out.stdout).lines().find(|l| l.contains("statements: ")).map(str::to_owned);
        (out.status.code(), line.expect("a statements line"), text(&out.stderr))
    };
    // No service runs here: the disk and public URL checks fail in both runs.
    let (code, line, stderr) = doctor(&["--statement-limit", "1"]);
    assert_eq!(code, Some(1), "{line}");
    assert!(line.starts_with("FAIL  statements: 1 of Guichet's running for more than 1 s, the oldest for "), "{line}");
    assert!(line.contains("`SELECT pg_sleep(60)`; see docs/operations.md"), "{line}");
    assert_eq!(stderr.trim(), "error: 3 check(s) failed");
    let (_, line, stderr) = doctor(&[]);
    assert_eq!(line, "ok    statements: none of Guichet's has run for more than 300 s");
    assert_eq!(stderr.trim(), "error: 2 check(s) failed");
    let out = run(dir.path(), &["--database-url", db.url.as_str(), "doctor", "--statement-limit", "0"], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    runtime.block_on(async {
        let mut conn = db.db.conn().await.unwrap();
        let sql = "SELECT pg_cancel_backend(pid) FROM pg_stat_activity \
                   WHERE datname = current_database() AND query LIKE '%SELECT pg_sleep(60)'";
        guichet_store::on_conn!(conn, |c| sqlx::query(sql).execute(&mut *c).await.map(|_| ())).unwrap();
    });
    for task in sessions.into_iter().chain([waiting]) {
        runtime.block_on(task).unwrap();
    }
}

#[test]
fn migrate_dry_run_lists_what_would_run_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let migrations =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/sqlite")).unwrap().count();
    let out = run(dir.path(), &["migrate", "--dry-run"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert_eq!(listed.lines().count(), migrations, "{listed}");
    assert!(listed.starts_with("would apply 0001 "), "{listed}");
    assert!(!dir.path().join("guichet-data/guichet.db").exists(), "a dry run creates no database");
    assert!(run(dir.path(), &["migrate"], None).status.success());
    let out = run(dir.path(), &["migrate", "--dry-run"], None);
    assert_eq!(text(&out.stdout).trim(), format!("nothing to apply: schema version {migrations}"));
}

/// The value of the first series of `name` whose labels include every one of `labels`.
fn series(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit_once(' ')?.1.parse().ok())
}

#[test]
fn metrics_count_what_the_api_did_and_ask_for_an_administrator_on_the_main_address() {
    let dir = tempfile::tempdir().unwrap();
    let port = guichet_testkit::mail::free_port();
    std::fs::write(dir.path().join("guichet.toml"), format!("metrics_bind = \"127.0.0.1:{port}\"\n")).unwrap();
    let (child, base, logins) = serve_demo(dir.path(), &[]);
    let token = |role: &str| logins.iter().find(|(r, _)| r == role).unwrap().1.clone();
    let requester = token("requester");
    let uai = get_json(&format!("{base}/api/v1/me"), &requester)["establishments"][0].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let created = ureq::post(&format!("{base}/api/v1/tickets"))
            .set("Authorization", &format!("Bearer {requester}"))
            .send_json(serde_json::json!({"title": "Compteurs", "establishment": uai}));
        assert_eq!(created.unwrap().status(), 201);
    }
    let missing = ureq::get(&format!("{base}/api/v1/tickets/SUP-99999"))
        .set("Authorization", &format!("Bearer {requester}"))
        .call();
    assert!(matches!(missing, Err(ureq::Error::Status(404, _))));

    let scraped = ureq::get(&format!("http://127.0.0.1:{port}/metrics")).call().unwrap();
    assert!(scraped.content_type().starts_with("text/plain"));
    let metrics = scraped.into_string().unwrap();
    let created = ["method=\"POST\"", "route=\"/api/v1/tickets\"", "status=\"201\""];
    assert_eq!(series(&metrics, "guichet_http_requests_total", &created), Some(3.0), "{metrics}");
    let not_found = ["route=\"/api/v1/tickets/{key}\"", "status=\"404\""];
    assert_eq!(series(&metrics, "guichet_http_requests_total", &not_found), Some(1.0), "{metrics}");
    assert!(
        series(&metrics, "guichet_http_request_duration_seconds_count", &["route=\"/api/v1/tickets\""]) >= Some(3.0)
    );
    assert!(series(&metrics, "guichet_tickets_created_total", &[]) >= Some(3.0), "{metrics}");
    assert!(series(&metrics, "guichet_db_write_batch_size_count", &[]) >= Some(3.0), "{metrics}");
    assert!(series(&metrics, "guichet_db_connections", &["state=\"max\""]) > Some(0.0), "{metrics}");
    assert!(series(&metrics, "guichet_outbox_depth", &[]).is_some(), "{metrics}");
    assert!(!metrics.contains("SUP-99999"), "series are by route pattern, not by path");

    // On the service's own address: an administrator's token, nobody else.
    let url = format!("{base}/metrics");
    assert!(matches!(ureq::get(&url).call(), Err(ureq::Error::Status(401, _))));
    let as_school = ureq::get(&url).set("Authorization", &format!("Bearer {requester}")).call();
    assert!(matches!(as_school, Err(ureq::Error::Status(403, _))));
    let as_agent = ureq::get(&url).set("Authorization", &format!("Bearer {}", token("agent"))).call();
    assert!(matches!(as_agent, Err(ureq::Error::Status(403, _))));
    let as_admin = ureq::get(&url).set("Authorization", &format!("Bearer {}", token("admin"))).call().unwrap();
    assert!(as_admin.into_string().unwrap().contains("guichet_http_requests_total"));
    assert!(stop(child).success());
}

/// The demo logins the previous release printed when it made its fixtures.
fn fixture_tokens(tag: &str) -> Vec<(String, String)> {
    let path = format!("{}/tests/fixtures/{tag}/logins.txt", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (left, token) = line.split_once("API token: ")?;
            Some((left.split_whitespace().next()?.to_owned(), token.trim().to_owned()))
        })
        .collect()
}

/// Rows of every table that holds the desk's data.
fn row_counts(url: &str) -> Vec<(&'static str, i64)> {
    let tables = ["tickets", "comments", "ticket_events", "attachments", "users", "establishments", "ticket_links"];
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let db = guichet_store::Db::connect(url, false).await.unwrap();
        let mut conn = db.conn().await.unwrap();
        let mut counts = Vec::new();
        for table in tables {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            let n: i64 = guichet_store::on_conn!(conn, |c| sqlx::query_scalar(&sql).fetch_one(&mut *c).await).unwrap();
            counts.push((table, n));
        }
        counts
    })
}

/// After migrating a previous release's database (at `url`): every row is
/// still there, its tickets are readable, and the desk works on it
/// (filing, search, reports).
fn smoke_test_an_upgraded_database(dir: &Path, extra: &[&str], url: &str, tag: &str) {
    let before = row_counts(url);
    assert!(before.iter().any(|(t, n)| *t == "comments" && *n > 0), "{before:?}");
    let migrated = run(dir, &[extra, &["migrate"]].concat(), None);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let migrations =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations/sqlite")).unwrap().count();
    assert_eq!(text(&migrated.stdout).trim(), format!("schema version {migrations}"));
    assert_eq!(row_counts(url), before, "no migration since {tag} loses a row");
    let (child, base, _) = serve_demo(dir, extra);
    let tokens = fixture_tokens(tag);
    let token = |role: &str| tokens.iter().find(|(r, _)| r == role).unwrap().1.clone();
    let agent = token("agent");
    let list = get_json(&format!("{base}/api/v1/tickets?per_page=100&sort=created"), &agent);
    let total = list["total"].as_u64().unwrap();
    assert!(total >= 40, "the release's 40 tickets and its incident's are all there: {total}");
    let first = get_json(&format!("{base}/api/v1/tickets/SUP-1"), &agent);
    assert!(!first["title"].as_str().unwrap().is_empty());
    let history = get_json(&format!("{base}/api/v1/tickets/SUP-1/history"), &agent);
    assert!(!history.as_array().unwrap().is_empty(), "its history came along");
    let requester = token("requester");
    let me = get_json(&format!("{base}/api/v1/me"), &requester);
    let uai = me["establishments"][0].as_str().unwrap();
    let created: serde_json::Value = ureq::post(&format!("{base}/api/v1/tickets"))
        .set("Authorization", &format!("Bearer {requester}"))
        .send_json(serde_json::json!({"title": "Après la mise à jour", "establishment": uai}))
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(created["key"], format!("SUP-{}", total + 1), "numbering goes on after the old tickets");
    let hits = get_json(&format!("{base}/api/v1/search?q=mise"), &agent);
    assert!(hits.as_array().unwrap().iter().any(|h| h["key"] == created["key"]), "{hits}");
    let volume = get_json(&format!("{base}/api/v1/reports/volume?granularity=month"), &agent);
    assert!(volume.is_object(), "{volume}");
    assert!(stop(child).success());
}

#[test]
fn a_sqlite_database_of_the_previous_release_is_migrated_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let zipped = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v0.1.0/guichet-sqlite.zip"));
    let mut archive = zip::ZipArchive::new(zipped.unwrap()).unwrap();
    let mut old = archive.by_name("guichet.db").unwrap();
    let mut file = std::fs::File::create(dir.path().join("v0.1.0.db")).unwrap();
    std::io::copy(&mut old, &mut file).unwrap();
    let restored = run(dir.path(), &["restore", "v0.1.0.db"], None);
    assert!(restored.status.success(), "{}", text(&restored.stderr));
    let url = format!("sqlite://{}", dir.path().join("guichet-data/guichet.db").display());
    smoke_test_an_upgraded_database(dir.path(), &[], &url, "v0.1.0");
}

#[test]
fn a_postgresql_database_of_the_previous_release_is_migrated_and_works() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = runtime.block_on(guichet_testkit::empty_postgres_database());
    let dir = tempfile::tempdir().unwrap();
    let dump = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v0.1.0/guichet-postgres.dump");
    let restored = run(dir.path(), &["--database-url", &url, "restore", dump], None);
    assert!(restored.status.success(), "{}", text(&restored.stderr));
    smoke_test_an_upgraded_database(dir.path(), &["--database-url", &url], &url, "v0.1.0");
}

/// `bench queries` on a small base: every shape runs, with the count it found.
fn queries_benchmark_runs(dir: &Path, extra: &[&str]) {
    let demo = run(dir, &[extra, &["demo", "--establishments", "5", "--tickets", "200"]].concat(), None);
    assert!(demo.status.success(), "{}", text(&demo.stderr));
    let out = run(dir, &[extra, &["bench", "queries", "--iterations", "2", "--explain"]].concat(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let rows: Vec<&str> = stdout.lines().filter(|l| l.contains(" ORDER BY ")).collect();
    assert_eq!(rows.len(), 20, "{stdout}");
    let found = |shape: &str| -> u64 {
        let row = rows.iter().find(|r| r.starts_with(shape)).unwrap();
        row.split_whitespace().rev().nth(2).unwrap().parse().unwrap()
    };
    assert!(found("establishment = {uai} ORDER BY created DESC") > 0, "{stdout}");
    assert!(found("statut = nouveau ORDER BY created") > 0, "{stdout}");
    assert!(stdout.contains("worst p99: "), "{stdout}");
    // Each query's plan follows it, for the page and for the count.
    assert!(stdout.lines().filter(|l| l.starts_with("    page:  ")).count() >= 20, "{stdout}");
    assert!(stdout.lines().filter(|l| l.starts_with("    count: ")).count() >= 20, "{stdout}");
}

#[test]
fn the_queries_benchmark_runs_on_a_small_data_set_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    queries_benchmark_runs(dir.path(), &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = runtime.block_on(guichet_testkit::empty_postgres_database());
    let pg = tempfile::tempdir().unwrap();
    queries_benchmark_runs(pg.path(), &["--database-url", &url]);
}

/// Every benchmark command on a small PostgreSQL base too, so that none of
/// them stops working on the backend a region with several nodes runs.
/// Its ticket numbers have gaps, as any PostgreSQL base's do: a filing
/// rolled back has used its number, and a forgotten ticket leaves its own.
#[test]
fn the_filter_report_search_and_http_benchmarks_run_on_a_small_postgresql_base_with_gaps_in_its_numbers() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = runtime.block_on(guichet_testkit::empty_postgres_database());
    let dir = tempfile::tempdir().unwrap();
    let db = ["--database-url", url.as_str()];
    let demo = run(dir.path(), &[&db[..], &["demo", "--establishments", "5", "--tickets", "200"]].concat(), None);
    assert!(demo.status.success(), "{}", text(&demo.stderr));
    runtime.block_on(async {
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
        sqlx::query("DELETE FROM tickets WHERE id % 3 = 0").execute(&mut c).await.unwrap();
    });
    let bench = |args: &[&str]| {
        let out = run(dir.path(), &[&db[..], &["bench"], args].concat(), None);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let filters = bench(&["filters", "--iterations", "2"]);
    assert!(filters.starts_with("PostgreSQL, 138 tickets") && filters.contains("dashboard (all tiles)"), "{filters}");
    let reports = bench(&["reports", "--iterations", "1"]);
    assert!(reports.contains("created vs resolved, last year"), "{reports}");
    let search = bench(&["search", "--iterations", "1"]);
    assert!(search.contains("common word messagerie (agent)"), "{search}");
    let http = bench(&["http", "--requests", "32", "--settle", "1"]);
    assert!(
        http.contains("ticket creation, 16 client(s): 32 tickets") && http.contains("ad-hoc lists, 8 clients"),
        "{http}"
    );
}
