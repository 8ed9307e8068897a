//! A field printed whole by a JSON template keeps its number's own spelling. A template
//! number is a bare f64 that has lost its position (`1234.50` and `1234.5` are one value),
//! so `{{ A.b.c }}` and `{{ A.b.c | tojson }}` are compiled as `{{ A.b | __hookshape_at('c') }}`
//! (and `{{ a }}` as `{{ a | __hookshape_top('a') }}`): the filter sees the list or map
//! and the key, which is the position, and hands on a number written its own way as a
//! `NumberText` that JSON output writes as that text. Everything else is left as it is.

use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr, ValueKind};
use minijinja::{Environment, Error, State, Value};

use super::source::{is_name_start, read_chain};
use super::values::ExactNumbers;

const AT: &str = "__hookshape_at";
const TOP: &str = "__hookshape_top";

pub fn register(env: &mut Environment<'static>) {
    env.add_filter(AT, at);
    env.add_filter(TOP, top);
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

/// `parent | __hookshape_at('key')`: `parent.key`, a number in its own spelling.
fn at(parent: Value, key: &str) -> Result<Value, Error> {
    // As `parent.key` would: an error for an undefined parent, undefined for a missing key.
    let child = parent.get_attr(key)?;
    if child.kind() == ValueKind::Number {
        if let Some(text) = super::context::spelling_at(&parent, &Value::from(key)) {
            return Ok(Value::from_object(NumberText(Arc::from(text))));
        }
    }
    Ok(child)
}

/// `a | __hookshape_top('a')`: a top-level field in its own spelling. The context is not
/// a value a filter can see, so the event's top-level spellings ride in its table; a
/// template variable of the same name and the same value would take it too (its value
/// is the same number).
fn top(state: &State, value: Value, name: &str) -> Value {
    if value.kind() != ValueKind::Number || value.is_integer() {
        return value;
    }
    let table = ExactNumbers::in_state(state);
    let text = table.as_ref().and_then(|t| t.downcast_ref::<ExactNumbers>()).and_then(|t| t.top_text(name, &value));
    match text {
        Some(text) => Value::from_object(NumberText(text)),
        None => value,
    }
}

/// The region of a `{{ … }}` in a JSON template, rewritten when it prints a field whole:
/// `A.b.c` or `a`, alone or followed by `| tojson` (with or without arguments).
pub fn whole_field(region: &str) -> String {
    // Whitespace control (`{{-`, `-}}`) is a sign right at the delimiter; `{{ -a }}` is a
    // negation and is left alone (it does not start with a name).
    let control = |c: char| c == '-' || c == '+';
    let unsigned = region.strip_prefix(control).unwrap_or(region);
    let inner = unsigned.trim_start();
    let head = &region[..region.len() - inner.len()];
    let inner = inner.strip_suffix(control).unwrap_or(inner).trim_end();
    let tail = &region[head.len() + inner.len()..];
    if !inner.as_bytes().first().is_some_and(|&b| is_name_start(b)) {
        return region.to_string();
    }
    let (chain, end) = read_chain(inner, 0);
    let rest = &inner[end..];
    if !is_nothing_or_tojson(rest) {
        return region.to_string();
    }
    match chain.rsplit_once('.') {
        Some((parent, key)) => format!("{head}{parent} | {AT}('{key}'){rest}{tail}"),
        None => format!("{head}{chain} | {TOP}('{chain}'){rest}{tail}"),
    }
}

/// Whether what follows a field is nothing, or `| tojson` with at most its arguments.
fn is_nothing_or_tojson(rest: &str) -> bool {
    let rest = rest.trim();
    if rest.is_empty() {
        return true;
    }
    let Some(filter) = rest.strip_prefix('|').map(str::trim_start) else { return false };
    let Some(args) = filter.strip_prefix("tojson").map(str::trim) else { return false };
    args.is_empty() || (args.starts_with('(') && args.ends_with(')') && !args.contains(['|', '"', '\'']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_field_printed_whole_is_rewritten() {
        let cases = [
            (" A.b.c ", " A.b | __hookshape_at('c') "),
            ("- a -", "- a | __hookshape_top('a') -"),
            (" Payload.Amount | tojson ", " Payload | __hookshape_at('Amount') | tojson "),
            (" n|tojson(true) ", " n | __hookshape_top('n')|tojson(true) "),
            (" A.b + 1 ", " A.b + 1 "),
            (" A.b | default(0) ", " A.b | default(0) "),
            (" A.b() ", " A.b() "),
            (" A[0].b ", " A[0].b "),
            (" A.b | tojson | safe ", " A.b | tojson | safe "),
            (" 'A.b' ", " 'A.b' "),
            (" A is defined ", " A is defined "),
            (" A.b | tojsonx ", " A.b | tojsonx "),
            (" -a ", " -a "),
            ("-a-", "-a | __hookshape_top('a')-"),
            ("", ""),
        ];
        for (region, want) in cases {
            assert_eq!(whole_field(region), want, "{region}");
        }
    }
}
