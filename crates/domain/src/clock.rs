//! Time as a dependency: domain and use cases ask a [`Clock`], never the system,
//! so that tests can fix or move it.

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}
