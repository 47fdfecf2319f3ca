//! The one-shot commands: migrate, import, add users, create tokens, demo.

use crate::config::Config;
use anyhow::{bail, Context};
use guichet_app::directory::ImportRow;
use guichet_app::notify::{MailSettings, UnknownSender};
use guichet_app::rota::AssignmentRule;
use guichet_app::{App, AppError, Settings, SystemClock};
use guichet_domain::user::{NewUser, Role};
use guichet_store::Db;
use std::io::{BufRead, IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Opens and migrates the database, then builds the application.
pub async fn open_app(config: &Config) -> anyhow::Result<App> {
    let (url, create) = config.database()?;
    let options = guichet_store::DbOptions {
        create,
        write_queue: config.limits.write_queue,
        pool_size: config.database_pool_size,
        durability: config.durability.store(),
        ..guichet_store::DbOptions::default()
    };
    let db = match Db::connect_with(&url, &options).await {
        Ok(db) => db,
        Err(e) => {
            let e = anyhow::Error::new(e);
            let missing = url.starts_with("postgres") && format!("{e:#}").contains("does not exist");
            return Err(e.context(if missing {
                "cannot open the database (create it first: see the README, \"PostgreSQL in five minutes\")"
            } else {
                "cannot open the database"
            }));
        }
    };
    // A migration over a large base (an index on a million tickets) can take
    // minutes: say so rather than seem to hang.
    let progress = crate::progress::Progress::waiting("applying the database migrations");
    let migrated = db.migrate().await;
    progress.finish().await;
    migrated.context("cannot migrate the database")?;
    App::new(db, settings(config)?, Arc::new(SystemClock)).await.map_err(app_error)
}

/// The application's settings from the configuration.
pub fn settings(config: &Config) -> anyhow::Result<Settings> {
    let from = config.smtp.as_ref().map_or_else(|| MailSettings::default().from, |s| s.from.clone());
    let from_address =
        from.rsplit_once('<').map_or(from.as_str(), |(_, a)| a.trim_end_matches('>')).trim().to_lowercase();
    let domain = from_address.rsplit_once('@').map_or("guichet.localhost", |(_, d)| d).to_owned();
    let mut own_addresses = vec![from_address.clone()];
    for m in &config.mailboxes {
        let address = m.address.clone().or_else(|| m.credentials.user.clone().filter(|u| u.contains('@')));
        own_addresses.extend(address.map(|a| a.to_lowercase()));
    }
    let mail = MailSettings {
        notifications: config.smtp.is_some(),
        from,
        domain,
        portal_url: config.public_url(),
        unknown_sender: UnknownSender::parse(&config.mail.unknown_sender).map_err(app_error)?,
        notify_agents: config.mail.notify_agents,
        own_addresses,
        max_message_bytes: config.mail.max_message_bytes,
        automatic_per_hour: config.mail.automatic_per_hour,
        reopen_days: guichet_domain::sla::Policy::default().close_resolved_after_days,
        mailboxes: config.mailboxes.iter().map(|m| m.name.clone()).collect(),
        internal_addresses: config.mail.internal_address.iter().map(|a| a.trim().to_lowercase()).collect(),
        trusted_authserv_id: config.mail.trusted_authserv_id.clone(),
        max_import_attempts: config.mail.max_import_attempts,
    };
    Ok(Settings {
        key_prefix: config.key_prefix.clone(),
        attachment_max_bytes: config.attachment_max_bytes,
        assignment: AssignmentRule::parse(&config.auto_assign).map_err(app_error)?,
        mail,
        incident_rule: guichet_domain::incident::ProposalRule {
            tickets: config.incidents.propose_tickets.max(2),
            establishments: config.incidents.propose_establishments.max(1),
            window: chrono::Duration::minutes(config.incidents.propose_minutes.clamp(1, 24 * 60)),
            ..guichet_domain::incident::ProposalRule::default()
        },
        sign_in: guichet_app::auth::SignInSettings {
            local_roles: config.auth.password_roles()?,
            break_glass: config.auth.break_glass()?,
            ..config.sign_in.settings()
        },
        identity_rules: config.auth.rules()?,
        retention: config.retention.policy(),
        satisfaction: config.satisfaction.settings(),
        webhooks: config.webhooks.settings(),
        jira: config.jira.as_ref().map(|j| j.settings()).transpose()?,
        node: config.node_name(),
        saved_filters_per_user: config.limits.saved_filters_per_user,
        help_limits: guichet_app::help::HelpLimits {
            per_client_per_hour: config.help.per_ip_per_hour,
            per_establishment_per_hour: config.help.per_establishment_per_hour,
        },
        ..Settings::default()
    })
}

/// Validation errors read as one line; internal ones keep their cause.
pub fn app_error(e: AppError) -> anyhow::Error {
    match e {
        AppError::Validation(errors) => {
            anyhow::anyhow!(errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))
        }
        AppError::Internal(source) => anyhow::anyhow!(source).context("internal error"),
        other => anyhow::anyhow!(other.to_string()),
    }
}

pub async fn migrate(config: &Config) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    println!("schema version {}", app.db.schema_version().await?);
    Ok(ExitCode::SUCCESS)
}

/// Lists the migrations `migrate` would apply, without opening the
/// database for writing (nor creating it).
pub async fn migrate_dry_run(config: &Config) -> anyhow::Result<ExitCode> {
    let (url, _) = config.database()?;
    let missing = guichet_store::backup::sqlite_file(&url).ok().flatten().is_some_and(|f| !f.exists());
    let db = if missing {
        // Nothing to open: every migration of an in-memory database is pending.
        Db::connect("sqlite::memory:", true).await?
    } else {
        Db::connect(&url, false).await.context("cannot open the database")?
    };
    let pending = db.pending_migrations().await?;
    if pending.is_empty() {
        println!("nothing to apply: schema version {}", db.schema_version().await?);
    }
    for (version, description) in &pending {
        println!("would apply {version:04} {description}");
    }
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Reads a whole CSV and parses it (the parsing is shared with the web import).
fn read_csv(mut reader: impl Read) -> std::io::Result<Vec<ImportRow>> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes)?;
    Ok(guichet_app::directory::parse_establishments_csv(&bytes))
}

pub async fn import_establishments(config: &Config, file: &Path) -> anyhow::Result<ExitCode> {
    let rows = if file == Path::new("-") {
        read_csv(std::io::stdin().lock()).context("cannot read standard input")?
    } else {
        let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        read_csv(f).with_context(|| format!("cannot read {}", file.display()))?
    };
    let app = open_app(config).await?;
    let report = app.import_establishments(&app.operator(), rows).await.map_err(app_error)?;
    for error in &report.errors {
        eprintln!("{}:{}: {}", file.display(), error.line, error.message);
    }
    println!(
        "{} created, {} updated, {} unchanged, {} rejected",
        report.created,
        report.updated,
        report.unchanged,
        report.errors.len()
    );
    // Valid rows are kept; a non-zero status still tells scripts that some were not.
    Ok(if report.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

pub struct NewUserArgs {
    pub role: String,
    pub email: String,
    pub name: String,
    pub phones: Vec<String>,
    pub establishments: Vec<String>,
    pub language: Option<String>,
    pub password_stdin: bool,
}

pub async fn add_user(config: &Config, args: NewUserArgs) -> anyhow::Result<ExitCode> {
    let role = Role::parse(&args.role).map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let new =
        NewUser::parse(&args.email, &args.name, role, args.language.as_deref(), &args.phones, &args.establishments)
            .map_err(|e| app_error(e.into()))?;
    let password = read_password(args.password_stdin, "Password (empty for none): ")?;
    let app = open_app(config).await?;
    let user = app.insert_user(new, password.as_deref()).await.map_err(app_error)?;
    println!("user {} created ({}, id {})", user.email.as_str(), user.role, user.id);
    if password.is_none() {
        // Not an error: they may sign in through an identity provider.
        println!(
            "no password set: they sign in through an identity provider, or set one with `guichet user password {}`",
            user.email.as_str()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A password from the first line of standard input, or asked twice on a
/// terminal; `None` when none is given.
fn read_password(from_stdin: bool, prompt: &str) -> anyhow::Result<Option<String>> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        if password.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(Some(password));
    }
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let password = rpassword::prompt_password(prompt).context("cannot read the password")?;
    if password.is_empty() {
        return Ok(None);
    }
    let again = rpassword::prompt_password("Password again: ").context("cannot read the password")?;
    if again != password {
        bail!("the two passwords differ");
    }
    Ok(Some(password))
}

async fn user_by_email(app: &guichet_app::App, email: &str) -> anyhow::Result<guichet_domain::user::User> {
    let address = guichet_domain::user::EmailAddress::parse(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut conn = app.db.conn().await?;
    guichet_store::users::find_user_by_email(&mut conn, &address)
        .await?
        .with_context(|| format!("no user has the address {email} (see `guichet user list`)"))
}

/// `guichet user list`.
pub async fn list_users(config: &Config, role: Option<&str>, search: Option<String>) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    let role = role.map(Role::parse).transpose().map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let filter = guichet_store::users::UserFilter { role, search, ..Default::default() };
    let (users, total) = app.list_users(&app.operator(), &filter, 10_000, 0).await.map_err(app_error)?;
    let mut conn = app.db.conn().await?;
    println!("{:>6}  {:<40} {:<10} {:<30} {:<8} schools", "id", "email", "role", "name", "state");
    for u in &users {
        let mut uais = Vec::new();
        for e in &u.establishments {
            uais.push(guichet_store::establishments::find_establishment(&mut conn, *e).await?.uai.as_str().to_owned());
        }
        let state = if u.disabled { "disabled" } else { "active" };
        println!(
            "{:>6}  {:<40} {:<10} {:<30} {:<8} {}",
            u.id.0,
            u.email.as_str(),
            u.role.as_str(),
            u.name,
            state,
            uais.join(",")
        );
    }
    println!("{total} user(s)");
    Ok(ExitCode::SUCCESS)
}

/// `guichet user disable|enable`.
pub async fn set_disabled(config: &Config, email: &str, disabled: bool) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    let user = user_by_email(&app, email).await?;
    app.set_user_disabled(&app.operator(), user.id, disabled).await.map_err(app_error)?;
    println!(
        "{} {}",
        user.email.as_str(),
        if disabled { "disabled: their sessions and tokens stopped" } else { "enabled" }
    );
    Ok(ExitCode::SUCCESS)
}

/// `guichet user password`.
pub async fn set_password(config: &Config, email: &str, from_stdin: bool) -> anyhow::Result<ExitCode> {
    let Some(password) = read_password(from_stdin, "New password: ")? else {
        bail!("no password given: type it at the prompt, or pipe it with --password-stdin");
    };
    let app = open_app(config).await?;
    let user = user_by_email(&app, email).await?;
    app.reset_password(&app.operator(), user.id, &password).await.map_err(app_error)?;
    println!("password of {} set; their sessions ended", user.email.as_str());
    Ok(ExitCode::SUCCESS)
}

pub async fn create_token(config: &Config, email: &str, name: &str, days: Option<u32>) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    let token = app.create_token_for(email, name, days).await.map_err(app_error)?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

/// `guichet token list`: every token (or one user's), without secrets.
pub async fn list_tokens(config: &Config, email: Option<&str>) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    let op = app.operator();
    let user = match email {
        Some(email) => {
            let address = guichet_domain::user::EmailAddress::parse(email).map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut conn = app.db.conn().await?;
            let user = guichet_store::users::find_user_by_email(&mut conn, &address)
                .await?
                .with_context(|| format!("no user has the address {email}"))?;
            Some(user.id)
        }
        None => None,
    };
    let tokens = app.list_tokens(&op, user).await.map_err(app_error)?;
    let mut conn = app.db.conn().await?;
    let now = app.now();
    println!("{:>6}  {:<32} {:<28} {:<17} {:<17} state", "id", "user", "name", "last used", "expires");
    for t in tokens {
        let owner = guichet_store::users::find_user(&mut conn, t.user).await?;
        let state = match (t.revoked_at, t.expires_at <= now) {
            (Some(_), _) => "revoked",
            (None, true) => "expired",
            (None, false) => "active",
        };
        let day = |d: chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%d %H:%M").to_string();
        println!(
            "{:>6}  {:<32} {:<28} {:<17} {:<17} {state}",
            t.id.0,
            owner.email.as_str(),
            t.name,
            t.last_used_at.map_or_else(|| "never".to_owned(), day),
            day(t.expires_at)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn revoke_token(config: &Config, id: i64) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    app.revoke_token_by_operator(guichet_domain::ids::TokenId(id)).await.map_err(app_error)?;
    println!("token {id} revoked");
    Ok(ExitCode::SUCCESS)
}

pub async fn demo(config: &Config, options: guichet_app::demo::DemoOptions) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    let started = std::time::Instant::now();
    let progress = crate::progress::Progress::start("tickets", options.written.clone(), options.tickets);
    let report = app.load_demo(&options).await.map_err(app_error);
    progress.finish().await;
    let report = report?;
    let elapsed = started.elapsed();
    crate::serve::print_demo_logins(&report);
    println!(
        "{} tickets and {} comments generated in {:.1} s ({:.0} tickets/s)",
        report.tickets,
        report.comments,
        elapsed.as_secs_f64(),
        report.tickets as f64 / elapsed.as_secs_f64().max(0.001)
    );
    Ok(ExitCode::SUCCESS)
}

fn print_person(p: &guichet_app::privacy::PersonSummary) {
    match &p.account {
        Some(a) => {
            println!("account: #{} {} ({}){}", a.id, a.name, a.role, if a.anonymised { ", anonymised" } else { "" })
        }
        None => println!("account: none at this address"),
    }
    println!("tickets filed: {}", p.tickets_filed);
    println!("HELP requests: {}", p.help_requests);
    println!("other tickets written in: {}", p.tickets_commented);
    println!("mail received from Guichet: {}", p.mails_received);
    println!("mail sent to Guichet: {} (+{} quarantined)", p.mails_sent, p.mails_quarantined);
}

pub async fn privacy_export(config: &Config, email: &str, to: Option<std::path::PathBuf>) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    let op = app.operator();
    let zip = app.export_person(&op, email).await.map_err(app_error)?;
    let path = to.unwrap_or_else(|| format!("guichet-export-{}.zip", app.now().format("%Y%m%d-%H%M%S")).into());
    std::fs::write(&path, &zip).with_context(|| format!("cannot write {}", path.display()))?;
    println!("{} ({} bytes)", path.display(), zip.len());
    Ok(ExitCode::SUCCESS)
}

pub async fn privacy_erase(config: &Config, email: &str, yes: bool) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    let op = app.operator();
    if !yes {
        let preview = app.person_preview(&op, email).await.map_err(app_error)?;
        print_person(&preview);
        println!("kept for the statistics: the tickets (type, category, school, dates, levels, times)");
        println!("nothing changed: run again with --yes to anonymise this person");
        return Ok(ExitCode::SUCCESS);
    }
    let erased = app.erase_person(&op, email).await.map_err(app_error)?;
    print_person(&erased);
    println!("anonymised");
    Ok(ExitCode::SUCCESS)
}

pub async fn privacy_retention(config: &Config) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    // The command line acts as the operator, an administrator: no check to make.
    let forgotten = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = crate::progress::Progress::open("items forgotten", forgotten.clone());
    let run = app.run_retention_counting(None, &forgotten).await;
    progress.finish().await;
    let run = run.map_err(app_error)?;
    for (kind, n) in &run.counts {
        println!("{:<18} {n}", kind.as_str());
    }
    println!("forgotten: {} in {} batches (longest {} ms)", run.total(), run.batches, run.longest_batch.as_millis());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::read_csv;

    #[test]
    fn csv_rows_keep_their_line_numbers_and_skip_the_header() {
        let csv = "\u{feff}uai;name;town;parent_uai\r\n0750655E;Lycée A;Paris;\nbad;row\n\n0751710B;\"Lycée B; annexe\";Paris;0750655E\n";
        let rows = read_csv(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].0, 2);
        assert!(rows[1].1.is_err() && rows[1].0 == 3);
        assert_eq!(rows[2].0, 5);
        let (_, name, _, parent) = rows[2].1.as_ref().unwrap();
        assert_eq!((name.as_str(), parent.as_deref()), ("Lycée B; annexe", Some("0750655E")));
    }
}
