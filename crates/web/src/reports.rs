//! The tables behind the reports, shared by the JSON API, the CSV export
//! and the pages, so that the three always say the same thing.

use guichet_app::reports::{Escalations, Share, SlaReport, TimeStats, Times, Volume};
use guichet_app::satisfaction::{SatisfactionReport, SatisfactionRow};
use guichet_store::reports::Activity;

/// A report as a table: column names and rows of text.
pub struct Table {
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// Hours with one decimal, as spreadsheets read them in French (`2,5`) or English.
pub fn hours(seconds: Option<i64>, decimal_comma: bool) -> String {
    match seconds {
        None => String::new(),
        Some(s) => {
            let h = format!("{:.1}", s as f64 / 3600.0);
            if decimal_comma {
                h.replace('.', ",")
            } else {
                h
            }
        }
    }
}

pub fn volume(v: &Volume) -> Table {
    Table {
        headers: vec!["period", "from", "to", "created", "resolved", "backlog"],
        rows: v
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.label.clone(),
                    r.first.to_string(),
                    r.last.to_string(),
                    r.created.to_string(),
                    r.resolved.to_string(),
                    r.backlog.to_string(),
                ]
            })
            .collect(),
    }
}

pub fn breakdown(shares: &[Share]) -> Table {
    Table {
        headers: vec!["key", "label", "count"],
        rows: shares.iter().map(|s| vec![s.key.clone(), s.label.clone(), s.count.to_string()]).collect(),
    }
}

fn stats_rows(name: &str, s: &TimeStats, comma: bool) -> Vec<Vec<String>> {
    let mut rows = vec![
        vec![name.to_owned(), "count".into(), s.count.to_string()],
        vec![name.to_owned(), "median_hours".into(), hours(s.median, comma)],
        vec![name.to_owned(), "p90_hours".into(), hours(s.p90, comma)],
    ];
    rows.extend(s.distribution.iter().map(|(class, n)| vec![name.to_owned(), class.clone(), n.to_string()]));
    rows
}

pub fn times(t: &Times, comma: bool) -> Table {
    let mut rows = stats_rows("first_response", &t.first_response, comma);
    rows.extend(stats_rows("resolution", &t.resolution, comma));
    Table { headers: vec!["measure", "statistic", "value"], rows }
}

pub fn sla(s: &SlaReport) -> Table {
    Table {
        headers: vec!["type", "priority", "resolved", "met", "met_percent"],
        rows: s
            .rows
            .iter()
            .map(|r| {
                let pct = if r.resolved == 0 { 0 } else { (r.met * 100 + r.resolved / 2) / r.resolved };
                vec![
                    r.ticket_type.clone(),
                    r.priority.clone(),
                    r.resolved.to_string(),
                    r.met.to_string(),
                    pct.to_string(),
                ]
            })
            .collect(),
    }
}

pub fn agents(a: &[Activity]) -> Table {
    Table {
        headers: vec!["agent", "tickets", "replies", "internal_notes", "resolutions"],
        rows: a
            .iter()
            .map(|a| {
                vec![
                    a.name.clone(),
                    a.tickets.to_string(),
                    a.replies.to_string(),
                    a.notes.to_string(),
                    a.resolutions.to_string(),
                ]
            })
            .collect(),
    }
}

pub fn escalations(e: &Escalations, comma: bool) -> Table {
    let rate = if e.created == 0 { 0 } else { e.escalated * 1000 / e.created };
    let mut rows = vec![
        vec!["created".into(), e.created.to_string()],
        vec!["escalated".into(), e.escalated.to_string()],
        vec!["escalation_rate_percent".into(), format!("{}{}{}", rate / 10, if comma { "," } else { "." }, rate % 10)],
        vec!["median_hours_at_technical".into(), hours(e.time_at_technical.median, comma)],
        vec!["p90_hours_at_technical".into(), hours(e.time_at_technical.p90, comma)],
    ];
    rows.extend(e.time_at_technical.distribution.iter().map(|(c, n)| vec![format!("at_technical {c}"), n.to_string()]));
    Table { headers: vec!["measure", "value"], rows }
}

/// Satisfaction: one row per group (`period`, `type`, `category`, `tier`,
/// and `agent` for administrators), with answers, mean rating and the share
/// rated 4 or 5.
pub fn satisfaction(r: &SatisfactionReport, comma: bool) -> Table {
    let decimal = |v: Option<f64>| {
        v.map(|v| {
            let text = format!("{v:.1}");
            if comma {
                text.replace('.', ",")
            } else {
                text
            }
        })
        .unwrap_or_default()
    };
    let row = |group: &str, x: &SatisfactionRow, sent: Option<i64>| {
        vec![
            group.to_owned(),
            x.label.clone(),
            sent.map(|s| s.to_string()).unwrap_or_default(),
            x.answered.to_string(),
            decimal(x.average),
            x.satisfied_percent.map(|p| p.to_string()).unwrap_or_default(),
        ]
    };
    let mut rows = vec![row("total", &r.total, Some(r.sent))];
    rows.extend(r.periods.iter().map(|(x, sent)| row("period", x, Some(*sent))));
    rows.extend(r.by_type.iter().map(|x| row("type", x, None)));
    rows.extend(r.by_category.iter().map(|x| row("category", x, None)));
    rows.extend(r.by_tier.iter().map(|x| row("tier", x, None)));
    if let Some(agents) = &r.by_agent {
        rows.extend(agents.iter().map(|x| row("agent", x, None)));
    }
    Table { headers: vec!["group", "value", "surveys_sent", "answers", "average_rating", "satisfied_percent"], rows }
}

/// Knowledge-base articles that answered a question instead of a request.
pub fn deflections(rows: &[(i64, String, i64)]) -> Table {
    Table {
        headers: vec!["article", "title", "deflections"],
        rows: rows.iter().map(|(id, title, n)| vec![id.to_string(), title.clone(), n.to_string()]).collect(),
    }
}

/// The table as CSV: `;`-separated for French spreadsheets, with a UTF-8 BOM when asked.
pub fn to_csv(table: &Table, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    let mut writer = csv::WriterBuilder::new().delimiter(b';').from_writer(out);
    // Writing to memory cannot fail but for a bug in the csv crate: an error leaves the table short.
    let _ = writer.write_record(&table.headers);
    for row in &table.rows {
        let _ = writer.write_record(row.iter().map(|cell| defuse(cell).into_owned()));
    }
    writer.into_inner().unwrap_or_default()
}

/// A cell a spreadsheet would run as a formula (`=HYPERLINK(…)` in a
/// school's or a category's name) is written as text, with a leading `'`.
/// Numbers stay numbers.
fn defuse(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let number = cell.replace(',', ".").parse::<f64>().is_ok();
    if risky && !number {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_uses_semicolons_quotes_when_needed_and_an_optional_bom() {
        let t = Table { headers: vec!["a", "b"], rows: vec![vec!["x;y".into(), "élève".into()]] };
        assert_eq!(String::from_utf8(to_csv(&t, false)).unwrap(), "a;b\n\"x;y\";élève\n");
        assert!(to_csv(&t, true).starts_with(&[0xef, 0xbb, 0xbf]));
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_written_as_text() {
        let rows = ["=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "-3,5", "Lycée", "12"];
        let t = Table { headers: vec!["name"], rows: rows.iter().map(|r| vec![(*r).to_owned()]).collect() };
        let csv = String::from_utf8(to_csv(&t, false)).unwrap();
        let cells: Vec<&str> = csv.lines().skip(1).collect();
        assert_eq!(
            cells,
            ["\"'=HYPERLINK(\"\"http://evil\"\")\"", "'+1+1", "'-2+3", "'@SUM(A1)", "'\tx", "-3,5", "Lycée", "12"]
        );
    }

    #[test]
    fn hours_have_a_decimal_comma_for_french_spreadsheets() {
        assert_eq!(hours(Some(9000), true), "2,5");
        assert_eq!(hours(Some(9000), false), "2.5");
        assert_eq!(hours(None, true), "");
    }
}
