//! `guichet mail …`: the e-mail channel from the command line.

use crate::commands::open_app;
use crate::config::Config;
use anyhow::Context;
use guichet_app::mail::IngestOutcome;
use std::io::Read;
use std::process::ExitCode;

/// sysexits' EX_TEMPFAIL: a mail server keeps the message and delivers it again.
const TEMPORARY_FAILURE: u8 = 75;

/// Imports the message on standard input. Any failure that a retry could
/// cure exits 75 so that the mail server keeps the message.
pub async fn ingest(config: &Config, mailbox: Option<&str>) -> ExitCode {
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut raw) {
        eprintln!("error: cannot read the message on standard input: {e}");
        return ExitCode::from(TEMPORARY_FAILURE);
    }
    if raw.is_empty() {
        eprintln!("error: no message on standard input");
        return ExitCode::FAILURE;
    }
    let app = match open_app(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: {e:#} (temporary failure: deliver again later)");
            return ExitCode::from(TEMPORARY_FAILURE);
        }
    };
    match app.ingest_mail(&raw, mailbox).await {
        Ok(outcome) => {
            println!("{}", describe(&outcome));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e} (temporary failure: deliver again later)");
            ExitCode::from(TEMPORARY_FAILURE)
        }
    }
}

fn describe(outcome: &IngestOutcome) -> String {
    match outcome {
        IngestOutcome::Ticket { key, triage: false } => format!("filed as {key}"),
        IngestOutcome::Ticket { key, triage: true } => format!("filed as {key}, to be sorted by the desk"),
        IngestOutcome::Reply { key } => format!("added as a reply to {key}"),
        IngestOutcome::Note { key } => format!("added as an internal note to {key}"),
        IngestOutcome::Automatic { key } => format!("automatic reply noted in the history of {key}"),
        IngestOutcome::Refused => "unknown sender: answered, nothing filed".into(),
        IngestOutcome::Duplicate => "already imported: nothing to do".into(),
        IngestOutcome::Quarantined { reason } => format!("quarantined: {reason}"),
    }
}

fn mailboxes<'a>(config: &'a Config, name: Option<&str>) -> anyhow::Result<Vec<&'a guichet_mail::imap::MailboxConfig>> {
    let chosen: Vec<_> = config.mailboxes.iter().filter(|m| name.is_none_or(|n| m.name == n)).collect();
    match (name, chosen.is_empty()) {
        (Some(n), true) => anyhow::bail!("no mailbox named `{n}` in the configuration"),
        (None, true) => anyhow::bail!("no mailbox is configured: add a [[mailboxes]] section to guichet.toml"),
        _ => Ok(chosen),
    }
}

pub async fn fetch(config: &Config, name: Option<&str>) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    for mailbox in mailboxes(config, name)? {
        let report = guichet_mail::imap::poll_once(&app, mailbox)
            .await
            .with_context(|| format!("mailbox `{}`", mailbox.name))?;
        println!(
            "{}: {} imported, {} quarantined, {} already known",
            mailbox.name, report.imported, report.quarantined, report.duplicates
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn send(config: &Config) -> anyhow::Result<ExitCode> {
    let smtp = config.smtp.as_ref().context("no SMTP server is configured: add an [smtp] section to guichet.toml")?;
    let app = open_app(config).await?;
    let sender = guichet_mail::smtp::Sender::new(smtp)?;
    let sent = sender.send_due(&app).await?;
    println!("{sent} sent");
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn chosen_mailbox<'a>(
    config: &'a Config,
    name: Option<&str>,
) -> anyhow::Result<&'a guichet_mail::imap::MailboxConfig> {
    mailboxes(config, name)?.into_iter().next().context("no mailbox")
}
