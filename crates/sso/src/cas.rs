//! A CAS 3.0 client (Apereo CAS protocol, as ENTs such as Lilie speak it):
//! the login redirection, service ticket validation at `/p3/serviceValidate`
//! (XML, or JSON when configured), and the single-logout request a CAS
//! server posts back. Written by hand: no maintained crate implements the
//! client side, and the protocol is three URLs and two small documents.
//!
//! The service URL is built from the configured public URL and the flow's
//! id, never from the request's headers, and compared byte for byte by the
//! server: the one sent to `/login` is the one validated. Gateway mode is
//! never used (a sign-in always asks the CAS server).

use crate::SsoError;
use guichet_domain::identity::ExternalIdentity;
use std::collections::BTreeMap;
use url::Url;

const CAS_NS: &str = "http://www.yale.edu/tp/cas";
const SAMLP_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// A validation answer or logout request larger than this is refused unread.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// One CAS server, as configured (`[[auth.cas]]`).
#[derive(Debug, Clone)]
pub struct CasProvider {
    /// The provider's name in URLs and in account links (`ent`).
    pub name: String,
    /// The button's text on the sign-in page.
    pub label: String,
    /// The CAS server's base URL, e.g. `https://ent.example/cas` (no trailing slash needed).
    pub server_url: Url,
    /// Where the CAS server sends the browser back: `{public_url}/auth/cas/{name}/callback`.
    pub callback_url: Url,
    /// Ask `/p3/serviceValidate` for JSON instead of XML.
    pub json: bool,
    /// The attribute holding the stable identifier (default: the CAS user).
    pub subject_attribute: Option<String>,
    /// The attribute holding the e-mail address.
    pub email_attribute: String,
    /// The attribute holding the display name.
    pub name_attribute: String,
    /// The CAS server is the directory of record: its addresses are the people's own.
    pub trust_email: bool,
    /// Send people to the CAS server's `/logout` when they sign out here.
    pub logout_at_provider: bool,
}

/// What a successful validation says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasSuccess {
    pub user: String,
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl CasProvider {
    fn endpoint(&self, path: &str) -> Result<Url, SsoError> {
        let base = self.server_url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}/{path}")).map_err(|e| SsoError::Config(e.to_string()))
    }

    /// The service URL of one sign-in flow: the same for `/login` and for validation.
    pub fn service_url(&self, flow: &str) -> Url {
        let mut url = self.callback_url.clone();
        url.query_pairs_mut().clear().append_pair("flow", flow);
        url
    }

    /// Where to send the browser to sign in.
    pub fn login_url(&self, flow: &str) -> Result<Url, SsoError> {
        let mut url = self.endpoint("login")?;
        url.query_pairs_mut().append_pair("service", self.service_url(flow).as_str());
        Ok(url)
    }

    /// Where to send the browser to sign out of the CAS server too, then come back to `back`.
    pub fn logout_url(&self, back: &Url) -> Result<Url, SsoError> {
        let mut url = self.endpoint("logout")?;
        url.query_pairs_mut().append_pair("service", back.as_str());
        Ok(url)
    }

    /// Asks the CAS server whether `ticket` was issued for this flow's service.
    pub async fn validate(&self, http: &reqwest::Client, flow: &str, ticket: &str) -> Result<CasSuccess, SsoError> {
        let mut url = self.endpoint("p3/serviceValidate")?;
        url.query_pairs_mut().append_pair("service", self.service_url(flow).as_str()).append_pair("ticket", ticket);
        if self.json {
            url.query_pairs_mut().append_pair("format", "JSON");
        }
        let response = http.get(url).send().await.map_err(|e| SsoError::Unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(SsoError::Unreachable(format!("the CAS server answered {}", response.status())));
        }
        let body = crate::limited_body(response, MAX_DOCUMENT_BYTES).await?;
        if self.json {
            parse_json_response(&body)
        } else {
            parse_xml_response(&body)
        }
    }

    /// What the desk needs from a validation, named by this provider's attributes.
    pub fn identity(&self, success: CasSuccess) -> ExternalIdentity {
        let first = |attribute: &str| {
            success
                .attributes
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(attribute))
                .and_then(|(_, v)| v.first())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let subject = match &self.subject_attribute {
            Some(attribute) => first(attribute).unwrap_or_default(),
            None => success.user.trim().to_owned(),
        };
        ExternalIdentity {
            provider: self.name.clone(),
            subject,
            email: first(&self.email_attribute),
            email_verified: self.trust_email,
            name: first(&self.name_attribute),
            attributes: success.attributes,
        }
    }
}

fn parse_document(text: &str) -> Result<roxmltree::Document<'_>, SsoError> {
    // DTDs are refused (roxmltree's default): no entity expansion, no external fetch.
    roxmltree::Document::parse(text).map_err(|e| SsoError::Invalid(format!("not an XML document: {e}")))
}

/// Reads a `/p3/serviceValidate` answer in XML: the user and attributes on
/// success, the server's code and message on failure.
pub fn parse_xml_response(body: &str) -> Result<CasSuccess, SsoError> {
    let doc = parse_document(body)?;
    let root = doc.root_element();
    if !root.has_tag_name((CAS_NS, "serviceResponse")) {
        return Err(SsoError::Invalid("not a CAS service response".into()));
    }
    if let Some(failure) = root.children().find(|n| n.has_tag_name((CAS_NS, "authenticationFailure"))) {
        let code = failure.attribute("code").unwrap_or("UNKNOWN").to_owned();
        let message = failure.text().unwrap_or_default().trim().to_owned();
        return Err(SsoError::Refused(format!("{code}: {message}")));
    }
    let success = root
        .children()
        .find(|n| n.has_tag_name((CAS_NS, "authenticationSuccess")))
        .ok_or_else(|| SsoError::Invalid("neither success nor failure".into()))?;
    let user = success
        .children()
        .find(|n| n.has_tag_name((CAS_NS, "user")))
        .and_then(|n| n.text())
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| SsoError::Invalid("no user in the CAS answer".into()))?
        .to_owned();
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |name: &str, value: &str| {
        let values = attributes.entry(name.to_owned()).or_default();
        if !values.iter().any(|v| v == value) {
            values.push(value.to_owned());
        }
    };
    // `<cas:attributes><cas:mail>…</cas:mail></cas:attributes>` (the protocol's
    // form), and `<cas:attribute name="mail" value="…"/>` (an older one some
    // servers write as well).
    for child in success.children().filter(|n| n.is_element()) {
        if child.has_tag_name((CAS_NS, "attributes")) {
            for attribute in child.children().filter(|n| n.is_element()) {
                add(attribute.tag_name().name(), attribute.text().unwrap_or_default().trim());
            }
        } else if child.has_tag_name((CAS_NS, "attribute")) {
            if let (Some(name), Some(value)) = (child.attribute("name"), child.attribute("value")) {
                add(name, value.trim());
            }
        }
    }
    Ok(CasSuccess { user, attributes })
}

/// Reads a `/p3/serviceValidate?format=JSON` answer.
pub fn parse_json_response(body: &str) -> Result<CasSuccess, SsoError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| SsoError::Invalid(format!("not a JSON document: {e}")))?;
    let response = &value["serviceResponse"];
    if let Some(failure) = response.get("authenticationFailure") {
        let code = failure["code"].as_str().unwrap_or("UNKNOWN");
        let message = failure["description"].as_str().unwrap_or_default().trim();
        return Err(SsoError::Refused(format!("{code}: {message}")));
    }
    let success =
        response.get("authenticationSuccess").ok_or_else(|| SsoError::Invalid("neither success nor failure".into()))?;
    let user = success["user"]
        .as_str()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| SsoError::Invalid("no user in the CAS answer".into()))?
        .to_owned();
    let mut attributes = BTreeMap::new();
    if let Some(map) = success["attributes"].as_object() {
        for (name, value) in map {
            let values: Vec<String> = match value {
                serde_json::Value::Array(items) => items.iter().filter_map(json_text).collect(),
                other => json_text(other).into_iter().collect(),
            };
            attributes.insert(name.clone(), values);
        }
    }
    Ok(CasSuccess { user, attributes })
}

fn json_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The service ticket a single-logout request names (its `SessionIndex`).
pub fn parse_logout_request(body: &str) -> Result<String, SsoError> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(SsoError::Invalid("logout request too large".into()));
    }
    let doc = parse_document(body)?;
    let root = doc.root_element();
    if !root.has_tag_name((SAMLP_NS, "LogoutRequest")) {
        return Err(SsoError::Invalid("not a SAML logout request".into()));
    }
    root.children()
        .find(|n| n.has_tag_name((SAMLP_NS, "SessionIndex")))
        .and_then(|n| n.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| SsoError::Invalid("no SessionIndex in the logout request".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> CasProvider {
        CasProvider {
            name: "ent".into(),
            label: "ENT".into(),
            server_url: Url::parse("https://ent.example/cas/").unwrap(),
            callback_url: Url::parse("https://support.example/auth/cas/ent/callback").unwrap(),
            json: false,
            subject_attribute: None,
            email_attribute: "mail".into(),
            name_attribute: "displayName".into(),
            trust_email: true,
            logout_at_provider: true,
        }
    }

    #[test]
    fn the_service_url_is_the_same_for_login_and_validation_and_carries_only_the_flow() {
        let p = provider();
        let login = p.login_url("abc").unwrap();
        assert_eq!(
            login.as_str(),
            "https://ent.example/cas/login?service=https%3A%2F%2Fsupport.example%2Fauth%2Fcas%2Fent%2Fcallback%3Fflow%3Dabc"
        );
        let service: String = login.query_pairs().find(|(k, _)| k == "service").unwrap().1.into_owned();
        assert_eq!(service, p.service_url("abc").as_str());
        assert!(!login.as_str().contains("gateway"));
    }

    #[test]
    fn a_success_gives_the_user_and_every_attribute_once() {
        let xml = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
  <cas:authenticationSuccess>
    <cas:user>nd1234</cas:user>
    <cas:attributes>
      <cas:mail>nathalie.durand@ac-paris.fr</cas:mail>
      <cas:ENTPersonStructRattachUAI>0750655E</cas:ENTPersonStructRattachUAI>
      <cas:ENTPersonStructRattachUAI>0930124E</cas:ENTPersonStructRattachUAI>
      <cas:displayName>Nathalie Durand</cas:displayName>
    </cas:attributes>
    <cas:attribute name="mail" value="nathalie.durand@ac-paris.fr"/>
    <cas:attribute name="profile" value="National_DIR"/>
  </cas:authenticationSuccess>
</cas:serviceResponse>"#;
        let success = parse_xml_response(xml).unwrap();
        assert_eq!(success.user, "nd1234");
        assert_eq!(success.attributes["mail"], ["nathalie.durand@ac-paris.fr"]);
        assert_eq!(success.attributes["ENTPersonStructRattachUAI"], ["0750655E", "0930124E"]);
        assert_eq!(success.attributes["profile"], ["National_DIR"]);
        let identity = provider().identity(success);
        assert_eq!(
            (identity.subject.as_str(), identity.email.as_deref(), identity.name.as_deref()),
            ("nd1234", Some("nathalie.durand@ac-paris.fr"), Some("Nathalie Durand"))
        );
        assert!(identity.email_verified);
    }

    #[test]
    fn a_failure_is_a_refusal_with_the_servers_code() {
        let xml = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
 <cas:authenticationFailure code="INVALID_TICKET">Ticket ST-1 not recognized</cas:authenticationFailure>
</cas:serviceResponse>"#;
        match parse_xml_response(xml) {
            Err(SsoError::Refused(m)) => assert_eq!(m, "INVALID_TICKET: Ticket ST-1 not recognized"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn documents_that_are_not_cas_answers_are_refused_without_expanding_anything() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>
<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess><cas:user>&lol2;</cas:user></cas:authenticationSuccess></cas:serviceResponse>"#;
        for bad in [
            "",
            "<html><body>Service unavailable</body></html>",
            bomb,
            r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"/>"#,
            r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess><cas:user> </cas:user></cas:authenticationSuccess></cas:serviceResponse>"#,
            r#"<serviceResponse><authenticationSuccess><user>x</user></authenticationSuccess></serviceResponse>"#,
        ] {
            assert!(matches!(parse_xml_response(bad), Err(SsoError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn json_answers_read_like_xml_ones() {
        let json = r#"{"serviceResponse":{"authenticationSuccess":{"user":"nd1234",
            "attributes":{"mail":"nathalie.durand@ac-paris.fr","uai":["0750655E","0930124E"],"age":42}}}}"#;
        let success = parse_json_response(json).unwrap();
        assert_eq!(success.user, "nd1234");
        assert_eq!(success.attributes["uai"], ["0750655E", "0930124E"]);
        assert_eq!(success.attributes["mail"], ["nathalie.durand@ac-paris.fr"]);
        assert_eq!(success.attributes["age"], ["42"]);
        let failure = r#"{"serviceResponse":{"authenticationFailure":{"code":"INVALID_SERVICE","description":"bad"}}}"#;
        assert!(matches!(parse_json_response(failure), Err(SsoError::Refused(m)) if m.starts_with("INVALID_SERVICE")));
        assert!(matches!(parse_json_response("{}"), Err(SsoError::Invalid(_))));
    }

    #[test]
    fn a_logout_request_names_its_service_ticket() {
        let xml = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x" Version="2.0" IssueInstant="2026-12-02T10:00:00">
<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"></saml:NameID>
<samlp:SessionIndex>ST-1-abc</samlp:SessionIndex>
</samlp:LogoutRequest>"#;
        assert_eq!(parse_logout_request(xml).unwrap(), "ST-1-abc");
        assert!(parse_logout_request("<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>")
            .is_err());
        assert!(parse_logout_request("<LogoutRequest><SessionIndex>ST-1</SessionIndex></LogoutRequest>").is_err());
    }

    #[test]
    fn the_subject_can_come_from_an_attribute() {
        let mut p = provider();
        p.subject_attribute = Some("uid".into());
        let success = CasSuccess {
            user: "login-that-changes".into(),
            attributes: [("uid".to_owned(), vec!["stable-42".to_owned()])].into_iter().collect(),
        };
        assert_eq!(p.identity(success.clone()).subject, "stable-42");
        let without = CasSuccess { attributes: BTreeMap::new(), ..success };
        assert_eq!(p.identity(without).subject, "", "no identifier: the app refuses it");
    }
}
