//! `--redact PATH`: a payload value replaced by a stable placeholder. The same path and
//! value give the same placeholder on every run and every node, so a diff over redacted
//! events still sees which events share a customer; the placeholder is a hash, so it does
//! not show the value (though a guess can be checked against it: redact, do not encrypt).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Hex digits of the hash a placeholder keeps: 48 bits, enough to keep apart the values
/// one export holds.
const KEPT_HEX: usize = 12;

/// A payload path as templates write it: `Customer.Email` (or `Payload.Customer.Email`),
/// `Payload["Customer"].Email`, `Items[0].Sku` (one item), `Items[].Sku` or `Items.Sku`
/// (every item).
#[derive(Debug, Clone, PartialEq)]
pub struct RedactPath {
    /// The keys alone, joined by dots: what a placeholder is hashed with, so the same value
    /// gets the same placeholder however the path was written.
    text: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    /// `[N]`: that item of a list.
    Item(usize),
    /// `[]`: every item of a list (a key does that too when it meets a list).
    EachItem,
}

impl RedactPath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let refuse = |why: &str| {
            format!("--redact {text:?}: {why}; give a payload path such as Customer.Email, Items[].Sku or Items[0].Sku")
        };
        let trimmed = text.trim();
        let inner = ["event.Payload", "Payload"]
            .iter()
            .find_map(|p| trimmed.strip_prefix(p).filter(|r| r.starts_with(['.', '['])))
            .map_or(trimmed, |r| r.strip_prefix('.').unwrap_or(r));
        let steps = steps(inner).map_err(|why| refuse(&why))?;
        if !matches!(steps.first(), Some(Step::Key(_))) {
            return Err(refuse("it names no field"));
        }
        let keys: Vec<&str> =
            steps.iter().filter_map(|s| if let Step::Key(k) = s { Some(k.as_str()) } else { None }).collect();
        Ok(Self { text: keys.join("."), steps })
    }
}

/// The steps of `path`: names between dots, and bracketed keys (`["a b"]`, `['x']`),
/// item numbers (`[0]`) or `[]`.
fn steps(path: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut rest = path;
    let mut expect_name = true;
    while !rest.is_empty() {
        if let Some(inside) = rest.strip_prefix('[') {
            let close = inside.find(']').ok_or("a `[` is not closed")?;
            let (within, after) = (&inside[..close], &inside[close + 1..]);
            let quoted = ['"', '\''].iter().find_map(|q| within.strip_prefix(*q)?.strip_suffix(*q));
            steps.push(match (quoted, within) {
                (Some(key), _) => Step::Key(key.to_string()),
                (None, "") => Step::EachItem,
                (None, n) => {
                    Step::Item(n.parse().map_err(|_| format!("`[{n}]` is neither an item number nor a quoted key"))?)
                }
            });
            rest = after;
            expect_name = false;
        } else if let Some(after) = rest.strip_prefix('.').filter(|_| !expect_name) {
            rest = after;
            expect_name = true;
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end == 0 || !expect_name {
                return Err("a name is missing".into());
            }
            steps.push(Step::Key(rest[..end].to_string()));
            rest = &rest[end..];
            expect_name = false;
        }
    }
    if expect_name && !steps.is_empty() {
        return Err("it ends with a dot".into());
    }
    Ok(steps)
}

/// Replaces the value at each path of `payload`; a key that meets a list applies to each
/// item. A path the payload does not have is left alone (events of a topic differ).
pub fn redact(payload: &mut Map<String, Value>, paths: &[RedactPath]) {
    for path in paths {
        if let Some((Step::Key(first), rest)) = path.steps.split_first() {
            if let Some(value) = payload.get_mut(first) {
                walk(value, rest, &path.text);
            }
        }
    }
}

fn walk(value: &mut Value, rest: &[Step], path: &str) {
    match (value, rest.split_first()) {
        (Value::Array(items), Some((Step::EachItem, rest))) => items.iter_mut().for_each(|item| walk(item, rest, path)),
        (Value::Array(items), Some((Step::Item(n), rest))) => {
            if let Some(item) = items.get_mut(*n) {
                walk(item, rest, path);
            }
        }
        (Value::Array(items), _) => items.iter_mut().for_each(|item| walk(item, rest, path)),
        (value, None) if carries_nothing(value) => {}
        (value, None) => *value = Value::String(placeholder(path, value)),
        (Value::Object(fields), Some((Step::Key(key), rest))) => {
            if let Some(inner) = fields.get_mut(key) {
                walk(inner, rest, path);
            }
        }
        (_, Some(_)) => {}
    }
}

/// A value kept as it is: it identifies no one, and a placeholder (a non-empty string)
/// would turn a filter's false into true (`filter: "Customer.Email"` on an empty one):
/// null, an empty string, a boolean, zero, an empty list or object.
fn carries_nothing(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(_) => true,
        Value::String(s) => s.is_empty(),
        // By its exact value: `1e-400` is no zero, though a float would say so.
        Value::Number(n) => crate::json::number_identity(&n.to_string()).as_deref() == Some("0"),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
    }
}

/// `redacted-` and the first hex digits of sha256("hookshape-redact:" + path + "=" + value),
/// the value as its text (a string) or its JSON (anything else). A number becomes a string.
pub fn placeholder(path: &str, value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let digest =
        Sha256::new().chain_update(b"hookshape-redact:").chain_update(path).chain_update(b"=").chain_update(text);
    let hex = hex::encode(digest.finalize());
    format!("redacted-{}", &hex[..KEPT_HEX])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn redacted(payload: Value, paths: &[&str]) -> Value {
        let Value::Object(mut map) = payload else { panic!("an object") };
        let paths: Vec<RedactPath> = paths.iter().map(|p| RedactPath::parse(p).unwrap()).collect();
        redact(&mut map, &paths);
        Value::Object(map)
    }

    #[test]
    fn values_that_identify_no_one_are_kept_so_filters_see_the_same_truth() {
        let payload: Value = crate::json::parse(
            br#"{"a": "", "b": false, "c": 0, "d": null, "e": [], "f": {}, "g": true, "h": 0.0, "i": "x", "j": 7, "k": 1e-400}"#,
        )
        .unwrap();
        let paths: Vec<&str> = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"].to_vec();
        let out = redacted(payload.clone(), &paths);
        for kept in ["a", "b", "c", "d", "e", "f", "g", "h"] {
            assert_eq!(out[kept], payload[kept], "{kept}");
        }
        for hidden in ["i", "j", "k"] {
            assert!(out[hidden].as_str().unwrap().starts_with("redacted-"), "{hidden}: {out}");
        }
    }

    #[test]
    fn the_same_value_gets_the_same_placeholder_and_it_hides_the_value() {
        let a = redacted(json!({"Customer": {"Email": "joao@exemplo.com", "Id": "C-1"}}), &["Customer.Email"]);
        let b = redacted(json!({"Customer": {"Email": "joao@exemplo.com"}}), &["Payload.Customer.Email"]);
        let c = redacted(json!({"Customer": {"Email": "ana@exemplo.com"}}), &["Customer.Email"]);
        let email = a["Customer"]["Email"].as_str().unwrap();
        assert!(email.starts_with("redacted-") && email.len() == "redacted-".len() + KEPT_HEX, "{email}");
        assert!(!email.contains("joao"));
        assert_eq!(a["Customer"]["Id"], json!("C-1"));
        assert_eq!(b["Customer"]["Email"], a["Customer"]["Email"]);
        assert_ne!(c["Customer"]["Email"], a["Customer"]["Email"]);
    }

    #[test]
    fn numbers_become_strings_arrays_apply_to_each_item_and_missing_paths_are_left() {
        let out = redacted(
            json!({"Items": [{"Sku": 12}, {"Sku": 13}, {"Other": 1}], "Points": null}),
            &["Items.Sku", "Points", "Nope.Deeper"],
        );
        assert!(out["Items"][0]["Sku"].as_str().unwrap().starts_with("redacted-"));
        assert_ne!(out["Items"][0]["Sku"], out["Items"][1]["Sku"]);
        assert_eq!(out["Items"][2], json!({"Other": 1}));
        assert_eq!(out["Points"], Value::Null);
    }

    #[test]
    fn an_empty_or_malformed_path_is_refused() {
        for bad in ["", "Customer.", ".Email", "Payload.", "Items[0", "Items[x].Sku", "[0]", "a..b", "Items[0]Sku"] {
            assert!(RedactPath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths_are_read_as_templates_write_them() {
        let payload = json!({"Items": [{"Sku": "A1"}, {"Sku": "B2"}], "Doc": {"a b": 1, "c": 2}});
        let each = redacted(payload.clone(), &["Items[].Sku"]);
        assert_eq!(each, redacted(payload.clone(), &["Items.Sku"]), "[] and a key through a list are the same");
        assert!(each["Items"][1]["Sku"].as_str().unwrap().starts_with("redacted-"));
        let first = redacted(payload.clone(), &["Payload.Items[0].Sku"]);
        assert_eq!(first["Items"][0]["Sku"], each["Items"][0]["Sku"], "the same placeholder however written");
        assert_eq!(first["Items"][1]["Sku"], json!("B2"), "only that item");
        let quoted = redacted(payload, &[r#"Payload["Doc"]['a b']"#, "event.Payload.Doc.c"]);
        assert!(quoted["Doc"]["a b"].as_str().unwrap().starts_with("redacted-"), "{quoted}");
        assert!(quoted["Doc"]["c"].as_str().unwrap().starts_with("redacted-"), "{quoted}");
    }
}
