//! Guichet's mail workers: the IMAP pollers that bring mail in and the
//! sender that empties the outbox over SMTP. The decisions (what a message
//! becomes, what to notify) are the application's; this crate moves bytes.

pub mod imap;
pub mod smtp;
mod tls;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How a connection to a mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    #[default]
    Tls,
    /// Plain connection upgraded with STARTTLS (IMAP 143, submission 587).
    Starttls,
    /// No encryption: only for a server on the same machine or in tests.
    None,
}

/// A secret given inline or, better, in a file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Credentials {
    pub user: Option<String>,
    #[serde(skip_serializing, default)]
    pub password: Option<SecretString>,
    pub password_file: Option<PathBuf>,
}

impl Credentials {
    /// The password, read from its file when one is named.
    pub fn password(&self) -> Result<Option<String>, MailError> {
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| MailError::Config(format!("cannot read the password file {}: {e}", path.display())))?;
            return Ok(Some(text.trim_end_matches(['\n', '\r']).to_owned()));
        }
        Ok(self.password.as_ref().map(|p| p.expose_secret().to_owned()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{0}")]
    Config(String),
    #[error("cannot reach {server}: {source}")]
    Connect { server: String, source: std::io::Error },
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("SMTP: {0}")]
    Smtp(String),
    #[error("{0}")]
    App(#[from] guichet_app::AppError),
}
