//! The canonical event (the intake format): parsing and validation, with errors that
//! name the JSON line and column or the offending field.

use serde_json::{Map, Value};

/// A validated canonical event. `uuid` is normalised (lowercase, hyphenated) so that
/// idempotency does not depend on how a producer spells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub uuid: String,
    pub date: String,
    pub topic: String,
    pub payload: Map<String, Value>,
    /// The platform's own id of an event a source made (`SourceId`): kept with the event,
    /// shown in history and given to templates. None for intake's events.
    pub source_id: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum EventError {
    /// The body is not JSON at all (HTTP 400).
    #[error("invalid JSON at line {line} column {column}: {message}")]
    Syntax { line: usize, column: usize, message: String },
    /// JSON, but not a valid event (HTTP 422). `field` is a path such as `Topic` or `[2].Payload`.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A batch of more events than intake takes at once (HTTP 413).
    #[error("a batch holds at most {limit} events; split it")]
    TooManyItems { limit: usize },
}

impl EventError {
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.to_string(), message: message.into() }
    }

    /// The same error for item `index` of a batch.
    pub fn in_item(self, index: usize) -> Self {
        match self {
            Self::Invalid { field, message } => Self::Invalid { field: format!("[{index}].{field}"), message },
            other => other,
        }
    }
}

impl From<crate::json::JsonError> for EventError {
    fn from(e: crate::json::JsonError) -> Self {
        use crate::json::JsonError;
        match e {
            JsonError::Syntax { line, column, message } => Self::Syntax { line, column, message },
            JsonError::DuplicateKey { path } => {
                Self::Invalid { field: path, message: "the key is given twice in one object".into() }
            }
            JsonError::TooManyItems { limit } => Self::TooManyItems { limit },
        }
    }
}

/// Parses the body of `POST /v1/events`.
pub fn parse(body: &[u8]) -> Result<Event, EventError> {
    from_value(crate::json::parse(body)?)
}

/// Parses the body of `POST /v1/events/batch`: a JSON array of at most `max_items` events,
/// each validated on its own, so one bad item does not reject the others.
pub fn parse_batch(body: &[u8], max_items: usize) -> Result<Vec<Result<Event, EventError>>, EventError> {
    let value = match crate::json::parse_bounded(body, max_items) {
        Ok(value) => value,
        // A key given twice refuses its own item, not the whole batch: the items are read
        // again one by one (only then, so a good batch is read once).
        Err(crate::json::JsonError::DuplicateKey { path }) => {
            return each_on_its_own(body, max_items)
                .unwrap_or_else(|| Err(crate::json::JsonError::DuplicateKey { path }.into()))
        }
        Err(e) => return Err(e.into()),
    };
    let Value::Array(items) = value else {
        return Err(EventError::invalid("(body)", "a batch must be a JSON array of events"));
    };
    Ok(items.into_iter().enumerate().map(|(i, item)| from_value(item).map_err(|e| e.in_item(i))).collect())
}

/// A batch's items parsed each on its own (more than `max_items` refuse the batch); None
/// when the body is not an array.
fn each_on_its_own(body: &[u8], max_items: usize) -> Option<Result<Vec<Result<Event, EventError>>, EventError>> {
    let items = match crate::json::array_items(body, max_items)? {
        Ok(items) => items,
        Err(e) => return Some(Err(e.into())),
    };
    let parsed = items.iter().enumerate().map(|(i, raw)| {
        let value = crate::json::parse(raw.get().as_bytes()).map_err(EventError::from);
        value.and_then(from_value).map_err(|e| e.in_item(i))
    });
    Some(Ok(parsed.collect()))
}

/// Longest Topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 256;

/// The four envelope fields, each with its lowercase alias.
const FIELDS: [(&str, &str); 4] = [("Uuid", "uuid"), ("Date", "date"), ("Topic", "topic"), ("Payload", "payload")];

pub fn from_value(value: Value) -> Result<Event, EventError> {
    let Value::Object(mut object) = value else {
        return Err(EventError::invalid("(event)", "an event must be a JSON object"));
    };
    if let Some(unknown) = object.keys().find(|k| !FIELDS.iter().any(|(a, b)| k == a || k == b)) {
        let why = match unknown.as_str() {
            // A line `events export` wrote for a source's event carries it.
            SOURCE_ID => "only a source sets the platform's id; remove SourceId to post this event here",
            _ => "unknown field; an event has Uuid, Date, Topic and Payload (or their lowercase aliases)",
        };
        return Err(EventError::invalid(unknown, why));
    }
    let mut take = |name: &str, alias: &str| -> Result<Option<Value>, EventError> {
        match (object.remove(name), object.remove(alias)) {
            (Some(_), Some(_)) => Err(EventError::invalid(name, format!("given twice, as {name} and as {alias}"))),
            (a, b) => Ok(a.or(b)),
        }
    };
    let uuid = take("Uuid", "uuid")?;
    let date = take("Date", "date")?;
    let topic = take("Topic", "topic")?;
    let payload = take("Payload", "payload")?;

    let topic = match topic {
        Some(Value::String(t)) if !t.trim().is_empty() => t,
        Some(Value::String(_)) => return Err(EventError::invalid("Topic", "must not be empty")),
        Some(other) => return Err(EventError::invalid("Topic", format!("must be a string, not {}", kind(&other)))),
        None => return Err(EventError::invalid("Topic", "is required")),
    };
    if topic.chars().count() > MAX_TOPIC_CHARS || topic.chars().any(char::is_control) {
        return Err(EventError::invalid("Topic", "must be at most 256 characters, without control characters"));
    }
    let payload = match payload {
        Some(Value::Object(p)) => p,
        Some(other) => {
            return Err(EventError::invalid("Payload", format!("must be a JSON object, not {}", kind(&other))))
        }
        None => return Err(EventError::invalid("Payload", "is required")),
    };
    let uuid = match uuid {
        // Time-ordered: a store's index of event uuids takes these at its end, not at a
        // random page (one page read and written per event in a long history).
        None | Some(Value::Null) => uuid::Uuid::now_v7().to_string(),
        Some(Value::String(u)) => uuid::Uuid::parse_str(&u)
            .map_err(|_| EventError::invalid("Uuid", format!("{u:?} is not a UUID")))?
            .hyphenated()
            .to_string(),
        Some(other) => return Err(EventError::invalid("Uuid", format!("must be a string, not {}", kind(&other)))),
    };
    let date = match date {
        None | Some(Value::Null) => chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        Some(Value::String(d)) if is_iso8601(&d) => d,
        Some(Value::String(d)) => {
            return Err(EventError::invalid("Date", format!("{d:?} is not an ISO 8601 date-time")));
        }
        Some(other) => return Err(EventError::invalid("Date", format!("must be a string, not {}", kind(&other)))),
    };
    Ok(Event { uuid, date, topic, payload, source_id: None })
}

/// The envelope a source's event carries besides the four fields.
const SOURCE_ID: &str = "SourceId";

/// An event as the store keeps it (and as a test case may give it): the envelope, with the
/// `SourceId` a source recorded. Producers cannot set it: `from_value` refuses the key.
pub fn from_stored(value: Value) -> Result<Event, EventError> {
    let mut value = value;
    let source_id = match value.as_object_mut().and_then(|o| o.remove(SOURCE_ID)) {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id),
        Some(other) => {
            return Err(EventError::invalid(SOURCE_ID, format!("must be a string, not {}", kind(&other))));
        }
    };
    Ok(Event { source_id, ..from_value(value)? })
}

fn is_iso8601(text: &str) -> bool {
    crate::iso8601::parse_any(text).is_ok()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The envelope's fields borrowed from an `Event`, so storing it copies nothing.
#[derive(serde::Serialize)]
struct EnvelopeRef<'a> {
    #[serde(rename = "Uuid")]
    uuid: &'a str,
    #[serde(rename = "Date")]
    date: &'a str,
    #[serde(rename = "Topic")]
    topic: &'a str,
    #[serde(rename = "Payload")]
    payload: &'a Map<String, Value>,
    #[serde(rename = "SourceId", skip_serializing_if = "Option::is_none")]
    source_id: Option<&'a str>,
}

impl Event {
    /// The canonical envelope as a JSON value (`{Uuid, Date, Topic, Payload}`, and the
    /// `SourceId` of a source's event).
    pub fn envelope_value(&self) -> Value {
        let mut envelope =
            serde_json::json!({ "Uuid": self.uuid, "Date": self.date, "Topic": self.topic, "Payload": self.payload });
        if let (Some(id), Value::Object(fields)) = (&self.source_id, &mut envelope) {
            fields.insert(SOURCE_ID.into(), Value::String(id.clone()));
        }
        envelope
    }

    /// The canonical envelope as JSON text, as the store keeps it (for replay).
    pub fn envelope_json(&self) -> String {
        let envelope = EnvelopeRef {
            uuid: &self.uuid,
            date: &self.date,
            topic: &self.topic,
            payload: &self.payload,
            source_id: self.source_id.as_deref(),
        };
        // Strings and a JSON map always serialize.
        serde_json::to_string(&envelope).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invalid_field(body: &str) -> String {
        match parse(body.as_bytes()) {
            Err(EventError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid event, got {other:?}"),
        }
    }

    #[test]
    fn accepts_the_canonical_event_and_normalises_the_uuid() {
        let e = parse(
            br#"{"Uuid":"F47AC10B-58CC-4372-A567-0E02B2C3D479","Date":"2025-04-15T14:30:00.123Z",
            "Topic":"Communication_EarnPurchasePoints","Payload":{"Points":120}}"#,
        )
        .unwrap();
        assert_eq!(e.uuid, "f47ac10b-58cc-4372-a567-0e02b2c3d479");
        assert_eq!(e.topic, "Communication_EarnPurchasePoints");
        assert_eq!(e.payload["Points"], json!(120));
        assert_eq!(e.date, "2025-04-15T14:30:00.123Z");
    }

    #[test]
    fn the_stored_envelope_is_the_envelope() {
        let body = r#"{"Topic":"t","Payload":{"b":1,"a":"/é"},"Uuid":"f47ac10b-58cc-4372-a567-0e02b2c3d479","Date":"2025-04-15T14:30:00Z"}"#;
        let e = parse(body.as_bytes()).unwrap();
        assert_eq!(
            e.envelope_json(),
            r#"{"Uuid":"f47ac10b-58cc-4372-a567-0e02b2c3d479","Date":"2025-04-15T14:30:00Z","Topic":"t","Payload":{"b":1,"a":"/é"}}"#
        );
    }

    #[test]
    fn lowercase_aliases_and_defaults() {
        let e = parse(br#"{"topic":"t","payload":{}}"#).unwrap();
        assert_eq!(uuid::Uuid::parse_str(&e.uuid).map(|u| u.get_version_num()), Ok(7), "{}", e.uuid);
        assert!(chrono::DateTime::parse_from_rfc3339(&e.date).is_ok());
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (r#"{"Payload":{}}"#, "Topic"),
            (r#"{"Topic":"","Payload":{}}"#, "Topic"),
            (r#"{"Topic":5,"Payload":{}}"#, "Topic"),
            (r#"{"Topic":"t"}"#, "Payload"),
            (r#"{"Topic":"t","Payload":[1]}"#, "Payload"),
            (r#"{"Topic":"t","Payload":{},"Uuid":"nope"}"#, "Uuid"),
            (r#"{"Topic":"t","Payload":{},"Date":"yesterday"}"#, "Date"),
            (r#"{"Topic":"t","topic":"u","Payload":{}}"#, "Topic"),
            (r#"{"Topic":"t","Payload":{},"Extra":1}"#, "Extra"),
            (r#"[1]"#, "(event)"),
        ];
        for (body, field) in cases {
            assert_eq!(invalid_field(body), field, "{body}");
        }
        let exported = parse(br#"{"Topic":"t","Payload":{},"SourceId":"evt_1"}"#).unwrap_err().to_string();
        assert!(exported.starts_with("SourceId: only a source sets"), "an exported source event: {exported}");
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = parse(b"{\n  \"Topic\": \"t\",\n  oops\n}").unwrap_err();
        assert!(matches!(err, EventError::Syntax { line: 3, column: 3, .. }), "{err:?}");
    }

    #[test]
    fn batch_items_fail_alone_and_are_indexed() {
        let items = parse_batch(br#"[{"Topic":"a","Payload":{}},{"Topic":"b"}]"#, 10).unwrap();
        assert!(items[0].is_ok());
        assert_eq!(
            items[1].clone().unwrap_err(),
            EventError::Invalid { field: "[1].Payload".into(), message: "is required".into() }
        );
    }

    #[test]
    fn a_key_given_twice_refuses_its_item_only() {
        let body =
            br#"[{"Topic":"a","Payload":{"n":1.50}},{"Topic":"b","Payload":{"x":1,"x":2}},{"Topic":"c","Payload":{}}]"#;
        let items = parse_batch(body, 10).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap().payload["n"].to_string(), "1.50", "numbers keep their digits");
        assert_eq!(
            items[1].clone().unwrap_err(),
            EventError::Invalid {
                field: "[1].Payload.x".into(),
                message: "the key is given twice in one object".into()
            }
        );
        assert_eq!(items[2].as_ref().unwrap().topic, "c");
        // Not an array, or too many items: refused whole, as before.
        assert!(parse_batch(br#"{"a":1,"a":2}"#, 10).is_err());
        let many = br#"[{"Topic":"a","Payload":{"x":1,"x":2}},{},{}]"#;
        assert_eq!(parse_batch(many, 2).unwrap_err(), EventError::TooManyItems { limit: 2 });
    }
}
