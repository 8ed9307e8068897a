//! Strict JSON for what producers send: an object naming a key twice is refused (with the
//! key's path), numbers keep the digits they came with (serde_json's `arbitrary_precision`),
//! and a top-level array can be bounded while it is read, so a huge batch is refused
//! before it is built.

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum JsonError {
    /// Not JSON: where it stopped making sense.
    Syntax { line: usize, column: usize, message: String },
    /// JSON, but an object names `path`'s last key twice (`Payload.Customer.Id`, `[2].Topic`).
    DuplicateKey { path: String },
    /// The top-level array holds more than `limit` items.
    TooManyItems { limit: usize },
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax { line, column, message } => {
                write!(f, "invalid JSON at line {line} column {column}: {message}")
            }
            Self::DuplicateKey { path } => write!(f, "{path}: the key is given twice in one object"),
            Self::TooManyItems { limit } => write!(f, "the array holds more than {limit} items"),
        }
    }
}

/// Parses `bytes` as one JSON value.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    parse_bounded(bytes, usize::MAX)
}

/// Parses `bytes`, refusing a top-level array of more than `max_items` as soon as it has read
/// one item too many.
pub fn parse_bounded(bytes: &[u8], max_items: usize) -> Result<Value, JsonError> {
    let problem = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Strict { problem: &problem, max_items }.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| match problem.into_inner() {
        Some(Problem::Duplicate(path)) => JsonError::DuplicateKey { path: render_path(&path) },
        Some(Problem::TooMany(limit)) => JsonError::TooManyItems { limit },
        None => syntax(&e),
    })
}

fn syntax(e: &serde_json::Error) -> JsonError {
    // serde_json appends " at line L column C" to its message; they are reported separately.
    let text = e.to_string();
    let message = text.split(" at line ").next().unwrap_or(&text).to_string();
    JsonError::Syntax { line: e.line(), column: e.column(), message }
}

/// Why parsing stopped on valid JSON. Paths are built innermost first, as the error unwinds.
enum Problem {
    Duplicate(Vec<Segment>),
    TooMany(usize),
}

enum Segment {
    Key(String),
    Index(usize),
}

fn render_path(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path.iter().rev() {
        match segment {
            Segment::Key(k) if out.is_empty() => out.push_str(k),
            Segment::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// serde_json hands an arbitrary-precision number to a visitor as a one-entry map under this key.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

#[derive(Clone, Copy)]
struct Strict<'p> {
    problem: &'p RefCell<Option<Problem>>,
    /// Items allowed in this array (only the top level is bounded).
    max_items: usize,
}

impl Strict<'_> {
    fn nested(self) -> Self {
        Self { max_items: usize::MAX, ..self }
    }

    /// Adds the segment an error passed through to a problem's path.
    fn through(&self, segment: impl FnOnce() -> Segment) {
        if let Some(Problem::Duplicate(path)) = self.problem.borrow_mut().as_mut() {
            path.push(segment());
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let index = items.len();
            if index == self.max_items {
                // One more item would be one too many: stop before building it.
                if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    *self.problem.borrow_mut() = Some(Problem::TooMany(self.max_items));
                    return Err(A::Error::custom("too many items"));
                }
                break;
            }
            match seq.next_element_seed(self.nested()) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(e) => {
                    self.through(|| Segment::Index(index));
                    return Err(e);
                }
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let Some(mut key) = access.next_key::<String>()? else { return Ok(Value::Object(Map::new())) };
        if key == NUMBER_TOKEN {
            let digits: String = access.next_value()?;
            return Number::from_str(&digits).map(Value::Number).map_err(A::Error::custom);
        }
        let mut map = Map::new();
        loop {
            if map.contains_key(&key) {
                *self.problem.borrow_mut() = Some(Problem::Duplicate(vec![Segment::Key(key)]));
                return Err(A::Error::custom("duplicate key"));
            }
            match access.next_value_seed(self.nested()) {
                Ok(value) => map.insert(key, value),
                Err(e) => {
                    self.through(|| Segment::Key(key));
                    return Err(e);
                }
            };
            match access.next_key::<String>()? {
                Some(next) => key = next,
                None => return Ok(Value::Object(map)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_digits() {
        // serde_json writes an exponent's sign out (`1e400` becomes `1e+400`); the digits stay.
        for text in ["1234.50", "-0", "123456789012345678901234567890", "1e+400", "0.1", "18446744073709551616", "-1.0"]
        {
            let value = parse(text.as_bytes()).unwrap();
            assert_eq!(serde_json::to_string(&value).unwrap(), text);
        }
        let nested = r#"{"Payload":{"Amount":1234.50,"Items":[{"Qty":-0}]}}"#;
        assert_eq!(serde_json::to_string(&parse(nested.as_bytes()).unwrap()).unwrap(), nested);
    }

    #[test]
    fn a_key_given_twice_is_named_with_its_path() {
        let cases = [
            (r#"{"Topic":"a","Topic":"b"}"#, "Topic"),
            (r#"{"Payload":{"Customer":{"Id":1,"Id":2}}}"#, "Payload.Customer.Id"),
            (r#"[{"a":1},{"Payload":{"x":[0,{"k":1,"k":1}]}}]"#, "[1].Payload.x[1].k"),
        ];
        for (text, path) in cases {
            assert_eq!(parse(text.as_bytes()), Err(JsonError::DuplicateKey { path: path.into() }), "{text}");
        }
        assert!(parse(br#"{"a":{"k":1},"b":{"k":1}}"#).is_ok(), "the same key in two objects is fine");
    }

    #[test]
    fn a_long_array_is_refused_at_the_first_item_too_many() {
        assert_eq!(parse_bounded(b"[1,2,3]", 2), Err(JsonError::TooManyItems { limit: 2 }));
        assert_eq!(parse_bounded(b"[1,2]", 2).unwrap(), serde_json::json!([1, 2]));
        assert_eq!(parse_bounded(b"[[1,2,3]]", 2).unwrap(), serde_json::json!([[1, 2, 3]]), "only the top level");
    }

    #[test]
    fn syntax_errors_say_where() {
        assert_eq!(
            parse(b"{\n  \"a\": 1,\n  oops\n}"),
            Err(JsonError::Syntax { line: 3, column: 3, message: "key must be a string".into() })
        );
        assert!(matches!(parse(b"{} x"), Err(JsonError::Syntax { line: 1, column: 4, .. })));
        assert!(matches!(parse(b""), Err(JsonError::Syntax { .. })));
    }
}
