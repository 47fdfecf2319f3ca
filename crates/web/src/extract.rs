//! Extractors whose rejections speak the API's error shape.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use guichet_app::auth::Principal;
use guichet_app::AppError;
use serde::de::DeserializeOwned;

/// The authenticated caller, from `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = header
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(AppError::Unauthenticated)?;
        Ok(Auth(state.app.authenticate_token(token).await?))
    }
}

/// JSON body; unknown fields and wrong types name the field at fault.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(value)) => value,
            Err(rejection) => return Err(json_rejection(rejection)),
        };
        integral_numbers(&mut value);
        serde_path_to_error::deserialize(value).map(Json).map_err(|e| {
            let path = e.path().to_string();
            let message = if path == "." { e.inner().to_string() } else { format!("{path}: {}", e.inner()) };
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", message.clone(), field_of(&message))
        })
    }
}

/// JSON has one number type: `83.0` is the integer 83 to JSON Schema (and to
/// JavaScript clients), but serde refuses it for an integer field. Whole
/// numbers written with a fraction are read as the integers they are.
fn integral_numbers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15) {
                // Within ±9e15 a whole f64 is exactly an i64.
                #[allow(clippy::cast_possible_truncation)]
                let whole = f as i64;
                *value = serde_json::Value::from(whole);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            let message = std::error::Error::source(&e).map_or_else(|| e.body_text(), ToString::to_string);
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", message.clone(), field_of(&message))
        }
        JsonRejection::JsonSyntaxError(e) => {
            let message = std::error::Error::source(&e).map_or_else(|| e.body_text(), ToString::to_string);
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {message}"),
                None,
            )
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
            None,
        ),
        JsonRejection::BytesRejection(e) => {
            ApiError::new(e.status(), "bad_request", format!("the body could not be read: {}", e.body_text()), None)
        }
        other => ApiError::new(other.status(), "bad_request", other.body_text(), None),
    }
}

/// Finds the field a serde message is about: "unknown field `x`" or
/// "`x`: invalid type" (the path serde_path_to_error-style messages start with).
fn field_of(message: &str) -> Option<String> {
    if let Some(rest) = message.split("unknown field `").nth(1) {
        return rest.split('`').next().map(str::to_owned);
    }
    if let Some(rest) = message.split("missing field `").nth(1) {
        return rest.split('`').next().map(str::to_owned);
    }
    let path = message.split(": ").next()?;
    (!path.is_empty() && !path.contains(' ')).then(|| path.to_owned())
}

/// Query string; a bad parameter names itself.
#[derive(Debug, Clone)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let message = std::error::Error::source(&e).map_or_else(|| e.body_text(), ToString::to_string);
                Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", message.clone(), field_of(&message)))
            }
            Err(other) => Err(ApiError::new(other.status(), "bad_request", other.body_text(), None)),
        }
    }
}

/// Path parameters; one that cannot be read (an id out of range) is a 400
/// with the API's error body, not axum's plain text.
#[derive(Debug, Clone)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", rejection.body_text(), None)),
        }
    }
}

/// A multipart body; one that cannot be read as such (no boundary, not
/// multipart) is a 400 with the API's error body.
pub struct Multipart(pub axum::extract::Multipart);

impl<S: Send + Sync> FromRequest<S> for Multipart {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Multipart::from_request(req, state).await.map(Multipart).map_err(|rejection| {
            let status = if rejection.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            } else {
                StatusCode::BAD_REQUEST
            };
            ApiError::new(status, "bad_request", rejection.body_text(), None)
        })
    }
}

/// Deserialises a field that may be absent (leave alone), `null` (clear) or a value.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn field_is_found_in_serde_messages() {
        assert_eq!(field_of("unknown field `colour`, expected one of `title`"), Some("colour".into()));
        assert_eq!(field_of("missing field `title` at line 1 column 2"), Some("title".into()));
        assert_eq!(field_of("type: unknown variant `bug`, expected one of"), Some("type".into()));
        assert_eq!(field_of("expected value at line 1 column 1"), None);
    }
}

/// The address a request came from, for limits (sign-in, HELP page) and
/// never stored. `X-Forwarded-For` is a claim anyone can write: it is read
/// only when the connection comes from a configured trusted proxy, and then
/// from the right, skipping the trusted proxies, to the first address a
/// trusted proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

pub fn client_address(
    peer: Option<std::net::IpAddr>,
    forwarded_for: &[&str],
    trusted: &[ipnet::IpNet],
) -> Option<std::net::IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = forwarded_for.iter().flat_map(|h| h.split(',')).map(str::trim).collect();
    for hop in hops.iter().rev() {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) if is_trusted(&ip) => continue,
            Ok(ip) => return Some(ip),
            // A hop a proxy could not have written: stop believing what is left of it.
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        let forwarded: Vec<&str> =
            parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
        let ip = client_address(peer, &forwarded, &state.web.trusted_proxies);
        Ok(ClientAddr(ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())))
    }
}

#[cfg(test)]
mod client_tests {
    use super::*;

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        // Straight from the Internet: the header is the client's own claim.
        assert_eq!(client_address(Some(ip("203.0.113.9")), &["1.2.3.4"], &trusted), Some(ip("203.0.113.9")));
        // Through the balancer: the address it saw.
        assert_eq!(client_address(Some(ip("127.0.0.1")), &["198.51.100.7"], &trusted), Some(ip("198.51.100.7")));
        // A client that writes its own header in front of the balancer's entry does not choose its address.
        assert_eq!(
            client_address(Some(ip("127.0.0.1")), &["1.1.1.1, 198.51.100.7", "10.0.0.5"], &trusted),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(client_address(Some(ip("127.0.0.1")), &["garbage"], &trusted), Some(ip("127.0.0.1")));
        assert_eq!(client_address(Some(ip("127.0.0.1")), &[], &trusted), Some(ip("127.0.0.1")));
        assert_eq!(client_address(Some(ip("127.0.0.1")), &["1.2.3.4"], &[]), Some(ip("127.0.0.1")));
        assert_eq!(client_address(None, &["1.2.3.4"], &trusted), None);
    }
}
