//! Event data in and out of templates without losing a digit. Template values hold numbers
//! as i64, u64, i128 or f64 (minijinja has no other number, and an object cannot act as
//! one in comparisons and arithmetic); a JSON number those cannot spell back (`1234.50`,
//! `-0`, `1e2`, integers past i128) enters as its nearest f64, and its own text is kept
//! twice: by position, in the list or map that holds it (`Spelled`), which is what whole
//! values (a body leaf naming a field, `tojson` of a list or map, a source's `Payload`)
//! are written from; and by value, in the event's `ExactNumbers` table, for a number on
//! its own (`{{ Amount }}` in text, `{{ Amount | default(0) }}`). The table answers only
//! for values that every number of the event spells one way: `1234.50` beside `1234.5`
//! has no single answer, so on its own it prints as its value does.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use minijinja::value::{DynObject, Enumerator, Object, ObjectRepr, ValueKind};
use minijinja::{Error, ErrorKind, State, Value};
use serde_json::Value as Json;

/// The context key under which an event's table rides along (only when it is not empty).
pub const EXACT_KEY: &str = "__hookshape_exact_numbers";

/// The original text of numbers carried as f64, by the f64's bits; `None` where the
/// event spells that value more than one way. Also the top-level fields' own texts, by
/// name, for `positions` (a filter cannot see the context itself).
#[derive(Debug, Default)]
pub struct ExactNumbers(HashMap<u64, Option<Arc<str>>>, Box<[(Value, Arc<str>)]>);

impl Object for ExactNumbers {}

impl ExactNumbers {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The digits `value` came with, when it is an f64 that stands for one spelling.
    pub fn text_of(&self, value: &Value) -> Option<&str> {
        if value.kind() != ValueKind::Number || value.is_integer() {
            return None;
        }
        let f = f64::try_from(value.clone()).ok()?;
        self.0.get(&f.to_bits())?.as_deref()
    }

    /// The table riding in a template's context, if the event needed one.
    pub fn in_state(state: &State) -> Option<minijinja::value::DynObject> {
        state.lookup(EXACT_KEY).and_then(|v| v.as_object().cloned())
    }

    pub fn in_context(ctx: &Value) -> Option<Value> {
        ctx.get_attr(EXACT_KEY).ok().filter(|v| v.downcast_object_ref::<ExactNumbers>().is_some())
    }

    /// The own text of top-level field `name`, if it has one and `value` is its value.
    pub fn top_text(&self, name: &str, value: &Value) -> Option<Arc<str>> {
        let (_, text) = self.1.iter().find(|(k, _)| k.as_str() == Some(name))?;
        let f = f64::try_from(value.clone()).ok()?;
        (text.parse::<f64>().ok()?.to_bits() == f.to_bits()).then(|| Arc::clone(text))
    }

    /// Keeps the top-level fields' own texts (those of the context's `Spelled` map).
    pub fn set_top(&mut self, fields: &Value) {
        if let Some(spelled) = fields.downcast_object_ref::<Spelled>() {
            self.set_top_texts(&spelled.texts);
        }
    }

    pub(super) fn set_top_texts(&mut self, texts: &[(Value, Arc<str>)]) {
        self.1 = texts.into();
    }

    fn note(&mut self, f: f64, text: &Arc<str>) {
        self.0.entry(f.to_bits()).or_insert_with(|| Some(Arc::clone(text)));
    }

    /// Once every number of `values` is noted: forgets the spelling of a value that some
    /// number spells another way. Walks the event again only when a number was noted.
    pub fn settle<'a>(&mut self, values: impl IntoIterator<Item = &'a Json>) {
        if self.0.is_empty() {
            return;
        }
        for value in values {
            self.settle_one(value);
        }
    }

    fn settle_one(&mut self, value: &Json) {
        match value {
            Json::Number(n) if integer(n.as_str()).is_none() => {
                let f = n.as_str().parse::<f64>().unwrap_or(f64::NAN);
                if let Some(entry) = self.0.get_mut(&f.to_bits()) {
                    if entry.as_deref() != Some(n.as_str()) {
                        *entry = None;
                    }
                }
            }
            Json::Array(items) => items.iter().for_each(|v| self.settle_one(v)),
            Json::Object(map) => map.values().for_each(|v| self.settle_one(v)),
            _ => {}
        }
    }
}

/// A list or map from JSON holding numbers that print otherwise than their value: the
/// list or map minijinja builds, and each such number's text by its index or key. Only
/// these containers are wrapped; the others stay minijinja's own.
#[derive(Debug)]
pub struct Spelled {
    inner: DynObject,
    texts: Box<[(Value, Arc<str>)]>,
}

impl Spelled {
    /// The text of the number at `key` (an index for a list), if it has its own.
    pub fn text_at(&self, key: &Value) -> Option<&str> {
        self.texts.iter().find(|(k, _)| k == key).map(|(_, text)| &**text)
    }
}

impl Object for Spelled {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        self.inner.repr()
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.inner.get_value(key)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        self.inner.get_value_by_str(key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.inner.enumerate()
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        self.inner.enumerator_len()
    }

    fn is_true(self: &Arc<Self>) -> bool {
        self.inner.is_true()
    }
}

/// The own text of the number at `key` in `container`, when it has one.
pub fn spelling_at<'a>(container: &'a Value, key: &Value) -> Option<&'a str> {
    container.downcast_object_ref::<Spelled>()?.text_at(key)
}

/// A JSON value as a template value, noting in `exact` the numbers that need it. Call
/// `exact.settle` with the whole input once it is converted.
pub fn from_json(value: &Json, exact: &mut ExactNumbers) -> Value {
    match value {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => number(n.as_str(), exact).0,
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => {
            let mut texts = Vec::new();
            let values = items.iter().enumerate().map(|(i, v)| item(v, || Value::from(i), exact, &mut texts));
            spelled(Value::from(values.collect::<Vec<_>>()), texts)
        }
        Json::Object(map) => map_from_json(map.iter().map(|(k, v)| (k.as_str(), v)), exact),
    }
}

/// A JSON object's fields as a template map, numbers keeping their own text by key.
pub fn map_from_json<'a>(fields: impl Iterator<Item = (&'a str, &'a Json)>, exact: &mut ExactNumbers) -> Value {
    let mut texts = Vec::new();
    let map = Value::from_pairs(fields.map(|(k, v)| (Value::from(k), item(v, || Value::from(k), exact, &mut texts))));
    spelled(map, texts)
}

/// One item of a list or map; a number with a text of its own has it noted under `key`.
pub(super) fn item(
    value: &Json,
    key: impl FnOnce() -> Value,
    exact: &mut ExactNumbers,
    texts: &mut Vec<(Value, Arc<str>)>,
) -> Value {
    let Json::Number(n) = value else { return from_json(value, exact) };
    let (value, text) = number(n.as_str(), exact);
    if let Some(text) = text {
        texts.push((key(), text));
    }
    value
}

pub(super) fn spelled(container: Value, texts: Vec<(Value, Arc<str>)>) -> Value {
    match (texts.is_empty(), container.as_object()) {
        (false, Some(inner)) => Value::from_object(Spelled { inner: inner.clone(), texts: texts.into() }),
        _ => container,
    }
}

/// The template value of a JSON number, and its text when the value does not print as it.
fn number(text: &str, exact: &mut ExactNumbers) -> (Value, Option<Arc<str>>) {
    if let Some(value) = integer(text) {
        return (value, None);
    }
    // JSON number syntax is a subset of what f64 parses; a huge exponent becomes infinite.
    let f = text.parse::<f64>().unwrap_or(f64::NAN);
    if serde_json::Number::from_f64(f).is_some_and(|n| n.as_str() == text) {
        return (Value::from(f), None);
    }
    let own: Arc<str> = Arc::from(text);
    exact.note(f, &own);
    (Value::from(f), Some(own))
}

/// The integer value of `text` when its text is the integer's own (not `-0`, not `1e3`,
/// not past i128).
fn integer(text: &str) -> Option<Value> {
    if let Ok(i) = text.parse::<i64>() {
        return is_canonical_integer(text).then(|| Value::from(i));
    }
    if let Ok(u) = text.parse::<u64>() {
        return Some(Value::from(u));
    }
    text.parse::<i128>().ok().map(Value::from)
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

/// A template value as JSON: numbers in a `Spelled` list or map by their own text, other
/// numbers by what `exact` knows of their value.
pub fn to_json(value: &Value, exact: Option<&ExactNumbers>) -> Result<Json, Error> {
    let spelled = value.downcast_object_ref::<Spelled>();
    let child = |key: &Value, child: &Value| match spelled.and_then(|s| s.text_at(key)) {
        Some(text) if child.kind() == ValueKind::Number => Ok(Json::Number(crate::json::exact_number(text.into()))),
        _ => to_json(child, exact),
    };
    Ok(match value.kind() {
        ValueKind::Undefined | ValueKind::None => Json::Null,
        ValueKind::Bool => Json::Bool(value.is_true()),
        ValueKind::String => Json::String(value.as_str().unwrap_or_default().to_string()),
        ValueKind::Number => Json::Number(json_number(value, exact)?),
        ValueKind::Seq | ValueKind::Iterable => Json::Array(
            value.try_iter()?.enumerate().map(|(i, v)| child(&Value::from(i), &v)).collect::<Result<_, _>>()?,
        ),
        ValueKind::Map => {
            let mut map = serde_json::Map::new();
            for key in value.try_iter()? {
                let v = value.get_item(&key)?;
                map.insert(key.to_string(), child(&key, &v)?);
            }
            Json::Object(map)
        }
        ValueKind::Plain if value.downcast_object_ref::<NumberText>().is_some() => {
            Json::Number(crate::json::exact_number(value.to_string()))
        }
        // Bytes, macros, and other opaque values have no JSON form but their text.
        _ => Json::String(value.to_string()),
    })
}

fn json_number(value: &Value, exact: Option<&ExactNumbers>) -> Result<serde_json::Number, Error> {
    if let Some(text) = exact.and_then(|e| e.text_of(value)) {
        // Noted from a JSON number: already valid, and kept as it is (`1E2` too).
        return Ok(crate::json::exact_number(text.to_string()));
    }
    let text = match value.is_integer() {
        true => value.to_string(),
        false => {
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

/// A number as the event wrote it, where a template prints it whole. Only JSON templates
/// make one, and only as the whole of a `{{ … }}` (so no arithmetic ever meets it).
#[derive(Debug)]
pub struct NumberText(pub Arc<str>);

impl Object for NumberText {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
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
        exact.settle([&json]);
        serde_json::to_string(&to_json(&value, Some(&exact)).unwrap()).unwrap()
    }

    #[test]
    fn each_number_keeps_its_own_spelling_by_position() {
        for text in [
            r#"{"a":1234.50,"b":1234.5}"#,
            r#"{"b":1234.5,"a":1234.50,"c":1234.500}"#,
            r#"[0.1,0.1000000000000000055511151231257827,0.1]"#,
            r#"{"x":1e2,"y":1E2,"z":100.0,"w":1e+2,"v":100}"#,
            r#"{"s":1.0E-7,"t":1e-7,"u":[{"z":-0,"y":0,"x":-0.0}]}"#,
            r#"{"n":[1234567890123456789012345678901234567890,1.2345678901234568e39]}"#,
        ] {
            assert_eq!(round_trip(text), text);
        }
    }

    #[test]
    fn a_value_spelled_two_ways_has_no_text_on_its_own() {
        let json = crate::json::parse(br#"{"a":1234.50,"b":1234.5,"c":2.50,"d":[2.50],"e":0.1,"f":1e2}"#).unwrap();
        let mut exact = ExactNumbers::default();
        let value = from_json(&json, &mut exact);
        exact.settle([&json]);
        let text = |key: &str| number_text(&value.get_attr(key).unwrap(), Some(&exact));
        assert_eq!(text("a"), None, "1234.5 is spelled two ways: printed as its value");
        assert_eq!(text("b"), None);
        assert_eq!(text("c").as_deref(), Some("2.50"), "spelled one way, twice");
        assert_eq!(text("e"), None, "0.1 needs no table");
        assert_eq!(text("f").as_deref(), Some("1e2"));
        let key = |k: &str| Value::from(k);
        assert_eq!(spelling_at(&value, &key("a")), Some("1234.50"));
        assert_eq!(spelling_at(&value, &key("b")), None);
        assert_eq!(spelling_at(&value.get_attr("d").unwrap(), &Value::from(0)), Some("2.50"));
    }

    #[test]
    fn a_spelled_list_or_map_behaves_as_minijinjas_own() {
        let json = crate::json::parse(br#"{"m":{"a":1.50,"b":"x"},"l":[2.50,3,-0]}"#).unwrap();
        let ctx = from_json(&json, &mut ExactNumbers::default());
        let env = minijinja::Environment::new();
        let render = |t: &str| env.render_str(t, &ctx).unwrap();
        assert_eq!(
            render("{{ m.a + 1 }} {% if m.a > 1 %}gt{% endif %} {{ m | length }} {{ m | list }}"),
            "2.5 gt 2 ['a', 'b']"
        );
        assert_eq!(
            render("{{ l[0] * 2 }} {{ l[-2] }} {{ l | length }} {% for x in l %}{{ x }},{% endfor %}"),
            "5.0 3 3 2.5,3,-0.0,"
        );
        assert_eq!(
            render("{% if l is sequence and m is mapping and m == {'a': 1.5, 'b': 'x'} %}ok{% endif %} {{ l | sum }}"),
            "ok 5.5"
        );
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
