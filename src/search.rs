//! History search: the key paths a subscription declares (`search_keys`), the values an
//! event gives them (indexed with the event), and a search term as people type it.
//!
//! Paths are into the event's Payload, as templates see it (`Customer.Id` is
//! `{{ Customer.Id }}`); `Payload.Customer.Id` means the same. Beside the declared keys every
//! event is indexed by its `SourceId` and by the path of each delivery's URL (whole, and
//! each segment that looks like an id rather than a route word), so support finds `C-1007`
//! in `/customers/C-1007/points` too. Values are compared without case and surrounding
//! spaces.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// The name under which an event's `SourceId` is indexed (`key=SourceId:…`).
pub const SOURCE_ID: &str = "SourceId";
/// The name under which the path of a delivery's URL, and each of its segments, is
/// indexed (`key=url:/customers/C-1007`).
pub const URL_PATH: &str = "url";
/// Longer values are not indexed: nobody types them, and they would bloat the index.
pub const MAX_VALUE_CHARS: usize = 200;
/// The most values one event is indexed by (an array of a thousand items gives 64).
pub const MAX_KEYS_PER_EVENT: usize = 64;

/// A path into the Payload: dot-separated names (`Customer.Email`), checked at load.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyPath {
    /// As written, without a leading `Payload.`.
    name: String,
}

impl KeyPath {
    /// Checks a path as a subscription (or the topic catalog) writes it; the message says
    /// what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let name = text.strip_prefix("Payload.").unwrap_or(text);
        if name.is_empty() {
            return Err(format!("{text:?} is not a path: write the Payload's field, as `Customer.Id`"));
        }
        for segment in name.split('.') {
            if segment.is_empty() {
                return Err(format!("{text:?} has an empty segment: names are separated by single dots"));
            }
            if let Some(c) = segment.chars().find(|c| c.is_whitespace() || "[]:{}\"'".contains(*c)) {
                return Err(format!(
                    "{text:?} contains {c:?}: a path is field names separated by dots (`Customer.Email`)"
                ));
            }
        }
        Ok(Self { name: name.to_string() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The scalar values at this path in `payload`; an array on the way is searched item
    /// by item (`Items.Sku` takes the Sku of every item).
    fn values<'a>(&self, payload: &'a Map<String, Value>, out: &mut Vec<&'a Value>) {
        let mut segments = self.name.split('.');
        let Some(first) = segments.next() else { return };
        if let Some(v) = payload.get(first) {
            descend(v, &segments.collect::<Vec<_>>(), out);
        }
    }
}

fn descend<'a>(value: &'a Value, rest: &[&str], out: &mut Vec<&'a Value>) {
    match (value, rest.split_first()) {
        (Value::Array(items), _) => items.iter().for_each(|i| descend(i, rest, out)),
        (Value::Object(map), Some((name, rest))) => {
            if let Some(v) = map.get(*name) {
                descend(v, rest, out);
            }
        }
        (Value::String(_) | Value::Number(_), None) => out.push(value),
        _ => {}
    }
}

/// One indexed value of an event: the path it came from and the value, both normalised
/// (`normalize`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SearchKey {
    pub path: String,
    pub value: String,
}

/// How values and paths are compared: trimmed, lowercase. None for what is not indexed
/// (empty, or longer than `MAX_VALUE_CHARS`).
pub fn normalize(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty() && text.chars().count() <= MAX_VALUE_CHARS).then(|| text.to_lowercase())
}

/// What one event is indexed by: the values of `paths` in its Payload (the union of the
/// key paths of the subscriptions that took it; the topic catalog adds its own), its
/// `SourceId`, and the path of each URL in `urls` (its deliveries'), whole and by segment.
/// `urls` gives each URL with the secret values it holds: a path holding one is left out,
/// so the index is no oracle for secrets.
pub fn event_keys<'a>(
    payload: &Map<String, Value>,
    paths: impl IntoIterator<Item = &'a KeyPath>,
    source_id: Option<&str>,
    urls: impl IntoIterator<Item = (&'a str, &'a [String])>,
) -> Vec<SearchKey> {
    let mut keys = BTreeSet::new();
    let mut add = |path: &str, value: &str| {
        if let (Some(path), Some(value)) = (normalize(path), normalize(value)) {
            keys.insert(SearchKey { path, value });
        }
    };
    if let Some(id) = source_id {
        add(SOURCE_ID, id);
    }
    for path in paths {
        let mut values = Vec::new();
        path.values(payload, &mut values);
        for v in values {
            match v {
                Value::String(s) => add(path.name(), s),
                other => add(path.name(), &other.to_string()),
            }
        }
    }
    for (url, secrets) in urls {
        let Some(path) = url_path(url) else { continue };
        let holds = |s: &String| {
            (s.chars().count() >= crate::secret::MIN_MASKED_LEN && path.contains(s.as_str()))
                || crate::secret::secret_path(s).is_some_and(|p| path.contains(p))
        };
        if secrets.iter().any(holds) {
            continue;
        }
        add(URL_PATH, path);
        for segment in path.split('/') {
            let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
            if looks_like_an_id(&decoded) {
                add(URL_PATH, &decoded);
            }
        }
    }
    keys.into_iter().take(MAX_KEYS_PER_EVENT).collect()
}

/// Whether a URL path segment is worth an index entry of its own: what support looks for
/// (`C-1007`, `12345`, an email), not the route's words (`customers`, `v1`), which every
/// delivery shares and nobody searches. The whole path is indexed anyway.
fn looks_like_an_id(segment: &str) -> bool {
    segment.chars().count() >= 3 && !segment.chars().all(char::is_alphabetic)
}

/// The path of an absolute URL (`/customers/C-1007` of `https://h/customers/C-1007?x=1`),
/// without parsing the rest: intake does this for every delivery.
fn url_path(url: &str) -> Option<&str> {
    let after_scheme = &url[url.find("://")? + 3..];
    let path = &after_scheme[after_scheme.find('/')?..];
    let end = path.find(['?', '#']).unwrap_or(path.len());
    Some(&path[..end]).filter(|p| *p != "/")
}

/// A search as people type it: a value (`C-1007`), or a path and a value
/// (`Customer.Email:joao@exemplo.com`). Text with a colon is searched both ways, so a
/// value that itself holds a colon is still found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The whole text, as a value under any path.
    pub any: String,
    /// The text split at its first colon, when what precedes it is a path.
    pub qualified: Option<SearchKey>,
}

impl Term {
    /// None for text that cannot match anything (empty, or too long to be indexed).
    pub fn parse(text: &str) -> Option<Self> {
        let any = normalize(text)?;
        let qualified = text.split_once(':').and_then(|(path, value)| {
            let path = KeyPath::parse(path.trim()).ok()?;
            Some(SearchKey { path: normalize(path.name())?, value: normalize(value)? })
        });
        Some(Self { any, qualified })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    fn keys(paths: &[&str], json: &str, source_id: Option<&str>, urls: &[&str]) -> Vec<(String, String)> {
        let paths: Vec<KeyPath> = paths.iter().map(|p| KeyPath::parse(p).unwrap()).collect();
        let none: Vec<String> = Vec::new();
        event_keys(&payload(json), &paths, source_id, urls.iter().map(|u| (*u, &none[..])))
            .into_iter()
            .map(|k| (k.path, k.value))
            .collect()
    }

    #[test]
    fn paths_are_dotted_payload_fields_and_a_bad_one_says_why() {
        assert_eq!(KeyPath::parse("Payload.Customer.Id").unwrap().name(), "Customer.Id");
        assert_eq!(KeyPath::parse("Customer.Id").unwrap().name(), "Customer.Id");
        assert!(KeyPath::parse("Customer..Id").unwrap_err().contains("empty segment"));
        assert!(KeyPath::parse("").is_err());
        assert!(KeyPath::parse("Items[0].Sku").unwrap_err().contains("'['"));
        assert!(KeyPath::parse("Customer Id").is_err());
    }

    #[test]
    fn an_event_is_indexed_by_its_keys_values_its_source_id_and_its_urls_paths() {
        let found = keys(
            &["Customer.Id", "Customer.Email", "Items.Sku", "Missing.Path", "Total"],
            r#"{"Customer": {"Id": "C-1007", "Email": " Joao@Exemplo.com "}, "Items": [{"Sku": "A"}, {"Sku": "B"}], "Total": 12.50}"#,
            Some("evt_9"),
            &["https://crm.test/customers/C-1007/points?x=1", "http://h/", "http://h/r/0/a%40b.co"],
        );
        let want: Vec<(String, String)> = [
            ("customer.email", "joao@exemplo.com"),
            ("customer.id", "c-1007"),
            ("items.sku", "a"),
            ("items.sku", "b"),
            ("sourceid", "evt_9"),
            ("total", "12.50"),
            ("url", "/customers/c-1007/points"),
            ("url", "/r/0/a%40b.co"),
            ("url", "a@b.co"),
            ("url", "c-1007"),
        ]
        .iter()
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect();
        assert_eq!(found, want);
    }

    #[test]
    fn a_url_path_from_a_secret_url_is_not_indexed() {
        let secrets = ["https://hooks.example/services/T000/SlackPathSecret123".to_string()];
        for url in [
            "https://hooks.example/services/T000/SlackPathSecret123",
            "https://hooks.example/services/T000/SlackPathSecret123/c/C-1",
        ] {
            let found = event_keys(&Map::new(), &[], None, [(url, &secrets[..])]);
            assert!(found.is_empty(), "{url}: {found:?}");
        }
        let found = event_keys(&Map::new(), &[], None, [("https://other.example/orders/ORD-12345", &secrets[..])]);
        assert!(!found.is_empty(), "a path the secret does not hold is indexed");
    }

    #[test]
    fn a_url_path_holding_a_secret_is_not_indexed() {
        let secrets = ["s3cr3t-token".to_string()];
        let found = event_keys(&Map::new(), &[], None, [("https://h/hook/s3cr3t-token", &secrets[..])]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_term_with_a_colon_is_searched_as_a_value_and_as_path_and_value() {
        let t = Term::parse("Customer.Email:Joao@Exemplo.com").unwrap();
        assert_eq!(t.any, "customer.email:joao@exemplo.com");
        assert_eq!(t.qualified, Some(SearchKey { path: "customer.email".into(), value: "joao@exemplo.com".into() }));
        assert_eq!(Term::parse(" C-1007 ").unwrap(), Term { any: "c-1007".into(), qualified: None });
        assert_eq!(Term::parse("two words: x").unwrap().qualified, None, "'two words' is no path");
        assert!(Term::parse("  ").is_none());
    }
}
