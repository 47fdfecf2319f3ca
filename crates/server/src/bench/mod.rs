//! `guichet bench filters`: how fast the desk's saved filters answer on the
//! configured database (first page of 50, as the queue shows them). Prints
//! medians and 99th percentiles; run it on `guichet demo --tickets 1000000`.

use crate::commands::open_app;
use crate::config::Config;
use crate::progress::Progress;
use anyhow::Context;
use guichet_app::tickets::ListParams;
use guichet_domain::user::Role;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn backend_name(app: &guichet_app::App) -> &'static str {
    match app.db.backend() {
        guichet_store::Backend::Sqlite => "SQLite",
        guichet_store::Backend::Postgres => "PostgreSQL",
    }
}

/// A counter of runs done and its progress display, `total` runs in all.
fn runs(total: usize) -> (Arc<AtomicUsize>, Progress) {
    let done = Arc::new(AtomicUsize::new(0));
    (done.clone(), Progress::start("runs", done, total))
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
    let backend = backend_name(&app);
    let mut conn = app.db.conn().await?;
    let total = guichet_store::tickets::list_tickets(
        &mut conn,
        &guichet_store::tickets::TicketFilter { scope: guichet_domain::actor::TicketScope::All, ..Default::default() },
        &[],
        1,
        0,
        guichet_store::tickets::Counting::Exact,
    )
    .await?
    .1
    .unwrap_or_default()
    .count;
    drop(conn);
    let mut rows = Vec::new();
    let mut dashboard = Vec::with_capacity(iterations);
    let (done, progress) = runs(saved.len() * iterations + iterations.min(20));
    for r in &saved {
        let params = ListParams { q: Some(r.filter.query.clone()), per_page: Some(50), ..ListParams::default() };
        let mut times = Vec::with_capacity(iterations);
        let mut found = String::new();
        for _ in 0..iterations {
            let start = Instant::now();
            let page = app.list_tickets(&principal, &params).await.map_err(|e| anyhow::anyhow!(e.to_string()))?;
            times.push(start.elapsed());
            done.fetch_add(1, Ordering::Relaxed);
            found = found_label(&page);
        }
        times.sort();
        rows.push(format!(
            "{:<32} {:>8} {:>10} {:>10}",
            r.filter.name,
            found,
            ms(percentile(&times, 50.0)),
            ms(percentile(&times, 99.0))
        ));
    }
    for _ in 0..iterations.min(20) {
        let start = Instant::now();
        app.dashboard(&principal).await.map_err(|e| anyhow::anyhow!(e.to_string()))?;
        dashboard.push(start.elapsed());
        done.fetch_add(1, Ordering::Relaxed);
    }
    progress.finish().await;
    dashboard.sort();
    println!("{backend}, {total} tickets, {iterations} runs per filter (first page of 50, with the total count)");
    println!("{:<32} {:>8} {:>10} {:>10}", "filter", "found", "p50 ms", "p99 ms");
    rows.iter().for_each(|row| println!("{row}"));
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
    let backend = backend_name(&app);
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
    let backend = backend_name(&app);
    let app_err = |e: guichet_app::AppError| anyhow::anyhow!(e.to_string());
    const REPORTS: usize = 6;
    let periods = [("month", 30, "day"), ("year", 365, "month")];
    let (done, progress) = runs(periods.len() * REPORTS * iterations);
    let mut rows = Vec::new();
    for (period, days, granularity) in periods {
        let params = ReportParams {
            from: Some((today - chrono::Duration::days(days)).to_string()),
            to: Some(today.to_string()),
            granularity: Some(granularity.into()),
            ..ReportParams::default()
        };
        let scope = app.report_scope(&p, &params).await.map_err(app_err)?;
        let names: [&str; REPORTS] = [
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
                done.fetch_add(1, Ordering::Relaxed);
            }
            times.sort();
            let label = format!("{name}, last {period}");
            rows.push(format!("{label:<44} {:>9} {:>9}", ms(percentile(&times, 50.0)), ms(percentile(&times, 99.0))));
        }
    }
    progress.finish().await;
    println!("{backend}, reports as an agent, {iterations} runs each (ms)");
    println!("{:<44} {:>9} {:>9}", "report", "p50", "p99");
    rows.iter().for_each(|row| println!("{row}"));
    Ok(ExitCode::SUCCESS)
}

/// `guichet bench search`: the search box's answer time (first 20 hits,
/// ranked, with snippets) for a rare word, a common word, a phrase and a
/// prefix, as an agent (internal notes included), as a requester, and as a
/// requester of the school with the most tickets.
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
    // A school's search reads the school's documents: the one with the most
    // tickets is the slowest.
    let largest: Option<i64> = {
        let mut conn = app.db.conn().await?;
        let sql = "SELECT ue.user_id FROM user_establishments ue JOIN users u ON u.id = ue.user_id \
                   WHERE u.role = 'requester' AND NOT u.disabled AND ue.establishment_id = \
                   (SELECT establishment_id FROM tickets GROUP BY establishment_id ORDER BY COUNT(*) DESC LIMIT 1) \
                   ORDER BY ue.user_id LIMIT 1";
        guichet_store::on_conn!(conn, |c| sqlx::query_scalar(sql).fetch_optional(&mut *c).await)?
    };
    let largest = match largest {
        Some(id) => {
            let user =
                guichet_store::users::find_user(&mut app.db.conn().await?, guichet_domain::ids::UserId(id)).await?;
            guichet_app::auth::Principal::from_user(user)
        }
        None => requester.clone(),
    };
    let backend = backend_name(&app);
    let cases = [
        ("rare word", "winmail"),
        ("common word", "messagerie"),
        ("phrase", "\"page blanche\""),
        ("prefix", "navigat*"),
        ("accents folded", "evenement"),
    ];
    let people = [("agent", &agent), ("requester", &requester), ("largest school", &largest)];
    let (done, progress) = runs(people.len() * cases.len() * iterations);
    let mut rows = Vec::new();
    for (who, p) in people {
        for (name, q) in cases {
            let mut times = Vec::with_capacity(iterations);
            let mut hits = 0;
            for _ in 0..iterations {
                let start = Instant::now();
                hits = app.search(p, q, 20).await.map_err(|e| anyhow::anyhow!(e.to_string()))?.len();
                times.push(start.elapsed());
                done.fetch_add(1, Ordering::Relaxed);
            }
            times.sort();
            let label = format!("{name} {q} ({who})");
            rows.push(format!(
                "{label:<48} {hits:>6} {:>9} {:>9}",
                ms(percentile(&times, 50.0)),
                ms(percentile(&times, 99.0))
            ));
        }
    }
    progress.finish().await;
    println!("{backend}, full-text search, first 20 hits, {iterations} runs each (ms)");
    println!("{:<48} {:>6} {:>9} {:>9}", "search", "hits", "p50", "p99");
    rows.iter().for_each(|row| println!("{row}"));
    Ok(ExitCode::SUCCESS)
}

mod cluster;
mod http;

pub use cluster::cluster;
pub use http::http;

/// `guichet bench retention`: a retention pass over `days` of closed tickets
/// (counted from the oldest one still named), every kind due alike, while a
/// school files a ticket every 50 ms: how long each batch held the database,
/// and how long those tickets waited.
pub async fn retention(config: &Config, days: u32) -> anyhow::Result<ExitCode> {
    let base = open_app(config).await?;
    let oldest: Option<i64> = {
        let mut conn = base.db.conn().await?;
        let sql = "SELECT MIN(closed_at) FROM tickets WHERE closed_at IS NOT NULL AND anonymised_at IS NULL";
        guichet_store::on_conn!(conn, |c| sqlx::query_scalar(sql).fetch_one(&mut *c).await)?
    };
    let oldest = oldest.context("no closed ticket left to anonymise: load `guichet demo` first")?;
    let cutoff = guichet_store::db::from_micros(oldest) + chrono::Duration::days(i64::from(days));
    let keep = Some(base.now() - cutoff);
    let policy = guichet_domain::privacy::RetentionPolicy {
        help_identity: keep,
        attachments: keep,
        raw_mail: keep,
        sent_mail: keep,
        requesters: keep,
        disabled_accounts: keep,
        audit: keep,
    };
    let settings = guichet_app::Settings { retention: policy, ..(*base.settings).clone() };
    let app = guichet_app::App::new(base.db.clone(), settings, std::sync::Arc::new(guichet_app::SystemClock))
        .await
        .map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let op = app.operator();
    let filter = guichet_store::users::UserFilter { role: Some(Role::Requester), ..Default::default() };
    let school = app.list_users(&op, &filter, 1, 0).await.map_err(|e| anyhow::anyhow!(e.to_string()))?.0;
    let school = school.into_iter().next().context("no school administrator: load `guichet demo` first")?;
    let uai = {
        let mut conn = app.db.conn().await?;
        let id = *school.establishments.first().context("the school administrator has no school")?;
        guichet_store::establishments::find_establishment(&mut conn, id).await?.uai.as_str().to_owned()
    };
    let principal = guichet_app::auth::Principal::from_user(school);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let filer = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut waits = Vec::new();
            while !*stopped.borrow() {
                let started = Instant::now();
                let ticket = guichet_app::tickets::CreateTicket {
                    title: "Pendant la conservation".into(),
                    description: "Mesure".into(),
                    establishment: uai.clone(),
                    ..Default::default()
                };
                if app.create_ticket(&principal, ticket).await.is_ok() {
                    waits.push(started.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            waits
        })
    };
    let started = Instant::now();
    let forgotten = Arc::new(AtomicUsize::new(0));
    let progress = Progress::open("items forgotten", forgotten.clone());
    let run = app.run_retention_counting(None, &forgotten).await;
    progress.finish().await;
    let run = run.map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let total = started.elapsed();
    let _ = stop.send(true);
    let mut waits = filer.await?;
    waits.sort();
    let mut batches = run.batch_times.clone();
    batches.sort();
    let backend = backend_name(&app);
    println!("{backend}, retention pass over {days} days of closed tickets (every kind due alike)");
    for (kind, n) in &run.counts {
        println!("  {:<18} {n:>9}", kind.as_str());
    }
    println!("{:<40} {:>10}", "items forgotten", run.total());
    println!("{:<40} {:>10.1}", "pass (s)", total.as_secs_f64());
    println!("{:<40} {:>10}", "batches (transactions)", run.batches);
    println!("{:<40} {:>10}", "batch p50 (ms)", ms(percentile(&batches, 50.0)));
    println!("{:<40} {:>10}", "batch p99 (ms)", ms(percentile(&batches, 99.0)));
    println!("{:<40} {:>10}", "longest batch (ms)", ms(run.longest_batch));
    println!("{:<40} {:>10}", "tickets filed meanwhile", waits.len());
    println!("{:<40} {:>10}", "their creation p50 (ms)", ms(percentile(&waits, 50.0)));
    println!("{:<40} {:>10}", "their creation p99 (ms)", ms(percentile(&waits, 99.0)));
    println!("{:<40} {:>10}", "their creation max (ms)", ms(waits.last().copied().unwrap_or_default()));
    Ok(ExitCode::SUCCESS)
}

/// A list's count as the benches print it: `>10000` past the counting limit.
fn found_label(page: &guichet_app::tickets::TicketPage) -> String {
    if page.more {
        format!(">{}", page.total)
    } else {
        page.total.to_string()
    }
}

/// The ad-hoc queries `bench queries` runs, written before any tuning for
/// them: what a desk types every day, over every indexed field, each with
/// its ORDER BY. `{uai}` is a school of the base, `{agent}` an agent's address.
pub const QUERY_SHAPES: [&str; 20] = [
    "establishment = {uai} AND resolved IS EMPTY ORDER BY updated DESC",
    "establishment = {uai} AND status != resolved ORDER BY updated DESC",
    "resolved IS EMPTY AND priority = high AND type = anomalie ORDER BY updated DESC",
    "assignee IS EMPTY ORDER BY created DESC",
    "text ~ \"mot de passe\" ORDER BY updated DESC",
    "statut = nouveau ORDER BY created",
    "priority = critical ORDER BY created DESC",
    "category = messagerie AND resolved IS EMPTY ORDER BY updated DESC",
    "assignee = {agent} AND resolved IS EMPTY ORDER BY due",
    "assignee = {agent} ORDER BY updated DESC",
    "tier = technical AND resolved IS EMPTY ORDER BY created",
    "channel = email AND created > -7d ORDER BY created DESC",
    "type = evolution ORDER BY priority DESC, updated DESC",
    "sla = \"en retard\" ORDER BY due",
    "due < now() AND resolved IS EMPTY ORDER BY due",
    "resolved > -30d ORDER BY resolved DESC",
    "establishment = {uai} ORDER BY created DESC",
    "status IN (nouveau, \"en cours\") AND priority IN (high, critical) ORDER BY priority DESC, created",
    "created >= startOfWeek() AND tier = support ORDER BY updated DESC",
    "title ~ imprimante ORDER BY updated DESC",
];

/// `guichet bench queries`: the first page of 25 (with its count) of each
/// ad-hoc query shape, through the same path as `GET /api/v1/tickets?q=`, as an agent.
pub async fn queries(config: &Config, iterations: usize, explain: bool) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    let op = app.operator();
    let filter = guichet_store::users::UserFilter { role: Some(Role::Agent), ..Default::default() };
    let agents = app.list_users(&op, &filter, 1, 0).await.map_err(|e| anyhow::anyhow!(e.to_string()))?.0;
    let agent = agents.into_iter().next().context("no agent in the database: load `guichet demo` first")?;
    let address = agent.email.as_str().to_owned();
    let principal = guichet_app::auth::Principal::from_user(agent);
    // The school with the most tickets: the heaviest `establishment = X`.
    let uai: String = {
        let mut conn = app.db.conn().await?;
        let sql = "SELECT e.uai FROM establishments e JOIN tickets t ON t.establishment_id = e.id \
                   GROUP BY e.uai ORDER BY COUNT(*) DESC, e.uai LIMIT 1";
        guichet_store::on_conn!(conn, |c| sqlx::query_scalar(sql).fetch_optional(&mut *c).await)?
            .context("no ticket in the database: load `guichet demo` first")?
    };
    let backend = backend_name(&app);
    let (done, progress) = runs(QUERY_SHAPES.len() * iterations);
    let mut rows = Vec::new();
    let mut worst = Duration::ZERO;
    for shape in QUERY_SHAPES {
        let q = shape.replace("{uai}", &uai).replace("{agent}", &address);
        let params = ListParams { q: Some(q.clone()), per_page: Some(25), ..ListParams::default() };
        let mut times = Vec::with_capacity(iterations);
        let mut found = String::new();
        for _ in 0..iterations {
            let start = Instant::now();
            let page = app.list_tickets(&principal, &params).await.map_err(|e| anyhow::anyhow!("{q}: {e}"))?;
            times.push(start.elapsed());
            done.fetch_add(1, Ordering::Relaxed);
            found = found_label(&page);
        }
        times.sort();
        worst = worst.max(percentile(&times, 99.0));
        rows.push(format!(
            "{shape:<96} {found:>8} {:>9} {:>9}",
            ms(percentile(&times, 50.0)),
            ms(percentile(&times, 99.0))
        ));
        if explain {
            let (page, count) =
                app.explain_tickets(&principal, &params).await.map_err(|e| anyhow::anyhow!("{q}: {e}"))?;
            rows.extend(page.iter().map(|l| format!("    page:  {l}")));
            rows.extend(count.iter().map(|l| format!("    count: {l}")));
        }
    }
    progress.finish().await;
    println!("{backend}, ad-hoc queries as an agent, first page of 25 with its count, {iterations} runs each (ms); school {uai}");
    println!("{:<96} {:>8} {:>9} {:>9}", "query", "found", "p50", "p99");
    rows.iter().for_each(|row| println!("{row}"));
    println!("worst p99: {} ms", ms(worst));
    Ok(ExitCode::SUCCESS)
}
