//! Structured bodies: a YAML value whose strings are templates, rendered leaf by leaf.
//! A string that is exactly one `{{ expr }}` keeps the JSON type of its value.

use minijinja::value::ValueKind;
use minijinja::{Environment, Value};
use serde_json::Value as Json;

use super::environment::{JSON_PREFIX, TEXT_PREFIX};
use super::syntax::Delimiters;
use super::values::{to_json, ExactNumbers};

/// A compiled body tree. Leaves without markup are kept as literals and cost nothing to render.
#[derive(Debug)]
pub enum Node {
    Literal(Json),
    /// A string with markup: rendered as text (template name).
    Text(String),
    /// Exactly one `{{ expr }}`: rendered as JSON and parsed back (template name). When the
    /// expression is a plain dotted name (`{{ Customer.Id }}`, the common case), its value
    /// is looked up directly instead; the template stays as the fallback that reports a
    /// missing value exactly as any other template would.
    Typed {
        template: String,
        name: Option<Vec<String>>,
    },
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

/// Adds every templated leaf of `value` to `env`, named after its path (`request.body.points`).
pub fn compile(
    env: &mut Environment<'static>,
    value: &Json,
    path: &str,
    d: &Delimiters,
) -> Result<Node, super::CompileError> {
    Ok(match value {
        Json::String(s) if d.has_markup(s) => {
            let single = is_single_expression(s, d);
            let template = format!("{}{path}", if single { JSON_PREFIX } else { TEXT_PREFIX });
            let prepare = if single { super::source::prepare_json } else { super::source::prepare };
            let source = prepare(s, d).map_err(|m| super::compile_error(path, m))?;
            env.add_template_owned(template.clone(), source)
                .map_err(|e| super::compile_error(path, super::describe(&e)))?;
            if single {
                Node::Typed { template, name: plain_name(s, d) }
            } else {
                Node::Text(template)
            }
        }
        Json::Array(items) => Node::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| compile(env, v, &format!("{path}[{i}]"), d))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(map) => Node::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), compile(env, v, &format!("{path}.{k}"), d)?)))
                .collect::<Result<_, super::CompileError>>()?,
        ),
        other => Node::Literal(other.clone()),
    })
}

fn is_single_expression(s: &str, d: &Delimiters) -> bool {
    let t = s.trim();
    let (open, close) = (&d.variable.0, &d.variable.1);
    t.starts_with(open.as_str())
        && t.ends_with(close.as_str())
        && t.matches(open.as_str()).count() == 1
        && !t.contains(d.block.0.as_str())
}

/// The segments of `{{ A.b.C }}` when that is all the expression is; None for anything
/// else (filters, calls, literals, keywords), which only the template can evaluate.
fn plain_name(s: &str, d: &Delimiters) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix(d.variable.0.as_str())?.strip_suffix(d.variable.1.as_str())?;
    let inner = inner.trim_matches(|c: char| c.is_whitespace() || c == '-');
    let identifier = |seg: &str| {
        let mut chars = seg.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let segments: Vec<String> = inner.split('.').map(str::to_string).collect();
    let keyword = matches!(inner, "true" | "false" | "none" | "True" | "False" | "None");
    (!keyword && segments.iter().all(|seg| identifier(seg))).then_some(segments)
}

/// The value at a dotted name in the context, if every step of it is defined. A number
/// takes its own text from the list or map that holds it: that is its position.
fn look_up(ctx: &Value, name: &[String]) -> Option<Json> {
    let (mut parent, mut value) = (ctx.clone(), ctx.clone());
    for segment in name {
        let next = value.get_attr(segment).ok().filter(|v| !v.is_undefined())?;
        parent = std::mem::replace(&mut value, next);
    }
    if let (Some(last), ValueKind::Number) = (name.last(), value.kind()) {
        if let Some(text) = super::context::spelling_at(&parent, &Value::from(last.as_str())) {
            return Some(Json::Number(crate::json::exact_number(text.to_string())));
        }
    }
    let table = ExactNumbers::in_context(ctx);
    to_json(&value, table.as_ref().and_then(|t| t.downcast_object_ref::<ExactNumbers>())).ok()
}

pub fn render(env: &Environment<'static>, node: &Node, ctx: &Value) -> Result<Json, String> {
    let render_named = |name: &str| super::environment::render_guarded(env, name, ctx);
    Ok(match node {
        Node::Literal(v) => v.clone(),
        Node::Text(name) => Json::String(render_named(name)?),
        // A macro's output is markup, not JSON: such a leaf stays the string it printed.
        Node::Typed { template, name } => match name.as_deref().and_then(|n| look_up(ctx, n)) {
            Some(value) => value,
            None => {
                let text = render_named(template)?;
                crate::json::parse_rendered(&text).unwrap_or(Json::String(text))
            }
        },
        Node::Array(items) => Json::Array(items.iter().map(|n| render(env, n, ctx)).collect::<Result<_, _>>()?),
        Node::Object(fields) => Json::Object(
            fields.iter().map(|(k, n)| Ok((k.clone(), render(env, n, ctx)?))).collect::<Result<_, String>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::syntax::Delimiters;

    #[test]
    fn only_plain_dotted_names_are_looked_up_directly() {
        let d = Delimiters::default();
        let name = |s: &str| plain_name(s, &d);
        assert_eq!(name("{{ Customer.Id }}"), Some(vec!["Customer".to_string(), "Id".to_string()]));
        assert_eq!(name(" {{-Points-}} "), Some(vec!["Points".to_string()]));
        for not_plain in
            ["{{ Points | int }}", "{{ now() }}", "{{ none }}", "{{ Items[0] }}", "{{ 1.5 }}", "{{ a..b }}"]
        {
            assert_eq!(name(not_plain), None, "{not_plain}");
        }
    }

    #[test]
    fn a_looked_up_value_keeps_its_json_type_and_a_missing_one_is_none() {
        let json = serde_json::json!({ "Customer": { "Id": 7, "Tags": ["a"] }, "Name": "Zoë" });
        let ctx = crate::render::values::from_json(&json, &mut ExactNumbers::default());
        let at = |path: &[&str]| look_up(&ctx, &path.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(at(&["Customer", "Id"]), Some(serde_json::json!(7)));
        assert_eq!(at(&["Customer", "Tags"]), Some(serde_json::json!(["a"])));
        assert_eq!(at(&["Name"]), Some(serde_json::json!("Zoë")));
        assert_eq!(at(&["Customer", "Email"]), None);
        assert_eq!(at(&["Name", "Length"]), None);
    }

    #[test]
    fn a_looked_up_number_keeps_the_spelling_of_its_own_position() {
        let payload = r#"{"a":1234.50,"b":1234.5,"n":{"c":1e2,"d":100.0,"e":[1.0E-7]},"Topic":2.50}"#;
        let event = crate::event::Event {
            uuid: "u".into(),
            date: "2026-01-01T00:00:00Z".into(),
            topic: "T".into(),
            payload: match crate::json::parse(payload.as_bytes()).unwrap() {
                Json::Object(map) => map,
                _ => unreachable!(),
            },
            source_id: None,
        };
        let ctx = crate::render::context(&event);
        let at = |path: &[&str]| {
            let json = look_up(&ctx, &path.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
            serde_json::to_string(&json).unwrap()
        };
        assert_eq!(at(&["a"]), "1234.50");
        assert_eq!(at(&["b"]), "1234.5");
        assert_eq!(at(&["Payload", "a"]), "1234.50");
        assert_eq!(at(&["event", "Payload", "b"]), "1234.5");
        assert_eq!(at(&["n", "c"]), "1e2");
        assert_eq!(at(&["n", "d"]), "100.0");
        assert_eq!(at(&["n"]), r#"{"c":1e2,"d":100.0,"e":[1.0E-7]}"#);
        assert_eq!(at(&["Payload", "Topic"]), "2.50");
        assert_eq!(at(&["Topic"]), r#""T""#, "the envelope's Topic, not the payload's number");
    }
}
