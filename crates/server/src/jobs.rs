//! Background work of a running server: the service-level clocks that move
//! by themselves (a ticket becomes late without anyone touching it), the
//! mailboxes' pollers, the outbox sender, and following settings changed on
//! another node. Each runs under a supervisor that starts it again, backing
//! off, when it fails or panics: one bad message or a bug in one task never
//! stops the others for good.
//!
//! Several nodes may serve one PostgreSQL database. The clock and each
//! mailbox's poller run on one node at a time, the holder of their lease
//! (`clock`, `imap:<mailbox>`), renewed every third of its time and given
//! back when the node stops (the others hear of it and take it at once);
//! the sender runs on every node (it claims the rows it sends); settings are
//! followed everywhere.

use crate::config::Config;
use guichet_app::leases::Fence;
use guichet_app::App;
use secrecy::ExposeSecret;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How many clocks that turned are looked at in one transaction.
const BATCH: i64 = 500;
/// How often settings are read again when no notification says so.
const SETTINGS_PERIOD: Duration = Duration::from_secs(30);

/// The timing of the jobs, from `[jobs]`.
#[derive(Debug, Clone, Copy)]
pub struct JobTiming {
    /// Between two passes of the clock job.
    pub clock: Duration,
    /// How long a lease lasts unless renewed (renewed every third of it).
    pub lease: Duration,
}

/// How long after another node's lease lapses this node tries to take it.
const TAKEOVER_MARGIN: Duration = Duration::from_millis(50);

/// The longest wait before a failed task is started again.
const MAX_RESTART_DELAY: Duration = Duration::from_secs(300);

/// Starts the jobs; send `true` on the returned channel to stop them: the
/// leases this node holds are then given back at once.
pub fn start(app: App, config: &Config) -> anyhow::Result<(watch::Sender<bool>, Vec<JoinHandle<()>>)> {
    let (stop, stopped) = watch::channel(false);
    let timing = JobTiming {
        clock: Duration::from_secs(config.jobs.clock_seconds.max(1)),
        lease: Duration::from_secs(config.jobs.lease_seconds.max(3)),
    };
    let mut handles = Vec::new();
    let (released, lease_released) = watch::channel(0u64);
    let released = std::sync::Arc::new(released);
    let listen_url = config.database_listen_url.as_ref().map(|u| u.expose_secret().to_owned());
    let run = move |app, stopped| follow_database(app, stopped, released.clone(), listen_url.clone());
    handles.push(supervise(app.clone(), "notifications".into(), stopped.clone(), run));
    let keep = |name: String| keep_lease(app.clone(), name, timing.lease, stopped.clone(), lease_released.clone());
    let (clock_lease, keeper) = keep("clock".into());
    handles.push(keeper);
    let run = move |app, stopped| clocks(app, stopped, clock_lease.clone(), timing.clock);
    handles.push(supervise(app.clone(), "clock".into(), stopped.clone(), run));
    if let Some(smtp) = &config.smtp {
        let sender = guichet_mail::smtp::Sender::new(smtp)?;
        let period = Duration::from_secs(config.mail.send_interval_seconds.max(1));
        let run = move |app, stopped| guichet_mail::smtp::run(app, sender.clone(), period, stopped);
        handles.push(supervise(app.clone(), "smtp".into(), stopped.clone(), run));
    }
    let deliverer = guichet_web::webhooks::Deliverer::new(&app.settings.webhooks);
    let period = Duration::from_secs(config.webhooks.deliver_interval_seconds.max(1));
    let run = move |app, stopped| guichet_web::webhooks::run(app, deliverer.clone(), period, stopped);
    handles.push(supervise(app.clone(), "webhooks".into(), stopped.clone(), run));
    if let Some(jira) = &config.jira {
        let client = jira.client()?;
        let period = Duration::from_secs(jira.sync_interval_seconds.max(1));
        let run = move |app, stopped| guichet_web::jira::run(app, client.clone(), period, stopped);
        handles.push(supervise(app.clone(), "jira".into(), stopped.clone(), run));
    }
    for mailbox in &config.mailboxes {
        let name = format!("imap:{}", mailbox.name);
        let (lease, keeper) = keep(name.clone());
        handles.push(keeper);
        let mailbox = mailbox.clone();
        let run = move |app, stopped| poll_under_lease(app, mailbox.clone(), stopped, lease.clone());
        handles.push(supervise(app.clone(), name, stopped.clone(), run));
    }
    Ok((stop, handles))
}

/// Holds the lease `name` while it can: tries to take or renew it every
/// third of `ttl`, and says on the returned channel whether this node holds
/// it (with its term). Gives it back when `stop` turns true. Another node's
/// lease is tried again when it lapses or when `released` says a lease was
/// given back.
pub fn keep_lease(
    app: App,
    name: String,
    ttl: Duration,
    mut stop: watch::Receiver<bool>,
    mut released: watch::Receiver<u64>,
) -> (watch::Receiver<Option<Fence>>, JoinHandle<()>) {
    let (held, holds) = watch::channel(None::<Fence>);
    let handle = tokio::spawn(async move {
        let renew = ttl / 3;
        loop {
            let outcome = app.acquire_lease(&name, ttl).await;
            let now_held = match outcome {
                Ok(fence) => fence,
                Err(e) => {
                    // Unconfirmed is lost: another node may take it when it expires.
                    tracing::warn!(lease = %name, error = %e, "cannot renew a lease");
                    None
                }
            };
            let before = held.borrow().clone();
            match (&before, &now_held) {
                (None, Some(f)) => tracing::info!(lease = %name, term = f.term, "lease taken"),
                (Some(_), None) => tracing::warn!(lease = %name, "lease lost"),
                (Some(a), Some(b)) if a.term != b.term => {
                    tracing::info!(lease = %name, term = b.term, "lease taken again")
                }
                _ => {}
            }
            // Held: renew it well before it lapses. Another node's: try again
            // the moment it lapses, so that a node that died is replaced
            // within the lease's time.
            let wait = if now_held.is_some() {
                renew
            } else {
                match app.lease_remaining(&name).await {
                    Ok(Some(left)) => (left + TAKEOVER_MARGIN).min(renew),
                    _ => renew,
                }
            };
            let holding = now_held.is_some();
            let _ = held.send(now_held);
            let given_back = async {
                if holding || released.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = given_back => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
        let last = held.borrow().clone();
        let _ = held.send(None);
        if let Some(fence) = last {
            match app.release_lease(&fence).await {
                Ok(()) => tracing::info!(lease = %name, "lease given back"),
                Err(e) => tracing::warn!(lease = %name, error = %e, "cannot give a lease back; it will expire"),
            }
        }
    });
    (holds, handle)
}

/// Runs `task` until `stop` turns true, starting it again (after 1 s, then
/// doubling up to 5 minutes) whenever it ends or panics before that.
pub fn supervise<F, Fut>(app: App, name: String, stop: watch::Receiver<bool>, task: F) -> JoinHandle<()>
where
    F: Fn(App, watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        app.tasks.register(&name);
        let mut stop = stop;
        let mut delay = Duration::from_secs(1);
        loop {
            let started = Instant::now();
            let result = tokio::spawn(task(app.clone(), stop.clone())).await;
            if *stop.borrow() {
                break;
            }
            let why = match result {
                Ok(()) => "the task ended by itself".to_owned(),
                Err(e) if e.is_panic() => format!("panicked: {}", panic_text(e.into_panic().as_ref())),
                Err(e) => e.to_string(),
            };
            if started.elapsed() > MAX_RESTART_DELAY {
                delay = Duration::from_secs(1);
            }
            tracing::error!(task = %name, error = %why, restart_in = ?delay, "background task stopped; starting it again");
            app.tasks.restarted(&name, &why, app.now());
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop.changed() => break,
            }
            delay = (delay * 2).min(MAX_RESTART_DELAY);
        }
    })
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// Follows what other nodes say through the database: settings they
/// changed, read again at once on PostgreSQL (LISTEN) and every half minute
/// in any case (a notification lost while the connection was down); leases
/// they gave back, told to this node's lease keepers on `released`.
/// `listen_url` is a direct connection when the pool goes through a pooler.
async fn follow_database(
    app: App,
    mut stopped: watch::Receiver<bool>,
    released: std::sync::Arc<watch::Sender<u64>>,
    listen_url: Option<String>,
) {
    let channels = [guichet_store::settings::CHANGED_CHANNEL, guichet_store::leases::RELEASED_CHANNEL];
    let mut listener = match &app.db {
        guichet_store::Db::Postgres(pool) => match match &listen_url {
            Some(url) => sqlx::postgres::PgListener::connect(url).await,
            None => sqlx::postgres::PgListener::connect_with(pool).await,
        } {
            Ok(mut l) => match l.listen_all(channels).await {
                Ok(()) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for settings changes; reading them every 30 s");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for settings changes; reading them every 30 s");
                None
            }
        },
        guichet_store::Db::Sqlite { .. } => None,
    };
    // What changed while this node was starting, or while the listener
    // was being connected again after a failure, is read now.
    reload_settings(&app).await;
    loop {
        let notified = async {
            match listener.as_mut() {
                Some(l) => l.recv().await.map(|n| n.channel().to_owned()).map_err(|e| e.to_string()),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = notified => match result {
                Ok(channel) if channel == guichet_store::leases::RELEASED_CHANNEL => {
                    released.send_modify(|n| *n = n.wrapping_add(1));
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "database notifications interrupted"),
            },
            () = tokio::time::sleep(SETTINGS_PERIOD) => {}
            _ = stopped.changed() => break,
        }
        reload_settings(&app).await;
    }
}

async fn reload_settings(app: &App) {
    match app.reload_desk_config().await {
        Ok(()) => app.tasks.succeeded("notifications", app.now()),
        Err(e) => {
            app.tasks.failed("notifications", &e.to_string(), app.now());
            tracing::warn!(error = %e, "cannot read the desk's settings");
        }
    }
}

/// Polls a mailbox while this node holds its lease, and stops as soon as it
/// does not (another node polls it then).
async fn poll_under_lease(
    app: App,
    mailbox: guichet_mail::imap::MailboxConfig,
    mut stopped: watch::Receiver<bool>,
    mut lease: watch::Receiver<Option<Fence>>,
) {
    loop {
        // Wait for the lease.
        while lease.borrow().is_none() {
            tokio::select! {
                changed = lease.changed() => if changed.is_err() { return },
                _ = stopped.changed() => return,
            }
        }
        let (stop_polling, polling_stopped) = watch::channel(false);
        let poller = tokio::spawn(guichet_mail::imap::run(app.clone(), mailbox.clone(), polling_stopped));
        loop {
            tokio::select! {
                changed = lease.changed() => {
                    if changed.is_err() || lease.borrow().is_none() {
                        break;
                    }
                }
                _ = stopped.changed() => break,
            }
        }
        let _ = stop_polling.send(true);
        let _ = poller.await;
        if *stopped.borrow() {
            return;
        }
    }
}

/// Records how long a clock tick took, however it ends.
struct JobTimer(std::time::Instant);

impl Drop for JobTimer {
    fn drop(&mut self) {
        metrics::histogram!("guichet_job_duration_seconds", "job" => "clock").record(self.0.elapsed().as_secs_f64());
    }
}

async fn clocks(app: App, mut stopped: watch::Receiver<bool>, lease: watch::Receiver<Option<Fence>>, period: Duration) {
    let mut ticker = tokio::time::interval(period);
    let mut optimized: Option<std::time::Instant> = None;
    // The search's recency indexes being refreshed (PostgreSQL), daily.
    let mut refreshing: Option<tokio::task::JoinHandle<()>> = None;
    // A pass merging SQLite's full-text indexes, and whether its next step starts it.
    let mut merging: Option<bool> = None;
    loop {
        let scheduled = tokio::select! {
            at = ticker.tick() => at,
            _ = stopped.changed() => break,
        };
        // How late the tick starts: a node too busy to keep its clock shows here.
        metrics::gauge!("guichet_job_lag_seconds", "job" => "clock").set(scheduled.elapsed().as_secs_f64());
        let _timer = JobTimer(std::time::Instant::now());
        // Another node holds the clock: nothing to do here.
        let Some(fence) = lease.borrow().clone() else {
            app.tasks.succeeded("clock", app.now());
            continue;
        };
        let mut failure = None;
        match app.run_automations_under(Some(&fence)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(tickets = n, "closed or resolved automatically"),
            Err(e) => {
                tracing::warn!(error = %e, "automatic closure failed; retrying at the next tick");
                failure = Some(e.to_string());
            }
        }
        // The tickets whose clocks turned since the last tick, in batches.
        let tick = app.now();
        loop {
            match app.refresh_due_slas_under(tick, BATCH, Some(&fence)).await {
                Ok(n) if n as i64 == BATCH && !*stopped.borrow() => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "service-level refresh failed; retrying at the next tick");
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        // Personal data past its retention, in batches (docs/privacy.md).
        if let Err(e) = app.run_retention_under(Some(&fence)).await {
            tracing::warn!(error = %e, "retention pass failed; retrying at the next tick");
            failure = Some(e.to_string());
        }
        // The report's hourly counts, each hour's rows of differences made
        // one (PostgreSQL; migration 0041).
        if let Err(e) = fold_hour_counts(&app).await {
            tracing::warn!(error = %e, "cannot fold the hourly report counts; retrying at the next tick");
        }
        if let Err(e) = app.sweep_expired().await {
            tracing::warn!(error = %e, "cannot forget ended sessions and counters; retrying at the next tick");
        }
        // The planner's statistics, once a day (and at the first tick).
        if optimized.is_none_or(|at| at.elapsed() >= Duration::from_secs(24 * 3600)) {
            let started = std::time::Instant::now();
            match app.db.optimize().await {
                Ok(()) => tracing::info!(ms = started.elapsed().as_millis() as u64, "planner statistics refreshed"),
                Err(e) => tracing::warn!(error = %e, "cannot refresh the planner's statistics"),
            }
            // Apart from the tick: a build waits for every older transaction
            // of the database (a long `pg_dump`, say), and the clocks must
            // not wait with it. Stopped midway, it leaves an invalid index
            // that the next pass drops and builds again.
            if refreshing.as_ref().is_none_or(|task| task.is_finished()) {
                let app = app.clone();
                refreshing = Some(tokio::spawn(async move {
                    if let Err(e) = app.db.refresh_recency_indexes(guichet_store::search::recency::SPAN).await {
                        tracing::warn!(error = %e, "cannot refresh the search's recency indexes");
                    }
                }));
            }
            optimized = Some(std::time::Instant::now());
            merging = Some(true);
        }
        // The full-text indexes merged into one segment each (SQLite), a
        // bounded share of each tick until done: each step holds the
        // writer for tens of milliseconds, and writes go on between steps.
        if let Some(start) = merging {
            merging = merge_search(&app, start, &stopped).await;
        }
        match failure {
            Some(e) => app.tasks.failed("clock", &e, app.now()),
            None => app.tasks.succeeded("clock", app.now()),
        }
    }
}

async fn fold_hour_counts(app: &App) -> Result<(), guichet_store::StoreError> {
    let mut conn = app.db.conn().await?;
    let rows = guichet_store::reports::fold_hour_counts(&mut conn).await?;
    if rows > 0 {
        tracing::debug!(rows, "hourly report counts folded");
    }
    Ok(())
}

/// The longest a tick spends merging the full-text indexes.
const SEARCH_MERGE_BUDGET: Duration = Duration::from_secs(1);

/// Steps of a merge pass for at most [`SEARCH_MERGE_BUDGET`]; what is left
/// for the next tick (`Some(start)`), or `None` once the pass is done.
async fn merge_search(app: &App, mut start: bool, stopped: &watch::Receiver<bool>) -> Option<bool> {
    let began = std::time::Instant::now();
    let left = loop {
        match app.db.merge_search_step(start).await {
            Ok(true) => {
                tracing::info!(ms = began.elapsed().as_millis() as u64, "full-text indexes merged");
                break None;
            }
            Ok(false) => start = false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot merge the full-text indexes; going on at the next tick");
                break Some(start);
            }
        }
        if began.elapsed() >= SEARCH_MERGE_BUDGET || *stopped.borrow() {
            break Some(start);
        }
        tokio::task::yield_now().await;
    };
    // The steps' pages are of no use to the writes until the next tick.
    if let Err(e) = app.db.release_writer_cache().await {
        tracing::warn!(error = %e, "cannot give back the writer's cache");
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_task_that_panics_is_started_again_and_its_restart_is_reported() {
        let t = guichet_testkit::TestApp::new(guichet_testkit::Backend::Sqlite).await;
        let runs = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = watch::channel(false);
        let counter = runs.clone();
        let task = move |app: App, mut stopped: watch::Receiver<bool>| {
            let run = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                assert!(run > 0, "a poison message");
                app.tasks.succeeded("test", app.now());
                let _ = stopped.changed().await;
            }
        };
        let handle = supervise(t.app.clone(), "test".into(), stopped, task);
        for _ in 0..100 {
            if t.app.tasks.list().iter().any(|s| s.last_success_at.is_some()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let state = t.app.tasks.list().into_iter().find(|s| s.name == "test").unwrap();
        assert_eq!(state.restarts, 1);
        assert!(state.last_error.unwrap().contains("a poison message"));
        assert!(!state.failing, "running again");
        stop.send(true).unwrap();
        handle.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2, "stopped for good, not restarted");
    }

    #[tokio::test]
    async fn a_policy_changed_on_one_node_is_in_force_on_another_at_once_on_postgresql() {
        let a = guichet_testkit::TestApp::new(guichet_testkit::Backend::Postgres).await;
        let b = a.another_node("b").await;
        let (stop, stopped) = watch::channel(false);
        let released = std::sync::Arc::new(watch::channel(0).0);
        let run = move |app, stopped| follow_database(app, stopped, released.clone(), None);
        let handle = supervise(b.app.clone(), "notifications".into(), stopped, run);
        // Listening once the first reload is done.
        while !b.app.tasks.list().iter().any(|s| s.name == "notifications" && s.last_success_at.is_some()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut policy = a.app.sla_policy();
        policy.close_resolved_after_days = 2;
        a.app.set_sla_policy(&a.app.operator(), policy).await.unwrap();
        let changed = Instant::now();
        while b.app.sla_policy().close_resolved_after_days != 2 && changed.elapsed() < SETTINGS_PERIOD {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let took = changed.elapsed();
        println!("the other node followed the change after {took:?}");
        assert_eq!(b.app.sla_policy().close_resolved_after_days, 2);
        // The periodic reading would take 30 s: this was the notification.
        assert!(took < SETTINGS_PERIOD / 6, "{took:?}");
        stop.send(true).unwrap();
        handle.await.unwrap();
    }
}
