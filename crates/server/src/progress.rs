//! Progress of long commands (`demo`, benchmarks, the retention pass,
//! migrations): a bar with its rate and time left for a person at a
//! terminal, a plain line every few seconds for a log. The work counts into
//! an atomic counter; this reads it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much work there is, as far as the command knows.
#[derive(Clone, Copy)]
enum Extent {
    /// `total` items: a bar, a rate and the time left.
    Counted(usize),
    /// An unknown number of items: the count so far and its rate.
    Open,
    /// One step that cannot be counted (a migration): only the time it has
    /// taken, and nothing at all when it ends quickly.
    Waiting,
}

/// Lines for a log come this often; a terminal's bar is redrawn more often.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// Shows the progress of one piece of work until finished or dropped.
pub struct Progress {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// `done` out of `total` items.
    pub fn start(what: &'static str, done: Arc<AtomicUsize>, total: usize) -> Progress {
        Progress::spawn(what, done, Extent::Counted(total))
    }

    /// Items counted as they are done, their number unknown beforehand.
    pub fn open(what: &'static str, done: Arc<AtomicUsize>) -> Progress {
        Progress::spawn(what, done, Extent::Open)
    }

    /// A step that says nothing unless it lasts more than a few seconds.
    pub fn waiting(what: &'static str) -> Progress {
        Progress::spawn(what, Arc::default(), Extent::Waiting)
    }

    fn spawn(what: &'static str, done: Arc<AtomicUsize>, extent: Extent) -> Progress {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut bar: Option<indicatif::ProgressBar> = None;
            let mut last_line = Instant::now();
            loop {
                let n = done.load(Ordering::Relaxed);
                let shown = !matches!(extent, Extent::Waiting) || started.elapsed() >= LINE_EVERY;
                if shown && terminal {
                    bar.get_or_insert_with(|| terminal_bar(what, extent)).set_position(n as u64);
                } else if shown && last_line.elapsed() >= LINE_EVERY {
                    last_line = Instant::now();
                    eprintln!("{}", plain_line(what, extent, n, started.elapsed()));
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

impl Drop for Progress {
    /// A command that fails half-way does not leave a bar drawing over its error.
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn terminal_bar(what: &'static str, extent: Extent) -> indicatif::ProgressBar {
    let (bar, template) = match extent {
        Extent::Counted(total) => {
            (indicatif::ProgressBar::new(total as u64), "{msg} {bar:30} {pos}/{len} ({per_sec}, {eta} left)")
        }
        Extent::Open => (indicatif::ProgressBar::new_spinner(), "{spinner} {msg}: {pos} ({per_sec}, {elapsed})"),
        Extent::Waiting => (indicatif::ProgressBar::new_spinner(), "{spinner} {msg} ({elapsed})"),
    };
    // The templates are constants: the fallback is for the impossible case.
    let style =
        indicatif::ProgressStyle::with_template(template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The line a log gets every few seconds.
fn plain_line(what: &str, extent: Extent, n: usize, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64().max(0.001);
    let rate = n as f64 / seconds;
    match extent {
        // Nothing done yet (a PostgreSQL demo prepares its first batch for
        // some seconds): no rate to guess the time left from.
        Extent::Counted(total) if n == 0 => format!("{what}: 0/{total} (starting, {seconds:.0} s)"),
        Extent::Counted(total) => {
            let left = total.saturating_sub(n) as f64 / rate.max(0.001);
            format!("{what}: {n}/{total} ({rate:.0}/s, about {left:.0} s left)")
        }
        Extent::Open => format!("{what}: {n} so far ({rate:.0}/s, {seconds:.0} s)"),
        Extent::Waiting => format!("{what}: still running ({seconds:.0} s)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_line_gives_the_rate_and_the_time_left() {
        let line = plain_line("tickets", Extent::Counted(1000), 250, Duration::from_secs(5));
        assert_eq!(line, "tickets: 250/1000 (50/s, about 15 s left)");
    }

    #[test]
    fn a_counted_line_with_nothing_done_yet_guesses_no_time_left() {
        let line = plain_line("tickets", Extent::Counted(1000), 0, Duration::from_secs(5));
        assert_eq!(line, "tickets: 0/1000 (starting, 5 s)");
    }

    #[test]
    fn an_open_line_gives_the_count_so_far_and_its_rate() {
        let line = plain_line("items forgotten", Extent::Open, 600, Duration::from_secs(10));
        assert_eq!(line, "items forgotten: 600 so far (60/s, 10 s)");
    }

    #[test]
    fn a_waiting_line_gives_only_the_time_taken() {
        let line = plain_line("migrations", Extent::Waiting, 0, Duration::from_secs(12));
        assert_eq!(line, "migrations: still running (12 s)");
    }
}
