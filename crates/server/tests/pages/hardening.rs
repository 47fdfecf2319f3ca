//! Pages against an attacker: redirects that leave the site, state changed
//! by a link, on both backends.

use super::*;
use axum::body::Body;
use axum::http::{header, Method, Request};

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
