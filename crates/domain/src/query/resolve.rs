//! Meaning: fields and values checked against the desk's vocabulary,
//! functions evaluated, the result typed for the store to compile.

use super::parser::{Clause, Expr, Operator, Query, Value};
use super::{did_you_mean, fold, QueryError};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// What resolving needs to know: the instant, the desk's time zone, the key
/// prefix and the configurable vocabularies.
#[derive(Debug, Clone)]
pub struct Context {
    pub now: DateTime<Utc>,
    pub tz: Tz,
    pub key_prefix: String,
    /// (code, French label, English label) of every status of every workflow.
    pub statuses: Vec<(String, String, String)>,
    /// (code, French label, English label) of every category.
    pub categories: Vec<(String, String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeColumn {
    Type,
    Status,
    Priority,
    Channel,
    Tier,
    Category,
    Sla,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeColumn {
    Created,
    Updated,
    Resolved,
    /// The resolution due date of the service level.
    Due,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl TimeOp {
    pub fn sql(self) -> &'static str {
        match self {
            TimeOp::Eq => "=",
            TimeOp::Ne => "<>",
            TimeOp::Lt => "<",
            TimeOp::Le => "<=",
            TimeOp::Gt => ">",
            TimeOp::Ge => ">=",
        }
    }
}

impl Condition {
    /// The conditions under AND, OR and NOT, in the order they are written.
    fn leaves(&self) -> Vec<&Condition> {
        match self {
            Condition::All(items) | Condition::Any(items) => items.iter().flat_map(Condition::leaves).collect(),
            Condition::Not(inner) => inner.leaves(),
            leaf => vec![leaf],
        }
    }

    /// The same tree with `f` applied to each leaf, in the order of [`Condition::leaves`].
    fn map_leaves(self, f: &mut impl FnMut(Condition) -> Condition) -> Condition {
        match self {
            Condition::All(items) => Condition::All(items.into_iter().map(|c| c.map_leaves(f)).collect()),
            Condition::Any(items) => Condition::Any(items.into_iter().map(|c| c.map_leaves(f)).collect()),
            Condition::Not(inner) => Condition::Not(Box::new(inner.map_leaves(f))),
            leaf => f(leaf),
        }
    }

    /// Every list of establishment names or UAIs in the condition.
    pub fn establishment_names(&self) -> Vec<&[String]> {
        self.leaves()
            .into_iter()
            .filter_map(|c| match c {
                Condition::Establishment { values, .. } => Some(values.as_slice()),
                _ => None,
            })
            .collect()
    }

    /// Replaces each list of names by the ids `ids_of` gives for it (in the
    /// order of [`Condition::establishment_names`]).
    pub fn pin_establishments(self, ids_of: &mut impl Iterator<Item = Vec<i64>>) -> Condition {
        self.map_leaves(&mut |leaf| match leaf {
            Condition::Establishment { values, negated } => match ids_of.next() {
                Some(ids) => Condition::EstablishmentIds { ids, negated },
                None => Condition::Establishment { values, negated },
            },
            other => other,
        })
    }

    /// Replaces each list of category codes by the numbers `id_of` gives
    /// (a code without one matches no ticket).
    pub fn pin_categories(self, id_of: &impl Fn(&str) -> Option<i64>) -> Condition {
        self.map_leaves(&mut |leaf| match leaf {
            Condition::Codes { column: CodeColumn::Category, values, negated } => {
                Condition::CategoryIds { ids: values.iter().filter_map(|code| id_of(code)).collect(), negated }
            }
            other => other,
        })
    }

    /// Every person named by address or name (not by id nor `currentUser()`).
    pub fn person_names(&self) -> Vec<&str> {
        fn named(value: &PersonValue) -> Option<&str> {
            match value {
                PersonValue::Name(name) => Some(name.as_str()),
                _ => None,
            }
        }
        self.leaves()
            .into_iter()
            .flat_map(|c| match c {
                Condition::Person { values, .. } => values.iter().filter_map(named).collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// Replaces each named person by the ids `ids_of` gives for the name (in
    /// the order of [`Condition::person_names`]); a name nobody has becomes
    /// no value at all, which matches no ticket. Given ids rather than a
    /// sub-query on the users, the planner knows how few they are.
    pub fn pin_people(self, ids_of: &mut impl Iterator<Item = Vec<i64>>) -> Condition {
        self.map_leaves(&mut |leaf| match leaf {
            Condition::Person { column, values, negated } => {
                let mut pinned = Vec::with_capacity(values.len());
                for value in values {
                    match value {
                        PersonValue::Name(name) => match ids_of.next() {
                            Some(ids) => pinned.extend(ids.into_iter().map(PersonValue::Id)),
                            None => pinned.push(PersonValue::Name(name)),
                        },
                        other => pinned.push(other),
                    }
                }
                pinned.dedup();
                Condition::Person { column, values: pinned, negated }
            }
            other => other,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonColumn {
    Requester,
    Assignee,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonValue {
    /// `currentUser()`: the one running the query.
    Me,
    Id(i64),
    /// An e-mail address or a name, lower-cased.
    Name(String),
}

/// A typed condition, ready to compile into parameterised SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Codes {
        column: CodeColumn,
        values: Vec<String>,
        negated: bool,
    },
    Time {
        column: TimeColumn,
        op: TimeOp,
        at: DateTime<Utc>,
    },
    /// Assignee, category or resolution date absent (or present when negated).
    Empty {
        column: EmptyColumn,
        negated: bool,
    },
    Person {
        column: PersonColumn,
        values: Vec<PersonValue>,
        negated: bool,
    },
    /// UAIs or names of establishments (or of their parents).
    Establishment {
        values: Vec<String>,
        negated: bool,
    },
    /// The same once the names are looked up ([`Condition::pin_establishments`]):
    /// a short list of ids is a condition a database's planner can estimate,
    /// where a sub-query over names is a guess.
    EstablishmentIds {
        ids: Vec<i64>,
        negated: bool,
    },
    /// Categories by number once their codes are looked up
    /// ([`Condition::pin_categories`]): the planner can then start from an
    /// index by category, which it cannot for a sub-query on the codes.
    CategoryIds {
        ids: Vec<i64>,
        negated: bool,
    },
    Keys {
        ids: Vec<i64>,
        /// Keys a ticket had in the system it was imported from (`JIRA-123`).
        aliases: Vec<String>,
        negated: bool,
    },
    /// Whose turn it is: the desk's when the last public message is the
    /// requester's (or there is none yet).
    AwaitingDesk {
        negated: bool,
    },
    KeyCompare {
        op: TimeOp,
        id: i64,
    },
    /// Full text: the words (phrases, prefixes) in anything written on the ticket.
    Text {
        needle: String,
        negated: bool,
    },
    /// A substring of the title.
    TitleContains {
        needle: String,
        negated: bool,
    },
    /// Linked (either way) to one of these tickets, or to any when `None`.
    Linked {
        ids: Option<Vec<i64>>,
        negated: bool,
    },
    /// Part of one of these incidents, or of any when `None`.
    Incident {
        ids: Option<Vec<i64>>,
        negated: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyColumn {
    Assignee,
    Category,
    Resolved,
    Due,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Key,
    Created,
    Updated,
    Resolved,
    Priority,
    Status,
    Title,
    Type,
    Due,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub condition: Option<Condition>,
    pub order: Vec<(SortKey, bool)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Key,
    Type,
    Status,
    Priority,
    Category,
    Channel,
    Tier,
    Establishment,
    Requester,
    Assignee,
    Created,
    Updated,
    Resolved,
    Text,
    Title,
    Due,
    Sla,
    Awaiting,
    Linked,
    Incident,
}

/// (canonical name, field, French and other aliases)
const FIELDS: &[(&str, Field, &[&str])] = &[
    ("key", Field::Key, &["cle", "id", "ticket", "demande"]),
    ("type", Field::Type, &[]),
    ("status", Field::Status, &["statut", "etat"]),
    ("priority", Field::Priority, &["priorite"]),
    ("category", Field::Category, &["categorie", "service"]),
    ("channel", Field::Channel, &["canal", "source"]),
    ("tier", Field::Tier, &["niveau", "level"]),
    ("establishment", Field::Establishment, &["etablissement", "uai", "school", "ecole", "lycee"]),
    ("requester", Field::Requester, &["demandeur", "reporter"]),
    ("assignee", Field::Assignee, &["attribution", "assigne", "attribuee", "responsable", "agent"]),
    ("created", Field::Created, &["cree", "creee", "creation", "createddate"]),
    ("updated", Field::Updated, &["maj", "modifie", "modifiee", "miseajour", "mis_a_jour"]),
    ("resolved", Field::Resolved, &["resolu", "resolue", "resolutiondate"]),
    ("text", Field::Text, &["texte", "description"]),
    ("title", Field::Title, &["titre", "summary", "resume"]),
    ("due", Field::Due, &["echeance", "duedate", "delai"]),
    ("sla", Field::Sla, &["engagement", "niveau de service"]),
    ("awaiting", Field::Awaiting, &["attente", "tour", "waiting"]),
    ("linked", Field::Linked, &["lie", "liee", "lien", "liens", "links", "link"]),
    ("incident", Field::Incident, &["incident majeur", "major incident"]),
];

fn field_of(name: &str, column: usize) -> Result<(Field, &'static str), QueryError> {
    let folded = fold(name);
    for (canonical, field, aliases) in FIELDS {
        if folded == *canonical || aliases.contains(&folded.as_str()) {
            return Ok((*field, canonical));
        }
    }
    let names = FIELDS.iter().flat_map(|(c, _, a)| std::iter::once(*c).chain(a.iter().copied()));
    let hint = did_you_mean(name, names).map(|n| {
        let canonical = FIELDS.iter().find(|(c, _, a)| *c == n || a.contains(&n)).map_or(n, |(c, ..)| *c);
        format!("did you mean `{canonical}`?")
    });
    Err(QueryError::new(format!("unknown field `{name}`"), column).hint(
        hint.or_else(|| Some(format!("fields: {}", FIELDS.iter().map(|(c, ..)| *c).collect::<Vec<_>>().join(", ")))),
    ))
}

/// Folded, without separators or a final feminine/plural mark, so that
/// "Résolue", "resolu" and "resolved"'s label match loosely.
fn loose(s: &str) -> String {
    let mut f: String = fold(s).chars().map(|c| if matches!(c, '_' | '-') { ' ' } else { c }).collect();
    f = f.split_whitespace().collect::<Vec<_>>().join(" ");
    while f.ends_with('e') || f.ends_with('s') || f.ends_with('x') {
        if f.len() <= 3 {
            break;
        }
        f.pop();
    }
    // French agreement: the labels are feminine ("Nouvelle", for a demande),
    // a desk types the masculine as often. -elle, -el and -eau(x) are one
    // word: nouvelle, nouvel, nouveau(x).
    if let Some(stem) = f.strip_suffix("eau").or_else(|| f.strip_suffix("ell")) {
        f = format!("{stem}el");
    }
    f
}

/// (code, aliases) of the fixed vocabularies.
const TYPES: &[(&str, &[&str])] = &[
    ("unclassified", &["non classee", "non classe", "nouvelle demande"]),
    ("assistance", &["aide", "help"]),
    ("anomaly", &["anomalie", "bug", "defect"]),
    ("evolution", &["change request", "demande d evolution", "proposition"]),
];
const PRIORITIES: &[(&str, &[&str])] = &[
    ("low", &["basse", "faible"]),
    ("normal", &["normale", "moyenne"]),
    ("high", &["haute", "elevee"]),
    ("critical", &["critique", "urgente", "bloquante"]),
];
const CHANNELS: &[(&str, &[&str])] = &[
    ("portal", &["portail", "web"]),
    ("email", &["e-mail", "mail", "courriel"]),
    ("phone", &["telephone", "tel", "appel"]),
    ("help_form", &["help", "bouton help", "formulaire d aide"]),
    ("api", &[]),
];
const SLA_STATES: &[(&str, &[&str])] = &[
    ("ok", &["dans les temps", "on time"]),
    ("at_risk", &["a risque", "risque", "at risk", "bientot en retard"]),
    ("breached", &["en retard", "depasse", "late", "retard"]),
    ("met", &["respecte", "tenu"]),
    ("paused", &["en pause", "suspendu"]),
    ("none", &["aucun", "sans"]),
];
const TIERS: &[(&str, &[&str])] = &[
    ("establishment", &["etablissement", "school", "niveau 0"]),
    ("support", &["niveau 1", "n1", "level 1"]),
    ("technical", &["technique", "niveau 2", "n2", "level 2"]),
];

fn code_of(field: &str, vocabulary: &[(String, Vec<String>)], value: &Value) -> Result<String, QueryError> {
    let Value::Text { text, column } = value else {
        return Err(QueryError::new(format!("`{field}` takes a value, not a function"), value.column()));
    };
    let wanted = loose(text);
    for (code, aliases) in vocabulary {
        if loose(code) == wanted || aliases.iter().any(|a| loose(a) == wanted) {
            return Ok(code.clone());
        }
    }
    let names = vocabulary.iter().flat_map(|(c, a)| std::iter::once(c.as_str()).chain(a.iter().map(String::as_str)));
    let hint = did_you_mean(text, names)
        .map(|n| {
            let code =
                vocabulary.iter().find(|(c, a)| c == n || a.iter().any(|x| x == n)).map_or(n, |(c, _)| c.as_str());
            format!("did you mean `{code}`?")
        })
        .or_else(|| {
            Some(format!(
                "expected one of: {}",
                vocabulary.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ")
            ))
        });
    Err(QueryError::new(format!("unknown {field} `{text}`"), *column).hint(hint))
}

fn fixed(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    list.iter().map(|(c, a)| ((*c).to_owned(), a.iter().map(|s| (*s).to_owned()).collect())).collect()
}

fn labelled(list: &[(String, String, String)]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (code, fr, en) in list {
        let mut names = vec![fr.clone(), en.clone()];
        names.extend(french_variants(fr));
        match out.iter_mut().find(|(c, _)| c == code) {
            Some((_, aliases)) => aliases.extend(names),
            None => out.push((code.clone(), names)),
        }
    }
    out
}

/// What a desk types for a French label written for « une demande »: the
/// masculine (`nouveau` for `Nouvelle`, `résolu`, `fermé`, `clos`) and the
/// label's first words (`en attente` for `En attente du demandeur`).
fn french_variants(label: &str) -> Vec<String> {
    let lower = label.to_lowercase();
    let mut out = Vec::new();
    if let Some(stem) = lower.strip_suffix("elle") {
        out.push(format!("{stem}eau"));
    } else if lower.ends_with("ée") || lower.ends_with("ue") {
        out.push(lower[..lower.len() - 1].to_owned());
    }
    if lower == "fermée" {
        out.extend(["clos".to_owned(), "close".to_owned()]);
    }
    if let Some((head, _)) = lower.split_once(" du ") {
        out.push(head.to_owned());
    }
    out
}

fn op_error(op: Operator, field: &str, column: usize, allowed: &str) -> QueryError {
    QueryError::new(format!("operator `{}` does not apply to `{field}`", op.symbol()), column)
        .hint(Some(format!("`{field}` takes {allowed}")))
}

fn text_of(value: &Value) -> Result<(&str, usize), QueryError> {
    match value {
        Value::Text { text, column } => Ok((text.as_str(), *column)),
        Value::Call { name, column, .. } => Err(QueryError::new(format!("unexpected function `{name}()`"), *column)),
    }
}

/// Parses `-7d`, `2h`, `30m`, `1w` into a signed duration: `None` when the
/// text is not one, `Some(None)` when it is one too large to be a duration.
fn duration(text: &str) -> Option<Option<Duration>> {
    let unit = text.chars().last()?;
    let number = text.get(..text.len() - unit.len_utf8())?;
    if number.is_empty() || !number.trim_start_matches(['-', '+']).bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let make: fn(i64) -> Option<Duration> = match unit {
        'm' => Duration::try_minutes,
        'h' => Duration::try_hours,
        'd' | 'j' => Duration::try_days,
        'w' | 's' => Duration::try_weeks,
        _ => return None,
    };
    Some(number.parse::<i64>().ok().and_then(make))
}

/// Dates a query can name: beyond them a date is a typo, and arithmetic on
/// it could overflow.
fn in_range(t: Option<DateTime<Utc>>, text: &str, column: usize) -> Result<DateTime<Utc>, QueryError> {
    t.filter(|t| (1000..=9999).contains(&t.year())).ok_or_else(|| {
        QueryError::new(format!("`{text}` is too far in the past or the future"), column)
            .hint(Some("dates go from the year 1000 to 9999".into()))
    })
}

fn local_midnight(tz: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::new(date, NaiveTime::MIN);
    // A midnight skipped by a DST change is taken at the next valid instant.
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| tz.from_local_datetime(&naive.checked_add_signed(Duration::hours(1))?).earliest())
        .map(|t| t.with_timezone(&Utc))
}

fn time_value(ctx: &Context, value: &Value) -> Result<DateTime<Utc>, QueryError> {
    match value {
        Value::Text { text, column } => {
            if let Some(d) = duration(text) {
                return in_range(d.and_then(|d| ctx.now.checked_add_signed(d)), text, *column);
            }
            if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                return in_range(local_midnight(ctx.tz, date), text, *column);
            }
            for format in ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
                if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
                    if let Some(t) = ctx.tz.from_local_datetime(&t).earliest() {
                        return in_range(Some(t.with_timezone(&Utc)), text, *column);
                    }
                }
            }
            if let Ok(t) = DateTime::parse_from_rfc3339(text) {
                return in_range(Some(t.with_timezone(&Utc)), text, *column);
            }
            Err(QueryError::new(format!("`{text}` is not a date"), *column)
                .hint(Some("write 2026-11-29, \"2026-11-29 14:00\", -7d, now() or startOfDay(-1)".into())))
        }
        Value::Call { name, args, column } => {
            let folded = fold(name);
            let arg = args.first();
            if args.len() > 1 {
                return Err(QueryError::new(format!("`{name}()` takes at most one argument"), *column));
            }
            let shown = arg.and_then(|v| text_of(v).ok()).map_or_else(|| format!("{name}()"), |(t, _)| t.to_owned());
            // The offset of startOfX(): a duration (-7d) or a number of X.
            let offset = |unit: &str| -> Result<i64, QueryError> {
                match arg {
                    None => Ok(0),
                    Some(v) => {
                        let (text, column) = text_of(v)?;
                        if let Ok(n) = text.parse::<i64>() {
                            return Ok(n);
                        }
                        match (duration(text), unit) {
                            (Some(Some(d)), "day") if d.num_days() * 86_400 == d.num_seconds() => Ok(d.num_days()),
                            (Some(Some(d)), "week") if d.num_weeks() * 604_800 == d.num_seconds() => Ok(d.num_weeks()),
                            (Some(None), _) => Err(QueryError::new(format!("`{text}` is too large"), column)),
                            _ => Err(QueryError::new(format!("`{text}` is not a number of {unit}s"), column)),
                        }
                    }
                }
            };
            let column = *column;
            let today = ctx.now.with_timezone(&ctx.tz).date_naive();
            let shift = |date: NaiveDate, days: Option<i64>| {
                days.and_then(Duration::try_days)
                    .and_then(|d| date.checked_add_signed(d))
                    .and_then(|d| local_midnight(ctx.tz, d))
            };
            match folded.as_str() {
                "now" if args.is_empty() => Ok(ctx.now),
                "startofday" => in_range(shift(today, Some(offset("day")?)), &shown, column),
                "startofweek" => {
                    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
                    in_range(shift(monday, offset("week")?.checked_mul(7)), &shown, column)
                }
                "startofmonth" => {
                    let months = offset("month")?;
                    let index = (i64::from(today.year()) * 12 + i64::from(today.month0())).checked_add(months);
                    let date = index.and_then(|index| {
                        let (year, month0) = (index.div_euclid(12), index.rem_euclid(12));
                        NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, u32::try_from(month0 + 1).ok()?, 1)
                    });
                    in_range(date.and_then(|d| local_midnight(ctx.tz, d)), &shown, column)
                }
                _ => {
                    let hint = did_you_mean(name, ["now", "startOfDay", "startOfWeek", "startOfMonth"])
                        .map(|n| format!("did you mean `{n}()`?"));
                    Err(QueryError::new(format!("unknown date function `{name}()`"), column).hint(hint))
                }
            }
        }
    }
}

fn person_value(value: &Value) -> Result<PersonValue, QueryError> {
    match value {
        Value::Call { name, args, column } => {
            if fold(name) == "currentuser" && args.is_empty() {
                Ok(PersonValue::Me)
            } else {
                let hint = did_you_mean(name, ["currentUser"]).map(|n| format!("did you mean `{n}()`?"));
                Err(QueryError::new(format!("unknown function `{name}()`"), *column).hint(hint))
            }
        }
        Value::Text { text, .. } => Ok(match text.parse::<i64>() {
            Ok(id) => PersonValue::Id(id),
            Err(_) => PersonValue::Name(text.trim().to_lowercase()),
        }),
    }
}

fn key_value(ctx: &Context, value: &Value) -> Result<i64, QueryError> {
    let (text, column) = text_of(value)?;
    if let Ok(n) = text.parse::<i64>() {
        return Ok(n);
    }
    crate::ticket::parse_key(&ctx.key_prefix, text).map(|id| id.0).ok_or_else(|| {
        QueryError::new(format!("`{text}` is not a ticket key"), column)
            .hint(Some(format!("write {}-123", ctx.key_prefix)))
    })
}

/// Another system's key, as an imported ticket keeps it: letters (and
/// digits) before a dash and a number, `JIRA-123`, `GLPI-4567`.
fn alias_value(value: &Value) -> Option<String> {
    let (text, _) = text_of(value).ok()?;
    let text = text.trim().to_ascii_uppercase();
    let (project, number) = text.split_once('-')?;
    let project_ok = project.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && project.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (project_ok && !number.is_empty() && number.chars().all(|c| c.is_ascii_digit())).then_some(text)
}

/// `INC-3` or `3`.
fn incident_value(value: &Value) -> Result<i64, QueryError> {
    let (text, column) = text_of(value)?;
    let digits = text.trim().to_ascii_uppercase();
    let digits = digits.strip_prefix("INC-").unwrap_or(&digits);
    digits
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| QueryError::new(format!("`{text}` is not an incident"), column).hint(Some("write INC-3".into())))
}

fn clause(ctx: &Context, c: &Clause) -> Result<Condition, QueryError> {
    let (field, name) = field_of(&c.field, c.column)?;
    let negated = matches!(c.op, Operator::Ne | Operator::NotIn | Operator::NotContains | Operator::IsNotEmpty);
    let set_op = matches!(c.op, Operator::Eq | Operator::Ne | Operator::In | Operator::NotIn);
    let empty_op = matches!(c.op, Operator::IsEmpty | Operator::IsNotEmpty);
    let codes = |vocabulary: Vec<(String, Vec<String>)>, column: CodeColumn| -> Result<Condition, QueryError> {
        let values = c.values.iter().map(|v| code_of(name, &vocabulary, v)).collect::<Result<_, _>>()?;
        Ok(Condition::Codes { column, values, negated })
    };
    match field {
        Field::Type | Field::Status | Field::Priority | Field::Channel | Field::Tier | Field::Sla if !set_op => {
            Err(op_error(c.op, name, c.column, "=, !=, IN and NOT IN"))
        }
        Field::Type => codes(fixed(TYPES), CodeColumn::Type),
        Field::Priority => codes(fixed(PRIORITIES), CodeColumn::Priority),
        Field::Channel => codes(fixed(CHANNELS), CodeColumn::Channel),
        Field::Tier => codes(fixed(TIERS), CodeColumn::Tier),
        Field::Sla => codes(fixed(SLA_STATES), CodeColumn::Sla),
        Field::Status => codes(labelled(&ctx.statuses), CodeColumn::Status),
        Field::Category if empty_op => Ok(Condition::Empty { column: EmptyColumn::Category, negated }),
        Field::Category if set_op => codes(labelled(&ctx.categories), CodeColumn::Category),
        Field::Category => Err(op_error(c.op, name, c.column, "=, !=, IN, NOT IN and IS EMPTY")),
        Field::Created | Field::Updated | Field::Resolved | Field::Due => {
            let column = match field {
                Field::Created => TimeColumn::Created,
                Field::Updated => TimeColumn::Updated,
                Field::Due => TimeColumn::Due,
                _ => TimeColumn::Resolved,
            };
            let op = match c.op {
                Operator::Eq => TimeOp::Eq,
                Operator::Ne => TimeOp::Ne,
                Operator::Lt => TimeOp::Lt,
                Operator::Le => TimeOp::Le,
                Operator::Gt => TimeOp::Gt,
                Operator::Ge => TimeOp::Ge,
                Operator::IsEmpty | Operator::IsNotEmpty if column == TimeColumn::Resolved => {
                    return Ok(Condition::Empty { column: EmptyColumn::Resolved, negated });
                }
                Operator::IsEmpty | Operator::IsNotEmpty if column == TimeColumn::Due => {
                    return Ok(Condition::Empty { column: EmptyColumn::Due, negated });
                }
                _ => return Err(op_error(c.op, name, c.column, "=, !=, <, <=, > and >=")),
            };
            let at = time_value(ctx, &c.values[0])?;
            Ok(Condition::Time { column, op, at })
        }
        Field::Requester | Field::Assignee => {
            let column = if field == Field::Assignee { PersonColumn::Assignee } else { PersonColumn::Requester };
            if empty_op && column == PersonColumn::Assignee {
                return Ok(Condition::Empty { column: EmptyColumn::Assignee, negated });
            }
            if !set_op {
                return Err(op_error(c.op, name, c.column, "=, !=, IN and NOT IN"));
            }
            let values = c.values.iter().map(person_value).collect::<Result<_, _>>()?;
            Ok(Condition::Person { column, values, negated })
        }
        Field::Awaiting => {
            if !matches!(c.op, Operator::Eq | Operator::Ne) {
                return Err(op_error(c.op, name, c.column, "= and !="));
            }
            let vocabulary =
                fixed(&[("desk", &["support", "nous", "us", "agent"]), ("requester", &["demandeur", "them"])]);
            let who = code_of(name, &vocabulary, &c.values[0])?;
            Ok(Condition::AwaitingDesk { negated: (who == "desk") == negated })
        }
        Field::Establishment => {
            if !set_op {
                return Err(op_error(c.op, name, c.column, "=, !=, IN and NOT IN"));
            }
            let values =
                c.values.iter().map(|v| text_of(v).map(|(t, _)| t.trim().to_owned())).collect::<Result<_, _>>()?;
            Ok(Condition::Establishment { values, negated })
        }
        Field::Key => match c.op {
            Operator::Eq | Operator::Ne | Operator::In | Operator::NotIn => {
                let (mut ids, mut aliases) = (Vec::new(), Vec::new());
                for value in &c.values {
                    match key_value(ctx, value) {
                        Ok(id) => ids.push(id),
                        Err(e) => aliases.push(alias_value(value).ok_or(e)?),
                    }
                }
                Ok(Condition::Keys { ids, aliases, negated })
            }
            Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge => {
                let op = match c.op {
                    Operator::Lt => TimeOp::Lt,
                    Operator::Le => TimeOp::Le,
                    Operator::Gt => TimeOp::Gt,
                    _ => TimeOp::Ge,
                };
                Ok(Condition::KeyCompare { op, id: key_value(ctx, &c.values[0])? })
            }
            _ => Err(op_error(c.op, name, c.column, "=, !=, IN, NOT IN, <, <=, > and >=")),
        },
        Field::Linked | Field::Incident => {
            let incident = field == Field::Incident;
            let ids = if empty_op {
                // `IS EMPTY` means "no link": the negation of "any link".
                return Ok(if incident {
                    Condition::Incident { ids: None, negated: !negated }
                } else {
                    Condition::Linked { ids: None, negated: !negated }
                });
            } else if set_op {
                let ids = if incident {
                    c.values.iter().map(incident_value).collect::<Result<_, _>>()?
                } else {
                    c.values.iter().map(|v| key_value(ctx, v)).collect::<Result<_, _>>()?
                };
                Some(ids)
            } else {
                return Err(op_error(c.op, name, c.column, "=, !=, IN, NOT IN and IS EMPTY"));
            };
            Ok(if incident { Condition::Incident { ids, negated } } else { Condition::Linked { ids, negated } })
        }
        Field::Text | Field::Title => match c.op {
            Operator::Contains | Operator::NotContains => {
                let (needle, column) = text_of(&c.values[0])?;
                if needle.trim().is_empty() {
                    return Err(QueryError::new("the text to look for is empty", column));
                }
                let needle = needle.trim().to_owned();
                if field == Field::Title {
                    return Ok(Condition::TitleContains { needle, negated });
                }
                if crate::search::SearchQuery::parse(&needle).is_err() {
                    return Err(QueryError::new("the text to look for has no word in it", column));
                }
                Ok(Condition::Text { needle, negated })
            }
            _ => Err(op_error(c.op, name, c.column, "~ (contains) and !~ (does not contain)")
                .hint(Some(format!("write {name} ~ \"mot de passe\"")))),
        },
    }
}

fn expr(ctx: &Context, e: &Expr) -> Result<Condition, QueryError> {
    Ok(match e {
        Expr::And(items) => Condition::All(items.iter().map(|i| expr(ctx, i)).collect::<Result<_, _>>()?),
        Expr::Or(items) => Condition::Any(items.iter().map(|i| expr(ctx, i)).collect::<Result<_, _>>()?),
        Expr::Not(inner) => Condition::Not(Box::new(expr(ctx, inner)?)),
        Expr::Clause(c) => clause(ctx, c)?,
    })
}

/// Checks a parsed query against the desk's vocabulary and evaluates it at `ctx.now`.
pub fn resolve(query: &Query, ctx: &Context) -> Result<Resolved, QueryError> {
    let condition = query.filter.as_ref().map(|f| expr(ctx, f)).transpose()?;
    let mut order = Vec::new();
    for (name, column, descending) in &query.order {
        let (field, canonical) = field_of(name, *column)?;
        let key = match field {
            Field::Key => SortKey::Key,
            Field::Created => SortKey::Created,
            Field::Updated => SortKey::Updated,
            Field::Resolved => SortKey::Resolved,
            Field::Priority => SortKey::Priority,
            Field::Status => SortKey::Status,
            Field::Title => SortKey::Title,
            Field::Type => SortKey::Type,
            Field::Due => SortKey::Due,
            _ => {
                return Err(QueryError::new(format!("cannot sort by `{canonical}`"), *column).hint(Some(
                    "sort by key, created, updated, resolved, due, priority, status, title or type".into(),
                )))
            }
        };
        order.push((key, *descending));
    }
    Ok(Resolved { condition, order })
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn ctx() -> Context {
        let s = |c: &str, fr: &str, en: &str| (c.to_owned(), fr.to_owned(), en.to_owned());
        Context {
            // Wednesday 2026-03-25 15:00 in Paris (UTC+1), four days before the switch to summer time.
            now: "2026-03-25T14:00:00Z".parse().unwrap(),
            tz: chrono_tz::Europe::Paris,
            key_prefix: "SUP".into(),
            statuses: vec![
                s("new", "Nouvelle", "New"),
                s("in_progress", "En cours", "In progress"),
                s("waiting_on_requester", "En attente du demandeur", "Waiting on requester"),
                s("resolved", "Résolue", "Resolved"),
                s("closed", "Fermée", "Closed"),
            ],
            categories: vec![
                s("mail", "Messagerie", "Mail"),
                s("accounts", "Comptes et mots de passe", "Accounts and passwords"),
            ],
        }
    }

    fn run(text: &str) -> Result<Resolved, QueryError> {
        resolve(&parse(text)?, &ctx())
    }

    #[test]
    fn malformed_and_extreme_dates_are_errors_with_a_position_never_panics() {
        for text in [
            "created = é",
            "created = 7é",
            "created > 99999999999d",
            "created > -99999999999w",
            "created > 9223372036854775807m",
            "created > -9223372036854775808h",
            "created > startOfDay(9223372036854775807)",
            "created > startOfDay(-9223372036854775808)",
            "created > startOfWeek(9223372036854775807)",
            "created > startOfWeek(-99999999999d)",
            "created > startOfMonth(9223372036854775807)",
            "created > startOfMonth(-9223372036854775808)",
            "created > \"262143-12-31\"",
            "created > \"0999-12-31\"",
        ] {
            let error = run(text).expect_err(text);
            assert!(error.column >= 11, "{text}: {error:?}");
        }
        assert!(run("created > startOfDay(-36500)").is_ok(), "a century back is a date");
    }

    proptest::proptest! {
        #[test]
        fn any_text_resolves_or_fails_with_a_position(text in "\\PC{0,60}") {
            if let Ok(query) = parse(&text) {
                let _ = resolve(&query, &ctx());
            }
        }

        #[test]
        fn any_number_as_a_date_offset_resolves_or_fails_cleanly(
            n in proptest::num::i64::ANY,
            unit in proptest::sample::select(vec!["m", "h", "d", "j", "w", "s", ""]),
            function in proptest::sample::select(vec!["", "startOfDay", "startOfWeek", "startOfMonth"]),
        ) {
            let text = if function.is_empty() {
                format!("updated < {n}{unit}")
            } else {
                format!("updated < {function}({n}{unit})")
            };
            if let Ok(query) = parse(&text) {
                let _ = resolve(&query, &ctx());
            }
        }
    }

    #[test]
    fn links_and_incidents_are_queryable_by_key_or_emptiness() {
        assert_eq!(
            run("lié = SUP-12").unwrap().condition,
            Some(Condition::Linked { ids: Some(vec![12]), negated: false })
        );
        assert_eq!(run("linked IS EMPTY").unwrap().condition, Some(Condition::Linked { ids: None, negated: true }));
        assert_eq!(
            run("incident IN (INC-3, 4)").unwrap().condition,
            Some(Condition::Incident { ids: Some(vec![3, 4]), negated: false })
        );
        assert_eq!(
            run("incident IS NOT EMPTY").unwrap().condition,
            Some(Condition::Incident { ids: None, negated: false })
        );
        let err = run("incident = panne").unwrap_err();
        assert!(err.to_string().contains("not an incident"), "{err}");
        assert!(run("linked ~ SUP-1").is_err());
    }

    #[test]
    fn french_fields_and_values_resolve_to_codes() {
        let r =
            run(r#"statut = "en attente du demandeur" AND type = Anomalie AND priorité IN (haute, CRITIQUE)"#).unwrap();
        assert_eq!(
            r.condition,
            Some(Condition::All(vec![
                Condition::Codes {
                    column: CodeColumn::Status,
                    values: vec!["waiting_on_requester".into()],
                    negated: false
                },
                Condition::Codes { column: CodeColumn::Type, values: vec!["anomaly".into()], negated: false },
                Condition::Codes {
                    column: CodeColumn::Priority,
                    values: vec!["high".into(), "critical".into()],
                    negated: false
                },
            ]))
        );
        assert_eq!(run("status != résolu").unwrap(), run("status != resolved").unwrap());
        assert_eq!(run("catégorie = messagerie").unwrap(), run("category = mail").unwrap());
    }

    #[test]
    fn a_status_is_found_whatever_the_gender_and_number_a_desk_types() {
        let new = run("status = new").unwrap();
        for typed in ["nouveau", "Nouvelle", "nouveaux", "nouvelles", "NOUVEAU"] {
            assert_eq!(run(&format!("statut = {typed}")).unwrap(), new, "{typed}");
        }
        let closed = run("status = closed").unwrap();
        for typed in ["fermé", "fermée", "fermés", "fermees"] {
            assert_eq!(run(&format!("statut = {typed}")).unwrap(), closed, "{typed}");
        }
        for typed in ["résolu", "résolue", "resolus", "résolues"] {
            assert_eq!(run(&format!("statut = {typed}")).unwrap(), run("status = resolved").unwrap(), "{typed}");
        }
        assert!(run("statut = nouvel").is_ok(), "the masculine before a vowel too");
        assert!(run("statut = neuf").is_err());
    }

    #[test]
    fn establishment_names_are_pinned_to_ids_in_place_wherever_they_are() {
        let r = run("(établissement = 0750655E OR NOT école = \"Lycée B\") AND type = anomalie").unwrap();
        let condition = r.condition.unwrap();
        let names: Vec<Vec<String>> = condition.establishment_names().into_iter().map(<[String]>::to_vec).collect();
        assert_eq!(names, [vec!["0750655E".to_owned()], vec!["Lycée B".to_owned()]]);
        let pinned = condition.pin_establishments(&mut [vec![7], vec![]].into_iter());
        let Condition::All(items) = pinned else { panic!("{pinned:?}") };
        assert_eq!(
            items[0],
            Condition::Any(vec![
                Condition::EstablishmentIds { ids: vec![7], negated: false },
                Condition::Not(Box::new(Condition::EstablishmentIds { ids: vec![], negated: false })),
            ])
        );
        assert!(items[0].establishment_names().is_empty());
    }

    #[test]
    fn typos_get_a_suggestion_and_a_position() {
        let e = run("stauts = new").unwrap_err();
        assert_eq!(e.to_string(), "unknown field `stauts` at column 1, did you mean `status`?");
        let e = run("type = anomly").unwrap_err();
        assert_eq!((e.column, e.hint.as_deref()), (8, Some("did you mean `anomaly`?")));
        let e = run("created > startOfWek()").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `startOfWeek()`?"));
        let e = run("priority < high").unwrap_err();
        assert!(e.to_string().starts_with("operator `<` does not apply to `priority`"), "{e}");
        let e = run("title = panne").unwrap_err();
        assert!(e.hint.unwrap().contains("~"));
    }

    #[test]
    fn date_functions_use_the_desks_time_zone() {
        let at = |text: &str| match run(text).unwrap().condition {
            Some(Condition::Time { at, .. }) => at,
            other => panic!("{other:?}"),
        };
        // Paris is UTC+1 in winter: local midnight is 23:00 UTC the day before.
        assert_eq!(at("created >= startOfDay()"), "2026-03-24T23:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(at("created >= startOfDay(-7d)"), "2026-03-17T23:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(at("created >= startOfWeek()"), "2026-03-22T23:00:00Z".parse::<DateTime<Utc>>().unwrap());
        // Next week's Monday is in summer time (UTC+2).
        assert_eq!(at("created >= startOfWeek(1)"), "2026-03-29T22:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(at("created >= startOfMonth(-1)"), "2026-01-31T23:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(at("updated > -2h"), "2026-03-25T12:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(at("created < 2026-03-01"), "2026-02-28T23:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(at(r#"created < "2026-04-01 12:00""#), "2026-04-01T10:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(at("created < now()"), ctx().now);
        assert!(run("created < hier").is_err());
    }

    #[test]
    fn people_keys_emptiness_and_text_resolve() {
        assert_eq!(
            run("assignee = currentUser() OR assignee IS EMPTY").unwrap().condition,
            Some(Condition::Any(vec![
                Condition::Person { column: PersonColumn::Assignee, values: vec![PersonValue::Me], negated: false },
                Condition::Empty { column: EmptyColumn::Assignee, negated: false },
            ]))
        );
        assert_eq!(
            run("key IN (SUP-1, sup-22)").unwrap().condition,
            Some(Condition::Keys { ids: vec![1, 22], aliases: vec![], negated: false })
        );
        assert_eq!(
            run("clé = jira-123 OR key IN (SUP-4, GLPI-77)").unwrap().condition,
            Some(Condition::Any(vec![
                Condition::Keys { ids: vec![], aliases: vec!["JIRA-123".into()], negated: false },
                Condition::Keys { ids: vec![4], aliases: vec!["GLPI-77".into()], negated: false },
            ]))
        );
        assert!(run("key = bonjour").unwrap_err().message.contains("not a ticket key"));
        // The words a desk types for a status, not only its label's.
        for (typed, code) in [("nouveau", "new"), ("résolu", "resolved"), ("clos", "closed"), ("fermé", "closed")] {
            let condition = run(&format!("statut = {typed}")).unwrap().condition;
            assert!(
                matches!(&condition, Some(Condition::Codes { values, .. }) if values == &[code.to_owned()]),
                "{typed}: {condition:?}"
            );
        }
        let waiting = run(r#"statut = "en attente""#).unwrap().condition;
        assert!(
            matches!(&waiting, Some(Condition::Codes { values, .. }) if values == &["waiting_on_requester".to_owned()])
        );
        // Another prefix is another system's key: an imported ticket's alias.
        assert!(matches!(run("key = OPS-1").unwrap().condition, Some(Condition::Keys { ids, .. }) if ids.is_empty()));
        assert!(run("key < OPS-1").is_err());
        assert_eq!(
            run(r#"text ~ "mot de passe""#).unwrap().condition,
            Some(Condition::Text { needle: "mot de passe".into(), negated: false })
        );
        assert_eq!(
            run("uai = 0750655E").unwrap().condition,
            Some(Condition::Establishment { values: vec!["0750655E".into()], negated: false })
        );
    }

    #[test]
    fn order_by_accepts_sortable_fields_only() {
        assert_eq!(
            run("ORDER BY priorité DESC, clé").unwrap().order,
            vec![(SortKey::Priority, true), (SortKey::Key, false)]
        );
        assert!(run("ORDER BY text").is_err());
    }

    #[test]
    fn awaiting_says_whose_turn_it_is() {
        assert_eq!(run("awaiting = desk").unwrap().condition, Some(Condition::AwaitingDesk { negated: false }));
        assert_eq!(run("attente = demandeur").unwrap().condition, Some(Condition::AwaitingDesk { negated: true }));
        assert_eq!(run("awaiting != nous").unwrap().condition, Some(Condition::AwaitingDesk { negated: true }));
        assert!(run("awaiting = martians").is_err());
    }

    #[test]
    fn named_people_are_replaced_by_their_ids_and_a_name_nobody_has_by_none() {
        let person = |values| Condition::Person { column: PersonColumn::Assignee, values, negated: false };
        let condition = Condition::All(vec![
            person(vec![PersonValue::Me, PersonValue::Name("claire".into())]),
            Condition::Not(Box::new(person(vec![PersonValue::Name("personne".into())]))),
        ]);
        assert_eq!(condition.person_names(), vec!["claire", "personne"]);
        let pinned = condition.pin_people(&mut vec![vec![4, 9], vec![]].into_iter());
        assert_eq!(
            pinned,
            Condition::All(vec![
                person(vec![PersonValue::Me, PersonValue::Id(4), PersonValue::Id(9)]),
                Condition::Not(Box::new(person(vec![]))),
            ])
        );
    }

    #[test]
    fn categories_are_replaced_by_their_numbers_and_a_code_without_one_by_none() {
        let condition = run("catégorie = messagerie AND category NOT IN (accounts, mail) AND category IN (accounts)")
            .unwrap()
            .condition
            .unwrap();
        let id_of = |code: &str| match code {
            "mail" => Some(3),
            "accounts" => None,
            _ => Some(99),
        };
        assert_eq!(
            condition.pin_categories(&id_of),
            Condition::All(vec![
                Condition::CategoryIds { ids: vec![3], negated: false },
                Condition::CategoryIds { ids: vec![3], negated: true },
                Condition::CategoryIds { ids: vec![], negated: false },
            ])
        );
    }
}
