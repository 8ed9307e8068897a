//! Rendering: turns an event into the request a subscription asks for. No I/O happens
//! here; templates are compiled when subscriptions load, so a broken template is a
//! load error and a render error only ever concerns one event's data.

mod body;
pub mod check;
pub mod clock;
mod compare;
mod context;
pub mod dates;
pub mod environment;
pub mod format;
mod functions;
mod names;
mod numbers;
mod ordering;
mod positions;
#[cfg(test)]
mod reference;
mod source;
pub mod syntax;
mod text;
mod undefined;
pub mod url;
mod value;
pub mod values;
pub mod variables;

use minijinja::{Environment, Value};
use serde_json::Value as Json;

pub use context::{context, context_of};
pub use environment::TemplateFiles;
pub use format::BodyFormat;
pub use syntax::Delimiters;
pub use value::ValueTemplate;

use environment::{TEXT_PREFIX, URL_PREFIX, XML_PREFIX};

/// What a subscription file says about the request, before compilation.
pub struct RequestSpec<'a> {
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub body: Option<&'a Json>,
    pub body_template: Option<&'a str>,
    /// `request.body_format`: how the body is written and its Content-Type.
    pub body_format: BodyFormat,
    pub filter: Option<&'a str>,
    /// `ping.url`: where the enable ping goes instead of `url` (a health route).
    pub ping_url: Option<&'a str>,
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
    /// A structured body, sent as JSON.
    Tree(body::Node),
    /// A `body_template` file that writes JSON.
    File(String),
    /// A structured body, sent form-encoded.
    Form(body::Node),
    /// `body_format: text` or `xml`: the template's output is the body, byte for byte.
    Text(Piece),
}

/// Everything a subscription renders, compiled once per load.
pub struct RequestTemplate {
    env: Environment<'static>,
    url_origin: url::Origin,
    url_rest: Piece,
    /// `ping.url`, compiled under the same rules as the URL.
    ping_url: Option<(url::Origin, Piece)>,
    headers: Vec<(String, Piece)>,
    body: BodyKind,
    /// The Content-Type the body format adds unless a header sets one (not for JSON:
    /// the sender adds that one, so stored JSON requests stay as they were).
    content_type: Option<&'static str>,
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
        let mut env = environment::build_format(d, spec.files.clone(), spec.body_format)
            .map_err(|e| compile_error("delimiters", describe(&e)))?;
        let add = |env: &mut Environment<'static>, name: String, source: &str, field: &str| {
            add_piece(env, d, name, source, field)
        };
        let (url_origin, url_rest) = compile_url(&mut env, d, spec.url, "request.url")?;
        let ping_url = spec.ping_url.map(|u| compile_url(&mut env, d, u, "ping.url")).transpose()?;
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
        let body = compile_body(&mut env, &spec)?;
        let content_type = match (&body, spec.body_format) {
            (BodyKind::None, _) | (_, BodyFormat::Json) => None,
            (_, format) => Some(format.content_type()),
        };
        check::at_load(&env)?;
        Ok(Self { env, url_origin, url_rest, ping_url, headers, body, content_type, filter })
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

    /// The URL alone.
    pub fn render_url(&self, ctx: &Value) -> Result<String, String> {
        let rest = self.piece(&self.url_rest, ctx)?;
        url::finish(&self.url_origin, &rest)
    }

    /// Where the enable ping goes: `ping.url` when the subscription has one, else the URL,
    /// under the same rules (an empty path segment is an error, never a collection URL).
    /// Errs with the field that did not render.
    pub fn render_ping_url(&self, ctx: &Value) -> Result<String, (&'static str, String)> {
        match &self.ping_url {
            Some((origin, rest)) => {
                let rest = self.piece(rest, ctx).map_err(|e| ("ping.url", e))?;
                url::finish(origin, &rest).map_err(|e| ("ping.url", e))
            }
            None => self.render_url(ctx).map_err(|e| ("request.url", e)),
        }
    }

    /// What the URL's userinfo holds that must be masked wherever it could show (the
    /// receiver's answer included: it may echo the Basic credentials it was sent).
    pub fn url_secrets(&self) -> Vec<String> {
        let ping = self.ping_url.iter().flat_map(|(origin, _)| origin.userinfo_secrets());
        self.url_origin.userinfo_secrets().into_iter().chain(ping).collect()
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
        self.render_with_url(url, ctx)
    }

    /// Headers and body for `ctx`, sent to `url` (already rendered: the ping's may differ).
    pub fn render_with_url(&self, url: String, ctx: &Value) -> Result<Rendered, String> {
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, piece) in &self.headers {
            let value = self.piece(piece, ctx)?;
            check_header_value(&value).map_err(|m| format!("header {name}: {m}"))?;
            headers.push((name.clone(), value));
        }
        if let Some(content_type) = self.content_type {
            if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                headers.insert(0, ("Content-Type".to_string(), content_type.to_string()));
            }
        }
        let body = match &self.body {
            BodyKind::None => None,
            BodyKind::Tree(node) => Some(body::render(&self.env, node, ctx)?),
            BodyKind::File(name) => {
                let text = self.render_named(name, ctx)?;
                // Parsed as intake parses, so numbers keep the text the template wrote.
                let value = crate::json::parse_rendered(&text).map_err(|e| match e {
                    crate::json::JsonError::Syntax { line, column, message } => format!(
                        "body_template {name} did not render valid JSON: {message}, at line {line} column {column} of \
                         the rendered text: {}",
                        excerpt(&text, line, column)
                    ),
                    other => format!("body_template {name} did not render valid JSON: {other}"),
                })?;
                Some(value)
            }
            // Not JSON: the bytes are final as they render.
            BodyKind::Form(_) | BodyKind::Text(_) => {
                return Ok(Rendered { url, headers, body: Some(self.render_other_body(ctx)?) })
            }
        };
        let body = body.map(|b| serde_json::to_string(&b)).transpose().map_err(|e| e.to_string())?;
        Ok(Rendered { url, headers, body })
    }

    /// A body that is not JSON: a form's fields encoded, or a text or XML template's output.
    fn render_other_body(&self, ctx: &Value) -> Result<String, String> {
        match &self.body {
            BodyKind::Form(node) => match body::render(&self.env, node, ctx)? {
                Json::Object(fields) => format::encode_form(&fields),
                // Compiled from a mapping, so it renders one.
                _ => Err("request.body: body_format form needs a mapping".into()),
            },
            BodyKind::Text(piece) => self.piece(piece, ctx),
            BodyKind::None | BodyKind::Tree(_) | BodyKind::File(_) => Err("not a text body".into()),
        }
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

/// The body as `spec.body_format` wants it. JSON takes `body` or `body_template`; form a
/// `body` mapping of flat values; text and XML a `body_template` file or a `body` string.
/// Any other combination is a compile error, so a body never goes out in a shape the
/// file did not mean.
fn compile_body(env: &mut Environment<'static>, spec: &RequestSpec<'_>) -> Result<BodyKind, CompileError> {
    let (d, format) = (spec.delimiters, spec.body_format);
    let name = format.as_str();
    match (format, spec.body, spec.body_template) {
        (_, Some(_), Some(_)) => Err(compile_error("request", "give either body or body_template, not both")),
        (BodyFormat::Json, None, None) => Ok(BodyKind::None),
        (_, None, None) => Err(compile_error("request.body_format", format!("{name} needs a body or body_template"))),
        (BodyFormat::Json, Some(tree), None) => {
            check_string_body(tree, spec.headers, d)?;
            Ok(BodyKind::Tree(body::compile(env, tree, "request.body", d)?))
        }
        (BodyFormat::Json, None, Some(file)) => check_file(env, file).map(|()| BodyKind::File(file.to_string())),
        (BodyFormat::Form, Some(Json::Object(fields)), None) => {
            for (key, value) in fields {
                if let Some(what) = format::form_value_problem(value) {
                    let message = format!("{what} has no form encoding: a form value is text, a number or a boolean");
                    return Err(compile_error(format!("request.body.{key}"), message));
                }
            }
            Ok(BodyKind::Form(body::compile(env, &Json::Object(fields.clone()), "request.body", d)?))
        }
        (BodyFormat::Form, Some(_), None) => Err(compile_error("request.body", "body_format form needs a mapping")),
        (BodyFormat::Form, None, Some(_)) => Err(compile_error(
            "request.body_template",
            "body_format form encodes a body mapping; for a body written by hand use body_format text and a Content-Type header",
        )),
        (_, Some(Json::String(text)), None) => {
            let prefix = if format == BodyFormat::Xml { XML_PREFIX } else { TEXT_PREFIX };
            let piece = add_piece(env, d, format!("{prefix}request.body"), text, "request.body")?;
            Ok(BodyKind::Text(piece))
        }
        (_, Some(_), None) => Err(compile_error(
            "request.body",
            format!("body_format {name} sends text: give body_template, or body as one string"),
        )),
        (_, None, Some(file)) => check_file(env, file).map(|()| BodyKind::Text(Piece::Template(file.to_string()))),
    }
}

/// A JSON body that is one string goes out quoted; under a Content-Type that is not JSON
/// (`code=…` for a form receiver) that is never what was meant.
/// Only a literal Content-Type is known at load; a templated one is left to the file.
fn check_string_body(body: &Json, headers: &[(String, String)], d: &Delimiters) -> Result<(), CompileError> {
    let Json::String(_) = body else { return Ok(()) };
    let declared = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v)
        .filter(|v| !d.has_markup(v));
    match declared {
        Some(v) if !v.to_ascii_lowercase().contains("json") => Err(compile_error(
            "request.body",
            format!(
                "a string body is sent as a JSON string, in quotes, but Content-Type is {v:?}: \
                 set body_format: text to send it as it is (or form, with a mapping)"
            ),
        )),
        _ => Ok(()),
    }
}

/// A `body_template` must name a file under templates/ that compiles.
fn check_file(env: &Environment<'static>, file: &str) -> Result<(), CompileError> {
    env.get_template(file).map(|_| ()).map_err(|e| {
        let message = if e.kind() == minijinja::ErrorKind::TemplateNotFound {
            format!("{file:?} is not a file under the templates directory")
        } else {
            describe(&e)
        };
        compile_error("request.body_template", message)
    })
}

/// A literal piece, or the template it compiles to under `name`.
fn add_piece(
    env: &mut Environment<'static>,
    d: &Delimiters,
    name: String,
    source: &str,
    field: &str,
) -> Result<Piece, CompileError> {
    if !d.has_markup(source) {
        return Ok(Piece::Literal(source.to_string()));
    }
    let source = source::prepare(source, d).map_err(|m| compile_error(field, m))?;
    env.add_template_owned(name.clone(), source).map_err(|e| compile_error(field, describe(&e)))?;
    Ok(Piece::Template(name))
}

/// A URL template (`field` names it in errors): the literal origin, and the rest compiled
/// under the URL prefix, so every value it inserts is percent-encoded.
fn compile_url(
    env: &mut Environment<'static>,
    d: &Delimiters,
    url: &str,
    field: &str,
) -> Result<(url::Origin, Piece), CompileError> {
    let parts = url::split(url, d).map_err(|m| compile_error(field, m))?;
    if source::uses_other_templates(&parts.rest, d) {
        // Another template would render under its own name, outside the URL's encoding.
        return Err(compile_error(field, "a URL cannot include, import or extend other templates"));
    }
    let rest = add_piece(env, d, format!("{URL_PREFIX}{field}"), &parts.rest, field)?;
    Ok((parts.origin, rest))
}

/// The rendered text around `line`:`column` (what the user never saw), marked `⟨here⟩`.
fn excerpt(text: &str, line: usize, column: usize) -> String {
    const BEFORE: usize = 40;
    const AFTER: usize = 20;
    let row = text.split('\n').nth(line.saturating_sub(1)).unwrap_or_default();
    let mut at = column.saturating_sub(1).min(row.len());
    while !row.is_char_boundary(at) {
        at -= 1;
    }
    let (head, tail) = row.split_at(at);
    let head_chars = head.chars().count();
    let head: String = head.chars().skip(head_chars.saturating_sub(BEFORE)).collect();
    let cut = if head_chars > BEFORE { "…" } else { "" };
    let more = if tail.chars().count() > AFTER { "…" } else { "" };
    let tail: String = tail.chars().take(AFTER).collect();
    format!("`{cut}{head}⟨here⟩{tail}{more}`")
}

/// A header value may not smuggle a second header or end the header block.
pub fn check_header_value(value: &str) -> Result<(), String> {
    if value.contains(['\r', '\n', '\0']) {
        return Err("a header value may not contain CR, LF or NUL".into());
    }
    reqwest::header::HeaderValue::from_str(value).map(|_| ()).map_err(|_| "not a valid header value".into())
}

/// Where `abort(reason)` puts its reason in the error it raises.
const ABORT_MARK: &str = "hookshape-abort:";
const ABORTED: &str = "aborted: ";

/// The reason, when a render error is a template's `abort(reason)`: the event is not for
/// this subscription (no delivery), which is not a failure.
pub fn aborted(error: &str) -> Option<&str> {
    error.strip_prefix(ABORTED)
}

/// A template error as one line, with the template (the subscription field) and line.
pub fn describe(e: &minijinja::Error) -> String {
    if let Some(reason) = e.detail().and_then(|d| d.strip_prefix(ABORT_MARK)) {
        return format!("{ABORTED}{reason}");
    }
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

    fn compile(url: &str, ping_url: Option<&str>) -> RequestTemplate {
        let spec = RequestSpec {
            url,
            headers: &[],
            body: None,
            body_template: None,
            body_format: BodyFormat::Json,
            filter: None,
            ping_url,
            delimiters: &Delimiters::default(),
            files: TemplateFiles::default(),
        };
        RequestTemplate::compile(spec).unwrap()
    }

    #[test]
    fn the_ping_url_follows_the_urls_rules_and_never_falls_back_to_a_collection() {
        let ping = |payload: serde_json::Value| {
            context(&crate::event::Event {
                uuid: "u".into(),
                date: "2026-12-05T00:00:00Z".into(),
                topic: "hookshape.ping".into(),
                payload: payload.as_object().cloned().unwrap_or_default(),
                source_id: None,
            })
        };
        let (empty, with_id) = (ping(serde_json::json!({})), ping(serde_json::json!({ "Id": "a b" })));
        let points = "https://h/customers/{{ Id }}/points";
        // Without ping.url, the subscription's URL: refused when the Payload lacks its data.
        let err = compile(points, None).render_ping_url(&empty).unwrap_err();
        assert_eq!(err.0, "request.url", "{err:?}");
        assert_eq!(compile(points, None).render_ping_url(&with_id).unwrap(), "https://h/customers/a%20b/points");
        // ping.url: a route of its own, with the same encoding and the same refusals.
        let health = compile(points, Some("https://h/health"));
        assert_eq!(health.render_ping_url(&empty).unwrap(), "https://h/health");
        let templated = compile(points, Some("https://h/health/{{ Id }}"));
        assert_eq!(templated.render_ping_url(&with_id).unwrap(), "https://h/health/a%20b");
        let empty_id = ping(serde_json::json!({ "Id": "" }));
        assert_eq!(templated.render_ping_url(&empty_id).unwrap_err().0, "ping.url");
        let delimiters = Delimiters::default();
        let spec = RequestSpec {
            url: points,
            headers: &[],
            body: None,
            body_template: None,
            body_format: BodyFormat::Json,
            filter: None,
            ping_url: Some("https://{{ Host }}/health"),
            delimiters: &delimiters,
            files: TemplateFiles::default(),
        };
        let host = RequestTemplate::compile(spec).unwrap_err();
        assert_eq!(host.field, "ping.url", "{host}");
    }
}
