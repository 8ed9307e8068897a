//! A catalog topic's examples as events, for the console's playground and studio and for
//! `hookshape test --examples`: how an example is named (`TOPIC #n`), which topic its event
//! carries when the catalog names a glob, and the line of the file it is written on.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{Catalog, Topic};
use crate::event::Event;
use crate::subscription::topics::glob_match;

/// One example of a catalog topic.
#[derive(Debug, Clone)]
pub struct Example<'a> {
    pub topic: &'a Arc<Topic>,
    /// Counted from 1, as people count them (`TOPIC #1`).
    pub number: usize,
    pub payload: &'a Value,
}

impl Example<'_> {
    /// What a form sends to name it: `TOPIC#n`.
    pub fn key(&self) -> String {
        format!("{}#{}", self.topic.name, self.number)
    }

    /// What a person reads: `example: TOPIC #n`.
    pub fn label(&self) -> String {
        format!("example: {} #{}", self.topic.name, self.number)
    }

    /// The canonical event it stands for, sent as `topic` (see [`event_topic`]). An example
    /// that is not a JSON object says so, naming the field, as intake would.
    pub fn event(&self, topic: &str) -> Result<Event, String> {
        let envelope = json!({ "Topic": topic, "Payload": self.payload });
        crate::event::from_value(envelope).map_err(|e| format!("{}: {e}", self.label()))
    }
}

/// Every example of every topic, in the catalog's order.
pub fn all(catalog: &Catalog) -> Vec<Example<'_>> {
    catalog.topics.iter().flat_map(of_topic).collect()
}

/// The examples of one topic.
pub fn of_topic(topic: &Arc<Topic>) -> impl Iterator<Item = Example<'_>> {
    topic.examples.iter().enumerate().map(move |(i, payload)| Example { topic, number: i + 1, payload })
}

/// The examples of the topics a subscription's `topics:` patterns reach.
pub fn for_patterns<'a>(catalog: &'a Catalog, patterns: &[String]) -> Vec<Example<'a>> {
    catalog.for_patterns(patterns).into_iter().flat_map(of_topic).collect()
}

/// The example a form named with [`Example::key`]; None when the catalog has no such one
/// (reloaded meanwhile, or a crafted form).
pub fn find<'a>(catalog: &'a Catalog, key: &str) -> Option<Example<'a>> {
    let (name, number) = key.rsplit_once('#')?;
    let number: usize = number.trim().parse().ok()?;
    let topic = catalog.topics.iter().find(|t| t.name == name)?;
    let payload = topic.examples.get(number.checked_sub(1)?)?;
    Some(Example { topic, number, payload })
}

/// The topic an example's event carries: the catalog topic's name when it is a concrete
/// name; for a glob (`Communication_*`), the first of `patterns` (a subscription's) that
/// is a concrete topic the glob matches, so the subscription takes the event; else the
/// glob itself, written as it is.
pub fn event_topic(topic_name: &str, patterns: &[String]) -> String {
    if !topic_name.contains('*') {
        return topic_name.to_string();
    }
    let concrete = patterns.iter().find(|p| !p.contains('*') && glob_match(topic_name, p));
    concrete.map_or_else(|| topic_name.to_string(), Clone::clone)
}

/// The line of example `number` (from 1) in its topic file, read from the file as it is
/// now: that item's line (the `examples:` line for a flow list), or the topic's own line
/// when the file cannot be read.
pub fn line_of(topic: &Topic, number: usize) -> usize {
    let Ok(text) = crate::yaml_bounds::read(&topic.file) else { return topic.line };
    line_in(&text, number).unwrap_or(topic.line)
}

fn line_in(text: &str, number: usize) -> Option<usize> {
    super::locate::line_of_path(text, "examples", &[number.checked_sub(1)?.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_example_is_found_on_its_own_line_or_its_lists() {
        let text =
            "name: T\nexamples:\n  - Customer:\n      Id: C-1\n  # a comment\n  - {Points: 1}\nsearch_keys: [A]\n";
        assert_eq!((line_in(text, 1), line_in(text, 2)), (Some(3), Some(6)));
        let flow = "name: T\nexamples: [{A: 1}, {A: 2}]\n";
        assert_eq!(line_in(flow, 2), Some(2));
        assert_eq!(line_in("name: T\n", 1), None);
    }

    #[test]
    fn a_glob_topic_is_sent_as_the_concrete_topic_a_subscription_names() {
        let patterns = vec!["Other".to_string(), "Communication_*".to_string(), "Communication_Earn".to_string()];
        assert_eq!(event_topic("Communication_*", &patterns), "Communication_Earn");
        assert_eq!(event_topic("Communication_*", &[]), "Communication_*");
        assert_eq!(event_topic("order.paid", &patterns), "order.paid");
    }
}
