//! Sending one leased delivery: the always-sent headers, the subscription's headers and
//! signature, one shared HTTP client that connects only where the egress policy allows,
//! and a response read no further than 16 KiB.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::retry::{parse_retry_after, AttemptResult};
use crate::egress::{check_url_host, refusal_in, EgressPolicy, GuardedResolver};
use crate::store::{Leased, StoredRequest};
use crate::subscription::Subscription;

/// How much of a response body an attempt keeps.
pub const RESPONSE_BODY_LIMIT: usize = 16 * 1024;

/// The one HTTP client and the egress policy it connects under.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    egress: Arc<EgressPolicy>,
}

/// The one HTTP client: connection reuse across deliveries, redirects never followed, and
/// every address it connects to checked against `egress`: names when they resolve (so a
/// name cannot resolve to a refused address later), literal addresses before sending.
/// No proxy: the address connected to must be the receiver's.
pub fn client(egress: &EgressPolicy) -> reqwest::Result<HttpClient> {
    let egress = Arc::new(egress.clone());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(format!("hookshape/{}", crate::VERSION))
        .pool_idle_timeout(Duration::from_secs(90))
        .connect_timeout(Duration::from_secs(10))
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver::new(egress.clone())))
        .build()?;
    Ok(HttpClient { client, egress })
}

pub struct Sent {
    pub result: AttemptResult,
    pub response_body: Option<String>,
    pub duration_ms: i64,
    /// True when no connection could be made at all (the receiver is down or unknown):
    /// what opens the subscription's breaker.
    pub unreachable: bool,
}

/// The headers of attempt `attempt` of delivery `id`, in the order they are applied
/// (later ones win): the always-sent ones, the request's own, then the signature.
pub fn headers(
    id: &str,
    topic: &str,
    attempt: u32,
    r: &StoredRequest,
    sub: &Subscription,
    now_secs: i64,
) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(r.headers.len() + 8);
    if r.body.is_some() {
        out.push(("Content-Type".to_string(), "application/json".to_string()));
    }
    out.push(("User-Agent".into(), format!("hookshape/{}", crate::VERSION)));
    out.push(("X-Webhook-Event".into(), topic.to_string()));
    out.push(("X-Webhook-Id".into(), id.to_string()));
    out.push(("X-Webhook-Attempt".into(), attempt.to_string()));
    out.extend(r.headers.iter().cloned());
    if let Some(signer) = &sub.signature {
        out.extend(signer.headers(id, now_secs, r.body.as_deref().unwrap_or_default().as_bytes()));
    }
    out
}

pub async fn send(http: &HttpClient, d: &Leased, sub: &Subscription) -> Sent {
    let started = Instant::now();
    let refused = |why: String| Sent {
        result: AttemptResult::Refused(why),
        response_body: None,
        duration_ms: 0,
        unreachable: false,
    };
    let url = match reqwest::Url::parse(&d.request.url) {
        Ok(url) => url,
        Err(e) => return refused(format!("the URL does not parse: {e}")),
    };
    if let Err(why) = check_url_host(&http.egress, &url) {
        return refused(why.to_string());
    }
    let mut map = HeaderMap::new();
    for (k, v) in headers(&d.id, &d.topic, d.attempt, &d.request, sub, chrono::Utc::now().timestamp()) {
        // Names and values were validated at load and render; a bad one is skipped, not fatal.
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(&v)) {
            map.insert(k, v);
        }
    }
    let method = reqwest::Method::from_bytes(d.request.method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let mut req = http.client.request(method, url).headers(map).timeout(sub.timeout);
    if let Some(body) = &d.request.body {
        req = req.body(body.clone());
    }
    let mut unreachable = false;
    let (result, response_body) = match req.send().await {
        Err(e) => match refusal_in(&e) {
            Some(why) => (AttemptResult::Refused(why.to_string()), None),
            None => {
                unreachable = e.is_connect();
                (AttemptResult::Error(sub.secrets.mask(&describe(&e))), None)
            }
        },
        Ok(mut resp) => {
            let code = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
            let mut body = Vec::new();
            let mut read_error = None;
            while body.len() < RESPONSE_BODY_LIMIT {
                match resp.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    Ok(None) => break,
                    Err(e) => {
                        read_error = Some(describe(&e));
                        break;
                    }
                }
            }
            body.truncate(RESPONSE_BODY_LIMIT);
            // A receiver that echoes what it got must not put our secrets into history.
            let text = sub.secrets.mask(&String::from_utf8_lossy(&body));
            // A 2xx whose body then timed out still told us the receiver accepted it.
            let result = match read_error {
                Some(e) if !(200..300).contains(&code) => AttemptResult::Error(format!("status {code}, then {e}")),
                _ => AttemptResult::Status { code, retry_after },
            };
            (result, Some(text))
        }
    };
    Sent { result, response_body, duration_ms: started.elapsed().as_millis() as i64, unreachable }
}

/// An error in words, without its URL: that may hold secrets (userinfo, a token in the
/// query), and the delivery's history shows its URL already, masked.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut source = std::error::Error::source(e);
    // reqwest's own Display repeats the URL; its sources say what went wrong.
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
