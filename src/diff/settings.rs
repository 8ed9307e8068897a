//! What a change does to how a subscription delivers that no request shows: its mode
//! (`shadow` records and never sends, so going live is the change that starts traffic),
//! timeout, retries, limits, activation, `auth:` and search keys. Said per subscription, not per
//! event.

use super::pairs::Pair;
use super::report::FieldChange;
use crate::auth::{Auth, ClientAuth};
use crate::subscription::Subscription;

/// The settings that differ between the pair's base and working subscription, as written
/// in a subscription file (`mode`, `retry.schedule`, …).
pub fn changes(pair: &Pair) -> Vec<FieldChange> {
    let (Some(b), Some(w)) = (&pair.base, &pair.work) else { return Vec::new() };
    let mut out = Vec::new();
    for ((field, before), (_, after)) in settings(b).into_iter().zip(settings(w)) {
        if before != after {
            out.push(FieldChange { field: field.into(), before, after });
        } else if field == "auth" && credentials_of(b) != credentials_of(w) {
            // Shown alike (the values are `***`), the credentials still changed.
            let after = after.map(|a| format!("{a} (its credentials changed)"));
            out.push(FieldChange { field: field.into(), before, after });
        }
    }
    out
}

/// `auth:` as a reviewer may see it: the kind, and for OAuth2 where the credentials go
/// (the token URL under the URL rule), the scope, audience and how the client signs in;
/// never a credential.
fn auth_shown(s: &Subscription) -> Option<String> {
    let shown = match s.auth.as_ref()? {
        Auth::Static(value) => format!("{} ***", value.expose().split(' ').next().unwrap_or_default()),
        Auth::OAuth2(c) => {
            let mut shown = format!("oauth2 from {}", s.secrets.mask_url(&c.token_url.to_string()));
            for (name, value) in [("scope", &c.scope), ("audience", &c.audience)] {
                if let Some(value) = value {
                    shown.push_str(&format!(", {name} {value:?}"));
                }
            }
            let client_auth = match c.client_auth {
                ClientAuth::Basic => "basic",
                ClientAuth::Post => "post",
            };
            format!("{shown}, client_auth {client_auth}")
        }
    };
    Some(s.secrets.mask(&shown))
}

/// What tells two `auth:` apart that is never shown: the credential itself (the OAuth2
/// credential's key is a hash of all of its parts).
fn credentials_of(s: &Subscription) -> Option<&str> {
    match s.auth.as_ref()? {
        Auth::Static(value) => Some(value.expose()),
        Auth::OAuth2(c) => Some(&c.key),
    }
}

/// Each setting's name and value as shown (None: not set).
fn settings(s: &Subscription) -> Vec<(&'static str, Option<String>)> {
    let durations = |ds: &[std::time::Duration]| ds.iter().map(|d| crate::duration::format(*d)).collect::<Vec<_>>();
    let json = |v: serde_json::Value| match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    vec![
        ("mode", serde_json::to_value(s.mode).ok().map(json)),
        ("request.timeout", Some(crate::duration::format(s.timeout))),
        ("retry.schedule", Some(format!("[{}]", durations(&s.retry.schedule).join(", ")))),
        ("retry.give_up_on", Some(format!("{:?}", s.retry.give_up_on))),
        ("delivery.max_in_flight", s.delivery.max_in_flight.map(|n| n.to_string())),
        ("delivery.disable_after_failures", Some(s.delivery.disable_after_failures.to_string())),
        ("delivery.activation", serde_json::to_value(s.delivery.activation).ok().map(json)),
        ("rate_limit", s.rate_limit.map(|l| format!("{} per {}", l.requests, crate::duration::format(l.per)))),
        ("auth", auth_shown(s)),
        ("search_keys", Some(format!("[{}]", s.search_keys.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")))),
    ]
}
