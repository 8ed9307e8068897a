//! The headers every attempt carries: URL userinfo's Authorization, the always-sent ones,
//! the request's own, then the signature and `auth:`'s Authorization. A rule of the product, not of sending: the preview
//! (`accept::preview`) and the sender (`dispatch::sender`) both take them from here, so
//! what `render` shows is what goes on the wire.

use hyper::header::{HeaderName, CONTENT_TYPE, USER_AGENT};

use crate::store::StoredRequest;
use crate::subscription::Subscription;

/// The headers of attempt `attempt` of delivery `id`, in the order they are applied
/// (later ones win): the always-sent ones, the request's own, then the signature, then
/// `auth:`'s Authorization, which is never shown: its value is `***` here (the token is
/// only known to the sender, when it sends).
pub fn headers(
    id: &str,
    topic: &str,
    attempt: u32,
    r: &StoredRequest,
    sub: &Subscription,
    now_secs: i64,
) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(r.headers.len() + 8);
    out.extend(userinfo_credentials(r));
    out.extend(always_sent(id, topic, attempt, default_content_type(r)).map(|(shown, _, v)| (shown.to_string(), v)));
    out.extend(r.headers.iter().cloned());
    if let Some(signer) = &sub.signature {
        out.extend(signer.headers(id, now_secs, r.body.as_deref().unwrap_or_default().as_bytes()));
    }
    if sub.auth.is_some() {
        out.push(("Authorization".to_string(), crate::secret::MASK.to_string()));
    }
    out
}

/// The headers as they go on the wire: the sender inserts them in order into a header map,
/// so a later one replaces an earlier one of the same name (a subscription's own
/// `Content-Type` replaces the default) where the first one stood.
pub fn as_sent(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        match out.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            Some(existing) => existing.1 = value,
            None => out.push((name, value)),
        }
    }
    out
}

/// A stored delivery's headers as history shows them (the API, the console and its copy
/// as curl): those of its attempt `attempt` as sent, the signature's `***` (computed anew
/// at each attempt); without its subscription (no longer loaded), the always-sent ones
/// and the request's own. `r` is already redacted.
pub fn recorded(
    id: &str,
    topic: &str,
    attempt: u32,
    r: &StoredRequest,
    sub: Option<&Subscription>,
) -> Vec<(String, String)> {
    let mut shown = Vec::with_capacity(r.headers.len() + 8);
    shown.extend(userinfo_credentials(r));
    shown.extend(always_sent(id, topic, attempt, default_content_type(r)).map(|(shown, _, v)| (shown.to_string(), v)));
    shown.extend(r.headers.iter().cloned());
    if let Some(sub) = sub {
        let signed = sub.signature.iter().flat_map(|s| s.header_names());
        shown.extend(signed.map(|name| (name.to_string(), crate::secret::MASK.to_string())));
        if sub.auth.is_some() {
            shown.push(("Authorization".to_string(), crate::secret::MASK.to_string()));
        }
    }
    as_sent(shown)
}

/// The Basic `Authorization` a URL's userinfo becomes, shown as `***`: the sender puts it
/// first, and a header of the request's own or `auth:` replaces it.
fn userinfo_credentials(r: &StoredRequest) -> Option<(String, String)> {
    let url = url::Url::parse(&r.url).ok()?;
    crate::secret::userinfo_credentials(&url).map(|_| ("Authorization".to_string(), crate::secret::MASK.to_string()))
}

/// Whether the request's body goes with the default `Content-Type: application/json`: it
/// has a body and no Content-Type of its own (a header, or its body format's), so exactly
/// one is sent and shown.
pub fn default_content_type(r: &StoredRequest) -> bool {
    r.body.is_some() && !r.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
}

/// The headers hookshape adds to every attempt, as (name as shown, name as sent, value).
pub fn always_sent(
    id: &str,
    topic: &str,
    attempt: u32,
    json_body: bool,
) -> impl Iterator<Item = (&'static str, HeaderName, String)> {
    let content_type = json_body.then(|| ("Content-Type", CONTENT_TYPE, "application/json".to_string()));
    content_type.into_iter().chain([
        ("User-Agent", USER_AGENT, format!("hookshape/{}", crate::VERSION)),
        ("X-Webhook-Event", HeaderName::from_static("x-webhook-event"), topic.to_string()),
        ("X-Webhook-Id", HeaderName::from_static("x-webhook-id"), id.to_string()),
        ("X-Webhook-Attempt", HeaderName::from_static("x-webhook-attempt"), attempt.to_string()),
    ])
}
