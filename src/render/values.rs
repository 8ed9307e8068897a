//! Event data in and out of templates without losing a digit. Template values hold numbers
//! as i64, u64, i128 or f64; a JSON number those cannot spell back (`1234.50`, `-0`, `1e3`,
//! integers past i128) enters as its nearest f64, so comparisons and arithmetic work, and
//! its own text is kept in an `ExactNumbers` table that every output consults.

use std::collections::HashMap;
use std::str::FromStr;

use minijinja::value::{Object, ValueKind};
use minijinja::{Error, ErrorKind, State, Value};
use serde_json::Value as Json;

/// The context key under which an event's table rides along (only when it is not empty).
pub const EXACT_KEY: &str = "__hookshape_exact_numbers";

/// The original text of numbers carried as f64, by the f64's bits.
#[derive(Debug, Default)]
pub struct ExactNumbers(HashMap<u64, String>);

impl Object for ExactNumbers {}

impl ExactNumbers {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The digits `value` came with, when it is an f64 that stands for some.
    pub fn text_of(&self, value: &Value) -> Option<&str> {
        if value.kind() != ValueKind::Number || value.is_integer() {
            return None;
        }
        let f = f64::try_from(value.clone()).ok()?;
        self.0.get(&f.to_bits()).map(String::as_str)
    }

    /// The table riding in a template's context, if the event needed one.
    pub fn in_state(state: &State) -> Option<minijinja::value::DynObject> {
        state.lookup(EXACT_KEY).and_then(|v| v.as_object().cloned())
    }

    pub fn in_context(ctx: &Value) -> Option<Value> {
        ctx.get_attr(EXACT_KEY).ok().filter(|v| v.downcast_object_ref::<ExactNumbers>().is_some())
    }
}

/// A JSON value as a template value, noting in `exact` the numbers that need it.
pub fn from_json(value: &Json, exact: &mut ExactNumbers) -> Value {
    match value {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => number(n.as_str(), exact),
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::from(items.iter().map(|v| from_json(v, exact)).collect::<Vec<_>>()),
        Json::Object(map) => Value::from_pairs(map.iter().map(|(k, v)| (k.as_str(), from_json(v, exact)))),
    }
}

fn number(text: &str, exact: &mut ExactNumbers) -> Value {
    // An integer is kept as one when its text is the integer's own (not `-0`, not `1e3`).
    if let Ok(i) = text.parse::<i64>() {
        if is_canonical_integer(text) {
            return Value::from(i);
        }
    } else if let Ok(u) = text.parse::<u64>() {
        return Value::from(u);
    } else if let Ok(i) = text.parse::<i128>() {
        return Value::from(i);
    }
    // JSON number syntax is a subset of what f64 parses; a huge exponent becomes infinite.
    let f = text.parse::<f64>().unwrap_or(f64::NAN);
    if float_text(f).as_deref() != Some(text) {
        exact.0.insert(f.to_bits(), text.to_string());
    }
    Value::from(f)
}

/// Whether `text`, which parsed as an i64, is how that integer prints: no `+`, no
/// leading zero, not `-0` (checked on the text, which is cheaper than printing it).
fn is_canonical_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !text.starts_with('+') && (digits == "0" && digits.len() == text.len() || !digits.starts_with('0'))
}

/// How JSON output spells a finite f64 (shortest round-trip digits, as serde_json does).
fn float_text(f: f64) -> Option<String> {
    serde_json::Number::from_f64(f).map(|n| n.to_string())
}

/// A template value as JSON, numbers in their original digits where `exact` knows them.
pub fn to_json(value: &Value, exact: Option<&ExactNumbers>) -> Result<Json, Error> {
    Ok(match value.kind() {
        ValueKind::Undefined | ValueKind::None => Json::Null,
        ValueKind::Bool => Json::Bool(value.is_true()),
        ValueKind::String => Json::String(value.as_str().unwrap_or_default().to_string()),
        ValueKind::Number => Json::Number(json_number(value, exact)?),
        ValueKind::Seq | ValueKind::Iterable => {
            Json::Array(value.try_iter()?.map(|v| to_json(&v, exact)).collect::<Result<_, _>>()?)
        }
        ValueKind::Map => {
            let mut map = serde_json::Map::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                map.insert(key.to_string(), to_json(&item, exact)?);
            }
            Json::Object(map)
        }
        // Bytes, macros, and other opaque values have no JSON form but their text.
        _ => Json::String(value.to_string()),
    })
}

fn json_number(value: &Value, exact: Option<&ExactNumbers>) -> Result<serde_json::Number, Error> {
    let text = match exact.and_then(|e| e.text_of(value)) {
        Some(text) => text.to_string(),
        None if value.is_integer() => value.to_string(),
        None => {
            let f = f64::try_from(value.clone())?;
            float_text(f).ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("{f} has no JSON form")))?
        }
    };
    serde_json::Number::from_str(&text)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("number {text}: {e}")))
}

/// The text a number prints as: its original digits when it has some.
pub fn number_text(value: &Value, exact: Option<&ExactNumbers>) -> Option<String> {
    exact.and_then(|e| e.text_of(value)).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integer_is_canonical_exactly_when_it_prints_as_written() {
        for text in ["0", "-0", "7", "-7", "+7", "007", "-007", "9223372036854775807", "-9223372036854775808", "10"] {
            let prints_as_written = text.parse::<i64>().is_ok_and(|i| i.to_string() == text);
            assert_eq!(is_canonical_integer(text), prints_as_written, "{text}");
        }
    }

    fn round_trip(text: &str) -> String {
        let json = crate::json::parse(text.as_bytes()).unwrap();
        let mut exact = ExactNumbers::default();
        let value = from_json(&json, &mut exact);
        serde_json::to_string(&to_json(&value, Some(&exact)).unwrap()).unwrap()
    }

    #[test]
    fn numbers_survive_the_trip_through_template_values() {
        for text in [
            "1234.50",
            "-0",
            "-0.0",
            "0.1",
            "1.5",
            "1e+3",
            "123456789012345678901234567890",
            "-170141183460469231731687303715884105728",
            "1234567890123456789012345678901234567890",
            "18446744073709551615",
            r#"{"a":[1,2.50,{"b":-0}],"c":"x"}"#,
        ] {
            assert_eq!(round_trip(text), text);
        }
    }

    #[test]
    fn only_numbers_that_need_it_enter_the_table() {
        let mut exact = ExactNumbers::default();
        let json = crate::json::parse(br#"[1, 1.5, "s", 1234.50, -0]"#).unwrap();
        let value = from_json(&json, &mut exact);
        assert_eq!(exact.0.len(), 2, "{exact:?}");
        let items: Vec<Value> = value.try_iter().unwrap().collect();
        assert_eq!(f64::try_from(items[3].clone()).unwrap(), 1234.5, "arithmetic sees the value");
        assert_eq!(number_text(&items[3], Some(&exact)).as_deref(), Some("1234.50"));
    }
}
