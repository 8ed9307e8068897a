//! `validate`'s check of templates against the catalog: every Payload path a
//! subscription's templates read (`crate::render::variables`) must be one the schemas of
//! the topics it takes allow (`crate::catalog::paths`). It lives here, above the catalog, because it
//! reads subscriptions, which already know the catalog.
//!
//! The unit is an event topic the subscription takes: each named catalog topic its
//! `topics:` reach, described by the schemas of every catalog topic matching it (a glob
//! such as `Communication_*` describes what a family has in common, the named topic adds
//! its own fields), so a path is allowed for it when any of those schemas allows it; a topic
//! the subscription names counts whether the catalog names it or only a glob describes it.
//! A glob is a unit of its own only when the subscription's glob reaches no named topic. A template
//! renders for every event of every unit, so a plain read must be allowed in each; a read
//! that expects absence (`| default`, `is defined`, inside an `if` that tested it) only in
//! one, since a name no topic has is a typo whatever guards it. Topics without a schema are
//! not checked, nor a subscription that reaches no topic with one.
//!
//! Not run by `serve`: a topic file that tightens a schema must not stop subscriptions from
//! reloading; this is a review-time check.

use std::path::Path;

use serde_json::Value;

use super::Subscription;
use crate::catalog::paths::{self, Miss};
use crate::catalog::Catalog;
use crate::config_file::{line_of_key, LoadError};
use crate::render::variables::{path_text, Read, Segment};

/// How many of a schema's names a message lists when none is near the one written.
const LISTED_NAMES: usize = 8;

/// An event topic a subscription takes, and the schemas that describe its events.
struct Unit<'a> {
    name: &'a str,
    schemas: Vec<&'a Value>,
}

/// One `file:line: message` per path the schemas of the topics `sub` takes do not allow.
pub fn problems(catalog: &Catalog, sub: &Subscription, templates_dir: &Path) -> Vec<LoadError> {
    let units = units(catalog, sub);
    if units.is_empty() {
        return Vec::new();
    }
    let text = std::fs::read_to_string(&sub.file).unwrap_or_default();
    let mut seen: Vec<(Option<String>, usize, Vec<Segment>)> = Vec::new();
    let mut out = Vec::new();
    for read in sub.template.reads() {
        let misses: Vec<(&str, Miss)> =
            units.iter().filter_map(|u| unit_miss(u, &read.path).map(|m| (u.name, m))).collect();
        let wrong = if read.guarded { misses.len() == units.len() } else { !misses.is_empty() };
        let Some(at) = misses.iter().map(|(_, m)| m.at).max().filter(|_| wrong) else { continue };
        // `Customer.Id` and the `Customer` it also reads fail at the same name: said once.
        let key = (read.file.clone(), read.line, read.path[..=at].to_vec());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let message = sub.secrets.mask(&message(&read, &misses, &units));
        out.push(place(sub, &text, templates_dir, &read, message));
    }
    out
}

/// The units `sub` renders for (see the module's comment), one per event topic: each topic
/// its `topics:` name itself, and each named catalog topic a glob of it reaches; a glob of
/// it that reaches no named topic, the catalog's globs it reaches.
fn units<'a>(catalog: &'a Catalog, sub: &'a Subscription) -> Vec<Unit<'a>> {
    let described = |name: &'a str| Unit {
        name,
        schemas: catalog.for_event_topic(name).filter_map(|m| m.schema.as_ref()).collect(),
    };
    let mut units: Vec<Unit<'a>> = Vec::new();
    for pattern in &sub.topics {
        let found: Vec<Unit<'a>> = if !pattern.contains('*') {
            vec![described(pattern)]
        } else {
            let reached = catalog.for_patterns(std::slice::from_ref(pattern));
            let named: Vec<&'a str> = reached.iter().map(|t| t.name.as_str()).filter(|n| !n.contains('*')).collect();
            match named.is_empty() {
                true => reached.iter().map(|t| Unit { name: &t.name, schemas: t.schema.iter().collect() }).collect(),
                false => named.into_iter().map(described).collect(),
            }
        };
        for unit in found {
            if !units.iter().any(|u| u.name == unit.name) {
                units.push(unit);
            }
        }
    }
    units.into_iter().filter(|u| !u.schemas.is_empty()).collect()
}

/// None when one of the unit's schemas allows `path`; else what they have there, the
/// names of all of them together.
fn unit_miss(unit: &Unit<'_>, path: &[Segment]) -> Option<Miss> {
    let mut misses = Vec::new();
    for schema in &unit.schemas {
        misses.push(paths::check(schema, path).err()?);
    }
    // The schema that followed the path furthest says the most.
    let at = misses.iter().map(|m| m.at).max()?;
    Some(merged(misses.iter().filter(|m| m.at == at), path))
}

/// Misses at the same segment as one: every name they have there, the nearest of them.
fn merged<'a>(misses: impl Iterator<Item = &'a Miss>, path: &[Segment]) -> Miss {
    let mut out = Miss { at: 0, names: Vec::new(), suggestion: None, not_object: None };
    for miss in misses {
        out.at = miss.at;
        out.not_object = out.not_object.or(miss.not_object.clone());
        for name in &miss.names {
            if !out.names.contains(name) {
                out.names.push(name.clone());
            }
        }
    }
    if let Some(Segment::Key(key)) = path.get(out.at) {
        out.suggestion = paths::nearest(key, &out.names);
    }
    if !out.names.is_empty() {
        out.not_object = None;
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

/// `Payload.Custmer.Id: topic T has no field `Custmer` in Payload (did you mean
/// `Customer`?)`, naming every unit that lacks it and, for a plain read, those that have it.
fn message(read: &Read, misses: &[(&str, Miss)], units: &[Unit<'_>]) -> String {
    let full = path_text(&read.path);
    let shown = if read.written == full || format!("Payload.{}", read.written) == full {
        full.clone()
    } else {
        format!("{} ({full})", read.written)
    };
    // The topic whose schema followed the path furthest says the most about it.
    let Some(at) = misses.iter().map(|(_, m)| m.at).max() else { return shown };
    let furthest: Vec<&str> = misses.iter().filter(|(_, m)| m.at == at).map(|(t, _)| *t).collect();
    let miss = merged(misses.iter().map(|(_, m)| m).filter(|m| m.at == at), &read.path);
    let whose = match furthest.as_slice() {
        [one] => format!("topic {one} has"),
        many => format!("topics {} have", many.join(", ")),
    };
    let mut text = format!("{shown}: {whose} {}", what_is_missing(&read.path, &miss));
    let sooner: Vec<&str> = misses.iter().filter(|(_, m)| m.at < at).map(|(t, _)| *t).collect();
    if !sooner.is_empty() {
        let verb = if sooner.len() == 1 { "has" } else { "have" };
        text.push_str(&format!(" ({} {verb} no {} at all)", sooner.join(", "), path_text(&read.path[..at])));
    }
    let lacking: Vec<&str> = misses.iter().map(|(t, _)| *t).collect();
    let having: Vec<&str> = units.iter().map(|u| u.name).filter(|n| !lacking.contains(n)).collect();
    if !having.is_empty() {
        text.push_str(&format!(
            "; {} {} it, but the template renders for every topic the subscription takes \
             (guard it with `| default(…)` or `is defined` if it is optional)",
            having.join(", "),
            if having.len() == 1 { "has" } else { "have" },
        ));
    }
    text
}

/// What the schema says at the segment it does not allow.
fn what_is_missing(path: &[Segment], miss: &Miss) -> String {
    let parent = path_text(&path[..miss.at]);
    let Some(segment) = path.get(miss.at) else { return "no such path".into() };
    if let Some(kind) = &miss.not_object {
        return match segment {
            Segment::Key(key) => format!("{parent} as {}, which has no field `{key}`", article(kind)),
            Segment::Item => format!("{parent} as {}, not a list", article(kind)),
        };
    }
    let Segment::Key(key) = segment else { return format!("no items in {parent}") };
    let mut text = format!("no field `{key}` in {parent}");
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
