//! The health of this process's background tasks (the service-level clock,
//! each mailbox's poller, the outbox sender): each reports its successes and
//! failures here, its supervisor its restarts; the readiness probe, the API
//! and the mail page read it. In memory on purpose: it describes this
//! process, and another node has its own.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// One task as last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TaskState {
    /// `clock`, `smtp`, `imap:<mailbox>`.
    pub name: String,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Times the task was started again after it failed or panicked.
    pub restarts: u32,
    /// The last report was a failure.
    pub failing: bool,
}

#[derive(Debug, Default)]
pub struct TaskBoard {
    tasks: Mutex<BTreeMap<String, TaskState>>,
}

impl TaskBoard {
    fn update(&self, name: &str, change: impl FnOnce(&mut TaskState)) {
        let mut tasks = match self.tasks.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        let state = tasks.entry(name.to_owned()).or_insert_with(|| TaskState {
            name: name.to_owned(),
            last_success_at: None,
            last_error: None,
            last_error_at: None,
            restarts: 0,
            failing: false,
        });
        change(state);
    }

    /// A task that exists but has not reported yet.
    pub fn register(&self, name: &str) {
        self.update(name, |_| {});
    }

    pub fn succeeded(&self, name: &str, now: DateTime<Utc>) {
        metrics::counter!("guichet_job_runs_total", "job" => name.to_owned(), "outcome" => "ok").increment(1);
        self.update(name, |s| {
            s.last_success_at = Some(now);
            s.failing = false;
        });
    }

    pub fn failed(&self, name: &str, error: &str, now: DateTime<Utc>) {
        metrics::counter!("guichet_job_runs_total", "job" => name.to_owned(), "outcome" => "failed").increment(1);
        self.update(name, |s| {
            s.last_error = Some(error.chars().take(500).collect());
            s.last_error_at = Some(now);
            s.failing = true;
        });
    }

    /// The supervisor started the task again after `error` ended it.
    pub fn restarted(&self, name: &str, error: &str, now: DateTime<Utc>) {
        self.failed(name, error, now);
        self.update(name, |s| s.restarts = s.restarts.saturating_add(1));
    }

    pub fn list(&self) -> Vec<TaskState> {
        match self.tasks.lock() {
            Ok(t) => t.values().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_reports_failures_restarts_and_recovery() {
        let board = TaskBoard::default();
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        board.register("smtp");
        board.failed("smtp", "connection refused", t0);
        board.restarted("smtp", "panicked: boom", t0);
        let state = &board.list()[0];
        assert!(state.failing);
        assert_eq!((state.restarts, state.last_error.as_deref()), (1, Some("panicked: boom")));
        board.succeeded("smtp", t0);
        let state = &board.list()[0];
        assert!(!state.failing);
        assert_eq!(state.last_success_at, Some(t0));
        assert_eq!(state.restarts, 1, "restarts are counted for good");
    }
}
