//! A catalog topic's examples as events, for the console's playground and studio and for
//! `hookshape test --examples`: how an example is named (`TOPIC #n`), which topic its event
//! carries when the catalog names a glob, and the line of the file it is written on.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{Catalog, Topic};
use crate::event::Event;
use crate::topic_pattern::glob_match;

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

/// The topic an example's event is sent as, through a subscription whose `topics:` are
/// `patterns`. A concrete topic's example is sent as that topic. A glob's (`Communication_*`)
/// is sent as the first of the subscription's concrete topics the glob matches, or as the
/// glob itself when a pattern of the subscription takes the whole family; and only as a
/// topic whose catalog topics all accept the example (a family's example may lack a field
/// that one topic of the family requires: that topic never carries such an event). Err
/// says why no topic fits.
pub fn event_topic(catalog: &Catalog, example: &Example<'_>, patterns: &[String]) -> Result<String, String> {
    let name = &example.topic.name;
    if !name.contains('*') {
        return Ok(name.clone());
    }
    let concrete = patterns.iter().filter(|p| !p.contains('*') && glob_match(name, p)).cloned();
    let family = patterns.iter().any(|p| glob_match(p, name)).then(|| name.clone());
    let mut misfits = Vec::new();
    for candidate in concrete.chain(family) {
        match misfit(catalog, example.payload, &candidate) {
            None => return Ok(candidate),
            Some(problem) => misfits.push(format!("as {candidate}, {problem}")),
        }
    }
    if misfits.is_empty() {
        let taken = patterns.join(", ");
        return Err(format!("it takes only some topics of {name} ({taken}) and names none of them"));
    }
    Err(format!("the example fits no topic it takes: {}", misfits.join("; ")))
}

/// The first thing a catalog topic describing `topic` finds wrong with `payload`.
fn misfit(catalog: &Catalog, payload: &Value, topic: &str) -> Option<String> {
    catalog.for_event_topic(topic).find_map(|t| t.problems(payload).into_iter().next())
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
    use sha2::{Digest, Sha256};

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

    fn catalog(files: &[(&str, &str)]) -> Catalog {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let (catalog, errors) = super::super::load_dir(dir.path(), &mut Sha256::new());
        assert!(errors.is_empty(), "{errors:?}");
        catalog
    }

    #[test]
    fn a_glob_topic_is_sent_as_a_topic_the_subscription_takes_that_its_example_fits() {
        let family = "name: \"Communication_*\"\nexamples: [{Customer: {Id: C-1}}]\n";
        let earn = "name: Communication_Earn\nschema: {type: object, required: [Points]}\nexamples: [{Points: 1}]\n";
        let catalog = catalog(&[("family.yaml", family), ("earn.yaml", earn), ("paid.yaml", "name: order.paid\n")]);
        let family = find(&catalog, "Communication_*#1").unwrap();
        let topic = |patterns: &[&str]| {
            let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
            event_topic(&catalog, &family, &patterns)
        };
        assert_eq!(topic(&["Other", "Communication_Coupon"]), Ok("Communication_Coupon".to_string()));
        assert_eq!(topic(&["Communication_*"]), Ok("Communication_*".to_string()));
        assert_eq!(topic(&["*"]), Ok("Communication_*".to_string()));
        // The one topic it names requires Points, which the family's example lacks.
        let misfit = topic(&["Communication_Earn"]).unwrap_err();
        assert!(misfit.starts_with("the example fits no topic it takes: as Communication_Earn, Payload"), "{misfit}");
        assert!(topic(&["Communication_Ea*"]).unwrap_err().contains("names none of them"));
        let earn = find(&catalog, "Communication_Earn#1").unwrap();
        assert_eq!(event_topic(&catalog, &earn, &[]), Ok("Communication_Earn".to_string()));
        assert!(find(&catalog, "Communication_Earn#2").is_none() && find(&catalog, "order.paid#1").is_none());
    }
}
