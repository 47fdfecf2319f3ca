//! The process's metrics recorder: everything counted through the `metrics`
//! facade (HTTP, tickets, mail, jobs, writes) is kept here and rendered in
//! Prometheus' text format for `/metrics`.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};

/// Seconds: from a fast page to a slow report or a stuck SMTP server.
const SECONDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Writes per SQLite commit: one alone, up to a full batch of 32.
const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder (once per process) and returns how to render it.
pub fn install() -> anyhow::Result<guichet_web::metrics::Render> {
    let handle = match HANDLE.get() {
        Some(handle) => handle.clone(),
        None => {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)?
                .set_buckets_for_metric(Matcher::Full("guichet_db_write_batch_size".into()), BATCH)?
                .install_recorder()?;
            describe();
            HANDLE.get_or_init(|| handle).clone()
        }
    };
    Ok(guichet_web::metrics::Render(Arc::new(move || handle.render())))
}

/// The `# HELP` line of each metric, for whoever reads a dashboard.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("guichet_http_requests_total", "HTTP requests answered, by method, route pattern and status");
    describe_histogram!("guichet_http_request_duration_seconds", Unit::Seconds, "Time to answer, by route pattern");
    describe_counter!("guichet_tickets_created_total", "Tickets filed, by channel");
    describe_counter!("guichet_tickets_resolved_total", "Tickets moved to a resolved status, by channel");
    describe_counter!("guichet_sla_breaches_total", "Tickets that became late on a service level");
    describe_counter!(
        "guichet_mail_received_total",
        "Incoming messages, by mailbox and outcome (failed: retried later)"
    );
    describe_counter!("guichet_mail_sent_total", "Notifications the SMTP server accepted");
    describe_counter!("guichet_mail_send_failures_total", "Failed sends, temporary (retried) or permanent");
    describe_gauge!("guichet_outbox_depth", "Notifications waiting to be sent");
    describe_gauge!("guichet_outbox_oldest_age_seconds", Unit::Seconds, "Age of the oldest waiting notification");
    describe_counter!("guichet_job_runs_total", "Background job runs, by job and outcome");
    describe_gauge!("guichet_job_lag_seconds", Unit::Seconds, "How late the last clock tick started");
    describe_histogram!("guichet_job_duration_seconds", Unit::Seconds, "Time a clock tick took");
    describe_gauge!("guichet_db_connections", "Database connections of this node: open, idle, max");
    describe_histogram!("guichet_db_write_batch_size", "Writes per SQLite commit (group commit)");
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_dashboard_reads_only_metrics_that_are_described() {
        let dashboard = include_str!("../../../docs/grafana-dashboard.json");
        let described = include_str!("metrics.rs");
        let mut names = 0;
        for (i, _) in dashboard.match_indices("guichet_") {
            let name: String = dashboard[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            let base = ["_bucket", "_count", "_sum"].iter().fold(name.as_str(), |n, s| n.strip_suffix(s).unwrap_or(n));
            assert!(described.contains(&format!("\"{base}\",")), "{name} is not a metric Guichet describes");
            names += 1;
        }
        assert!(names >= 12, "{names}");
    }
}
