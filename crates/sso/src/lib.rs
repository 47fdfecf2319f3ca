//! Signing in with identity providers: the protocols, and nothing else.
//! [`cas`] speaks CAS 3.0 to an ENT, [`oidc`] OpenID Connect to a state
//! or academic provider; both turn a successful sign-in into a
//! [`guichet_domain::identity::ExternalIdentity`]. Which account that is,
//! and the sessions and flows kept meanwhile, are the app's.

pub mod cas;
pub mod oidc;

use std::time::Duration;

/// Why a sign-in at a provider did not give an identity.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The provider could not be reached or answered with an error page.
    #[error("the identity provider cannot be reached: {0}")]
    Unreachable(String),
    /// The provider said no (an invalid or replayed ticket, a refused code).
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    /// The answer cannot be believed (malformed, wrong audience, issuer, nonce, signature).
    #[error("the identity provider's answer is not valid: {0}")]
    Invalid(String),
    #[error("the identity provider is misconfigured: {0}")]
    Config(String),
}

/// Every configured provider.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    pub cas: Vec<cas::CasProvider>,
    pub oidc: Vec<oidc::OidcProvider>,
}

impl Providers {
    pub fn is_empty(&self) -> bool {
        self.cas.is_empty() && self.oidc.is_empty()
    }

    pub fn find_cas(&self, name: &str) -> Option<&cas::CasProvider> {
        self.cas.iter().find(|p| p.name == name)
    }

    pub fn find_oidc(&self, name: &str) -> Option<&oidc::OidcProvider> {
        self.oidc.iter().find(|p| p.name == name)
    }

    /// The origins signing out may lead to (a sign-out form's answer sends
    /// the browser to the provider's logout): the pages' Content-Security-
    /// Policy allows forms to lead there, and nowhere else.
    pub fn logout_origins(&self) -> Vec<String> {
        let cas = self.cas.iter().filter(|p| p.logout_at_provider).map(|p| p.server_url.origin());
        let oidc = self
            .oidc
            .iter()
            .filter(|p| p.logout_at_provider)
            .filter_map(|p| url::Url::parse(&p.issuer).ok())
            .map(|u| u.origin());
        let mut origins: Vec<String> =
            cas.chain(oidc).filter(|o| o.is_tuple()).map(|o| o.ascii_serialization()).collect();
        origins.sort();
        origins.dedup();
        origins
    }
}

/// The HTTP client for providers: no redirects followed (a redirect from a
/// token endpoint is a way to make the server fetch another URL), short
/// timeouts (a provider that hangs must not hold a sign-in for a minute).
pub fn http_client() -> Result<reqwest::Client, SsoError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .user_agent(concat!("Guichet/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SsoError::Config(e.to_string()))
}

/// A response's body, refused past `limit` bytes.
async fn limited_body(mut response: reqwest::Response, limit: usize) -> Result<String, SsoError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| SsoError::Unreachable(e.to_string()))? {
        if body.len() + chunk.len() > limit {
            return Err(SsoError::Invalid(format!("answer larger than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| SsoError::Invalid("answer is not UTF-8".into()))
}

/// An error with its causes, on one line (the crates' errors say little alone).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
