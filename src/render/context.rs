//! The template context of an event: the Payload's top-level keys, then `Uuid`, `Date`,
//! `Topic`, `Payload` and `event`, which win on a clash.

use minijinja::Value;

use crate::event::Event;

/// Built once per event and shared by every subscription it is routed to.
pub fn context(event: &Event) -> Value {
    let payload = crate::render::to_value(&event.payload);
    let envelope = Value::from_pairs([
        ("Uuid", Value::from(event.uuid.as_str())),
        ("Date", Value::from(event.date.as_str())),
        ("Topic", Value::from(event.topic.as_str())),
        ("Payload", payload.clone()),
    ]);
    let mut entries: Vec<(String, Value)> = Vec::with_capacity(event.payload.len() + 5);
    for key in event.payload.keys() {
        if !matches!(key.as_str(), "Uuid" | "Date" | "Topic" | "Payload" | "event") {
            entries.push((key.clone(), payload.get_attr(key).unwrap_or_default()));
        }
    }
    entries.push(("Uuid".into(), Value::from(event.uuid.as_str())));
    entries.push(("Date".into(), Value::from(event.date.as_str())));
    entries.push(("Topic".into(), Value::from(event.topic.as_str())));
    entries.push(("Payload".into(), payload));
    entries.push(("event".into(), envelope));
    Value::from_pairs(entries)
}
