//! The template set and the page every handler answers with.
//!
//! Templates are compiled into the binary and autoescaped (every `.html`
//! name): a client name or WHOIS field holding markup is shown as text.
//! Each area of the site lists its own templates (`auth::TEMPLATES`,
//! `staff::TEMPLATES`, `portal::TEMPLATES`); `layout.html` and `error.html`
//! live here. Every page extends `layout.html`, which shows the agency's
//! name and, for a signed-in viewer, the navigation and the sign-out form.

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::{context, Environment, Value};
use serde::Serialize;

use super::session::Viewer;
use super::WebState;
use crate::store::StoreError;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("error.html", include_str!("templates/error.html")),
];

/// The compiled template set.
pub struct Pages {
    env: Environment<'static>,
}

impl Default for Pages {
    fn default() -> Self {
        Self::new()
    }
}

impl Pages {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        let all = TEMPLATES
            .iter()
            .chain(super::auth::TEMPLATES)
            .chain(super::staff::TEMPLATES)
            .chain(super::portal::TEMPLATES);
        for (name, source) in all {
            // Part of the binary; `every_template_parses` covers them.
            if let Err(error) = env.add_template(name, source) {
                tracing::error!(template = name, %error, "built-in page template does not parse");
            }
        }
        Self { env }
    }

    /// Renders `name` with `ctx` and what every page shows.
    pub fn render(
        &self,
        state: &WebState,
        viewer: Option<&Viewer>,
        name: &str,
        ctx: impl Serialize,
    ) -> Result<String, WebError> {
        let base = context! {
            agency => &*state.agency,
            viewer => viewer.map(Viewer::summary),
            csrf => viewer.map(|v| v.csrf.as_str()),
        };
        let ctx = context! { ..Value::from_serialize(ctx), ..base };
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|error| WebError::Template {
                name: name.to_owned(),
                error,
            })
    }
}

impl WebState {
    /// A page for `viewer` (or for nobody signed in).
    pub fn page(
        &self,
        viewer: Option<&Viewer>,
        name: &str,
        ctx: impl Serialize,
    ) -> Result<Html<String>, WebError> {
        self.pages.render(self, viewer, name, ctx).map(Html)
    }
}

/// Why a page could not be answered. Each renders as a page of its own
/// (or, for `SignInNeeded`, a redirect to the sign-in page).
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No valid session: go and sign in, then come back to `next`.
    #[error("sign in first")]
    SignInNeeded { next: String },
    /// Signed in, but the role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such page, or one the viewer may not see (the same answer, so a
    /// client learns nothing of other clients' domains).
    #[error("not found")]
    NotFound,
    /// A form posted without its CSRF token, or with another session's.
    #[error("the form has expired or did not come from this site; reload the page and try again")]
    CsrfRefused,
    /// Input a person can fix; shown on the error page.
    #[error("{0}")]
    BadRequest(String),
    /// Too many attempts; try again after the given seconds.
    #[error("too many attempts; try again in {retry_after_secs} s")]
    TooMany { retry_after_secs: u64 },
    #[error("page template `{name}` failed: {error}")]
    Template {
        name: String,
        error: minijinja::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            Self::SignInNeeded { .. } => StatusCode::SEE_OTHER,
            Self::Forbidden(_) | Self::CsrfRefused => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Template { .. } | Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the person reads: lapse's own failures are logged here and
    /// answered without internals.
    fn message(&self) -> String {
        match self {
            Self::Template { .. } | Self::Store(_) => {
                tracing::error!(error = %self, "page failed");
                "lapse could not answer this page; the failure is in its log".to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let Self::SignInNeeded { next } = &self {
            let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
            return Redirect::to(&format!("/sign-in?{query}")).into_response();
        }
        let status = self.status();
        let message = self.message();
        // The error page must not fail: a fixed, escaped fallback otherwise.
        let body = Pages::error_page(status, &message);
        let mut response = (status, Html(body)).into_response();
        if let Self::TooMany { retry_after_secs } = self {
            if let Ok(value) = retry_after_secs.to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl Pages {
    /// The error page, without viewer or agency (it may be answering
    /// before either is known).
    fn error_page(status: StatusCode, message: &str) -> String {
        static PAGES: std::sync::OnceLock<Pages> = std::sync::OnceLock::new();
        let pages = PAGES.get_or_init(Pages::new);
        let ctx = context! {
            status => status.as_u16(),
            reason => status.canonical_reason().unwrap_or(""),
            message => message,
            agency => "lapse",
        };
        pages
            .env
            .get_template("error.html")
            .and_then(|t| t.render(ctx))
            .unwrap_or_else(|_| format!("{} {}", status.as_u16(), escape(message)))
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let pages = Pages::new();
        let all = TEMPLATES
            .iter()
            .chain(super::super::auth::TEMPLATES)
            .chain(super::super::staff::TEMPLATES)
            .chain(super::super::portal::TEMPLATES);
        for (name, source) in all {
            let mut env = Environment::new();
            if let Err(error) = env.add_template(name, source) {
                panic!("{name} does not parse: {error}");
            }
            assert!(
                pages.env.get_template(name).is_ok(),
                "{name} is not in the set"
            );
        }
    }

    #[test]
    fn the_error_page_shows_markup_as_text() {
        let body = Pages::error_page(StatusCode::BAD_REQUEST, "<script>alert(1)</script>");
        assert!(body.contains("&lt;script&gt;"), "{body}");
        assert!(!body.contains("<script>alert"), "{body}");
    }
}
