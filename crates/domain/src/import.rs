//! Reading another desk's export: Jira's CSV ("all fields") and GLPI's
//! ticket list CSV with, optionally, its followups' CSV. Rows become
//! [`ImportedTicket`]s through a [`Mapping`] (statuses, types, priorities,
//! entities and people), or an error that names the row and what to add to
//! the mapping file. Pure: the file is read and the tickets written by the
//! callers.

use crate::query::fold;
use crate::ticket::{Priority, TicketType};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use std::collections::BTreeMap;

/// Where an export comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Jira,
    Glpi,
}

impl Source {
    /// The prefix of a GLPI ticket's alias (Jira's keys carry their project).
    pub const GLPI_PREFIX: &'static str = "GLPI";
}

/// How the other desk's words become Guichet's. Every map is keyed by the
/// other desk's word, compared without case or accents; the mapping file's
/// entries come on top of the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mapping {
    /// Status → a Guichet status code (`new`, `in_progress`,
    /// `waiting_on_requester`, `resolved`, `closed`).
    pub statuses: BTreeMap<String, String>,
    /// Type → `assistance`, `anomaly`, `evolution` or `unclassified`.
    pub types: BTreeMap<String, String>,
    /// Priority → `low`, `normal`, `high`, `critical`.
    pub priorities: BTreeMap<String, String>,
    /// Entity or organization → the establishment's UAI (a value that holds
    /// a UAI, `Lycée Hoche (0781234A)`, needs no entry).
    pub establishments: BTreeMap<String, String>,
    /// A person's name, login or account id in the export → their address
    /// here (to file under their account and keep them as the author).
    pub users: BTreeMap<String, String>,
    /// The column that names the establishment (default: GLPI's entity,
    /// Jira's organizations).
    pub establishment_column: Option<String>,
    /// The establishment of rows that name none.
    pub default_establishment: Option<String>,
    /// Whether Jira's comments come in as internal notes (the export does
    /// not say which ones the customer saw): true unless said otherwise.
    pub jira_comments_internal: Option<bool>,
}

fn defaults(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (fold(k), (*v).to_owned())).collect()
}

impl Mapping {
    /// The defaults for `source` with `self` on top.
    pub fn with_defaults(&self, source: Source) -> Mapping {
        let (statuses, types, priorities) = match source {
            Source::Jira => (
                defaults(&[
                    ("open", "new"),
                    ("to do", "new"),
                    ("new", "new"),
                    ("backlog", "new"),
                    ("waiting for support", "in_progress"),
                    ("in progress", "in_progress"),
                    ("escalated", "in_progress"),
                    ("reopened", "in_progress"),
                    ("waiting for customer", "waiting_on_requester"),
                    ("pending", "waiting_on_requester"),
                    ("resolved", "resolved"),
                    ("done", "resolved"),
                    ("closed", "closed"),
                    ("canceled", "closed"),
                    ("cancelled", "closed"),
                    ("ouvert", "new"),
                    ("a faire", "new"),
                    ("en cours", "in_progress"),
                    ("en attente du client", "waiting_on_requester"),
                    ("resolu", "resolved"),
                    ("termine", "resolved"),
                    ("ferme", "closed"),
                ]),
                defaults(&[
                    ("bug", "anomaly"),
                    ("incident", "anomaly"),
                    ("problem", "anomaly"),
                    ("service request", "assistance"),
                    ("question", "assistance"),
                    ("support", "assistance"),
                    ("task", "assistance"),
                    ("improvement", "evolution"),
                    ("new feature", "evolution"),
                    ("story", "evolution"),
                    ("change", "evolution"),
                    ("anomalie", "anomaly"),
                    ("demande", "assistance"),
                    ("tache", "assistance"),
                    ("amelioration", "evolution"),
                    ("evolution", "evolution"),
                ]),
                defaults(&[
                    ("highest", "critical"),
                    ("blocker", "critical"),
                    ("critical", "critical"),
                    ("high", "high"),
                    ("major", "high"),
                    ("medium", "normal"),
                    ("normal", "normal"),
                    ("low", "low"),
                    ("lowest", "low"),
                    ("minor", "low"),
                    ("trivial", "low"),
                ]),
            ),
            Source::Glpi => (
                defaults(&[
                    ("nouveau", "new"),
                    ("en cours (attribue)", "in_progress"),
                    ("en cours (planifie)", "in_progress"),
                    ("en attente", "waiting_on_requester"),
                    ("resolu", "resolved"),
                    ("clos", "closed"),
                    ("new", "new"),
                    ("processing (assigned)", "in_progress"),
                    ("processing (planned)", "in_progress"),
                    ("pending", "waiting_on_requester"),
                    ("solved", "resolved"),
                    ("closed", "closed"),
                ]),
                defaults(&[("incident", "anomaly"), ("demande", "assistance"), ("request", "assistance")]),
                defaults(&[
                    ("majeure", "critical"),
                    ("tres haute", "critical"),
                    ("haute", "high"),
                    ("moyenne", "normal"),
                    ("basse", "low"),
                    ("tres basse", "low"),
                    ("major", "critical"),
                    ("very high", "critical"),
                    ("high", "high"),
                    ("medium", "normal"),
                    ("low", "low"),
                    ("very low", "low"),
                ]),
            ),
        };
        let over = |base: BTreeMap<String, String>, mine: &BTreeMap<String, String>| {
            let mut all = base;
            all.extend(mine.iter().map(|(k, v)| (fold(k.trim()), v.trim().to_owned())));
            all
        };
        Mapping {
            statuses: over(statuses, &self.statuses),
            types: over(types, &self.types),
            priorities: over(priorities, &self.priorities),
            establishments: over(BTreeMap::new(), &self.establishments),
            users: over(BTreeMap::new(), &self.users),
            establishment_column: self.establishment_column.clone(),
            default_establishment: self.default_establishment.clone(),
            jira_comments_internal: self.jira_comments_internal,
        }
    }
}

/// A person as the export names them, and their address when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedComment {
    pub at: DateTime<Utc>,
    pub author: Person,
    pub body: String,
    pub internal: bool,
}

/// One ticket of the export, in Guichet's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedTicket {
    /// The row's line in the file.
    pub line: usize,
    /// Its key in the other desk: `PROJ-123`, `GLPI-4567`.
    pub alias: String,
    pub title: String,
    pub description: String,
    pub ticket_type: TicketType,
    /// A status code of the generic workflow (`new` … `closed`).
    pub status: String,
    pub priority: Priority,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub requester: Person,
    pub assignee: Option<Person>,
    /// The establishment's UAI, as the mapping found it.
    pub establishment: String,
    pub comments: Vec<ImportedComment>,
    /// File names of its attachments, to look for in the export's folder.
    pub attachments: Vec<String>,
}

/// A row not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    pub alias: Option<String>,
    pub message: String,
}

/// A CSV file as read: its header and its records with their lines.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    /// The indexes of the columns named any of `names` (folded), in order:
    /// Jira repeats `Comment` and `Attachment` once per value.
    fn columns(&self, names: &[&str]) -> Vec<usize> {
        let wanted: Vec<String> = names.iter().map(|n| fold(n)).collect();
        self.headers.iter().enumerate().filter(|(_, h)| wanted.contains(&fold(h))).map(|(i, _)| i).collect()
    }

    fn column(&self, names: &[&str]) -> Option<usize> {
        self.columns(names).first().copied()
    }
}

fn cell(row: &[String], column: Option<usize>) -> &str {
    column.and_then(|c| row.get(c)).map(|v| v.trim()).unwrap_or("")
}

/// A date as exports write it: ISO 8601, GLPI's `2026-03-02 13:05[:00]`,
/// Jira's `02/Mar/26 1:05 PM` (English or French month), `02/03/2026 13:05`.
/// A date without a zone is the desk's time (Europe/Paris).
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Some(d.with_timezone(&Utc));
    }
    let months = [
        ("janv", "Jan"),
        ("févr", "Feb"),
        ("fevr", "Feb"),
        ("mars", "Mar"),
        ("avr", "Apr"),
        ("mai", "May"),
        ("juin", "Jun"),
        ("juil", "Jul"),
        ("août", "Aug"),
        ("aout", "Aug"),
        ("sept", "Sep"),
        ("oct", "Oct"),
        ("nov", "Nov"),
        ("déc", "Dec"),
        ("dec", "Dec"),
    ];
    let mut english = text.replace('.', "");
    for (fr, en) in months {
        if let Some(at) = english.to_lowercase().find(&format!("/{fr}/")) {
            english.replace_range(at + 1..at + 1 + fr.len(), en);
            break;
        }
    }
    let formats = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%d/%b/%y %I:%M %p",
        "%d/%b/%Y %I:%M %p",
        "%d/%b/%y %H:%M",
        "%d/%m/%Y %H:%M:%S",
        "%d/%m/%Y %H:%M",
    ];
    let naive = formats
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&english, f).ok())
        .or_else(|| NaiveDate::parse_from_str(&english, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))?;
    chrono_tz::Europe::Paris.from_local_datetime(&naive).earliest().map(|d| d.with_timezone(&Utc))
}

/// A UAI written inside a value (`Lycée Hoche (0781234A)`), upper-cased.
fn uai_in(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.windows(8).find_map(|w| {
        let digits = w[..7].iter().all(|c| c.is_ascii_digit());
        let letter = w[7].is_ascii_alphabetic();
        let word = |c: Option<&char>| c.is_none_or(|c| !c.is_ascii_alphanumeric());
        let start = chars.iter().position(|c| std::ptr::eq(c, &w[0]));
        let before = start.and_then(|s| s.checked_sub(1)).and_then(|s| chars.get(s));
        let after = start.and_then(|s| chars.get(s + 8));
        (digits && letter && word(before) && word(after)).then(|| w.iter().collect::<String>().to_ascii_uppercase())
    })
}

impl Mapping {
    fn person(&self, name: &str) -> Person {
        let name = name.trim();
        let email = if name.contains('@') { Some(name.to_owned()) } else { self.users.get(&fold(name)).cloned() };
        Person { name: name.to_owned(), email }
    }

    fn establishment(&self, value: &str) -> Result<String, String> {
        if let Some(uai) = uai_in(value) {
            return Ok(uai);
        }
        let folded = fold(value.trim());
        // GLPI writes the entity's path: `Entité racine > Académie > Lycée Hoche`.
        let last = value.rsplit('>').next().map(|s| fold(s.trim())).unwrap_or_default();
        if let Some(uai) = self.establishments.get(&folded).or_else(|| self.establishments.get(&last)) {
            return Ok(uai.clone());
        }
        if let Some(uai) = &self.default_establishment {
            return Ok(uai.clone());
        }
        if value.trim().is_empty() {
            Err("no establishment: set `default_establishment` or `establishment_column` in the mapping file".into())
        } else {
            Err(format!(
                "no establishment for `{}`: add `\"{}\" = \"<UAI>\"` under [establishments] in the mapping file",
                value.trim(),
                value.rsplit('>').next().unwrap_or(value).trim()
            ))
        }
    }

    fn code<T>(
        &self,
        map: &BTreeMap<String, String>,
        what: &str,
        section: &str,
        value: &str,
        parse: impl Fn(&str) -> Option<T>,
        default: Option<T>,
    ) -> Result<T, String> {
        if value.trim().is_empty() {
            return default.ok_or_else(|| format!("no {what}"));
        }
        match map.get(&fold(value)).and_then(|c| parse(c)) {
            Some(v) => Ok(v),
            None => Err(format!(
                "unknown {what} `{}`: add `\"{}\" = \"…\"` under [{section}] in the mapping file",
                value.trim(),
                value.trim()
            )),
        }
    }
}

impl Mapping {
    fn ticket_type(&self, value: &str) -> Result<TicketType, String> {
        let parse = |c: &str| TicketType::parse(c).ok();
        self.code(&self.types, "type", "types", value, parse, Some(TicketType::Unclassified))
    }

    fn status(&self, value: &str) -> Result<String, String> {
        self.code(&self.statuses, "status", "statuses", value, status_code, None)
    }

    fn priority(&self, value: &str) -> Result<Priority, String> {
        self.code(
            &self.priorities,
            "priority",
            "priorities",
            value,
            |c| Priority::parse(c).ok(),
            Some(Priority::Normal),
        )
    }
}

const STATUS_CODES: &[&str] = &["new", "in_progress", "waiting_on_requester", "resolved", "closed"];

fn status_code(code: &str) -> Option<String> {
    STATUS_CODES.contains(&code).then(|| code.to_owned())
}

/// The columns both exports have, under their own names.
struct Columns {
    title: Option<usize>,
    description: Option<usize>,
    ticket_type: Option<usize>,
    status: Option<usize>,
    priority: Option<usize>,
    requester: Option<usize>,
    assignee: Option<usize>,
    created: Option<usize>,
    updated: Option<usize>,
    resolved: Option<usize>,
    establishment: Option<usize>,
}

impl Columns {
    /// A ticket from one row, without its comments and files; `alias` names
    /// it in errors, `created_name` says which date could not be read.
    fn ticket(
        &self,
        m: &Mapping,
        line: usize,
        alias: &str,
        row: &[String],
        created_name: &str,
    ) -> Result<ImportedTicket, String> {
        let created_at = parse_date(cell(row, self.created))
            .ok_or_else(|| format!("cannot read the {created_name} `{}`", cell(row, self.created)))?;
        let title = cell(row, self.title).to_owned();
        if title.is_empty() {
            return Err("no title".into());
        }
        Ok(ImportedTicket {
            line,
            alias: alias.to_owned(),
            title,
            description: cell(row, self.description).to_owned(),
            ticket_type: m.ticket_type(cell(row, self.ticket_type))?,
            status: m.status(cell(row, self.status))?,
            priority: m.priority(cell(row, self.priority))?,
            created_at,
            updated_at: parse_date(cell(row, self.updated)).unwrap_or(created_at).max(created_at),
            resolved_at: parse_date(cell(row, self.resolved)),
            requester: m.person(cell(row, self.requester)),
            assignee: Some(cell(row, self.assignee)).filter(|a| !a.is_empty()).map(|a| m.person(a)),
            establishment: m.establishment(cell(row, self.establishment))?,
            comments: Vec::new(),
            attachments: Vec::new(),
        })
    }
}

fn establishment_column(table: &Table, m: &Mapping, defaults: &[&str]) -> Option<usize> {
    match &m.establishment_column {
        Some(name) => table.column(&[name]),
        None => table.column(defaults),
    }
}

/// Reads Jira's CSV export ("Export Excel CSV (all fields)").
pub fn read_jira(table: &Table, mapping: &Mapping) -> (Vec<ImportedTicket>, Vec<RowError>) {
    let m = mapping.with_defaults(Source::Jira);
    let key = table.column(&["Issue key", "Clé de ticket", "Clé"]);
    let columns = Columns {
        title: table.column(&["Summary", "Résumé"]),
        description: table.column(&["Description"]),
        ticket_type: table.column(&["Issue Type", "Type de ticket"]),
        status: table.column(&["Status", "État", "Statut"]),
        priority: table.column(&["Priority", "Priorité"]),
        requester: table.column(&["Reporter", "Rapporteur"]),
        assignee: table.column(&["Assignee", "Responsable"]),
        created: table.column(&["Created", "Création"]),
        updated: table.column(&["Updated", "Mise à jour"]),
        resolved: table.column(&["Resolved", "Résolu"]),
        establishment: establishment_column(
            table,
            &m,
            &["Custom field (Organizations)", "Organizations", "Organisations"],
        ),
    };
    let comments = table.columns(&["Comment", "Commentaire", "Comment body"]);
    let attachments = table.columns(&["Attachment", "Pièce jointe"]);
    let internal = m.jira_comments_internal.unwrap_or(true);
    let mut tickets = Vec::new();
    let mut errors = Vec::new();
    if key.is_none() || columns.title.is_none() {
        errors.push(RowError {
            line: 1,
            alias: None,
            message: "this is not Jira's CSV export: it has no `Issue key` or `Summary` column".into(),
        });
        return (tickets, errors);
    }
    for (line, row) in &table.rows {
        let alias = cell(row, key).to_ascii_uppercase();
        let read = || -> Result<ImportedTicket, String> {
            if alias.is_empty() {
                return Err("no issue key".into());
            }
            let mut ticket = columns.ticket(&m, *line, &alias, row, "creation date")?;
            for text in comments.iter().map(|c| cell(row, Some(*c))).filter(|t| !t.is_empty()) {
                // `date;author;body`, the body itself may hold `;`.
                let mut parts = text.splitn(3, ';');
                match (parts.next().and_then(parse_date), parts.next(), parts.next()) {
                    (Some(at), Some(author), Some(body)) if !body.trim().is_empty() => {
                        let comment =
                            ImportedComment { at, author: m.person(author), body: body.trim().to_owned(), internal };
                        ticket.comments.push(comment);
                    }
                    _ => {
                        let start: String = text.chars().take(60).collect();
                        return Err(format!("cannot read the comment `{start}` (date;author;text)"));
                    }
                }
            }
            ticket.attachments = attachments
                .iter()
                .map(|c| cell(row, Some(*c)))
                .filter_map(|t| t.split(';').nth(2).map(|name| name.trim().to_owned()))
                .filter(|name| !name.is_empty())
                .collect();
            Ok(ticket)
        };
        match read() {
            Ok(t) => tickets.push(t),
            Err(message) => errors.push(RowError { line: *line, alias: Some(alias.clone()), message }),
        }
    }
    (tickets, errors)
}

/// Reads GLPI's ticket list exported as CSV (Assistance → Tickets →
/// export), and its followups' list when given.
pub fn read_glpi(table: &Table, followups: Option<&Table>, mapping: &Mapping) -> (Vec<ImportedTicket>, Vec<RowError>) {
    let m = mapping.with_defaults(Source::Glpi);
    let id = table.column(&["ID"]);
    let columns = Columns {
        title: table.column(&["Titre", "Title", "Name", "Nom"]),
        description: table.column(&["Description"]),
        ticket_type: table.column(&["Type"]),
        status: table.column(&["Statut", "Status"]),
        priority: table.column(&["Priorité", "Priority"]),
        requester: table.column(&["Demandeur - Demandeur", "Requester - Requester", "Demandeur"]),
        assignee: table.column(&["Attribué à - Technicien", "Assigned to - Technician", "Technicien"]),
        created: table.column(&["Date d'ouverture", "Opening date", "Date"]),
        updated: table.column(&["Dernière modification", "Last update"]),
        resolved: table.column(&["Date de résolution", "Resolution date", "Solve date"]),
        establishment: establishment_column(table, &m, &["Entité", "Entity"]),
    };
    let mut errors = Vec::new();
    let by_ticket = followups.map(|f| glpi_followups(f, &m, &mut errors)).unwrap_or_default();
    let mut tickets = Vec::new();
    if id.is_none() || columns.title.is_none() {
        errors.push(RowError {
            line: 1,
            alias: None,
            message: "this is not GLPI's ticket export: it has no `ID` or `Titre` column".into(),
        });
        return (tickets, errors);
    }
    for (line, row) in &table.rows {
        // GLPI writes large numbers with a space: `1 234`.
        let number: String = cell(row, id).chars().filter(char::is_ascii_digit).collect();
        let alias = format!("{}-{number}", Source::GLPI_PREFIX);
        let read = || -> Result<ImportedTicket, String> {
            if number.is_empty() {
                return Err("no ticket ID".into());
            }
            let mut ticket = columns.ticket(&m, *line, &alias, row, "opening date")?;
            ticket.comments = by_ticket.get(&number).cloned().unwrap_or_default();
            ticket.comments.sort_by_key(|c| c.at);
            Ok(ticket)
        };
        match read() {
            Ok(t) => tickets.push(t),
            Err(message) => errors.push(RowError { line: *line, alias: Some(alias.clone()), message }),
        }
    }
    (tickets, errors)
}

/// GLPI's followups by ticket number; a row that cannot be read is an error.
fn glpi_followups(f: &Table, m: &Mapping, errors: &mut Vec<RowError>) -> BTreeMap<String, Vec<ImportedComment>> {
    let ticket = f.column(&["Ticket", "Élément", "Item", "Ticket - ID", "ID du ticket"]);
    let date = f.column(&["Date"]);
    let author = f.column(&["Rédacteur", "Writer", "Auteur", "Author"]);
    let content = f.column(&["Description", "Contenu", "Content"]);
    let private = f.column(&["Privé", "Private"]);
    let mut by_ticket: BTreeMap<String, Vec<ImportedComment>> = BTreeMap::new();
    for (line, row) in &f.rows {
        let number: String = cell(row, ticket).chars().filter(char::is_ascii_digit).collect();
        match parse_date(cell(row, date)) {
            Some(at) if !number.is_empty() && !cell(row, content).is_empty() => {
                by_ticket.entry(number).or_default().push(ImportedComment {
                    at,
                    author: m.person(cell(row, author)),
                    body: cell(row, content).to_owned(),
                    internal: matches!(fold(cell(row, private)).as_str(), "oui" | "yes" | "1" | "true"),
                })
            }
            _ => errors.push(RowError {
                line: *line,
                alias: None,
                message: "followup: needs a ticket number, a date and a text".into(),
            }),
        }
    }
    by_ticket
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(headers: &[&str], rows: &[&[&str]]) -> Table {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: rows.iter().enumerate().map(|(i, r)| (i + 2, r.iter().map(|v| (*v).to_owned()).collect())).collect(),
        }
    }

    #[test]
    fn dates_are_read_in_the_formats_exports_write() {
        let utc = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(parse_date("2026-03-02T13:05:00Z"), Some(utc("2026-03-02T13:05:00Z")));
        assert_eq!(parse_date("2026-03-02 14:05:00"), Some(utc("2026-03-02T13:05:00Z")), "Paris in winter");
        assert_eq!(parse_date("2026-07-02 14:05"), Some(utc("2026-07-02T12:05:00Z")), "Paris in summer");
        assert_eq!(parse_date("02/Mar/26 2:05 PM"), Some(utc("2026-03-02T13:05:00Z")));
        assert_eq!(parse_date("02/mars/26 2:05 PM"), Some(utc("2026-03-02T13:05:00Z")));
        assert_eq!(parse_date("02/03/2026 14:05"), Some(utc("2026-03-02T13:05:00Z")));
        assert_eq!(parse_date("hier"), None);
        assert_eq!(parse_date(""), None);
    }

    #[test]
    fn a_uai_is_found_inside_an_entity_name() {
        assert_eq!(uai_in("Entité racine > Lycée Hoche (0781234a)"), Some("0781234A".into()));
        assert_eq!(uai_in("ticket 12345678X"), None, "not inside a longer word");
        assert_eq!(uai_in("Lycée Hoche"), None);
    }

    #[test]
    fn jira_rows_map_statuses_types_people_comments_and_attachments() {
        let t = table(
            &[
                "Summary",
                "Issue key",
                "Issue Type",
                "Status",
                "Priority",
                "Reporter",
                "Assignee",
                "Created",
                "Updated",
                "Resolved",
                "Description",
                "Custom field (Organizations)",
                "Comment",
                "Comment",
                "Attachment",
            ],
            &[
                &[
                    "Cahier de textes vide",
                    "ent-12",
                    "Bug",
                    "Done",
                    "High",
                    "fmorel",
                    "",
                    "02/Mar/26 9:00 AM",
                    "03/Mar/26 9:00 AM",
                    "03/Mar/26 9:00 AM",
                    "Depuis ce matin",
                    "Lycée Hoche (0781234A)",
                    "02/Mar/26 10:00 AM;claire;Nous regardons; merci",
                    "",
                    "02/Mar/26 9:01 AM;fmorel;capture.png;https://jira/secure/attachment/1/capture.png",
                ],
                &["Sans date", "ENT-13", "Bug", "Done", "High", "x", "", "bientôt", "", "", "", "0781234A", "", "", ""],
                &[
                    "Statut inconnu",
                    "ENT-14",
                    "Bug",
                    "Triage",
                    "High",
                    "x",
                    "",
                    "02/Mar/26 9:00 AM",
                    "",
                    "",
                    "",
                    "0781234A",
                    "",
                    "",
                    "",
                ],
                &[
                    "École inconnue",
                    "ENT-15",
                    "Bug",
                    "Open",
                    "High",
                    "x",
                    "",
                    "02/Mar/26 9:00 AM",
                    "",
                    "",
                    "",
                    "Collège Lointain",
                    "",
                    "",
                    "",
                ],
            ],
        );
        let mapping =
            Mapping { users: [("fmorel".to_owned(), "frederic.morel@ac.fr".to_owned())].into(), ..Mapping::default() };
        let (tickets, errors) = read_jira(&t, &mapping);
        assert_eq!(tickets.len(), 1);
        let ticket = &tickets[0];
        assert_eq!((ticket.alias.as_str(), ticket.status.as_str()), ("ENT-12", "resolved"));
        assert_eq!((ticket.ticket_type, ticket.priority), (TicketType::Anomaly, Priority::High));
        assert_eq!(ticket.requester.email.as_deref(), Some("frederic.morel@ac.fr"));
        assert_eq!(ticket.establishment, "0781234A");
        assert_eq!(ticket.comments.len(), 1);
        assert_eq!(ticket.comments[0].body, "Nous regardons; merci");
        assert!(ticket.comments[0].internal, "Jira's comments are internal unless said otherwise");
        assert_eq!(ticket.attachments, ["capture.png"]);
        let messages: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.message.as_str())).collect();
        assert!(messages[0].1.contains("creation date"), "{messages:?}");
        assert!(
            messages[1].1.contains("unknown status `Triage`") && messages[1].1.contains("[statuses]"),
            "{messages:?}"
        );
        assert!(
            messages[2].1.contains("`Collège Lointain`") && messages[2].1.contains("[establishments]"),
            "{messages:?}"
        );
        assert_eq!(messages.iter().map(|m| m.0).collect::<Vec<_>>(), [3, 4, 5]);
    }

    #[test]
    fn glpi_rows_take_their_followups_and_the_mapping_file_wins() {
        let t = table(
            &[
                "ID",
                "Titre",
                "Entité",
                "Statut",
                "Date d'ouverture",
                "Priorité",
                "Demandeur - Demandeur",
                "Type",
                "Description",
            ],
            &[&[
                "1 234",
                "Imprimante",
                "Entité racine > Collège Vert",
                "En attente",
                "2026-03-02 09:00",
                "Haute",
                "Marie Curie",
                "Demande",
                "Bourrage",
            ]],
        );
        let f = table(
            &["ID", "Ticket", "Date", "Rédacteur", "Description", "Privé"],
            &[
                &["9", "1234", "2026-03-02 11:00", "Tech", "Note", "Oui"],
                &["8", "1234", "2026-03-02 10:00", "Tech", "Réponse", "Non"],
                &["7", "", "2026-03-02 10:00", "Tech", "Orphelin", "Non"],
            ],
        );
        let mapping = Mapping {
            establishments: [("Collège Vert".to_owned(), "0750001A".to_owned())].into(),
            statuses: [("En attente".to_owned(), "in_progress".to_owned())].into(),
            ..Mapping::default()
        };
        let (tickets, errors) = read_glpi(&t, Some(&f), &mapping);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let ticket = &tickets[0];
        assert_eq!((ticket.alias.as_str(), ticket.establishment.as_str()), ("GLPI-1234", "0750001A"));
        assert_eq!((ticket.status.as_str(), ticket.ticket_type), ("in_progress", TicketType::Assistance));
        let bodies: Vec<(&str, bool)> = ticket.comments.iter().map(|c| (c.body.as_str(), c.internal)).collect();
        assert_eq!(bodies, [("Réponse", false), ("Note", true)]);
    }

    #[test]
    fn a_file_of_another_kind_is_refused_whole() {
        let t = table(&["uai", "name"], &[&["0750001A", "x"]]);
        let (tickets, errors) = read_jira(&t, &Mapping::default());
        assert!(tickets.is_empty() && errors[0].message.contains("not Jira's CSV export"));
        let (tickets, errors) = read_glpi(&t, None, &Mapping::default());
        assert!(tickets.is_empty() && errors[0].message.contains("not GLPI's ticket export"));
    }
}
