//! The events the studio renders: one pasted, one from history by its uuid, the last N
//! that reached the subscription (read from the store; nothing is written), or an example
//! of the topic catalog.

use crate::catalog::examples;
use crate::event::Event;
use crate::store::{DeliveryQuery, Store};
use crate::subscription::SubscriptionSet;

/// The most recent events the studio renders at once.
pub const MAX_RECENT: usize = 20;

/// Which events to render, as the page's form says.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// Validate only.
    None,
    Pasted(String),
    Stored(String),
    Recent(usize),
    /// The catalog's example `TOPIC#n`.
    Example(String),
}

impl Choice {
    /// From the form's `events` (`none`, `pasted`, `stored`, `recent`, `example`) and its fields.
    pub fn from_form(form: &[(String, String)]) -> Result<Self, String> {
        let get = |k: &str| super::super::field(form, k).map(|v| v.trim().to_string()).unwrap_or_default();
        match get("events").as_str() {
            "" | "none" => Ok(Choice::None),
            "pasted" => Ok(Choice::Pasted(super::super::field(form, "event").cloned().unwrap_or_default())),
            "stored" if get("uuid").is_empty() => Err("uuid: give the uuid of an event in history".into()),
            "stored" => Ok(Choice::Stored(get("uuid").to_ascii_lowercase())),
            "recent" => match get("last").parse::<usize>() {
                Ok(n) if (1..=MAX_RECENT).contains(&n) => Ok(Choice::Recent(n)),
                _ => Err(format!("last: a number of events from 1 to {MAX_RECENT}")),
            },
            "example" if get("example").is_empty() => Err("example: choose an example of the catalog".into()),
            "example" => Ok(Choice::Example(get("example"))),
            other => Err(format!("events: {other:?} is not none, pasted, stored, recent or example")),
        }
    }
}

/// An event to render, and what the page calls it.
#[derive(Debug)]
pub struct Sample {
    /// Its uuid (the pasted event's own, or the one filled in for it).
    pub uuid: String,
    /// Whether it came from history (the page links it).
    pub stored: bool,
    /// What the page calls an example of the catalog (`example: TOPIC #n`).
    pub label: Option<String>,
    pub event: Event,
}

/// The events `choice` names; an error says which field is wrong or why none was found.
/// An example is looked up in `set`'s catalog.
pub async fn gather(
    store: &dyn Store,
    set: &SubscriptionSet,
    subscription: &str,
    choice: &Choice,
) -> Result<Vec<Sample>, String> {
    match choice {
        Choice::Example(key) => example(set, subscription, key).map(|e| vec![e]),
        Choice::None => Ok(Vec::new()),
        Choice::Pasted(text) => pasted(text).map(|e| vec![e]),
        Choice::Stored(uuid) => match stored(store, uuid).await? {
            Some(sample) => Ok(vec![sample]),
            None => Err(format!("uuid: there is no event {uuid} in history")),
        },
        Choice::Recent(n) => recent(store, subscription, *n).await,
    }
}

fn pasted(text: &str) -> Result<Sample, String> {
    let value = crate::json::parse(text.as_bytes()).map_err(|e| format!("event: not JSON: {e}"))?;
    let event = crate::event::from_value(value).map_err(|e| format!("event: {e}"))?;
    Ok(Sample { uuid: event.uuid.clone(), stored: false, label: None, event })
}

/// The catalog's example `key` as an event, sent as a topic the subscription takes (see
/// `examples::event_topic`).
fn example(set: &SubscriptionSet, subscription: &str, key: &str) -> Result<Sample, String> {
    let example =
        examples::find(&set.catalog, key).ok_or_else(|| format!("example: the catalog has no example {key:?}"))?;
    let patterns = set.get(subscription).map(|s| s.topics.as_slice()).unwrap_or_default();
    let topic = examples::event_topic(&set.catalog, &example, patterns)
        .map_err(|why| format!("example: {} does not reach {subscription}: {why}", example.label()))?;
    let event = example.event(&topic)?;
    Ok(Sample { uuid: event.uuid.clone(), stored: false, label: Some(example.label()), event })
}

async fn stored(store: &dyn Store, uuid: &str) -> Result<Option<Sample>, String> {
    let Some(found) = store.get_event(uuid).await.map_err(|e| format!("history cannot be read now: {e}"))? else {
        return Ok(None);
    };
    // Parsed as replay parses it, so numbers render as they were stored.
    let value = crate::json::parse(found.body.as_bytes()).map_err(|e| format!("stored event {uuid}: {e}"))?;
    let event = crate::event::from_stored(value).map_err(|e| format!("stored event {uuid}: {e}"))?;
    Ok(Some(Sample { uuid: found.uuid, stored: true, label: None, event }))
}

/// The newest `n` events delivered to `subscription` (by its newest deliveries: an event
/// its filter left out has none, and an event replayed counts once).
async fn recent(store: &dyn Store, subscription: &str, n: usize) -> Result<Vec<Sample>, String> {
    let query = DeliveryQuery { subscription: vec![subscription.to_string()], limit: n * 4, ..Default::default() };
    let page = store.list_deliveries(query).await.map_err(|e| format!("history cannot be read now: {e}"))?;
    let mut uuids: Vec<String> = Vec::new();
    for d in page.deliveries {
        if uuids.len() < n && !uuids.contains(&d.event) {
            uuids.push(d.event);
        }
    }
    let mut samples = Vec::with_capacity(uuids.len());
    for uuid in uuids {
        // Pruned meanwhile: skipped.
        samples.extend(stored(store, &uuid).await?);
    }
    if samples.is_empty() {
        return Err(format!("history holds no event delivered to {subscription} yet"));
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_form_names_the_events_or_says_what_is_wrong() {
        assert_eq!(Choice::from_form(&form(&[])), Ok(Choice::None));
        assert_eq!(Choice::from_form(&form(&[("events", "recent"), ("last", "5")])), Ok(Choice::Recent(5)));
        assert!(Choice::from_form(&form(&[("events", "recent"), ("last", "500")])).unwrap_err().starts_with("last:"));
        assert_eq!(
            Choice::from_form(&form(&[("events", "stored"), ("uuid", " ABC ")])),
            Ok(Choice::Stored("abc".into()))
        );
        assert!(Choice::from_form(&form(&[("events", "stored")])).unwrap_err().starts_with("uuid:"));
        assert!(Choice::from_form(&form(&[("events", "x")])).is_err());
        assert_eq!(
            Choice::from_form(&form(&[("events", "example"), ("example", "order.paid#2")])),
            Ok(Choice::Example("order.paid#2".into()))
        );
        assert!(Choice::from_form(&form(&[("events", "example")])).unwrap_err().starts_with("example:"));
    }

    #[test]
    fn a_pasted_event_that_is_not_one_says_why() {
        assert!(pasted("{").unwrap_err().starts_with("event: not JSON"));
        assert!(pasted(r#"{"Payload": {}}"#).unwrap_err().contains("Topic"));
        assert_eq!(pasted(r#"{"Topic": "T", "Payload": {}}"#).unwrap().event.topic, "T");
    }
}
