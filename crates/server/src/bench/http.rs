//! `guichet bench http`: one server under HTTP load (ticket creation, reads,
//! a sign-in storm), and the load generators `bench cluster` shares.

use super::{ms, percentile};
use crate::commands::open_app;
use crate::config::Config;
use crate::progress::Progress;
use anyhow::Context;
use guichet_domain::user::Role;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The benchmarked server: asked to stop (SIGTERM, a graceful shutdown) when
/// dropped, on success or on the first error, then killed if it lingers.
pub(super) struct Server(std::process::Child);

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

/// Concurrent clients of the list load, as many as the peer comparison used.
const LIST_CLIENTS: usize = 8;

fn rss_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// Who the load acts as: requesters who file tickets in their schools, an
/// agent who reads them.
pub(super) struct Subjects {
    /// Each filing requester's token and school, taken in turn.
    pub filers: Vec<(String, String)>,
    /// The first requester's school, for the lists' shapes.
    pub uai: String,
    pub agent: guichet_domain::user::User,
    pub agent_token: String,
    /// Tickets in the base.
    pub tickets: i64,
    /// Numbers of tickets in the base, spread over it, for the reads.
    pub numbers: Vec<u64>,
    pub prefix: String,
}

/// Requesters whose filings the load spreads: a run files thousands of
/// tickets, and all of them at one school made it a school no desk has
/// (12,000 tickets after three runs) and skewed the lists measured after.
const FILERS: i64 = 16;

/// The first requesters and agent of the base, with fresh tokens.
pub(super) async fn subjects(app: &guichet_app::App) -> anyhow::Result<Subjects> {
    let op = app.operator();
    let first = |role, n| {
        let (filter, op) = (guichet_store::users::UserFilter { role: Some(role), ..Default::default() }, op.clone());
        async move { app.list_users(&op, &filter, n, 0).await.map_err(|e| anyhow::anyhow!(e.to_string())) }
    };
    let mut filers = Vec::new();
    for requester in first(Role::Requester, FILERS).await?.0 {
        let Some(id) = requester.establishments.first() else { continue };
        let uai =
            guichet_store::establishments::find_establishment(&mut app.db.conn().await?, *id).await?.uai.to_string();
        let token = app
            .create_token(requester.email.as_str(), "bench http")
            .await
            .map_err(|e| anyhow::anyhow!(e.to_string()))?;
        filers.push((token, uai));
    }
    let uai = match filers.first() {
        Some((_, uai)) => uai.clone(),
        None => anyhow::bail!("no requester with an establishment in the database: load `guichet demo` first"),
    };
    let agent = first(Role::Agent, 1).await?.0.into_iter().next();
    let agent = agent.context("no agent in the database: load `guichet demo` first")?;
    let agent_token =
        app.create_token(agent.email.as_str(), "bench http").await.map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let (_, tickets) = guichet_store::tickets::list_tickets(
        &mut app.db.conn().await?,
        &guichet_store::tickets::TicketFilter { scope: guichet_domain::actor::TicketScope::All, ..Default::default() },
        &[],
        1,
        0,
        guichet_store::tickets::Counting::Exact,
    )
    .await?;
    let tickets = tickets.map(|t| t.count);
    let numbers = guichet_store::tickets::numbers_spread(&mut app.db.conn().await?, READ_SPREAD).await?;
    anyhow::ensure!(!numbers.is_empty(), "no ticket in the database: load `guichet demo` first");
    Ok(Subjects {
        filers,
        uai,
        agent,
        agent_token,
        tickets: tickets.unwrap_or(0).max(1),
        numbers: numbers.into_iter().map(|n| n.0 as u64).collect(),
        prefix: app.settings.key_prefix.clone(),
    })
}

/// Starts `guichet serve` on `url` as a child (its memory is its own) and
/// waits for it to listen: the child, its base URL and its start-up time.
pub(super) fn start_server(url: &str, node: &str) -> anyhow::Result<(Server, String, Duration)> {
    use std::io::BufRead;
    let started = Instant::now();
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["--database-url", url, "serve", "--bind", "127.0.0.1:0", "--node", node])
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
    Ok((child, base, startup))
}

fn joined<T>(handle: std::thread::JoinHandle<Result<T, String>>) -> anyhow::Result<T> {
    handle.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))?.map_err(|e| anyhow::anyhow!(e))
}

/// Makes `requests` requests from `clients` threads, each thread with its own
/// HTTP agent (its own keep-alive connection) taking every `clients`-th index;
/// `request` makes the request of one index. Returns the sorted latencies and
/// the time the whole load took.
fn load<F>(
    clients: usize,
    requests: usize,
    done: &Arc<AtomicUsize>,
    request: F,
) -> anyhow::Result<(Vec<Duration>, Duration)>
where
    F: Fn(&ureq::Agent, usize) -> Result<(), String> + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let (request, counter) = (request.clone(), done.clone());
            std::thread::spawn(move || -> Result<Vec<Duration>, String> {
                let agent = ureq::AgentBuilder::new().build();
                let mut times = Vec::with_capacity(requests / clients + 1);
                for i in (c..requests).step_by(clients) {
                    let begun = Instant::now();
                    request(&agent, i)?;
                    times.push(begun.elapsed());
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Ok(times)
            })
        })
        .collect();
    let mut times = Vec::with_capacity(requests);
    for h in handles {
        times.extend(joined(h)?);
    }
    let elapsed = start.elapsed();
    times.sort();
    Ok((times, elapsed))
}

/// What the load's tickets are about, in turn: a wave on a single subject
/// is another benchmark (docs/performance.md, "A common word behind a wave").
const SUBJECTS: [(&str, &str); 6] = [
    ("connexion impossible", "Les élèves n'arrivent plus à se connecter depuis ce matin."),
    ("mot de passe oublié", "Un enseignant a oublié son mot de passe et n'a pas d'adresse de secours."),
    ("messagerie vide", "La boîte de réception est vide alors que les messages sont partis."),
    ("emploi du temps absent", "L'emploi du temps de la classe ne s'affiche plus."),
    ("cahier de textes", "Les devoirs saisis hier n'apparaissent pas dans le cahier de textes."),
    ("import annuaire", "Les nouveaux élèves de seconde ne sont pas dans l'annuaire."),
];

/// Files `total` tickets (rounded down to a multiple of `clients`) over the
/// API with `clients` concurrent clients; returns how many were filed and
/// the rate per second. Each request done adds one to `done`, for the
/// progress display.
pub(super) fn file_tickets(
    base: &str,
    s: &Subjects,
    clients: usize,
    total: usize,
    done: &Arc<AtomicUsize>,
) -> anyhow::Result<(usize, f64)> {
    let url = format!("{base}/api/v1/tickets");
    let filers: Vec<(String, String)> =
        s.filers.iter().map(|(token, uai)| (format!("Bearer {token}"), uai.clone())).collect();
    let (times, elapsed) = load(clients, total / clients * clients, done, move |agent, i| {
        let (token, uai) = &filers[i % filers.len()];
        let (subject, description) = SUBJECTS[i / filers.len() % SUBJECTS.len()];
        let body = serde_json::json!({
            "title": format!("Charge {clients}×{i} : {subject}"),
            "description": description,
            "establishment": uai,
        });
        agent.post(&url).set("Authorization", token).send_json(body).map_err(|e| e.to_string())?;
        Ok(())
    })?;
    Ok((times.len(), times.len() as f64 / elapsed.as_secs_f64()))
}

/// Ticket numbers the reads spread over: as many as the most reads a run makes.
const READ_SPREAD: usize = 1000;

/// The `i`-th read's ticket number, scattered over `numbers` (never empty).
fn spread(numbers: &[u64], i: u64) -> u64 {
    numbers[((i * 2_654_435_761) % numbers.len() as u64) as usize]
}

/// Reads `reads` tickets spread over the whole base (a multiplicative walk
/// over the numbers in use: spread, repeatable) with `clients` concurrent clients, as
/// agents open them; returns the sorted latencies and the time taken.
pub(super) fn read_tickets(
    base: &str,
    path: &'static str,
    auth: (&'static str, String),
    s: &Subjects,
    reads: usize,
    clients: usize,
    done: &Arc<AtomicUsize>,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let (url, prefix, numbers) = (format!("{base}{path}"), s.prefix.clone(), s.numbers.clone());
    load(clients, reads, done, move |agent, i| {
        let id = spread(&numbers, i as u64);
        let response =
            agent.get(&format!("{url}{prefix}-{id}")).set(auth.0, &auth.1).call().map_err(|e| e.to_string())?;
        response.into_string().map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Lists tickets with `clients` concurrent clients, `lists` requests in all:
/// every ad-hoc query shape of `bench queries` in turn, over the API as an
/// agent and as the queue page, the load that once left the server holding
/// hundreds of megabytes after it ended.
pub(super) fn list_tickets(
    base: &str,
    s: &Subjects,
    session: &str,
    lists: usize,
    clients: usize,
    done: &Arc<AtomicUsize>,
) -> anyhow::Result<Vec<Duration>> {
    let queries: Vec<String> = super::QUERY_SHAPES
        .iter()
        .map(|shape| shape.replace("{uai}", &s.uai).replace("{agent}", s.agent.email.as_str()))
        .collect();
    let (base, token, cookie) =
        (base.to_owned(), format!("Bearer {}", s.agent_token), format!("guichet_session={session}"));
    let (times, _) = load(clients, lists, done, move |agent, i| {
        let q = &queries[(i / 2) % queries.len()];
        let request = if i % 2 == 0 {
            agent.get(&format!("{base}/api/v1/tickets")).set("Authorization", &token)
        } else {
            agent.get(&format!("{base}/tickets")).set("Cookie", &cookie)
        };
        let response = request.query("q", q).call().map_err(|e| format!("{q}: {e}"))?;
        response.into_string().map_err(|e| e.to_string())?;
        Ok(())
    })?;
    Ok(times)
}

/// `guichet bench http`: the load generator. Starts `guichet serve` on the
/// configured database, then files `requests` tickets over the REST API
/// with 1 client and with 16 concurrent clients, reads tickets spread over
/// the base as an agent (API and HTML page), and prints tickets per second,
/// read latencies, start-up time and the server's resident memory idle and
/// at its peak, and again once an 8-client list load has ended.
/// `settle` is the pause before the memory "after the load" is read: by
/// default past the renewal of SQLite's connections (30 s) and the
/// allocator's gradual return (about 20 s).
pub async fn http(config: &Config, requests: usize, settle: Duration) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    let s = subjects(&app).await?;
    // Ticket reads are the desk's: an agent's token for the API, a session for the page.
    let session = app
        .open_session(&guichet_app::auth::Principal::from_user(s.agent.clone()))
        .await
        .map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let size_before = app.db.size_on_disk().await?;
    let (url, _) = config.database()?;
    app.db.close().await;
    let (child, base, startup) = start_server(&url, "bench")?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = child.0.id();
    let idle = rss_kb(pid, "VmRSS:").unwrap_or(0);
    let mut rates = Vec::new();
    let reads = requests.clamp(50, 1000);
    let done = Arc::new(AtomicUsize::new(0));
    let lists = (2 * reads).max(2 * super::QUERY_SHAPES.len() * LIST_CLIENTS);
    let progress = Progress::start("requests", done.clone(), 2 * requests + 2 * reads + lists);
    for clients in [1usize, 16] {
        let (filed, rate) = file_tickets(&base, &s, clients, requests, &done)?;
        rates.push((clients, filed, rate));
    }
    let api_auth = ("Authorization", format!("Bearer {}", s.agent_token));
    let (api, _) = read_tickets(&base, "/api/v1/tickets/", api_auth, &s, reads, 1, &done)?;
    let page_auth = ("Cookie", format!("guichet_session={session}"));
    let (page, _) = read_tickets(&base, "/tickets/", page_auth, &s, reads, 1, &done)?;
    let listed = list_tickets(&base, &s, &session, lists, LIST_CLIENTS, &done)?;
    progress.finish().await;
    // Memory a server keeps once the load is over is memory every other
    // process on the machine goes without: measured once idle connections
    // have closed and the allocator has had time to return what they held.
    tokio::time::sleep(settle).await;
    let after_load = rss_kb(pid, "VmRSS:").unwrap_or(0);
    let peak_before_storm = rss_kb(pid, "VmHWM:").unwrap_or(0);
    let storm = sign_in_storm(&base, &s.agent_token, &s.prefix, &s.numbers)?;
    let peak = rss_kb(pid, "VmHWM:").unwrap_or(0);
    drop(child);
    println!("HTTP load on {}", if url.starts_with("sqlite") { "SQLite" } else { "PostgreSQL" });
    println!("  database on disk: {} MB, {} tickets before the load", size_before / 1_000_000, s.tickets);
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
    println!(
        "  ad-hoc lists, {LIST_CLIENTS} clients (API and queue page, the {} shapes of `bench queries`): \
         {} lists, p50 {} ms, p99 {} ms",
        super::QUERY_SHAPES.len(),
        listed.len(),
        ms(percentile(&listed, 50.0)),
        ms(percentile(&listed, 99.0))
    );
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
    if let Some(note) = storm.note() {
        println!("    {note}");
    }
    println!(
        "  server memory: {} MB idle at start, {} MB peak ({} MB before the sign-in storm), \
         {} MB idle {} s after the list load",
        idle / 1024,
        peak / 1024,
        peak_before_storm / 1024,
        after_load / 1024,
        settle.as_secs()
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

impl Storm {
    /// Why no password was checked, when the bench runs again within the
    /// sign-in limit's window: the limit counts attempts per client address,
    /// and the earlier run's attempts came from the same one.
    fn note(&self) -> Option<&'static str> {
        (self.attempts > 0 && self.checked == 0 && self.throttled == self.attempts).then_some(
            "every attempt was refused before its check: this address is still over its sign-in limit from an \
             earlier run (see [sign_in] in the configuration); the reads' figures still hold",
        )
    }
}

/// 64 wrong passwords at once, each for another (unknown) account, as a
/// password-spraying attacker sends them, while one client reads tickets:
/// the reads must keep their pace (password checks run on a bounded
/// blocking pool) and the attempts beyond the limit must be refused.
fn sign_in_storm(base: &str, token: &str, prefix: &str, numbers: &[u64]) -> anyhow::Result<Storm> {
    const ATTEMPTS: usize = 64;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (base, token, prefix, done) = (base.to_owned(), token.to_owned(), prefix.to_owned(), done.clone());
        let numbers = numbers.to_vec();
        std::thread::spawn(move || -> Result<Vec<Duration>, String> {
            let agent = ureq::AgentBuilder::new().build();
            let mut times = Vec::new();
            let mut i = 0u64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) || times.len() < 20 {
                let id = spread(&numbers, i);
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

#[cfg(test)]
mod tests {
    use super::Storm;

    fn storm(checked: usize, throttled: usize) -> Storm {
        Storm { attempts: 64, checked, throttled, busy: 64 - checked - throttled, reads: Vec::new() }
    }

    #[test]
    fn a_storm_refused_whole_by_an_earlier_runs_limit_says_so() {
        assert!(storm(0, 64).note().is_some_and(|n| n.contains("earlier run")));
        assert_eq!(storm(50, 14).note(), None);
        assert_eq!(storm(0, 60).note(), None, "some busy: not only the limit");
    }
}
