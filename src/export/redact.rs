//! `--redact PATH`: a payload value replaced by a stable placeholder. The same path and
//! value give the same placeholder on every run and every node, so a diff over redacted
//! events still sees which events share a customer; the placeholder is a hash, so it does
//! not show the value (though a guess can be checked against it: redact, do not encrypt).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Hex digits of the hash a placeholder keeps: 48 bits, enough to keep apart the values
/// one export holds.
const KEPT_HEX: usize = 12;

/// A payload path as templates see it: `Customer.Email` (or `Payload.Customer.Email`).
#[derive(Debug, Clone, PartialEq)]
pub struct RedactPath {
    text: String,
    keys: Vec<String>,
}

impl RedactPath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let inner = trimmed.strip_prefix("Payload.").unwrap_or(trimmed);
        let keys: Vec<String> = inner.split('.').map(str::to_string).collect();
        if inner.is_empty() || keys.iter().any(String::is_empty) {
            return Err(format!("--redact {text:?}: give a payload path such as Customer.Email"));
        }
        Ok(Self { text: inner.to_string(), keys })
    }
}

/// Replaces the value at each path of `payload`; a path through an array applies to each
/// item. A path the payload does not have is left alone (events of a topic differ).
pub fn redact(payload: &mut Map<String, Value>, paths: &[RedactPath]) {
    for path in paths {
        if let Some((first, rest)) = path.keys.split_first() {
            if let Some(value) = payload.get_mut(first) {
                walk(value, rest, &path.text);
            }
        }
    }
}

fn walk(value: &mut Value, rest: &[String], path: &str) {
    match (value, rest.split_first()) {
        (Value::Array(items), _) => items.iter_mut().for_each(|item| walk(item, rest, path)),
        (Value::Null, None) => {}
        (value, None) => *value = Value::String(placeholder(path, value)),
        (Value::Object(fields), Some((key, rest))) => {
            if let Some(inner) = fields.get_mut(key) {
                walk(inner, rest, path);
            }
        }
        (_, Some(_)) => {}
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
    fn an_empty_path_is_refused() {
        for bad in ["", "Customer.", ".Email", "Payload."] {
            assert!(RedactPath::parse(bad).is_err(), "{bad:?}");
        }
    }
}
