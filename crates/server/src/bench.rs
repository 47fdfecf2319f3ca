//! `guichet bench filters`: how fast the desk's saved filters answer on the
//! configured database (first page of 50, as the queue shows them). Prints
//! medians and 99th percentiles; run it on `guichet demo --tickets 1000000`.

use crate::commands::open_app;
use crate::config::Config;
use anyhow::Context;
use guichet_app::tickets::ListParams;
use guichet_domain::user::Role;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

pub async fn filters(config: &Config, iterations: usize) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    let op = app.operator();
    let filter = guichet_store::users::UserFilter { role: Some(Role::Agent), ..Default::default() };
    let agents = app.list_users(&op, &filter, 1, 0).await.map_err(|e| anyhow::anyhow!(e.to_string()))?.0;
    let agent = agents.into_iter().next().context("no agent in the database: load `guichet demo` first")?;
    let principal = guichet_app::auth::Principal::from_user(agent);
    let saved = app.saved_filters(&principal, 0).await.map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let backend = match app.db.backend() {
        guichet_store::Backend::Sqlite => "SQLite",
        guichet_store::Backend::Postgres => "PostgreSQL",
    };
    let mut conn = app.db.conn().await?;
    let total = guichet_store::tickets::list_tickets(
        &mut conn,
        &guichet_store::tickets::TicketFilter { scope: guichet_domain::actor::TicketScope::All, ..Default::default() },
        &[],
        1,
        0,
        true,
    )
    .await?
    .1
    .unwrap_or(0);
    drop(conn);
    println!("{backend}, {total} tickets, {iterations} runs per filter (first page of 50, with the total count)");
    println!("{:<32} {:>8} {:>10} {:>10}", "filter", "found", "p50 ms", "p99 ms");
    let mut dashboard = Vec::with_capacity(iterations);
    for r in &saved {
        let params = ListParams { q: Some(r.filter.query.clone()), per_page: Some(50), ..ListParams::default() };
        let mut times = Vec::with_capacity(iterations);
        let mut found = 0;
        for _ in 0..iterations {
            let start = Instant::now();
            let page = app.list_tickets(&principal, &params).await.map_err(|e| anyhow::anyhow!(e.to_string()))?;
            times.push(start.elapsed());
            found = page.total;
        }
        times.sort();
        println!(
            "{:<32} {:>8} {:>10} {:>10}",
            r.filter.name,
            found,
            ms(percentile(&times, 50.0)),
            ms(percentile(&times, 99.0))
        );
    }
    for _ in 0..iterations.min(20) {
        let start = Instant::now();
        app.dashboard(&principal).await.map_err(|e| anyhow::anyhow!(e.to_string()))?;
        dashboard.push(start.elapsed());
    }
    dashboard.sort();
    println!(
        "{:<32} {:>8} {:>10} {:>10}",
        "dashboard (all tiles)",
        "",
        ms(percentile(&dashboard, 50.0)),
        ms(percentile(&dashboard, 99.0))
    );
    Ok(ExitCode::SUCCESS)
}

/// `guichet bench mail`: fills the mailbox with `count` generated messages
/// from the demo's requesters (new requests, with a reply now and then), then
/// times one import pass over IMAP and prints messages per second.
pub async fn mail(config: &Config, count: usize, mailbox: Option<&str>) -> anyhow::Result<ExitCode> {
    let mailbox = crate::mail::chosen_mailbox(config, mailbox)?;
    let app = open_app(config).await?;
    let op = app.operator();
    let filter = guichet_store::users::UserFilter { role: Some(Role::Requester), ..Default::default() };
    let requesters: Vec<_> = app
        .list_users(&op, &filter, 200, 0)
        .await
        .map_err(|e| anyhow::anyhow!(e.to_string()))?
        .0
        .into_iter()
        .filter(|u| !u.disabled && !guichet_app::notify::is_system_account(u))
        .collect();
    anyhow::ensure!(!requesters.is_empty(), "no requester in the database: load `guichet demo` first");
    let mut session = guichet_mail::imap::connect(mailbox).await?;
    let run = app.now().timestamp_micros();
    let fill = Instant::now();
    for i in 0..count {
        let from = &requesters[i % requesters.len()];
        // As the desk's mail server would hand them over when configured to vouch for senders.
        let verdict = config.mail.trusted_authserv_id.as_deref().map_or_else(String::new, |id| {
            let domain = from.email.as_str().rsplit_once('@').map_or("", |(_, d)| d);
            format!("Authentication-Results: {id}; dmarc=pass header.from={domain}\r\n")
        });
        let raw = format!(
            "{verdict}From: {name} <{email}>\r\nTo: support@guichet.test\r\nSubject: Accès ENT impossible pour une classe ({i})\r\n\
             Message-ID: <bench-{run}-{i}@guichet.test>\r\nDate: Mon, 2 Mar 2026 14:00:00 +0100\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
             Bonjour,\r\n\r\nLes élèves de 5e B n'arrivent plus à se connecter depuis ce matin ({i}).\r\n\
             Le message affiché est « identifiant inconnu ».\r\n\r\nCordialement,\r\n{name}\r\n",
            name = from.name,
            email = from.email.as_str()
        );
        session.append(&mailbox.folder, None, None, raw.as_bytes()).await?;
    }
    let filled = fill.elapsed();
    let _ = session.logout().await;
    let start = Instant::now();
    let report = guichet_mail::imap::poll_once(&app, mailbox).await?;
    let elapsed = start.elapsed();
    let backend = match app.db.backend() {
        guichet_store::Backend::Sqlite => "SQLite",
        guichet_store::Backend::Postgres => "PostgreSQL",
    };
    println!("mail import over IMAP ({backend}), mailbox `{}`", mailbox.name);
    println!("  appended {count} messages in {:.1} s", filled.as_secs_f64());
    println!(
        "  imported {} (quarantined {}, already known {}) in {:.1} s: {:.0} messages/s",
        report.imported,
        report.quarantined,
        report.duplicates,
        elapsed.as_secs_f64(),
        report.imported as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

/// `guichet bench reports`: each report over the last month and the last
/// year, as the desk reads them; p50/p99 in milliseconds.
pub async fn reports(config: &Config, iterations: usize) -> anyhow::Result<ExitCode> {
    use guichet_app::reports::ReportParams;
    use guichet_store::reports::Dimension;
    let app = open_app(config).await?;
    let op = app.operator();
    let filter = guichet_store::users::UserFilter { role: Some(Role::Agent), ..Default::default() };
    let agents = app.list_users(&op, &filter, 1, 0).await.map_err(|e| anyhow::anyhow!(e.to_string()))?.0;
    let agent = agents.into_iter().next().context("no agent in the database: load `guichet demo` first")?;
    let p = guichet_app::auth::Principal::from_user(agent);
    let today = app.now().date_naive();
    let backend = match app.db.backend() {
        guichet_store::Backend::Sqlite => "SQLite",
        guichet_store::Backend::Postgres => "PostgreSQL",
    };
    println!("{backend}, reports as an agent, {iterations} runs each (ms)");
    println!("{:<44} {:>9} {:>9}", "report", "p50", "p99");
    let app_err = |e: guichet_app::AppError| anyhow::anyhow!(e.to_string());
    for (period, days, granularity) in [("month", 30, "day"), ("year", 365, "month")] {
        let params = ReportParams {
            from: Some((today - chrono::Duration::days(days)).to_string()),
            to: Some(today.to_string()),
            granularity: Some(granularity.into()),
            ..ReportParams::default()
        };
        let scope = app.report_scope(&p, &params).await.map_err(app_err)?;
        let names = [
            "created vs resolved",
            "by establishment (top 10)",
            "response/resolution times",
            "service levels",
            "agent activity",
            "escalations",
        ];
        for (i, name) in names.iter().enumerate() {
            let mut times = Vec::with_capacity(iterations);
            for _ in 0..iterations {
                let start = Instant::now();
                match i {
                    0 => drop(app.report_volume(&scope).await.map_err(app_err)?),
                    1 => drop(app.report_breakdown(&scope, Dimension::Establishment, 10).await.map_err(app_err)?),
                    2 => drop(app.report_times(&scope).await.map_err(app_err)?),
                    3 => drop(app.report_sla(&scope).await.map_err(app_err)?),
                    4 => drop(app.report_agents(&p, &scope).await.map_err(app_err)?),
                    _ => drop(app.report_escalations(&scope).await.map_err(app_err)?),
                }
                times.push(start.elapsed());
            }
            times.sort();
            println!(
                "{:<44} {:>9} {:>9}",
                format!("{name}, last {period}"),
                ms(percentile(&times, 50.0)),
                ms(percentile(&times, 99.0))
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `guichet bench search`: the search box's answer time (first 20 hits,
/// ranked, with snippets) for a rare word, a common word, a phrase and a
/// prefix, as an agent (internal notes included) and as a requester.
pub async fn search(config: &Config, iterations: usize) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    let op = app.operator();
    let first = |role: Role| {
        let app = app.clone();
        let op = op.clone();
        async move {
            let filter = guichet_store::users::UserFilter { role: Some(role), ..Default::default() };
            let users = app.list_users(&op, &filter, 1, 0).await.map_err(|e| anyhow::anyhow!(e.to_string()))?.0;
            users.into_iter().next().context("no such user in the database: load `guichet demo` first")
        }
    };
    let agent = guichet_app::auth::Principal::from_user(first(Role::Agent).await?);
    let requester = guichet_app::auth::Principal::from_user(first(Role::Requester).await?);
    let backend = match app.db.backend() {
        guichet_store::Backend::Sqlite => "SQLite",
        guichet_store::Backend::Postgres => "PostgreSQL",
    };
    println!("{backend}, full-text search, first 20 hits, {iterations} runs each (ms)");
    println!("{:<48} {:>6} {:>9} {:>9}", "search", "hits", "p50", "p99");
    let cases = [
        ("rare word", "winmail"),
        ("common word", "messagerie"),
        ("phrase", "\"page blanche\""),
        ("prefix", "navigat*"),
        ("accents folded", "evenement"),
    ];
    for (who, p) in [("agent", &agent), ("requester", &requester)] {
        for (name, q) in cases {
            let mut times = Vec::with_capacity(iterations);
            let mut hits = 0;
            for _ in 0..iterations {
                let start = Instant::now();
                hits = app.search(p, q, 20).await.map_err(|e| anyhow::anyhow!(e.to_string()))?.len();
                times.push(start.elapsed());
            }
            times.sort();
            let label = format!("{name} {q} ({who})");
            println!("{label:<48} {hits:>6} {:>9} {:>9}", ms(percentile(&times, 50.0)), ms(percentile(&times, 99.0)));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The benchmarked server: asked to stop (SIGTERM, a graceful shutdown) when
/// dropped, on success or on the first error, then killed if it lingers.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// `guichet bench http`: the load generator. Starts `guichet serve` on the
/// configured database (as a child, so that its memory is its own), then
/// files `requests` tickets over the REST API with 1 client and with 16
/// concurrent clients, reads tickets spread over the base as an agent (API
/// and HTML page), and prints tickets per second, read latencies, start-up
/// time and the server's resident memory idle and at its peak.
pub async fn http(config: &Config, requests: usize) -> anyhow::Result<ExitCode> {
    use std::io::BufRead;
    let app = open_app(config).await?;
    let op = app.operator();
    let filter = guichet_store::users::UserFilter { role: Some(Role::Requester), ..Default::default() };
    let requester = app.list_users(&op, &filter, 1, 0).await.map_err(|e| anyhow::anyhow!(e.to_string()))?.0;
    let requester = requester.into_iter().next().context("no requester in the database: load `guichet demo` first")?;
    let uai = match requester.establishments.first() {
        Some(id) => {
            guichet_store::establishments::find_establishment(&mut app.db.conn().await?, *id).await?.uai.to_string()
        }
        None => anyhow::bail!("the first requester has no establishment"),
    };
    let token =
        app.create_token(requester.email.as_str(), "bench http").await.map_err(|e| anyhow::anyhow!(e.to_string()))?;
    // Ticket reads are the desk's: an agent's token for the API, a session for the page.
    let filter = guichet_store::users::UserFilter { role: Some(Role::Agent), ..Default::default() };
    let agent = app.list_users(&op, &filter, 1, 0).await.map_err(|e| anyhow::anyhow!(e.to_string()))?.0;
    let agent = agent.into_iter().next().context("no agent in the database: load `guichet demo` first")?;
    let agent_token =
        app.create_token(agent.email.as_str(), "bench http").await.map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let session = app
        .open_session(&guichet_app::auth::Principal::from_user(agent))
        .await
        .map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let (_, tickets) = guichet_store::tickets::list_tickets(
        &mut app.db.conn().await?,
        &guichet_store::tickets::TicketFilter { scope: guichet_domain::actor::TicketScope::All, ..Default::default() },
        &[],
        1,
        0,
        true,
    )
    .await?;
    let tickets = tickets.unwrap_or(0).max(1);
    let prefix = app.settings.key_prefix.clone();
    let size_before = app.db.size_on_disk().await?;
    let (url, _) = config.database()?;
    app.db.close().await;
    let started = Instant::now();
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["--database-url", &url, "serve", "--bind", "127.0.0.1:0"])
        .env("GUICHET_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("cannot start the server")?;
    // Whatever happens to the load, the server does not outlive the bench.
    let mut child = Server(child);
    let stdout = child.0.stdout.take().context("no server output")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let base = loop {
        let Some(line) = lines.next() else { anyhow::bail!("the server stopped before listening") };
        if let Some(url) = line?.strip_prefix("Guichet is listening on ") {
            break url.trim_end_matches('/').to_owned();
        }
    };
    let startup = started.elapsed();
    std::thread::spawn(move || lines.for_each(drop));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = child.0.id();
    let idle = rss_kb(pid, "VmRSS:").unwrap_or(0);
    let mut rates = Vec::new();
    for clients in [1usize, 16] {
        let per_client = requests / clients;
        let start = Instant::now();
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let (base, token, uai) = (base.clone(), token.clone(), uai.clone());
                std::thread::spawn(move || -> Result<usize, String> {
                    let agent = ureq::AgentBuilder::new().build();
                    for i in 0..per_client {
                        let body = serde_json::json!({
                            "title": format!("Charge {clients}×{c}×{i} : connexion impossible"),
                            "description": "Les élèves n'arrivent plus à se connecter depuis ce matin.",
                            "establishment": uai,
                        });
                        agent
                            .post(&format!("{base}/api/v1/tickets"))
                            .set("Authorization", &format!("Bearer {token}"))
                            .send_json(body)
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(per_client)
                })
            })
            .collect();
        let mut done = 0;
        for h in handles {
            done +=
                h.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))?.map_err(|e| anyhow::anyhow!(e))?;
        }
        rates.push((clients, done, done as f64 / start.elapsed().as_secs_f64()));
    }
    // Reading tickets spread over the whole base, one client, as an agent opens them.
    let reads = requests.clamp(50, 1000);
    let read = |path: &'static str, auth: (&'static str, String)| {
        let (base, prefix) = (base.clone(), prefix.clone());
        std::thread::spawn(move || -> Result<Vec<Duration>, String> {
            let agent = ureq::AgentBuilder::new().build();
            let mut times = Vec::with_capacity(reads);
            for i in 0..reads {
                // A multiplicative walk over the ids: spread, repeatable.
                let id = (i as u64 * 2_654_435_761) % tickets as u64 + 1;
                let start = Instant::now();
                let response = agent
                    .get(&format!("{base}{path}{prefix}-{id}"))
                    .set(auth.0, &auth.1)
                    .call()
                    .map_err(|e| e.to_string())?;
                response.into_string().map_err(|e| e.to_string())?;
                times.push(start.elapsed());
            }
            times.sort();
            Ok(times)
        })
    };
    let api = read("/api/v1/tickets/", ("Authorization", format!("Bearer {agent_token}")))
        .join()
        .map_err(|_| anyhow::anyhow!("a client thread panicked"))?
        .map_err(|e| anyhow::anyhow!(e))?;
    let page = read("/tickets/", ("Cookie", format!("guichet_session={session}")))
        .join()
        .map_err(|_| anyhow::anyhow!("a client thread panicked"))?
        .map_err(|e| anyhow::anyhow!(e))?;
    let peak_before_storm = rss_kb(pid, "VmHWM:").unwrap_or(0);
    let storm = sign_in_storm(&base, &agent_token, &prefix, tickets)?;
    let peak = rss_kb(pid, "VmHWM:").unwrap_or(0);
    drop(child);
    println!("HTTP load on {}", if url.starts_with("sqlite") { "SQLite" } else { "PostgreSQL" });
    println!("  database on disk: {} MB, {tickets} tickets before the load", size_before / 1_000_000);
    println!("  start-up to listening: {:.2} s", startup.as_secs_f64());
    for (clients, done, rate) in rates {
        println!("  ticket creation, {clients:>2} client(s): {done} tickets, {rate:.0} tickets/s");
    }
    for (what, times) in [("ticket read (API, JSON)", &api), ("ticket page (HTML)", &page)] {
        println!(
            "  {what}: {} reads, p50 {} ms, p99 {} ms",
            times.len(),
            ms(percentile(times, 50.0)),
            ms(percentile(times, 99.0))
        );
    }
    let quiet = percentile(&api, 50.0);
    println!(
        "  sign-in storm: {} parallel wrong passwords, {} checked (401), {} throttled (429), {} busy (503); \
         ticket reads meanwhile: {} reads, p50 {} ms, p99 {} ms ({:.1}× the quiet p50)",
        storm.attempts,
        storm.checked,
        storm.throttled,
        storm.busy,
        storm.reads.len(),
        ms(percentile(&storm.reads, 50.0)),
        ms(percentile(&storm.reads, 99.0)),
        percentile(&storm.reads, 50.0).as_secs_f64() / quiet.as_secs_f64().max(1e-6)
    );
    println!(
        "  server memory: {} MB idle, {} MB peak ({} MB before the sign-in storm)",
        idle / 1024,
        peak / 1024,
        peak_before_storm / 1024
    );
    Ok(ExitCode::SUCCESS)
}

struct Storm {
    attempts: usize,
    checked: usize,
    throttled: usize,
    busy: usize,
    reads: Vec<Duration>,
}

/// 64 wrong passwords at once, each for another (unknown) account, as a
/// password-spraying attacker sends them, while one client reads tickets:
/// the reads must keep their pace (password checks run on a bounded
/// blocking pool) and the attempts beyond the limit must be refused.
fn sign_in_storm(base: &str, token: &str, prefix: &str, tickets: i64) -> anyhow::Result<Storm> {
    const ATTEMPTS: usize = 64;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (base, token, prefix, done) = (base.to_owned(), token.to_owned(), prefix.to_owned(), done.clone());
        std::thread::spawn(move || -> Result<Vec<Duration>, String> {
            let agent = ureq::AgentBuilder::new().build();
            let mut times = Vec::new();
            let mut i = 0u64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) || times.len() < 20 {
                let id = (i * 2_654_435_761) % tickets.max(1) as u64 + 1;
                i += 1;
                let start = Instant::now();
                let response = agent
                    .get(&format!("{base}/api/v1/tickets/{prefix}-{id}"))
                    .set("Authorization", &format!("Bearer {token}"))
                    .call()
                    .map_err(|e| e.to_string())?;
                response.into_string().map_err(|e| e.to_string())?;
                times.push(start.elapsed());
            }
            times.sort();
            Ok(times)
        })
    };
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(ATTEMPTS));
    let attempts: Vec<_> = (0..ATTEMPTS)
        .map(|i| {
            let (base, barrier) = (base.to_owned(), barrier.clone());
            std::thread::spawn(move || -> Result<u16, String> {
                let agent = ureq::AgentBuilder::new().redirects(0).build();
                let form = agent.get(&format!("{base}/login")).call().map_err(|e| e.to_string())?;
                let cookie = form
                    .all("set-cookie")
                    .into_iter()
                    .find(|c| c.starts_with("guichet_login_csrf="))
                    .and_then(|c| c.split(';').next())
                    .unwrap_or_default()
                    .to_owned();
                let html = form.into_string().map_err(|e| e.to_string())?;
                let csrf = html
                    .split("name=\"_csrf\" value=\"")
                    .skip(1)
                    .filter_map(|rest| rest.split('"').next())
                    .find(|v| !v.is_empty())
                    .unwrap_or_default()
                    .to_owned();
                barrier.wait();
                let email = format!("storm{i}@bench.invalid");
                let response = agent.post(&format!("{base}/login")).set("Cookie", &cookie).send_form(&[
                    ("_csrf", &csrf),
                    ("email", &email),
                    ("password", "not the password"),
                ]);
                Ok(match response {
                    Ok(r) => r.status(),
                    Err(ureq::Error::Status(code, _)) => code,
                    Err(e) => return Err(e.to_string()),
                })
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for a in attempts {
        statuses
            .push(a.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))?.map_err(|e| anyhow::anyhow!(e))?);
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let reads =
        reader.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))?.map_err(|e| anyhow::anyhow!(e))?;
    let count = |code: u16| statuses.iter().filter(|s| **s == code).count();
    Ok(Storm { attempts: ATTEMPTS, checked: count(401), throttled: count(429), busy: count(503), reads })
}
