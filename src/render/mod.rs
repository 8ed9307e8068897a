//! Rendering: turns an event into the request a subscription asks for. No I/O happens
//! here; templates are compiled when subscriptions load, so a broken template is a
//! load error and a render error only ever concerns one event's data.

mod body;
pub mod check;
pub mod clock;
mod context;
pub mod dates;
pub mod environment;
mod functions;
mod source;
pub mod url;
mod value;
pub mod values;

use minijinja::{Environment, Value};
use serde_json::Value as Json;

pub use context::{context, context_of};
pub use environment::{Delimiters, TemplateFiles};
pub use value::ValueTemplate;

use environment::{TEXT_PREFIX, URL_PREFIX};

/// What a subscription file says about the request, before compilation.
pub struct RequestSpec<'a> {
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub body: Option<&'a Json>,
    pub body_template: Option<&'a str>,
    pub filter: Option<&'a str>,
    pub delimiters: &'a Delimiters,
    pub files: TemplateFiles,
}

/// A compile error, with the subscription field it concerns (`request.url`).
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CompileError {
    pub field: String,
    pub message: String,
    /// Where it is when that is in a file under the templates directory.
    pub at: Option<check::TemplateAt>,
}

fn compile_error(field: impl Into<String>, message: impl Into<String>) -> CompileError {
    CompileError { field: field.into(), message: message.into(), at: None }
}

/// The rendered parts of a request (the method is not templated).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// serde_json output: no escaped `/`, no `\u` escapes for non-ASCII.
    pub body: Option<String>,
}

enum Piece {
    Literal(String),
    Template(String),
}

enum BodyKind {
    None,
    Tree(body::Node),
    File(String),
}

/// Everything a subscription renders, compiled once per load.
pub struct RequestTemplate {
    env: Environment<'static>,
    url_origin: url::Origin,
    url_rest: Piece,
    /// The origin and the literal path before the first template (for pings).
    url_literal_prefix: String,
    headers: Vec<(String, Piece)>,
    body: BodyKind,
    filter: Option<String>,
}

impl std::fmt::Debug for RequestTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestTemplate").field("url_origin", &self.url_origin).finish_non_exhaustive()
    }
}

const FILTER_TEMPLATE: &str = "text:filter";

impl RequestTemplate {
    pub fn compile(spec: RequestSpec<'_>) -> Result<Self, CompileError> {
        let d = spec.delimiters;
        let mut env =
            environment::build(d, spec.files.clone()).map_err(|e| compile_error("delimiters", describe(&e)))?;
        let add =
            |env: &mut Environment<'static>, name: String, source: &str, field: &str| -> Result<Piece, CompileError> {
                if !d.has_markup(source) {
                    return Ok(Piece::Literal(source.to_string()));
                }
                let source = source::prepare(source, d).map_err(|m| compile_error(field, m))?;
                env.add_template_owned(name.clone(), source).map_err(|e| compile_error(field, describe(&e)))?;
                Ok(Piece::Template(name))
            };

        let parts = url::split(spec.url, d).map_err(|m| compile_error("request.url", m))?;
        if source::uses_other_templates(&parts.rest, d) {
            // Another template would render under its own name, outside the URL's encoding.
            return Err(compile_error("request.url", "a URL cannot include, import or extend other templates"));
        }
        let url_rest = add(&mut env, format!("{URL_PREFIX}request.url"), &parts.rest, "request.url")?;
        let mut headers = Vec::with_capacity(spec.headers.len());
        for (name, value) in spec.headers {
            let field = format!("request.headers.{name}");
            let piece = add(&mut env, format!("{TEXT_PREFIX}{field}"), value, &field)?;
            if let Piece::Literal(v) = &piece {
                check_header_value(v).map_err(|m| compile_error(&field, m))?;
            }
            headers.push((name.clone(), piece));
        }
        let filter = match spec.filter {
            None => None,
            Some(expr) => {
                env.compile_expression(expr).map_err(|e| compile_error("filter", describe(&e)))?;
                let (open, close) = &d.block;
                let source = format!("{open} if ({expr}) {close}1{open} endif {close}");
                add(&mut env, FILTER_TEMPLATE.into(), &source, "filter")?;
                Some(FILTER_TEMPLATE.to_string())
            }
        };
        let body = match (spec.body, spec.body_template) {
            (Some(_), Some(_)) => return Err(compile_error("request", "give either body or body_template, not both")),
            (Some(tree), None) => BodyKind::Tree(body::compile(&mut env, tree, "request.body", d)?),
            (None, Some(file)) => {
                env.get_template(file).map_err(|e| {
                    let message = if e.kind() == minijinja::ErrorKind::TemplateNotFound {
                        format!("{file:?} is not a file under the templates directory")
                    } else {
                        describe(&e)
                    };
                    compile_error("request.body_template", message)
                })?;
                BodyKind::File(file.to_string())
            }
            (None, None) => BodyKind::None,
        };
        check::at_load(&env)?;
        let url_literal_prefix = literal_prefix(&parts, d);
        Ok(Self { env, url_origin: parts.origin, url_rest, url_literal_prefix, headers, body, filter })
    }

    /// What `validate` finds wrong in the templates for this event (test cases' events):
    /// the checks of `compile`, run where the event's data leads.
    pub fn check(&self, ctxs: &[Value]) -> Vec<CompileError> {
        let dry = check::dry(&self.env);
        let roots = check::roots(&self.env);
        let mut found: Vec<CompileError> = Vec::new();
        for ctx in ctxs {
            for e in check::run(&dry, &roots, ctx) {
                if !found.iter().any(|f| f.message == e.message && f.at == e.at) {
                    found.push(e);
                }
            }
        }
        found
    }

    /// Whether the subscription's `filter` lets this event through (true without a filter).
    pub fn matches(&self, ctx: &Value) -> Result<bool, String> {
        match &self.filter {
            None => Ok(true),
            Some(name) => Ok(self.render_named(name, ctx)? == "1"),
        }
    }

    /// The URL alone; for a ping, whose event lacks the fields a URL may use.
    pub fn render_url(&self, ctx: &Value) -> Result<String, String> {
        let rest = self.piece(&self.url_rest, ctx)?;
        url::finish(&self.url_origin, &rest)
    }

    /// What the URL's userinfo holds that must be masked wherever it could show (the
    /// receiver's answer included: it may echo the Basic credentials it was sent).
    pub fn url_secrets(&self) -> Vec<String> {
        self.url_origin.userinfo_secrets()
    }

    /// The origin and the literal path before the first template: where a ping goes when
    /// the URL cannot be rendered without event data.
    pub fn literal_url_prefix(&self) -> &str {
        &self.url_literal_prefix
    }

    /// Header values that render for `ctx`; the others are left out.
    pub fn render_headers_lenient(&self, ctx: &Value) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter_map(|(name, piece)| {
                let value = self.piece(piece, ctx).ok()?;
                check_header_value(&value).ok()?;
                Some((name.clone(), value))
            })
            .collect()
    }

    pub fn render(&self, ctx: &Value) -> Result<Rendered, String> {
        let url = self.render_url(ctx)?;
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, piece) in &self.headers {
            let value = self.piece(piece, ctx)?;
            check_header_value(&value).map_err(|m| format!("header {name}: {m}"))?;
            headers.push((name.clone(), value));
        }
        let body = match &self.body {
            BodyKind::None => None,
            BodyKind::Tree(node) => Some(body::render(&self.env, node, ctx)?),
            BodyKind::File(name) => {
                let text = self.render_named(name, ctx)?;
                let value: Json = serde_json::from_str(&text).map_err(|e| {
                    format!(
                        "body_template {name} did not render valid JSON (line {} column {}): {e}",
                        e.line(),
                        e.column()
                    )
                })?;
                Some(value)
            }
        };
        let body = body.map(|b| serde_json::to_string(&b)).transpose().map_err(|e| e.to_string())?;
        Ok(Rendered { url, headers, body })
    }

    fn piece(&self, piece: &Piece, ctx: &Value) -> Result<String, String> {
        match piece {
            Piece::Literal(text) => Ok(text.clone()),
            Piece::Template(name) => self.render_named(name, ctx),
        }
    }

    fn render_named(&self, name: &str, ctx: &Value) -> Result<String, String> {
        environment::render_guarded(&self.env, name, ctx)
    }
}

/// Where a ping goes when the URL needs event data: the origin and the path up to the
/// first templated segment (`https://crm/customers/` for `…/customers/{{ Id }}/points`);
/// the literal path when only the query is templated; the whole URL without templates.
fn literal_prefix(parts: &url::UrlParts, d: &Delimiters) -> String {
    let rest = &parts.rest;
    if !d.has_markup(rest) {
        return format!("{}{rest}", parts.origin.written);
    }
    let path = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let starts = [d.variable.0.as_str(), d.block.0.as_str(), d.comment.0.as_str()];
    match starts.iter().filter_map(|s| path.find(s)).min() {
        None => format!("{}{path}", parts.origin.written),
        Some(t) => format!("{}{}", parts.origin.written, path[..t].rfind('/').map_or("", |i| &path[..=i])),
    }
}

/// A header value may not smuggle a second header or end the header block.
pub fn check_header_value(value: &str) -> Result<(), String> {
    if value.contains(['\r', '\n', '\0']) {
        return Err("a header value may not contain CR, LF or NUL".into());
    }
    reqwest::header::HeaderValue::from_str(value).map(|_| ()).map_err(|_| "not a valid header value".into())
}

/// A template error as one line, with the template (the subscription field) and line.
pub fn describe(e: &minijinja::Error) -> String {
    let mut text = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(name) = e.name() {
        let field = name.split_once(':').map_or(name, |(_, rest)| rest);
        text.push_str(&format!(" (in {field}"));
        if let Some(line) = e.line() {
            text.push_str(&format!(" line {line}"));
        }
        text.push(')');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(url: &str, delimiters: Delimiters) -> RequestTemplate {
        let spec = RequestSpec {
            url,
            headers: &[],
            body: None,
            body_template: None,
            filter: None,
            delimiters: &delimiters,
            files: TemplateFiles::default(),
        };
        RequestTemplate::compile(spec).unwrap()
    }

    #[test]
    fn the_ping_url_is_the_literal_prefix_whatever_the_delimiters() {
        let angle = Delimiters { variable: ("<<".into(), ">>".into()), ..Delimiters::default() };
        let cases = [
            ("https://h/c/{{ Id }}/points?x=1", Delimiters::default(), "https://h/c/"),
            ("https://h/c/<< Id >>/points", angle.clone(), "https://h/c/"),
            ("https://h/c/id-{{ Id }}", Delimiters::default(), "https://h/c/"),
            ("https://h/a?id={{ Id }}", Delimiters::default(), "https://h/a"),
            ("https://h/fixed?x=1", Delimiters::default(), "https://h/fixed?x=1"),
            ("https://h/{x}/<< Id >>", angle, "https://h/{x}/"),
        ];
        for (url, d, want) in cases {
            assert_eq!(compile(url, d).literal_url_prefix(), want, "{url}");
        }
    }
}
