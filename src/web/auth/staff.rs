//! Staff sign-in, sign-out and the set-password page.

use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;

use super::{
    append_cookie, form_page, link_dead, safe_next, start_session, too_many, PreSessionForm,
};
use crate::inventory::web_users::{
    check_new_password, hash_password, hash_secret, verify_password,
};
use crate::store::SessionOf;
use crate::web::session::{came_over_tls, set_cookie, CsrfForm, Who, COOKIE};
use crate::web::{WebError, WebState};

#[derive(serde::Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

#[derive(serde::Deserialize)]
pub(super) struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// The words of every refused sign-in: the same whether the address has
/// no account, no password yet, or another password.
const SIGN_IN_REFUSED: &str = "The email address and password do not match an account.";

pub(super) async fn sign_in_page(
    State(state): State<WebState>,
    Query(query): Query<NextQuery>,
    parts: Parts,
) -> Result<Response, WebError> {
    let ctx = context! { next => safe_next(query.next.as_deref()) };
    form_page(&state, &parts, StatusCode::OK, "auth/sign_in.html", ctx)
}

pub(super) async fn sign_in(
    State(state): State<WebState>,
    post: PreSessionForm<SignInForm>,
) -> Result<Response, WebError> {
    let form = &post.form;
    let email = form.email.trim().to_lowercase();
    let next = safe_next(form.next.as_deref()).to_owned();
    let refused = |status: StatusCode, error: String| {
        let ctx = context! { next => &next, email => &email, error => error };
        form_page(&state, &post.parts, status, "auth/sign_in.html", ctx)
    };
    if let Err(wait) = state.auth.limits.attempt(&post.address, &email) {
        tracing::warn!(web.account = %email, web.address = %post.address, "sign-in attempts limited");
        let page = refused(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many sign-in attempts. Try again in {wait} seconds."),
        )?;
        return Ok(too_many(page, wait));
    }
    let credentials = state.api.store.web_user_credentials(&email).await?;
    let stored = credentials.as_ref().and_then(|c| c.password_hash.clone());
    let password = form.password.clone();
    // Argon2 takes tens of milliseconds of CPU: off the async workers.
    let matches =
        tokio::task::spawn_blocking(move || verify_password(stored.as_deref(), &password))
            .await
            .unwrap_or(false);
    let Some(user) = credentials.filter(|_| matches) else {
        tracing::info!(web.account = %email, web.address = %post.address, "sign-in refused");
        return refused(StatusCode::UNAUTHORIZED, SIGN_IN_REFUSED.to_owned());
    };
    tracing::info!(web.account = %user.email, web.role = %user.role, "signed in");
    let of = SessionOf::Staff { user_id: user.id };
    start_session(
        &state,
        &of,
        post.secure,
        Redirect::to(&next).into_response(),
    )
    .await
}

#[derive(serde::Deserialize)]
pub(super) struct NoFields {}

pub(super) async fn sign_out(
    State(state): State<WebState>,
    parts: Parts,
    CsrfForm { viewer, .. }: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    state.api.store.end_web_session(viewer.session_id).await?;
    let to = match viewer.who {
        Who::Staff { .. } => "/sign-in",
        Who::Client { .. } => "/sign-in/client",
    };
    let mut response = Redirect::to(to).into_response();
    let clear = set_cookie(COOKIE, "", 0, came_over_tls(&parts, &state));
    append_cookie(&mut response, &clear);
    Ok(response)
}

pub(super) async fn set_password_page(
    State(state): State<WebState>,
    Path(token): Path<String>,
    parts: Parts,
) -> Result<Response, WebError> {
    let now = state.api.now();
    let Some(email) = state
        .api
        .store
        .set_password_link_user(&hash_secret(&token), now)
        .await?
    else {
        return link_dead(&state, "set-password");
    };
    let ctx = context! { email => email, token => token };
    form_page(
        &state,
        &parts,
        StatusCode::OK,
        "auth/set_password.html",
        ctx,
    )
}

#[derive(serde::Deserialize)]
pub(super) struct SetPasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

pub(super) async fn set_password(
    State(state): State<WebState>,
    Path(token): Path<String>,
    post: PreSessionForm<SetPasswordForm>,
) -> Result<Response, WebError> {
    let hash = hash_secret(&token);
    let store = &state.api.store;
    let Some(email) = store.set_password_link_user(&hash, state.api.now()).await? else {
        return link_dead(&state, "set-password");
    };
    let form = &post.form;
    if let Err(error) = check_new_password(&form.password, &form.password_again) {
        let ctx = context! { email => email, token => &token, error => error };
        let page = "auth/set_password.html";
        return form_page(&state, &post.parts, StatusCode::BAD_REQUEST, page, ctx);
    }
    let password = form.password.clone();
    let Some(password_hash) = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .ok()
        .flatten()
    else {
        return Err(WebError::BadRequest(
            "this password could not be hashed; choose another".to_owned(),
        ));
    };
    let now = state.api.now();
    let Some(user) = store
        .use_set_password_link(&hash, &password_hash, now)
        .await?
    else {
        return link_dead(&state, "set-password");
    };
    tracing::info!(web.account = %user.email, "password set");
    let of = SessionOf::Staff { user_id: user.id };
    start_session(&state, &of, post.secure, Redirect::to("/").into_response()).await
}
