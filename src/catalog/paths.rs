//! Whether a topic's JSON Schema lets a template read a Payload path (`Customer.Id`,
//! `Items[].Sku`), and, when it does not, the names it does have there and the nearest one
//! to the name written. Used by `validate` (`crate::cli::validate`).
//!
//! The reading is the template writer's, not a validator's: a schema that lists an
//! object's `properties` describes that object, so a name outside them is a mistake unless
//! `additionalProperties` (or a matching `patternProperties`) lets it in; a schema that says
//! nothing about an object's fields (`{}`, `true`, `{type: object}`) allows anything below
//! it. `allOf`, `anyOf`, `oneOf`, `if`/`then`/`else` and local `$ref`s (`#/$defs/…`) are
//! followed, and a path is allowed when any branch allows it. Whatever cannot be followed
//! (a remote `$ref`, a regex the `regex` crate does not take) allows the path: a check
//! that cannot tell never reports.

use serde_json::Value;

use crate::render::variables::Segment;

/// Branches nest (and local `$ref`s may loop) at most this deep before the walk gives up
/// and allows the path.
const MAX_DEPTH: usize = 32;

/// Why a schema does not allow a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    /// The index of the first segment the schema does not allow.
    pub at: usize,
    /// The field names the schema has where that segment is, in the schema's order.
    pub names: Vec<String>,
    /// The one of `names` nearest to the segment written, when one is near.
    pub suggestion: Option<String>,
    /// The segment is a field of something the schema says is not an object (a string, a
    /// number), or an item of something that is not a list: that kind.
    pub not_object: Option<String>,
}

/// Ok when `schema` lets `path` be read below the Payload.
pub fn check(schema: &Value, path: &[Segment]) -> Result<(), Miss> {
    let mut current = vec![schema];
    for (at, segment) in path.iter().enumerate() {
        let mut next = Vec::new();
        let mut miss = Miss { at, names: Vec::new(), suggestion: None, not_object: None };
        for leaf in leaves(schema, &current) {
            let Leaf::Schema(leaf) = leaf else { return Ok(()) };
            match step(leaf, segment) {
                Step::Open => return Ok(()),
                Step::Into(children) => next.extend(children),
                Step::Closed(names) => {
                    for name in names {
                        if !miss.names.contains(&name) {
                            miss.names.push(name);
                        }
                    }
                }
                Step::NotObject(kind) => miss.not_object = miss.not_object.or(Some(kind)),
            }
        }
        if next.is_empty() {
            if let Segment::Key(key) = segment {
                miss.suggestion = nearest(key, &miss.names);
            }
            // A kind is only the reason when no branch is an object with other names.
            if !miss.names.is_empty() {
                miss.not_object = None;
            }
            return Err(miss);
        }
        current = next;
    }
    Ok(())
}

/// A schema to step through, or a place the walk cannot follow (which allows anything).
enum Leaf<'a> {
    Schema(&'a Value),
    Open,
}

/// The schemas that describe the value at `nodes`: each node's branches (`$ref`, `allOf`,
/// `anyOf`, `oneOf`, `then`, `else`) followed, and the node itself when it says something
/// of its own about fields or items (or has no branches).
fn leaves<'a>(root: &'a Value, nodes: &[&'a Value]) -> Vec<Leaf<'a>> {
    let mut out = Vec::new();
    for node in nodes {
        expand(root, node, 0, &mut out);
    }
    out
}

fn expand<'a>(root: &'a Value, node: &'a Value, depth: usize, out: &mut Vec<Leaf<'a>>) {
    if depth > MAX_DEPTH {
        out.push(Leaf::Open);
        return;
    }
    let Value::Object(map) = node else {
        out.push(Leaf::Schema(node));
        return;
    };
    let mut branches: Vec<&Value> = Vec::new();
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(items)) = map.get(key) {
            branches.extend(items);
        }
    }
    branches.extend(["then", "else"].iter().filter_map(|k| map.get(*k)));
    let reference = map.get("$ref").and_then(Value::as_str);
    const OWN: [&str; 5] = ["properties", "patternProperties", "additionalProperties", "items", "prefixItems"];
    if (branches.is_empty() && reference.is_none()) || OWN.iter().any(|k| map.contains_key(*k)) {
        out.push(Leaf::Schema(node));
    }
    if let Some(reference) = reference {
        match resolve(root, reference) {
            Some(target) => expand(root, target, depth + 1, out),
            None => out.push(Leaf::Open),
        }
    }
    for branch in branches {
        expand(root, branch, depth + 1, out);
    }
}

/// A `$ref` within the same schema (`#`, `#/$defs/Customer`); None for any other.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    pointer.starts_with('/').then(|| root.pointer(pointer)).flatten()
}

enum Step<'a> {
    /// Nothing constrains what is below: any path is allowed.
    Open,
    /// The schemas of what the segment reaches.
    Into(Vec<&'a Value>),
    /// Not there; the names that are.
    Closed(Vec<String>),
    /// Not an object (or list), but this kind.
    NotObject(String),
}

fn step<'a>(schema: &'a Value, segment: &Segment) -> Step<'a> {
    let map = match schema {
        Value::Bool(true) => return Step::Open,
        Value::Object(map) => map,
        _ => return Step::Closed(Vec::new()),
    };
    let types = types(schema);
    match segment {
        Segment::Key(key) => {
            if !types.is_empty() && !types.contains(&"object") {
                return Step::NotObject(types.join(" or "));
            }
            field(map, key)
        }
        Segment::Item => {
            if types.iter().any(|t| *t == "object" || *t == "string") {
                // A map's keys, a string's characters: nothing a schema says more about.
                return Step::Open;
            }
            if !types.is_empty() && !types.contains(&"array") {
                return Step::NotObject(types.join(" or "));
            }
            item(map)
        }
    }
}

/// `type`, as a list (`type: [object, "null"]`).
fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
        _ => Vec::new(),
    }
}

fn field<'a>(map: &'a serde_json::Map<String, Value>, key: &str) -> Step<'a> {
    let properties = map.get("properties").and_then(Value::as_object);
    let patterns = map.get("patternProperties").and_then(Value::as_object);
    let additional = map.get("additionalProperties");
    if properties.is_none() && patterns.is_none() && additional.is_none() {
        return Step::Open;
    }
    let mut into: Vec<&Value> = properties.and_then(|p| p.get(key)).into_iter().collect();
    for (pattern, schema) in patterns.into_iter().flatten() {
        // A pattern the regex crate cannot read might match: it lets the key in.
        if regex::Regex::new(pattern).map_or(true, |re| re.is_match(key)) {
            into.push(schema);
        }
    }
    if into.is_empty() {
        match additional {
            Some(Value::Bool(false)) | None => {}
            Some(schema) => into.push(schema),
        }
    }
    if into.is_empty() {
        return Step::Closed(properties.map(|p| p.keys().cloned().collect()).unwrap_or_default());
    }
    Step::Into(into)
}

fn item(map: &serde_json::Map<String, Value>) -> Step<'_> {
    let mut into: Vec<&Value> = Vec::new();
    if let Some(Value::Array(prefix)) = map.get("prefixItems") {
        into.extend(prefix);
    }
    match map.get("items") {
        // No `items`: any item after the prefix.
        None => return Step::Open,
        Some(Value::Bool(false)) => {}
        Some(items) => into.push(items),
    }
    if into.is_empty() {
        return Step::Closed(Vec::new());
    }
    Step::Into(into)
}

/// The name in `names` nearest to `written`: the same but for case, else within an edit
/// distance of a third of its length (at least one edit, so `Custmer` finds `Customer`).
pub fn nearest(written: &str, names: &[String]) -> Option<String> {
    if let Some(same) = names.iter().find(|n| n.eq_ignore_ascii_case(written)) {
        return Some(same.clone());
    }
    let bound = (written.chars().count() / 3).max(1);
    names
        .iter()
        .map(|n| (strsim::damerau_levenshtein(&n.to_lowercase(), &written.to_lowercase()), n))
        .filter(|(distance, _)| *distance <= bound)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, n)| n.clone())
}

#[cfg(test)]
mod tests;
