//! Signing in with an identity provider, from the app's side: the flows
//! under way (kept in the database, so that any node takes the callback),
//! who a provider's person is here (a linked identity, a vouched-for
//! address, or an account made by a configured rule), the schools the
//! provider gives them, the sessions it opened and their single logout.
//! The protocols themselves are `guichet-sso`'s.

use crate::auth::{hash_token, Principal};
use crate::{App, AppError};
use chrono::Duration;
use guichet_domain::establishment::Uai;
use guichet_domain::identity::ExternalIdentity;
use guichet_domain::ids::{EstablishmentId, UserId};
use guichet_domain::user::{EmailAddress, Language, NewUser, Role, User};
use guichet_store::identities::{SignInFlow, UserEvent};
use guichet_store::Conn;

/// How long a sign-in may stay at the provider before its callback is refused.
pub const FLOW_LIFETIME: Duration = Duration::minutes(10);

/// Why a person is not signed in; each has its own page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefusal {
    /// The provider gave no identifier to know the person by.
    NoSubject,
    /// Nobody here has this identity, and no rule makes an account for them.
    Unknown,
    /// They are a school administrator, but none of the schools the provider
    /// gives is served by this desk.
    NoKnownSchool,
    /// An account would be made, but the provider gives no e-mail address.
    NoEmail,
    /// Their address is an existing account's, and the provider does not vouch for it.
    AddressTaken,
    /// The account is disabled.
    Disabled,
    /// This role signs in through a provider, not with a password here.
    UseProvider,
    /// The sign-in came back to another browser, too late, or twice.
    FlowExpired,
    /// The provider did not confirm the person (an invalid or replayed
    /// ticket, a refused code, a token that cannot be believed, a cancel).
    NotConfirmed,
}

/// A session's ties to the provider that opened it.
#[derive(Debug, Clone, Default)]
pub struct ProviderSession<'a> {
    pub provider: &'a str,
    /// Names the session in the provider's single logout (a CAS service ticket).
    pub reference: Option<&'a str>,
    /// What the provider's logout wants back (an OpenID Connect ID token).
    pub logout_hint: Option<&'a str>,
}

impl App {
    /// Records a sign-in leaving for `provider` from the browser holding
    /// `browser_secret`; returns the flow's id (the OpenID Connect `state`
    /// when given, else a new random one).
    pub async fn start_sign_in(
        &self,
        provider: &str,
        browser_secret: &str,
        state: Option<String>,
        nonce: Option<String>,
        pkce_verifier: Option<String>,
        next: &str,
    ) -> Result<String, AppError> {
        let now = self.now();
        let flow = SignInFlow {
            id: state.unwrap_or_else(crate::auth::random_secret),
            provider: provider.to_owned(),
            browser_hash: hash_token(browser_secret),
            nonce,
            pkce_verifier,
            next: next.to_owned(),
            created_at: now,
        };
        let mut tx = self.db.begin().await?;
        guichet_store::identities::delete_flows_before(&mut tx, now - FLOW_LIFETIME).await?;
        guichet_store::identities::insert_flow(&mut tx, &flow).await?;
        tx.commit().await?;
        Ok(flow.id)
    }

    /// Takes back the flow `id` (once) for `provider`, if it was started by
    /// this browser less than [`FLOW_LIFETIME`] ago: a link with someone
    /// else's ticket or code cannot sign a victim in as someone else.
    pub async fn finish_sign_in(
        &self,
        provider: &str,
        id: &str,
        browser_secret: Option<&str>,
    ) -> Result<SignInFlow, AppError> {
        let mut tx = self.db.begin().await?;
        let flow = guichet_store::identities::take_flow(&mut tx, id).await?;
        tx.commit().await?;
        let refused = AppError::SignInRefused(SignInRefusal::FlowExpired);
        let flow = flow.ok_or(refused)?;
        let same_browser = browser_secret.is_some_and(|s| crate::auth::same_secret(&hash_token(s), &flow.browser_hash));
        if flow.provider != provider || !same_browser || flow.created_at < self.now() - FLOW_LIFETIME {
            return Err(AppError::SignInRefused(SignInRefusal::FlowExpired));
        }
        Ok(flow)
    }

    /// Whether a CAS service ticket already opened a session here: a ticket
    /// serves once, whatever the CAS server would say of it.
    pub async fn provider_reference_used(&self, provider: &str, reference: &str) -> Result<bool, AppError> {
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::identities::provider_reference_used(&mut conn, provider, &hash_token(reference)).await?)
    }

    /// Who `identity` is here, made or updated as the provider's rules say.
    pub async fn sign_in_external(&self, identity: &ExternalIdentity) -> Result<Principal, AppError> {
        let subject = identity.subject.trim();
        if subject.is_empty() || subject.len() > 500 {
            return Err(AppError::SignInRefused(SignInRefusal::NoSubject));
        }
        let provider = identity.provider.as_str();
        let rules = self.settings.identity_rules.get(provider).cloned().unwrap_or_default();
        let source = format!("provider:{provider}");
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let linked = guichet_store::identities::find_identity_user(&mut tx, provider, subject).await?;
        let user_id = match linked {
            Some(id) => {
                guichet_store::identities::touch_identity(&mut tx, provider, subject, now).await?;
                id
            }
            None => {
                let id = self.account_for_new_identity(&mut tx, identity, &rules, &source).await?;
                guichet_store::identities::insert_identity(&mut tx, provider, subject, id, now).await?;
                let event = self.event(&source, "identity", None, Some(format!("{provider}: {subject}")));
                guichet_store::identities::insert_user_event(&mut tx, id, &event).await?;
                id
            }
        };
        let user = guichet_store::users::find_user(&mut tx, user_id).await?;
        if user.disabled {
            return Err(AppError::SignInRefused(SignInRefusal::Disabled));
        }
        let user = self.follow_provider_schools(&mut tx, user, identity, &rules, &source).await?;
        tx.commit().await?;
        tracing::info!(user = %user.id, provider, "signed in by a provider");
        Ok(Principal::from_user(user))
    }

    /// The account a subject seen for the first time belongs to: the one
    /// with the address the provider vouches for, or a new one when a rule
    /// admits the person.
    async fn account_for_new_identity(
        &self,
        tx: &mut Conn,
        identity: &ExternalIdentity,
        rules: &guichet_domain::identity::IdentityRules,
        source: &str,
    ) -> Result<UserId, AppError> {
        let email = identity.email.as_deref().and_then(|e| EmailAddress::parse(e).ok());
        let existing = match &email {
            Some(email) => guichet_store::users::find_user_by_email(tx, email).await?,
            None => None,
        };
        if let Some(user) = existing {
            if rules.trusts_email_of(identity) {
                return Ok(user.id);
            }
            // The address is someone's here, but nothing proves it is this person's.
            return match rules.role_for_new(identity) {
                Some(_) => Err(AppError::SignInRefused(SignInRefusal::AddressTaken)),
                None => Err(AppError::SignInRefused(SignInRefusal::Unknown)),
            };
        }
        let role = rules.role_for_new(identity).ok_or(AppError::SignInRefused(SignInRefusal::Unknown))?;
        let email = email.ok_or(AppError::SignInRefused(SignInRefusal::NoEmail))?;
        let uais = if role == Role::Requester {
            let schools = self.known_schools(tx, &rules.uais(identity).unwrap_or_default()).await?;
            if schools.is_empty() {
                return Err(AppError::SignInRefused(SignInRefusal::NoKnownSchool));
            }
            schools.into_iter().map(|(uai, _)| uai).collect()
        } else {
            Vec::new()
        };
        let ids: Vec<EstablishmentId> = {
            let mut ids = Vec::new();
            for uai in &uais {
                if let Some(e) = guichet_store::establishments::find_establishment_by_uai(tx, uai).await? {
                    ids.push(e.id);
                }
            }
            ids
        };
        let new = NewUser {
            email,
            name: identity.display_name(),
            role,
            language: Language::Fr,
            phones: Vec::new(),
            establishment_uais: uais.clone(),
        };
        let user = guichet_store::users::insert_user(tx, &new, &ids, None, self.now()).await?;
        let created = format!("{} {}", role.as_str(), uais.iter().map(Uai::as_str).collect::<Vec<_>>().join(" "));
        let event = self.event(source, "created", None, Some(created.trim().to_owned()));
        guichet_store::identities::insert_user_event(tx, user.id, &event).await?;
        tracing::info!(user = %user.id, role = %role, "account made at first sign-in");
        Ok(user.id)
    }

    /// A school administrator's schools follow the provider at each sign-in
    /// (added, removed, recorded in their history). A provider that names no
    /// school served here refuses the sign-in rather than keep schools it no
    /// longer gives: a person who left a school must not keep reading its requests.
    async fn follow_provider_schools(
        &self,
        tx: &mut Conn,
        user: User,
        identity: &ExternalIdentity,
        rules: &guichet_domain::identity::IdentityRules,
        source: &str,
    ) -> Result<User, AppError> {
        if user.role != Role::Requester {
            return Ok(user);
        }
        let Some(given) = rules.uais(identity) else { return Ok(user) };
        let schools = self.known_schools(tx, &given).await?;
        if schools.is_empty() {
            return Err(AppError::SignInRefused(SignInRefusal::NoKnownSchool));
        }
        let mut wanted: Vec<EstablishmentId> = schools.iter().map(|(_, id)| *id).collect();
        wanted.sort();
        let mut current = user.establishments.clone();
        current.sort();
        if wanted == current {
            return Ok(user);
        }
        let before = self.uai_list(tx, &current).await?;
        guichet_store::users::update_user_role(tx, user.id, Role::Requester, &wanted).await?;
        let after = schools.iter().map(|(uai, _)| uai.as_str()).collect::<Vec<_>>().join(" ");
        let event = self.event(source, "establishments", Some(before), Some(after));
        guichet_store::identities::insert_user_event(tx, user.id, &event).await?;
        // Sessions opened with the old schools end: access follows the provider at once.
        guichet_store::sessions::delete_user_sessions(tx, user.id, None).await?;
        Ok(guichet_store::users::find_user(tx, user.id).await?)
    }

    /// The schools among `uais` that this desk serves.
    async fn known_schools(&self, tx: &mut Conn, uais: &[Uai]) -> Result<Vec<(Uai, EstablishmentId)>, AppError> {
        let mut found = Vec::new();
        for uai in uais {
            if let Some(e) = guichet_store::establishments::find_establishment_by_uai(tx, uai).await? {
                found.push((uai.clone(), e.id));
            }
        }
        Ok(found)
    }

    async fn uai_list(&self, tx: &mut Conn, ids: &[EstablishmentId]) -> Result<String, AppError> {
        let list = guichet_store::establishments::find_establishments(tx, ids).await?;
        let mut uais: Vec<String> = list.into_iter().map(|e| e.uai.as_str().to_owned()).collect();
        uais.sort();
        Ok(uais.join(" "))
    }

    fn event(&self, source: &str, field: &str, old: Option<String>, new: Option<String>) -> UserEvent {
        UserEvent {
            actor: None,
            actor_name: None,
            source: source.to_owned(),
            field: field.to_owned(),
            old,
            new,
            at: self.now(),
        }
    }

    /// Opens a session for a person a provider signed in; returns the cookie secret.
    pub async fn open_provider_session(
        &self,
        principal: &Principal,
        provider: ProviderSession<'_>,
    ) -> Result<String, AppError> {
        let secret = self.open_session(principal).await?;
        let reference = provider.reference.map(hash_token);
        let mut tx = self.db.begin().await?;
        guichet_store::identities::set_session_provider(
            &mut tx,
            &hash_token(&secret),
            provider.provider,
            reference.as_deref(),
            provider.logout_hint,
        )
        .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// A provider's single logout: ends the sessions opened with `reference`.
    pub async fn single_logout(&self, provider: &str, reference: &str) -> Result<u64, AppError> {
        let mut tx = self.db.begin().await?;
        let ended =
            guichet_store::identities::delete_provider_sessions(&mut tx, provider, &hash_token(reference)).await?;
        tx.commit().await?;
        tracing::info!(provider, sessions = ended, "single logout");
        Ok(ended)
    }

    /// The provider that opened a session, and what its logout wants back.
    pub async fn session_provider(&self, secret: &str) -> Result<Option<(String, Option<String>)>, AppError> {
        let mut conn = self.db.conn().await?;
        Ok(guichet_store::identities::find_session_provider(&mut conn, &hash_token(secret)).await?)
    }

    /// An account's history of changes and its provider identities (administrators).
    pub async fn user_history(
        &self,
        p: &Principal,
        id: UserId,
    ) -> Result<(Vec<UserEvent>, Vec<guichet_store::identities::LinkedIdentity>), AppError> {
        if p.actor.role != Role::Admin {
            return Err(AppError::Forbidden("only administrators read an account's history".into()));
        }
        let mut conn = self.db.conn().await?;
        let events = guichet_store::identities::list_user_events(&mut conn, id, 200).await?;
        let identities = guichet_store::identities::list_user_identities(&mut conn, id).await?;
        Ok((events, identities))
    }
}
