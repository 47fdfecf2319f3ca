//! Guichet's domain: the ticket, its establishment, its people and the rules
//! that bind them. Pure code: no database, no network, no clock reads.

pub mod actor;
pub mod calendar;
pub mod canned;
pub mod clock;
pub mod comment;
pub mod error;
pub mod establishment;
pub mod history;
pub mod identity;
pub mod ids;
pub mod import;
pub mod incident;
pub mod kb;
pub mod mail;
pub mod privacy;
pub mod query;
pub mod report;
pub mod search;
pub mod sla;
pub mod ticket;
pub mod user;
pub mod vocabulary;
pub mod webhook;
pub mod workflow;

pub use error::{DomainError, FieldError};
