//! The template context of an event: the Payload's top-level keys, then `Uuid`, `Date`,
//! `Topic`, `Payload` and `event`, which win on a clash.

use minijinja::Value;

use super::values::{from_json, ExactNumbers, EXACT_KEY};
use crate::event::Event;

/// Built once per event and shared by every subscription it is routed to.
pub fn context(event: &Event) -> Value {
    let mut exact = ExactNumbers::default();
    let fields: Vec<(&str, Value)> =
        event.payload.iter().map(|(k, v)| (k.as_str(), from_json(v, &mut exact))).collect();
    let payload = Value::from_pairs(fields.iter().cloned());
    let envelope = Value::from_pairs([
        ("Uuid", Value::from(event.uuid.as_str())),
        ("Date", Value::from(event.date.as_str())),
        ("Topic", Value::from(event.topic.as_str())),
        ("Payload", payload.clone()),
    ]);
    let mut entries: Vec<(String, Value)> = Vec::with_capacity(event.payload.len() + 6);
    for (key, value) in fields {
        if !matches!(key, "Uuid" | "Date" | "Topic" | "Payload" | "event" | EXACT_KEY) {
            entries.push((key.to_string(), value));
        }
    }
    entries.push(("Uuid".into(), Value::from(event.uuid.as_str())));
    entries.push(("Date".into(), Value::from(event.date.as_str())));
    entries.push(("Topic".into(), Value::from(event.topic.as_str())));
    entries.push(("Payload".into(), payload));
    entries.push(("event".into(), envelope));
    if !exact.is_empty() {
        entries.push((EXACT_KEY.into(), Value::from_object(exact)));
    }
    Value::from_pairs(entries)
}

/// The context of any JSON object (an inbound source's body): its keys, numbers keeping
/// their digits.
pub fn context_of(fields: &serde_json::Map<String, serde_json::Value>) -> Value {
    let mut exact = ExactNumbers::default();
    let mut entries: Vec<(String, Value)> = fields.iter().map(|(k, v)| (k.clone(), from_json(v, &mut exact))).collect();
    if !exact.is_empty() {
        entries.push((EXACT_KEY.into(), Value::from_object(exact)));
    }
    Value::from_pairs(entries)
}
