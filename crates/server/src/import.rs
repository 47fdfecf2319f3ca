//! `guichet import jira|glpi`: reads another desk's CSV export and its
//! mapping file, and reports every row not imported and why.

use crate::commands::{app_error, open_app};
use crate::config::Config;
use anyhow::Context;
use figment::providers::{Format, Toml};
use guichet_domain::import::{Mapping, Table};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What to import, from where.
pub struct ImportArgs {
    pub source: guichet_domain::import::Source,
    pub file: PathBuf,
    pub followups: Option<PathBuf>,
    pub mapping: Option<PathBuf>,
    pub attachments: Option<PathBuf>,
    pub dry_run: bool,
}

/// Reads a CSV export: UTF-8 (a byte-order mark is dropped), `;` or `,`
/// as the header line says (GLPI writes `;`, Jira `,`).
pub fn read_table(path: &Path) -> anyhow::Result<Table> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot open {}", path.display()))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        anyhow::anyhow!("{}: not UTF-8 text (byte {}); export it as UTF-8", path.display(), e.valid_up_to())
    })?;
    let text = text.trim_start_matches('\u{feff}');
    let header = text.lines().next().unwrap_or_default();
    let delimiter = if header.matches(';').count() > header.matches(',').count() { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .with_context(|| format!("{}: cannot read the header line", path.display()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("{}: cannot read the CSV", path.display()))?;
        let line = record.position().map_or(0, |p| usize::try_from(p.line()).unwrap_or(0));
        rows.push((line, record.iter().map(str::to_owned).collect()));
    }
    Ok(Table { headers, rows })
}

fn read_mapping(path: Option<&Path>) -> anyhow::Result<Mapping> {
    let Some(path) = path else { return Ok(Mapping::default()) };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot open {}", path.display()))?;
    figment::Figment::from(Toml::string(&text)).extract().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Finds an attachment in the export's folder: `DIR/KEY/name` (Jira's
/// attachments per issue) or `DIR/name`; never outside `DIR`.
fn attachment(dir: &Path, alias: &str, name: &str) -> Option<Vec<u8>> {
    let safe = |part: &str| !part.is_empty() && !part.contains(['/', '\\']) && part != "." && part != "..";
    if !safe(name) || !safe(alias) {
        return None;
    }
    [dir.join(alias).join(name), dir.join(name)].into_iter().find_map(|p| std::fs::read(p).ok())
}

pub async fn import(config: &Config, args: ImportArgs) -> anyhow::Result<ExitCode> {
    use guichet_domain::import::{read_glpi, read_jira, Source};
    let mapping = read_mapping(args.mapping.as_deref())?;
    let table = read_table(&args.file)?;
    let (tickets, errors) = match args.source {
        Source::Jira => read_jira(&table, &mapping),
        Source::Glpi => {
            let followups = args.followups.as_deref().map(read_table).transpose()?;
            read_glpi(&table, followups.as_ref(), &mapping)
        }
    };
    let app = open_app(config).await?;
    let dir = args.attachments.clone();
    let files = move |alias: &str, name: &str| dir.as_deref().and_then(|d| attachment(d, alias, name));
    let report = app.import_tickets(tickets, errors, &files, args.dry_run).await.map_err(app_error)?;
    let file = args.file.display();
    for e in &report.errors {
        eprintln!(
            "{file}:{}: {}not imported: {}",
            e.line,
            e.alias.as_deref().map(|a| format!("{a}: ")).unwrap_or_default(),
            e.message
        );
    }
    for w in &report.warnings {
        eprintln!(
            "{file}:{}: {}{}",
            w.line,
            w.alias.as_deref().map(|a| format!("{a}: ")).unwrap_or_default(),
            w.message
        );
    }
    println!(
        "{}{} created, {} updated, {} unchanged, {} not imported; {} comments, {} attachments, {} accounts added",
        if args.dry_run { "dry run (nothing written): " } else { "" },
        report.created,
        report.updated,
        report.unchanged,
        report.errors.len(),
        report.comments,
        report.attachments,
        report.accounts
    );
    Ok(if report.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
