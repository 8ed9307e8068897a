//! What a change does to how a subscription delivers that no request shows: its mode
//! (`shadow` records and never sends, so going live is the change that starts traffic),
//! timeout, retries, limits, activation and search keys. Said per subscription, not per
//! event.

use super::pairs::Pair;
use super::report::FieldChange;
use crate::subscription::Subscription;

/// The settings that differ between the pair's base and working subscription, as written
/// in a subscription file (`mode`, `retry.schedule`, …).
pub fn changes(pair: &Pair) -> Vec<FieldChange> {
    let (Some(b), Some(w)) = (&pair.base, &pair.work) else { return Vec::new() };
    let mut out = Vec::new();
    for ((field, before), (_, after)) in settings(b).into_iter().zip(settings(w)) {
        if before != after {
            out.push(FieldChange { field: field.into(), before, after });
        }
    }
    out
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
        ("search_keys", Some(format!("[{}]", s.search_keys.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")))),
    ]
}
