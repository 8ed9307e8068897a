//! The URL rule (docs/reference/subscription-file.md, Secrets): which parts of the `${VAR}`
//! values in a subscription's URL are shown and which are `***`. Scheme, host, port and
//! path are shown (support needs to see where a delivery went); the userinfo and the values
//! of query parameters that came from a variable are masked, and so is every
//! `${secret:VAR}`, wherever it stands.

use std::ops::Range;

use crate::config_file::Expanded;

/// What one URL's variables give away.
#[derive(Debug, Default, PartialEq)]
pub struct UrlMasking {
    /// Text to show as `***`: secret values whole, the hidden parts of the others.
    pub masked: Vec<String>,
    /// Values that are not secrets in themselves (their hidden parts, if any, are in
    /// `masked`): kept out of the masker of the subscription's texts, so an error naming
    /// the URL shows its host and path.
    pub shown: Vec<String>,
}

/// Applies the rule to `url`, a URL template whose variables were expanded into `x`.
pub fn url_masking(url: &str, x: &Expanded) -> UrlMasking {
    let hidden = hidden_ranges(url);
    let mut out = UrlMasking::default();
    for value in &x.values {
        if x.secrets.contains(value) {
            out.masked.push(value.clone());
            continue;
        }
        let found: Vec<Range<usize>> = url.match_indices(value.as_str()).map(|(at, v)| at..at + v.len()).collect();
        if found.is_empty() {
            // Written otherwise than as itself (markup in it went inside a raw block): where
            // it stands is unknown, so it stays a secret.
            out.masked.push(value.clone());
            continue;
        }
        for span in &found {
            for part in &hidden {
                let (start, end) = (span.start.max(part.start), span.end.min(part.end));
                if start < end {
                    out.masked.push(url[start..end].to_string());
                }
            }
        }
        out.shown.push(value.clone());
    }
    out
}

/// The URL delimiters a `${VAR}` value holds when it moves where the URL's parts begin or
/// end (`/` in a password sends the request to another host, `&` in a query value splits
/// it, `#` makes the rest a fragment), or None. A value that begins a part is the
/// operator's own structure and is exempt: one that starts the authority
/// (`https://${ENDPOINT}`, host and path together), starts with a delimiter (`${PATH}` as
/// `/hooks?key=K`), starts a query parameter (`?${QUERY}`), or is a URL itself. A value
/// that starts inside a part (a password, a path segment, a query value) must not end it.
pub fn shape_breaker(url: &str, x: &Expanded) -> Option<Vec<char>> {
    if !url.contains("://") {
        return None; // not a URL at all: the scheme's own check says so
    }
    let begins_a_part = |v: &str| {
        let Some(before) = url.find(v).map(|at| &url[..at]) else { return false };
        v.contains("://")
            || before.ends_with("://")
            || before.ends_with(['?', '&'])
            // A leading delimiter starts a part, but not right after a password's or a query
            // value's own start (`?channel=${CH}` with `#alerts` would empty the value).
            || (v.starts_with(DELIMITERS) && !before.ends_with(['=', ':']))
    };
    let actual = shape(url);
    // The URL as its author wrote it: the value as opaque text of the same length.
    let moves = |v: &str| shape(&url.replace(v, &"x".repeat(v.len()))) != actual;
    let culprit = x.values.iter().find(|v| !v.is_empty() && !begins_a_part(v) && moves(v))?;
    Some(DELIMITERS.iter().copied().filter(|c| culprit.contains(*c)).collect())
}

/// The characters that end a URL's parts.
const DELIMITERS: &[char] = &['@', '/', '?', '#', '&'];

/// Where a URL's parts are, by byte offset: after the scheme's `://`, the authority's end,
/// the `@` ending the userinfo, the query (after its `?`) and the fragment's `#`.
struct Parts {
    scheme_end: usize,
    authority_end: usize,
    userinfo_end: Option<usize>,
    query: Option<Range<usize>>,
    fragment: Option<usize>,
}

impl Parts {
    fn of(url: &str) -> Self {
        let scheme_end = url.find("://").map_or(0, |i| i + 3);
        let authority_end = url[scheme_end..].find(['/', '?', '#']).map_or(url.len(), |i| scheme_end + i);
        let userinfo_end = url[scheme_end..authority_end].rfind('@').map(|at| scheme_end + at);
        let fragment = url[authority_end..].find('#').map(|i| authority_end + i);
        let query_end = fragment.unwrap_or(url.len());
        let query = url[authority_end..query_end].find('?').map(|q| authority_end + q + 1..query_end);
        Self { scheme_end, authority_end, userinfo_end, query, fragment }
    }

    /// Each query parameter's whole range.
    fn params<'u>(&self, url: &'u str) -> impl Iterator<Item = Range<usize>> + 'u {
        self.query.clone().into_iter().flat_map(move |query| {
            let mut start = query.start;
            url[query].split('&').map(move |param| {
                let range = start..start + param.len();
                start += param.len() + 1;
                range
            })
        })
    }
}

/// Where a URL's parts begin and end: its authority, userinfo, query, each query parameter
/// (whole: a `=` inside a value moves nothing), and its fragment.
fn shape(url: &str) -> (usize, Option<usize>, Option<usize>, Vec<usize>, Option<usize>) {
    let parts = Parts::of(url);
    let params = parts.params(url).map(|p| p.start).collect();
    (parts.authority_end, parts.userinfo_end, parts.query.as_ref().map(|q| q.start), params, parts.fragment)
}

/// The byte ranges of `url` that are never shown: the userinfo, each query parameter's
/// value (a parameter without `=` is all value), and the fragment.
fn hidden_ranges(url: &str) -> Vec<Range<usize>> {
    let parts = Parts::of(url);
    let mut hidden: Vec<Range<usize>> = parts.userinfo_end.map(|at| parts.scheme_end..at).into_iter().collect();
    for param in parts.params(url) {
        let value_start = url[param.clone()].find('=').map_or(param.start, |eq| param.start + eq + 1);
        hidden.push(value_start..param.end);
    }
    if let Some(f) = parts.fragment {
        hidden.push(f + 1..url.len());
    }
    hidden
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(text: &str, values: &[&str], secrets: &[&str]) -> Expanded {
        Expanded {
            text: text.to_string(),
            values: values.iter().map(|s| s.to_string()).collect(),
            used_vars: true,
            placeholders: Vec::new(),
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn check(url: &str, values: &[&str], secrets: &[&str], masked: &[&str], shown: &[&str]) {
        let got = url_masking(url, &expanded(url, values, secrets));
        assert_eq!(got.masked, masked, "masked, in {url}");
        assert_eq!(got.shown, shown, "shown, in {url}");
    }

    #[test]
    fn host_port_and_path_show_userinfo_and_query_values_do_not() {
        let url = "https://u:pw@crm.example:8443/hooks/abc?token=t0k3n&x=1&flag#frag";
        check(url, &["crm.example:8443", "/hooks/abc"], &[], &[], &["crm.example:8443", "/hooks/abc"]);
        check(url, &["pw", "t0k3n", "flag"], &[], &["pw", "t0k3n", "flag"], &["pw", "t0k3n", "flag"]);
        check(url, &["token=t0k3n"], &[], &["t0k3n"], &["token=t0k3n"]);
        check(url, &["frag"], &[], &["frag"], &["frag"]);
        // One variable for the whole URL: its userinfo and query values hidden, the rest shown.
        check(url, &[url], &[], &["u:pw", "t0k3n", "1", "flag", "frag"], &[url]);
    }

    #[test]
    fn a_secret_variable_is_masked_whole_and_one_not_found_stays_secret() {
        let url = "https://chat.example/services/T0/B0/XyZ";
        check(url, &["/services/T0/B0/XyZ"], &["/services/T0/B0/XyZ"], &["/services/T0/B0/XyZ"], &[]);
        check("https://h/{% raw %}{{{% endraw %}x", &["{{x"], &[], &["{{x"], &[]);
    }

    #[test]
    fn a_value_that_moves_the_urls_parts_is_found_and_one_that_fits_is_not() {
        let breaker = |url: &str, values: &[&str]| shape_breaker(url, &expanded(url, values, &[]));
        // The password's '@' and '/' would send the request to host "ss".
        assert_eq!(breaker("http://user:Rp@ss/w0rd@127.0.0.1:1/p?k=v", &["Rp@ss/w0rd"]), Some(vec!['@', '/']));
        // A query value's '&' would split it into two parameters.
        assert_eq!(breaker("http://h/p?k=qk v&al&z=1", &["qk v&al"]), Some(vec!['&']));
        assert_eq!(breaker("http://h/p/a#b", &["a#b"]), Some(vec!['#']));
        // The value that moves them is the one named, not another with a harmless '/'; an
        // '@' alone in a password moves nothing (the last '@' ends the userinfo).
        assert_eq!(breaker("http://u:p/ss@h/a/b", &["a/b", "p/ss"]), Some(vec!['/']));
        assert_eq!(breaker("http://u:p@ss@h/a/b", &["a/b", "p@ss"]), None);
        // Delimiters at a value's end move the parts too.
        assert_eq!(breaker("https://svc:8080/@api.example.com/hook", &["8080/"]), Some(vec!['/']));
        assert_eq!(breaker("https://svc:s3cret#@api.example.com/hook", &["s3cret#"]), Some(vec!['#']));
        assert_eq!(breaker("http://h/p?channel=#alerts", &["#alerts"]), Some(vec!['#']));
        assert_eq!(breaker("http://h/p?q=a&&x=1", &["a&"]), Some(vec!['&']));
        // A value that begins a part is the operator's structure: host and path, host with
        // its userinfo, a path with its query.
        assert_eq!(breaker("https://crm.example.com/api/hooks", &["crm.example.com/api/hooks"]), None);
        assert_eq!(breaker("https://svc:pw@crm.example/hooks", &["svc:pw@crm.example"]), None);
        assert_eq!(breaker("https://h/hooks?key=K&token=T", &["/hooks?key=K&token=T"]), None);
        assert_eq!(breaker("https://h/keys/a?b/x", &["a?b"]), Some(vec!['?']), "inside a path segment");
        // What fits: a host and a path, a path of several segments, a query's "k=v", a
        // whole URL, a value beside a template.
        assert_eq!(breaker("https://crm.example:8443/hooks/abc", &["crm.example:8443", "/hooks/abc"]), None);
        assert_eq!(breaker("http://h/?token=t0k3n&x=1", &["token=t0k3n"]), None);
        assert_eq!(breaker("https://u:pw@h/p?a=1&b=2#f", &["https://u:pw@h/p?a=1&b=2#f"]), None);
        assert_eq!(breaker("http://h/a/{{ Id }}?id={{ Id }}&k=v4lue", &["v4lue"]), None);
        assert_eq!(breaker("http://h/p?a=1&b=2", &["a=1&b=2"]), None, "whole parameters");
        assert_eq!(breaker("https://h/hooks/v1/x", &["/hooks/v1/"]), None, "a path's own slashes");
        assert_eq!(breaker("tok/en&x=1", &["tok/en&x=1"]), None, "no URL at all: the scheme check's to say");
    }

    #[test]
    fn templates_in_the_rest_do_not_move_the_parts() {
        let url = "http://h:1/a/{{ Id }}?id={{ Id }}&k=v4lue";
        check(url, &["http://h:1", "v4lue"], &[], &["v4lue"], &["http://h:1", "v4lue"]);
    }
}
