//! Signing in with the admin token (a session cookie) and out again.

use std::sync::Arc;

use minijinja::context;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;

use super::field;
use super::page::{redirect, Console};
use super::session::{Sessions, Viewer};
use crate::api::throttle::peer;
use crate::api::ApiState;

pub fn form(console: Arc<Console>, query: Vec<(String, String)>) -> Response {
    if !console.sessions.needs_sign_in() {
        return redirect("/console/");
    }
    let next = safe_next(field(&query, "next"));
    console.anonymous(StatusCode::OK, "sign_in.html", context! { next, title => "Sign in" })
}

/// Signs in with the admin token; an address that gave too many wrong ones waits first
/// (429 with `Retry-After`, the token not compared), as the API's bearer checks do.
pub fn submit(console: Arc<Console>, tls: bool, form: Vec<(String, String)>) -> Response {
    let next = safe_next(field(&form, "next"));
    let (addr, now) = (peer(), std::time::Instant::now());
    if let Err(wait) = console.throttle.check(addr, now) {
        let error =
            format!("Too many wrong tokens from your address: try again in {} s.", wait.retry_after.unwrap_or(1));
        let mut resp = console.anonymous(wait.status, "sign_in.html", context! { next, error, title => "Sign in" });
        if let Some(secs) = wait.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        return resp;
    }
    let presented = field(&form, "token").map(String::as_str).unwrap_or("");
    match console.sessions.sign_in(presented.trim(), crate::now_ms() / 1000) {
        Some(cookie) => {
            console.throttle.succeeded(addr);
            with_cookie(redirect(&next), &Sessions::set_cookie(&cookie, tls))
        }
        None => {
            console.throttle.failed(addr, now);
            let error = "That is not the admin token (HOOKSHAPE_ADMIN_TOKEN).";
            console.anonymous(StatusCode::UNAUTHORIZED, "sign_in.html", context! { next, error, title => "Sign in" })
        }
    }
}

/// Ends the session on the server too: its cookie no longer works, even if kept, on this
/// node at once and on the others (and after a restart) once the store has it.
pub async fn sign_out(
    console: Arc<Console>,
    _viewer: Viewer,
    _form: Vec<(String, String)>,
    cookie: Option<String>,
    state: ApiState,
) -> Response {
    let now = crate::now_ms() / 1000;
    if let Some((nonce, until)) = console.sessions.sign_out(cookie.as_deref(), now) {
        if let Err(e) = state.store.revoke_session(&nonce, until, now).await {
            // Signed out here all the same; the page says the other nodes may not know yet.
            tracing::warn!(error = %e, "could not record a sign-out in the store");
            let message = "Signed out on this node. The store could not record it, so other nodes \
                           may still accept the old session until it expires; sign out again later.";
            return with_cookie(
                console.anonymous(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "sign_in.html",
                    context! { error => message, title => "Sign in" },
                ),
                &Sessions::clear_cookie(),
            );
        }
    }
    with_cookie(redirect("/console/signin"), &Sessions::clear_cookie())
}

fn with_cookie(mut resp: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// Only a console path may follow a sign-in: never another site (an open redirect).
fn safe_next(next: Option<&String>) -> String {
    next.filter(|n| n.starts_with("/console/") && !n.starts_with("//") && !n.contains('\\'))
        .cloned()
        .unwrap_or_else(|| "/console/".to_string())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn after_sign_in_only_console_pages_are_followed() {
        let s = |v: &str| safe_next(Some(&v.to_string()));
        assert_eq!(s("/console/deliveries?status=failed"), "/console/deliveries?status=failed");
        assert_eq!(s("https://evil.example/"), "/console/");
        assert_eq!(s("//evil.example/console/"), "/console/");
        assert_eq!(safe_next(None), "/console/");
    }
}
