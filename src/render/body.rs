//! Structured bodies: a YAML value whose strings are templates, rendered leaf by leaf.
//! A string that is exactly one `{{ expr }}` keeps the JSON type of its value.

use minijinja::{Environment, Value};
use serde_json::Value as Json;

use super::environment::{Delimiters, JSON_PREFIX, TEXT_PREFIX};

/// A compiled body tree. Leaves without markup are kept as literals and cost nothing to render.
#[derive(Debug)]
pub enum Node {
    Literal(Json),
    /// A string with markup: rendered as text (template name).
    Text(String),
    /// Exactly one `{{ expr }}`: rendered as JSON and parsed back (template name).
    Typed(String),
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
            let (prefix, make): (&str, fn(String) -> Node) =
                if is_single_expression(s, d) { (JSON_PREFIX, Node::Typed) } else { (TEXT_PREFIX, Node::Text) };
            let name = format!("{prefix}{path}");
            env.add_template_owned(name.clone(), s.clone())
                .map_err(|e| super::compile_error(path, super::describe(&e)))?;
            make(name)
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

pub fn render(env: &Environment<'static>, node: &Node, ctx: &Value) -> Result<Json, String> {
    let render_named = |name: &str| -> Result<String, String> {
        env.get_template(name).and_then(|t| t.render(ctx)).map_err(|e| super::describe(&e))
    };
    Ok(match node {
        Node::Literal(v) => v.clone(),
        Node::Text(name) => Json::String(render_named(name)?),
        // A macro's output is markup, not JSON: such a leaf stays the string it printed.
        Node::Typed(name) => {
            let text = render_named(name)?;
            serde_json::from_str(&text).unwrap_or(Json::String(text))
        }
        Node::Array(items) => Json::Array(items.iter().map(|n| render(env, n, ctx)).collect::<Result<_, _>>()?),
        Node::Object(fields) => Json::Object(
            fields.iter().map(|(k, n)| Ok((k.clone(), render(env, n, ctx)?))).collect::<Result<_, String>>()?,
        ),
    })
}
