//! Reports on a hand-built data set whose figures are known, on both
//! backends: a ticket created in one month and resolved in the next, one
//! reopened and resolved again, tickets on each side of a DST change.
#![allow(clippy::unwrap_used)]

use axum::http::StatusCode;
use guichet_testkit::{backend_test, json, Fixture, TestApp};

const PASSWORD: &str = "correct horse battery";

struct Data {
    f: Fixture,
}

async fn at(app: &TestApp, instant: &str) {
    let target: chrono::DateTime<chrono::Utc> = instant.parse().unwrap();
    let now = app.app.now();
    assert!(target >= now, "the clock only moves forward");
    app.clock.advance(target - now);
}

async fn file(app: &TestApp, token: &str, uai: &str, title: &str) -> String {
    let r = app.post("/api/v1/tickets", token, json!({"title": title, "establishment": uai})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    r.json()["key"].as_str().unwrap().to_owned()
}

async fn resolve(app: &TestApp, agent: &str, key: &str) {
    let path = format!("/api/v1/tickets/{key}");
    app.patch(&path, agent, json!({"status": "in_progress"})).await;
    let r = app.patch(&path, agent, json!({"status": "resolved", "resolution": "fixed"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
}

/// Monday 2 March 2026, 14:00 in Paris: the fixture files one ticket per
/// school and escalates both. Then:
/// - A (school A) is filed on 2 March and resolved on 1 April;
/// - B (school A) is filed on 2 March, resolved on 3 March, reopened on
///   10 March and resolved again on 2 April;
/// - D (school B) is filed on 29 March at 22:30 UTC, 30 March 00:30 in Paris;
/// - C (school A) is filed on 31 March at 22:30 UTC, already 1 April in Paris
///   (summer time since 29 March).
async fn data(app: &TestApp) -> Data {
    let f = app.fixture().await;
    let a = file(app, &f.requester_a, &f.uai_a, "A").await;
    let b = file(app, &f.requester_a, &f.uai_a, "B").await;
    at(app, "2026-03-03T13:00:00Z").await;
    resolve(app, &f.agent, &b).await;
    at(app, "2026-03-10T13:00:00Z").await;
    let reopen = app.patch(&format!("/api/v1/tickets/{b}"), &f.requester_a, json!({"status": "in_progress"})).await;
    assert_eq!(reopen.status, StatusCode::OK);
    at(app, "2026-03-29T22:30:00Z").await;
    file(app, &f.requester_b, &f.uai_b, "D").await;
    at(app, "2026-03-31T22:30:00Z").await;
    file(app, &f.requester_a, &f.uai_a, "C").await;
    at(app, "2026-04-01T10:00:00Z").await;
    resolve(app, &f.agent, &a).await;
    at(app, "2026-04-02T10:00:00Z").await;
    resolve(app, &f.agent, &b).await;
    Data { f }
}

fn rows(v: &serde_json::Value) -> Vec<(String, i64, i64, i64)> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["period"].as_str().unwrap().to_owned(),
                r["created"].as_i64().unwrap(),
                r["resolved"].as_i64().unwrap(),
                r["backlog"].as_i64().unwrap(),
            )
        })
        .collect()
}

backend_test!(created_resolved_and_backlog_per_month_follow_local_time_and_the_last_resolution, |app| async move {
    let d = data(&app).await;
    let r = app.get("/api/v1/reports/volume?from=2026-03-01&to=2026-04-30&granularity=month", &d.f.agent).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    let v = r.json();
    assert_eq!(v["backlog_before"], 0);
    // March: the fixture's two, A, B and D; B's first resolution was undone.
    // April: C (1 April in Paris), A and B resolved.
    assert_eq!(rows(&v), [("2026-03".into(), 5, 0, 5), ("2026-04".into(), 1, 2, 4)]);
    assert_eq!((v["created"].as_i64(), v["resolved"].as_i64()), (Some(6), Some(2)));
    // By day across the change to summer time: D falls on 30 March in Paris.
    let days = app.get("/api/v1/reports/volume?from=2026-03-29&to=2026-03-30&granularity=day", &d.f.agent).await.json();
    assert_eq!(rows(&days), [("2026-03-29".into(), 0, 0, 4), ("2026-03-30".into(), 1, 0, 5)]);
    // Resolutions may exceed arrivals: April by week shows it as it is.
    let weeks =
        app.get("/api/v1/reports/volume?from=2026-04-01&to=2026-04-05&granularity=week", &d.f.agent).await.json();
    assert_eq!(rows(&weeks), [("2026-W14".into(), 1, 2, 4)]);
});

backend_test!(a_requester_reads_reports_of_their_own_establishments_only, |app| async move {
    let d = data(&app).await;
    let path = "/api/v1/reports/volume?from=2026-03-01&to=2026-04-30&granularity=month";
    let own = app.get(path, &d.f.requester_a).await.json();
    assert_eq!(rows(&own), [("2026-03".into(), 3, 0, 3), ("2026-04".into(), 1, 2, 2)]);
    // Asking for the other school gives nothing of it.
    let other = app.get(&format!("{path}&establishment={}", d.f.uai_b), &d.f.requester_a).await.json();
    assert_eq!(other["created"], 0);
    let by_school = app
        .get("/api/v1/reports/breakdown?from=2026-03-01&to=2026-04-30&dimension=establishment", &d.f.requester_a)
        .await
        .json();
    assert_eq!(by_school.as_array().unwrap().len(), 1);
    assert_eq!(by_school[0]["key"], d.f.uai_a.as_str());
    assert_eq!(by_school[0]["count"], 4);
    let agents = app.get("/api/v1/reports/agents?from=2026-03-01&to=2026-04-30", &d.f.requester_a).await;
    assert_eq!(agents.status, StatusCode::FORBIDDEN);
    for report in ["volume", "breakdown", "times", "sla", "agents", "escalations"] {
        let r = app.request(axum::http::Method::GET, &format!("/api/v1/reports/{report}"), None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{report}");
    }
    // Pages: the requester's report has no desk activity; its CSV is closed to them.
    let s = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    let page = String::from_utf8_lossy(&app.page(&s.cookie, "/reports?from=2026-03-01&to=2026-04-30").await.bytes)
        .into_owned();
    assert!(page.contains("Demandes reçues et résolues") && !page.contains("Activité du support"));
    assert!(!page.contains("Lycée Paul Éluard"), "nothing of the other school");
    let csv = app.page(&s.cookie, "/reports/agents.csv?from=2026-03-01&to=2026-04-30").await;
    assert_eq!(csv.status, StatusCode::FORBIDDEN);
});

backend_test!(breakdowns_times_service_levels_activity_and_escalations_are_counted, |app| async move {
    let d = data(&app).await;
    let q = "from=2026-03-01&to=2026-04-30";
    let by_school = app.get(&format!("/api/v1/reports/breakdown?{q}&dimension=establishment"), &d.f.agent).await.json();
    let counts: Vec<(String, i64)> = by_school
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["key"].as_str().unwrap().to_owned(), s["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(counts, [(d.f.uai_a.clone(), 4), (d.f.uai_b.clone(), 2)]);
    let top1 =
        app.get(&format!("/api/v1/reports/breakdown?{q}&dimension=establishment&top=1"), &d.f.agent).await.json();
    assert_eq!(top1[1]["key"], "others");
    assert_eq!(top1[1]["count"], 2);
    let by_tier = app.get(&format!("/api/v1/reports/breakdown?{q}&dimension=tier"), &d.f.agent).await.json();
    assert_eq!((by_tier[0]["key"].as_str(), by_tier[0]["count"].as_i64()), (Some("support"), Some(4)));

    let times = app.get("/api/v1/reports/times?from=2026-04-01&to=2026-04-30", &d.f.agent).await.json();
    assert_eq!(times["resolution"]["count"], 2);
    let classes: i64 =
        times["resolution"]["distribution"].as_array().unwrap().iter().map(|c| c[1].as_i64().unwrap()).sum();
    assert_eq!(classes, 2);
    // Over several weeks (SQLite reads a period a week at a time), each once.
    for period in ["from=2026-03-01&to=2026-04-30", "from=2026-01-01&to=2026-12-31&granularity=month"] {
        let times = app.get(&format!("/api/v1/reports/times?{period}"), &d.f.agent).await.json();
        assert_eq!(times["resolution"]["count"], 2, "{period}: {times}");
    }

    let sla = app.get("/api/v1/reports/sla?from=2026-04-01&to=2026-04-30", &d.f.agent).await.json();
    let resolved: i64 = sla["rows"].as_array().unwrap().iter().map(|r| r["resolved"].as_i64().unwrap()).sum();
    assert_eq!(resolved, 2);

    let agents = app.get(&format!("/api/v1/reports/agents?{q}"), &d.f.agent).await.json();
    let claire = agents.as_array().unwrap().iter().find(|a| a["agent"] == "Claire Oreja").unwrap();
    // B resolved twice, A once; the fixture's reply, note and escalation summary on each school's ticket.
    assert_eq!(
        (claire["resolutions"].as_i64(), claire["replies"].as_i64(), claire["internal_notes"].as_i64()),
        (Some(3), Some(2), Some(4))
    );
    // Six messages on two tickets: each ticket once.
    assert_eq!(claire["tickets"], 2, "{claire}");
    // Narrowed to one school, only that school's tickets count: A and B are school A's.
    for (uai, expected) in [(&d.f.uai_a, (Some(3), Some(1), Some(2))), (&d.f.uai_b, (Some(0), Some(1), Some(2)))] {
        let school = app.get(&format!("/api/v1/reports/agents?{q}&establishment={uai}"), &d.f.agent).await.json();
        let claire = school.as_array().unwrap().iter().find(|a| a["agent"] == "Claire Oreja").unwrap();
        let counts = (claire["resolutions"].as_i64(), claire["replies"].as_i64(), claire["internal_notes"].as_i64());
        assert_eq!(counts, expected, "{uai}: {school}");
        assert_eq!(claire["tickets"], 1, "{uai}: {school}");
    }
    let april = app.get("/api/v1/reports/agents?from=2026-04-01&to=2026-04-30", &d.f.agent).await.json();
    assert_eq!(april[0]["resolutions"], 2);

    let esc = app.get("/api/v1/reports/escalations?from=2026-03-01&to=2026-03-31", &d.f.agent).await.json();
    assert_eq!((esc["created"].as_i64(), esc["escalated"].as_i64()), (Some(5), Some(2)));
    assert_eq!(esc["time_at_technical"]["count"], 2);
    assert!(esc["time_at_technical"]["median_hours"].as_f64().unwrap() > 100.0, "still there a month later: {esc}");
});

// The desk's comments of a period are read in two halves of its time side
// by side: a ticket written on in both halves is one ticket, and the
// replies, notes and resolutions of both halves add up.
backend_test!(a_ticket_written_on_early_and_late_in_a_period_counts_once_in_the_desk_activity, |app| async move {
    let f = app.fixture().await;
    let comment = |key: String, body: &'static str, internal: bool| {
        let app = &app;
        let agent = f.agent.clone();
        async move {
            let path = format!("/api/v1/tickets/{key}/comments");
            let r = app.post(&path, &agent, json!({"body": body, "internal": internal})).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.bytes));
        }
    };
    at(&app, "2026-05-04T08:00:00Z").await;
    comment(f.ticket_a.clone(), "Pouvez-vous redémarrer le poste ?", false).await;
    resolve(&app, &f.agent, &f.ticket_a).await;
    at(&app, "2026-08-20T08:00:00Z").await;
    comment(f.ticket_a.clone(), "Le problème est-il revenu ?", false).await;
    comment(f.ticket_b.clone(), "Relancer l'école en septembre", true).await;
    resolve(&app, &f.agent, &f.ticket_b).await;
    let agents = app.get("/api/v1/reports/agents?from=2026-05-01&to=2026-08-31", &f.agent).await.json();
    let claire = agents.as_array().unwrap().iter().find(|a| a["agent"] == "Claire Oreja").unwrap();
    let counts = (claire["replies"].as_i64(), claire["internal_notes"].as_i64(), claire["tickets"].as_i64());
    assert_eq!(counts, (Some(2), Some(1), Some(2)), "{claire}");
    assert_eq!(claire["resolutions"], 2, "{claire}");
    // Each half alone.
    let may = app.get("/api/v1/reports/agents?from=2026-05-01&to=2026-05-31", &f.agent).await.json();
    assert_eq!((may[0]["replies"].as_i64(), may[0]["tickets"].as_i64()), (Some(1), Some(1)), "{may}");
});

// The changes of tier come per ticket in time order (one JSON array on
// SQLite): a ticket sent to level 2, back to level 1 and to level 2 again is
// one escalated ticket with two stays, each measured to its own end.
backend_test!(a_ticket_escalated_twice_counts_once_with_two_stays_at_level_two, |app| async move {
    let f = app.fixture().await;
    let key = file(&app, &f.requester_a, &f.uai_a, "E").await;
    let path = format!("/api/v1/tickets/{key}");
    let escalate = json!({"summary": "Reproduit sur deux postes"});
    let r = app.post(&format!("{path}/escalate"), &f.agent, escalate.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    app.clock.advance(chrono::Duration::days(1));
    let back =
        app.post(&format!("{path}/hand-back"), &f.technician, json!({"summary": "Besoin du numéro de poste"})).await;
    assert_eq!(back.status, StatusCode::OK, "{}", String::from_utf8_lossy(&back.bytes));
    app.clock.advance(chrono::Duration::days(1));
    let r = app.post(&format!("{path}/escalate"), &f.agent, escalate).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    let r = app.patch(&path, &f.technician, json!({"status": "resolved", "resolution": "fixed"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    let esc = app.get("/api/v1/reports/escalations?from=2026-03-01&to=2026-03-31", &f.agent).await.json();
    // The fixture's two tickets, escalated once each and still there, and E.
    assert_eq!(esc["escalated"], 3, "{esc}");
    assert_eq!(esc["time_at_technical"]["count"], 4, "{esc}");
});

backend_test!(reports_export_csv_for_french_spreadsheets_and_refuse_bad_parameters, |app| async move {
    let d = data(&app).await;
    let r = app
        .get("/api/v1/reports/volume?from=2026-03-01&to=2026-04-30&granularity=month&format=csv&bom=true", &d.f.agent)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
    assert!(r.headers["content-disposition"].to_str().unwrap().contains("guichet-volume-2026-03-01-2026-04-30.csv"));
    let text = String::from_utf8(r.bytes.to_vec()).unwrap();
    assert_eq!(text, "\u{feff}period;from;to;created;resolved;backlog\n2026-03;2026-03-01;2026-03-31;5;0;5\n2026-04;2026-04-01;2026-04-30;1;2;4\n");
    for (query, field) in [
        ("from=2026-02-30", "from"),
        ("from=2026-04-01&to=2026-03-01", "to"),
        ("from=2020-01-01&to=2026-01-01&granularity=day", "granularity"),
        ("granularity=hour", "granularity"),
        ("format=xlsx", "format"),
        ("type=bug", "type"),
        ("q=stauts%20%3D%20new", "q"),
        ("colour=red", "colour"),
    ] {
        let r = app.get(&format!("/api/v1/reports/volume?{query}"), &d.f.agent).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {}", String::from_utf8_lossy(&r.bytes));
        assert_eq!(r.json()["error"]["field"], field, "{query}");
    }
    let missing = app.get("/api/v1/reports/volume?filter=999999", &d.f.agent).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "no such saved filter");
    // The page, its charts with their text alternative, and a CSV link that works.
    let s = app.sign_in("claire@desk.test", PASSWORD).await;
    let page = String::from_utf8_lossy(
        &app.page(&s.cookie, "/reports?from=2026-03-01&to=2026-04-30&granularity=month").await.bytes,
    )
    .into_owned();
    assert!(page.contains("<svg class=\"chart\"") && page.contains("role=\"img\""));
    assert!(page.contains("Du 01/03/2026 au 30/04/2026 : 6 demandes reçues, 2 résolues"), "{page}");
    assert!(page.contains("Activité du support"));
    let csv =
        app.page(&s.cookie, "/reports/breakdown.csv?from=2026-03-01&to=2026-04-30&dimension=establishment&bom=1").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&csv.bytes).contains(&format!("{};Lycée Henri Wallon;4", d.f.uai_a)));
    let bad = String::from_utf8_lossy(&app.page(&s.cookie, "/reports?from=2026-99-01").await.bytes).into_owned();
    assert!(bad.contains("role=\"alert\""), "a readable message for a bad date");
});

backend_test!(a_saved_filter_narrows_a_report, |app| async move {
    let d = data(&app).await;
    let mine = app
        .post(
            "/api/v1/filters",
            &d.f.agent,
            json!({"name": "École A", "query": format!("uai = {} ORDER BY created", d.f.uai_a)}),
        )
        .await;
    assert_eq!(mine.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&mine.bytes));
    let id = mine.json()["id"].as_i64().unwrap();
    let v = app
        .get(&format!("/api/v1/reports/volume?from=2026-03-01&to=2026-04-30&granularity=month&filter={id}"), &d.f.agent)
        .await;
    assert_eq!(v.status, StatusCode::OK, "{}", String::from_utf8_lossy(&v.bytes));
    assert_eq!(rows(&v.json()), [("2026-03".into(), 3, 0, 3), ("2026-04".into(), 1, 2, 2)]);
    // Someone else's personal filter is not theirs to use.
    let other = app.get(&format!("/api/v1/reports/volume?filter={id}"), &d.f.technician).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "as if it did not exist");
});

backend_test!(
    service_levels_still_count_a_ticket_whose_priority_was_edited_by_hand_outside_the_vocabulary,
    |app| async move {
        let d = data(&app).await;
        app.execute("UPDATE tickets SET priority = 'urgent' WHERE title = 'A'").await;
        let sla = app.get("/api/v1/reports/sla?from=2026-04-01&to=2026-04-30", &d.f.agent).await.json();
        let rows = sla["rows"].as_array().unwrap();
        let resolved: i64 = rows.iter().map(|r| r["resolved"].as_i64().unwrap()).sum();
        assert_eq!(resolved, 2, "{sla}");
        assert!(rows.iter().any(|r| r["priority"] == "urgent" && r["resolved"] == 1), "{sla}");
    }
);

backend_test!(the_reports_page_names_categories_types_and_levels_in_the_readers_language, |app| async move {
    let d = data(&app).await;
    for key in ["A", "B"] {
        let found = app.get(&format!("/api/v1/tickets?q=title%20~%20{key}"), &d.f.agent).await.json();
        let ticket = found["items"].as_array().unwrap().iter().find(|t| t["title"] == key).unwrap().clone();
        let path = format!("/api/v1/tickets/{}", ticket["key"].as_str().unwrap());
        let r = app.patch(&path, &d.f.agent, json!({"category": "mail", "type": "assistance"})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    }
    let s = app.sign_in("claire@desk.test", PASSWORD).await;
    let path = "/reports?from=2026-03-01&to=2026-04-30&granularity=month";
    let french = String::from_utf8_lossy(&app.page(&s.cookie, path).await.bytes).into_owned();
    assert!(french.contains("Messagerie"), "{french}");
    let english =
        String::from_utf8_lossy(&app.page(&format!("{}; guichet_lang=en", s.cookie), path).await.bytes).into_owned();
    assert!(english.contains(">Mail<") || english.contains("Mail :"), "the category's English label: {english}");
    assert!(!english.contains("Messagerie"), "no French category label in English: {english}");
});

/// Each ticket's creation and current resolution, read straight from the
/// table: what the created-vs-resolved report counts.
async fn instants(app: &TestApp) -> Vec<(i64, Option<i64>)> {
    let mut conn = app.db.db.conn().await.unwrap();
    let sql = "SELECT created_at, resolved_at FROM tickets";
    match conn.raw() {
        guichet_store::db::Raw::Sqlite(c) => sqlx::query_as(sql).fetch_all(&mut *c).await.unwrap(),
        guichet_store::db::Raw::Postgres(c) => sqlx::query_as(sql).fetch_all(&mut *c).await.unwrap(),
    }
}

async fn execute(app: &TestApp, sql: &str, id: i64) {
    let mut conn = app.db.db.conn().await.unwrap();
    match conn.raw() {
        guichet_store::db::Raw::Sqlite(c) => drop(sqlx::query(sql).bind(id).execute(&mut *c).await.unwrap()),
        guichet_store::db::Raw::Postgres(c) => drop(sqlx::query(sql).bind(id).execute(&mut *c).await.unwrap()),
    }
}

/// The volume report counted by hand from every ticket's instants, in
/// `tz`: (period, created, resolved, backlog) per row, and the backlog before.
fn expected_volume(
    tickets: &[(i64, Option<i64>)],
    tz: chrono_tz::Tz,
    report: &serde_json::Value,
) -> (i64, Vec<(String, i64, i64, i64)>) {
    use chrono::TimeZone;
    let midnight = |date: &str| {
        let day: chrono::NaiveDate = date.parse().unwrap();
        tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap()).earliest().unwrap().timestamp_micros()
    };
    let next_midnight = |date: &str| {
        let day: chrono::NaiveDate = date.parse().unwrap();
        let next = day.succ_opt().unwrap();
        tz.from_local_datetime(&next.and_hms_opt(0, 0, 0).unwrap()).earliest().unwrap().timestamp_micros()
    };
    let rows = report["rows"].as_array().unwrap();
    let start = midnight(rows[0]["from"].as_str().unwrap());
    let before = tickets.iter().filter(|t| t.0 < start).count() as i64
        - tickets.iter().filter(|t| t.1.is_some_and(|r| r < start)).count() as i64;
    let mut backlog = before;
    let expected = rows
        .iter()
        .map(|row| {
            let (a, b) = (midnight(row["from"].as_str().unwrap()), next_midnight(row["to"].as_str().unwrap()));
            let created = tickets.iter().filter(|t| (a..b).contains(&t.0)).count() as i64;
            let resolved = tickets.iter().filter(|t| t.1.is_some_and(|r| (a..b).contains(&r))).count() as i64;
            backlog += created - resolved;
            (row["period"].as_str().unwrap().to_owned(), created, resolved, backlog)
        })
        .collect();
    (before, expected)
}

// Random histories (seeded, so a failure replays): a demo's bulk load in
// the months before, then tickets filed, resolved, reopened and resolved
// again through the API at random instants across both changes of summer
// time, a few creation dates corrected and tickets deleted by hand, and on
// PostgreSQL the hourly rows folded at random moments. The report, which
// reads the whole desk's hourly counts, must equal counting every ticket,
// by day, week and month, in Paris, in a half-hour zone (Kolkata) and in
// one whose summer time moves by half an hour (Lord Howe).
backend_test!(
    the_hourly_counts_give_the_same_report_as_counting_every_ticket_over_random_histories,
    |app| async move {
        use rand::{Rng, SeedableRng};
        let f = app.fixture().await;
        app.app
            .load_demo(&guichet_app::demo::DemoOptions {
                establishments: 3,
                tickets: 120,
                seed: 5,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(20_261_203);
        let (mut open, mut resolved): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
        let end: chrono::DateTime<chrono::Utc> = "2026-11-20T00:00:00Z".parse().unwrap();
        let mut step = 0;
        while app.app.now() < end {
            step += 1;
            // From a few minutes to three days, so that instants fall on every
            // side of midnights and hours.
            app.clock.advance(chrono::Duration::minutes(rng.gen_range(1..4_320)));
            match rng.gen_range(0..10) {
                0..=3 => {
                    let (token, uai) =
                        if rng.gen_bool(0.5) { (&f.requester_a, &f.uai_a) } else { (&f.requester_b, &f.uai_b) };
                    open.push(file(&app, token, uai, &format!("Ticket {step}")).await);
                }
                4..=6 if !open.is_empty() => {
                    let key = open.swap_remove(rng.gen_range(0..open.len()));
                    resolve(&app, &f.agent, &key).await;
                    resolved.push(key);
                }
                7 if !resolved.is_empty() => {
                    let key = resolved.swap_remove(rng.gen_range(0..resolved.len()));
                    let r =
                        app.patch(&format!("/api/v1/tickets/{key}"), &f.agent, json!({"status": "in_progress"})).await;
                    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
                    open.push(key);
                }
                8 => {
                    // A creation date corrected by hand, a few hours back.
                    let id: i64 = rng.gen_range(1..=120);
                    let sql = "UPDATE tickets SET created_at = created_at - 5400000000 WHERE id = $1";
                    execute(&app, sql, id).await;
                }
                9 if step % 4 == 0 => execute(&app, "DELETE FROM tickets WHERE id = $1", rng.gen_range(1..=120)).await,
                _ => {
                    let mut conn = app.db.db.conn().await.unwrap();
                    guichet_store::reports::fold_hour_counts(&mut conn).await.unwrap();
                }
            }
        }
        let tickets = instants(&app).await;
        assert!(tickets.len() > 150, "{} tickets", tickets.len());
        let mut calendar = app.get("/api/v1/calendar", &f.agent).await.json();
        for tz in [chrono_tz::Europe::Paris, chrono_tz::Asia::Kolkata, chrono_tz::Australia::Lord_Howe] {
            calendar["tz"] = json!(tz.name());
            let r =
                app.request(axum::http::Method::PUT, "/api/v1/calendar", Some(&f.admin), Some(calendar.clone())).await;
            assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
            for period in [
                "from=2025-11-01&to=2026-11-30&granularity=month",
                "from=2026-01-07&to=2026-11-19&granularity=week",
                "from=2026-03-20&to=2026-04-12&granularity=day",
                "from=2026-10-01&to=2026-10-31&granularity=day",
                "from=2026-04-05&to=2026-04-05&granularity=day",
            ] {
                let report = app.get(&format!("/api/v1/reports/volume?{period}"), &f.agent).await.json();
                let (before, expected) = expected_volume(&tickets, tz, &report);
                assert_eq!(
                    (report["backlog_before"].as_i64(), rows(&report)),
                    (Some(before), expected),
                    "{tz} {period}"
                );
            }
        }
    }
);

/// The escalations report starts from the tier changes to the technical
/// tier. PostgreSQL took "a change of tier" and "to the technical tier" for
/// independent, so it expected a hundredth of them (688 of the demo's
/// 65,939) and probed each one's ticket alone, on one processor: 385 ms
/// for the demo's year instead of 155 with the estimate right.
#[tokio::test]
async fn postgresql_expects_as_many_escalations_as_there_are_tier_changes_to_the_technical_tier() {
    let app = TestApp::new(guichet_testkit::Backend::Postgres).await;
    let f = app.fixture().await;
    let ticket = f.ticket_a.rsplit('-').next().unwrap();
    app.execute(&format!(
        "INSERT INTO ticket_events (ticket_id, actor_id, at, field, old_value, new_value, internal) \
         SELECT {ticket}, NULL, n, CASE WHEN n % 10 = 0 THEN 'tier' ELSE 'status' END, NULL, \
         CASE WHEN n % 10 = 0 THEN 'technical' ELSE 'in_progress' END, false FROM generate_series(1, 20000) n"
    ))
    .await;
    app.execute("ANALYZE ticket_events").await;
    let mut conn = app.app.db.conn().await.unwrap();
    let guichet_store::db::Raw::Postgres(c) = conn.raw() else { unreachable!("a PostgreSQL database") };
    let plan: serde_json::Value = sqlx::query_scalar(
        "EXPLAIN (FORMAT JSON) SELECT ticket_id FROM ticket_events \
         WHERE field = 'tier' AND new_value = 'technical' AND at >= 0 AND at < 100000",
    )
    .fetch_one(&mut *c)
    .await
    .unwrap();
    let expected = plan[0]["Plan"]["Plan Rows"].as_f64().unwrap();
    // 2,000 (and the fixture's own) are escalations; independent columns give about 200.
    assert!((1_000.0..4_000.0).contains(&expected), "PostgreSQL expects {expected} escalations of 2,000");
}

type Clocks = (i64, Option<i64>, i64);

/// The clocks of the tickets resolved in `[start, end)` (microseconds) by
/// SQL, optionally at one school, sorted.
async fn resolved_by_sql(app: &TestApp, school: Option<i64>, start: i64, end: i64) -> Vec<Clocks> {
    let mut conn = app.app.db.conn().await.unwrap();
    let sql = "SELECT created_at, first_response_at, resolved_at FROM tickets \
               WHERE resolved_at >= $1 AND resolved_at < $2 AND ($3 IS NULL OR establishment_id = $3)";
    let mut rows: Vec<Clocks> = guichet_store::on_conn!(conn, |c| sqlx::query_as(sql)
        .bind(start)
        .bind(end)
        .bind(school)
        .fetch_all(&mut *c)
        .await)
    .unwrap();
    rows.sort();
    rows
}

backend_test!(the_clocks_of_a_period_read_week_by_week_on_two_connections_are_each_read_once, |app| async move {
    let options = guichet_app::demo::DemoOptions { establishments: 3, tickets: 500, ..Default::default() };
    app.app.load_demo(&options).await.unwrap();
    assert!(app.app.db.parallel_reads(), "a spare connection reads every other week");
    // Some resolved without a first response (closed by the requester, say).
    app.execute("UPDATE tickets SET first_response_at = NULL WHERE id % 7 = 0").await;
    let now = app.app.now().timestamp_micros();
    let day = 86_400_000_000;
    // An edge on a resolution: the period includes its start and not its end.
    let edge = resolved_by_sql(&app, None, now - 40 * day, now).await[0].2;
    let school: i64 = {
        let mut conn = app.app.db.conn().await.unwrap();
        let sql = "SELECT establishment_id FROM tickets GROUP BY establishment_id ORDER BY COUNT(*) DESC LIMIT 1";
        guichet_store::on_conn!(conn, |c| sqlx::query_scalar(sql).fetch_one(&mut *c).await).unwrap()
    };
    let everything =
        guichet_store::tickets::TicketFilter { scope: guichet_domain::actor::TicketScope::All, ..Default::default() };
    let at_school = guichet_store::tickets::TicketFilter {
        scope: guichet_domain::actor::TicketScope::Establishments(vec![guichet_domain::ids::EstablishmentId(school)]),
        ..Default::default()
    };
    for (filter, school) in [(&everything, None), (&at_school, Some(school))] {
        for (start, end) in [(now - 120 * day, now + day), (edge, now), (now - 120 * day, edge), (now - 3 * day, now)] {
            let mut read: Vec<Clocks> = Vec::new();
            let mut conn = app.app.db.conn().await.unwrap();
            let (from, until) = (guichet_store::db::from_micros(start), guichet_store::db::from_micros(end));
            guichet_store::reports::for_each_resolved(&app.app.db, &mut conn, filter, from, until, |r| {
                read.push((r.created_at, r.first_response_at, r.resolved_at))
            })
            .await
            .unwrap();
            read.sort();
            let expected = resolved_by_sql(&app, school, start, end).await;
            assert_eq!(read, expected, "school {school:?}, [{start}, {end})");
        }
    }
    let all = resolved_by_sql(&app, None, now - 120 * day, now + day).await;
    assert!(all.len() > 300, "{} resolved", all.len());
    assert!(all.iter().any(|r| r.1.is_none()), "some were resolved without a reply");
});

backend_test!(the_desks_activity_read_in_two_halves_side_by_side_is_that_of_sql, |app| async move {
    let options = guichet_app::demo::DemoOptions { establishments: 3, tickets: 500, ..Default::default() };
    app.app.load_demo(&options).await.unwrap();
    let now = app.app.now().timestamp_micros();
    let day = 86_400_000_000;
    // One member's messages on one ticket, weeks apart.
    app.execute(
        "UPDATE comments SET created_at = created_at - 8 * 86400000000 WHERE id IN \
         (SELECT MIN(id) FROM comments GROUP BY author_id, ticket_id HAVING COUNT(*) > 1)",
    )
    .await;
    let resolved: Vec<String> = vec!["resolved".into(), "closed".into()];
    let everything =
        guichet_store::tickets::TicketFilter { scope: guichet_domain::actor::TicketScope::All, ..Default::default() };
    for (start, end) in [(now - 120 * day, now + day), (now - 45 * day, now - 9 * day), (now - 3 * day, now)] {
        let mut conn = app.app.db.conn().await.unwrap();
        let (from, until) = (guichet_store::db::from_micros(start), guichet_store::db::from_micros(end));
        let read = guichet_store::reports::agent_activity(&app.app.db, &mut conn, &everything, &resolved, from, until)
            .await
            .unwrap();
        let mut read: Vec<(i64, i64, i64, i64, i64)> =
            read.iter().map(|a| (a.user_id, a.replies, a.notes, a.tickets, a.resolutions)).collect();
        read.sort();
        // Each ticket once per member, in whichever half of the period it was written on.
        let sql = "SELECT u.id, \
             (SELECT COUNT(*) FROM comments c WHERE c.author_id = u.id AND NOT c.internal AND c.created_at >= $1 AND c.created_at < $2), \
             (SELECT COUNT(*) FROM comments c WHERE c.author_id = u.id AND c.internal AND c.created_at >= $1 AND c.created_at < $2), \
             (SELECT COUNT(DISTINCT c.ticket_id) FROM comments c WHERE c.author_id = u.id AND c.created_at >= $1 AND c.created_at < $2), \
             (SELECT COUNT(*) FROM ticket_events e WHERE e.actor_id = u.id AND e.field = 'status' \
              AND e.new_value IN ('resolved', 'closed') AND e.at >= $1 AND e.at < $2) \
             FROM users u WHERE u.role <> 'requester' ORDER BY u.id";
        let expected: Vec<(i64, i64, i64, i64, i64)> =
            guichet_store::on_conn!(conn, |c| sqlx::query_as(sql).bind(start).bind(end).fetch_all(&mut *c).await)
                .unwrap();
        let expected: Vec<_> = expected.into_iter().filter(|r| r.1 + r.2 + r.4 > 0).collect();
        assert_eq!(read, expected, "[{start}, {end})");
        if end - start > 100 * day {
            let weeks_apart: i64 = {
                let sql = "SELECT COUNT(*) FROM (SELECT author_id, ticket_id FROM comments \
                           GROUP BY author_id, ticket_id HAVING MAX(created_at) - MIN(created_at) > 7 * 86400000000) x";
                guichet_store::on_conn!(conn, |c| sqlx::query_scalar(sql).fetch_one(&mut *c).await).unwrap()
            };
            assert!(weeks_apart > 0, "some tickets were written on by one member in weeks apart");
            assert!(read.iter().map(|r| r.1).sum::<i64>() > 300, "{read:?}");
        }
    }
});

/// The daily rows of comments (migration 0046), and what the triggers keep
/// them as: every comment per person, ticket and UTC day.
async fn comment_days(app: &TestApp) -> (Vec<(i64, i64, i64, i64, i64)>, Vec<(i64, i64, i64, i64, i64)>) {
    let kept = "SELECT author_id, day, ticket_id, replies, notes FROM comment_days ORDER BY 1, 2, 3";
    let counted = "SELECT author_id, (created_at - ((created_at % 86400000000) + 86400000000) % 86400000000) \
                   / 86400000000, ticket_id, \
                   CAST(SUM(CASE WHEN internal THEN 0 ELSE 1 END) AS BIGINT), \
                   CAST(SUM(CASE WHEN internal THEN 1 ELSE 0 END) AS BIGINT) \
                   FROM comments GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
    let mut conn = app.app.db.conn().await.unwrap();
    let kept = guichet_store::on_conn!(conn, |c| sqlx::query_as(kept).fetch_all(&mut *c).await).unwrap();
    let counted = guichet_store::on_conn!(conn, |c| sqlx::query_as(counted).fetch_all(&mut *c).await).unwrap();
    (kept, counted)
}

// Random histories (seeded, so a failure replays): a demo's bulk load,
// then replies, notes and requesters' messages through the API at random
// instants, tickets merged (their comments move), comments moved across
// midnights or turned into notes by hand, tickets deleted. The daily rows
// must stay those of the comments, none left empty.
backend_test!(the_daily_rows_of_comments_stay_those_of_the_comments_over_random_histories, |app| async move {
    use rand::{Rng, SeedableRng};
    let f = app.fixture().await;
    let options = guichet_app::demo::DemoOptions { establishments: 2, tickets: 60, seed: 7, ..Default::default() };
    app.app.load_demo(&options).await.unwrap();
    let (kept, counted) = comment_days(&app).await;
    assert_eq!(kept, counted, "after the demo's load");
    let mut rng = rand::rngs::StdRng::seed_from_u64(20_261_205);
    let mut keys: Vec<String> = Vec::new();
    for step in 0..160 {
        app.clock.advance(chrono::Duration::minutes(rng.gen_range(1..1_500)));
        match rng.gen_range(0..10) {
            0 | 1 => keys.push(file(&app, &f.requester_a, &f.uai_a, &format!("Ticket {step}")).await),
            2..=5 if !keys.is_empty() => {
                let key = &keys[rng.gen_range(0..keys.len())];
                let (token, body) = match rng.gen_range(0..3) {
                    0 => (&f.agent, json!({"body": "Pouvez-vous préciser ?"})),
                    1 => (&f.agent, json!({"body": "Vu avec le rectorat.", "internal": true})),
                    _ => (&f.requester_a, json!({"body": "Toujours en panne."})),
                };
                let r = app.post(&format!("/api/v1/tickets/{key}/comments"), token, body).await;
                assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.bytes));
            }
            6 if keys.len() > 2 => {
                let from = keys.swap_remove(rng.gen_range(0..keys.len()));
                let into = &keys[rng.gen_range(0..keys.len())];
                let r = app.post(&format!("/api/v1/tickets/{from}/merge"), &f.agent, json!({"into": into})).await;
                assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
            }
            7 => {
                let hours = rng.gen_range(1..40);
                app.execute(&format!(
                    "UPDATE comments SET created_at = created_at - {hours} * 3600000000 \
                     WHERE id IN (SELECT id FROM comments ORDER BY id DESC LIMIT 3)"
                ))
                .await;
            }
            8 => {
                let id: i64 = rng.gen_range(1..=60);
                app.execute(&format!("UPDATE comments SET internal = NOT internal WHERE ticket_id = {id}")).await;
            }
            9 => {
                let id: i64 = rng.gen_range(1..=60);
                app.execute(&format!("DELETE FROM tickets WHERE id = {id}")).await;
            }
            _ => {}
        }
    }
    let (kept, counted) = comment_days(&app).await;
    assert!(counted.len() > 100, "{} rows", counted.len());
    assert!(counted.iter().any(|r| r.4 > 0) && counted.iter().any(|r| r.3 > 0), "replies and notes");
    assert_eq!(kept, counted);
});

/// After a bulk load the demo folds the hourly counts and writes them again
/// in as few pages as they need (`VACUUM FULL`). That statement also copies
/// the rows another transaction of the database may still see, as an
/// autovacuum worker's `ANALYZE` of the load's tables does while it samples:
/// the compaction is tried again once that transaction is over.
#[tokio::test]
async fn the_hourly_counts_come_out_compact_once_an_older_snapshot_is_released() {
    let app = TestApp::new(guichet_testkit::Backend::Postgres).await;
    app.execute(
        "INSERT INTO ticket_hour_counts (hour, created, resolved) SELECT 1, 0, 0 FROM generate_series(1, 20000)",
    )
    .await;
    let mut holder = app.app.db.conn().await.unwrap();
    let guichet_store::db::Raw::Postgres(h) = holder.raw() else { unreachable!("a PostgreSQL database") };
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ").execute(&mut *h).await.unwrap();
    // A snapshot taken over another table: a lock on the counts' table
    // would only make `VACUUM FULL` wait for its end.
    sqlx::query("SELECT COUNT(*) FROM tickets").execute(&mut *h).await.unwrap();
    let mut conn = app.app.db.conn().await.unwrap();
    assert!(guichet_store::reports::fold_hour_counts(&mut conn).await.unwrap() >= 1);
    let released = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let guichet_store::db::Raw::Postgres(h) = holder.raw() else { unreachable!("a PostgreSQL database") };
        sqlx::query("COMMIT").execute(&mut *h).await.unwrap();
    });
    guichet_store::reports::compact_hour_counts(&mut conn).await.unwrap();
    released.await.unwrap();
    let guichet_store::db::Raw::Postgres(c) = conn.raw() else { unreachable!("a PostgreSQL database") };
    let (rows, pages): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM ticket_hour_counts), pg_relation_size('ticket_hour_counts') / 8192",
    )
    .fetch_one(&mut *c)
    .await
    .unwrap();
    assert_eq!(rows, 1, "one row for the hour");
    assert!(pages <= 1, "{rows} rows in {pages} pages");
}

/// PostgreSQL plans a statement prepared on a connection for its parameters
/// five times, then may keep one plan for any parameters. For a report's
/// period that plan misjudges how many rows a year holds: at 1M tickets the
/// year's escalations took 340 ms with it instead of 130, and the tickets by
/// establishment 270 instead of 120, on every connection that had run the
/// report five times. Each report statement is planned for its period, but
/// the times' statements of a week each and the desk activity's of one
/// person each, which one plan serves.
#[tokio::test]
async fn postgresql_plans_each_report_statement_for_its_own_period() {
    use guichet_store::reports::{self, Dimension, Moment};
    let app = TestApp::new(guichet_testkit::Backend::Postgres).await;
    let f = app.fixture().await;
    let filter =
        guichet_store::tickets::TicketFilter { scope: guichet_domain::actor::TicketScope::All, ..Default::default() };
    let end = app.app.now();
    let school = app.establishment_id(&f.uai_a).await;
    let mut conn = app.app.db.conn().await.unwrap();
    let school = guichet_store::tickets::TicketFilter {
        scope: guichet_domain::actor::TicketScope::Establishments(vec![guichet_domain::ids::EstablishmentId(school)]),
        ..Default::default()
    };
    // The connection ran the fixture's statements before: only those the
    // reports add count.
    let before = TestApp::generic_plans(&mut conn, "%").await;
    for days in [365, 30, 7, 365, 30, 7, 365, 1] {
        let start = end - chrono::Duration::days(days);
        for filter in [&filter, &school] {
            reports::count_by(&mut conn, filter, Dimension::Establishment, start, end).await.unwrap();
            reports::sla_met(&mut conn, filter, start, end).await.unwrap();
            reports::list_breaches(&mut conn, filter, start, end, 10).await.unwrap();
            reports::for_each_tier_change(&mut conn, filter, start, end, |_| {}).await.unwrap();
            reports::count_per_span(&mut conn, filter, Moment::Created, &[(start, end)]).await.unwrap();
        }
    }
    let generic = TestApp::generic_plans(&mut conn, "%").await;
    let reports: Vec<String> = generic.into_iter().filter(|sql| !before.contains(sql)).collect();
    assert!(reports.is_empty(), "statements planned once for any period: {reports:#?}");
}
