//! Who is calling: API tokens and passwords, turned into an [`Actor`].

use crate::{App, AppError};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use guichet_domain::actor::Actor;
use guichet_domain::user::{EmailAddress, User};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The authenticated caller: the permission view and the full user.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    pub user: User,
}

impl Principal {
    pub fn from_user(user: User) -> Self {
        let actor = Actor { user: user.id, role: user.role, establishments: user.establishments.clone() };
        Self { actor, user }
    }
}

const TOKEN_PREFIX: &str = "gch_";

/// A new random API token (256 bits); only its hash is stored.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Tokens carry 256 random bits, so a plain SHA-256 is enough to store them;
/// a slow hash is for low-entropy secrets such as passwords.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn hash_password(password: &str) -> Result<String, AppError> {
    if password.chars().count() < 8 {
        return Err(AppError::field("password", "a password needs at least 8 characters"));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(e.to_string().into()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

impl App {
    /// The caller behind a bearer token; unknown tokens and disabled users are refused alike.
    pub async fn authenticate_token(&self, token: &str) -> Result<Principal, AppError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(AppError::Unauthenticated);
        }
        let mut conn = self.db.conn().await?;
        let user = guichet_store::tokens::find_token_user(&mut conn, &hash_token(token))
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let user = guichet_store::users::find_user(&mut conn, user).await?;
        Ok(Principal::from_user(user))
    }

    /// Signs in with e-mail and password; every failure looks the same.
    pub async fn authenticate_password(&self, email: &str, password: &str) -> Result<Principal, AppError> {
        let email = EmailAddress::parse(email).map_err(|_| AppError::Unauthenticated)?;
        let mut conn = self.db.conn().await?;
        let found = guichet_store::users::find_password_hash(&mut conn, &email).await?;
        let Some((id, Some(hash))) = found else {
            return Err(AppError::Unauthenticated);
        };
        if !verify_password(password, &hash) {
            return Err(AppError::Unauthenticated);
        }
        Ok(Principal::from_user(guichet_store::users::find_user(&mut conn, id).await?))
    }

    /// Creates an API token for a user and returns it: it cannot be shown again.
    pub async fn create_token(&self, email: &str, name: &str) -> Result<String, AppError> {
        let email = EmailAddress::parse(email)?;
        let mut tx = self.db.begin().await?;
        let user = guichet_store::users::find_user_by_email(&mut tx, &email)
            .await?
            .ok_or_else(|| AppError::field("user", format!("no user has the address {}", email.as_str())))?;
        let token = generate_token();
        guichet_store::tokens::insert_token(&mut tx, user.id, name, &hash_token(&token), self.now()).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Sets a user's password (CLI, admin reset).
    pub async fn set_password(&self, email: &str, password: &str) -> Result<(), AppError> {
        let email = EmailAddress::parse(email)?;
        let hash = hash_password(password)?;
        let mut tx = self.db.begin().await?;
        let user =
            guichet_store::users::find_user_by_email(&mut tx, &email).await?.ok_or(AppError::NotFound("user"))?;
        guichet_store::users::update_password_hash(&mut tx, user.id, &hash).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let (a, b) = (generate_token(), generate_token());
        assert_ne!(a, b);
        assert!(a.starts_with("gch_") && a.len() > 40);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(hash_password("short").is_err());
    }
}

/// How long a web session lasts: a desk's afternoon and then some.
pub const SESSION_HOURS: i64 = 12;

/// A signed-in browser: who, and the token its forms must echo.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub principal: Principal,
    pub csrf_token: String,
}

/// A random URL-safe secret of 256 bits.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl App {
    /// Opens a session for a signed-in user; returns the cookie secret.
    pub async fn open_session(&self, principal: &Principal) -> Result<String, AppError> {
        let secret = random_secret();
        let now = self.now();
        let mut tx = self.db.begin().await?;
        guichet_store::sessions::delete_expired_sessions(&mut tx, now).await?;
        let expires = now + chrono::Duration::hours(SESSION_HOURS);
        guichet_store::sessions::insert_session(
            &mut tx,
            &hash_token(&secret),
            principal.user.id,
            &random_secret(),
            now,
            expires,
        )
        .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// The session behind a cookie secret, if still valid.
    pub async fn find_session(&self, secret: &str) -> Result<Option<WebSession>, AppError> {
        let mut conn = self.db.conn().await?;
        let Some(session) = guichet_store::sessions::find_session(&mut conn, &hash_token(secret), self.now()).await?
        else {
            return Ok(None);
        };
        let user = guichet_store::users::find_user(&mut conn, session.user).await?;
        Ok(Some(WebSession { principal: Principal::from_user(user), csrf_token: session.csrf_token }))
    }

    pub async fn close_session(&self, secret: &str) -> Result<(), AppError> {
        let mut conn = self.db.conn().await?;
        guichet_store::sessions::delete_session(&mut conn, &hash_token(secret)).await?;
        Ok(())
    }

    /// Records a user's preferred language.
    pub async fn set_language(&self, p: &Principal, language: guichet_domain::user::Language) -> Result<(), AppError> {
        let mut conn = self.db.conn().await?;
        guichet_store::users::update_user_language(&mut conn, p.user.id, language).await?;
        Ok(())
    }
}
