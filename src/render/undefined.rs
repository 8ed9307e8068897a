//! Render errors that say which value and how to fix it: an undefined value is named by
//! its path with what its parent has ("Customer.Email is undefined (Customer has Id,
//! Name); use `| default(...)` if it may be missing"), and other errors name the
//! expression that failed (the filter or macro call).

use minijinja::value::ValueKind;
use minijinja::{Environment, Error, ErrorKind, State, Value};

/// How many of a parent's keys a message lists.
const KEYS_SHOWN: usize = 12;
const HINT: &str = "use `| default(...)` if it may be missing";

/// Whether rendering in `state` refuses undefined values. The load-time dry run chains
/// them (it checks templates against events that lack fields); only the real environment
/// refuses, so helpers that check for themselves ask this first.
pub fn refused(state: &State) -> bool {
    matches!(
        state.undefined_behavior(),
        minijinja::UndefinedBehavior::Strict | minijinja::UndefinedBehavior::SemiStrict
    )
}

/// Why `path` (template source, e.g. `Customer.Email`) is undefined, looked up in `state`.
pub fn explain(path: &str, state: &State) -> String {
    explain_with(path, |name| state.lookup(name))
}

fn explain_with(path: &str, lookup: impl Fn(&str) -> Option<Value>) -> String {
    let segments: Vec<&str> = path.split('.').collect();
    let is_chain = segments.iter().all(|s| {
        s.bytes().next().is_some_and(super::syntax::is_name_start)
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if !is_chain {
        return format!("{path} is undefined; {HINT}");
    }
    let found = lookup(segments[0]).filter(|v| !v.is_undefined());
    let Some(mut value) = found else {
        // An event's templates read its Payload; a source's mapping reads the request's body.
        let defined = |name: &str| lookup(name).filter(|v| !v.is_undefined());
        let around = match (defined("Payload"), defined("body")) {
            (Some(payload), _) => format!(" (the Payload has {})", keys(&payload)),
            (None, Some(body)) => format!(" (the body has {})", keys(&body)),
            (None, None) => String::new(),
        };
        return format!("{} is undefined{around}; {HINT}", segments[0]);
    };
    for (i, segment) in segments.iter().enumerate().skip(1) {
        let child = value.get_attr(segment).ok().filter(|v| !v.is_undefined());
        match child {
            Some(child) => value = child,
            None => {
                let parent = segments[..i].join(".");
                let has = match value.kind() {
                    ValueKind::Map => format!("{parent} has {}", keys(&value)),
                    _ => format!("{parent} is {}", kind_of(&value)),
                };
                return format!("{parent}.{segment} is undefined ({has}); {HINT}");
            }
        }
    }
    format!("{path} is undefined; {HINT}")
}

/// `null` (as the event wrote it), `undefined`, or `a string`, `a number`, ….
fn kind_of(value: &Value) -> String {
    match value.kind() {
        ValueKind::None => "null".into(),
        ValueKind::Undefined => "undefined".into(),
        kind => format!("a {kind}"),
    }
}

fn keys(map: &Value) -> String {
    let Ok(iter) = map.try_iter() else { return "no keys".into() };
    let all: Vec<String> = iter.map(|k| k.to_string()).collect();
    if all.is_empty() {
        return "no keys".into();
    }
    let mut text = all.iter().take(KEYS_SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if all.len() > KEYS_SHOWN {
        text.push_str(&format!(" and {} more", all.len() - KEYS_SHOWN));
    }
    text
}

/// The template text an error points at, when it is worth showing (not our rewrites).
fn snippet(env: &Environment<'static>, e: &Error) -> Option<String> {
    let mut range = e.range()?;
    let template = env.get_template(e.name()?).ok()?;
    let source = template.source();
    // A method call's span starts at its dot (`.br_dat(x)`): show whose method it is.
    let bytes = source.as_bytes();
    let continues = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
    while range.start > 0 && bytes.get(range.start - 1).is_some_and(|&b| continues(b)) {
        range.start -= 1;
    }
    let text = source.get(range)?.trim();
    let shown = text.trim_start_matches(['{', '%', '-', '+']).trim_end_matches(['}', '%', '-', '+']).trim();
    if shown.is_empty() || shown.contains("__hookshape_") || shown.chars().count() > 120 {
        return None;
    }
    Some(shown.to_string())
}

/// The dotted name an undefined error is about, read from the template's source where
/// minijinja's span does not show it: a field printed whole is spanned with its rewrite
/// (`Customer.Email | __hookshape_at(Customer, 'Email')`), and an undefined value handed
/// to a filter is spanned at the filter (`Amount | decimal` points at `decimal`).
fn undefined_path(env: &Environment<'static>, e: &Error) -> Option<String> {
    let range = e.range()?;
    let template = env.get_template(e.name()?).ok()?;
    let source = template.source();
    let spanned = source.get(range.clone())?;
    if let Some(at) = spanned.find(" | __hookshape_") {
        let chain = spanned[..at].trim().trim_start_matches(['{', '-', '+']).trim();
        return is_dotted(chain).then(|| chain.to_string());
    }
    // A filter's name: the chain before its `|` (and before the rewrite's own filter,
    // `Customer.Email | __hookshape_at(Customer, 'Email') | tojson`).
    let mut before = source.get(..range.start)?.trim_end().strip_suffix('|')?.trim_end();
    if let Some(at) = before.rfind(" | __hookshape_").filter(|&at| !before[at + 3..].contains('|')) {
        before = before[..at].trim_end();
    }
    let not_in_chain = |c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.');
    let start = before.rfind(not_in_chain).map_or(0, |i| i + before[i..].chars().next().map_or(1, char::len_utf8));
    let chain = &before[start..];
    is_dotted(chain).then(|| chain.to_string())
}

/// The source of the template the error happened in.
fn source_of(env: &Environment<'static>, e: &Error) -> Option<String> {
    env.get_template(e.name()?).ok().map(|t| t.source().to_string())
}

/// Whether `source` binds `name` itself: a `for` loop's target, a `set`, a `with` or a
/// macro's argument.
fn binds(source: &str, name: &str) -> bool {
    let words: Vec<&str> =
        source.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect();
    words.iter().enumerate().any(|(i, word)| match *word {
        "for" => words[i + 1..].iter().take_while(|w| **w != "in").any(|w| *w == name),
        "set" | "with" => words.get(i + 1) == Some(&name),
        _ => false,
    }) || macro_arguments(source).any(|arg| arg == name)
}

/// The argument names of the macros `source` defines (`{% macro tier(points, scale=10) %}`
/// gives `points`, `scale`): read from the text up to the first `)`, enough to tell a
/// macro's own variable from the event's.
fn macro_arguments(source: &str) -> impl Iterator<Item = &str> {
    source
        .match_indices("macro")
        .filter_map(|(at, _)| {
            let after_keyword = at == 0 || source[..at].ends_with(|c: char| c.is_whitespace() || c == '%' || c == '-');
            let rest = &source[at + "macro".len()..];
            let open = rest.find('(')?;
            let name = rest[..open].trim();
            let named = !name.is_empty() && !name.contains('.') && is_dotted(name);
            let close = open + rest[open..].find(')')?;
            (after_keyword && named)
                .then(|| rest[open + 1..close].split(',').map(|arg| arg.split('=').next().unwrap_or("").trim()))
        })
        .flatten()
}

/// `Customer.Email`, `Amount`: names joined by dots, nothing else.
fn is_dotted(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|s| {
            s.bytes().next().is_some_and(super::syntax::is_name_start)
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

/// Whether `path` really is undefined in the event (so an error may be blamed on it).
fn is_missing(path: &str, ctx: &Value) -> bool {
    let mut value = ctx.clone();
    for segment in path.split('.') {
        match value.get_attr(segment) {
            Ok(child) if !child.is_undefined() => value = child,
            _ => return true,
        }
    }
    false
}

/// A render error as one line, naming the value or the call that failed.
pub fn render_error(env: &Environment<'static>, e: &Error, ctx: &Value) -> String {
    let described = super::describe(e);
    if super::aborted(&described).is_some() {
        return described;
    }
    let location = described.rfind(" (in ").map_or("", |at| &described[at..]);
    let text = snippet(env, e);
    if e.kind() == ErrorKind::UndefinedError && !e.detail().is_some_and(|d| d.contains(HINT)) {
        // minijinja's own detail names the path in backticks: "`Customer.Email` is undefined".
        let named = e.detail().and_then(|d| d.strip_prefix('`')).and_then(|d| d.split_once('`')).map(|(p, _)| p);
        let source = undefined_path(env, e).filter(|path| is_missing(path, ctx));
        if let Some(path) = named.map(str::to_string).or(source).or(text.clone()) {
            let first = path.split('.').next().unwrap_or_default();
            let local = is_missing(first, ctx) && source_of(env, e).is_some_and(|src| binds(&src, first));
            // A loop's or a `set`'s variable is the template's own: what the event has says
            // nothing about it (`i.Sku` in a loop is not "i is undefined (the Payload has …)").
            let explained = match local {
                true => format!("{path} is undefined; {HINT}"),
                false => explain_with(&path, |name| ctx.get_attr(name).ok()),
            };
            return format!("{explained}{location}");
        }
    }
    let Some(text) = text else { return described };
    let head = &described[..described.len() - location.len()];
    // An imported template is a map to minijinja; to the user it holds macros.
    let head = head.replace("map has no method named", "no macro named");
    format!("{head} (at `{text}`){location}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_arguments_are_read_from_each_definition() {
        let source =
            "{%- macro tier(points, scale=10) -%}x{% endmacro %}{% macro  email( c ) %}{% endmacro %}macros(y)";
        assert_eq!(macro_arguments(source).collect::<Vec<_>>(), ["points", "scale", "c"]);
        assert!(binds(source, "scale") && !binds(source, "y") && !binds(source, "tier"));
    }

    #[test]
    fn an_undefined_path_is_named_with_what_its_parent_has() {
        let json = serde_json::json!({
            "Customer": {"Id": 1, "Name": "Ana"},
            "Payload": {"Customer": {}, "Points": 1},
            "Partner": null,
            "Points": 1,
        });
        let ctx = super::super::values::from_json(&json, &mut Default::default());
        let explain = |path: &str| explain_with(path, |name| ctx.get_attr(name).ok());
        assert!(
            explain("Partner.Id").starts_with("Partner.Id is undefined (Partner is null);"),
            "{}",
            explain("Partner.Id")
        );
        assert!(
            explain("Points.Id").starts_with("Points.Id is undefined (Points is a number);"),
            "{}",
            explain("Points.Id")
        );
        assert_eq!(
            explain("Customer.Email"),
            "Customer.Email is undefined (Customer has Id, Name); use `| default(...)` if it may be missing"
        );
        assert_eq!(
            explain("Order.Id"),
            "Order is undefined (the Payload has Customer, Points); use `| default(...)` if it may be missing"
        );
        // A source's mapping reads the request's body, not a Payload.
        let source = serde_json::json!({"type": "x", "data": {}, "body": {"type": "x", "data": {}}, "headers": {}});
        let ctx = super::super::values::from_json(&source, &mut Default::default());
        assert_eq!(
            explain_with("event", |name| ctx.get_attr(name).ok()),
            "event is undefined (the body has type, data); use `| default(...)` if it may be missing"
        );
    }

    /// The render error of a subscription whose body is `body` (or the file `t.j2`).
    fn body_error(body: Option<serde_json::Value>, file: Option<&str>, payload: serde_json::Value) -> String {
        use crate::render::{BodyFormat, Delimiters, RequestSpec, RequestTemplate, TemplateFiles};
        let files: TemplateFiles =
            std::sync::Arc::new(file.map(|f| ("t.j2".to_string(), f.to_string())).into_iter().collect());
        let template = RequestTemplate::compile(RequestSpec {
            url: "http://h.example/",
            ping_url: None,
            headers: &[],
            body: body.as_ref(),
            body_template: file.map(|_| "t.j2"),
            body_format: BodyFormat::Json,
            filter: None,
            delimiters: &Delimiters::default(),
            files,
        })
        .unwrap();
        let event = crate::event::parse(serde_json::json!({"Topic": "T", "Payload": payload}).to_string().as_bytes());
        template.render(&crate::render::context(&event.unwrap())).unwrap_err()
    }

    #[test]
    fn a_field_printed_whole_or_handed_to_a_filter_is_named_when_undefined() {
        let payload = serde_json::json!({"Customer": {"Id": 1, "Name": "Ana"}, "Order": {"Id": 2}});
        let email = "Customer.Email is undefined (Customer has Id, Name); use `| default(...)` if it may be missing";
        let cases = [
            (serde_json::json!({"email": "{{ Customer.Email }}"}), email, "request.body.email"),
            (
                serde_json::json!({"a": "{{ Amount | decimal }}"}),
                "Amount is undefined (the Payload has",
                "request.body.a",
            ),
            (serde_json::json!({"a": "{{ Amount | int }}"}), "Amount is undefined (the Payload has", "request.body.a"),
            (serde_json::json!({"a": "{{ Amount }}"}), "Amount is undefined (the Payload has", "request.body.a"),
            (
                serde_json::json!({"u": "{{ Order.Amount | upper }}"}),
                "Order.Amount is undefined (Order has Id)",
                "request.body.u",
            ),
            (serde_json::json!({"m": "x {{ Customer.Email }}"}), email, "request.body.m"),
            (serde_json::json!({"j": "{{ Customer.Email | tojson }}"}), email, "request.body.j"),
            (serde_json::json!({"j": "x {{ Customer.Email | tojson }}"}), email, "request.body.j"),
        ];
        for (body, want, field) in cases {
            let error = body_error(Some(body.clone()), None, payload.clone());
            assert!(error.starts_with(want) && error.contains(field), "{body}: {error}");
        }
        let error = body_error(None, Some(r#"{"e": {{ Customer.Email }}}"#), payload.clone());
        assert!(error.starts_with(email) && error.contains("t.j2 line 1"), "{error}");
        let error = body_error(None, Some(r#"{"e": {{ Customer.Email | tojson(indent=2) }}}"#), payload.clone());
        assert!(error.starts_with(email) && error.contains("t.j2 line 1"), "tojson refuses undefined: {error}");
        let error = body_error(
            None,
            Some("[{% for i in Items %}{{ i.Sku | upper | tojson }},{% endfor %}0]"),
            serde_json::json!({"Items": [{"Sku": "a"}, {"Qty": 1}]}),
        );
        assert!(error.starts_with("i.Sku is undefined; use `| default"), "a loop's variable: {error}");
        let error = body_error(None, Some("{% set c = Customer %}{{ c.Email | tojson }}"), payload.clone());
        assert!(error.starts_with("c.Email is undefined; use"), "a set variable: {error}");
        let macro_call = "{% macro email(c, fallback=none) %}{{ c.Email | tojson }}{% endmacro %}{{ email(Customer) }}";
        let error = body_error(None, Some(macro_call), payload.clone());
        assert!(error.starts_with("c.Email is undefined; use"), "a macro's argument: {error}");
        let error = body_error(None, Some("{\"a\": 1,\n \"u\": {{ Order.Amount | upper }}}"), payload);
        assert!(error.starts_with("Order.Amount is undefined (Order has Id)") && error.contains("line 2"), "{error}");
    }
}
