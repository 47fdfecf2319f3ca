//! Guichet's storage: one set of SQL statements run on SQLite or PostgreSQL.
//!
//! Statements use `$N` placeholders, which both backends accept, and portable
//! types (BIGINT microseconds for time, TEXT codes for vocabularies). Each
//! function is written once; the [`on_conn!`] macro instantiates it for the
//! backend in use. Real dialect differences are explicit `match` forks.
//! This crate maps rows to domain types and knows no permission rule: callers
//! pass the scope to apply.

/// Runs `body` with `c` bound to the backend's `&mut …Connection`: the body is
/// written once and compiled for both backends.
#[macro_export]
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn.raw() {
            $crate::db::Raw::Sqlite($c) => $body,
            $crate::db::Raw::Postgres($c) => $body,
        }
    };
}

pub mod attachments;
pub mod backup;
pub mod canned;
pub mod categories;
mod claims;
pub mod comments;
pub mod context;
pub mod db;
pub mod demo;
pub mod establishments;
pub mod events;
pub mod fold;
pub mod group_commit;
pub mod identities;
pub mod import;
pub mod incidents;
pub mod jira;
pub mod kb;
pub mod leases;
pub mod mail;
pub mod privacy;
pub mod reports;
pub mod rota;
pub mod satisfaction;
pub mod saved_filters;
pub mod search;
pub mod sessions;
pub mod settings;
pub mod throttles;
pub mod tickets;
pub mod tokens;
pub mod users;
pub mod webhooks;
pub mod workflows;

pub use db::{Backend, Conn, Db, DbOptions, Durability, StoreError};
