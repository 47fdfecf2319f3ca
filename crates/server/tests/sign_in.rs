//! Signing in with identity providers, against real ones on loopback (the
//! test command starts them, scripts/identity-providers.sh): a CAS 3.0
//! server (django-cas-server) and an OpenID Connect provider
//! (oidc-provider-mock). The app is served over HTTP so that the CAS
//! server can post its single logout back; the test plays the browser.
#![allow(clippy::unwrap_used)]

use guichet_domain::identity::{IdentityRules, RoleRule};
use guichet_domain::user::Role;
use guichet_sso::cas::CasProvider;
use guichet_sso::oidc::OidcProvider;
use guichet_testkit::{per_backend_test, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test.sh, which starts the identity providers")
    })
}

/// A person of the test CAS server, who signs in with `password`.
fn cas_person(username: &str, attributes: serde_json::Value) {
    let record = json!({"password": "cas-password", "attributes": attributes});
    let path = std::path::Path::new(&env("GUICHET_TEST_CAS_USERS")).join(format!("{username}.json"));
    std::fs::write(path, record.to_string()).unwrap();
}

fn rules() -> IdentityRules {
    IdentityRules {
        match_email: true,
        uai_attribute: Some("uai".into()),
        create: vec![RoleRule {
            attribute: "profile".into(),
            values: vec!["National_DIR".into()],
            role: Role::Requester,
        }],
    }
}

fn cas(base: &str, server: &str) -> CasProvider {
    CasProvider {
        name: "ent".into(),
        label: "Se connecter avec l'ENT".into(),
        server_url: server.parse().unwrap(),
        callback_url: format!("{base}/auth/cas/ent/callback").parse().unwrap(),
        json: false,
        subject_attribute: None,
        email_attribute: "mail".into(),
        name_attribute: "displayName".into(),
        trust_email: true,
        logout_at_provider: true,
    }
}

fn oidc(base: &str, issuer: &str, client: &str) -> OidcProvider {
    OidcProvider::new(
        "academie".into(),
        "Se connecter avec mon compte académique".into(),
        issuer.into(),
        client.into(),
        Some("client-secret".into()),
        format!("{base}/auth/oidc/academie/callback").parse().unwrap(),
        format!("{base}/login").parse().unwrap(),
        vec!["openid".into(), "email".into(), "profile".into()],
        false,
        true,
    )
}

/// The app with both providers, served, with its fixture.
struct Site {
    app: TestApp,
    base: String,
    f: guichet_testkit::Fixture,
}

impl Site {
    async fn new(backend: Backend) -> Site {
        Self::with(backend, &env("GUICHET_TEST_CAS"), &env("GUICHET_TEST_OIDC"), |_| {}).await
    }

    async fn with(
        backend: Backend,
        cas_server: &str,
        issuer: &str,
        adjust: impl FnOnce(&mut guichet_app::Settings),
    ) -> Site {
        let mut settings = guichet_app::Settings::default();
        settings.identity_rules.insert("ent".into(), rules());
        settings.identity_rules.insert("academie".into(), rules());
        adjust(&mut settings);
        let app = TestApp::with_settings(backend, settings).await;
        let f = app.fixture().await;
        let (cas_server, issuer) = (cas_server.to_owned(), issuer.to_owned());
        let base = app
            .serve(|base| {
                let mut web = guichet_web::WebConfig::default();
                web.providers.cas.push(cas(base, &cas_server));
                web.providers.oidc.push(oidc(base, &issuer, &guichet_testkit::mail::unique("guichet")));
                web
            })
            .await;
        Site { app, base, f }
    }
}

/// A browser: cookies kept, redirections followed by hand.
struct Browser(reqwest::Client);

struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new() -> Browser {
        Browser(
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        )
    }

    async fn page(response: reqwest::Response) -> Page {
        let status = response.status();
        let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        // Read as a person would: the apostrophes of French text are escaped in HTML.
        let body = response.text().await.unwrap().replace("&#x27;", "'").replace("&#39;", "'");
        Page { status, location, body }
    }

    async fn get(&self, url: &str) -> Page {
        Self::page(self.0.get(url).send().await.unwrap()).await
    }

    async fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> Page {
        Self::page(self.0.post(url).header("Referer", url).form(fields).send().await.unwrap()).await
    }

    /// Goes to the CAS server from the sign-in button, fills its login form,
    /// and returns the callback's answer.
    async fn cas_sign_in(&self, base: &str, username: &str) -> Page {
        let start = self.get(&format!("{base}/auth/cas/ent?next=/tickets")).await;
        assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
        let login_url = start.location.unwrap();
        let (ticket_url, _) = self.cas_login(&login_url, username).await;
        self.get(&ticket_url).await
    }

    /// Signs in at the CAS server's own form; returns where it sends the
    /// browser back (the service URL with its ticket) and the ticket.
    async fn cas_login(&self, login_url: &str, username: &str) -> (String, String) {
        let form = self.get(login_url).await;
        if form.status == StatusCode::FOUND {
            // Already signed in at the CAS server: it sends the browser straight back.
            let location = form.location.unwrap();
            let ticket = location.split("ticket=").nth(1).unwrap().to_owned();
            return (location, ticket);
        }
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        let hidden = |name: &str| {
            let marker = format!("name=\"{name}\" value=\"");
            let start = form.body.find(&marker).unwrap_or_else(|| panic!("no {name} in {}", form.body)) + marker.len();
            form.body[start..].split('"').next().unwrap().replace("&amp;", "&")
        };
        let (csrf, lt, service) = (hidden("csrfmiddlewaretoken"), hidden("lt"), hidden("service"));
        let action = login_url.split('?').next().unwrap();
        let fields = [
            ("csrfmiddlewaretoken", csrf.as_str()),
            ("lt", lt.as_str()),
            ("service", service.as_str()),
            ("renew", "False"),
            ("username", username),
            ("password", "cas-password"),
        ];
        let back = self.post_form(action, &fields).await;
        assert_eq!(back.status, StatusCode::FOUND, "the CAS server did not sign {username} in: {}", back.body);
        let location = back.location.unwrap();
        let ticket = location.split("ticket=").nth(1).unwrap().to_owned();
        (location, ticket)
    }
}

/// The service URL (this site's callback for one flow) in a CAS login URL.
fn service_of(login_url: &str) -> String {
    let url = reqwest::Url::parse(login_url).unwrap();
    url.query_pairs().find(|(k, _)| k == "service").map(|(_, v)| v.into_owned()).unwrap()
}

per_backend_test!(an_agent_signs_in_through_the_ent_and_is_known_by_it_afterwards, |backend| async move {
    let site = Site::new(backend).await;
    let user = guichet_testkit::mail::unique("claire");
    cas_person(&user, json!({"mail": "Claire@Desk.test", "displayName": "Claire (ENT)"}));
    let browser = Browser::new();
    let back = browser.cas_sign_in(&site.base, &user).await;
    assert_eq!((back.status, back.location.as_deref()), (StatusCode::SEE_OTHER, Some("/tickets")), "{}", back.body);
    let queue = browser.get(&format!("{}/tickets", site.base)).await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.body.contains("Claire Oreja") && queue.body.contains("/desk"), "the agent's own account");
    // Known by the ENT's identifier from now on, whatever address it gives.
    cas_person(&user, json!({"mail": "claire.new@desk.test"}));
    let again = Browser::new();
    assert_eq!(again.cas_sign_in(&site.base, &user).await.status, StatusCode::SEE_OTHER);
    let (events, identities) = site
        .app
        .app
        .user_history(&site.app.app.operator(), guichet_domain::ids::UserId(site.f.agent_id))
        .await
        .unwrap();
    assert_eq!(identities.len(), 1);
    assert_eq!((identities[0].provider.as_str(), identities[0].subject.as_str()), ("ent", user.as_str()));
    assert!(events.iter().any(|e| e.field == "identity" && e.source == "provider:ent"), "{events:?}");
    // Pages work as after a password sign-in: a form with the session's token.
    let page = browser.get(&format!("{}/tickets/{}", site.base, site.f.ticket_a)).await;
    assert_eq!(page.status, StatusCode::OK);
});

per_backend_test!(
    a_school_administrator_gets_an_account_at_first_sign_in_and_follows_the_ent_afterwards,
    |backend| async move {
        let site = Site::new(backend).await;
        let user = guichet_testkit::mail::unique("directeur");
        let email = format!("{user}@lycee-a.test");
        // One school the desk serves, one it does not.
        cas_person(
            &user,
            json!({"mail": email, "displayName": "Directrice Martin", "profile": "National_DIR",
        "uai": ["0750655E$LYCEE HENRI WALLON", "0011223A"]}),
        );
        let browser = Browser::new();
        let back = browser.cas_sign_in(&site.base, &user).await;
        assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
        let queue = browser.get(&format!("{}/tickets", site.base)).await;
        assert!(queue.body.contains(&site.f.ticket_a) && !queue.body.contains(&site.f.ticket_b), "school A only");
        let mut conn = site.app.app.db.conn().await.unwrap();
        let created = guichet_store::users::find_user_by_email(
            &mut conn,
            &guichet_domain::user::EmailAddress::parse(&email).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        drop(conn);
        assert_eq!(
            (created.role, created.name.as_str(), created.establishments.len()),
            (Role::Requester, "Directrice Martin", 1)
        );
        // Moved to school B in the ENT: the next sign-in follows, and the old session is over.
        cas_person(&user, json!({"mail": email, "profile": "National_DIR", "uai": "0930124E"}));
        let later = Browser::new();
        assert_eq!(later.cas_sign_in(&site.base, &user).await.status, StatusCode::SEE_OTHER);
        let queue = later.get(&format!("{}/tickets", site.base)).await;
        assert!(queue.body.contains(&site.f.ticket_b) && !queue.body.contains(&site.f.ticket_a), "school B only now");
        let stale = browser.get(&format!("{}/tickets", site.base)).await;
        assert_eq!(stale.status, StatusCode::SEE_OTHER, "the session opened with school A ended");
        let (events, _) = site.app.app.user_history(&site.app.app.operator(), created.id).await.unwrap();
        let moved = events.iter().find(|e| e.field == "establishments").unwrap();
        assert_eq!((moved.old.as_deref(), moved.new.as_deref()), (Some("0750655E"), Some("0930124E")));
        // What the administrators see of it.
        let admin = site.app.sign_in("boss@desk.test", PASSWORD).await;
        let page = site.app.page(&admin.cookie, &format!("/admin/users/{}/tokens", created.id.0)).await;
        let html = String::from_utf8_lossy(&page.bytes).into_owned();
        assert!(html.contains(&format!("<code>{user}</code>")) && html.contains("Établissements"), "{html}");
        assert!(html.contains("0750655E") && html.contains("0930124E") && html.contains("Compte créé"), "{html}");
        // Only schools this desk serves: a profile naming none of them is refused, nothing changed.
        cas_person(&user, json!({"mail": email, "profile": "National_DIR", "uai": "0011223A"}));
        let refused = Browser::new().cas_sign_in(&site.base, &user).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(refused.body.contains("Aucun des établissements de votre profil ENT"), "{}", refused.body);
    }
);

per_backend_test!(someone_no_rule_admits_gets_a_clear_page_in_french, |backend| async move {
    let site = Site::new(backend).await;
    let user = guichet_testkit::mail::unique("eleve");
    cas_person(&user, json!({"mail": format!("{user}@eleves.test"), "profile": "National_ELV", "uai": "0750655E"}));
    let page = Browser::new().cas_sign_in(&site.base, &user).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.body.contains("Connexion impossible") && page.body.contains("n'est pas connu du support"),
        "{}",
        page.body
    );
    assert!(page.body.contains("href=\"/login\""));
});

per_backend_test!(a_service_ticket_serves_once_and_only_in_the_browser_that_asked_for_it, |backend| async move {
    let site = Site::new(backend).await;
    let user = guichet_testkit::mail::unique("claire");
    cas_person(&user, json!({"mail": "claire@desk.test"}));
    let browser = Browser::new();
    let start = browser.get(&format!("{}/auth/cas/ent", site.base)).await;
    let (back_url, ticket) = browser.cas_login(&start.location.unwrap(), &user).await;
    // Someone else's browser with the victim's callback link: refused (login CSRF).
    let other = Browser::new();
    let stolen = other.get(&back_url).await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);
    assert!(stolen.body.contains("ouvert dans un autre navigateur"), "{}", stolen.body);
    // The flow is spent even so; the real browser starts again and signs in.
    let again = browser.get(&back_url).await;
    assert_eq!(again.status, StatusCode::FORBIDDEN, "a flow serves once");
    let ok = browser.cas_sign_in(&site.base, &user).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    // The first ticket replayed in a fresh flow of the same browser: refused here and by the CAS server.
    let service = service_of(&browser.get(&format!("{}/auth/cas/ent", site.base)).await.location.unwrap());
    let replay = browser.get(&format!("{service}&ticket={ticket}")).await;
    assert_eq!(replay.status, StatusCode::FORBIDDEN);
    assert!(replay.body.contains("n'a pas confirmé votre identité"), "{}", replay.body);
    // The ticket of the successful sign-in, replayed: refused by Guichet before asking the server.
    let used = {
        let b = Browser::new();
        let start = b.get(&format!("{}/auth/cas/ent", site.base)).await;
        let (url, ticket) = b.cas_login(&start.location.unwrap(), &user).await;
        assert_eq!(b.get(&url).await.status, StatusCode::SEE_OTHER);
        let service = service_of(&b.get(&format!("{}/auth/cas/ent", site.base)).await.location.unwrap());
        b.get(&format!("{service}&ticket={ticket}")).await
    };
    assert_eq!(used.status, StatusCode::FORBIDDEN);
});

per_backend_test!(signing_out_of_the_ent_signs_out_of_the_desk, |backend| async move {
    let site = Site::new(backend).await;
    let user = guichet_testkit::mail::unique("claire");
    cas_person(&user, json!({"mail": "claire@desk.test"}));
    let browser = Browser::new();
    assert_eq!(browser.cas_sign_in(&site.base, &user).await.status, StatusCode::SEE_OTHER);
    assert_eq!(browser.get(&format!("{}/desk", site.base)).await.status, StatusCode::OK);
    // Logging out at the CAS server: it posts a logout request to the service URL.
    let logout = browser.get(&format!("{}/logout", env("GUICHET_TEST_CAS"))).await;
    assert!(logout.status.is_success() || logout.status.is_redirection(), "{}", logout.body);
    let after = browser.get(&format!("{}/desk", site.base)).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "the session ended with the ENT's");
    // A logout request that is not one changes nothing and says so.
    let bad = reqwest::Client::new()
        .post(format!("{}/auth/cas/ent/callback", site.base))
        .form(&[("logoutRequest", "<not-xml")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
});

per_backend_test!(signing_out_here_signs_out_of_the_ent_too, |backend| async move {
    let site = Site::new(backend).await;
    let user = guichet_testkit::mail::unique("claire");
    cas_person(&user, json!({"mail": "claire@desk.test"}));
    let browser = Browser::new();
    assert_eq!(browser.cas_sign_in(&site.base, &user).await.status, StatusCode::SEE_OTHER);
    let response = browser.0.get(format!("{}/desk", site.base)).send().await.unwrap();
    // The sign-out form leads to the CAS server: the pages' policy lets forms go there, and only there.
    let policy = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let cas_origin = reqwest::Url::parse(&env("GUICHET_TEST_CAS")).unwrap().origin().ascii_serialization();
    let form_action: Vec<&str> = policy
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("form-action "))
        .unwrap_or_default()
        .split(' ')
        .collect();
    assert!(form_action.contains(&"'self'") && form_action.contains(&cas_origin.as_str()), "{policy}");
    assert!(form_action.iter().all(|o| *o == "'self'" || o.starts_with("http://127.0.0.1:")), "{policy}");
    let desk = Browser::page(response).await;
    let csrf = guichet_testkit::csrf_of(&desk.body).unwrap();
    let out = browser.post_form(&format!("{}/logout", site.base), &[("_csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let to = out.location.unwrap();
    assert!(to.starts_with(&format!("{}/logout?service=", env("GUICHET_TEST_CAS"))), "{to}");
    assert_eq!(browser.get(&format!("{}/desk", site.base)).await.status, StatusCode::SEE_OTHER);
});

/// Puts the person's claims at the OpenID Connect provider.
async fn oidc_person(sub: &str, claims: serde_json::Value) {
    let mut claims = claims;
    claims["sub"] = json!(sub);
    let r = reqwest::Client::new()
        .put(format!("{}/users/{sub}", env("GUICHET_TEST_OIDC")))
        .json(&claims)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

impl Browser {
    /// Leaves for the provider (letting `tamper` change the authorization
    /// request), picks `sub` there, and returns the callback's answer.
    async fn oidc_sign_in(&self, base: &str, sub: &str, tamper: impl FnOnce(&mut reqwest::Url)) -> Page {
        let start = self.get(&format!("{base}/auth/oidc/academie?next=/tickets")).await;
        assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
        let mut authorize = reqwest::Url::parse(&start.location.unwrap()).unwrap();
        tamper(&mut authorize);
        let back = self.post_form(authorize.as_str(), &[("sub", sub)]).await;
        assert_eq!(back.status, StatusCode::FOUND, "the provider did not answer: {}", back.body);
        self.get(&back.location.unwrap()).await
    }
}

fn replace_param(url: &mut reqwest::Url, name: &str, value: &str) {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name { value.to_owned() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
}

per_backend_test!(an_agent_signs_in_with_openid_connect_and_signs_out_there_too, |backend| async move {
    let site = Site::new(backend).await;
    let sub = guichet_testkit::mail::unique("agent");
    oidc_person(&sub, json!({"email": "claire@desk.test", "email_verified": true, "name": "Claire"})).await;
    let browser = Browser::new();
    let back = browser.oidc_sign_in(&site.base, &sub, |_| {}).await;
    assert_eq!((back.status, back.location.as_deref()), (StatusCode::SEE_OTHER, Some("/tickets")), "{}", back.body);
    let queue = browser.get(&format!("{}/tickets", site.base)).await;
    assert!(queue.body.contains("Claire Oreja"));
    let csrf = guichet_testkit::csrf_of(&queue.body).unwrap();
    let out = browser.post_form(&format!("{}/logout", site.base), &[("_csrf", &csrf)]).await;
    let to = out.location.unwrap();
    assert!(to.starts_with(&format!("{}/oauth2/end_session?", env("GUICHET_TEST_OIDC"))), "{to}");
    assert!(to.contains("id_token_hint=") && to.contains("post_logout_redirect_uri="), "{to}");
});

per_backend_test!(an_openid_connect_answer_that_cannot_be_believed_signs_nobody_in, |backend| async move {
    let site = Site::new(backend).await;
    let sub = guichet_testkit::mail::unique("agent");
    oidc_person(&sub, json!({"email": "claire@desk.test", "email_verified": true})).await;
    let refused = |page: &Page| page.status == StatusCode::FORBIDDEN && page.body.contains("Connexion impossible");
    // Another state than the one this browser left with.
    let b = Browser::new();
    let page = b.oidc_sign_in(&site.base, &sub, |url| replace_param(url, "state", "forged-state")).await;
    assert!(refused(&page) && page.body.contains("La connexion n'a pas abouti"), "{} {}", page.status, page.body);
    // A nonce changed on the way: the ID token's is not the one kept.
    let page = b.oidc_sign_in(&site.base, &sub, |url| replace_param(url, "nonce", "forged-nonce")).await;
    assert!(refused(&page) && page.body.contains("n'a pas confirmé"), "{} {}", page.status, page.body);
    // An ID token for another audience.
    let other = guichet_testkit::mail::unique("audience");
    oidc_person(&other, json!({"email": "claire@desk.test", "email_verified": true, "aud": "another-client"})).await;
    let page = b.oidc_sign_in(&site.base, &other, |_| {}).await;
    assert!(refused(&page) && page.body.contains("n'a pas confirmé"), "{} {}", page.status, page.body);
    // An ID token from another issuer.
    let forger = guichet_testkit::mail::unique("issuer");
    oidc_person(&forger, json!({"email": "claire@desk.test", "email_verified": true, "iss": "https://evil.example"}))
        .await;
    let page = b.oidc_sign_in(&site.base, &forger, |_| {}).await;
    assert!(refused(&page) && page.body.contains("n'a pas confirmé"), "{} {}", page.status, page.body);
    // The address of an account, not verified by the provider: not that account.
    let unverified = guichet_testkit::mail::unique("unverified");
    oidc_person(&unverified, json!({"email": "claire@desk.test", "email_verified": false})).await;
    let page = b.oidc_sign_in(&site.base, &unverified, |_| {}).await;
    assert!(refused(&page) && page.body.contains("n'est pas connu"), "{} {}", page.status, page.body);
    // The same, from someone a rule would admit: told to have the accounts linked.
    let director = guichet_testkit::mail::unique("director");
    oidc_person(
        &director,
        json!({"email": "admin.a@lycee-a.test", "email_verified": false, "profile": "National_DIR",
        "uai": "0750655E"}),
    )
    .await;
    let page = b.oidc_sign_in(&site.base, &director, |_| {}).await;
    assert!(refused(&page) && page.body.contains("Un compte existe déjà"), "{} {}", page.status, page.body);
    // None of them got a session.
    assert_eq!(b.get(&format!("{}/tickets", site.base)).await.status, StatusCode::SEE_OTHER);
});

per_backend_test!(a_provider_that_is_down_gives_a_clear_page, |backend| async move {
    let closed = format!("http://127.0.0.1:{}", guichet_testkit::mail::free_port());
    let site = Site::with(backend, &format!("{closed}/cas"), &closed, |_| {}).await;
    let b = Browser::new();
    let oidc = b.get(&format!("{}/auth/oidc/academie", site.base)).await;
    assert_eq!(oidc.status, StatusCode::BAD_GATEWAY);
    assert!(oidc.body.contains("ne répond pas"), "{}", oidc.body);
    // CAS: the login redirection needs nothing from the server; validating the ticket does.
    let start = b.get(&format!("{}/auth/cas/ent", site.base)).await;
    let service = service_of(&start.location.unwrap());
    let back = b.get(&format!("{service}&ticket=ST-1-made-up")).await;
    assert_eq!(back.status, StatusCode::BAD_GATEWAY);
    assert!(back.body.contains("ne répond pas"), "{}", back.body);
});

per_backend_test!(
    roles_that_sign_in_through_the_ent_cannot_use_a_password_but_the_break_glass_admin_can,
    |backend| async move {
        let site = Site::with(backend, &env("GUICHET_TEST_CAS"), &env("GUICHET_TEST_OIDC"), |s| {
            s.sign_in.local_roles = vec![];
            s.sign_in.break_glass = Some(guichet_domain::user::EmailAddress::parse("boss@desk.test").unwrap());
        })
        .await;
        let html = Browser::new().get(&format!("{}/login", site.base)).await.body;
        assert!(html.contains("href=\"/auth/cas/ent?next=%2F\"") && html.contains("Se connecter avec l'ENT"), "{html}");
        let agent = site.app.try_sign_in("claire@desk.test", PASSWORD).await;
        assert_eq!(agent.status, axum::http::StatusCode::FORBIDDEN);
        let html = String::from_utf8_lossy(&agent.bytes).replace("&#39;", "'");
        assert!(html.contains("Votre compte se connecte avec l'ENT"), "{html}");
        // A wrong password says nothing about the role.
        let wrong = site.app.try_sign_in("claire@desk.test", "wrong").await;
        assert_eq!(wrong.status, axum::http::StatusCode::UNAUTHORIZED);
        assert_eq!(site.app.try_sign_in("boss@desk.test", PASSWORD).await.status, axum::http::StatusCode::SEE_OTHER);
        // Machines keep their API tokens.
        assert_eq!(site.app.get("/api/v1/me", &site.f.agent).await.status, axum::http::StatusCode::OK);
    }
);

per_backend_test!(the_page_after_a_provider_sign_in_never_leaves_the_site, |backend| async move {
    let site = Site::new(backend).await;
    let user = guichet_testkit::mail::unique("claire");
    cas_person(&user, json!({"mail": "claire@desk.test"}));
    let sub = guichet_testkit::mail::unique("agent");
    oidc_person(&sub, json!({"email": "claire@desk.test", "email_verified": true})).await;
    for next in ["//evil.example/", "/\\evil.example", "/\t/evil.example", "https://evil.example/", "/tickets\r\nX: y"]
    {
        let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        let b = Browser::new();
        let start = b.get(&format!("{}/auth/cas/ent?next={encoded}", site.base)).await;
        let (back_url, _) = b.cas_login(&start.location.unwrap(), &user).await;
        let back = b.get(&back_url).await;
        assert_eq!((back.status, back.location.as_deref()), (StatusCode::SEE_OTHER, Some("/")), "CAS, next={next:?}");
        let b = Browser::new();
        let start = b.get(&format!("{}/auth/oidc/academie?next={encoded}", site.base)).await;
        let back = b.post_form(&start.location.unwrap(), &[("sub", &sub)]).await;
        let back = b.get(&back.location.unwrap()).await;
        assert_eq!((back.status, back.location.as_deref()), (StatusCode::SEE_OTHER, Some("/")), "OIDC, next={next:?}");
    }
});
