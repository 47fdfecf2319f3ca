//! `[auth]`: who may sign in with a password here, and the identity
//! providers (`[[auth.cas]]`, `[[auth.oidc]]`) with the rules that turn
//! their people into accounts.

use anyhow::{bail, Context};
use guichet_domain::identity::{IdentityRules, RoleRule};
use guichet_domain::user::{EmailAddress, Role};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthOptions {
    /// Roles that may sign in with a password here (all by default); the
    /// others sign in through a provider.
    pub password_roles: Vec<String>,
    /// An administrator's address that keeps password sign-in whatever
    /// `password_roles` says: the way in when the providers are down.
    pub break_glass: Option<String>,
    pub cas: Vec<CasOptions>,
    pub oidc: Vec<OidcOptions>,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            password_roles: Role::ALL.iter().map(|r| r.as_str().to_owned()).collect(),
            break_glass: None,
            cas: Vec::new(),
            oidc: Vec::new(),
        }
    }
}

/// Makes an account at first sign-in when an attribute has one of the values.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOptions {
    pub attribute: String,
    /// Any of these values (case-insensitive); none: the attribute being there is enough.
    #[serde(default)]
    pub values: Vec<String>,
    /// `requester`, `agent` or `technician` (never `admin`).
    pub role: String,
}

/// What both kinds of provider share: how their people become accounts.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountOptions {
    /// Link a first sign-in to the account with the same address when the
    /// provider vouches for it.
    pub match_email: bool,
    /// The attribute listing a school administrator's schools (UAI codes).
    pub uai_attribute: Option<String>,
    /// Accounts made at first sign-in: the first matching rule.
    pub create: Vec<RuleOptions>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CasOptions {
    /// In URLs (`/auth/cas/NAME`) and account links: lower-case letters, digits, dashes.
    pub name: String,
    /// The button on the sign-in page.
    #[serde(default = "default_cas_label")]
    pub label: String,
    /// The CAS server's base URL (`https://ent.example/cas`).
    pub server_url: String,
    /// `xml` (default) or `json` answers from `/p3/serviceValidate`.
    #[serde(default = "default_format")]
    pub format: String,
    /// The attribute with the stable identifier; default: the CAS user.
    #[serde(default)]
    pub subject_attribute: Option<String>,
    #[serde(default = "default_email_attribute")]
    pub email_attribute: String,
    #[serde(default = "default_name_attribute")]
    pub name_attribute: String,
    /// The CAS server's directory is the record of people's addresses.
    #[serde(default)]
    pub trust_email: bool,
    /// Send people to the CAS server's logout when they sign out here.
    #[serde(default = "yes")]
    pub logout_at_provider: bool,
    #[serde(flatten)]
    pub accounts: AccountOptions,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OidcOptions {
    pub name: String,
    #[serde(default = "default_oidc_label")]
    pub label: String,
    /// The issuer (its `/.well-known/openid-configuration` is read).
    pub issuer: String,
    pub client_id: String,
    #[serde(default, serialize_with = "skip_secret")]
    pub client_secret: Option<SecretString>,
    /// A file holding the client secret (for secrets managers).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Read the UserInfo endpoint too.
    #[serde(default)]
    pub userinfo: bool,
    #[serde(default = "yes")]
    pub logout_at_provider: bool,
    #[serde(flatten)]
    pub accounts: AccountOptions,
}

fn skip_secret<S: serde::Serializer>(_: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_none()
}

fn default_cas_label() -> String {
    "Se connecter avec l'ENT".into()
}
fn default_oidc_label() -> String {
    "Se connecter avec mon compte académique".into()
}
fn default_format() -> String {
    "xml".into()
}
fn default_email_attribute() -> String {
    "mail".into()
}
fn default_name_attribute() -> String {
    "displayName".into()
}
fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}
fn yes() -> bool {
    true
}

fn parse_role(text: &str, what: &str) -> anyhow::Result<Role> {
    Role::parse(text.trim())
        .map_err(|_| anyhow::anyhow!("{what}: `{text}` is not a role (requester, agent, technician, admin)"))
}

impl AccountOptions {
    fn rules(&self, provider: &str) -> anyhow::Result<IdentityRules> {
        let mut create = Vec::new();
        for rule in &self.create {
            let role = parse_role(&rule.role, &format!("auth provider `{provider}`"))?;
            if role == Role::Admin {
                bail!("auth provider `{provider}`: a rule cannot make administrators (name them by hand)");
            }
            if rule.attribute.trim().is_empty() {
                bail!("auth provider `{provider}`: a rule needs an attribute");
            }
            create.push(RoleRule { attribute: rule.attribute.trim().to_owned(), values: rule.values.clone(), role });
        }
        Ok(IdentityRules {
            match_email: self.match_email,
            uai_attribute: self.uai_attribute.clone().filter(|a| !a.trim().is_empty()),
            create,
        })
    }
}

impl OidcOptions {
    fn secret(&self) -> anyhow::Result<Option<String>> {
        if let Some(path) = &self.client_secret_file {
            let secret = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            return Ok(Some(secret.trim().to_owned()));
        }
        Ok(self.client_secret.as_ref().map(|s| s.expose_secret().to_owned()))
    }
}

fn url(text: &str, what: &str) -> anyhow::Result<url::Url> {
    let url = url::Url::parse(text.trim()).with_context(|| format!("{what}: `{text}` is not a URL"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        bail!("{what}: `{text}` is not an http(s) URL");
    }
    Ok(url)
}

impl AuthOptions {
    pub fn validate(&self) -> anyhow::Result<()> {
        let roles = self.password_roles()?;
        let break_glass = self.break_glass()?;
        if !roles.contains(&Role::Admin) && break_glass.is_none() {
            bail!("auth.password_roles leaves no administrator a password: set auth.break_glass to one administrator's address");
        }
        let mut names = std::collections::HashSet::new();
        let all = self.cas.iter().map(|c| (&c.name, "cas")).chain(self.oidc.iter().map(|o| (&o.name, "oidc")));
        for (name, kind) in all {
            let ok = !name.is_empty()
                && name.len() <= 40
                && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                bail!("auth.{kind} name `{name}` must be lower-case letters, digits and dashes");
            }
            if !names.insert(name.clone()) {
                bail!("auth provider `{name}` is configured twice");
            }
        }
        for cas in &self.cas {
            url(&cas.server_url, &format!("auth.cas `{}` server_url", cas.name))?;
            if !matches!(cas.format.as_str(), "xml" | "json") {
                bail!("auth.cas `{}` format must be xml or json", cas.name);
            }
            cas.accounts.rules(&cas.name)?;
        }
        for oidc in &self.oidc {
            url(&oidc.issuer, &format!("auth.oidc `{}` issuer", oidc.name))?;
            if oidc.client_id.trim().is_empty() {
                bail!("auth.oidc `{}` needs a client_id", oidc.name);
            }
            oidc.accounts.rules(&oidc.name)?;
        }
        Ok(())
    }

    pub fn password_roles(&self) -> anyhow::Result<Vec<Role>> {
        self.password_roles.iter().map(|r| parse_role(r, "auth.password_roles")).collect()
    }

    pub fn break_glass(&self) -> anyhow::Result<Option<EmailAddress>> {
        self.break_glass
            .as_deref()
            .map(|e| EmailAddress::parse(e).map_err(|_| anyhow::anyhow!("auth.break_glass: `{e}` is not an address")))
            .transpose()
    }

    /// As `config check` shows it: client secrets masked.
    pub fn to_masked_toml(&self) -> String {
        let mut out = format!(
            "[auth]\npassword_roles = {:?}\nbreak_glass = {:?}\n",
            self.password_roles,
            self.break_glass.as_deref().unwrap_or("")
        );
        let rules = |a: &AccountOptions| {
            let created: Vec<String> = a
                .create
                .iter()
                .map(|r| format!("{{ attribute = {:?}, values = {:?}, role = {:?} }}", r.attribute, r.values, r.role))
                .collect();
            format!(
                "match_email = {}\nuai_attribute = {:?}\ncreate = [{}]\n",
                a.match_email,
                a.uai_attribute.as_deref().unwrap_or(""),
                created.join(", ")
            )
        };
        for c in &self.cas {
            out.push_str(&format!(
                "[[auth.cas]]\nname = {:?}\nlabel = {:?}\nserver_url = {:?}\nformat = {:?}\ntrust_email = {}\n{}",
                c.name,
                c.label,
                c.server_url,
                c.format,
                c.trust_email,
                rules(&c.accounts)
            ));
        }
        for o in &self.oidc {
            let secret = if o.client_secret.is_some() || o.client_secret_file.is_some() { "***" } else { "" };
            out.push_str(&format!(
                "[[auth.oidc]]\nname = {:?}\nlabel = {:?}\nissuer = {:?}\nclient_id = {:?}\nclient_secret = {:?}\nscopes = {:?}\n{}",
                o.name,
                o.label,
                o.issuer,
                o.client_id,
                secret,
                o.scopes,
                rules(&o.accounts)
            ));
        }
        out
    }

    /// Each provider's account rules, by name.
    pub fn rules(&self) -> anyhow::Result<BTreeMap<String, IdentityRules>> {
        let mut out = BTreeMap::new();
        for cas in &self.cas {
            out.insert(cas.name.clone(), cas.accounts.rules(&cas.name)?);
        }
        for oidc in &self.oidc {
            out.insert(oidc.name.clone(), oidc.accounts.rules(&oidc.name)?);
        }
        Ok(out)
    }

    /// The providers, with their callbacks under `public_url`.
    pub fn providers(&self, public_url: &str) -> anyhow::Result<guichet_sso::Providers> {
        let base = public_url.trim_end_matches('/');
        let mut providers = guichet_sso::Providers::default();
        for cas in &self.cas {
            providers.cas.push(guichet_sso::cas::CasProvider {
                name: cas.name.clone(),
                label: cas.label.clone(),
                server_url: url(&cas.server_url, "auth.cas server_url")?,
                callback_url: url(&format!("{base}/auth/cas/{}/callback", cas.name), "public_url")?,
                json: cas.format == "json",
                subject_attribute: cas.subject_attribute.clone().filter(|a| !a.trim().is_empty()),
                email_attribute: cas.email_attribute.clone(),
                name_attribute: cas.name_attribute.clone(),
                trust_email: cas.trust_email,
                logout_at_provider: cas.logout_at_provider,
            });
        }
        for oidc in &self.oidc {
            providers.oidc.push(guichet_sso::oidc::OidcProvider::new(
                oidc.name.clone(),
                oidc.label.clone(),
                oidc.issuer.trim().to_owned(),
                oidc.client_id.clone(),
                oidc.secret()?,
                url(&format!("{base}/auth/oidc/{}/callback", oidc.name), "public_url")?,
                url(&format!("{base}/login"), "public_url")?,
                oidc.scopes.clone(),
                oidc.userinfo,
                oidc.logout_at_provider,
            ));
        }
        Ok(providers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> anyhow::Result<AuthOptions> {
        use figment::providers::Format;
        let options: AuthOptions = figment::Figment::new().merge(figment::providers::Toml::string(toml)).extract()?;
        options.validate()?;
        Ok(options)
    }

    #[test]
    fn a_cas_provider_with_rules_reads_as_written() {
        let options = parse(
            r#"password_roles = ["admin"]
[[cas]]
name = "ent"
server_url = "https://ent.example/cas"
trust_email = true
match_email = true
uai_attribute = "ENTPersonStructRattachUAI"
[[cas.create]]
attribute = "ENTPersonProfils"
values = ["National_DIR"]
role = "requester"
"#,
        )
        .unwrap();
        let rules = options.rules().unwrap();
        assert_eq!(rules["ent"].create[0].role, Role::Requester);
        assert!(rules["ent"].match_email);
        let providers = options.providers("https://support.example/").unwrap();
        assert_eq!(providers.cas[0].callback_url.as_str(), "https://support.example/auth/cas/ent/callback");
        assert_eq!(providers.cas[0].label, "Se connecter avec l'ENT");
    }

    #[test]
    fn mistakes_that_would_lock_people_out_or_open_the_door_are_refused() {
        let cas = "[[cas]]\nname = \"ent\"\nserver_url = \"https://ent.example/cas\"\n";
        for (bad, why) in [
            ("password_roles = [\"requester\"]\n", "no administrator keeps a password"),
            ("password_roles = [\"chef\"]\n", "unknown role"),
            (&format!("{cas}[[cas.create]]\nattribute = \"x\"\nrole = \"admin\"\n"), "rule making administrators"),
            (&format!("{cas}{cas}"), "the same name twice"),
            ("[[cas]]\nname = \"ENT\"\nserver_url = \"https://ent.example/cas\"\n", "upper case in a name"),
            ("[[cas]]\nname = \"ent\"\nserver_url = \"ent.example/cas\"\n", "not a URL"),
            ("[[cas]]\nname = \"ent\"\nserver_url = \"file:///etc/passwd\"\n", "not http"),
            ("[[oidc]]\nname = \"pc\"\nissuer = \"https://id.example\"\nclient_id = \" \"\n", "no client id"),
            ("break_glass = \"not an address\"\n", "break-glass not an address"),
        ] {
            assert!(parse(bad).is_err(), "{why}");
        }
        assert!(parse("password_roles = [\"admin\"]\n").is_ok());
        assert!(parse("password_roles = []\nbreak_glass = \"boss@desk.test\"\n").is_ok());
    }
}
