//! The e-mail channel against an attacker and hostile messages: forged
//! senders, poison messages, a shared mailbox read by people, two senders.

use super::*;
use guichet_domain::ids::UserId;
use guichet_domain::mail::reply_token::{ReplyScope, ReplyToken};

impl Desk {
    fn desk_address(&self) -> String {
        format!("{}@guichet.test", self.desk)
    }

    async fn file(&self, title: &str) -> String {
        let created = self
            .t
            .post("/api/v1/tickets", &self.requester_a.token, json!({"title": title, "establishment": self.uai_a}))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.json());
        created.json()["key"].as_str().unwrap().to_owned()
    }

    async fn user_id(&self, token: &str) -> i64 {
        self.t.get("/api/v1/me", token).await.json()["id"].as_i64().unwrap()
    }

    async fn history_len(&self, key: &str) -> usize {
        self.t.get(&format!("/api/v1/tickets/{key}/history"), &self.agent.token).await.json().as_array().unwrap().len()
    }
}

mail_test!(
    a_forged_sender_through_the_real_smtp_server_changes_no_ticket_and_never_speaks_for_the_desk,
    |d| async move {
        let key = d.file("Compte bloqué").await;
        let before = (d.history_len(&key).await, d.outbox(&key).await.len());
        // Someone learnt the ticket's acknowledgment Message-ID shape and makes one up.
        let forged_token = ReplyToken {
            ticket: guichet_domain::ticket::parse_key("SUP", &key).unwrap(),
            user: UserId(1),
            scope: ReplyScope::Public,
        }
        .message_id(b"guessed secret", "SUP", "0000", "guichet.test");
        let port = servers::free_port();
        let _smtp = SmtpRelay::start(port);
        let subject = format!("Re: [{key}] Compte bloqué");
        let body = "Votre nouveau mot de passe : http://evil.example/reset";
        let forgeries = [
            // An agent, a school administrator of another school, the ticket's own requester, the HELP form.
            unauthenticated(&d.agent.email, &subject, "", body),
            unauthenticated(&d.requester_b.email, &subject, "", body),
            unauthenticated(&d.requester_a.email, &subject, &format!("In-Reply-To: <{forged_token}>\r\n"), body),
            unauthenticated(guichet_app::help::HELP_FORM_ADDRESS, &subject, "", body),
            // A passing verdict, but written by another server than the desk's.
            unauthenticated(
                &d.agent.email,
                &subject,
                "Authentication-Results: mx.evil.example; dmarc=pass header.from=guichet.test\r\n",
                body,
            ),
            // A passing verdict for another domain than the From's.
            unauthenticated(
                &d.agent.email,
                &subject,
                "Authentication-Results: mx.guichet.test; dmarc=pass header.from=evil.example\r\n",
                body,
            ),
        ];
        for raw in &forgeries {
            let from = header(raw, "From").unwrap();
            servers::submit(port, from, &d.desk_address(), raw.as_bytes()).await;
        }
        let report = d.fetch().await;
        assert_eq!(report.imported + report.quarantined, forgeries.len(), "{report:?}");
        // The ticket is exactly as it was: no reply, no note, no change, no mail.
        assert!(d.comments(&key).await.is_empty());
        assert_eq!((d.history_len(&key).await, d.outbox(&key).await.len()), before);
        // The desk's address and the HELP form are never spoken for: those are kept for review.
        let quarantine = d.t.get("/api/v1/mail/quarantine", &d.admin.token).await.json();
        let reasons: Vec<&str> = quarantine.as_array().unwrap().iter().map(|q| q["error"].as_str().unwrap()).collect();
        assert_eq!(reasons.iter().filter(|r| r.contains("desk member")).count(), 3, "{reasons:?}");
        assert_eq!(reasons.iter().filter(|r| r.contains("receives no mail")).count(), 1, "{reasons:?}");
        // The schools' forgeries are new requests in triage, seen by no school.
        let tickets = d.tickets(&d.agent.token).await;
        let triaged: Vec<_> =
            tickets.iter().filter(|t| t["establishment"]["uai"] == guichet_app::mail::TRIAGE_UAI).collect();
        assert_eq!(triaged.len(), 2);
        for t in &triaged {
            let path = format!("/api/v1/tickets/{}", t["key"].as_str().unwrap());
            for token in [&d.requester_a.token, &d.requester_b.token] {
                assert_eq!(d.t.get(&path, token).await.status, StatusCode::NOT_FOUND);
            }
            let history = d.t.get(&format!("{path}/history"), &d.agent.token).await.json();
            assert!(history.as_array().unwrap().iter().any(|e| e["field"] == "unauthenticated_sender"), "{history}");
        }
    }
);

mail_test!(
    a_desk_member_answering_a_notice_by_mail_writes_an_internal_note_the_requester_never_receives,
    |d| async move {
        let key = d.file("Imprimante du CDI").await;
        let agent_id = d.user_id(&d.agent.token).await;
        let path = format!("/api/v1/tickets/{key}");
        assert_eq!(d.t.patch(&path, &d.agent.token, json!({"assignee": agent_id})).await.status, StatusCode::OK);
        // The requester adds a detail: the agent is told by mail.
        d.t.post(&format!("{path}/comments"), &d.requester_a.token, json!({"body": "Elle affiche E-05."})).await;
        let port = servers::free_port();
        let _smtp = SmtpRelay::start(port);
        d.sender(port).send_due(&d.t.app).await.unwrap();
        let notices = servers::messages(&d.agent.local).await;
        assert_eq!(notices.len(), 1);
        let notice = String::from_utf8_lossy(&notices[0]).into_owned();
        assert_eq!(header(&notice, "Reply-To"), Some(servers::internal_address(&d.desk).as_str()), "{notice}");
        let notice_id = header(&notice, "Message-ID").unwrap().to_owned();
        let requester_inbox = servers::messages(&d.requester_a.local).await.len();

        // The agent answers from their mail client, as an aside to a colleague.
        let aside = unauthenticated(
        &d.agent.email,
        &format!("Re: [{key}] Imprimante du CDI"),
        &format!("In-Reply-To: {notice_id}\r\nReferences: {notice_id}\r\n"),
        "Encore elle ! Le pilote de 2019, à remplacer.\r\n\r\nOn Mon, Mar 2, 2026, Support wrote:\r\n> Le demandeur a répondu",
    );
        servers::submit(port, &d.agent.email, &servers::internal_address(&d.desk), aside.as_bytes()).await;
        assert_eq!(d.fetch().await.imported, 1);
        let comments = d.comments(&key).await;
        let last = comments.last().unwrap();
        assert_eq!(
            (last["body"].as_str(), last["internal"].as_bool()),
            (Some("Encore elle ! Le pilote de 2019, à remplacer."), Some(true))
        );
        let seen_by_school = d.t.get(&format!("{path}/comments"), &d.requester_a.token).await.json();
        assert!(seen_by_school.as_array().unwrap().iter().all(|c| !c["body"].as_str().unwrap().contains("pilote")));
        // Nothing leaves for the requester.
        d.sender(port).send_due(&d.t.app).await.unwrap();
        assert_eq!(servers::messages(&d.requester_a.local).await.len(), requester_inbox);
        assert!(d.outbox(&key).await.iter().all(|o| !o.mail.body_text.contains("pilote")));
    }
);

mail_test!(a_requester_answering_their_acknowledgment_needs_no_authentication_header, |d| async move {
    let key = d.file("Cahier de textes vide").await;
    let ack = d.outbox(&key).await.into_iter().find(|o| o.mail.kind == "acknowledgment").unwrap();
    let token = d.t.app.reply_token_in(std::slice::from_ref(&ack.mail.message_id)).unwrap();
    assert_eq!(token.scope, ReplyScope::Public);
    let answer = unauthenticated(
        &d.requester_a.email,
        "Re: ma demande",
        &format!("In-Reply-To: <{}>\r\n", ack.mail.message_id),
        "Depuis lundi.",
    );
    assert_eq!(d.t.app.ingest_mail(answer.as_bytes(), None).await.unwrap(), IngestOutcome::Reply { key: key.clone() });
    // A token made for one ticket does not open another one.
    let other = d.file("Autre demande").await;
    let other_id = guichet_domain::ticket::parse_key("SUP", &other).unwrap();
    assert_ne!(token.ticket, other_id);
    let moved = ack.mail.message_id.replace(&key.to_lowercase(), &other.to_lowercase());
    let tampered = unauthenticated(&d.requester_a.email, "Re: x", &format!("In-Reply-To: <{moved}>\r\n"), "Piratage.");
    let IngestOutcome::Ticket { triage: true, .. } = d.t.app.ingest_mail(tampered.as_bytes(), None).await.unwrap()
    else {
        panic!("a tampered token must not act on a ticket")
    };
    assert!(d.comments(&other).await.is_empty());
});

mail_test!(subjects_that_change_length_when_case_folded_and_nul_bytes_never_stop_the_intake, |d| async move {
    let key = d.file("Base").await;
    let hostile = [
        mail(&d.requester_a.email, "İİİİİİ[SUP-1]", "", "a"),
        mail(&d.requester_a.email, "İİİİİİ[SUP-999]", "", "a"),
        mail(&d.requester_a.email, &format!("Re: İ[{key}]"), "", "b"),
        mail(&d.requester_a.email, "Nul \0 dans le sujet", "", "et \0 dans le corps"),
        mail(&d.requester_a.email, &"ẞ".repeat(5000), "", &"x".repeat(100_000)),
        format!(
            "From: {}\r\nSubject: entête\0cassé\r\nMessage-ID: <\0{}@x>\r\n\r\ncorps\r\n",
            d.requester_a.email,
            servers::unique("nul")
        ),
    ];
    for raw in &hostile {
        d.deliver(raw).await;
    }
    let last = mail(&d.requester_a.email, "Après les messages piégés", "", "Toujours là ?");
    d.deliver(&last).await;
    let report = d.fetch().await;
    assert_eq!(report.imported + report.quarantined, hostile.len() + 1, "{report:?}");
    assert_eq!(report.failed, 0);
    let titles: Vec<String> =
        d.tickets(&d.agent.token).await.iter().map(|t| t["title"].as_str().unwrap().to_owned()).collect();
    assert!(titles.iter().any(|t| t == "Après les messages piégés"), "{titles:?}");
    assert_eq!(d.comments(&key).await.len(), 2, "both case-folding subjects answered their ticket");
    // Dovecot turns NUL bytes into U+FFFD; a mail server's pipe (`guichet mail ingest`) passes them on.
    for raw in &hostile[3..] {
        let raw = raw.replace("Message-ID: <", "Message-ID: <piped-");
        let outcome = d.t.app.ingest_mail(raw.as_bytes(), None).await.unwrap();
        assert!(matches!(outcome, IngestOutcome::Ticket { .. }), "{outcome:?}");
    }
    let titles: Vec<String> =
        d.tickets(&d.agent.token).await.iter().map(|t| t["title"].as_str().unwrap().to_owned()).collect();
    assert!(titles.iter().any(|t| t == "Nul dans le sujet"), "{titles:?}");
    assert!(titles.iter().any(|t| t == "entêtecassé"), "{titles:?}");
    // A thousand random subjects full of characters whose case folding changes their length.
    let pieces = ["İ", "ẞ", "ﬀ", "Ω", "K", "Σ", "ς", "ǅ", "[", "]", "SUP-", "1", "\u{0}", " ", "Re:", "é"];
    let mut seed = 0x2545_f491_u64;
    for n in 0..1000 {
        let mut subject = String::new();
        for _ in 0..12 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            subject.push_str(pieces[(seed % pieces.len() as u64) as usize]);
        }
        let raw = mail(&d.requester_a.email, &format!("{subject} {n}"), "", "corps");
        let outcome = d.t.app.ingest_mail(raw.as_bytes(), None).await.unwrap();
        assert!(!matches!(outcome, IngestOutcome::Quarantined { .. }), "{subject:?}: {outcome:?}");
    }
});

mail_test!(a_message_read_in_the_shared_mailbox_before_the_poller_runs_is_imported, |d| async move {
    // The first pass starts the mailbox's reading.
    d.deliver(&mail(&d.requester_a.email, "Première", "", "un")).await;
    assert_eq!(d.fetch().await.imported, 1);
    // A colleague opens the mailbox and reads the new message before Guichet does.
    d.deliver(&mail(&d.requester_a.email, "Lue par quelqu'un", "", "deux")).await;
    servers::mark_all_seen(&d.desk).await;
    assert_eq!(d.fetch().await.imported, 1);
    assert_eq!(d.fetch().await, guichet_mail::imap::PassReport::default());
    let titles: Vec<String> =
        d.tickets(&d.agent.token).await.iter().map(|t| t["title"].as_str().unwrap().to_owned()).collect();
    assert!(titles.contains(&"Lue par quelqu'un".to_owned()), "{titles:?}");
    // The server renumbers the folder (a new UIDVALIDITY): everything is read again, nothing filed twice.
    d.t.app.set_mailbox_cursor(&d.desk, 1, 0).await.unwrap();
    let again = d.fetch().await;
    assert_eq!((again.imported, again.duplicates), (0, 2), "{again:?}");
    assert_eq!(d.tickets(&d.agent.token).await.len(), 2);
});

mail_test!(a_message_over_the_limit_is_quarantined_from_its_header_without_being_downloaded, |d| async move {
    let huge = mail(&d.requester_a.email, "Vidéo de 600 Ko", "", &"v".repeat(600 * 1024));
    d.deliver(&huge).await;
    d.deliver(&mail(&d.requester_a.email, "Petite demande", "", "ok")).await;
    let report = d.fetch().await;
    assert_eq!((report.quarantined, report.imported), (1, 1), "{report:?}");
    let quarantine = d.t.get("/api/v1/mail/quarantine", &d.admin.token).await.json();
    let item = &quarantine[0];
    assert!(item["error"].as_str().unwrap().contains("stays on the mail server"), "{item}");
    assert_eq!(item["subject"], "Vidéo de 600 Ko");
    assert!(item["size"].as_i64().unwrap() < 64 * 1024, "only the header was fetched");
    // The message is still on the server for the administrators.
    assert_eq!(servers::messages(&d.desk).await.len(), 2);
    assert_eq!(d.fetch().await, guichet_mail::imap::PassReport::default());
});

/// A database trigger that fails every import of a message titled `POISON`,
/// as a bug or a corrupt row would.
async fn poison(d: &Desk) {
    let mut conn = d.t.app.db.conn().await.unwrap();
    match conn.raw() {
        guichet_store::db::Raw::Sqlite(c) => {
            sqlx::query("CREATE TRIGGER poison BEFORE INSERT ON tickets WHEN NEW.title = 'POISON' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END")
                .execute(&mut *c)
                .await
                .unwrap();
        }
        guichet_store::db::Raw::Postgres(c) => {
            sqlx::query("CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN IF NEW.title = 'POISON' THEN RAISE EXCEPTION 'poisoned row'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql")
                .execute(&mut *c)
                .await
                .unwrap();
            sqlx::query("CREATE TRIGGER poison BEFORE INSERT ON tickets FOR EACH ROW EXECUTE FUNCTION poison()")
                .execute(&mut *c)
                .await
                .unwrap();
        }
    }
}

mail_test!(
    a_message_that_keeps_failing_is_quarantined_after_three_attempts_and_never_holds_back_the_next,
    |d| async move {
        d.deliver(&mail(&d.requester_a.email, "Avant", "", "ok")).await;
        assert_eq!(d.fetch().await.imported, 1);
        poison(&d).await;
        d.deliver(&mail(&d.requester_a.email, "POISON", "", "boum")).await;
        d.deliver(&mail(&d.requester_a.email, "Suivante", "", "ok")).await;
        let first = d.fetch().await;
        assert_eq!((first.failed, first.imported), (1, 1), "the next message goes in at once: {first:?}");
        let second = d.fetch().await;
        assert_eq!((second.failed, second.duplicates), (1, 1), "{second:?}");
        let third = d.fetch().await;
        assert_eq!((third.failed, third.quarantined, third.duplicates), (0, 1, 1), "{third:?}");
        assert_eq!(d.fetch().await, guichet_mail::imap::PassReport::default());
        let quarantine = d.t.get("/api/v1/mail/quarantine", &d.admin.token).await.json();
        assert!(quarantine[0]["error"].as_str().unwrap().contains("failed 3 times"), "{quarantine}");
        assert_eq!(d.tickets(&d.agent.token).await.len(), 2, "no half-written ticket");
    }
);

mail_test!(two_senders_at_once_deliver_each_of_200_mails_exactly_once, |d| async move {
    let port = servers::free_port();
    let _smtp = SmtpRelay::start(port);
    let recipient = &d.requester_a;
    queue_mails(&d, &recipient.email, 200).await;
    // A second node on the same database: its own name, the same outbox.
    let settings = guichet_app::Settings { node: "node-b".into(), ..(*d.t.app.settings).clone() };
    let other = guichet_app::App::new(d.t.app.db.clone(), settings, d.t.clock.clone()).await.unwrap();
    assert_ne!(other.settings.node, d.t.app.settings.node);
    let (a, b) = (d.sender(port), d.sender(port));
    let (sent_a, sent_b) = tokio::join!(a.send_due(&d.t.app), b.send_due(&other));
    let (sent_a, sent_b) = (sent_a.unwrap(), sent_b.unwrap());
    assert_eq!(sent_a + sent_b, 200);
    let inbox = servers::messages(&recipient.local).await;
    assert_eq!(inbox.len(), 200, "each mail once");
    let mut subjects: Vec<String> =
        inbox.iter().map(|m| header(&String::from_utf8_lossy(m), "Subject").unwrap().to_owned()).collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 200);
});

mail_test!(mails_claimed_by_a_sender_that_died_go_out_once_its_claim_lapses, |d| async move {
    let port = servers::free_port();
    let _smtp = SmtpRelay::start(port);
    let recipient = &d.requester_a;
    queue_mails(&d, &recipient.email, 3).await;
    let settings = guichet_app::Settings { node: "node-b".into(), ..(*d.t.app.settings).clone() };
    let other = guichet_app::App::new(d.t.app.db.clone(), settings, d.t.clock.clone()).await.unwrap();
    // This node claims the three mails, then dies before sending them.
    let claimed = d.t.app.claim_due_mail(10, chrono::Duration::minutes(1)).await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert_eq!(d.sender(port).send_due(&other).await.unwrap(), 0, "claimed by the other node");
    // A minute later the claims have lapsed: the other node sends them, once.
    d.t.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(d.sender(port).send_due(&other).await.unwrap(), 3);
    // The first node, waking up, cannot renew its claim: it does not send them again.
    assert!(!d.t.app.extend_mail_claim(claimed[1].id, chrono::Duration::minutes(1)).await.unwrap());
    assert_eq!(d.sender(port).send_due(&d.t.app).await.unwrap(), 0);
    assert_eq!(servers::messages(&recipient.local).await.len(), 3);
});

/// Puts `n` notifications to `recipient` in the outbox.
async fn queue_mails(d: &Desk, recipient: &str, n: usize) {
    let mut tx = d.t.app.db.begin().await.unwrap();
    for n in 0..n {
        let mail = guichet_store::mail::NewOutgoing {
            ticket: None,
            kind: "test".into(),
            recipient: recipient.to_owned(),
            subject: format!("Message {n}"),
            body_text: format!("Corps {n}"),
            body_html: format!("<p>Corps {n}</p>"),
            message_id: format!("{}@guichet.test", servers::unique("out")),
            in_reply_to: None,
            references: Vec::new(),
            automatic: false,
            reply_to: None,
        };
        guichet_store::mail::insert_outgoing(&mut tx, &mail, d.t.app.now()).await.unwrap();
    }
    tx.commit().await.unwrap();
}
