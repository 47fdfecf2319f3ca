//! Who is calling: API tokens and passwords, turned into an [`Actor`].

use crate::{App, AppError};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use chrono::{DateTime, Utc};
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
    if password.chars().count() > 1000 {
        return Err(AppError::field("password", "a password has at most 1000 characters"));
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

/// The most memory a stored hash may ask for (64 MiB): more is not a hash
/// Guichet made, and would let a bad row exhaust the server.
const MAX_BLOCKS: usize = 64 * 1024;

/// [`verify_password`] with a work area the caller keeps: a password thread
/// allocates Argon2's memory (19 MiB) once, instead of at each check, which
/// the allocator would not give back.
pub fn verify_password_in(password: &str, hash: &str, memory: &mut Vec<argon2::Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Ok(algorithm), Ok(params)) =
        (argon2::Algorithm::try_from(parsed.algorithm), argon2::Params::try_from(&parsed))
    else {
        return false;
    };
    let version = parsed.version.map_or(Ok(argon2::Version::V0x13), argon2::Version::try_from);
    let (Ok(version), Some(salt), Some(expected)) = (version, parsed.salt, parsed.hash) else { return false };
    let mut salt_buffer = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buffer) else { return false };
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, argon2::Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        &mut out,
        &mut memory[..blocks],
    );
    computed.is_ok() && out.len() == expected.len() && same_bytes(&out, expected.as_bytes())
}

fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl App {
    /// The caller behind a bearer token; unknown, expired and revoked tokens
    /// and disabled users are refused alike.
    pub async fn authenticate_token(&self, token: &str) -> Result<Principal, AppError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
            return Err(AppError::Unauthenticated);
        }
        let now = self.now();
        let mut conn = self.db.conn().await?;
        let token_hash = hash_token(token);
        let live = guichet_store::tokens::find_live_token(&mut conn, &token_hash, now)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        drop(conn);
        // The date of last use is kept to the hour: a write per request would
        // make every API read a write.
        if live.last_used_at.is_none_or(|t| now - t > chrono::Duration::hours(1)) {
            let mut tx = self.db.begin().await?;
            guichet_store::tokens::touch_token(&mut tx, &token_hash, now).await?;
            tx.commit().await?;
        }
        Ok(Principal::from_user(live.owner))
    }

    /// Signs in with e-mail and password. Every failure looks the same and
    /// takes the same time (an unknown or disabled account is checked
    /// against a dummy hash); attempts are counted per account and per
    /// client address before the password is checked, so that parallel
    /// guesses cannot pass the limit; the check runs on a bounded pool of
    /// blocking threads, never on the threads serving pages.
    pub async fn authenticate_password(
        &self,
        email: &str,
        password: &str,
        client: &str,
    ) -> Result<Principal, AppError> {
        let limits = &self.settings.sign_in;
        let now = self.now();
        let account_key = format!("account:{}", email.trim().to_lowercase().chars().take(320).collect::<String>());
        let client_key = format!("client:{client}");
        let window_start_after = now - limits.window;
        let (account, client_count) = {
            let mut tx = self.db.begin().await?;
            let account =
                guichet_store::throttles::count_attempt(&mut tx, &account_key, now, window_start_after).await?;
            let client_count =
                guichet_store::throttles::count_attempt(&mut tx, &client_key, now, window_start_after).await?;
            tx.commit().await?;
            (account, client_count)
        };
        let over = |(n, start): (i64, DateTime<Utc>), limit: u32| {
            (n > i64::from(limit)).then(|| (start + limits.window - now).num_seconds().max(1))
        };
        if let Some(retry_after) =
            over(account, limits.per_account).into_iter().chain(over(client_count, limits.per_client)).max()
        {
            tracing::warn!(retry_after, "sign-in throttled");
            return Err(AppError::Throttled { retry_after: u64::try_from(retry_after).unwrap_or(60) });
        }
        let found = match EmailAddress::parse(email) {
            Ok(email) => {
                let mut conn = self.db.conn().await?;
                guichet_store::users::find_password_hash(&mut conn, &email).await?
            }
            Err(_) => None,
        };
        let (user, hash) = match found {
            Some((id, Some(hash))) => (Some(id), hash),
            _ => (None, self.dummy_hash.as_str().to_owned()),
        };
        let verified = self.verify_password_bounded(password, hash).await?;
        let Some(id) = user.filter(|_| verified) else {
            return Err(AppError::Unauthenticated);
        };
        let mut tx = self.db.begin().await?;
        guichet_store::throttles::clear_attempts(&mut tx, &account_key).await?;
        guichet_store::throttles::forgive_attempt(&mut tx, &client_key).await?;
        let user = guichet_store::users::find_user(&mut tx, id).await?;
        tx.commit().await?;
        // Told only to whoever knew the password: it says nothing to a guesser.
        if !limits.password_allowed(&user) {
            return Err(AppError::SignInRefused(crate::identities::SignInRefusal::UseProvider));
        }
        Ok(Principal::from_user(user))
    }

    /// Checks a password on the password threads, at most `hash_concurrency`
    /// at once; beyond `hash_queue` waiting, the server says it is busy.
    async fn verify_password_bounded(&self, password: &str, hash: String) -> Result<bool, AppError> {
        self.password_checks.verify(password.to_owned(), hash).await
    }

    /// Creates an API token for a user and returns it: it cannot be shown
    /// again. It lasts `days` (the configured default when None).
    pub async fn create_token(&self, email: &str, name: &str) -> Result<String, AppError> {
        self.create_token_for(email, name, None).await
    }

    /// [`App::create_token`] with a lifetime in days.
    pub async fn create_token_for(&self, email: &str, name: &str, days: Option<u32>) -> Result<String, AppError> {
        let email = EmailAddress::parse(email)?;
        let mut conn = self.db.conn().await?;
        let user = guichet_store::users::find_user_by_email(&mut conn, &email)
            .await?
            .ok_or_else(|| AppError::field("user", format!("no user has the address {}", email.as_str())))?;
        drop(conn);
        Ok(self.issue_token(user.id, name, days).await?.1)
    }

    pub(crate) async fn issue_token(
        &self,
        user: guichet_domain::ids::UserId,
        name: &str,
        days: Option<u32>,
    ) -> Result<(guichet_store::tokens::TokenRecord, String), AppError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AppError::field("name", "a token's name has 1 to 100 characters"));
        }
        let days = days.unwrap_or(self.settings.sign_in.token_days);
        if !(1..=MAX_TOKEN_DAYS).contains(&days) {
            return Err(AppError::field("expires_in_days", format!("a token lasts 1 to {MAX_TOKEN_DAYS} days")));
        }
        let now = self.now();
        let token = generate_token();
        let mut tx = self.db.begin().await?;
        let expires = now + chrono::Duration::days(i64::from(days));
        let id = guichet_store::tokens::insert_token(&mut tx, user, name, &hash_token(&token), now, expires).await?;
        let record = guichet_store::tokens::find_token(&mut tx, id).await?;
        tx.commit().await?;
        Ok((record, token))
    }

    /// Sets a user's password (CLI): every session of theirs ends.
    pub async fn set_password(&self, email: &str, password: &str) -> Result<(), AppError> {
        let email = EmailAddress::parse(email)?;
        let hash = hash_password(password)?;
        let mut tx = self.db.begin().await?;
        let user =
            guichet_store::users::find_user_by_email(&mut tx, &email).await?.ok_or(AppError::NotFound("user"))?;
        guichet_store::users::update_password_hash(&mut tx, user.id, &hash).await?;
        guichet_store::sessions::delete_user_sessions(&mut tx, user.id, None).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The longest an API token can last.
pub const MAX_TOKEN_DAYS: u32 = 5 * 366;

type PasswordJob = (String, String, tokio::sync::oneshot::Sender<bool>);

/// The threads password checks run on: a fixed few, fed by a bounded queue.
/// Not tokio's blocking pool: it grows a thread (and, with glibc, a memory
/// arena keeping Argon2's 19 MiB) whenever all its threads are busy, and a
/// burst of sign-ins then holds hundreds of megabytes.
#[derive(Debug)]
pub struct PasswordChecks {
    jobs: std::sync::mpsc::SyncSender<PasswordJob>,
}

impl PasswordChecks {
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let (jobs, waiting) = std::sync::mpsc::sync_channel::<PasswordJob>(queue.max(1));
        let waiting = std::sync::Arc::new(std::sync::Mutex::new(waiting));
        for n in 0..concurrency.max(1) {
            let waiting = waiting.clone();
            let worker = move || {
                let mut memory = Vec::new();
                loop {
                    // The workers end when the application (the sender) is gone.
                    let job = match waiting.lock() {
                        Ok(queue) => queue.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    let Ok((password, hash, answer)) = job else { return };
                    let _ = answer.send(verify_password_in(&password, &hash, &mut memory));
                }
            };
            if let Err(e) = std::thread::Builder::new().name(format!("password-{n}")).spawn(worker) {
                tracing::error!(error = %e, "cannot start a password thread");
            }
        }
        Self { jobs }
    }

    async fn verify(&self, password: String, hash: String) -> Result<bool, AppError> {
        let (answer, verified) = tokio::sync::oneshot::channel();
        match self.jobs.try_send((password, hash, answer)) {
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(_)) => return Err(AppError::Busy { retry_after: 5 }),
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                return Err(AppError::Internal("no password thread is running".into()))
            }
        }
        verified.await.map_err(|_| AppError::Internal("a password check was lost".into()))
    }
}

/// The window of the hourly counters kept beside the sign-in attempts (the
/// HELP page's messages per address, automatic mails per recipient).
pub(crate) const COUNTER_WINDOW: chrono::Duration = chrono::Duration::hours(1);

/// Limits of signing in and lifetimes of credentials.
#[derive(Debug, Clone)]
pub struct SignInSettings {
    /// Attempts on one account per window, wrong or right, beyond which it is throttled.
    pub per_account: u32,
    /// Failed attempts from one client address per window.
    pub per_client: u32,
    pub window: chrono::Duration,
    /// Password checks running at once (each takes ~50 ms of a core and 19 MiB).
    pub hash_concurrency: usize,
    /// Password checks waiting beyond which sign-in answers "busy".
    pub hash_queue: usize,
    /// A session ends after this long without a request…
    pub session_idle: chrono::Duration,
    /// …and after this long in any case.
    pub session_lifetime: chrono::Duration,
    /// Days an API token lasts unless said otherwise.
    pub token_days: u32,
    /// Roles that may sign in with a password here; the others sign in
    /// through an identity provider.
    pub local_roles: Vec<guichet_domain::user::Role>,
    /// An administrator who keeps password sign-in whatever `local_roles`
    /// says: the way in when the providers are down.
    pub break_glass: Option<EmailAddress>,
}

impl SignInSettings {
    pub fn password_allowed(&self, user: &User) -> bool {
        use guichet_domain::user::Role;
        self.local_roles.contains(&user.role)
            || (user.role == Role::Admin && self.break_glass.as_ref() == Some(&user.email))
    }
}

impl Default for SignInSettings {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_client: 50,
            window: chrono::Duration::minutes(15),
            hash_concurrency: 2,
            hash_queue: 64,
            session_idle: chrono::Duration::hours(2),
            session_lifetime: chrono::Duration::hours(SESSION_HOURS),
            token_days: 365,
            local_roles: guichet_domain::user::Role::ALL.to_vec(),
            break_glass: None,
        }
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
    fn a_kept_work_area_verifies_exactly_as_the_crate_does() {
        let hash = hash_password("correct horse").unwrap();
        let mut memory = Vec::new();
        assert!(verify_password_in("correct horse", &hash, &mut memory));
        assert!(!verify_password_in("correct horsf", &hash, &mut memory));
        assert!(verify_password_in("correct horse", &hash, &mut memory), "the area is reused");
        assert!(!verify_password_in("correct horse", "not a hash", &mut memory));
        let cheap = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(64, 1, 1, None).unwrap(),
        );
        let salt = SaltString::generate(&mut OsRng);
        let other = cheap.hash_password(b"autre", &salt).unwrap().to_string();
        assert!(verify_password_in("autre", &other, &mut memory) && verify_password("autre", &other));
        let greedy = other.replace("m=64", "m=4194304");
        assert!(!verify_password_in("autre", &greedy, &mut memory), "a hash asking for 4 GiB is refused");
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
    /// Forgets ended sessions and counters whose window closed: at each
    /// sign-in, and at each pass of the clock job (a desk nobody signs in to
    /// still counts HELP messages and automatic mails).
    pub async fn sweep_expired(&self) -> Result<(), AppError> {
        let mut tx = self.db.begin().await?;
        self.sweep_expired_in(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sweep_expired_in(&self, tx: &mut guichet_store::Conn) -> Result<(), AppError> {
        let now = self.now();
        let auth = &self.settings.sign_in;
        guichet_store::sessions::delete_expired_sessions(tx, now, now - auth.session_idle).await?;
        // The HELP page and automatic mails count in the same table, over an hour.
        let longest = auth.window.max(COUNTER_WINDOW);
        guichet_store::throttles::delete_expired_attempts(tx, now - longest).await?;
        Ok(())
    }

    /// Opens a session for a signed-in user; returns the cookie secret.
    pub async fn open_session(&self, principal: &Principal) -> Result<String, AppError> {
        let secret = random_secret();
        let now = self.now();
        let auth = &self.settings.sign_in;
        let mut tx = self.db.begin().await?;
        self.sweep_expired_in(&mut tx).await?;
        let expires = now + auth.session_lifetime;
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

    /// The session behind a cookie secret, if still valid: not expired, not
    /// idle too long, its user enabled.
    pub async fn find_session(&self, secret: &str) -> Result<Option<WebSession>, AppError> {
        let now = self.now();
        let id_hash = hash_token(secret);
        let mut conn = self.db.conn().await?;
        let idle_since = now - self.settings.sign_in.session_idle;
        let Some((session, user)) = guichet_store::sessions::find_session(&mut conn, &id_hash, now, idle_since).await?
        else {
            return Ok(None);
        };
        drop(conn);
        // Use is recorded every few minutes, not at every page.
        if now - session.last_seen_at > chrono::Duration::minutes(5) {
            let mut tx = self.db.begin().await?;
            guichet_store::sessions::touch_session(&mut tx, &id_hash, now).await?;
            tx.commit().await?;
        }
        Ok(Some(WebSession { principal: Principal::from_user(user), csrf_token: session.csrf_token }))
    }

    pub async fn close_session(&self, secret: &str) -> Result<(), AppError> {
        let mut conn = self.db.conn().await?;
        guichet_store::sessions::delete_session(&mut conn, &hash_token(secret)).await?;
        Ok(())
    }

    /// Changes one's own password, knowing the current one: every other
    /// session ends, the one in use (`keep`, its cookie secret) stays.
    pub async fn change_own_password(
        &self,
        p: &Principal,
        current: &str,
        new: &str,
        keep: Option<&str>,
    ) -> Result<u64, AppError> {
        let mut conn = self.db.conn().await?;
        let found = guichet_store::users::find_password_hash(&mut conn, &p.user.email).await?;
        drop(conn);
        let hash = match found {
            Some((_, Some(hash))) => hash,
            _ => self.dummy_hash.as_str().to_owned(),
        };
        if !self.verify_password_bounded(current, hash).await? {
            return Err(AppError::field("current_password", "the current password is not this one"));
        }
        let new_hash = hash_password(new)?;
        let mut tx = self.db.begin().await?;
        guichet_store::users::update_password_hash(&mut tx, p.user.id, &new_hash).await?;
        let ended =
            guichet_store::sessions::delete_user_sessions(&mut tx, p.user.id, keep.map(hash_token).as_deref()).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Ends every session of the caller but the one in use.
    pub async fn sign_out_elsewhere(&self, p: &Principal, keep: &str) -> Result<u64, AppError> {
        let mut tx = self.db.begin().await?;
        let ended = guichet_store::sessions::delete_user_sessions(&mut tx, p.user.id, Some(&hash_token(keep))).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// A user's API tokens (`None`: everyone's): one's own, or anyone's for an administrator.
    pub async fn list_tokens(
        &self,
        p: &Principal,
        whose: Option<guichet_domain::ids::UserId>,
    ) -> Result<Vec<guichet_store::tokens::TokenRecord>, AppError> {
        let own = whose == Some(p.user.id);
        if !own && p.actor.role != guichet_domain::user::Role::Admin {
            return Err(AppError::Forbidden("only administrators see other people's tokens".into()));
        }
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::tokens::list_tokens(&mut conn, whose, 500).await?)
    }

    /// Makes an API token for the caller; the secret is returned once.
    pub async fn create_own_token(
        &self,
        p: &Principal,
        name: &str,
        days: Option<u32>,
    ) -> Result<(guichet_store::tokens::TokenRecord, String), AppError> {
        self.issue_token(p.user.id, name, days).await
    }

    /// Revokes a token: one's own, or anyone's for an administrator. Another
    /// person's token answers "not found" to anyone else.
    pub async fn revoke_token(&self, p: &Principal, id: guichet_domain::ids::TokenId) -> Result<(), AppError> {
        let mut tx = self.db.begin().await?;
        let token = match guichet_store::tokens::find_token(&mut tx, id).await {
            Ok(t) if t.user == p.user.id || p.actor.role == guichet_domain::user::Role::Admin => t,
            Ok(_) | Err(guichet_store::StoreError::NotFound) => return Err(AppError::NotFound("token")),
            Err(e) => return Err(e.into()),
        };
        guichet_store::tokens::revoke_token(&mut tx, token.id, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes a token by its id, from the command line.
    pub async fn revoke_token_by_operator(&self, id: guichet_domain::ids::TokenId) -> Result<(), AppError> {
        let mut tx = self.db.begin().await?;
        guichet_store::tokens::revoke_token(&mut tx, id, self.now()).await.map_err(|e| match e {
            guichet_store::StoreError::NotFound => AppError::NotFound("token"),
            other => other.into(),
        })?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a user's preferred language.
    pub async fn set_language(&self, p: &Principal, language: guichet_domain::user::Language) -> Result<(), AppError> {
        let mut conn = self.db.conn().await?;
        guichet_store::users::update_user_language(&mut conn, p.user.id, language).await?;
        Ok(())
    }
}
