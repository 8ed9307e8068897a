//! Rendering a console page: the compiled-in templates (one layout, a file per page), the
//! headers every page carries, and what pages share (pretty JSON, curl, errors, the rates).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use minijinja::{context, Environment, Value};
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;

use super::session::{Sessions, Viewer};
use crate::api::ApiError;
use crate::secret::Secret;

/// The content security policy the product promises, tightened: no frames, forms post only here.
const CSP: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// JSON longer than this many lines is shown folded.
const FOLD_LINES: usize = 40;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("message.html", include_str!("templates/message.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("deliveries.html", include_str!("templates/deliveries.html")),
    ("delivery_rows.html", include_str!("templates/delivery_rows.html")),
    ("recover.html", include_str!("templates/recover.html")),
    ("delivery.html", include_str!("templates/delivery.html")),
    ("event.html", include_str!("templates/event.html")),
    ("replay.html", include_str!("templates/replay.html")),
    ("subscriptions.html", include_str!("templates/subscriptions.html")),
    ("subscription.html", include_str!("templates/subscription.html")),
    ("sources.html", include_str!("templates/sources.html")),
    ("topics.html", include_str!("templates/topics.html")),
    ("playground.html", include_str!("templates/playground.html")),
    ("studio.html", include_str!("templates/studio.html")),
    ("studio_index.html", include_str!("templates/studio_index.html")),
];

/// How far back the rates look, and the shortest span they are given for.
const WINDOW: Duration = Duration::from_secs(60);
const SHORTEST: Duration = Duration::from_secs(2);

/// This node's counters as the overview page saw them (it refreshes every few seconds while
/// open), so it can say how many events and deliveries the last minute brought without
/// counting rows in the history.
#[derive(Default)]
pub struct Rates {
    samples: Mutex<VecDeque<(Instant, u64, u64)>>,
}

impl Rates {
    /// Records `totals` now; returns events and deliveries per minute over the window, once
    /// there is a span long enough to tell.
    pub(super) fn per_minute(&self, totals: (u64, u64)) -> Option<(u64, u64, u64)> {
        let now = Instant::now();
        let mut samples = self.samples.lock().ok()?;
        samples.push_back((now, totals.0, totals.1));
        while samples.len() > 2 && samples.get(1).is_some_and(|(t, _, _)| now - *t >= WINDOW) {
            samples.pop_front();
        }
        let (then, events, deliveries) = *samples.front()?;
        let span = now - then;
        (span >= SHORTEST).then(|| {
            let per_minute = |n: u64| (n as f64 * 60.0 / span.as_secs_f64()).round() as u64;
            (per_minute(totals.0 - events), per_minute(totals.1 - deliveries), span.as_secs())
        })
    }
}

pub struct Console {
    env: Environment<'static>,
    pub sessions: Sessions,
    pub rates: Rates,
    /// Wrong tokens by client address, shared with the API's bearer checks.
    pub throttle: std::sync::Arc<crate::api::throttle::Throttle>,
}

impl Console {
    pub fn new(admin_token: Option<Secret>, throttle: std::sync::Arc<crate::api::throttle::Throttle>) -> Self {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // The templates are part of the binary and covered by tests: a broken one is a
            // build defect, reported on the page that uses it rather than here.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "console template does not parse");
            }
        }
        Self { env, sessions: Sessions::new(admin_token), rates: Default::default(), throttle }
    }

    /// `template` with `ctx`, inside the layout, as a page for `viewer`.
    pub fn render(&self, viewer: &Viewer, status: StatusCode, template: &str, ctx: Value) -> Response {
        let full = context! { csrf => viewer.csrf.clone(), signed_in => viewer.signed_in, ..ctx };
        match self.env.get_template(template).and_then(|t| t.render(full)) {
            Ok(html) => html_response(status, html),
            Err(e) => {
                tracing::error!(template, error = %e, "console page failed to render");
                html_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!(
                        "<!doctype html><title>hookshape</title><p>This page failed to render: {}",
                        minijinja::HtmlEscape(&e.to_string())
                    ),
                )
            }
        }
    }

    /// A page that says what went wrong, in the console's layout.
    pub fn error_page(&self, viewer: &Viewer, status: StatusCode, message: &str) -> Response {
        let ctx = context! { title => "Something went wrong", message, status => status.as_u16(), error => true };
        self.render(viewer, status, "message.html", ctx)
    }

    /// An API error (not found, store unavailable, a refused enable) as a page.
    pub fn api_error(&self, viewer: &Viewer, e: ApiError) -> Response {
        self.error_page(viewer, e.status, &e.message)
    }

    /// The sign-in page, for a visitor without a session.
    pub fn anonymous(&self, status: StatusCode, template: &str, ctx: Value) -> Response {
        self.render(&Viewer { csrf: String::new(), signed_in: false }, status, template, ctx)
    }
}

pub fn html_response(status: StatusCode, html: String) -> Response {
    let mut resp = Response::new(html.into());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure_headers(h);
    resp
}

/// What every console answer carries: the CSP, no sniffing, no framing, no caching.
pub fn secure_headers(h: &mut warp::http::HeaderMap) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// 303 See Other: after a form, and to the sign-in page.
pub fn redirect(to: &str) -> Response {
    let mut resp = Response::new(Default::default());
    *resp.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    secure_headers(resp.headers_mut());
    resp
}

/// Anything serializable as a template value.
pub fn value<T: serde::Serialize>(v: &T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// A body or payload for display: JSON pretty-printed (numbers keep their digits), other
/// text as it is; with its line count, so long ones can be folded.
pub fn shown_json(text: &str) -> Value {
    let pretty = pretty_json(text);
    let lines = pretty.lines().count();
    context! { text => pretty, lines, folded => lines > FOLD_LINES }
}

/// A request body for display: pretty-printed only when it is JSON (no Content-Type of
/// another kind among `headers`); a text, form or XML body exactly as it is sent.
pub fn shown_body(text: &str, headers: &[(String, String)]) -> Value {
    let other =
        headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("content-type") && !v.to_ascii_lowercase().contains("json"));
    if !other {
        return shown_json(text);
    }
    let lines = text.lines().count();
    context! { text => text, lines, folded => lines > FOLD_LINES }
}

/// JSON pretty-printed (numbers keep their digits); anything else as it is.
pub fn pretty_json(text: &str) -> String {
    crate::json::parse(text.as_bytes())
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_string())
}

/// A request as a curl command a person can paste (its secrets are already `***`).
pub fn curl(method: &str, url: &str, headers: &[(String, String)], body: Option<&str>) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut parts = vec![format!("curl -X {method} {}", quote(url))];
    parts.extend(headers.iter().map(|(k, v)| format!("  -H {}", quote(&format!("{k}: {v}")))));
    if let Some(body) = body {
        parts.push(format!("  --data-raw {}", quote(body)));
    }
    parts.join(" \\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn curl_quotes_what_a_shell_would_otherwise_read() {
        let c = curl("POST", "http://h/a?b=1&c", &[("X-A".into(), "it's".into())], Some("{\"a\":1}"));
        assert_eq!(c, "curl -X POST 'http://h/a?b=1&c' \\\n  -H 'X-A: it'\\''s' \\\n  --data-raw '{\"a\":1}'");
    }

    #[test]
    fn a_body_of_another_content_type_is_shown_exactly_as_sent() {
        let text = r#"{"a":1.50}"#;
        let plain = [("Content-Type".to_string(), "text/plain; charset=utf-8".to_string())];
        assert_eq!(shown_body(text, &plain).get_attr("text").unwrap().to_string(), text);
        let json = [("content-type".to_string(), "application/vnd.api+json".to_string())];
        assert_eq!(shown_body(text, &json).get_attr("text").unwrap().to_string(), "{\n  \"a\": 1.50\n}");
        assert_eq!(shown_body(text, &[]).get_attr("text").unwrap().to_string(), "{\n  \"a\": 1.50\n}");
    }

    #[test]
    fn json_is_pretty_printed_and_long_json_folded() {
        let short = shown_json(r#"{"a":1.50}"#);
        assert_eq!(short.get_attr("text").unwrap().to_string(), "{\n  \"a\": 1.50\n}");
        let long = format!("[{}]", vec!["1"; 50].join(","));
        assert!(shown_json(&long).get_attr("folded").unwrap().is_true());
        assert_eq!(shown_json("not json").get_attr("text").unwrap().to_string(), "not json");
    }
}
