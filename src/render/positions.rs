//! A field printed whole by a JSON template keeps its number's own spelling. A template
//! number is a bare f64 that has lost its position (`1234.50` and `1234.5` are one value),
//! so `{{ A.b.c }}` and `{{ A.b.c | tojson }}` are compiled as
//! `{{ A.b.c | __hookshape_at(A.b, 'c') }}` (and `{{ a }}` as `{{ a | __hookshape_top('a') }}`):
//! the value is found as before (same errors, same undefined), and the filter also sees
//! the list or map and the key, which is the position, and hands on a number written its
//! own way as a `NumberText` that JSON output writes as that text. Everything else is
//! left as it is.

use std::sync::Arc;

use minijinja::value::ValueKind;
use minijinja::{Environment, State, Value};

use super::syntax::{is_name_start, read_chain};
use super::values::{ExactNumbers, NumberText};

const AT: &str = "__hookshape_at";
const TOP: &str = "__hookshape_top";

pub fn register(env: &mut Environment<'static>) {
    env.add_filter(AT, at);
    env.add_filter(TOP, top);
}

/// `parent.key | __hookshape_at(parent, 'key')`: the value, or a number in its own spelling.
fn at(value: Value, parent: Value, key: &str) -> Value {
    if value.kind() != ValueKind::Number {
        return value;
    }
    match super::context::spelling_at(&parent, &Value::from(key)) {
        Some(text) => Value::from_object(NumberText(Arc::from(text))),
        None => value,
    }
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
        Some((parent, key)) => format!("{head}{chain} | {AT}({parent}, '{key}'){rest}{tail}"),
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
    use crate::render::{Delimiters, RequestSpec, RequestTemplate, TemplateFiles};

    fn body_template(text: &str) -> Result<RequestTemplate, crate::render::CompileError> {
        let files: TemplateFiles = Arc::new([("t.j2".to_string(), text.to_string())].into_iter().collect());
        RequestTemplate::compile(RequestSpec {
            url: "http://h.example/",
            ping_url: None,
            headers: &[],
            body: None,
            body_template: Some("t.j2"),
            body_format: crate::render::BodyFormat::Json,
            filter: None,
            delimiters: &Delimiters::default(),
            files,
        })
    }

    fn event(payload: &str) -> crate::event::Event {
        crate::event::parse(format!(r#"{{"Topic":"T","Payload":{payload}}}"#).as_bytes()).unwrap()
    }

    #[test]
    fn fields_printed_whole_keep_their_spelling_and_everything_else_works_as_before() {
        let t = body_template(
            r#"{"a": {{ a }}, "b": {{ b | tojson }}, "c": {{ n.c }}, "d": {{- n.d | tojson -}}, "s": {{ s }}, "x": {{ n.c + 1 }}, "m": {{ n | tojson }}}"#,
        )
        .unwrap();
        let ctx = crate::render::context(&event(r#"{"a":1234.50,"b":1234.5,"n":{"c":1e2,"d":100.0},"s":"q"}"#));
        let body = t.render(&ctx).unwrap().body.unwrap();
        assert_eq!(body, r#"{"a":1234.50,"b":1234.5,"c":1e2,"d":100.0,"s":"q","x":101.0,"m":{"c":1e2,"d":100.0}}"#);
    }

    #[test]
    fn a_missing_field_is_the_same_error_and_unknown_names_are_still_found_at_load() {
        let t = body_template(r#"{"p": {{ Customer.Phone }}}"#).unwrap();
        let error = t.render(&crate::render::context(&event(r#"{"Customer":{"Id":1}}"#))).unwrap_err();
        assert!(error.contains("undefined"), "{error}");
        let error = body_template(r#"{"a": {{ A.b }}, "c": {{ c }}, "x": {{ X | no_such_filter }}}"#).unwrap_err();
        assert!(error.message.contains("no_such_filter"), "{error}");
    }

    #[test]
    fn only_a_field_printed_whole_is_rewritten() {
        let cases = [
            (" A.b.c ", " A.b.c | __hookshape_at(A.b, 'c') "),
            ("- a -", "- a | __hookshape_top('a') -"),
            (" Payload.Amount | tojson ", " Payload.Amount | __hookshape_at(Payload, 'Amount') | tojson "),
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
