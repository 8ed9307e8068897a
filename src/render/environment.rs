//! The minijinja environment each subscription renders with: strict undefined values,
//! a fuel bound, per-purpose escaping (JSON for bodies, percent-encoding for URLs) and
//! hookshape's extra filters and functions.

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::{AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior, Value};

use super::format::BodyFormat;
use super::syntax::Delimiters;
use super::values::ExactNumbers;

/// Upper bound on the work one render may do (instructions and bytes); see `Environment::set_fuel`.
/// Generous for any real body, small enough that `{% for i in range(10**9) %}` stops quickly.
pub const FUEL: u64 = 200_000;

/// Template names carry their purpose as a prefix, which selects the escaping.
pub const URL_PREFIX: &str = "url:";
pub const TEXT_PREFIX: &str = "text:";
pub const JSON_PREFIX: &str = "json:";
/// An inline `body:` string under `body_format: xml`: inserted values are XML-escaped.
pub const XML_PREFIX: &str = "xml:";
const URL_ESCAPE: &str = "url";
const XML_ESCAPE: &str = "xml";

/// Files under `templates/`, read once per load so that a reload swaps them atomically.
pub type TemplateFiles = Arc<HashMap<String, String>>;

/// The environment deliveries render with: undefined values are errors when printed.
pub fn build(delimiters: &Delimiters, files: TemplateFiles) -> Result<Environment<'static>, Error> {
    build_format(delimiters, files, BodyFormat::Json)
}

/// `build` for a subscription whose body is written in `format`.
pub fn build_format(
    delimiters: &Delimiters,
    files: TemplateFiles,
    format: BodyFormat,
) -> Result<Environment<'static>, Error> {
    build_for(delimiters, files, UndefinedBehavior::SemiStrict, format)
}

pub fn build_with(
    delimiters: &Delimiters,
    files: TemplateFiles,
    undefined: UndefinedBehavior,
) -> Result<Environment<'static>, Error> {
    build_for(delimiters, files, undefined, BodyFormat::Json)
}

/// `build_with` for a subscription whose body format is `format`: files under templates/
/// write that format (JSON values, text as is, or XML-escaped values). One subscription has
/// one body, so every file it includes or imports renders under the same rule.
pub fn build_for(
    delimiters: &Delimiters,
    files: TemplateFiles,
    undefined: UndefinedBehavior,
    format: BodyFormat,
) -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    // minijinja's debug mode is on in debug builds only, and then names an undefined value
    // by itself: off everywhere, so tests see the messages the shipped binary gives.
    env.set_debug(false);
    env.set_undefined_behavior(undefined);
    env.set_fuel(Some(FUEL));
    if *delimiters != Delimiters::default() {
        env.set_syntax(delimiters.syntax()?);
    }
    let file_escape = match format {
        BodyFormat::Json | BodyFormat::Form => AutoEscape::Json,
        BodyFormat::Text => AutoEscape::None,
        BodyFormat::Xml => AutoEscape::Custom(XML_ESCAPE.into()),
    };
    env.set_auto_escape_callback(move |name| {
        if name.starts_with(URL_PREFIX) {
            AutoEscape::Custom(URL_ESCAPE.into())
        } else if name.starts_with(TEXT_PREFIX) {
            AutoEscape::None
        } else if name.starts_with(XML_PREFIX) {
            AutoEscape::Custom(XML_ESCAPE.into())
        } else if name.starts_with(JSON_PREFIX) {
            // Inline typed values produce JSON.
            AutoEscape::Json
        } else {
            // Files under templates/ write the subscription's body format.
            file_escape.clone()
        }
    });
    env.set_formatter(format_value);
    let d = delimiters.clone();
    // Only JSON keeps a printed field's number spelling by position.
    let prepare = if format == BodyFormat::Json { super::source::prepare_json } else { super::source::prepare };
    env.set_loader(move |name| match files.get(name) {
        None => Ok(None),
        // Files under templates/ write bodies (a URL cannot include them).
        Some(source) => {
            prepare(source, &d).map(Some).map_err(|e| Error::new(ErrorKind::SyntaxError, format!("{name}: {e}")))
        }
    });
    super::functions::register(&mut env);
    Ok(env)
}

fn format_value(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    let table = ExactNumbers::in_state(state);
    let exact = table.as_ref().and_then(|t| t.downcast_ref::<ExactNumbers>());
    // Decided by the template, not the auto-escape flag, so `{% autoescape false %}` cannot
    // turn it off; even `|safe` values are encoded: nothing from an event may shape the URL.
    if state.name().starts_with(URL_PREFIX) {
        let text = super::url::value_text(value, exact)?;
        return out.write_str(&super::url::encode_value(&text)).map_err(Error::from);
    }
    if matches!(state.auto_escape(), AutoEscape::Json) && !value.is_safe() && value.as_str().is_none() {
        // Numbers, lists and maps as JSON, each number in its original digits.
        let json = super::values::to_json(value, exact)?;
        return out.write_str(&json.to_string()).map_err(Error::from);
    }
    if matches!(state.auto_escape(), AutoEscape::Custom(name) if name == XML_ESCAPE) {
        return write_xml(out, value, exact);
    }
    if let Some(text) = super::values::number_text(value, exact) {
        return out.write_str(&text).map_err(Error::from);
    }
    minijinja::escape_formatter(out, state, value)
}

/// A value printed into XML: escaped unless marked `|safe`, numbers in their own digits.
fn write_xml(out: &mut Output, value: &Value, exact: Option<&ExactNumbers>) -> Result<(), Error> {
    let text = super::values::number_text(value, exact).unwrap_or_else(|| value.to_string());
    if value.is_safe() {
        return out.write_str(&text).map_err(Error::from);
    }
    if let Some(c) = text.chars().find(|&c| !super::format::allowed_in_xml(c)) {
        // An entity does not help: XML 1.0 has no way to write these at all.
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("the value holds U+{:04X}, which XML 1.0 cannot carry (body_format: xml)", c as u32),
        ));
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    super::format::escape_xml(&text, &mut escaped);
    out.write_str(&escaped).map_err(Error::from)
}

/// Renders template `name`, turning a panic anywhere inside (a filter, chrono, minijinja)
/// into a render error: one event's data must never take a request or a worker down.
pub fn render_guarded(env: &Environment<'static>, name: &str, ctx: &Value) -> Result<String, String> {
    let run =
        || env.get_template(name).and_then(|t| t.render(ctx)).map_err(|e| super::undefined::render_error(env, &e, ctx));
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(format!("the template failed unexpectedly ({why})"))
    })
}
