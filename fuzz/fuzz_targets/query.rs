//! Feeds arbitrary text to the query language: parsing, printing and
//! resolving must never panic, and a printed query must parse again.
//! Run with `cargo +nightly fuzz run query` from this folder.
#![no_main]

use guichet_domain::query::{parse, print, resolve, Context};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(query) = parse(text) else { return };
    let printed = print(&query);
    assert!(parse(&printed).is_ok(), "{text:?} printed as {printed:?} does not parse");
    let ctx = Context {
        now: chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default(),
        tz: chrono_tz::Europe::Paris,
        key_prefix: "SUP".into(),
        statuses: vec![("new".into(), "Nouvelle".into(), "New".into())],
        categories: vec![("mail".into(), "Messagerie".into(), "Mail".into())],
    };
    let _ = resolve(&query, &ctx);
});
