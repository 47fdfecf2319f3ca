//! The e-mail channel against real servers on loopback: Dovecot for IMAP
//! (started by the test command) and an SMTP server delivering into Dovecot.
//! Every test runs on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use guichet_app::mail::IngestOutcome;
use guichet_domain::establishment::NewEstablishment;
use guichet_domain::user::{NewUser, Role};
use guichet_mail::smtp::Sender;
use guichet_testkit::mail::{self as servers, SmtpRelay};
use guichet_testkit::{json, Backend, TestApp};

/// A desk with its mailbox, two schools and their people, all with addresses
/// of their own so that tests running side by side never share a mailbox.
struct Desk {
    t: TestApp,
    desk: String,
    uai_a: String,
    requester_a: Person,
    requester_b: Person,
    agent: Person,
    admin: Person,
}

struct Person {
    /// Dovecot user (the local part of the address).
    local: String,
    email: String,
    token: String,
}

impl Desk {
    async fn new(backend: Backend) -> Desk {
        Self::with(backend, |_| {}).await
    }

    async fn with(backend: Backend, change: impl FnOnce(&mut guichet_app::Settings)) -> Desk {
        let desk = servers::unique("desk");
        let mut settings = servers::settings(&desk);
        change(&mut settings);
        let t = TestApp::with_settings(backend, settings).await;
        let op = t.app.operator();
        let (uai_a, uai_b) = ("0750655E".to_owned(), "0930124E".to_owned());
        for (uai, name) in [(&uai_a, "Lycée Henri Wallon"), (&uai_b, "Lycée Paul Éluard")] {
            t.app.create_establishment(&op, NewEstablishment::parse(uai, name, "Paris", None).unwrap()).await.unwrap();
        }
        let requester_a = person(&t, "nathalie", "lycee-a.test", Role::Requester, Some(&uai_a)).await;
        let requester_b = person(&t, "karim", "lycee-b.test", Role::Requester, Some(&uai_b)).await;
        let agent = person(&t, "claire", "guichet.test", Role::Agent, None).await;
        let admin = person(&t, "boss", "guichet.test", Role::Admin, None).await;
        Desk { t, desk, uai_a, requester_a, requester_b, agent, admin }
    }

    async fn fetch(&self) -> guichet_mail::imap::PassReport {
        guichet_mail::imap::poll_once(&self.t.app, &servers::mailbox(&self.desk)).await.unwrap()
    }

    async fn deliver(&self, raw: &str) {
        servers::append(&self.desk, raw.as_bytes()).await;
    }

    fn sender(&self, port: u16) -> Sender {
        Sender::new(&servers::smtp(port, &self.desk)).unwrap()
    }

    async fn tickets(&self, token: &str) -> Vec<serde_json::Value> {
        let r = self.t.get("/api/v1/tickets?per_page=100", token).await;
        assert_eq!(r.status, StatusCode::OK);
        r.json()["items"].as_array().unwrap().clone()
    }

    async fn comments(&self, key: &str) -> Vec<serde_json::Value> {
        let r = self.t.get(&format!("/api/v1/tickets/{key}/comments"), &self.agent.token).await;
        r.json().as_array().unwrap().clone()
    }

    async fn outbox(&self, key: &str) -> Vec<guichet_store::mail::Outgoing> {
        let id = guichet_domain::ticket::parse_key("SUP", key).unwrap();
        let mut conn = self.t.app.db.conn().await.unwrap();
        guichet_store::mail::list_ticket_outgoing(&mut conn, id).await.unwrap()
    }
}

async fn person(t: &TestApp, name: &str, domain: &str, role: Role, uai: Option<&str>) -> Person {
    let local = servers::unique(name);
    let email = format!("{local}@{domain}");
    let uais: Vec<String> = uai.into_iter().map(str::to_owned).collect();
    let new = NewUser::parse(&email, &format!("{name} Test"), role, None, &[], &uais).unwrap();
    t.app.insert_user(new, Some("correct horse battery")).await.unwrap();
    let token = t.app.create_token(&email, "test").await.unwrap();
    Person { local, email, token }
}

/// A message as the desk's mail server hands it over after checking its
/// sender's domain (an Authentication-Results header that passes).
fn mail(from: &str, subject: &str, headers: &str, body: &str) -> String {
    unauthenticated(from, subject, &format!("{}{headers}", servers::authenticated(from)), body)
}

/// A message nothing vouches for: anyone could have written its From.
fn unauthenticated(from: &str, subject: &str, headers: &str, body: &str) -> String {
    let id = servers::unique("msg");
    format!(
        "{headers}From: {from}\r\nTo: support@guichet.test\r\nSubject: {subject}\r\nMessage-ID: <{id}@client.test>\r\n\
         Date: Mon, 2 Mar 2026 14:00:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{name}: ");
    raw.lines().find(|l| l.to_lowercase().starts_with(&prefix.to_lowercase())).map(|l| l[prefix.len()..].trim())
}

const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVQI12P4z8AAAAMBAQAY3Y2wAAAAAElFTkSuQmCC";

macro_rules! mail_test {
    ($name:ident, |$d:ident| $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn on_sqlite() {
                let $d = Desk::new(Backend::Sqlite).await;
                $body.await;
            }

            #[tokio::test]
            async fn on_postgres() {
                let $d = Desk::new(Backend::Postgres).await;
                $body.await;
            }
        }
    };
}

mail_test!(a_multipart_mail_with_a_screenshot_becomes_a_ticket_acknowledged_in_the_senders_mailbox, |d| async move {
    let raw = format!(
        "{auth}From: Nathalie <{from}>\r\nTo: support@guichet.test\r\nSubject: =?utf-8?Q?Messagerie_bloqu=C3=A9e?=\r\n\
         Message-ID: <first-{id}@client.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nLa messagerie affiche une page blanche.\r\n--b1\r\n\
         Content-Type: image/png; name=\"capture.png\"\r\nContent-Disposition: attachment; filename=\"capture.png\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{PNG_B64}\r\n--b1--\r\n",
        from = d.requester_a.email,
        auth = servers::authenticated(&d.requester_a.email),
        id = servers::unique("m")
    );
    d.deliver(&raw).await;
    let report = d.fetch().await;
    assert_eq!(report.imported, 1, "{report:?}");
    let tickets = d.tickets(&d.requester_a.token).await;
    assert_eq!(tickets.len(), 1);
    let ticket = &tickets[0];
    let key = ticket["key"].as_str().unwrap().to_owned();
    assert_eq!(ticket["title"], "Messagerie bloquée");
    assert_eq!(ticket["channel"], "email");
    assert_eq!(ticket["establishment"]["uai"], d.uai_a.as_str());
    let detail = d.t.get(&format!("/api/v1/tickets/{key}"), &d.agent.token).await.json();
    assert_eq!(detail["description"], "La messagerie affiche une page blanche.");
    let files = d.t.get(&format!("/api/v1/tickets/{key}/attachments"), &d.requester_a.token).await.json();
    assert_eq!(files[0]["filename"], "capture.png");
    assert_eq!(files[0]["mime"], "image/png");
    // Fetched again: nothing new, the message was flagged after its import.
    assert_eq!(d.fetch().await, guichet_mail::imap::PassReport::default());

    // The acknowledgment reaches the sender's own mailbox through SMTP.
    let port = servers::free_port();
    let _smtp = SmtpRelay::start(port);
    assert!(d.sender(port).send_due(&d.t.app).await.unwrap() >= 1);
    let inbox = servers::messages(&d.requester_a.local).await;
    assert_eq!(inbox.len(), 1);
    let ack = String::from_utf8_lossy(&inbox[0]).into_owned();
    assert!(header(&ack, "Subject").unwrap().contains(&format!("[{key}]")), "{ack}");
    assert_eq!(header(&ack, "Auto-Submitted"), Some("auto-replied"));
    assert!(header(&ack, "In-Reply-To").unwrap().contains("first-"), "the acknowledgment answers the request");
    let ack_id = header(&ack, "Message-ID").unwrap().to_owned();

    // Answering it from a mail client, without the key in the subject, lands on the same ticket.
    let reply = mail(
        &d.requester_a.email,
        "Re: ma demande",
        &format!("In-Reply-To: {ack_id}\r\nReferences: {ack_id}\r\n"),
        "Toujours bloquée ce matin.\r\n\r\nLe lun. 2 mars 2026 à 14:05, Support ENT <x@guichet.test> a écrit :\r\n> Nous avons bien reçu votre demande",
    );
    d.deliver(&reply).await;
    assert_eq!(d.fetch().await.imported, 1);
    let comments = d.comments(&key).await;
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0]["body"], "Toujours bloquée ce matin.");
    assert_eq!(comments[0]["channel"], "email");
    assert_eq!(d.tickets(&d.requester_a.token).await.len(), 1, "a reply files no new ticket");
});

mail_test!(a_reply_with_the_key_in_its_subject_takes_a_waiting_ticket_back_to_the_desk, |d| async move {
    let created =
        d.t.post("/api/v1/tickets", &d.requester_a.token, json!({"title": "ENT lent", "establishment": d.uai_a})).await;
    let key = created.json()["key"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/tickets/{key}");
    assert_eq!(d.t.patch(&path, &d.agent.token, json!({"status": "in_progress"})).await.status, StatusCode::OK);
    d.t.post(&format!("{path}/comments"), &d.agent.token, json!({"body": "Quel navigateur ?"})).await;
    assert_eq!(
        d.t.patch(&path, &d.agent.token, json!({"status": "waiting_on_requester"})).await.status,
        StatusCode::OK
    );
    let kinds: Vec<String> = d.outbox(&key).await.into_iter().map(|o| o.mail.kind).collect();
    assert_eq!(kinds, ["acknowledgment", "reply", "waiting"]);

    let reply = mail(&d.requester_a.email, &format!("RE: [{key}] ENT lent"), "", "Firefox 128.");
    d.deliver(&reply).await;
    assert_eq!(d.fetch().await.imported, 1);
    let ticket = d.t.get(&path, &d.agent.token).await.json();
    assert_eq!(ticket["status"], "in_progress", "the answer resumes the ticket");
    assert_eq!(d.comments(&key).await.last().unwrap()["body"], "Firefox 128.");
});

mail_test!(internal_notes_are_never_mailed, |d| async move {
    let created =
        d.t.post("/api/v1/tickets", &d.requester_a.token, json!({"title": "Note", "establishment": d.uai_a})).await;
    let key = created.json()["key"].as_str().unwrap().to_owned();
    let note = json!({"body": "mot de passe admin: hunter2", "internal": true});
    d.t.post(&format!("/api/v1/tickets/{key}/comments"), &d.agent.token, note).await;
    let outbox = d.outbox(&key).await;
    assert!(outbox.iter().all(|o| !o.mail.body_text.contains("hunter2") && !o.mail.body_html.contains("hunter2")));
    assert_eq!(outbox.iter().filter(|o| o.mail.kind == "reply").count(), 0);
});

mail_test!(an_unknown_sender_is_filed_in_triage_with_the_address_kept, |d| async move {
    let stranger = format!("{}@ailleurs.test", servers::unique("inconnu"));
    let outcome = d.t.app.ingest_mail(mail(&stranger, "Aide", "", "Bonjour, qui contacter ?").as_bytes(), None).await;
    let IngestOutcome::Ticket { key, triage: true } = outcome.unwrap() else { panic!("not filed in triage") };
    let ticket = d.t.get(&format!("/api/v1/tickets/{key}"), &d.agent.token).await.json();
    assert_eq!(ticket["establishment"]["uai"], guichet_app::mail::TRIAGE_UAI);
    let requester = d.t.get(&format!("/api/v1/users?q={stranger}"), &d.admin.token).await.json();
    assert_eq!(requester["items"][0]["email"], stranger.as_str());
    // No school sees it.
    for token in [&d.requester_a.token, &d.requester_b.token] {
        let r = d.t.get(&format!("/api/v1/tickets/{key}"), token).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    // The desk finds the school and moves the request there; a requester cannot move one.
    let path = format!("/api/v1/tickets/{key}");
    let own =
        d.t.post("/api/v1/tickets", &d.requester_b.token, json!({"title": "B", "establishment": "0930124E"})).await;
    let own_path = format!("/api/v1/tickets/{}", own.json()["key"].as_str().unwrap());
    let refused = d.t.patch(&own_path, &d.requester_b.token, json!({"establishment": d.uai_a})).await;
    assert_eq!(
        (refused.status, refused.json()["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("establishment"))
    );
    let unknown = d.t.patch(&path, &d.agent.token, json!({"establishment": "0000001B"})).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    let moved = d.t.patch(&path, &d.agent.token, json!({"establishment": d.uai_a})).await;
    assert_eq!(moved.status, StatusCode::OK);
    assert_eq!(d.t.get(&path, &d.requester_a.token).await.status, StatusCode::OK);
    assert_eq!(d.t.get(&path, &d.requester_b.token).await.status, StatusCode::NOT_FOUND);
    let history = d.t.get(&format!("{path}/history"), &d.agent.token).await.json();
    assert!(history.as_array().unwrap().iter().any(|e| e["field"] == "establishment" && e["new"] == d.uai_a.as_str()));
    // The sender can still answer on their request by mail.
    let answer = mail(&stranger, &format!("Re: [{key}] Aide"), "", "Merci !");
    assert_eq!(d.t.app.ingest_mail(answer.as_bytes(), None).await.unwrap(), IngestOutcome::Reply { key: key.clone() });
});

mod an_unknown_sender_is_refused_once_when_so_configured {
    use super::*;

    async fn check(backend: Backend) {
        let d = Desk::with(backend, |s| s.mail.unknown_sender = guichet_app::notify::UnknownSender::Refuse).await;
        let stranger = format!("{}@ailleurs.test", servers::unique("inconnu"));
        let raw = mail(&stranger, "Aide", "", "Bonjour");
        assert_eq!(d.t.app.ingest_mail(raw.as_bytes(), None).await.unwrap(), IngestOutcome::Refused);
        assert_eq!(d.t.app.ingest_mail(raw.as_bytes(), None).await.unwrap(), IngestOutcome::Duplicate);
        let auto = mail(&stranger, "Absence", "Auto-Submitted: auto-replied\r\n", "Je suis absent.");
        assert_eq!(d.t.app.ingest_mail(auto.as_bytes(), None).await.unwrap(), IngestOutcome::Refused);
        let mut conn = d.t.app.db.conn().await.unwrap();
        let due = guichet_store::mail::list_due_outgoing(&mut conn, d.t.app.now(), 100).await.unwrap();
        let refusals: Vec<_> = due.iter().filter(|o| o.mail.recipient == stranger).collect();
        assert_eq!(refusals.len(), 1, "one refusal, none to the automatic reply");
        assert!(refusals[0].mail.automatic);
        assert!(refusals[0].mail.body_text.contains("Votre adresse n'est pas connue"));
        assert!(d.tickets(&d.agent.token).await.is_empty());
    }

    #[tokio::test]
    async fn on_sqlite() {
        check(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn on_postgres() {
        check(Backend::Postgres).await;
    }
}

mail_test!(a_requester_cannot_reply_into_another_schools_ticket_by_guessing_its_key, |d| async move {
    let created =
        d.t.post("/api/v1/tickets", &d.requester_a.token, json!({"title": "Secret A", "establishment": d.uai_a})).await;
    let key_a = created.json()["key"].as_str().unwrap().to_owned();
    let intrusion = mail(&d.requester_b.email, &format!("Re: [{key_a}] Secret A"), "", "Je lis votre demande ?");
    let outcome = d.t.app.ingest_mail(intrusion.as_bytes(), None).await.unwrap();
    let IngestOutcome::Ticket { key, triage: true } = outcome else { panic!("{outcome:?}") };
    assert_ne!(key, key_a);
    assert!(d.comments(&key_a).await.is_empty(), "nothing reached the other school's ticket");
    let ticket = d.t.get(&format!("/api/v1/tickets/{key}"), &d.agent.token).await.json();
    assert_eq!(ticket["title"], "Secret A", "the other ticket's key is not carried over");
    let ack = d.outbox(&key).await;
    assert!(ack.iter().all(|o| !o.mail.subject.contains(&key_a) && !o.mail.body_text.contains(&key_a)));
});

mail_test!(automatic_replies_are_kept_in_the_history_without_answering_them, |d| async move {
    let created =
        d.t.post("/api/v1/tickets", &d.requester_a.token, json!({"title": "Portail", "establishment": d.uai_a})).await;
    let key = created.json()["key"].as_str().unwrap().to_owned();
    let ooo = mail(
        &d.requester_a.email,
        &format!("Absent : [{key}] Portail"),
        "Auto-Submitted: auto-replied\r\n",
        "Je suis absente jusqu'au 9 mars.",
    );
    let outcome = d.t.app.ingest_mail(ooo.as_bytes(), None).await.unwrap();
    assert_eq!(outcome, IngestOutcome::Automatic { key: key.clone() });
    assert!(d.comments(&key).await.is_empty());
    let history = d.t.get(&format!("/api/v1/tickets/{key}/history"), &d.agent.token).await.json();
    assert!(history.as_array().unwrap().iter().any(|e| e["field"] == "automatic_mail"), "{history}");
    let requester_history = d.t.get(&format!("/api/v1/tickets/{key}/history"), &d.requester_a.token).await.json();
    assert!(!requester_history.as_array().unwrap().iter().any(|e| e["field"] == "automatic_mail"));
    // A new request from a program is filed, but not acknowledged.
    let bulk = mail(&d.requester_a.email, "Rapport hebdomadaire", "Precedence: bulk\r\n", "Rapport");
    let IngestOutcome::Ticket { key: bulk_key, .. } = d.t.app.ingest_mail(bulk.as_bytes(), None).await.unwrap() else {
        panic!()
    };
    assert!(d.outbox(&bulk_key).await.iter().all(|o| o.mail.kind != "acknowledgment"));
});

mail_test!(broken_messages_are_quarantined_whole_and_can_be_reprocessed_or_dismissed, |d| async move {
    let garbage: &[u8] = b"\x00\x01 this is not mail";
    let no_sender = "Subject: sans expediteur\r\nMessage-ID: <nofrom@x>\r\n\r\ncorps\r\n".to_owned();
    let own = mail(&format!("{}@guichet.test", d.desk), "Boucle", "", "moi-meme");
    let huge = mail(&d.requester_a.email, "Trop gros", "", &"x".repeat(600 * 1024));
    for raw in [garbage.to_vec(), no_sender.into_bytes(), own.into_bytes(), huge.into_bytes()] {
        let outcome = d.t.app.ingest_mail(&raw, Some(&d.desk)).await.unwrap();
        assert!(matches!(outcome, IngestOutcome::Quarantined { .. }), "{outcome:?}");
    }
    assert!(d.tickets(&d.agent.token).await.is_empty(), "no half-written ticket");
    let list = d.t.get("/api/v1/mail/quarantine", &d.admin.token).await;
    assert_eq!(list.status, StatusCode::OK);
    let items = list.json().as_array().unwrap().clone();
    assert_eq!(items.len(), 4);
    let errors: Vec<&str> = items.iter().map(|i| i["error"].as_str().unwrap()).collect();
    assert!(errors.iter().any(|e| e.contains("more than the limit")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("mail loop")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("no From address")), "{errors:?}");
    // Kept byte for byte.
    let garbage_item = items.iter().find(|i| i["size"] == garbage.len()).unwrap();
    let id = garbage_item["id"].as_i64().unwrap();
    let raw = d.t.get(&format!("/api/v1/mail/quarantine/{id}/raw"), &d.admin.token).await;
    assert_eq!(raw.bytes.as_slice(), garbage);
    // Processing it again keeps it aside with its reason; dismissing it takes it off the list.
    let again =
        d.t.request(
            axum::http::Method::POST,
            &format!("/api/v1/mail/quarantine/{id}/reprocess"),
            Some(&d.admin.token),
            None,
        )
        .await;
    assert_eq!(again.json()["outcome"], "quarantined");
    let dismissed = d
        .t
        .request(axum::http::Method::POST, &format!("/api/v1/mail/quarantine/{id}/dismiss"), Some(&d.admin.token), None)
        .await;
    assert_eq!(dismissed.status, StatusCode::NO_CONTENT);
    assert_eq!(d.t.get("/api/v1/mail/quarantine", &d.admin.token).await.json().as_array().unwrap().len(), 3);
    let mailboxes = d.t.get("/api/v1/mailboxes", &d.agent.token).await.json();
    assert_eq!(mailboxes[0]["quarantined"], 3);
});

mail_test!(the_mail_channel_is_closed_to_requesters_and_its_actions_to_agents, |d| async move {
    for path in ["/api/v1/mailboxes", "/api/v1/mail/quarantine", "/api/v1/mail/outbox", "/api/v1/mail/quarantine/1/raw"]
    {
        let r = d.t.get(path, &d.requester_a.token).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(r.code(), "forbidden");
    }
    for path in ["/api/v1/mail/quarantine", "/api/v1/mail/outbox", "/api/v1/mail/quarantine/1/raw"] {
        assert_eq!(d.t.get(path, &d.agent.token).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    for path in
        ["/api/v1/mail/quarantine/1/reprocess", "/api/v1/mail/quarantine/1/dismiss", "/api/v1/mail/outbox/1/retry"]
    {
        for token in [&d.requester_a.token, &d.agent.token] {
            let r = d.t.request(axum::http::Method::POST, path, Some(token), None).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        }
        let missing = d.t.request(axum::http::Method::POST, path, Some(&d.admin.token), None).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(d.t.get("/api/v1/mailboxes", "not-a-token").await.status, StatusCode::UNAUTHORIZED);
});

mail_test!(a_message_imported_before_a_crash_is_not_imported_twice, |d| async move {
    // Five messages wait; the first two were imported just before a crash,
    // before the server copies could be flagged.
    let raws: Vec<String> =
        (0..5).map(|i| mail(&d.requester_a.email, &format!("Demande {i}"), "", "Bonjour")).collect();
    for raw in &raws {
        d.deliver(raw).await;
    }
    for raw in &raws[..2] {
        assert!(matches!(
            d.t.app.ingest_mail(raw.as_bytes(), Some(&d.desk)).await.unwrap(),
            IngestOutcome::Ticket { .. }
        ));
    }
    let report = d.fetch().await;
    assert_eq!((report.imported, report.duplicates), (3, 2));
    assert_eq!(d.tickets(&d.agent.token).await.len(), 5);
    assert_eq!(d.fetch().await, guichet_mail::imap::PassReport::default());
    let status = d.t.get("/api/v1/mailboxes", &d.agent.token).await.json();
    assert_eq!(status[0]["name"], d.desk.as_str());
    assert_eq!(status[0]["imported_today"], 5);
    assert!(status[0]["last_success_at"].is_string());
});

mail_test!(mail_queued_while_smtp_is_down_is_sent_once_when_it_returns, |d| async move {
    let created =
        d.t.post("/api/v1/tickets", &d.requester_a.token, json!({"title": "Panne SMTP", "establishment": d.uai_a}))
            .await;
    let key = created.json()["key"].as_str().unwrap().to_owned();
    let port = servers::free_port();
    let sender = d.sender(port);
    // Down: nothing sent, nothing lost.
    assert_eq!(sender.send_due(&d.t.app).await.unwrap(), 0);
    let queued = d.outbox(&key).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].attempts, 1);
    assert!(queued[0].last_error.is_some());
    let outbox = d.t.get("/api/v1/mail/outbox", &d.admin.token).await.json();
    assert_eq!(outbox[0]["attempts"], 1);
    // Not retried before its time, then retried with a longer wait.
    assert_eq!(sender.send_due(&d.t.app).await.unwrap(), 0);
    assert_eq!(d.outbox(&key).await[0].attempts, 1);
    d.t.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(sender.send_due(&d.t.app).await.unwrap(), 0);
    assert_eq!(d.outbox(&key).await[0].attempts, 2);
    // An hour later the server is back.
    let _smtp = SmtpRelay::start(port);
    d.t.clock.advance(chrono::Duration::hours(1));
    assert_eq!(sender.send_due(&d.t.app).await.unwrap(), 1);
    assert_eq!(sender.send_due(&d.t.app).await.unwrap(), 0);
    d.t.clock.advance(chrono::Duration::hours(1));
    assert_eq!(sender.send_due(&d.t.app).await.unwrap(), 0);
    let inbox = servers::messages(&d.requester_a.local).await;
    assert_eq!(inbox.len(), 1, "sent exactly once");
    assert!(d.outbox(&key).await[0].sent_at.is_some());
});

mail_test!(a_failing_mailbox_is_reported_and_alerts_the_administrators_once, |d| async move {
    let mut broken = servers::mailbox(&d.desk);
    broken.port = Some(servers::free_port());
    let error = guichet_mail::imap::poll_once(&d.t.app, &broken).await.unwrap_err().to_string();
    let alert_after = chrono::Duration::minutes(30);
    d.t.app.mailbox_failed(&d.desk, &error, alert_after).await.unwrap();
    let status = d.t.get("/api/v1/mailboxes", &d.agent.token).await.json();
    assert!(status[0]["failing_since"].is_string());
    assert!(status[0]["last_error"].as_str().unwrap().contains("cannot reach"), "{status}");
    let alerts = || async {
        let mut conn = d.t.app.db.conn().await.unwrap();
        let due = guichet_store::mail::list_unsent_outgoing(&mut conn, 100).await.unwrap();
        due.into_iter().filter(|o| o.mail.kind == "mailbox_alert").collect::<Vec<_>>()
    };
    assert!(alerts().await.is_empty(), "not before the delay");
    d.t.clock.advance(chrono::Duration::minutes(31));
    d.t.app.mailbox_failed(&d.desk, &error, alert_after).await.unwrap();
    d.t.clock.advance(chrono::Duration::minutes(10));
    d.t.app.mailbox_failed(&d.desk, &error, alert_after).await.unwrap();
    let sent = alerts().await;
    assert_eq!(sent.len(), 1, "one alert per outage");
    assert_eq!(sent[0].mail.recipient, d.admin.email);
    // The server is back: the next fetch clears the failure.
    d.fetch().await;
    let status = d.t.get("/api/v1/mailboxes", &d.agent.token).await.json();
    assert!(status[0]["failing_since"].is_null());
});

/// Real clients' messages, with the encodings they use.
mod corpus {
    use super::*;

    struct Case {
        file: &'static str,
        title: &'static str,
        description: &'static [&'static str],
        files: &'static [&'static str],
    }

    const CASES: &[Case] = &[
        Case {
            file: "outlook-html-windows-1252.eml",
            title: "Facture non reçue à l'établissement",
            description: &["12\u{a0}€ pour l’ENT n’apparaît pas", "Léa François"],
            files: &[],
        },
        Case {
            file: "thunderbird-iso-8859-1.eml",
            title: "Dépôt de devoirs impossible",
            description: &["Les élèves de 3e", "« Envoyer » reste grisé", "Jean-Noël"],
            files: &[],
        },
        Case {
            file: "gmail-alternative-utf8.eml",
            title: "Agenda partagé : erreur 503",
            description: &["L'agenda partagé du collège affiche « erreur 503 »"],
            files: &[],
        },
        Case {
            file: "apple-mail-inline-image.eml",
            title: "Capture de l'erreur",
            description: &["Voici la capture de l’erreur."],
            files: &["Capture.png"],
        },
        Case {
            file: "nested-mixed-rfc2231-filename.eml",
            title: "Liste des comptes à créer",
            description: &["élèves arrivés en cours d'année"],
            files: &["élèves arrivés.pdf"],
        },
        Case {
            file: "outlook-winmail-dat.eml",
            title: "Compte bloque",
            description: &["Mon compte est bloque"],
            files: &["winmail.dat"],
        },
        Case {
            file: "forwarded-rfc822.eml",
            title: "Message d'un parent",
            description: &["Je vous transfere le message"],
            files: &["message-1.eml"],
        },
        Case {
            file: "no-subject-attachment-only.eml",
            title: "📎 ecran.png",
            description: &["ecran.png"],
            files: &["ecran.png"],
        },
    ];

    async fn check(backend: Backend) {
        let d = Desk::new(backend).await;
        for case in CASES {
            let path = format!("{}/tests/mail-corpus/{}", env!("CARGO_MANIFEST_DIR"), case.file);
            let raw = std::fs::read(&path).unwrap();
            let outcome = d.t.app.ingest_mail(&raw, None).await.unwrap();
            let IngestOutcome::Ticket { key, .. } = outcome else { panic!("{}: {outcome:?}", case.file) };
            let ticket = d.t.get(&format!("/api/v1/tickets/{key}"), &d.agent.token).await.json();
            assert_eq!(ticket["title"], case.title, "{}", case.file);
            let description = ticket["description"].as_str().unwrap();
            for part in case.description {
                assert!(description.contains(part), "{}: {description:?} lacks {part:?}", case.file);
            }
            assert!(
                !description.contains("<script") && !description.contains("alert(1)"),
                "{}: {description}",
                case.file
            );
            let files = d.t.get(&format!("/api/v1/tickets/{key}/attachments"), &d.agent.token).await.json();
            let names: Vec<&str> = files.as_array().unwrap().iter().map(|f| f["filename"].as_str().unwrap()).collect();
            assert_eq!(names, case.files, "{}", case.file);
        }
        // An attachment over the limit is left out with a word, and stays in the raw message.
        let big = format!(
            "From: {}\r\nSubject: Gros fichier\r\nMessage-ID: <big@x>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nVoir la video.\r\n\
             --b\r\nContent-Type: video/mp4; name=\"film.mp4\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            d.requester_a.email,
            "AAAA".repeat(30_000)
        );
        let IngestOutcome::Ticket { key, .. } = d.t.app.ingest_mail(big.as_bytes(), None).await.unwrap() else {
            panic!()
        };
        let ticket = d.t.get(&format!("/api/v1/tickets/{key}"), &d.agent.token).await.json();
        assert!(ticket["description"].as_str().unwrap().contains("non reprise car trop volumineuse : film.mp4"));
    }

    #[tokio::test]
    async fn tricky_messages_come_out_right_on_sqlite() {
        check(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn tricky_messages_come_out_right_on_postgres() {
        check(Backend::Postgres).await;
    }
}

mail_test!(a_ticket_at_risk_then_late_alerts_its_assignee_once_each, |d| async move {
    let created =
        d.t.post("/api/v1/tickets", &d.requester_a.token, json!({"title": "Panne totale", "establishment": d.uai_a}))
            .await;
    let key = created.json()["key"].as_str().unwrap().to_owned();
    let me = d.t.get("/api/v1/me", &d.agent.token).await.json();
    let change = json!({"type": "anomaly", "priority": "critical", "assignee": me["id"]});
    assert_eq!(d.t.patch(&format!("/api/v1/tickets/{key}"), &d.agent.token, change).await.status, StatusCode::OK);
    let alerts = || async {
        d.outbox(&key).await.into_iter().filter(|o| o.mail.kind == "sla").map(|o| o.mail).collect::<Vec<_>>()
    };
    // Monday 14:00 in Paris; a critical anomaly is answered within 2 business hours.
    d.t.app.refresh_due_slas(d.t.app.now(), 100).await.unwrap();
    assert!(alerts().await.is_empty());
    d.t.clock.advance(chrono::Duration::minutes(100));
    d.t.app.refresh_due_slas(d.t.app.now(), 100).await.unwrap();
    d.t.app.refresh_due_slas(d.t.app.now(), 100).await.unwrap();
    let sent = alerts().await;
    assert_eq!(sent.len(), 1, "at risk, said once");
    assert_eq!(sent[0].recipient, d.agent.email);
    assert!(sent[0].subject.contains("bientôt en retard"), "{}", sent[0].subject);
    d.t.clock.advance(chrono::Duration::minutes(30));
    d.t.app.refresh_due_slas(d.t.app.now(), 100).await.unwrap();
    d.t.app.refresh_due_slas(d.t.app.now(), 100).await.unwrap();
    let sent = alerts().await;
    assert_eq!(sent.len(), 2, "late, said once");
    assert!(sent[1].subject.contains("en retard") && !sent[1].subject.contains("bientôt"));
});

mail_test!(a_ticket_left_waiting_gets_one_reminder_then_is_resolved_as_unanswered, |d| async move {
    let mut policy = d.t.get("/api/v1/sla-policy", &d.agent.token).await.json();
    policy["resolve_unanswered_after_days"] = json!(4);
    let put = d.t.request(axum::http::Method::PUT, "/api/v1/sla-policy", Some(&d.admin.token), Some(policy)).await;
    assert_eq!(put.status, StatusCode::OK);
    let created =
        d.t.post("/api/v1/tickets", &d.requester_a.token, json!({"title": "Compte élève", "establishment": d.uai_a}))
            .await;
    let key = created.json()["key"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/tickets/{key}");
    d.t.patch(&path, &d.agent.token, json!({"status": "in_progress"})).await;
    d.t.patch(&path, &d.agent.token, json!({"status": "waiting_on_requester"})).await;
    let kinds = || async { d.outbox(&key).await.into_iter().map(|o| o.mail.kind).collect::<Vec<_>>() };
    // Waiting since Monday: after two full open days (Thursday) the requester is reminded, once.
    d.t.clock.advance(chrono::Duration::days(2));
    d.t.app.run_automations().await.unwrap();
    assert_eq!(kinds().await, ["acknowledgment", "waiting"]);
    d.t.clock.advance(chrono::Duration::days(1));
    d.t.app.run_automations().await.unwrap();
    d.t.clock.advance(chrono::Duration::days(1));
    d.t.app.run_automations().await.unwrap();
    assert_eq!(kinds().await, ["acknowledgment", "waiting", "reminder"]);
    let history = d.t.get(&format!("{path}/history"), &d.requester_a.token).await.json();
    assert!(history.as_array().unwrap().iter().any(|e| e["field"] == "reminder"), "the requester sees the reminder");
    // Once four full open days have passed (Tuesday to Friday): resolved as unanswered, and told so.
    d.t.clock.advance(chrono::Duration::days(1));
    d.t.app.run_automations().await.unwrap();
    let ticket = d.t.get(&path, &d.agent.token).await.json();
    assert_eq!((ticket["status"].as_str(), ticket["resolution"].as_str()), (Some("resolved"), Some("no_answer")));
    assert_eq!(kinds().await, ["acknowledgment", "waiting", "reminder", "resolved"]);
});

mail_test!(acknowledgments_to_one_address_are_limited_per_hour, |d| async move {
    let mut keys = Vec::new();
    for i in 0..7 {
        let raw = mail(&d.requester_a.email, &format!("Demande {i}"), "", "Bonjour");
        let IngestOutcome::Ticket { key, .. } = d.t.app.ingest_mail(raw.as_bytes(), None).await.unwrap() else {
            panic!()
        };
        keys.push(key);
    }
    let mut acks = 0;
    for key in &keys {
        acks += d.outbox(key).await.iter().filter(|o| o.mail.kind == "acknowledgment").count();
    }
    assert_eq!(acks, 5, "every request filed, five acknowledged");
    d.t.clock.advance(chrono::Duration::minutes(61));
    let raw = mail(&d.requester_a.email, "Une heure plus tard", "", "Bonjour");
    let IngestOutcome::Ticket { key, .. } = d.t.app.ingest_mail(raw.as_bytes(), None).await.unwrap() else { panic!() };
    assert_eq!(d.outbox(&key).await.iter().filter(|o| o.mail.kind == "acknowledgment").count(), 1);
});

/// A TCP relay to Dovecot that the test can cut and restore, standing for
/// the network or the server going away.
struct Link {
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Link {
    fn new() -> Link {
        Link { port: servers::free_port(), task: None }
    }

    async fn up(&mut self) {
        let (host, imap_port) = servers::imap_server();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.task = Some(tokio::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = format!("{host}:{imap_port}");
                connections.push(tokio::spawn(async move {
                    let mut outbound = tokio::net::TcpStream::connect(target).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }));
            }
        }));
    }

    fn down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

mail_test!(the_poller_reconnects_by_itself_when_the_server_comes_back, |d| async move {
    let mut link = Link::new();
    let mut config = servers::mailbox(&d.desk);
    config.port = Some(link.port);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let poller = tokio::spawn(guichet_mail::imap::run(d.t.app.clone(), config, stopped));
    let status = || async { d.t.get("/api/v1/mailboxes", &d.agent.token).await.json()[0].clone() };
    // The server is unreachable: the failure shows.
    let mut failing = serde_json::Value::Null;
    for _ in 0..50 {
        failing = status().await;
        if failing["failing_since"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(failing["failing_since"].is_string(), "{failing}");
    // It comes back: a message delivered meanwhile is imported without any restart.
    d.deliver(&mail(&d.requester_a.email, "Pendant la panne", "", "Bonjour")).await;
    link.up().await;
    // Imported, and the failure cleared once the pass is over.
    let mut back = false;
    for _ in 0..100 {
        if d.tickets(&d.agent.token).await.len() == 1 && status().await["failing_since"].is_null() {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(back, "the poller did not come back: {}", status().await);
    stop.send(true).unwrap();
    poller.await.unwrap();
    link.down();
});

#[path = "mail/trust.rs"]
mod trust;
