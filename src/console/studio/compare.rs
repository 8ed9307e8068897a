//! Each event through the loaded and the edited subscription: the request each would send,
//! as `POST /v1/render` shows it (secrets and signature `***`; nothing is sent), and what
//! changed between the two (method, URL, each header, the body line by line).

use serde::Serialize;

use super::diff::{self, LineDiff};
use super::edit::Compiled;
use super::events::Sample;
use crate::outcome::header_changes;
pub use crate::outcome::{HeaderChange, Outcome};
use crate::secret::Masker;

/// One event's two renderings; a side is None when that version does not compile.
#[derive(Debug, Serialize)]
pub struct Compared {
    pub uuid: String,
    pub stored: bool,
    /// `example: TOPIC #n` for an example of the catalog.
    pub label: Option<String>,
    pub topic: String,
    pub loaded: Option<Outcome>,
    pub edited: Option<Outcome>,
    pub changes: Changes,
}

/// What differs between the loaded and the edited request.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Changes {
    pub any: bool,
    /// Before and after, when they differ.
    pub method: Option<(String, String)>,
    pub url: Option<(String, String)>,
    pub headers: Vec<HeaderChange>,
    /// The bodies (JSON pretty-printed) line by line.
    pub body: LineDiff,
}

/// Every sample through both versions, on one frozen clock (so `now()` and the signature's
/// timestamp are no difference).
pub fn all(loaded: Option<&Compiled>, edited: Option<&Compiled>, samples: &[Sample], masker: &Masker) -> Vec<Compared> {
    let at = chrono::Utc::now();
    crate::render::clock::frozen(Some(at), || samples.iter().map(|s| one(loaded, edited, s, masker)).collect())
}

fn one(loaded: Option<&Compiled>, edited: Option<&Compiled>, sample: &Sample, masker: &Masker) -> Compared {
    let ctx = crate::render::context(&sample.event);
    let outcome = |c: &Compiled| crate::outcome::outcome(&c.set, &c.sub, &sample.event, &ctx, masker, "dlv_studio");
    let loaded = loaded.map(outcome);
    let edited = edited.map(outcome);
    let changes = match (&loaded, &edited) {
        (Some(a), Some(b)) => changes(a, b),
        _ => Changes::default(),
    };
    Compared {
        uuid: sample.uuid.clone(),
        stored: sample.stored,
        label: sample.label.clone(),
        topic: sample.event.topic.clone(),
        loaded,
        edited,
        changes,
    }
}

fn changes(loaded: &Outcome, edited: &Outcome) -> Changes {
    let (
        Outcome::Request { method: m0, url: u0, headers: h0, body: b0 },
        Outcome::Request { method: m1, url: u1, headers: h1, body: b1 },
    ) = (loaded, edited)
    else {
        return Changes { any: loaded != edited, ..Changes::default() };
    };
    let pair = |a: &String, b: &String| (a != b).then(|| (a.clone(), b.clone()));
    let shown = |b: &Option<String>| b.as_deref().map(crate::console::page::pretty_json).unwrap_or_default();
    let mut c = Changes {
        method: pair(m0, m1),
        url: pair(u0, u1),
        headers: header_changes(h0, h1),
        // The bodies are masked already (`outcome`).
        body: diff::lines(&shown(b0), &shown(b1)),
        any: false,
    };
    c.any = c.method.is_some() || c.url.is_some() || !c.headers.is_empty() || c.body.changed;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str, headers: &[(&str, &str)], body: &str) -> Outcome {
        Outcome::Request {
            method: "POST".into(),
            url: url.into(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: Some(body.into()),
        }
    }

    #[test]
    fn the_same_request_is_no_change() {
        let a = request("http://h/1", &[("X-A", "1")], r#"{"a":1}"#);
        assert_eq!(changes(&a, &request("http://h/1", &[("x-a", "1")], r#"{ "a": 1 }"#)), Changes::default());
    }

    #[test]
    fn url_headers_and_body_changes_are_each_named() {
        let a = request("http://h/1", &[("X-A", "1"), ("X-Gone", "g")], r#"{"a":1,"b":2}"#);
        let b = request("http://h/2", &[("X-A", "2"), ("X-New", "n")], r#"{"a":1,"b":3}"#);
        let c = changes(&a, &b);
        assert!(c.any);
        assert_eq!(c.method, None);
        assert_eq!(c.url, Some(("http://h/1".into(), "http://h/2".into())));
        let names: Vec<(&str, Option<&str>, Option<&str>)> =
            c.headers.iter().map(|h| (h.name.as_str(), h.before.as_deref(), h.after.as_deref())).collect();
        assert_eq!(names, [("X-A", Some("1"), Some("2")), ("X-Gone", Some("g"), None), ("X-New", None, Some("n"))]);
        let lines: Vec<(char, &str)> = c.body.hunks[0].iter().map(|l| (l.op, l.text.as_str())).collect();
        assert!(lines.contains(&('-', "  \"b\": 2")) && lines.contains(&('+', "  \"b\": 3")), "{lines:?}");
    }

    #[test]
    fn a_request_that_is_no_longer_sent_is_a_change() {
        let a = request("http://h/1", &[], "{}");
        let c = changes(&a, &Outcome::Skipped { reason: "its filter leaves this event out".into() });
        assert!(c.any && c.url.is_none() && !c.body.changed);
    }
}
