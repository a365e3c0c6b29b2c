//! Request extractors that refuse in the API's own error format: JSON
//! bodies (400 malformed, 413 too large, 415 not JSON, 422 with the field
//! at fault) and query parameters (400 naming the parameter; unknown
//! parameters are refused so that a typo never silently widens a list).
//!
//! No text the API reads may hold the NUL character (U+0000): PostgreSQL's
//! text cannot store it and no name, address or note needs it, and the
//! document says so with a `pattern` on every string a request carries
//! (`openapi::NUL_FREE`). A query or path parameter holding one is a 400
//! `invalid_parameter` naming it ([`refuse_nul`]), before any handler sees
//! it; a JSON body holding one is a 422 `invalid_body` ([`parse_json`]).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::ApiState;

/// A JSON body, deserialised with the path of the field at fault on error.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<ApiState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, ApiError> {
        if !is_json(req.headers().get(CONTENT_TYPE)) {
            return Err(ApiError::unsupported_media_type(
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = body_bytes(req, state).await?;
        refuse_non_object(&bytes)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Every JSON body this extractor reads is an object: serde would also
/// take a struct from an array of its fields (`[null, null]`), which the
/// document does not describe.
fn refuse_non_object(bytes: &[u8]) -> Result<(), ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') || serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err() {
        // An object, or not JSON at all (`parse_json` says which 400).
        return Ok(());
    }
    Err(ApiError::unprocessable(
        "invalid_body",
        "the body must be a JSON object, e.g. {\"name\": ...}",
    ))
}

/// Reads a whole body within `api.max_body_bytes`.
pub async fn body_bytes(req: Request, state: &ApiState) -> Result<Bytes, ApiError> {
    let limit = state.settings.api.max_body_bytes;
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::body_too_large(limit)
        } else {
            ApiError::bad_request("unreadable_body", "the request body could not be read")
        }
    })
}

/// Deserialises JSON, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = deserialize(bytes)?;
    if has_escaped_nul(bytes) {
        // PostgreSQL's text cannot hold it, and no name, address or note
        // needs it: refused on both engines alike.
        return Err(ApiError::unprocessable(
            "invalid_body",
            "text may not contain the NUL character (\\u0000)",
        ));
    }
    Ok(value)
}

/// Whether a JSON text holds the escape `\u0000` (not an escaped
/// backslash followed by `u0000`).
pub fn has_escaped_nul(bytes: &[u8]) -> bool {
    bytes.windows(6).enumerate().any(|(at, w)| {
        w[0] == b'\\'
            && w[1] == b'u'
            && &w[2..] == b"0000"
            && bytes[..at]
                .iter()
                .rev()
                .take_while(|b| **b == b'\\')
                .count()
                % 2
                == 0
    })
}

fn deserialize<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            )
        } else {
            let message = strip_position(&inner.to_string());
            // serde names a missing or unknown field in the message and
            // reports the path of the object holding it.
            let named = ["missing field `", "unknown field `"]
                .iter()
                .find_map(|p| message.strip_prefix(p))
                .and_then(|rest| rest.split('`').next())
                .map(|name| {
                    if path == "." {
                        name.to_owned()
                    } else if path == name || path.ends_with(&format!(".{name}")) {
                        path.clone()
                    } else {
                        format!("{path}.{name}")
                    }
                });
            let field = named.or((path != ".").then_some(path));
            let error = ApiError::unprocessable("invalid_body", message);
            match field {
                Some(f) => error.with_field(f),
                None => error,
            }
        }
    })
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

pub fn is_json(value: Option<&axum::http::HeaderValue>) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || v.ends_with("+json")
        })
}

/// The query string as named values, checked against what a route accepts.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| ApiError::bad_request("invalid_query", "the query string is malformed"))?;
        let mut map = HashMap::new();
        for (key, value) in pairs {
            refuse_nul("query", &key, &value)?;
            if map.insert(key.clone(), value).is_some() {
                return Err(ApiError::invalid_parameter(
                    &key,
                    format!("`{key}` is given more than once"),
                ));
            }
        }
        Ok(Self(map))
    }
}

/// A 400 `invalid_parameter` for a `kind` (query or path) parameter
/// whose value holds NUL: no stored text can contain it (and PostgreSQL
/// refuses it in any text sent to it).
pub fn refuse_nul(kind: &str, name: &str, value: &str) -> Result<(), ApiError> {
    if !value.contains('\0') {
        return Ok(());
    }
    Err(ApiError::invalid_parameter(
        name,
        format!(
            "{kind} parameter `{}` holds a NUL character, which no stored text can contain",
            name.escape_default()
        ),
    ))
}

impl Params {
    /// Refuses parameters other than `allowed` (and `token`, which the
    /// calendar reads).
    pub fn only(&self, allowed: &[&str]) -> Result<&Self, ApiError> {
        let mut unknown: Vec<&String> = self
            .0
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()) && k.as_str() != "token")
            .collect();
        unknown.sort();
        if let Some(key) = unknown.first() {
            let expected = if allowed.is_empty() {
                "this route takes no query parameters".to_owned()
            } else {
                format!("expected one of: {}", allowed.join(", "))
            };
            return Err(ApiError::bad_request(
                "unknown_parameter",
                format!("unknown query parameter `{key}`; {expected}"),
            )
            .with_field(key.as_str()));
        }
        Ok(self)
    }

    /// A non-empty text value.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// An integer within `min..=max`.
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let Some(text) = self.text(name) else {
            return Ok(None);
        };
        match text.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::invalid_parameter(
                name,
                format!("`{name}` must be a whole number from {min} to {max}, not `{text}`"),
            )),
        }
    }

    /// `true` or `false`.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.text(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ApiError::invalid_parameter(
                name,
                format!("`{name}` must be true or false, not `{other}`"),
            )),
        }
    }

    /// One of `choices`.
    pub fn choice<'a>(&self, name: &str, choices: &[&'a str]) -> Result<Option<&'a str>, ApiError> {
        let Some(text) = self.text(name) else {
            return Ok(None);
        };
        choices
            .iter()
            .find(|c| **c == text)
            .copied()
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid_parameter(
                    name,
                    format!(
                        "`{name}` must be one of {}, not `{text}`",
                        choices.join(", ")
                    ),
                )
            })
    }
}

/// A numeric id from the path.
pub fn path_id(text: &str, field: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::invalid_parameter(field, format!("`{text}` is not an id")))
}

/// For `Option<Option<T>>` body fields: absent stays `None`, `null` is
/// `Some(None)`, a value is `Some(Some(value))` (with `#[serde(default)]`).
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}

/// Path parameters, refused in the API's error format (a segment that is
/// not UTF-8 once decoded is a 400 naming the parameter, not axum's text).
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        use axum::extract::path::{ErrorKind, Path};
        use axum::extract::rejection::PathRejection;
        use axum::extract::RawPathParams;
        // A segment that is not UTF-8 fails here and is answered below.
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await {
            for (key, value) in &raw {
                refuse_nul("path", key, value)?;
            }
        }
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let field = match e.kind() {
                    ErrorKind::InvalidUtf8InPathParam { key }
                    | ErrorKind::ParseErrorAtKey { key, .. } => Some(key.clone()),
                    _ => None,
                };
                let error = ApiError::bad_request(
                    "invalid_parameter",
                    format!("a path parameter is not valid: {}", e.body_text()),
                );
                Err(match field {
                    Some(field) => error.with_field(field),
                    None => error,
                })
            }
            Err(other) => Err(ApiError::internal(&other.body_text())),
        }
    }
}

/// A whole number in a JSON body. JSON (and the JSON Schema of the
/// document) does not tell `7` from `7.0`, so neither does lapse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whole(pub i64);

impl<'de> serde::Deserialize<'de> for Whole {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(d)?;
        whole(&number)
            .map(Whole)
            .ok_or_else(|| serde::de::Error::custom(format!("`{number}` is not a whole number")))
    }
}

/// `number` as an `i64`, when it is whole and fits.
pub fn whole(number: &serde_json::Number) -> Option<i64> {
    number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && (i64::MIN as f64..i64::MAX as f64).contains(f))
            .map(|f| f as i64)
    })
}

impl utoipa::PartialSchema for Whole {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        i64::schema()
    }
}

impl utoipa::ToSchema for Whole {
    fn name() -> std::borrow::Cow<'static, str> {
        "WholeNumber".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_escape_is_refused_and_an_escaped_backslash_is_not() {
        assert!(has_escaped_nul(br#"{"name": "a\u0000b"}"#));
        assert!(has_escaped_nul(br#"{"name": "a\\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"name": "a\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"name": "a\u0001"}"#));
        let refused = parse_json::<serde_json::Value>(br#"{"name": "\u0000"}"#);
        assert!(refused.is_err());
        let kept = parse_json::<serde_json::Value>(br#"{"name": "a\\u0000"}"#).expect("parsed");
        assert_eq!(kept["name"], "a\\u0000");
    }

    #[tokio::test]
    async fn a_query_parameter_holding_nul_is_a_400_naming_it() {
        let params = |query: &str| {
            let (mut parts, ()) = axum::http::Request::builder()
                .uri(format!("/api/v1/domains?{query}"))
                .body(())
                .expect("request")
                .into_parts();
            async move { Params::from_request_parts(&mut parts, &()).await }
        };
        for query in ["q=%00", "q=acme%00", "status=ok&client=a%00b"] {
            let refused = params(query).await.expect_err(query);
            assert_eq!(
                refused.status,
                axum::http::StatusCode::BAD_REQUEST,
                "{query}"
            );
            assert_eq!(refused.code, "invalid_parameter", "{query}");
            assert!(refused.message.contains("holds a NUL character"), "{query}");
        }
        let kept = params("q=acme&limit=2").await.expect("no NUL");
        assert_eq!(kept.text("q"), Some("acme"));
        assert!(refuse_nul("path", "name", "acme.test").is_ok());
        assert!(refuse_nul("path", "name", "acme\0.test").is_err());
    }
}
