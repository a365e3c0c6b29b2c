//! Who is signed in: [`Viewer`], read from the session cookie on every
//! request, and the CSRF check every form goes through ([`CsrfForm`]).
//!
//! A session is a row in the database (the cookie holds a random secret;
//! the store keeps only its hash), so signing out, revoking a portal link
//! or removing a user ends it everywhere at once. Cookies are `HttpOnly`,
//! `SameSite=Strict`, and `Secure` when lapse is reached over TLS.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{WebError, WebState};
use crate::domain::access::{Action, Role, Visibility};
use crate::inventory::web_users::hash_secret;
use crate::store::SessionPrincipal;

/// The session cookie's name.
pub const COOKIE: &str = "lapse_session";

/// The signed-in person of a request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub session_id: i64,
    pub who: Who,
    /// This session's CSRF token: every form carries it as `_csrf`.
    pub csrf: String,
}

/// Staff member or client.
#[derive(Debug, Clone)]
pub enum Who {
    Staff {
        user_id: i64,
        email: String,
        role: Role,
    },
    /// A client's contact (signed in through an emailed link) or whoever
    /// holds a portal link staff shared; read-only either way.
    Client {
        client_id: i64,
        client_name: String,
        /// The contact's address, or `None` for a portal link.
        contact: Option<String>,
    },
}

/// What templates see of the viewer.
#[derive(Debug, Serialize)]
pub struct ViewerSummary {
    pub name: String,
    pub role: &'static str,
    pub is_staff: bool,
    pub may_write: bool,
}

impl Viewer {
    pub fn role(&self) -> Role {
        match &self.who {
            Who::Staff { role, .. } => *role,
            Who::Client { .. } => Role::Client,
        }
    }

    /// The rows this viewer may see (the same rule as an API token's).
    pub fn visibility(&self) -> Visibility {
        match &self.who {
            Who::Staff { .. } => Visibility::All,
            Who::Client { client_id, .. } => Visibility::Client(*client_id),
        }
    }

    pub fn is_staff(&self) -> bool {
        matches!(self.who, Who::Staff { .. })
    }

    /// Refuses unless the role allows `action`. A client asking for a
    /// staff page gets `NotFound`, like a row it may not see.
    pub fn require(&self, action: Action) -> Result<(), WebError> {
        if self.role().allows(action) {
            return Ok(());
        }
        match self.who {
            Who::Client { .. } => Err(WebError::NotFound),
            Who::Staff { role, .. } => Err(WebError::Forbidden(format!(
                "a {role} account cannot do this; ask an admin"
            ))),
        }
    }

    pub fn summary(&self) -> ViewerSummary {
        let name = match &self.who {
            Who::Staff { email, .. } => email.clone(),
            Who::Client {
                client_name,
                contact,
                ..
            } => contact.clone().unwrap_or_else(|| client_name.clone()),
        };
        ViewerSummary {
            name,
            role: self.role().as_str(),
            is_staff: self.is_staff(),
            may_write: self.role().allows(Action::Write),
        }
    }
}

impl FromRequestParts<WebState> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, WebError> {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let Some(secret) = cookie(parts, COOKIE) else {
            return Err(WebError::SignInNeeded { next });
        };
        match resolve_session(state, &secret).await? {
            Some(viewer) => Ok(viewer),
            None => Err(WebError::SignInNeeded { next }),
        }
    }
}

/// The viewer of a session secret taken from the cookie, when the session
/// is live: its row is there and not expired, and what it stands for still
/// stands (the account, the contact, the portal link). One statement per
/// request; nothing is cached, so a sign-out, a removed user or a revoked
/// portal link ends the session at the next request.
async fn resolve_session(state: &WebState, secret: &str) -> Result<Option<Viewer>, WebError> {
    if secret.is_empty() || secret.len() > SECRET_MAX_LEN {
        return Ok(None);
    }
    let hash = hash_secret(secret);
    let Some(session) = state.api.store.web_session(&hash, state.api.now()).await? else {
        return Ok(None);
    };
    let who = match session.who {
        SessionPrincipal::Staff {
            user_id,
            email,
            role,
        } => Who::Staff {
            user_id,
            email,
            role,
        },
        SessionPrincipal::Client {
            client_id,
            client_name,
            contact,
        } => Who::Client {
            client_id,
            client_name,
            contact,
        },
    };
    Ok(Some(Viewer {
        session_id: session.id,
        who,
        csrf: csrf_of(secret),
    }))
}

/// Longer than any secret lapse makes: not looked up.
const SECRET_MAX_LEN: usize = 128;

/// A session's CSRF token: derived from its secret (so it needs no column
/// and changes with each session), and not the secret itself.
pub fn csrf_of(secret: &str) -> String {
    hash_secret(&format!("lapse-csrf\u{0}{secret}"))
}

/// Whether the request came over TLS: the configured public URL is https,
/// the URI says so, or the proxy in front says so (`X-Forwarded-Proto` or
/// `Forwarded: proto=https`). A spoofed header only makes the cookie
/// stricter.
pub fn came_over_tls(parts: &Parts, state: &WebState) -> bool {
    if state.auth.public_url_is_https || parts.uri.scheme_str() == Some("https") {
        return true;
    }
    let header = |name: &str| {
        parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
    };
    header("x-forwarded-proto")
        .iter()
        .any(|v| v.split(',').next().map(str::trim) == Some("https"))
        || header("forwarded")
            .iter()
            .any(|v| v.split([';', ',']).any(|p| p.trim() == "proto=https"))
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, `Path=/`, `Secure`
/// when `secure`; `max_age_secs` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}")
}

/// A staff member (any staff role); a client gets `NotFound`.
#[derive(Debug, Clone)]
pub struct Staff(pub Viewer);

impl FromRequestParts<WebState> for Staff {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, WebError> {
        let viewer = Viewer::from_request_parts(parts, state).await?;
        if viewer.is_staff() {
            Ok(Self(viewer))
        } else {
            Err(WebError::NotFound)
        }
    }
}

/// A value of the request's cookie `name`.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Equal in constant time (for secrets compared with what was sent).
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// A form posted by a signed-in viewer, refused unless its `_csrf` field is
/// this session's token. `T` is parsed from the same urlencoded body (it
/// must not deny unknown fields: `_csrf` is one).
#[derive(Debug)]
pub struct CsrfForm<T> {
    pub viewer: Viewer,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<WebState> for CsrfForm<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &WebState) -> Result<Self, WebError> {
        let (mut parts, body) = request.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        if parts.method != Method::POST {
            return Err(WebError::BadRequest("forms are posted".to_owned()));
        }
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| WebError::BadRequest(format!("the form is over {FORM_LIMIT} bytes")))?;
        let field: CsrfField =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| WebError::CsrfRefused)?;
        if !same_secret(&field.csrf, &viewer.csrf) {
            return Err(WebError::CsrfRefused);
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| WebError::BadRequest(format!("the form could not be read: {e}")))?;
        Ok(Self { viewer, form })
    }
}

/// The largest urlencoded form accepted (a pasted list or CSV of several
/// thousand lines fits).
pub const FORM_LIMIT: usize = 4 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_content_and_length() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
    }

    #[test]
    fn the_csrf_token_is_not_the_secret_and_follows_it() {
        let (a, b) = (csrf_of("one"), csrf_of("two"));
        assert_ne!(a, b);
        assert_eq!(a, csrf_of("one"));
        assert!(!a.contains("one"));
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_when_asked() {
        let plain = set_cookie(COOKIE, "s", 60, false);
        assert_eq!(
            plain,
            "lapse_session=s; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        assert!(set_cookie(COOKIE, "s", 60, true).ends_with("; Secure"));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let request = axum::http::Request::builder()
            .header("cookie", "a=1; lapse_session=s3cret; b=2")
            .body(())
            .expect("request");
        let (parts, ()) = request.into_parts();
        assert_eq!(cookie(&parts, COOKIE).as_deref(), Some("s3cret"));
        assert_eq!(cookie(&parts, "missing"), None);
    }
}
