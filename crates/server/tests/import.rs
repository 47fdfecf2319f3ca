//! `guichet import jira|glpi` on SQLite and PostgreSQL, with sample exports
//! written in the real formats (tests/fixtures/import): what is imported,
//! the report of each row that is not, the dry run, and a second run that
//! changes nothing.
#![allow(clippy::unwrap_used)]

use guichet_app::tickets::ListParams;
use guichet_app::{App, Settings};
use guichet_domain::ticket::Channel;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use guichet_testkit::per_backend_test as import_test;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import")
}

fn run(dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_guichet"))
        .current_dir(dir)
        .args(args)
        .env_remove("RUST_LOG")
        .env("GUICHET_LOG", "warn")
        .env("GUICHET_DATABASE_URL", url)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh database with the two schools and the desk's agent.
async fn prepared(backend: guichet_testkit::Backend, dir: &Path) -> String {
    let url = match backend {
        guichet_testkit::Backend::Sqlite => format!("sqlite://{}/guichet.db?mode=rwc", dir.display()),
        guichet_testkit::Backend::Postgres => guichet_testkit::empty_postgres_database().await,
    };
    std::fs::write(dir.join("e.csv"), "0750655E;Lycée Henri Wallon;Paris\n0930124E;Lycée Paul Éluard;Saint-Denis\n")
        .unwrap();
    assert!(run(dir, &url, &["establishment", "import", "e.csv"]).status.success());
    let add = ["user", "add", "--role", "agent", "--email", "claire@desk.test", "--name", "Claire Oreja"];
    let out = run(dir, &url, &add);
    assert!(out.status.success(), "{}", text(&out.stderr));
    url
}

async fn app(url: &str) -> App {
    let db = guichet_store::Db::connect(url, false).await.unwrap();
    App::new(db, Settings::default(), Arc::new(guichet_app::SystemClock)).await.unwrap()
}

/// The ticket a query finds, with its comments and attachments.
async fn found(app: &App, q: &str) -> Vec<guichet_domain::ticket::Ticket> {
    let params = ListParams { q: Some(q.into()), ..ListParams::default() };
    app.list_tickets(&app.operator(), &params).await.unwrap().items.into_iter().map(|r| r.ticket).collect()
}

import_test!(
    a_jira_export_is_imported_with_its_people_comments_and_files_and_again_changes_nothing,
    |backend| async move {
        let dir = tempfile::tempdir().unwrap();
        let url = prepared(backend, dir.path()).await;
        let f = fixtures();
        let (csv, mapping, files) = (f.join("jira.csv"), f.join("mapping.toml"), f.join("attachments"));
        let args = [
            "import",
            "jira",
            csv.to_str().unwrap(),
            "--mapping",
            mapping.to_str().unwrap(),
            "--attachments",
            files.to_str().unwrap(),
        ];

        // A dry run reports and writes nothing.
        let mut dry = args.to_vec();
        dry.push("--dry-run");
        let out = run(dir.path(), &url, &dry);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout)
                .starts_with("dry run (nothing written): 3 created, 0 updated, 0 unchanged, 2 not imported"),
            "{}",
            text(&out.stdout)
        );
        assert!(found(&app(&url).await, "key = ENT-101").await.is_empty());

        let out = run(dir.path(), &url, &args);
        assert_eq!(out.status.code(), Some(2));
        let stdout = text(&out.stdout);
        assert_eq!(
            stdout.trim(),
            "3 created, 0 updated, 0 unchanged, 2 not imported; 3 comments, 1 attachments, 1 accounts added"
        );
        let stderr = text(&out.stderr);
        let file = csv.display().to_string();
        assert!(stderr.contains(&format!("{file}:5: ENT-103: not imported: unknown status `Triage`")), "{stderr}");
        assert!(stderr.contains("[statuses]"), "{stderr}");
        assert!(
            stderr.contains(&format!("{file}:6: ENT-104: not imported: no establishment for `Collège Inconnu`")),
            "{stderr}"
        );
        assert!(stderr.contains("ENT-101: attachment `journal.txt` is not in the export's folder"), "{stderr}");

        let app = app(&url).await;
        let ent101 = found(&app, "key = ENT-101").await;
        assert_eq!(ent101.len(), 1, "the old key finds the ticket");
        let t = &ent101[0];
        assert_eq!((t.status.as_str(), t.priority.as_str(), t.ticket_type.as_str()), ("resolved", "high", "anomaly"));
        assert_eq!(
            t.created_at,
            "2026-03-02T08:12:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap(),
            "Paris time kept"
        );
        assert_eq!(t.assignee.as_ref().map(|a| a.name.as_str()), Some("Claire Oreja"));
        assert_eq!(t.channel, Channel::Api);
        let key = app.key(t.id);
        let op = app.operator();
        let requester = app.get_ticket(&op, &key).await.unwrap().record.requester_email;
        assert_eq!(requester, "frederic.morel@lycee-wallon.fr", "an account for the mapped reporter");
        let comments = app.list_comments(&op, &key).await.unwrap();
        let seen: Vec<(&str, &str, bool)> =
            comments.iter().map(|c| (c.author_name.as_str(), c.body.as_str(), c.internal)).collect();
        assert_eq!(
            seen,
            [
                ("Claire Oreja", "Bonjour, pouvez-vous nous dire quelles classes sont touchées ; toutes ?", true),
                ("fmorel", "Tout est revenu, merci !", true),
            ],
            "each under its author's account, Jira's comments as internal notes"
        );
        assert_eq!(comments[0].created_at, "2026-03-02T09:05:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap());
        let files = app.list_attachments(&op, &key).await.unwrap();
        assert_eq!(files.iter().map(|a| a.filename.as_str()).collect::<Vec<_>>(), ["capture.png"]);
        // Filed under the import account when the export names nobody known, with the name kept.
        let ent102 = &found(&app, "clé = ent-102").await[0];
        assert!(ent102.description.contains("Demandeur d'origine : jdoe"), "{}", ent102.description);
        assert_eq!(ent102.status, "waiting_on_requester");
        // An evolution's "Done" is its workflow's resolved status.
        assert_eq!(found(&app, "key = ENT-105").await[0].status, "delivered");
        assert_eq!(found(&app, "key IN (ENT-101, ENT-102, ENT-105)").await.len(), 3);

        // Again: nothing changes, nothing is duplicated.
        let again = run(dir.path(), &url, &args);
        assert_eq!(
            text(&again.stdout).trim(),
            "0 created, 0 updated, 3 unchanged, 2 not imported; 0 comments, 0 attachments, 0 accounts added"
        );
        assert_eq!(app.list_comments(&op, &key).await.unwrap().len(), 2);
    }
);

import_test!(a_glpi_export_is_imported_with_its_followups_and_private_ones_stay_internal, |backend| async move {
    let dir = tempfile::tempdir().unwrap();
    let url = prepared(backend, dir.path()).await;
    let f = fixtures();
    let (csv, followups, mapping) = (f.join("glpi-tickets.csv"), f.join("glpi-followups.csv"), f.join("mapping.toml"));
    let args = [
        "import",
        "glpi",
        csv.to_str().unwrap(),
        "--followups",
        followups.to_str().unwrap(),
        "--mapping",
        mapping.to_str().unwrap(),
    ];
    let out = run(dir.path(), &url, &args);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "2 created, 0 updated, 0 unchanged, 1 not imported; 3 comments, 0 attachments, 1 accounts added"
    );
    assert!(
        text(&out.stderr).contains("GLPI-1251: not imported: cannot read the opening date `pas de date`"),
        "{}",
        text(&out.stderr)
    );

    let app = app(&url).await;
    let op = app.operator();
    let printer = &found(&app, "key = GLPI-1234").await[0];
    assert_eq!((printer.status.as_str(), printer.ticket_type.as_str()), ("closed", "anomaly"));
    assert!(printer.closed_at.is_some() && printer.resolved_at.is_some());
    let key = app.key(printer.id);
    let comments = app.list_comments(&op, &key).await.unwrap();
    assert_eq!(
        comments.iter().map(|c| c.internal).collect::<Vec<_>>(),
        [false, true],
        "GLPI's private followup stays internal"
    );
    assert_eq!(comments[0].author_name, "Claire Oreja");
    let network = &found(&app, "key = GLPI-1240").await[0];
    assert_eq!(network.status, "in_progress");
    let comments = app.list_comments(&op, &app.key(network.id)).await.unwrap();
    assert!(
        comments[0].body.starts_with("**Technicien réseau** :"),
        "the unknown writer's name is kept: {}",
        comments[0].body
    );

    let again = run(dir.path(), &url, &args);
    assert!(text(&again.stdout).starts_with("0 created, 0 updated, 2 unchanged"), "{}", text(&again.stdout));
});

#[test]
fn a_wrong_file_or_mapping_stops_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/guichet.db?mode=rwc", dir.path().display());
    let out = run(dir.path(), &url, &["import", "jira", "absent.csv"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr).lines().count(), 1, "{}", text(&out.stderr));
    std::fs::write(dir.path().join("bad.toml"), "[statuses\n").unwrap();
    let csv = fixtures().join("jira.csv");
    let out = run(dir.path(), &url, &["import", "jira", csv.to_str().unwrap(), "--mapping", "bad.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("bad.toml"), "{}", text(&out.stderr));
    std::fs::write(dir.path().join("latin1.csv"), b"ID;Titre\n1;Ma\xefs\n").unwrap();
    let out = run(dir.path(), &url, &["import", "glpi", "latin1.csv"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not UTF-8"), "{}", text(&out.stderr));
}
