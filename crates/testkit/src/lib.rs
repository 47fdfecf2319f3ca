//! Test support shared by the integration tests: a fresh database per test on
//! SQLite or PostgreSQL, the router driven in-process, a controllable clock and
//! a fixture of two schools with their people and tickets.
// Test support: a failed set-up should stop the test loudly; database names
// take the wall clock to stay unique across runs.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::{DateTime, Duration, Utc};
use guichet_app::{App, Settings};
use guichet_domain::clock::Clock;
use guichet_store::Db;
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use tower::ServiceExt;

pub use serde_json::json;

pub mod mail;

/// The backends every integration test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the test command started, as an admin URL.
pub fn postgres_admin_url() -> String {
    std::env::var("GUICHET_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!("GUICHET_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL")
    })
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new PostgreSQL database on the test server, without any table yet;
/// returns its URL.
pub async fn empty_postgres_database() -> String {
    postgres_database("").await
}

/// A fresh PostgreSQL database whose collation and character type are
/// `locale` (under `C`, its LOWER folds A to Z only), as a region's
/// administrator may create it.
pub async fn empty_postgres_database_in(locale: &str) -> String {
    postgres_database(&format!(" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE '{locale}' LC_CTYPE '{locale}'")).await
}

async fn postgres_database(options: &str) -> String {
    let admin = postgres_admin_url();
    let name = format!(
        "guichet_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        Utc::now().timestamp_micros()
    );
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.unwrap();
    drop_stale_databases(&mut conn).await;
    sqlx::query(&format!("CREATE DATABASE {name}{options}")).execute(&mut conn).await.unwrap();
    match admin.rfind('/') {
        Some(i) if admin[..i].contains("://") && !admin[i..].contains('@') => {
            let (base, rest) = admin.split_at(i);
            let query = rest.find('?').map_or("", |q| &rest[q..]);
            format!("{base}/{name}{query}")
        }
        _ => panic!("GUICHET_TEST_POSTGRES_URL must end with /DATABASE"),
    }
}

/// How old a test database must be before another test run drops it: no
/// test lasts that long, so none is dropped under a running test.
const STALE_TEST_DATABASE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Drops the test databases earlier runs left on the server, those
/// created more than [`STALE_TEST_DATABASE`] ago (by the time in their
/// name). Each test runs in its own process, which cannot drop its
/// database on the way out; without this, a developer's server kept every
/// run's hundreds of databases. One process sweeps at a time (an advisory
/// lock); the others go on. Whether this one swept.
async fn drop_stale_databases(conn: &mut sqlx::PgConnection) -> bool {
    const SWEEP_LOCK: i64 = 0x0067_7569_6368_6574; // "guichet"
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(SWEEP_LOCK)
        .fetch_one(&mut *conn)
        .await
        .unwrap_or(false);
    if !locked {
        return false;
    }
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'guichet\\_test\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    let oldest = Utc::now().timestamp_micros() - STALE_TEST_DATABASE.as_micros() as i64;
    for name in names {
        let created = name.rsplit('_').next().and_then(|t| t.parse::<i64>().ok());
        if created.is_some_and(|at| at < oldest) {
            // In use after all (a test an hour long): left for a later run.
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\"")).execute(&mut *conn).await;
        }
    }
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(SWEEP_LOCK).execute(&mut *conn).await;
    true
}

/// A fresh, migrated database that lives as long as this value.
pub struct TestDb {
    pub db: Db,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("guichet.db").display());
                let db = Db::connect(&url, true).await.unwrap();
                db.migrate().await.unwrap();
                TestDb { db, url, _dir: Some(dir) }
            }
            Backend::Postgres => {
                let url = empty_postgres_database().await;
                let db = Db::connect(&url, false).await.unwrap();
                db.migrate().await.unwrap();
                TestDb { db, url, _dir: None }
            }
        }
    }
}

/// A clock tests move by hand.
#[derive(Debug)]
pub struct TestClock(AtomicI64);

impl TestClock {
    pub fn at(t: DateTime<Utc>) -> Arc<TestClock> {
        Arc::new(TestClock(AtomicI64::new(t.timestamp_micros())))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.num_microseconds().unwrap(), Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0.load(Ordering::SeqCst)).unwrap()
    }
}

/// A response as tests read it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.bytes)))
    }

    /// The error code of an error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// The application on a fresh database, driven in-process.
pub struct TestApp {
    pub app: App,
    pub router: axum::Router,
    pub clock: Arc<TestClock>,
    pub backend: Backend,
    /// Shared with the other nodes made by [`TestApp::another_node`].
    pub db: Arc<TestDb>,
}

impl TestApp {
    pub async fn new(backend: Backend) -> TestApp {
        Self::with_settings(backend, Settings { attachment_max_bytes: 64 * 1024, ..Settings::default() }).await
    }

    pub async fn with_settings(backend: Backend, settings: Settings) -> TestApp {
        Self::on(TestDb::new(backend).await, backend, settings).await
    }

    /// The application on a fresh PostgreSQL database in `locale` (see
    /// [`empty_postgres_database_in`]).
    pub async fn on_postgres_in(locale: &str) -> TestApp {
        let url = empty_postgres_database_in(locale).await;
        let db = Db::connect(&url, false).await.unwrap();
        db.migrate().await.unwrap();
        let settings = Settings { attachment_max_bytes: 64 * 1024, ..Settings::default() };
        Self::on(TestDb { db, url, _dir: None }, Backend::Postgres, settings).await
    }

    async fn on(db: TestDb, backend: Backend, settings: Settings) -> TestApp {
        let clock = TestClock::at("2026-03-02T13:00:00Z".parse().unwrap());
        let app = App::new(db.db.clone(), settings, clock.clone()).await.unwrap();
        let router = guichet_web::router(app.clone(), guichet_web::WebConfig::default());
        TestApp { app, router, clock, backend, db: Arc::new(db) }
    }

    /// Serves this app over HTTP on a free loopback port, with the web
    /// configuration `web` makes from the base URL (identity providers need
    /// their callbacks under it); returns that URL. The server lives as long
    /// as the test's runtime.
    pub async fn serve(&self, web: impl FnOnce(&str) -> guichet_web::WebConfig) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = guichet_web::router(self.app.clone(), web(&base));
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await });
        base
    }

    /// A second node on the same database: its own pool, caches and node
    /// name, the same settings otherwise and the same clock.
    pub async fn another_node(&self, name: &str) -> TestApp {
        self.another_node_with(name, &guichet_store::db::DbOptions::default()).await
    }

    /// [`TestApp::another_node`] with its own database options (a pool of
    /// one connection shows what one request reads).
    /// Another node on the same database whose pool holds one connection:
    /// every statement a request runs shows on that connection
    /// ([`TestApp::prepared_runs`]), for tests that count them.
    pub async fn one_connection_node(&self) -> TestApp {
        let one = guichet_store::db::DbOptions { pool_size: 1, ..Default::default() };
        self.another_node_with("one-connection", &one).await
    }

    pub async fn another_node_with(&self, name: &str, options: &guichet_store::db::DbOptions) -> TestApp {
        let db = Db::connect_with(&self.db.url, options).await.unwrap();
        let settings = Settings { node: name.to_owned(), ..(*self.app.settings).clone() };
        let app = App::new(db, settings, self.clock.clone()).await.unwrap();
        let router = guichet_web::router(app.clone(), guichet_web::WebConfig::default());
        TestApp { app, router, clock: self.clock.clone(), backend: self.backend, db: self.db.clone() }
    }

    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(&json).unwrap())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).unwrap()).await
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        Reply { status, headers, bytes }
    }

    /// The filter and order of the query `q` over every ticket, as the
    /// desk's list runs it: for a test that asks the store for its plan or
    /// its work.
    pub async fn desk_query(
        &self,
        conn: &mut guichet_store::db::Conn,
        q: &str,
    ) -> (guichet_store::tickets::TicketFilter, Vec<guichet_store::tickets::Sort>) {
        let resolved = self.app.resolve_query(conn, q).await.unwrap().unwrap();
        let filter = guichet_store::tickets::TicketFilter {
            scope: guichet_domain::actor::TicketScope::All,
            query: resolved.condition,
            ..Default::default()
        };
        let sort = resolved
            .order
            .into_iter()
            .map(|(key, descending)| guichet_store::tickets::Sort { field: key.into(), descending })
            .collect();
        (filter, sort)
    }

    /// The number of the establishment whose UAI is `uai`.
    pub async fn establishment_id(&self, uai: &str) -> i64 {
        let mut conn = self.app.db.conn().await.unwrap();
        let sql = "SELECT id FROM establishments WHERE uai = $1";
        guichet_store::on_conn!(conn, |c| sqlx::query_scalar(sql).bind(uai).fetch_one(&mut *c).await).unwrap()
    }

    /// The statements PostgreSQL planned once for any values on this
    /// connection (`pg_prepared_statements`), among those holding `like`.
    pub async fn generic_plans(conn: &mut guichet_store::db::Conn, like: &str) -> Vec<String> {
        let guichet_store::db::Raw::Postgres(c) = conn.raw() else { panic!("a PostgreSQL connection") };
        let sql = "SELECT statement FROM pg_prepared_statements WHERE generic_plans > 0 AND statement LIKE $1";
        sqlx::query_scalar(sql).bind(like).fetch_all(&mut *c).await.unwrap()
    }

    /// How many times this connection ran its prepared reads of tickets by
    /// number (the access check of every ticket route).
    pub async fn ticket_reads_prepared(conn: &mut guichet_store::db::Conn) -> i64 {
        Self::prepared_runs(conn, "%FROM tickets t WHERE 1 = 1%t.id IN ($_)%").await
    }

    /// How many times this connection ran the prepared statements holding
    /// `like` (`pg_prepared_statements`).
    pub async fn prepared_runs(conn: &mut guichet_store::db::Conn, like: &str) -> i64 {
        let guichet_store::db::Raw::Postgres(c) = conn.raw() else { panic!("a PostgreSQL connection") };
        let sql = "SELECT COALESCE(SUM(custom_plans + generic_plans), 0)::BIGINT FROM pg_prepared_statements \
                   WHERE statement LIKE $1 AND statement NOT LIKE '%pg_prepared_statements%'";
        sqlx::query_scalar(sql).bind(like).fetch_one(&mut *c).await.unwrap()
    }

    /// Runs one SQL statement on the app's database, whichever the backend:
    /// for a test that puts the data in a state no route would.
    pub async fn execute(&self, sql: &str) {
        let mut conn = self.app.db.conn().await.unwrap();
        guichet_store::on_conn!(conn, |c| sqlx::query(sql).execute(&mut *c).await.map(|_| ())).unwrap();
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::PATCH, path, Some(token), Some(body)).await
    }

    /// Uploads a file as `multipart/form-data` with optional extra fields.
    pub async fn upload(
        &self,
        path: &str,
        token: &str,
        filename: &str,
        content: &[u8],
        fields: &[(&str, &str)],
    ) -> Reply {
        let boundary = "guichet-test-boundary";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }
}

/// Two schools, their administrators, the desk, and a ticket in each school
/// with a public reply, an internal note and a public and an internal file.
pub struct Fixture {
    pub uai_a: String,
    pub uai_b: String,
    pub requester_a: String,
    pub requester_b: String,
    pub agent: String,
    pub technician: String,
    pub admin: String,
    pub agent_id: i64,
    pub ticket_a: String,
    pub ticket_b: String,
    pub public_attachment_a: i64,
    pub internal_attachment_a: i64,
    pub public_attachment_b: i64,
}

/// A tiny valid PNG (1×1 pixel).
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53, 0xde, 0x00, 0x00, 0x00, 0x0c, 0x49,
    0x44, 0x41, 0x54, 0x08, 0xd7, 0x63, 0xf8, 0xcf, 0xc0, 0x00, 0x00, 0x03, 0x01, 0x01, 0x00, 0x18, 0xdd, 0x8d, 0xb0,
    0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

impl TestApp {
    pub async fn user(
        &self,
        email: &str,
        name: &str,
        role: guichet_domain::user::Role,
        uai: Option<&str>,
    ) -> (String, i64) {
        self.user_speaking(email, name, role, uai, None).await
    }

    /// A user reading Guichet and its mail in `language`; returns their API token and id.
    pub async fn user_speaking(
        &self,
        email: &str,
        name: &str,
        role: guichet_domain::user::Role,
        uai: Option<&str>,
        language: Option<guichet_domain::user::Language>,
    ) -> (String, i64) {
        let establishments: Vec<String> = uai.into_iter().map(str::to_owned).collect();
        let new = guichet_domain::user::NewUser::parse(
            email,
            name,
            role,
            language.map(|l| l.as_str()),
            &["01 44 32 12 00".into()],
            &establishments,
        )
        .unwrap();
        let user = self.app.insert_user(new, Some("correct horse battery")).await.unwrap();
        (self.app.create_token(email, "test").await.unwrap(), user.id.0)
    }

    pub async fn fixture(&self) -> Fixture {
        use guichet_domain::establishment::NewEstablishment;
        use guichet_domain::user::Role;
        let op = self.app.operator();
        let (uai_a, uai_b) = ("0750655E".to_owned(), "0930124E".to_owned());
        for (uai, name, town) in [(&uai_a, "Lycée Henri Wallon", "Paris"), (&uai_b, "Lycée Paul Éluard", "Saint-Denis")]
        {
            let new = NewEstablishment::parse(uai, name, town, None).unwrap();
            self.app.create_establishment(&op, new).await.unwrap();
        }
        let (requester_a, _) =
            self.user("admin.a@lycee-a.test", "Nathalie Durand", Role::Requester, Some(&uai_a)).await;
        let (requester_b, _) = self.user("admin.b@lycee-b.test", "Karim Benali", Role::Requester, Some(&uai_b)).await;
        let (agent, agent_id) = self.user("claire@desk.test", "Claire Oreja", Role::Agent, None).await;
        let (technician, _) = self.user("tech@desk.test", "Julie Marchand", Role::Technician, None).await;
        let (admin, _) = self.user("boss@desk.test", "Responsable", Role::Admin, None).await;
        let mut keys = Vec::new();
        let mut attachments = Vec::new();
        for (token, uai) in [(&requester_a, &uai_a), (&requester_b, &uai_b)] {
            let body = json!({"title": format!("Messagerie en panne ({uai})"), "description": "Page blanche", "establishment": uai});
            let r = self.post("/api/v1/tickets", token, body).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.bytes));
            let key = r.json()["key"].as_str().unwrap().to_owned();
            let path = format!("/api/v1/tickets/{key}");
            self.post(&format!("{path}/comments"), &agent, json!({"body": "Bonjour, nous regardons."})).await;
            let note = json!({"body": "SECRET-NOTE mot de passe admin: hunter2", "internal": true});
            assert_eq!(self.post(&format!("{path}/comments"), &agent, note).await.status, StatusCode::CREATED);
            let public = self.upload(&format!("{path}/attachments"), token, "capture.png", PNG, &[]).await;
            let internal = self
                .upload(&format!("{path}/attachments"), &agent, "logs.txt", b"internal logs", &[("internal", "true")])
                .await;
            assert_eq!(internal.status, StatusCode::CREATED);
            let summary = json!({"summary": "Page blanche reproduite sur deux navigateurs"});
            let escalate = self.post(&format!("{path}/escalate"), &agent, summary).await;
            assert_eq!(escalate.status, StatusCode::OK);
            attachments.push((public.json()["id"].as_i64().unwrap(), internal.json()["id"].as_i64().unwrap()));
            keys.push(key);
        }
        Fixture {
            uai_a,
            uai_b,
            requester_a,
            requester_b,
            agent,
            technician,
            admin,
            agent_id,
            ticket_a: keys[0].clone(),
            ticket_b: keys[1].clone(),
            public_attachment_a: attachments[0].0,
            internal_attachment_a: attachments[0].1,
            public_attachment_b: attachments[1].0,
        }
    }
}

/// Declares a test that runs once on SQLite and once on PostgreSQL:
/// `backend_test!(name, |app| async move { … });`
#[macro_export]
macro_rules! backend_test {
    ($name:ident, |$app:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn on_sqlite() {
                let $app = $crate::TestApp::new($crate::Backend::Sqlite).await;
                $body.await;
            }

            #[tokio::test]
            async fn on_postgres() {
                let $app = $crate::TestApp::new($crate::Backend::Postgres).await;
                $body.await;
            }
        }
    };
}

/// Declares a test that runs once on each backend and builds its own app:
/// `per_backend_test!(name, |backend| async move { … });`
#[macro_export]
macro_rules! per_backend_test {
    ($name:ident, |$backend:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn on_sqlite() {
                let $backend = $crate::Backend::Sqlite;
                $body.await;
            }

            #[tokio::test]
            async fn on_postgres() {
                let $backend = $crate::Backend::Postgres;
                $body.await;
            }
        }
    };
}

/// A signed-in browser, as far as pages are concerned: its cookie and the
/// CSRF token its forms carry.
pub struct PageSession {
    pub cookie: String,
    pub csrf: String,
}

fn set_cookie(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

/// The value of the first hidden `_csrf` field of a page that has one (the
/// header's language switch carries an empty one before signing in).
pub fn csrf_of(html: &str) -> Option<String> {
    html.split("name=\"_csrf\" value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|value| !value.is_empty())
        .map(str::to_owned)
}

impl TestApp {
    /// Signs in through the login form, as a browser would.
    pub async fn sign_in(&self, email: &str, password: &str) -> PageSession {
        let reply = self.try_sign_in(email, password).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "sign-in of {email} failed");
        let cookie = set_cookie(&reply, "guichet_session").unwrap();
        let home = self.page(&cookie, "/search").await;
        let csrf = csrf_of(&String::from_utf8_lossy(&home.bytes)).unwrap();
        PageSession { cookie, csrf }
    }

    /// Posts the login form once and returns the answer, whatever it is.
    pub async fn try_sign_in(&self, email: &str, password: &str) -> Reply {
        let login = self.request(Method::GET, "/login", None, None).await;
        let login_cookie = set_cookie(&login, "guichet_login_csrf").unwrap();
        let token = csrf_of(&String::from_utf8_lossy(&login.bytes)).unwrap();
        let encode = |s: &str| s.replace('%', "%25").replace('&', "%26").replace('+', "%2B").replace(' ', "+");
        let body = format!("_csrf={token}&email={}&password={}", encode(email), encode(password));
        let request = Request::builder()
            .method(Method::POST)
            .uri("/login")
            .header(header::COOKIE, login_cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    pub async fn page(&self, cookie: &str, path: &str) -> Reply {
        let request = Request::builder().uri(path).header(header::COOKIE, cookie).body(Body::empty()).unwrap();
        self.send(request).await
    }

    /// Posts a form as the session, adding its CSRF token unless `csrf` says otherwise.
    pub async fn form(&self, session: &PageSession, path: &str, fields: &[(&str, &str)], csrf: Option<&str>) -> Reply {
        let mut pairs: Vec<(&str, &str)> = fields.to_vec();
        pairs.push(("_csrf", csrf.unwrap_or(&session.csrf)));
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace('%', "%25").replace('&', "%26").replace(' ', "+")))
            .collect::<Vec<_>>()
            .join("&");
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::COOKIE, &session.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// Posts a multipart form without signing in (the public HELP page), with
    /// an optional file in the field `file_field`.
    pub async fn public_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &str, &[u8])>,
        client: &str,
    ) -> Reply {
        let boundary = "guichet-public-boundary";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        if let Some((field, filename, content)) = file {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let peer: std::net::SocketAddr = format!("{client}:40000").parse().unwrap();
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .extension(axum::extract::ConnectInfo(peer))
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// Uploads a file through a page form (multipart, with the CSRF field).
    pub async fn page_upload(&self, session: &PageSession, path: &str, filename: &str, content: &[u8]) -> Reply {
        let boundary = "guichet-page-boundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: image/png\r\n\r\n",
            session.csrf
        )
        .into_bytes();
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::COOKIE, &session.cookie)
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn test_databases_of_a_run_over_an_hour_ago_are_dropped_and_recent_ones_kept() {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&postgres_admin_url()).await.unwrap();
        let now = Utc::now().timestamp_micros();
        let old = format!("guichet_test_0_0_{}", now - 2 * 3600 * 1_000_000);
        let recent = format!("guichet_test_0_1_{}", now - 60 * 1_000_000);
        for name in [&old, &recent] {
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
        }
        // Another test's process may be sweeping at this moment.
        while !drop_stale_databases(&mut conn).await {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let exists = |name: String| {
            sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)").bind(name)
        };
        assert!(!exists(old).fetch_one(&mut conn).await.unwrap(), "over an hour old: dropped");
        assert!(exists(recent.clone()).fetch_one(&mut conn).await.unwrap(), "a minute old: maybe in use, kept");
        sqlx::query(&format!("DROP DATABASE {recent}")).execute(&mut conn).await.unwrap();
    }
}
