//! Pages against an attacker: redirects that leave the site, state changed
//! by a link, on both backends.

use super::*;
use axum::body::Body;
use axum::http::{header, Method, Request};
use guichet_testkit::json;

fn location(reply: &guichet_testkit::Reply) -> String {
    reply.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// `next` values that browsers would follow to another site, URL-encoded as an attacker's link carries them.
const BYPASSES: &[&str] = &[
    "/%09/evil.example",
    "/%0A/evil.example",
    "/%0D/evil.example",
    "//evil.example",
    "/%2F/evil.example",
    "/%5Cevil.example",
    "/%5C/evil.example",
    "%5C%5Cevil.example",
    "%09//evil.example",
    "%20//evil.example",
    "https://evil.example",
    "https:evil.example",
    "/%E3%80%80/evil.example",
    "javascript:alert(1)",
];

backend_test!(sign_in_never_redirects_to_another_site, |app| async move {
    let _f = app.fixture().await;
    for next in BYPASSES {
        // The form keeps only a local `next`.
        let page = app.request(Method::GET, &format!("/login?next={next}"), None, None).await;
        let html = String::from_utf8_lossy(&page.bytes).into_owned();
        assert!(html.contains("name=\"next\" value=\"/\""), "{next}");
        // A signed-in visitor sent to the login page goes home, not away.
        let s = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
        let r = app.page(&s.cookie, &format!("/login?next={next}")).await;
        assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, "/".to_owned()), "{next}");
    }
    // The sign-in form posted with a hostile `next` (the attacker's own form).
    let login = app.request(Method::GET, "/login", None, None).await;
    let cookie = login
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("guichet_login_csrf="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap();
    let token = guichet_testkit::csrf_of(&String::from_utf8_lossy(&login.bytes)).unwrap();
    let body =
        format!("_csrf={token}&email=admin.a%40lycee-a.test&password=correct+horse+battery&next=%2F%09%2Fevil.example");
    let request = Request::builder()
        .method(Method::POST)
        .uri("/login")
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let r = app.send(request).await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, "/".to_owned()));
});

backend_test!(the_language_switch_is_a_form_with_the_session_token_and_stays_on_the_site, |app| async move {
    let f = app.fixture().await;
    let s = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    // A link (or an image) can no longer change a stored preference.
    let r = app.page(&s.cookie, "/lang/en?next=/tickets").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let forged = app.form(&s, "/lang/en", &[("next", "/tickets")], Some("not-the-token")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/me", &f.requester_a).await.json()["language"], "fr");
    // The page's own form switches, and comes back to the page.
    let home = String::from_utf8_lossy(&app.page(&s.cookie, "/tickets").await.bytes).into_owned();
    assert!(home.contains("action=\"/lang/en\"") && home.contains("name=\"next\" value=\"/tickets\""), "{home}");
    let r = app.form(&s, "/lang/en", &[("next", "/tickets")], None).await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, "/tickets".to_owned()));
    assert_eq!(app.get("/api/v1/me", &f.requester_a).await.json()["language"], "en");
    for next in ["/\t/evil.example", "//evil.example", "/\\evil.example", "https://evil.example"] {
        let r = app.form(&s, "/lang/fr", &[("next", next)], None).await;
        assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, "/".to_owned()), "{next:?}");
    }
    // Before signing in, only the cookie changes: no token is needed, and `next` is checked the same way.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/lang/en")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("next=%2F%09%2Fevil.example"))
        .unwrap();
    let r = app.send(request).await;
    assert_eq!((r.status, location(&r)), (StatusCode::SEE_OTHER, "/".to_owned()));
});

backend_test!(wrong_passwords_are_throttled_per_account_and_a_correct_one_works_after_the_window, |app| async move {
    let _f = app.fixture().await;
    for _ in 0..5 {
        assert_eq!(app.try_sign_in("admin.a@lycee-a.test", "wrong password").await.status, StatusCode::UNAUTHORIZED);
    }
    // The sixth attempt waits, whether its password is wrong or right.
    for password in ["wrong password", PASSWORD] {
        let r = app.try_sign_in("admin.a@lycee-a.test", password).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = r.headers.get(header::RETRY_AFTER).unwrap().to_str().unwrap().parse().unwrap();
        assert!((1..=15 * 60).contains(&retry), "{retry}");
        let html = String::from_utf8_lossy(&r.bytes).into_owned();
        assert!(
            html.contains("Trop de tentatives de connexion") && html.contains("Réessayez dans 15 minute(s)"),
            "{html}"
        );
    }
    // Another account is not held back by this one.
    assert_eq!(app.try_sign_in("admin.b@lycee-b.test", PASSWORD).await.status, StatusCode::SEE_OTHER);
    // Unknown and known accounts are throttled alike: the limit tells nothing about who exists.
    for _ in 0..5 {
        assert_eq!(app.try_sign_in("nobody@lycee-a.test", "x").await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.try_sign_in("nobody@lycee-a.test", "x").await.status, StatusCode::TOO_MANY_REQUESTS);
    // After the window, the right password works, and the count starts again.
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(app.try_sign_in("admin.a@lycee-a.test", PASSWORD).await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.try_sign_in("admin.a@lycee-a.test", "wrong password").await.status, StatusCode::UNAUTHORIZED);
});

backend_test!(parallel_guesses_check_no_more_passwords_than_the_limit, |app| async move {
    let _f = app.fixture().await;
    let replies = futures_util::future::join_all((0..64).map(|i| {
        let app = &app;
        async move { app.try_sign_in("claire@desk.test", &format!("guess number {i}")).await.status }
    }))
    .await;
    let checked = replies.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let waited = replies.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((checked, waited), (5, 59), "{replies:?}");
});

backend_test!(one_client_address_cannot_try_many_accounts, |app| async move {
    let _f = app.fixture().await;
    // 50 failures from the same address, each on a different account, none of which is throttled by itself.
    for i in 0..50 {
        let r = app.try_sign_in(&format!("guess{i}@lycee-a.test"), "x").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{i}");
    }
    let r = app.try_sign_in("admin.a@lycee-a.test", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
});

backend_test!(sessions_end_when_idle_when_too_old_and_when_the_password_changes, |app| async move {
    let f = app.fixture().await;
    let signed_in = |cookie: String| {
        let app = &app;
        async move { app.page(&cookie, "/tickets").await.status == StatusCode::OK }
    };
    // Idle for more than two hours: signed out.
    let s = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    app.clock.advance(chrono::Duration::minutes(119));
    assert!(signed_in(s.cookie.clone()).await, "still within the idle time");
    app.clock.advance(chrono::Duration::minutes(119));
    assert!(signed_in(s.cookie.clone()).await, "each request extends it");
    app.clock.advance(chrono::Duration::minutes(121));
    assert!(!signed_in(s.cookie.clone()).await, "idle too long");
    // Used all the time, a session still ends twelve hours after sign-in.
    let s = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    for _ in 0..11 {
        app.clock.advance(chrono::Duration::hours(1));
        assert!(signed_in(s.cookie.clone()).await);
    }
    app.clock.advance(chrono::Duration::minutes(61));
    assert!(!signed_in(s.cookie.clone()).await, "twelve hours at most");
    // Changing one's password keeps this session and ends the others.
    let here = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    let elsewhere = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    let wrong = app
        .form(
            &here,
            "/account/password",
            &[
                ("current_password", "nope nope"),
                ("new_password", "nouveau mot de passe"),
                ("confirm_password", "nouveau mot de passe"),
            ],
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::SEE_OTHER);
    assert!(location(&wrong).contains("error="), "{}", location(&wrong));
    assert!(signed_in(elsewhere.cookie.clone()).await, "a wrong current password changes nothing");
    let r = app
        .form(
            &here,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "nouveau mot de passe"),
                ("confirm_password", "nouveau mot de passe"),
            ],
            None,
        )
        .await;
    assert!(location(&r).contains("ok="), "{}", location(&r));
    assert!(signed_in(here.cookie.clone()).await);
    assert!(!signed_in(elsewhere.cookie.clone()).await);
    assert_eq!(app.try_sign_in("admin.a@lycee-a.test", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    // An administrator's reset ends every session of the user; so does disabling the account.
    let me = app.get("/api/v1/me", &f.requester_a).await.json()["id"].as_i64().unwrap();
    let admin = app.sign_in("boss@desk.test", PASSWORD).await;
    app.form(&admin, &format!("/admin/users/{me}/password"), &[("password", PASSWORD)], None).await;
    assert!(!signed_in(here.cookie.clone()).await, "reset by an administrator");
    let again = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    app.form(&admin, &format!("/admin/users/{me}/disabled"), &[("disabled", "true")], None).await;
    app.form(&admin, &format!("/admin/users/{me}/disabled"), &[("disabled", "false")], None).await;
    assert!(!signed_in(again.cookie.clone()).await, "disabled, then enabled: the old session stays closed");
    // "Sign out my other sessions".
    let one = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    let two = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    app.form(&one, "/account/sessions/others", &[], None).await;
    assert!(signed_in(one.cookie.clone()).await && !signed_in(two.cookie.clone()).await);
});

backend_test!(tokens_are_made_listed_and_revoked_from_the_account_page, |app| async move {
    let f = app.fixture().await;
    let s = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    let made = app.form(&s, "/account/tokens", &[("name", "script de rentrée"), ("days", "30")], None).await;
    assert_eq!(made.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&made.bytes).into_owned();
    let secret = html.split("<code id=\"new-token\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    assert!(secret.starts_with("gch_"));
    assert_eq!(app.get("/api/v1/me", &secret).await.status, StatusCode::OK);
    // Listed without its secret afterwards.
    let page = String::from_utf8_lossy(&app.page(&s.cookie, "/account").await.bytes).into_owned();
    assert!(page.contains("script de rentrée") && !page.contains(&secret));
    let id = app
        .get("/api/v1/tokens", &secret)
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "script de rentrée")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    // Another school's administrator cannot revoke it from their page.
    let b = app.sign_in("admin.b@lycee-b.test", PASSWORD).await;
    assert_eq!(app.form(&b, &format!("/account/tokens/{id}/revoke"), &[], None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/me", &secret).await.status, StatusCode::OK);
    // Administrators see anyone's tokens; the owner revokes theirs.
    let me = app.get("/api/v1/me", &f.requester_a).await.json()["id"].as_i64().unwrap();
    let admin = app.sign_in("boss@desk.test", PASSWORD).await;
    let listed = String::from_utf8_lossy(&app.page(&admin.cookie, &format!("/admin/users/{me}/tokens")).await.bytes)
        .into_owned();
    assert!(listed.contains("script de rentrée"));
    assert_eq!(app.page(&b.cookie, &format!("/admin/users/{me}/tokens")).await.status, StatusCode::FORBIDDEN);
    app.form(&s, &format!("/account/tokens/{id}/revoke"), &[], None).await;
    assert_eq!(app.get("/api/v1/me", &secret).await.status, StatusCode::UNAUTHORIZED);
});

backend_test!(pages_forbid_inline_scripts_remote_content_and_framing, |app| async move {
    let f = app.fixture().await;
    let s = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    let page = app.page(&s.cookie, &format!("/tickets/{}", f.ticket_a)).await;
    let csp = page.headers.get("content-security-policy").unwrap().to_str().unwrap().to_owned();
    for directive in
        ["script-src 'self'", "style-src 'self'", "img-src 'self' data:", "frame-ancestors 'none'", "base-uri 'none'"]
    {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(page.headers.get("x-frame-options").unwrap(), "DENY");
    assert!(page.headers.get("strict-transport-security").is_none(), "plain HTTP here: no HSTS");
    let html = String::from_utf8_lossy(&page.bytes).into_owned();
    assert!(!html.contains("<script>") && !html.contains(" style=\""), "no inline script or style");
    // The HELP page may be framed by Guichet itself only, unless the ENT is listed.
    let help = app.request(Method::GET, "/aide/0750655E", None, None).await;
    let csp = help.headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'self'") && !csp.contains('*'), "{csp}");
});

backend_test!(a_remote_image_in_a_reply_is_shown_as_a_link_never_loaded, |app| async move {
    let f = app.fixture().await;
    let body = "Voir ![capture](https://tracker.example/pixel.gif?agent=1)";
    app.post(&format!("/api/v1/tickets/{}/comments", f.ticket_a), &f.requester_a, json!({"body": body})).await;
    let s = app.sign_in("claire@desk.test", PASSWORD).await;
    let html =
        String::from_utf8_lossy(&app.page(&s.cookie, &format!("/tickets/{}", f.ticket_a)).await.bytes).into_owned();
    assert!(!html.contains("<img src=\"https://tracker.example"), "the pixel would load");
    assert!(html.contains("href=\"https://tracker.example/pixel.gif?agent=1\""), "shown as a link");
});

backend_test!(a_link_cannot_make_a_page_display_someone_elses_message, |app| async move {
    let _f = app.fixture().await;
    let s = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    let forged = "Votre session a expiré, reconnectez-vous sur http://evil.example";
    for param in ["ok", "error"] {
        let path = format!("/account?{param}={}", forged.replace(' ', "+"));
        let html = String::from_utf8_lossy(&app.page(&s.cookie, &path).await.bytes).into_owned();
        assert!(!html.contains("class=\"notice\"") && !html.contains("class=\"alert\""), "{param}");
    }
    // The server's own messages, for this session, are shown.
    let made = app.form(&s, "/account/tokens", &[("name", "")], None).await;
    let location = location(&made);
    let html = String::from_utf8_lossy(&app.page(&s.cookie, &location).await.bytes).into_owned();
    assert!(html.contains("class=\"alert\""), "{location}");
    // Not for another session.
    let other = app.sign_in("admin.a@lycee-a.test", PASSWORD).await;
    let html = String::from_utf8_lossy(&app.page(&other.cookie, &location).await.bytes).into_owned();
    assert!(!html.contains("class=\"alert\""), "signed for the first session only");
});

backend_test!(behind_https_cookies_are_host_only_and_browsers_keep_to_https, |app| async move {
    use tower::ServiceExt;
    let _f = app.fixture().await;
    let web = guichet_web::WebConfig {
        secure_cookies: true,
        https: true,
        help_frame_ancestors: vec!["https://ent.example.fr".into()],
        ..guichet_web::WebConfig::default()
    };
    let router = guichet_web::router(app.app.clone(), web);
    let get = |path: &str| Request::builder().uri(path).body(Body::empty()).unwrap();
    let login = router.clone().oneshot(get("/login")).await.unwrap();
    assert_eq!(login.headers().get("strict-transport-security").unwrap(), "max-age=31536000; includeSubDomains");
    let cookie = login.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-guichet_login_csrf="), "{cookie}");
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Domain"), "{cookie}");
    // A cookie without the prefix (set by a sibling site, or over plain HTTP) is not taken.
    let body = "_csrf=x&email=admin.a%40lycee-a.test&password=correct+horse+battery";
    let request = Request::builder()
        .method(Method::POST)
        .uri("/login")
        .header(header::COOKIE, "guichet_login_csrf=x")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(router.clone().oneshot(request).await.unwrap().status(), StatusCode::FORBIDDEN);
    // The ENT listed may frame the HELP page; nobody else.
    let help = router.clone().oneshot(get("/aide/0750655E")).await.unwrap();
    let csp = help.headers().get("content-security-policy").unwrap().to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'self' https://ent.example.fr"), "{csp}");
});
