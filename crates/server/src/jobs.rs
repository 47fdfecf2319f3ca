//! Background work of a running server: the service-level clocks that move
//! by themselves (a ticket becomes late without anyone touching it), the
//! mailboxes' pollers and the outbox sender.

use crate::config::Config;
use guichet_app::App;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the clocks that turned are looked at, and how many at a time.
const PERIOD: Duration = Duration::from_secs(60);
const BATCH: i64 = 500;

/// Starts the jobs; send `true` on the returned channel to stop them.
pub fn start(app: App, config: &Config) -> anyhow::Result<(watch::Sender<bool>, Vec<JoinHandle<()>>)> {
    let (stop, stopped) = watch::channel(false);
    let mut handles = vec![tokio::spawn(clocks(app.clone(), stopped.clone()))];
    if let Some(smtp) = &config.smtp {
        let sender = guichet_mail::smtp::Sender::new(smtp)?;
        let period = Duration::from_secs(config.mail.send_interval_seconds.max(1));
        handles.push(tokio::spawn(guichet_mail::smtp::run(app.clone(), sender, period, stopped.clone())));
    }
    for mailbox in &config.mailboxes {
        handles.push(tokio::spawn(guichet_mail::imap::run(app.clone(), mailbox.clone(), stopped.clone())));
    }
    Ok((stop, handles))
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
            match app.run_automations().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(tickets = n, "closed or resolved automatically"),
                Err(e) => tracing::warn!(error = %e, "automatic closure failed; retrying at the next tick"),
            }
            // The tickets whose clocks turned since the last tick, in batches.
            let tick = app.now();
            loop {
                match app.refresh_due_slas(tick, BATCH).await {
                    Ok(n) if n as i64 == BATCH && !*stopped.borrow() => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "service-level refresh failed; retrying at the next tick");
                        break;
                    }
                }
            }
        }
    }
}
