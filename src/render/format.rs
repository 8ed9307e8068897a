//! Body formats beyond JSON (`request.body_format`): what each sends as Content-Type, how a
//! structured body becomes a form, and how values are escaped into XML.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// How the request body is written and which Content-Type goes with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    /// `body` (a YAML value) or `body_template` (a file writing JSON), sent as JSON.
    #[default]
    Json,
    /// `body`, a mapping of text, numbers and booleans, sent as
    /// `application/x-www-form-urlencoded` (`a=1&b=x%20y`).
    Form,
    /// `body_template` (a file) or `body` (one string), sent as it renders, no escaping.
    Text,
    /// `body_template` (a file) or `body` (one string); inserted values are XML-escaped.
    Xml,
}

impl BodyFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Form => "form",
            Self::Text => "text",
            Self::Xml => "xml",
        }
    }

    /// The Content-Type sent with a body of this format, unless a header sets one.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Form => "application/x-www-form-urlencoded",
            Self::Text => "text/plain; charset=utf-8",
            Self::Xml => "application/xml",
        }
    }
}

/// Why a form field cannot be encoded, or None: only flat values have a form encoding.
pub fn form_value_problem(value: &Json) -> Option<&'static str> {
    match value {
        Json::Array(_) => Some("a list"),
        Json::Object(_) => Some("a map"),
        _ => None,
    }
}

/// `fields` as `application/x-www-form-urlencoded`: keys and values percent-encoded (a space
/// is `%20`), numbers in their own digits, booleans as `true`/`false`, null as empty.
/// Errs naming the field whose value is a list or a map.
pub fn encode_form(fields: &Map<String, Json>) -> Result<String, String> {
    let mut out = String::with_capacity(fields.len() * 16);
    for (key, value) in fields {
        if let Some(what) = form_value_problem(value) {
            return Err(format!(
                "request.body.{key}: rendered {what}; a form value is text, a number or a boolean (body_format: form)"
            ));
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&crate::percent::encode_component(key));
        out.push('=');
        match value {
            Json::String(s) => out.push_str(&crate::percent::encode_component(s)),
            Json::Null => {}
            other => out.push_str(&crate::percent::encode_component(&other.to_string())),
        }
    }
    Ok(out)
}

/// Whether XML 1.0 can carry `c` at all (its `Char` production): not the C0 controls
/// but tab, line feed and carriage return, nor U+FFFE and U+FFFF.
pub fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Appends `text` to `out` with XML's five special characters as entities.
pub fn escape_xml(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_encodes_flat_values_and_refuses_nested_ones() {
        let fields = serde_json::json!({ "a": 1, "b": "x y", "c&d": "é=+", "t": true, "n": null });
        let form = encode_form(fields.as_object().unwrap()).unwrap();
        assert_eq!(form, "a=1&b=x%20y&c%26d=%C3%A9%3D%2B&t=true&n=");
        let nested = serde_json::json!({ "a": [1] });
        let err = encode_form(nested.as_object().unwrap()).unwrap_err();
        assert!(err.starts_with("request.body.a: rendered a list"), "{err}");
    }

    #[test]
    fn xml_escaping_covers_the_five_special_characters() {
        let mut out = String::new();
        escape_xml(r#"<a & 'b' "c">"#, &mut out);
        assert_eq!(out, "&lt;a &amp; &apos;b&apos; &quot;c&quot;&gt;");
        assert!("a\tb\nc\ré😀".chars().all(allowed_in_xml));
        assert!(['\0', '\u{1}', '\u{B}', '\u{1F}', '\u{FFFE}', '\u{FFFF}'].iter().all(|&c| !allowed_in_xml(c)));
    }
}
