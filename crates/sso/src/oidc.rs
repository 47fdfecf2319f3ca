//! An OpenID Connect relying party (ProConnect, an academic federation
//! proxy), on the `openidconnect` crate: discovery, the authorization code
//! flow with PKCE, `state` and `nonce`, ID token validation (issuer,
//! audience, expiry, signature, nonce), optional UserInfo, and RP-initiated
//! logout. The flow's secrets are kept by the caller (in the database)
//! between [`OidcProvider::start`] and [`OidcProvider::finish`].

use crate::SsoError;
use base64::Engine;
use guichet_domain::identity::ExternalIdentity;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, LogoutRequest, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope,
    TokenResponse,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// How long discovered metadata (endpoints, signing keys) is kept before it
/// is read again: a provider rotating its keys is followed within this time.
const METADATA_TTL: Duration = Duration::from_secs(600);
const MAX_USERINFO_BYTES: usize = 256 * 1024;

/// One OpenID Connect provider, as configured (`[[auth.oidc]]`).
#[derive(Debug, Clone)]
pub struct OidcProvider {
    pub name: String,
    pub label: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// `{public_url}/auth/oidc/{name}/callback`, registered at the provider.
    pub redirect_url: Url,
    /// Where the provider's logout sends people back (the sign-in page).
    pub post_logout_url: Url,
    pub scopes: Vec<String>,
    /// Read the UserInfo endpoint too (for claims the ID token leaves out).
    pub userinfo: bool,
    /// Send people to the provider's logout when they sign out here.
    pub logout_at_provider: bool,
    metadata: Arc<tokio::sync::Mutex<Option<(Instant, ProviderMetadataWithLogout)>>>,
}

/// A sign-in about to leave for the provider.
#[derive(Debug, Clone)]
pub struct OidcStart {
    pub url: Url,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A sign-in back from the provider, checked.
#[derive(Debug, Clone)]
pub struct OidcSignIn {
    pub identity: ExternalIdentity,
    /// Kept with the session, for the provider's logout (`id_token_hint`).
    pub id_token: String,
}

impl OidcProvider {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        label: String,
        issuer: String,
        client_id: String,
        client_secret: Option<String>,
        redirect_url: Url,
        post_logout_url: Url,
        scopes: Vec<String>,
        userinfo: bool,
        logout_at_provider: bool,
    ) -> Self {
        Self {
            name,
            label,
            issuer,
            client_id,
            client_secret,
            redirect_url,
            post_logout_url,
            scopes,
            userinfo,
            logout_at_provider,
            metadata: Arc::default(),
        }
    }

    async fn metadata(&self, http: &reqwest::Client) -> Result<ProviderMetadataWithLogout, SsoError> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, metadata)) = cached.as_ref() {
            if at.elapsed() < METADATA_TTL {
                return Ok(metadata.clone());
            }
        }
        let issuer = IssuerUrl::new(self.issuer.clone()).map_err(|e| SsoError::Config(e.to_string()))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, http)
            .await
            .map_err(|e| SsoError::Unreachable(format!("discovery failed: {}", crate::error_chain(&e))))?;
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn forget_metadata(&self) {
        if let Ok(mut cached) = self.metadata.try_lock() {
            *cached = None;
        }
    }

    /// The authorization URL of a new sign-in, with the secrets its callback needs.
    pub async fn start(&self, http: &reqwest::Client) -> Result<OidcStart, SsoError> {
        let metadata = self.metadata(http).await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            self.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::from_url(self.redirect_url.clone()));
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request =
            client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
        for scope in self.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(OidcStart {
            url,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code (with the PKCE verifier), validates the ID token
    /// against the nonce, and reads who signed in.
    pub async fn finish(
        &self,
        http: &reqwest::Client,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<OidcSignIn, SsoError> {
        let metadata = self.metadata(http).await?;
        let userinfo_url = metadata.userinfo_endpoint().map(|u| u.url().clone());
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            self.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::from_url(self.redirect_url.clone()));
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| SsoError::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()));
        let tokens = exchange
            .request_async(http)
            .await
            .map_err(|e| SsoError::Refused(format!("the provider refused the code: {}", crate::error_chain(&e))))?;
        let id_token = tokens.id_token().ok_or_else(|| SsoError::Invalid("no ID token in the answer".into()))?;
        let verifier = client.id_token_verifier();
        let claims = match id_token.claims(&verifier, &Nonce::new(nonce.to_owned())) {
            Ok(claims) => claims,
            Err(e) => {
                // A key the provider has just rotated in: read its keys again next time.
                self.forget_metadata();
                return Err(SsoError::Invalid(format!("ID token refused: {}", crate::error_chain(&e))));
            }
        };
        let subject = claims.subject().as_str().to_owned();
        let mut attributes = id_token_claims(&id_token.to_string())?;
        if self.userinfo {
            if let Some(url) = userinfo_url {
                let info = read_userinfo(http, url, tokens.access_token().secret()).await?;
                // OpenID Connect Core 5.3.2: UserInfo about someone else is not to be used.
                if info.get("sub").and_then(|v| v.first()) != Some(&subject) {
                    return Err(SsoError::Invalid("UserInfo is about another subject".into()));
                }
                for (name, values) in info {
                    attributes.entry(name).or_insert(values);
                }
            }
        }
        let email = claims.email().map(|e| e.as_str().to_owned());
        let email_verified = claims.email_verified().unwrap_or(false);
        let name = claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned()).or_else(|| {
            let given = claims.given_name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned());
            let family = claims.family_name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned());
            match (given, family) {
                (Some(g), Some(f)) => Some(format!("{g} {f}")),
                (g, f) => g.or(f),
            }
        });
        let identity =
            ExternalIdentity { provider: self.name.clone(), subject, email, email_verified, name, attributes };
        Ok(OidcSignIn { identity, id_token: id_token.to_string() })
    }

    /// The provider's logout URL for a session it opened, when it has one.
    pub async fn logout_url(&self, http: &reqwest::Client, id_token: &str) -> Option<Url> {
        let metadata = self.metadata(http).await.ok()?;
        let endpoint = metadata.additional_metadata().end_session_endpoint.clone()?;
        let mut request = LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(self.client_id.clone()))
            .set_post_logout_redirect_uri(PostLogoutRedirectUrl::from_url(self.post_logout_url.clone()));
        if let Ok(token) = id_token.parse::<CoreIdToken>() {
            request = request.set_id_token_hint(&token);
        }
        Some(request.http_get_url())
    }
}

/// Every claim of a (validated) ID token, as attribute lists: the standard
/// ones the crate reads, and any other a provider adds (a school's UAI).
fn id_token_claims(jwt: &str) -> Result<BTreeMap<String, Vec<String>>, SsoError> {
    let payload = jwt.split('.').nth(1).ok_or_else(|| SsoError::Invalid("malformed ID token".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| SsoError::Invalid("malformed ID token".into()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| SsoError::Invalid("malformed ID token".into()))?;
    Ok(claims_map(&value))
}

fn claims_map(value: &serde_json::Value) -> BTreeMap<String, Vec<String>> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    value
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(name, v)| {
                    let values = match v {
                        serde_json::Value::Array(items) => items.iter().filter_map(text).collect(),
                        other => text(other).into_iter().collect(),
                    };
                    (name.clone(), values)
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn read_userinfo(
    http: &reqwest::Client,
    url: Url,
    access_token: &str,
) -> Result<BTreeMap<String, Vec<String>>, SsoError> {
    let response =
        http.get(url).bearer_auth(access_token).send().await.map_err(|e| SsoError::Unreachable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(SsoError::Refused(format!("UserInfo answered {}", response.status())));
    }
    let body = crate::limited_body(response, MAX_USERINFO_BYTES).await?;
    let value: serde_json::Value = serde_json::from_str(&body)
        .map_err(|_| SsoError::Invalid("UserInfo is not JSON (signed UserInfo is not supported)".into()))?;
    Ok(claims_map(&value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_claim_of_a_token_becomes_an_attribute() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"sub":"u1","email_verified":true,"uai":["0750655E","0930124E"],"nested":{"x":1},"n":3}"#);
        let claims = id_token_claims(&format!("header.{payload}.signature")).unwrap();
        assert_eq!(claims["sub"], ["u1"]);
        assert_eq!(claims["email_verified"], ["true"]);
        assert_eq!(claims["uai"], ["0750655E", "0930124E"]);
        assert_eq!(claims["n"], ["3"]);
        assert!(claims["nested"].is_empty());
        assert!(id_token_claims("not a token").is_err());
        assert!(id_token_claims("a.!!!.c").is_err());
    }
}
