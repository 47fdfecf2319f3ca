//! The `guichet` binary: command line, configuration, wiring and the server's
//! life (start, graceful shutdown). Business rules live in the other crates.

mod backup;
mod bench;
mod commands;
mod config;
mod deploy;
mod doctor;
mod import;
mod jobs;
mod mail;
mod metrics;
mod progress;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// jemalloc, also behind `malloc` for SQLite: under glibc's allocator the
/// server kept 360 MB after an eight-client list load it no longer needed
/// (memory freed into per-thread arenas stays there); see docs/performance.md.
/// Its background thread (the `background_threads` feature) returns freed
/// pages to the system some seconds after a load ends, rather than at the
/// next allocation, which an idle server does not make. It does so after a
/// second unused rather than ten, in one stage rather than two
/// (`JEMALLOC_SYS_WITH_MALLOC_CONF` in `.cargo/config.toml`, built into
/// jemalloc: this crate forbids the unsafe export of `malloc_conf`).
/// Measured on SQLite, 50,000 tickets, `bench http --settle 20`: 78–79 MB
/// idle 20 s after the list load with jemalloc's defaults, 46–48 MB with
/// these; peak 121 → 114 MB; filings unchanged.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(name = "guichet", version, about = "Guichet: a service desk for school digital workspaces (ENT)")]
struct Cli {
    /// Configuration file (default: ./guichet.toml when present).
    #[arg(long, global = true, env = "GUICHET_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://… (default: SQLite in the data directory).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Data directory of the embedded database (default: ./guichet-data).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service (web interface and API).
    Serve {
        /// Address to listen on.
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
        /// Load the demo data set into an empty database and print the demo logins.
        #[arg(long)]
        demo: bool,
        /// This node's name when several serve one database (default: host name and process id).
        #[arg(long)]
        node: Option<String>,
    },
    /// Apply database migrations and print the schema version.
    Migrate {
        /// List the migrations that would run, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write a consistent copy of the live database (the server may keep running).
    ///
    /// SQLite: a checked copy of the database file, attachments included,
    /// `guichet-<UTC time>.db`. PostgreSQL: `pg_dump` in its custom format,
    /// `guichet-<UTC time>.dump`. docs/operations.md has the schedule and
    /// continuous replication (Litestream).
    Backup {
        /// The folder to write it in (default: `backups` in the data directory).
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        /// Then keep only this many backups in that folder, the newest.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        keep: Option<u32>,
    },
    /// Put a backup back: into an empty data directory (SQLite) or an empty database (PostgreSQL).
    ///
    /// Never overwrites a database: stop the service and move the old one
    /// away first. The restored database is migrated at the next start.
    Restore {
        /// The backup file (`guichet-….db` or `guichet-….dump`).
        file: PathBuf,
    },
    /// Manage establishments.
    Establishment {
        #[command(subcommand)]
        command: EstablishmentCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Personal data: a person's export and erasure, the retention pass (docs/privacy.md).
    Privacy {
        #[command(subcommand)]
        command: PrivacyCommand,
    },
    /// Generate deterministic, realistic demo data (also the benchmark data set).
    Demo {
        /// Number of establishments (schools).
        #[arg(long, default_value_t = 40)]
        establishments: usize,
        /// Number of tickets, spread over the last 90 days.
        #[arg(long, default_value_t = 600)]
        tickets: usize,
        /// Random seed: the same seed gives the same data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Measure the speed of the desk's queries on the configured database.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// The e-mail channel: import a message, fetch the mailboxes, send the outbox.
    ///
    /// Mail is configured in guichet.toml: `[smtp]` for sending (also from the
    /// environment: GUICHET_SMTP__HOST, __PORT, __TLS, __USER, __PASSWORD,
    /// __FROM), `[[mailboxes]]` for the IMAP mailboxes to read, `[mail]` for
    /// addresses and trust; see the README's "E-mail" section.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// Import another desk's tickets: Jira's CSV export or GLPI's (README, "Importing from Jira or GLPI").
    ///
    /// Each ticket keeps its key there as an alias (`key = ENT-123` finds it);
    /// running the same import again updates, never duplicates. Rows not
    /// imported are listed with their line and why; the exit status is 2 when
    /// there are some.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Check everything the service needs, one line each: the configuration, the
    /// database and its schema, the clock, free disk, each mailbox's sign-in, the
    /// SMTP server (nothing is sent), the public URL, Guichet's statements that
    /// never end (PostgreSQL). Exits 1 when one fails.
    Doctor {
        /// One of Guichet's statements running longer than this fails the
        /// `statements` check.
        #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
        statement_limit: u64,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// Jira's CSV export ("Export Excel CSV (all fields)").
    Jira {
        /// The CSV file.
        file: PathBuf,
        /// A TOML file mapping statuses, types, priorities, organizations and people.
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// The folder holding the attachments (`DIR/ISSUE-KEY/name` or `DIR/name`).
        #[arg(long)]
        attachments: Option<PathBuf>,
        /// Do everything but write: report what would be imported.
        #[arg(long)]
        dry_run: bool,
    },
    /// GLPI's ticket list exported as CSV, with its followups' list.
    Glpi {
        /// The tickets' CSV file.
        file: PathBuf,
        /// The followups' CSV file (ticket, date, writer, text, private).
        #[arg(long)]
        followups: Option<PathBuf>,
        /// A TOML file mapping statuses, types, priorities, entities and people.
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Do everything but write: report what would be imported.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum EstablishmentCommand {
    /// Import establishments from a CSV file `uai;name;town;parent_uai` (idempotent).
    Import {
        /// The CSV file (`-` for standard input).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user.
    Add {
        /// What the person does here: requester (a school's administrator), agent, technician or admin.
        #[arg(long, value_parser = ["requester", "agent", "technician", "admin"])]
        role: String,
        /// Their address: how they sign in and where mail goes.
        #[arg(long)]
        email: String,
        /// Their name as the desk and the schools see it.
        #[arg(long)]
        name: String,
        /// Phone number (repeat for several).
        #[arg(long = "phone")]
        phones: Vec<String>,
        /// UAI of an establishment of a requester (repeat for several).
        #[arg(long = "establishment")]
        establishments: Vec<String>,
        /// Preferred language: fr or en.
        #[arg(long)]
        language: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users: address, role, name, state, schools.
    List {
        /// Only this role.
        #[arg(long, value_parser = ["requester", "agent", "technician", "admin"])]
        role: Option<String>,
        /// Only names, addresses or phone numbers containing this.
        #[arg(long)]
        search: Option<String>,
    },
    /// Disable a user: their sessions and tokens stop working at once.
    Disable {
        /// The user's address.
        email: String,
    },
    /// Enable a disabled user again (an anonymised one cannot be).
    Enable {
        /// The user's address.
        email: String,
    },
    /// Set a user's password (asked twice on a terminal, or the first line of
    /// standard input with --password-stdin); their sessions end.
    Password {
        /// The user's address.
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token for a user and print it (once) on standard output.
    Create {
        /// The user's e-mail address.
        #[arg(long)]
        user: String,
        /// A name to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Days it lasts (default: sign_in.token_days, one year).
        #[arg(long)]
        days: Option<u32>,
    },
    /// List API tokens (never their secrets): everyone's, or one user's.
    List {
        /// Only this user's tokens (e-mail address).
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke an API token at once, by its id (see `token list`).
    Revoke {
        /// The token's id.
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum PrivacyCommand {
    /// Everything held about a person, as a ZIP of JSON, CSV, files and mail (the right of access).
    Export {
        /// The person's address: their account's, or the one they wrote from.
        #[arg(long)]
        email: String,
        /// Where to write the archive (default: guichet-export-<date>.zip).
        #[arg(long)]
        to: Option<std::path::PathBuf>,
    },
    /// Anonymise a person now (the right to erasure). Without --yes, only says what would change.
    Erase {
        /// The person's address.
        #[arg(long)]
        email: String,
        /// Do it: an erasure cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// Apply the retention rules now, instead of waiting for the server's clock; prints what was forgotten.
    Retention,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// p50/p99 of every saved filter (first page of 50) and of the dashboard.
    Filters {
        /// Runs per filter.
        #[arg(long, default_value_t = 50)]
        iterations: usize,
    },
    /// Ticket creation over HTTP with 1 and 16 clients, and the server's
    /// start-up time and memory: starts `guichet serve` on the configured database.
    Http {
        /// Tickets created per round.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Seconds between the end of the list load and the reading of the
        /// server's idle memory (the time it takes to give memory back).
        #[arg(long, default_value_t = 60)]
        settle: u64,
    },
    /// Ticket creation and reads through nginx in front of 1, 2, then 3
    /// nodes on the configured PostgreSQL database (needs nginx installed).
    Cluster {
        /// Tickets created, then read, per round.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// The largest number of nodes tried.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
    },
    /// p50/p99 of 20 ad-hoc queries (the query language, first page of 25 with its count), as an agent.
    Queries {
        /// Runs per query.
        #[arg(long, default_value_t = 20)]
        iterations: usize,
        /// Also print how the database runs each query (its plan, for the page and for the count).
        #[arg(long)]
        explain: bool,
    },
    /// p50/p99 of full-text searches (rare word, common word, phrase, prefix) as an agent and as a requester.
    Search {
        #[arg(long, default_value_t = 50)]
        iterations: usize,
    },
    /// A retention pass with `days` of closed tickets due (from the oldest):
    /// batches, their longest and p99 time, and the pace of ticket creation meanwhile.
    Retention {
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// p50/p99 of the reports over the last month and the last year (as an agent).
    Reports {
        #[arg(long, default_value_t = 10)]
        iterations: usize,
    },
    /// Messages per second imported from IMAP: puts `count` generated
    /// messages in the configured mailbox, then imports them.
    Mail {
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// The configured mailbox to fill and import (default: the first).
        #[arg(long)]
        mailbox: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum MailCommand {
    /// Import one RFC 5322 message read on standard input, as a mail server's
    /// pipe delivers it. Exit 0: accepted (filed, answered or quarantined);
    /// 75: temporary failure, deliver again later.
    Ingest {
        /// The mailbox to record it under.
        #[arg(long)]
        mailbox: Option<String>,
    },
    /// Import what waits in the configured mailboxes, once.
    Fetch {
        /// Only this mailbox.
        #[arg(long)]
        mailbox: Option<String>,
    },
    /// Send the notifications due now, once.
    Send,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, secrets masked.
    Check,
    /// Print an nginx site configuration spreading requests over several
    /// nodes (see docs/deployment.md).
    Nginx {
        /// A node's address, HOST:PORT (repeat for each node).
        #[arg(long = "node", required = true)]
        nodes: Vec<String>,
        /// Where nginx listens: a port or ADDRESS:PORT.
        #[arg(long, default_value = "80")]
        listen: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = config::Overrides {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        bind: match &cli.command {
            Command::Serve { bind, .. } => *bind,
            _ => None,
        },
        node: match &cli.command {
            Command::Serve { node, .. } => node.clone(),
            _ => None,
        },
    };
    let result = config::Config::load(cli.config.as_deref(), &overrides).and_then(|config| {
        init_tracing(&config.log, config.log_format);
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(run(cli.command, config))
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            // One line, with the chain of causes, each said once (a cause
            // often repeats its source's message in its own).
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, skipping a cause whose words the
/// line already holds.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn init_tracing(filter: &str, format: config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let lines = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        // One object per line, the span's fields (a request's id) included, for a collector.
        config::LogFormat::Json => lines.json().with_current_span(true).with_span_list(false).try_init(),
        // Colour codes only for a person at a terminal, not in a file or a journal.
        config::LogFormat::Text => lines.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init(),
    };
}

async fn run(command: Command, config: config::Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { demo, .. } => serve::serve(config, demo).await.map(|()| ExitCode::SUCCESS),
        Command::Migrate { dry_run: false } => commands::migrate(&config).await,
        Command::Migrate { dry_run: true } => commands::migrate_dry_run(&config).await,
        Command::Backup { to, keep } => backup::backup(&config, to.as_deref(), keep.map(|k| k as usize)).await,
        Command::Restore { file } => backup::restore(&config, &file).await,
        Command::Doctor { statement_limit } => {
            doctor::doctor(&config, std::time::Duration::from_secs(statement_limit)).await
        }
        Command::Import { command: ImportCommand::Jira { file, mapping, attachments, dry_run } } => {
            let source = guichet_domain::import::Source::Jira;
            let args = import::ImportArgs { source, file, followups: None, mapping, attachments, dry_run };
            import::import(&config, args).await
        }
        Command::Import { command: ImportCommand::Glpi { file, followups, mapping, dry_run } } => {
            let source = guichet_domain::import::Source::Glpi;
            let args = import::ImportArgs { source, file, followups, mapping, attachments: None, dry_run };
            import::import(&config, args).await
        }
        Command::Establishment { command: EstablishmentCommand::Import { file } } => {
            commands::import_establishments(&config, &file).await
        }
        Command::User { command: UserCommand::List { role, search } } => {
            commands::list_users(&config, role.as_deref(), search).await
        }
        Command::User { command: UserCommand::Disable { email } } => {
            commands::set_disabled(&config, &email, true).await
        }
        Command::User { command: UserCommand::Enable { email } } => {
            commands::set_disabled(&config, &email, false).await
        }
        Command::User { command: UserCommand::Password { email, password_stdin } } => {
            commands::set_password(&config, &email, password_stdin).await
        }
        Command::User {
            command: UserCommand::Add { role, email, name, phones, establishments, language, password_stdin },
        } => {
            let new = commands::NewUserArgs { role, email, name, phones, establishments, language, password_stdin };
            commands::add_user(&config, new).await
        }
        Command::Token { command: TokenCommand::Create { user, name, days } } => {
            commands::create_token(&config, &user, &name, days).await
        }
        Command::Token { command: TokenCommand::List { user } } => {
            commands::list_tokens(&config, user.as_deref()).await
        }
        Command::Token { command: TokenCommand::Revoke { id } } => commands::revoke_token(&config, id).await,
        Command::Privacy { command: PrivacyCommand::Export { email, to } } => {
            commands::privacy_export(&config, &email, to).await
        }
        Command::Privacy { command: PrivacyCommand::Erase { email, yes } } => {
            commands::privacy_erase(&config, &email, yes).await
        }
        Command::Privacy { command: PrivacyCommand::Retention } => commands::privacy_retention(&config).await,
        Command::Demo { establishments, tickets, seed } => {
            let options = guichet_app::demo::DemoOptions { establishments, tickets, seed, ..Default::default() };
            commands::demo(&config, options).await
        }
        Command::Bench { command: BenchCommand::Filters { iterations } } => {
            bench::filters(&config, iterations.max(1)).await
        }
        Command::Bench { command: BenchCommand::Http { requests, settle } } => {
            bench::http(&config, requests.max(16), std::time::Duration::from_secs(settle)).await
        }
        Command::Bench { command: BenchCommand::Cluster { requests, nodes } } => {
            bench::cluster(&config, requests.max(16), nodes.clamp(1, 8)).await
        }
        Command::Bench { command: BenchCommand::Queries { iterations, explain } } => {
            bench::queries(&config, iterations.max(1), explain).await
        }
        Command::Bench { command: BenchCommand::Search { iterations } } => {
            bench::search(&config, iterations.max(1)).await
        }
        Command::Bench { command: BenchCommand::Retention { days } } => bench::retention(&config, days.max(1)).await,
        Command::Bench { command: BenchCommand::Reports { iterations } } => {
            bench::reports(&config, iterations.max(1)).await
        }
        Command::Bench { command: BenchCommand::Mail { count, mailbox } } => {
            bench::mail(&config, count, mailbox.as_deref()).await
        }
        Command::Mail { command: MailCommand::Ingest { mailbox } } => {
            Ok(mail::ingest(&config, mailbox.as_deref()).await)
        }
        Command::Mail { command: MailCommand::Fetch { mailbox } } => mail::fetch(&config, mailbox.as_deref()).await,
        Command::Mail { command: MailCommand::Send } => mail::send(&config).await,
        Command::Config { command: ConfigCommand::Check } => {
            print!("{}", config.to_masked_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { command: ConfigCommand::Nginx { nodes, listen } } => {
            print!("{}", deploy::nginx_site(&nodes, &listen)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
