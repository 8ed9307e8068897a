//! The template context of an event: the Payload's top-level keys, then `Uuid`, `Date`,
//! `Topic`, `Payload` and `event`, which win on a clash.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object};
use minijinja::Value;

use super::values::{self, map_from_json, ExactNumbers, EXACT_KEY};
use crate::event::Event;

/// Built once per event and shared by every subscription it is routed to.
pub fn context(event: &Event) -> Value {
    let mut exact = ExactNumbers::default();
    let payload = map_from_json(event.payload.iter().map(|(k, v)| (k.as_str(), v)), &mut exact);
    exact.settle(event.payload.values());
    exact.set_top(&payload);
    Value::from_object(EventContext {
        payload,
        uuid: Value::from(event.uuid.as_str()),
        date: Value::from(event.date.as_str()),
        topic: Value::from(event.topic.as_str()),
        source_id: event.source_id.as_deref().map(Value::from),
        exact: (!exact.is_empty()).then(|| Value::from_object(exact)),
    })
}

/// The names the context itself defines; a Payload key of the same name is reached only
/// through `Payload`.
const OWN: [&str; 5] = ["Uuid", "Date", "Topic", "Payload", "event"];

/// Defined, and winning over a Payload key of the same name, only for a source's event, so
/// intake events' Payloads keep the name.
const SOURCE_ID: &str = "SourceId";

/// An event's context: the Payload's top-level keys, then `Uuid`, `Date`, `Topic`,
/// `Payload` and `event`, and `SourceId` when a source made the event. Names are looked up in the one Payload map, which is built
/// once, rather than copied into a second map (that copy was a third of the context's
/// cost).
#[derive(Debug)]
struct EventContext {
    payload: Value,
    uuid: Value,
    date: Value,
    topic: Value,
    /// The platform's id, for a source's event: `{{ SourceId }}`.
    source_id: Option<Value>,
    /// Present only when a number needs its original digits.
    exact: Option<Value>,
}

impl Object for EventContext {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        match key {
            "Uuid" => Some(self.uuid.clone()),
            "Date" => Some(self.date.clone()),
            "Topic" => Some(self.topic.clone()),
            "Payload" => Some(self.payload.clone()),
            "event" => Some(Value::from_object(Envelope(Arc::clone(self)))),
            SOURCE_ID if self.source_id.is_some() => self.source_id.clone(),
            EXACT_KEY => self.exact.clone(),
            field => self.payload.get_attr(field).ok().filter(|v| !v.is_undefined()),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let fields = self.payload.try_iter().into_iter().flatten();
        let fields = fields.filter(|k| k.as_str().is_none_or(|k| !OWN.contains(&k) && k != EXACT_KEY));
        let own = OWN.iter().map(|&k| Value::from(k));
        let fields = fields.filter(|k| self.source_id.is_none() || k.as_str() != Some(SOURCE_ID));
        let source_id = self.source_id.as_ref().map(|_| Value::from(SOURCE_ID));
        let exact = self.exact.as_ref().map(|_| Value::from(EXACT_KEY));
        Enumerator::Values(fields.chain(own).chain(source_id).chain(exact).collect())
    }
}

/// `event`: the envelope's four fields, read from the context, and a source's `SourceId`.
/// Unlike the bare name, `event.SourceId` is never a Payload key: an intake event whose
/// Payload has a `SourceId` leaves it undefined, so `event.SourceId | default(Uuid)` is
/// the platform's id or the event's own, never a value the payload chose.
#[derive(Debug)]
struct Envelope(Arc<EventContext>);

const ENVELOPE: [&str; 4] = ["Uuid", "Date", "Topic", "Payload"];
const WITH_SOURCE_ID: [&str; 5] = ["Uuid", "Date", "Topic", "Payload", SOURCE_ID];

impl Object for Envelope {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            SOURCE_ID => self.0.source_id.clone(),
            k if ENVELOPE.contains(&k) => self.0.get_value_by_str(k),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.0.source_id {
            Some(_) => Enumerator::Str(&WITH_SOURCE_ID),
            None => Enumerator::Str(&ENVELOPE),
        }
    }
}

/// The context of any JSON object (an inbound source's body): its keys, numbers keeping
/// their digits.
pub fn context_of(fields: &serde_json::Map<String, serde_json::Value>) -> Value {
    let mut exact = ExactNumbers::default();
    let mut texts = Vec::new();
    let mut pairs: Vec<(Value, Value)> = fields
        .iter()
        .map(|(k, v)| (Value::from(k.as_str()), values::item(v, || Value::from(k.as_str()), &mut exact, &mut texts)))
        .collect();
    exact.settle(fields.values());
    if !exact.is_empty() {
        exact.set_top_texts(&texts);
        pairs.push((Value::from(EXACT_KEY), Value::from_object(exact)));
    }
    values::spelled(Value::from_pairs(pairs), texts)
}

/// The own text of the number that `parent.key` names (`parent` a context or a list or
/// map in it), when it has one.
pub fn spelling_at<'a>(parent: &'a Value, key: &Value) -> Option<&'a str> {
    match parent.downcast_object_ref::<EventContext>() {
        Some(ctx) if key.as_str().is_some_and(|k| !OWN.contains(&k) && k != EXACT_KEY) => {
            values::spelling_at(&ctx.payload, key)
        }
        Some(_) => None,
        None => values::spelling_at(parent, key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        let payload = r#"{"A": 1, "Topic": "payload's", "event": "x", "B": {"C": [1, 2]}, "D": null, "E": 1.50}"#;
        Event {
            uuid: "u-1".into(),
            date: "2026-01-01T00:00:00.000Z".into(),
            topic: "T".into(),
            payload: serde_json::from_str(payload).unwrap(),
            source_id: None,
        }
    }

    fn render(source: &str) -> String {
        minijinja::Environment::new().render_str(source, context(&event())).unwrap()
    }

    #[test]
    fn the_envelope_wins_a_clash_and_the_payload_keeps_every_field() {
        assert_eq!(
            render("{{ A }} {{ Topic }} {{ Payload.Topic }} {{ event.Topic }} {{ event.Payload.event }} {{ B.C[1] }}"),
            "1 T payload's T x 2"
        );
        assert_eq!(render("{{ D is none }} {{ Z is undefined }} {{ event.A is undefined }}"), "True True True");
        assert_eq!(
            render("{% for k in event %}{{ k }},{% endfor %} {{ event | length }} {{ event.Uuid }}"),
            "Uuid,Date,Topic,Payload, 4 u-1"
        );
    }

    #[test]
    fn a_sources_event_has_its_source_id_and_an_intake_event_leaves_the_name_to_the_payload() {
        let mut e = event();
        e.payload.insert("SourceId".into(), serde_json::json!("from the payload"));
        let env = minijinja::Environment::new();
        let source = "{{ SourceId }}|{{ Payload.SourceId }}|{{ event.SourceId | default(Uuid) }}|{{ event | length }}";
        let render = |e: &Event| env.render_str(source, context(e)).unwrap();
        // `event.SourceId` is never the payload's: a template's id for the receiver cannot be
        // chosen by whoever posts the event.
        assert_eq!(render(&e), "from the payload|from the payload|u-1|4");
        e.source_id = Some("evt_123".into());
        assert_eq!(render(&e), "evt_123|from the payload|evt_123|5");
    }

    #[test]
    fn the_context_lists_the_payload_fields_then_its_own_names() {
        let names: Vec<String> = context(&event()).try_iter().unwrap().map(|k| k.to_string()).collect();
        assert_eq!(names, ["A", "B", "D", "E", "Uuid", "Date", "Topic", "Payload", "event", EXACT_KEY]);
        let plain = Event { payload: serde_json::from_str(r#"{"A": 1.5}"#).unwrap(), ..event() };
        let names: Vec<String> = context(&plain).try_iter().unwrap().map(|k| k.to_string()).collect();
        assert_eq!(names, ["A", "Uuid", "Date", "Topic", "Payload", "event"]);
    }
}
