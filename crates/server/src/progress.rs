//! Progress of long commands (`demo`, benchmarks): a bar with its rate and
//! time left for a person at a terminal, a plain line every few seconds for
//! a log. The work counts into an atomic counter; this reads it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shows `done` out of `total` until dropped.
pub struct Progress {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(what: &'static str, done: Arc<AtomicUsize>, total: usize) -> Progress {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let task = tokio::spawn(async move {
            let bar = terminal.then(|| {
                let bar = indicatif::ProgressBar::new(total as u64);
                let style =
                    indicatif::ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} ({per_sec}, {eta} left)")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
                bar.set_style(style);
                bar.set_message(what);
                bar
            });
            let started = Instant::now();
            let mut last_line = Instant::now();
            loop {
                let n = done.load(Ordering::Relaxed);
                match &bar {
                    Some(bar) => bar.set_position(n as u64),
                    None if last_line.elapsed() >= Duration::from_secs(5) => {
                        last_line = Instant::now();
                        let rate = n as f64 / started.elapsed().as_secs_f64().max(0.001);
                        let left = (total.saturating_sub(n)) as f64 / rate.max(0.001);
                        eprintln!("{what}: {n}/{total} ({rate:.0}/s, about {left:.0} s left)");
                    }
                    None => {}
                }
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
        });
        Progress { stop: Some(stop), task: Some(task) }
    }

    /// Stops showing progress and waits for the display to be cleared.
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
