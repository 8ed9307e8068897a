//! URL templates: the scheme and host must be literal (checked at load), and every
//! value a template inserts is percent-encoded so it stays inside one path segment or
//! one query value; a path segment made of an empty value is an error, never a `//`.

use minijinja::{Error, Value};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::environment::Delimiters;

/// Everything but RFC 3986's unreserved characters is encoded: `/ ? # & = +` included.
pub const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub fn encode_component(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

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
        return Err(super::environment::invalid("an undefined value cannot be put in a URL"));
    }
    match value.kind() {
        minijinja::value::ValueKind::Map | minijinja::value::ValueKind::Seq => {
            Err(super::environment::invalid("a list or object cannot be put in a URL; pick one of its fields"))
        }
        _ if value.is_none() => Ok(String::new()),
        _ => Ok(value.to_string()),
    }
}

/// A URL template split into its literal origin (`https://host:port`) and the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlParts {
    pub origin: String,
    pub rest: String,
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
    Ok(UrlParts { origin, rest: rest.to_string() })
}

/// Checks a rendered URL: it must parse, keep its origin, no path segment may be made of an
/// empty value, and no segment made by a value may be `.` or `..` (percent-encoding cannot
/// protect those; URL parsers resolve them).
pub fn finish(origin: &str, rendered_rest: &str) -> Result<String, String> {
    let path_end = rendered_rest.find(['?', '#']).unwrap_or(rendered_rest.len());
    let path = &rendered_rest[..path_end];
    for segment in path.split('/') {
        if !segment.is_empty() && segment.chars().all(|c| c == EMPTY_VALUE) {
            return Err("a URL path segment rendered empty (an empty string, null, or a default of ''): \
                        the request would go to another resource"
                .into());
        }
    }
    let rendered_rest = rendered_rest.replace(EMPTY_VALUE, "");
    let path = &rendered_rest[..rendered_rest.find(['?', '#']).unwrap_or(rendered_rest.len())];
    for segment in path.split('/') {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        if decoded == "." || decoded == ".." {
            return Err(format!("the URL path has a {segment:?} segment, which would change the path"));
        }
    }
    let full = format!("{origin}{rendered_rest}");
    let parsed = url::Url::parse(&full).map_err(|e| format!("rendered URL {full:?} is not valid: {e}"))?;
    Ok(parsed.to_string())
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
        assert_eq!(ok.origin, "https://crm.example.com:8443");
        assert_eq!(ok.rest, "/c/{{ Customer.Id }}?a=1");
        assert_eq!(split("http://h", &d).unwrap().rest, "");
        for bad in ["https://{{ host }}/x", "{{ base }}/x", "https://a{{ b }}.com/", "ftp://h/x", "crm.example.com/x"] {
            assert!(split(bad, &d).is_err(), "{bad}");
        }
    }

    #[test]
    fn finish_rejects_dot_segments() {
        assert_eq!(finish("http://h", "/a/b?c=d").unwrap(), "http://h/a/b?c=d");
        assert!(finish("http://h", "/a/../b").is_err());
        assert!(finish("http://h", "/a/%2E%2e/b").is_err());
        assert!(finish("http://h", "/a/./b").is_err());
        let empty = encode_value("");
        assert!(finish("http://h", &format!("/customers/{empty}")).is_err(), "DELETE /customers/ never goes");
        assert!(finish("http://h", &format!("/customers/{empty}/points")).is_err());
        assert_eq!(finish("http://h", &format!("/c/id-{empty}")).unwrap(), "http://h/c/id-");
        assert_eq!(finish("http://h", &format!("/c?q={empty}&r=1")).unwrap(), "http://h/c?q=&r=1");
    }
}
