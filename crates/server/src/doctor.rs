//! `guichet doctor`: everything the service needs, checked the way the
//! service uses it, one line each, so that an operator finds in a minute
//! what stops it (and a monitoring probe can run it).

use crate::config::Config;
use guichet_store::Db;
use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

/// The longest one check may take: a server that does not answer is a finding.
const CHECK_TIMEOUT: Duration = Duration::from_secs(15);
/// Less free space than this where the data lives fails the check.
const MIN_FREE_BYTES: u64 = 1_000_000_000;
/// A clock further than this from the database's breaks due dates and leases.
const MAX_SKEW: f64 = 2.0;

enum Verdict {
    Ok(String),
    Skipped(String),
    Failed(String),
}

async fn timed(check: impl Future<Output = Verdict>) -> Verdict {
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| Verdict::Failed(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())))
}

pub async fn doctor(config: &Config, statement_limit: Duration) -> anyhow::Result<ExitCode> {
    let mut checks: Vec<(String, Verdict)> = Vec::new();
    checks.push(("configuration".into(), configuration(config)));
    let (url, _) = config.database()?;
    let db = open(&url).await;
    checks.push(("database".into(), timed(database(&db, &url)).await));
    checks.push(("clock".into(), timed(clock(&db)).await));
    checks.push(("search".into(), timed(search(&db)).await));
    checks.push(("memory".into(), timed(memory(&db)).await));
    checks.push(("statements".into(), timed(statements(&db, statement_limit)).await));
    checks.push(("disk".into(), disk(config, &url)));
    for mailbox in &config.mailboxes {
        let verdict = timed(async {
            match guichet_mail::imap::check(mailbox).await {
                Ok(n) => Verdict::Ok(format!(
                    "signed in to {}:{} as {}, folder {} ({n} messages)",
                    mailbox.host,
                    mailbox.port.map_or_else(|| "default port".into(), |p| p.to_string()),
                    mailbox.credentials.user.as_deref().unwrap_or("(no user)"),
                    mailbox.folder
                )),
                Err(e) => Verdict::Failed(e.to_string()),
            }
        })
        .await;
        checks.push((format!("mailbox {}", mailbox.name), verdict));
    }
    checks.push(("smtp".into(), timed(smtp(config)).await));
    checks.push(("public url".into(), public_url(config).await));
    if let Ok(db) = db {
        db.close().await;
    }
    let mut failed = 0;
    for (name, verdict) in &checks {
        let (mark, detail) = match verdict {
            Verdict::Ok(d) => ("ok  ", d),
            Verdict::Skipped(d) => ("--  ", d),
            Verdict::Failed(d) => {
                failed += 1;
                ("FAIL", d)
            }
        };
        // One line each, whatever the error's text holds.
        println!("{mark}  {name}: {}", detail.replace(['\n', '\r'], " "));
    }
    if failed > 0 {
        eprintln!("error: {failed} check(s) failed");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn configuration(config: &Config) -> Verdict {
    Verdict::Ok(format!(
        "valid; {} mailbox(es), SMTP {}, {} sign-in provider(s), node {}",
        config.mailboxes.len(),
        if config.smtp.is_some() { "configured" } else { "not configured" },
        config.auth.cas.len() + config.auth.oidc.len(),
        config.node_name()
    ))
}

/// Opens the database without creating or migrating it.
async fn open(url: &str) -> Result<Db, String> {
    if let Ok(Some(file)) = guichet_store::backup::sqlite_file(url) {
        if !file.exists() {
            return Err(format!("no database at {} yet: `guichet migrate` creates it", file.display()));
        }
    }
    Db::connect(url, false).await.map_err(|e| e.to_string())
}

async fn database(db: &Result<Db, String>, url: &str) -> Verdict {
    let db = match db {
        Ok(db) => db,
        Err(e) => return Verdict::Failed(e.clone()),
    };
    let backend = if url.starts_with("sqlite:") { "SQLite" } else { "PostgreSQL" };
    let version = match db.schema_version().await {
        Ok(v) => v,
        Err(e) => return Verdict::Failed(format!("{backend} answers but has no schema: {e}")),
    };
    let known = db.known_version();
    match version.cmp(&known) {
        std::cmp::Ordering::Equal => Verdict::Ok(format!("{backend}, schema version {version} (up to date)")),
        std::cmp::Ordering::Less => Verdict::Failed(format!(
            "{backend}, schema version {version}; this program needs {known}: run `guichet migrate`"
        )),
        std::cmp::Ordering::Greater => Verdict::Failed(format!(
            "{backend}, schema version {version} is newer than this program's {known}: upgrade the program"
        )),
    }
}

/// Whether the desk's search over every ticket has its recency indexes
/// (PostgreSQL with the RUM extension); without them it still works, slower
/// on a large base, so their absence is a note rather than a failure.
async fn search(db: &Result<Db, String>) -> Verdict {
    let Ok(db) = db else { return Verdict::Skipped("no database".into()) };
    if !matches!(db, Db::Postgres(_)) {
        return Verdict::Ok("SQLite FTS5, the most recent matches ranked first".into());
    }
    let found = async { guichet_store::search::has_recency_indexes(&mut db.conn().await?).await };
    match found.await {
        Ok(true) => Verdict::Ok("PostgreSQL, the most recent matches ranked first (RUM indexes)".into()),
        Ok(false) => Verdict::Skipped(
            "no RUM extension: the search over every ticket ranks every match, slow past some 100,000 tickets; \
             install postgresql-15-rum, `CREATE EXTENSION rum` as a superuser, then `guichet migrate`"
                .into(),
        ),
        Err(e) => Verdict::Failed(e.to_string()),
    }
}

/// PostgreSQL's own page cache against the database it holds. Its default
/// (128 MB) is made to start anywhere: at 1,000,000 tickets the desk's
/// searches and counts read their pages back from the system's cache each
/// time other requests pushed them out, which took the first run of
/// `text ~ "mot de passe"` from 35 to 70-160 ms (docs/performance.md).
/// Advice, not a failure: the service works either way.
async fn memory(db: &Result<Db, String>) -> Verdict {
    let Ok(db) = db else { return Verdict::Skipped("no database".into()) };
    let Db::Postgres(pool) = db else {
        return Verdict::Skipped("SQLite's pages are held by the system's file cache".into());
    };
    let sql = "SELECT (SELECT setting::BIGINT * pg_size_bytes(unit) FROM pg_settings WHERE name = 'shared_buffers'), \
               pg_database_size(current_database())";
    match sqlx::query_as::<_, (i64, i64)>(sql).fetch_one(pool).await {
        Ok((shared, database)) => memory_verdict(shared, database),
        Err(e) => Verdict::Failed(e.to_string()),
    }
}

/// Below this, PostgreSQL's page cache smaller than its database is
/// pointed out; above it, the operator has chosen a size.
const ADVISED_SHARED_BUFFERS: i64 = 1 << 30;

/// Guichet's statements still running past `limit`. None of them should
/// take minutes; one that does is stuck, most likely on a damaged index
/// (a filing spinning in a RUM index ignores cancellation), and each holds
/// a core. Statements waiting on a lock are someone else's transaction's
/// doing (a search index built concurrently waits for the older ones).
async fn statements(db: &Result<Db, String>, limit: Duration) -> Verdict {
    let Ok(db) = db else { return Verdict::Skipped("no database".into()) };
    let Db::Postgres(pool) = db else {
        return Verdict::Skipped("SQLite runs its statements inside this program".into());
    };
    let sql = "SELECT COUNT(*) OVER ()::BIGINT, pid::BIGINT, \
               EXTRACT(EPOCH FROM clock_timestamp() - query_start)::BIGINT, query \
               FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' \
               AND pid <> pg_backend_pid() AND application_name LIKE $1 \
               AND wait_event_type IS DISTINCT FROM 'Lock' \
               AND query_start < clock_timestamp() - make_interval(secs => $2) ORDER BY query_start LIMIT 1";
    let like = format!("{}%", guichet_store::db::APPLICATION_NAME);
    let oldest = sqlx::query_as::<_, (i64, i64, i64, String)>(sql)
        .bind(like)
        .bind(limit.as_secs_f64())
        .fetch_optional(pool)
        .await;
    match oldest {
        Ok(None) => Verdict::Ok(format!("none of Guichet's has run for more than {} s", limit.as_secs())),
        Ok(Some((count, pid, seconds, query))) => Verdict::Failed(stuck(count, pid, seconds, &query, limit)),
        Err(e) => Verdict::Failed(e.to_string()),
    }
}

fn stuck(count: i64, pid: i64, seconds: i64, query: &str, limit: Duration) -> String {
    let query: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
    let shown: String = query.chars().take(80).collect();
    let more = if shown.len() < query.len() { "…" } else { "" };
    format!(
        "{count} of Guichet's running for more than {} s, the oldest for {seconds} s (PostgreSQL pid {pid}): \
         `{shown}{more}`; see docs/operations.md, \"Statements that never end\"",
        limit.as_secs()
    )
}

fn memory_verdict(shared: i64, database: i64) -> Verdict {
    let size = |bytes: i64| {
        let bytes = bytes as f64;
        if bytes >= 1e9 {
            format!("{:.1} GB", bytes / 1e9)
        } else {
            format!("{:.0} MB", bytes / 1e6)
        }
    };
    let line = format!("PostgreSQL's shared_buffers {} for a database of {}", size(shared), size(database));
    if shared < database && shared < ADVISED_SHARED_BUFFERS {
        Verdict::Skipped(format!(
            "{line}: searches and counts will read pages back from the system; give PostgreSQL about a quarter \
             of its machine's memory (docs/deployment.md, \"PostgreSQL's memory\")"
        ))
    } else {
        Verdict::Ok(line)
    }
}

async fn clock(db: &Result<Db, String>) -> Verdict {
    let Ok(db) = db else { return Verdict::Skipped("no database to compare with".into()) };
    let Db::Postgres(pool) = db else {
        return Verdict::Skipped("SQLite runs on this machine's clock".into());
    };
    let sql = "SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8";
    let before = now_seconds();
    let theirs: f64 = match sqlx::query_scalar(sql).fetch_one(pool).await {
        Ok(t) => t,
        Err(e) => return Verdict::Failed(e.to_string()),
    };
    let ours = (before + now_seconds()) / 2.0;
    let skew = ours - theirs;
    if skew.abs() > MAX_SKEW {
        Verdict::Failed(format!(
            "this machine is {skew:+.1} s from the database's clock (more than {MAX_SKEW} s): check NTP"
        ))
    } else {
        Verdict::Ok(format!("{skew:+.3} s from the database's clock"))
    }
}

fn now_seconds() -> f64 {
    let now = guichet_domain::clock::Clock::now(&guichet_app::SystemClock);
    now.timestamp_micros() as f64 / 1e6
}

/// Free space where the data lives: the SQLite file's folder, else the data directory.
fn disk(config: &Config, url: &str) -> Verdict {
    let place = guichet_store::backup::sqlite_file(url)
        .ok()
        .flatten()
        .and_then(|f| f.parent().map(std::path::Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| config.data_dir.clone());
    match rustix::fs::statvfs(&place) {
        Ok(s) => {
            let free = s.f_bavail.saturating_mul(s.f_frsize);
            let total = s.f_blocks.saturating_mul(s.f_frsize);
            let line =
                format!("{:.1} GB free of {:.1} GB at {}", free as f64 / 1e9, total as f64 / 1e9, place.display());
            if free < MIN_FREE_BYTES {
                Verdict::Failed(format!("{line}: under {} GB", MIN_FREE_BYTES / 1_000_000_000))
            } else {
                Verdict::Ok(line)
            }
        }
        Err(e) => Verdict::Failed(format!("cannot measure {}: {e}", place.display())),
    }
}

async fn smtp(config: &Config) -> Verdict {
    let Some(smtp) = &config.smtp else {
        return Verdict::Skipped("not configured: no notification is sent".into());
    };
    let sender = match guichet_mail::smtp::Sender::new(smtp) {
        Ok(s) => s,
        Err(e) => return Verdict::Failed(e.to_string()),
    };
    match sender.check().await {
        Ok(()) => Verdict::Ok(format!(
            "{} answers{}; nothing was sent",
            smtp.host,
            if smtp.credentials.user.is_some() { " and accepts the credentials" } else { "" }
        )),
        Err(e) => Verdict::Failed(format!("{}: {e}", smtp.host)),
    }
}

/// The address in the mails' links answers as this service (its `/readyz`).
async fn public_url(config: &Config) -> Verdict {
    let base = config.public_url();
    let url = format!("{}/readyz", base.trim_end_matches('/'));
    let probe = tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).redirects(0).build();
        match agent.get(&url).call() {
            Ok(r) if r.status() == 200 => Ok(()),
            Ok(r) => Err(format!("{url} answers {}", r.status())),
            Err(ureq::Error::Status(code, _)) => Err(format!("{url} answers {code}")),
            Err(e) => Err(format!("nothing answers at {base} (is the service running?): {e}")),
        }
    });
    match probe.await {
        Ok(Ok(())) => Verdict::Ok(format!("{} answers and is ready", config.public_url())),
        Ok(Err(e)) => Verdict::Failed(e),
        Err(e) => Verdict::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advised(verdict: Verdict) -> Option<String> {
        match verdict {
            Verdict::Ok(_) => None,
            Verdict::Skipped(note) => Some(note),
            Verdict::Failed(e) => panic!("a page cache is never a failure: {e}"),
        }
    }

    #[test]
    fn a_stuck_statement_is_named_on_one_line_cut_at_eighty_characters() {
        let query = format!("INSERT INTO tickets (title,\n    description) VALUES ({})", "$1, ".repeat(30));
        let line = stuck(3, 4242, 3612, &query, Duration::from_secs(300));
        assert!(line
            .starts_with("3 of Guichet's running for more than 300 s, the oldest for 3612 s (PostgreSQL pid 4242): "));
        assert!(line.contains("`INSERT INTO tickets (title, description) VALUES ($1, "), "{line}");
        let shown = line.split('`').nth(1).unwrap();
        assert_eq!(shown.chars().count(), 81, "eighty characters and an ellipsis: {shown}");
        assert!(shown.ends_with('…'));
        assert!(line.ends_with("see docs/operations.md, \"Statements that never end\""));
        let short = stuck(1, 7, 400, "SELECT pg_sleep(600)", Duration::from_secs(300));
        assert!(short.contains("`SELECT pg_sleep(600)`;"), "{short}");
    }

    #[test]
    fn a_page_cache_smaller_than_its_database_and_than_a_gigabyte_is_pointed_out() {
        let mb = 1 << 20;
        let note = advised(memory_verdict(128 * mb, 6_000 * mb)).expect("advice");
        assert!(note.starts_with("PostgreSQL's shared_buffers 134 MB for a database of 6.3 GB: "), "{note}");
        assert!(note.contains("docs/deployment.md"), "{note}");
        // A new desk's base fits in the default; an operator's chosen size stands.
        assert_eq!(advised(memory_verdict(128 * mb, 40 * mb)), None);
        assert_eq!(advised(memory_verdict(2_048 * mb, 6_000 * mb)), None);
        assert_eq!(advised(memory_verdict(1_024 * mb, 6_000 * mb)), None);
    }
}
