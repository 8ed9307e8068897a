//! `validate`'s check of templates against the catalog: every Payload path a
//! subscription's templates read (`crate::render::variables`) must be one that the schema
//! of every catalog topic its `topics:` reach allows (`super::paths`), since the template
//! renders for every event of each of them. Topics without a schema are not checked, nor a
//! subscription that reaches no topic with one. Not run by `serve`: a topic file that
//! tightens a schema must not stop subscriptions from reloading; this is a review-time check.

use std::path::Path;
use std::sync::Arc;

use super::paths::{self, Miss};
use super::{Catalog, Topic};
use crate::config_file::{line_of_key, LoadError};
use crate::render::variables::{path_text, Read, Segment};
use crate::subscription::Subscription;

/// How many of a schema's names a message lists when none is near the one written.
const LISTED_NAMES: usize = 8;

/// One `file:line: message` per path a reached topic's schema does not allow.
pub fn problems(catalog: &Catalog, sub: &Subscription, templates_dir: &Path) -> Vec<LoadError> {
    let topics: Vec<&Arc<Topic>> =
        catalog.for_patterns(&sub.topics).into_iter().filter(|t| t.schema.is_some()).collect();
    if topics.is_empty() {
        return Vec::new();
    }
    let text = std::fs::read_to_string(&sub.file).unwrap_or_default();
    let mut seen: Vec<(Option<String>, usize, Vec<Segment>)> = Vec::new();
    let mut out = Vec::new();
    for read in sub.template.reads() {
        let misses: Vec<(&Arc<Topic>, Miss)> =
            topics.iter().filter_map(|t| paths::check(t.schema.as_ref()?, &read.path).err().map(|m| (*t, m))).collect();
        let Some((_, first)) = misses.first() else { continue };
        // `Customer.Id` and the `Customer` it also reads fail at the same name: said once.
        let key = (read.file.clone(), read.line, read.path[..=first.at].to_vec());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let message = sub.secrets.mask(&message(&read, &misses, &topics));
        out.push(place(sub, &text, templates_dir, &read, message));
    }
    out
}

/// Where `read` is: its file under the templates directory, or the line of the
/// subscription file that writes it (searched from the field's key down).
fn place(sub: &Subscription, text: &str, templates_dir: &Path, read: &Read, message: String) -> LoadError {
    match &read.file {
        Some(file) => LoadError {
            file: templates_dir.join(file),
            line: Some(read.line),
            message: format!("{message} (reached from {} {})", sub.file.display(), read.field),
        },
        None => {
            let key = line_of_key(text, &read.field);
            let from = key.unwrap_or(1).saturating_sub(1);
            let written = text.lines().enumerate().skip(from).find(|(_, l)| l.contains(&read.written));
            LoadError {
                file: sub.file.clone(),
                line: written.map(|(i, _)| i + 1).or(key),
                message: format!("{}: {message}", read.field),
            }
        }
    }
}

/// `Custmer.Id (Payload.Custmer.Id): topic T's schema has no field `Custmer` in Payload
/// (did you mean `Customer`?)`, naming every reached topic that lacks it and those that
/// have it.
fn message(read: &Read, misses: &[(&Arc<Topic>, Miss)], reached: &[&Arc<Topic>]) -> String {
    let full = path_text(&read.path);
    let shown = if read.written == full || format!("Payload.{}", read.written) == full {
        full.clone()
    } else {
        format!("{} ({full})", read.written)
    };
    let (_, miss) = &misses[0];
    let lacking: Vec<&str> = misses.iter().map(|(t, _)| t.name.as_str()).collect();
    let whose = match lacking.as_slice() {
        [one] => format!("topic {one}'s schema"),
        many => format!("the schemas of topics {}", many.join(", ")),
    };
    let mut text = format!("{shown}: {whose} {}", what_is_missing(&read.path, miss));
    let having: Vec<&str> = reached.iter().map(|t| t.name.as_str()).filter(|n| !lacking.contains(n)).collect();
    if !having.is_empty() {
        text.push_str(&format!(
            "; only {} has it, and the template renders for every event of each topic the subscription takes",
            having.join(", ")
        ));
    }
    text
}

/// What the schema says at the segment it does not allow.
fn what_is_missing(path: &[Segment], miss: &Miss) -> String {
    let parent = path_text(&path[..miss.at]);
    let Some(segment) = path.get(miss.at) else { return "does not allow it".into() };
    if let Some(kind) = &miss.not_object {
        return match segment {
            Segment::Key(key) => format!("says {parent} is {}, which has no field `{key}`", article(kind)),
            Segment::Item => format!("says {parent} is {}, not a list", article(kind)),
        };
    }
    let Segment::Key(key) = segment else { return format!("allows no items in {parent}") };
    let mut text = format!("has no field `{key}` in {parent}");
    match (&miss.suggestion, miss.names.len()) {
        (Some(near), _) => text.push_str(&format!(" (did you mean `{near}`?)")),
        (None, 1..=LISTED_NAMES) => text.push_str(&format!(" (it has: {})", miss.names.join(", "))),
        (None, _) => {}
    }
    text
}

fn article(kind: &str) -> String {
    let an = kind.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {kind}", if an { "an" } else { "a" })
}
