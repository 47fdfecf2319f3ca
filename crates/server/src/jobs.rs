//! Background work of a running server: the service-level clocks that move
//! by themselves (a ticket becomes late without anyone touching it), the
//! mailboxes' pollers and the outbox sender. Each runs under a supervisor
//! that starts it again, backing off, when it fails or panics: one bad
//! message or a bug in one task never stops the others for good.

use crate::config::Config;
use guichet_app::App;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the clocks that turned are looked at, and how many at a time.
const PERIOD: Duration = Duration::from_secs(60);
const BATCH: i64 = 500;

/// The longest wait before a failed task is started again.
const MAX_RESTART_DELAY: Duration = Duration::from_secs(300);

/// Starts the jobs; send `true` on the returned channel to stop them.
pub fn start(app: App, config: &Config) -> anyhow::Result<(watch::Sender<bool>, Vec<JoinHandle<()>>)> {
    let (stop, stopped) = watch::channel(false);
    let mut handles = vec![supervise(app.clone(), "clock".into(), stopped.clone(), clocks)];
    if let Some(smtp) = &config.smtp {
        let sender = guichet_mail::smtp::Sender::new(smtp)?;
        let period = Duration::from_secs(config.mail.send_interval_seconds.max(1));
        let run = move |app, stopped| guichet_mail::smtp::run(app, sender.clone(), period, stopped);
        handles.push(supervise(app.clone(), "smtp".into(), stopped.clone(), run));
    }
    for mailbox in &config.mailboxes {
        let name = format!("imap:{}", mailbox.name);
        let mailbox = mailbox.clone();
        let run = move |app, stopped| guichet_mail::imap::run(app, mailbox.clone(), stopped);
        handles.push(supervise(app.clone(), name, stopped.clone(), run));
    }
    Ok((stop, handles))
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

async fn clocks(app: App, mut stopped: watch::Receiver<bool>) {
    {
        let mut ticker = tokio::time::interval(PERIOD);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stopped.changed() => break,
            }
            // Follow settings changed on another node.
            if let Err(e) = app.reload_desk_config().await {
                tracing::warn!(error = %e, "cannot reload the desk's settings");
            }
            let mut failure = None;
            match app.run_automations().await {
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
                match app.refresh_due_slas(tick, BATCH).await {
                    Ok(n) if n as i64 == BATCH && !*stopped.borrow() => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "service-level refresh failed; retrying at the next tick");
                        failure = Some(e.to_string());
                        break;
                    }
                }
            }
            match failure {
                Some(e) => app.tasks.failed("clock", &e, app.now()),
                None => app.tasks.succeeded("clock", app.now()),
            }
        }
    }
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
}
