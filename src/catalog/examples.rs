//! A catalog topic's examples as events, for the console's playground and studio and for
//! `hookshape test --examples`: how an example is named (`TOPIC #n`), which topic its event
//! carries when the catalog names a glob, and the line of the file it is written on.

use std::path::Path;
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
    catalog.topics.iter().flat_map(|t| of_topic(t)).collect()
}

/// The examples of one topic.
pub fn of_topic(topic: &Arc<Topic>) -> impl Iterator<Item = Example<'_>> {
    topic.examples.iter().enumerate().map(move |(i, payload)| Example { topic, number: i + 1, payload })
}

/// The examples of the topics a subscription's `topics:` patterns reach.
pub fn for_patterns<'a>(catalog: &'a Catalog, patterns: &[String]) -> Vec<Example<'a>> {
    catalog.for_patterns(patterns).into_iter().flat_map(|t| of_topic(t)).collect()
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

/// The line each example of the topic file `text` starts on (1-based), in order: the items
/// of its top-level `examples:` list, one line each in block style (`- {...}`), or the
/// `examples:` line for every one of a flow list (`examples: [{...}, {...}]`). Empty when
/// the file has no such key. Read from the text because the YAML parser keeps no positions
/// for values.
pub fn lines(text: &str) -> Vec<usize> {
    let all: Vec<&str> = text.lines().collect();
    let Some(at) = all.iter().position(|l| l.starts_with("examples:")) else { return Vec::new() };
    let rest = all[at].trim_start_matches("examples:").trim();
    if !rest.is_empty() && !rest.starts_with('#') {
        return vec![at + 1; flow_items(rest)];
    }
    let mut found = Vec::new();
    let mut item_indent = None;
    for (i, line) in all.iter().enumerate().skip(at + 1) {
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        let is_item = body == "-" || body.starts_with("- ");
        match item_indent {
            None if is_item => item_indent = Some(indent),
            None => break,
            Some(want) if indent < want || (indent == want && !is_item) => break,
            Some(_) => {}
        }
        if is_item && Some(indent) == item_indent {
            found.push(i + 1);
        }
    }
    found
}

/// How many items a one-line flow list holds (commas at its top level, plus one).
fn flow_items(text: &str) -> usize {
    let (mut depth, mut items, mut quote) = (0i32, 0usize, None::<char>);
    let mut any = false;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth == 1 => items += 1,
            (None, c) if depth >= 1 && !c.is_whitespace() => any = true,
            _ => {}
        }
    }
    if any {
        items + 1
    } else {
        0
    }
}

/// The line of example `number` (from 1) of `topic`, read from its file: that item's
/// line, or the topic's own line when the file cannot be read or the item not found.
pub fn line_of(topic: &Topic, number: usize) -> usize {
    read_lines(&topic.file).get(number.wrapping_sub(1)).copied().unwrap_or(topic.line)
}

fn read_lines(file: &Path) -> Vec<usize> {
    crate::yaml_bounds::read(file).map(|text| lines(&text)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_examples_are_found_on_their_own_lines() {
        let text = "name: T\nexamples:\n  - Customer:\n      Id: C-1\n  # a comment\n  - {Points: 1}\n\n  -\n    A: 1\nsearch_keys: [A]\n";
        assert_eq!(lines(text), vec![3, 6, 8]);
        let unindented = "examples:\n- {A: 1}\n- {A: 2}\nvalidation: warn\n";
        assert_eq!(lines(unindented), vec![2, 3]);
    }

    #[test]
    fn flow_examples_share_the_line_of_their_key() {
        assert_eq!(lines("name: T\nexamples: [{A: 1, B: [1, 2]}, {A: \"x, y\"}]\n"), vec![2, 2]);
        assert_eq!(lines("examples: []\n"), Vec::<usize>::new());
        assert_eq!(lines("name: T\n"), Vec::<usize>::new());
    }

    #[test]
    fn a_glob_topic_is_sent_as_the_concrete_topic_a_subscription_names() {
        let patterns = vec!["Other".to_string(), "Communication_*".to_string(), "Communication_Earn".to_string()];
        assert_eq!(event_topic("Communication_*", &patterns), "Communication_Earn");
        assert_eq!(event_topic("Communication_*", &[]), "Communication_*");
        assert_eq!(event_topic("order.paid", &patterns), "order.paid");
    }
}
