//! Starting and stopping the service.

use crate::commands::open_app;
use crate::config::Config;
use anyhow::Context;
use guichet_app::demo::{DemoOptions, DemoReport};
use guichet_app::App;

pub async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    if let Some(warning) = config.internal_address_warning() {
        tracing::warn!("{warning}");
    }
    // Held as long as the process lives.
    let _only_server = lock_sqlite_file(&config)?;
    let app = open_app(&config).await?;
    if demo {
        load_demo_if_empty(&app).await?;
    }
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| {
            format!("cannot listen on {} (is another server there? choose another address with --bind or `bind` in guichet.toml)", config.bind)
        })?;
    let address = listener.local_addr().context("no local address")?;
    // Installed before saying we listen: a SIGTERM from then on is a clean stop.
    let signals = shutdown_signal()?;
    tracing::info!(%address, "Guichet is listening");
    println!("Guichet is listening on http://{address}/");
    let db = app.db.clone();
    let (stop_jobs, jobs) = crate::jobs::start(app.clone(), &config)?;
    let mut web = config.web()?;
    let render = crate::metrics::install()?;
    web.metrics = Some(render.clone());
    let scraper = match config.metrics_bind {
        Some(bind) => {
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .with_context(|| format!("cannot listen on {bind} for the metrics (metrics_bind in guichet.toml)"))?;
            tracing::info!(address = %bind, "metrics served");
            let scrape = guichet_web::metrics::scrape_router(app.clone(), render);
            Some(tokio::spawn(async move { axum::serve(listener, scrape).await }))
        }
        None => None,
    };
    let router = guichet_web::router(app, web);
    // On SIGTERM the jobs stop first, giving their leases back at once, so
    // that another node takes over while this one finishes its requests.
    let shutdown = async move {
        signals.await;
        let _ = stop_jobs.send(true);
    };
    axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .context("the HTTP server failed")?;
    for job in jobs {
        let _ = job.await;
    }
    if let Some(scraper) = scraper {
        scraper.abort();
    }
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM; in-flight requests then finish. The
/// handlers are installed at once, not when the future is first polled.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down: finishing in-flight requests");
    })
}

async fn load_demo_if_empty(app: &App) -> anyhow::Result<()> {
    let mut conn = app.db.conn().await?;
    let (users, _) = guichet_store::users::list_users(&mut conn, &Default::default(), 1, 0).await?;
    let demo_admin = guichet_domain::user::EmailAddress::parse("admin@guichet.test")?;
    let has_demo = guichet_store::users::find_user_by_email(&mut conn, &demo_admin).await?.is_some();
    drop(conn);
    let report = if users.is_empty() {
        println!("Loading the demo data set…");
        app.load_demo(&DemoOptions::default()).await?
    } else if has_demo {
        // Already loaded: only recall the logins (the directory step is idempotent).
        app.load_demo(&DemoOptions { tickets: 0, ..DemoOptions::default() }).await?
    } else {
        println!("The database is not empty: the demo data set was not loaded.");
        return Ok(());
    };
    print_demo_logins(&report);
    Ok(())
}

pub fn print_demo_logins(report: &DemoReport) {
    println!(
        "Demo data: {} establishments, {} users, {} new tickets.",
        report.establishments, report.users, report.tickets
    );
    println!("Demo logins (password for all: {}):", guichet_app::demo::DEMO_PASSWORD);
    for login in &report.logins {
        println!("  {:<10} {:<36} API token: {}", login.role.as_str(), login.email, login.token);
    }
}

/// Makes sure no other `guichet serve` runs on the same SQLite file: two
/// processes would each think they were the only writer (group commit, one
/// clock, one poller). Several nodes need PostgreSQL.
fn lock_sqlite_file(config: &Config) -> anyhow::Result<Option<std::fs::File>> {
    let (url, _) = config.database()?;
    let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else { return Ok(None) };
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return Ok(None);
    }
    let lock_path = format!("{path}.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {lock_path}"))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another `guichet serve` already runs on {path}: stop it first (several nodes need PostgreSQL: see docs/deployment.md)"
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {lock_path}")),
    }
}
