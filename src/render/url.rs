//! URL templates: the scheme and host must be literal (checked at load), and every
//! value a template inserts is percent-encoded so it stays inside one path segment or
//! one query value; a path segment made of an empty value is an error, never a `//`.

use minijinja::{Error, Value};

use super::syntax::Delimiters;
use crate::percent::encode_component;

/// Stands where a value rendered to nothing, until `finish` knows whether that was a path
/// segment (an error: `DELETE /customers/` must never be sent) or a query value (fine).
/// Encoded values never contain it (a NUL becomes `%00`).
const EMPTY_VALUE: char = '\0';

/// What a value's text becomes in the rendered URL.
pub fn encode_value(text: &str) -> String {
    if text.is_empty() {
        EMPTY_VALUE.to_string()
    } else {
        encode_component(text)
    }
}

/// The text a value contributes to a URL. Structured values have no sensible URL form.
pub fn value_text(value: &Value, exact: Option<&super::values::ExactNumbers>) -> Result<String, Error> {
    if let Some(text) = super::values::number_text(value, exact) {
        return Ok(text);
    }
    if value.is_undefined() {
        return Err(super::syntax::invalid("an undefined value cannot be put in a URL"));
    }
    match value.kind() {
        minijinja::value::ValueKind::Map | minijinja::value::ValueKind::Seq => {
            Err(super::syntax::invalid("a list or object cannot be put in a URL; pick one of its fields"))
        }
        _ if value.is_none() => Ok(String::new()),
        _ => Ok(value.to_string()),
    }
}

/// A URL template split into its literal origin (`https://host:port`) and the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlParts {
    pub origin: Origin,
    pub rest: String,
}

/// A URL's literal origin, as written and as the URL parser writes it back (scheme and
/// host in lower case, no default port, an IDN host in punycode).
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub written: String,
    normalised: String,
    /// What the path written after it allows the rendered one.
    path: PathShape,
}

/// What a written path allows its rendered path: an empty segment (`//`) only where the
/// file writes one itself. A block that renders nothing
/// (`/c/{% if Id %}{{ Id }}{% endif %}/points`) must not make `/c//points`, another
/// resource, any more than an empty value may.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PathShape {
    empty_segments: bool,
}

impl PathShape {
    fn of(rest: &str, delimiters: &Delimiters) -> Self {
        let literal = outside_markup(rest, delimiters);
        let path = &literal[..literal.find(['?', '#']).unwrap_or(literal.len())];
        Self { empty_segments: path.contains("//") }
    }
}

/// `text` with each template tag (`{{ … }}`, `{% … %}`, `{# … #}`) replaced by one
/// `\u{1}`: what the file writes literally, where a tag's own `//` or `#` counts for nothing.
fn outside_markup(text: &str, d: &Delimiters) -> String {
    let tags = [(&d.variable.0, &d.variable.1), (&d.block.0, &d.block.1), (&d.comment.0, &d.comment.1)];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let next = tags.iter().filter_map(|(open, close)| rest.find(open.as_str()).map(|at| (at, open, close))).min();
        let Some((at, open, close)) = next else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..at]);
        out.push('\u{1}');
        let inside = &rest[at + open.len()..];
        rest = inside.find(close.as_str()).map_or("", |end| &inside[end + close.len()..]);
    }
    out
}

impl Origin {
    /// The secret values its userinfo holds, if it has any (`crate::secret::userinfo_secrets`).
    pub fn userinfo_secrets(&self) -> Vec<String> {
        url::Url::parse(&self.written).map(|u| crate::secret::userinfo_secrets(&u)).unwrap_or_default()
    }
}

/// Splits a URL template at load time, refusing templates in the scheme or host.
pub fn split(url: &str, delimiters: &Delimiters) -> Result<UrlParts, String> {
    let Some((scheme, after)) = url.split_once("://") else {
        return Err(format!("url {url:?} must start with http:// or https://"));
    };
    let host_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(host_end);
    let origin = format!("{scheme}://{authority}");
    if delimiters.has_markup(&origin) {
        return Err(format!(
            "url {url:?} has a template in its scheme or host; the host must be literal so event data \
             cannot redirect a delivery (use ${{VAR}} for a host that differs per environment)"
        ));
    }
    let parsed = url::Url::parse(&origin).map_err(|e| format!("url {url:?} is not a valid URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("url {url:?} must be http:// or https:// with a host"));
    }
    // An origin alone parses with the path `/`, which is not the origin's.
    let normalised = parsed.as_str().strip_suffix('/').unwrap_or(parsed.as_str()).to_string();
    let path = PathShape::of(rest, delimiters);
    Ok(UrlParts { origin: Origin { written: origin, normalised, path }, rest: rest.to_string() })
}

/// Checks a rendered URL: it must parse, keep its origin, no path segment may be made of an
/// empty value, and no segment made by a value may be `.` or `..` (percent-encoding cannot
/// protect those; URL parsers resolve them).
pub fn finish(origin: &Origin, rendered_rest: &str) -> Result<String, String> {
    let path_end = rendered_rest.find(['?', '#']).unwrap_or(rendered_rest.len());
    let path = &rendered_rest[..path_end];
    let empty = |segment: &str| !segment.is_empty() && segment.chars().all(|c| c == EMPTY_VALUE);
    if path.split('/').any(empty) {
        // Where, by the path around it: the literal parts name the variable's place.
        let shown: Vec<&str> = path.split('/').map(|s| if empty(s) { "⟨empty⟩" } else { s }).collect();
        return Err(format!(
            "a URL path segment rendered empty (an empty string, null, or a default of ''): {}: \
             the request would go to another resource",
            shown.join("/").replace(EMPTY_VALUE, "")
        ));
    }
    let rendered_rest = rendered_rest.replace(EMPTY_VALUE, "");
    let path = &rendered_rest[..rendered_rest.find(['?', '#']).unwrap_or(rendered_rest.len())];
    if !origin.path.empty_segments && path.contains("//") {
        return Err(format!(
            "a URL path segment rendered empty (a block that rendered nothing): {path}: \
             the request would go to another resource"
        ));
    }
    for segment in path.split('/') {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        if decoded == "." || decoded == ".." {
            return Err(format!("the URL path {path:?} has a {segment:?} segment, which would change the path"));
        }
    }
    if kept_as_is(&rendered_rest) {
        return Ok(format!("{}{rendered_rest}", origin.normalised));
    }
    let full = format!("{}{rendered_rest}", origin.written);
    let parsed = url::Url::parse(&full).map_err(|e| format!("rendered URL {full:?} is not valid: {e}"))?;
    Ok(parsed.to_string())
}

/// Whether the URL parser, given `rest` after a normalised origin, would write it back
/// as it is, so that parsing it again can be skipped (a parse was a sixth of rendering):
/// a path from the root and a query, in ASCII that no part of a URL percent-encodes,
/// `%` only as an escape; no fragment, no backslash, no control character. Dot segments
/// never get here. A property test holds this to the parser.
fn kept_as_is(rest: &str) -> bool {
    let bytes = rest.as_bytes();
    bytes.first() == Some(&b'/')
        && bytes.iter().enumerate().all(|(i, &b)| match b {
            b'%' => bytes.get(i + 1..i + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => true,
            _ => b"-._~!$&()*+,;=:@/?".contains(&b),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_hostile_values_inside_one_component() {
        assert_eq!(encode_component("../admin?x=1#frag"), "..%2Fadmin%3Fx%3D1%23frag");
        assert_eq!(encode_component("a b&c=d+e/é"), "a%20b%26c%3Dd%2Be%2F%C3%A9");
        assert_eq!(encode_component("C-1001_x.y~z"), "C-1001_x.y~z");
    }

    #[test]
    fn split_refuses_templates_in_the_host() {
        let d = Delimiters::default();
        let ok = split("https://crm.example.com:8443/c/{{ Customer.Id }}?a=1", &d).unwrap();
        assert_eq!(ok.origin.written, "https://crm.example.com:8443");
        assert_eq!(ok.rest, "/c/{{ Customer.Id }}?a=1");
        assert_eq!(split("http://h", &d).unwrap().rest, "");
        for bad in ["https://{{ host }}/x", "{{ base }}/x", "https://a{{ b }}.com/", "ftp://h/x", "crm.example.com/x"] {
            assert!(split(bad, &d).is_err(), "{bad}");
        }
    }

    fn origin(written: &str) -> Origin {
        split(written, &Delimiters::default()).unwrap().origin
    }

    #[test]
    fn finish_rejects_dot_segments() {
        let h = &origin("http://h");
        assert_eq!(finish(h, "/a/b?c=d").unwrap(), "http://h/a/b?c=d");
        assert!(finish(h, "/a/../b").is_err());
        assert!(finish(h, "/a/%2E%2e/b").is_err());
        assert!(finish(h, "/a/./b").is_err());
        let empty = encode_value("");
        assert!(finish(h, &format!("/customers/{empty}")).is_err(), "DELETE /customers/ never goes");
        assert!(finish(h, &format!("/customers/{empty}/points")).is_err());
        assert_eq!(finish(h, &format!("/c/id-{empty}")).unwrap(), "http://h/c/id-");
        assert_eq!(finish(h, &format!("/c?q={empty}&r=1")).unwrap(), "http://h/c?q=&r=1");
    }

    #[test]
    fn finish_rejects_empty_segments_the_written_path_does_not_have() {
        let d = Delimiters::default();
        let parts = |url: &str| split(url, &d).unwrap().origin;
        let inner = parts("http://h/c/{% if Id %}{{ Id }}{% endif %}/points");
        assert!(finish(&inner, "/c//points").unwrap_err().contains("rendered empty"));
        assert_eq!(finish(&inner, "/c/7/points").unwrap(), "http://h/c/7/points");
        // A tag's own `//` (integer division) or `#` is no part of the written path.
        let divided = parts("http://h/c/{% if Id %}{{ Id // 100 }}{% endif %}/p{# a # note #}");
        assert!(finish(&divided, "/c//p").is_err());
        // What the file writes itself stays: a `//`, a final `/` written in a block, a root,
        // a fragment's path.
        assert_eq!(finish(&parts("http://h//legacy/{{ Id }}"), "//legacy/7").unwrap(), "http://h//legacy/7");
        let version = parts("http://h/api/{% if V2 %}v2/{% else %}v1/{% endif %}");
        assert_eq!(finish(&version, "/api/v2/").unwrap(), "http://h/api/v2/");
        assert_eq!(finish(&parts("http://h/c/{{ Id }}/"), "/c/7/").unwrap(), "http://h/c/7/");
        assert_eq!(finish(&parts("http://h/{{ Path }}"), "/x").unwrap(), "http://h/x");
        assert_eq!(finish(&parts("http://h/app/#/{{ R }}"), "/app/#/x").unwrap(), "http://h/app/#/x");
        let query = parts("http://h/c/{{ Id }}?q={% if A %}{{ A }}{% endif %}");
        assert_eq!(finish(&query, "/c/7?q=").unwrap(), "http://h/c/7?q=");
        let custom = Delimiters { variable: ("<<".into(), ">>".into()), ..Delimiters::default() };
        let written = split("http://h/c/{% if Id %}<< Id >>{% endif %}/p", &custom).unwrap().origin;
        assert!(finish(&written, "/c//p").is_err());
    }

    #[test]
    fn origins_are_written_back_normalised() {
        assert_eq!(finish(&origin("HTTP://Example.COM:80"), "/a?b=1").unwrap(), "http://example.com/a?b=1");
        assert_eq!(finish(&origin("https://h:443"), "").unwrap(), "https://h/");
        assert_eq!(finish(&origin("https://h:8443"), "?q=1").unwrap(), "https://h:8443/?q=1");
        assert_eq!(finish(&origin("http://bücher.example"), "/x").unwrap(), "http://xn--bcher-kva.example/x");
        assert!(kept_as_is("/a/b;c=d/%41~!?x=1&y=@:/$(*)+,"));
        for rest in ["", "?q", "/a b", "/a\\b", "/a#f", "/%4", "/é", "/a?'", "/a\t"] {
            assert!(!kept_as_is(rest), "{rest:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// What skips the parse must be what the parse would have written.
        #[test]
        fn a_rest_kept_as_is_is_what_the_parser_writes(
            origin_at in 0usize..6,
            // What `split` leaves after an origin, without the empty-value marker.
            rest in proptest::string::string_regex(r#"([/?#][/?#%.a-fA-F0-9 '\\\t\né@:;=&+~`{}|^\[\]"<>-]{0,16})?"#).unwrap(),
        ) {
            let written = ["http://h", "HTTP://H.example:80", "https://h:8443", "http://u:p%20w@h", "http://10.0.0.1", "http://[::1]:9"][origin_at];
            let o = origin(written);
            if let Ok(fast) = finish(&o, &rest) {
                let slow = url::Url::parse(&format!("{written}{rest}")).map(|u| u.to_string());
                proptest::prop_assert_eq!(Ok(fast), slow.map_err(|e| e.to_string()), "rest {:?}", rest);
            }
        }
    }
}
