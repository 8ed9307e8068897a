//! Signing in with the admin token (a session cookie) and out again.

use std::sync::Arc;

use minijinja::context;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;

use super::field;
use super::page::{redirect, Console};
use super::session::{Sessions, Viewer};

pub fn form(console: Arc<Console>, query: Vec<(String, String)>) -> Response {
    if !console.sessions.needs_sign_in() {
        return redirect("/console/");
    }
    let next = safe_next(field(&query, "next"));
    console.anonymous(StatusCode::OK, "sign_in.html", context! { next, title => "Sign in" })
}

pub fn submit(console: Arc<Console>, tls: bool, form: Vec<(String, String)>) -> Response {
    let next = safe_next(field(&form, "next"));
    let presented = field(&form, "token").map(String::as_str).unwrap_or("");
    match console.sessions.sign_in(presented.trim(), crate::now_ms() / 1000) {
        Some(cookie) => with_cookie(redirect(&next), &Sessions::set_cookie(&cookie, tls)),
        None => {
            let error = "That is not the admin token (HOOKSHAPE_ADMIN_TOKEN).";
            console.anonymous(StatusCode::UNAUTHORIZED, "sign_in.html", context! { next, error, title => "Sign in" })
        }
    }
}

pub fn sign_out(_console: Arc<Console>, _viewer: Viewer, _form: Vec<(String, String)>) -> Response {
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
