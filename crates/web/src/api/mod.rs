//! The REST API, versioned.

pub mod v1;
