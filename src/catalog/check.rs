//! Intake's check of an event against the catalog: every topic that matches the event's
//! topic and validates (`warn` or `enforce`) checks its Payload. `enforce` refuses the
//! event with the path of what is wrong; `warn` lets it through, and intake counts it.
//! Without a validating topic nothing is done, so a catalog costs intake nothing until
//! one asks for it.

use serde_json::Value;

use super::{Catalog, Validation};
use crate::event::{Event, EventError};

/// A `warn` topic's schema that the event's Payload does not conform to.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// The catalog topic's name (or glob): a bounded metrics label.
    pub topic: String,
    /// `Payload.path: message`, at most `MAX_PROBLEMS`.
    pub problems: Vec<String>,
}

/// Checks `event` against its validating topics: an `enforce` topic's problem is an
/// `Invalid` error naming the path; `warn` topics' problems are returned.
pub fn check(catalog: &Catalog, event: &mut Event) -> Result<Vec<Mismatch>, EventError> {
    if !catalog.validates() {
        return Ok(Vec::new());
    }
    // The validator reads a Value: the Payload is moved into one and back, not copied.
    let payload = Value::Object(std::mem::take(&mut event.payload));
    let result = check_payload(catalog, &event.topic, &payload);
    if let Value::Object(map) = payload {
        event.payload = map;
    }
    result
}

fn check_payload(catalog: &Catalog, topic: &str, payload: &Value) -> Result<Vec<Mismatch>, EventError> {
    let mut mismatches = Vec::new();
    for t in catalog.for_event_topic(topic).filter(|t| t.validation != Validation::Off) {
        let Some(schema) = &t.compiled else { continue };
        if schema.is_valid(payload) {
            continue;
        }
        let problems = schema.located_problems(payload);
        if t.validation == Validation::Enforce {
            return Err(refusal(&t.name, &problems));
        }
        let problems = problems.iter().map(|(at, m)| format!("{}: {m}", super::payload_path(at))).collect();
        mismatches.push(Mismatch { topic: t.name.clone(), problems });
    }
    Ok(mismatches)
}

/// `Payload.Customer.Id: "x" is not of type "integer"` (and any others), naming the topic.
fn refusal(topic: &str, problems: &[(Vec<String>, String)]) -> EventError {
    let mut shown = problems.iter().map(|(at, m)| (super::payload_path(at), m));
    let Some((field, first)) = shown.next() else {
        let message = format!("does not conform to the schema of topic {topic}");
        return EventError::Invalid { field: "Payload".into(), message };
    };
    let mut message = first.clone();
    for (path, m) in shown {
        message.push_str(&format!("; {path}: {m}"));
    }
    message.push_str(&format!(" (topic {topic} enforces its schema)"));
    EventError::Invalid { field, message }
}
