//! Each event through the loaded and the edited subscription: the request each would send,
//! as `POST /v1/render` shows it (secrets and signature `***`; nothing is sent), and what
//! changed between the two (method, URL, each header, the body line by line).

use serde::Serialize;

use super::diff::{self, LineDiff};
use super::edit::Compiled;
use super::events::Sample;
use crate::accept::Shown;
use crate::event::Event;
use crate::secret::Masker;

/// What one version does with an event.
#[derive(Debug, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Outcome {
    /// The request it would send.
    Request { method: String, url: String, headers: Vec<(String, String)>, body: Option<String> },
    /// Nothing would be sent: its topics or its filter leave the event out, or `abort()`.
    Skipped { reason: String },
    /// A delivery would be recorded `failed` with this error.
    Failed { error: String },
}

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

#[derive(Debug, Serialize, PartialEq)]
pub struct HeaderChange {
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Every sample through both versions, on one frozen clock (so `now()` and the signature's
/// timestamp are no difference).
pub fn all(loaded: Option<&Compiled>, edited: Option<&Compiled>, samples: &[Sample], masker: &Masker) -> Vec<Compared> {
    let at = chrono::Utc::now();
    crate::render::clock::frozen(Some(at), || samples.iter().map(|s| one(loaded, edited, s, masker)).collect())
}

fn one(loaded: Option<&Compiled>, edited: Option<&Compiled>, sample: &Sample, masker: &Masker) -> Compared {
    let ctx = crate::render::context(&sample.event);
    let loaded = loaded.map(|c| outcome(c, &sample.event, &ctx, masker));
    let edited = edited.map(|c| outcome(c, &sample.event, &ctx, masker));
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

/// What `c` does with `event`: as intake would route, filter and render it.
fn outcome(c: &Compiled, event: &Event, ctx: &minijinja::Value, masker: &Masker) -> Outcome {
    let sub = &c.sub;
    if !c.set.routes(&event.topic).any(|s| s.name == sub.name) {
        return Outcome::Skipped { reason: format!("its topics do not take {:?}", event.topic) };
    }
    match sub.template.matches(ctx) {
        Ok(true) => {}
        Ok(false) => return Outcome::Skipped { reason: "its filter leaves this event out".into() },
        Err(e) => return Outcome::Failed { error: masker.mask(&sub.secrets.mask(&format!("filter: {e}"))) },
    }
    match crate::accept::preview(sub, event, ctx, "dlv_studio", Shown::Masked) {
        Ok(request) => {
            let r = request.redacted();
            let headers = r.headers.into_iter().map(|(k, v)| (k, masker.mask(&v))).collect();
            Outcome::Request {
                method: r.method,
                url: masker.mask(&r.url),
                headers,
                body: r.body.map(|b| masker.mask(&b)),
            }
        }
        Err(e) => match crate::render::aborted(&e) {
            Some(reason) => Outcome::Skipped { reason: format!("abort: {}", masker.mask(reason)) },
            None => Outcome::Failed { error: masker.mask(&e) },
        },
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

/// Headers added, removed or changed, by name (case-insensitive), in the order sent.
fn header_changes(before: &[(String, String)], after: &[(String, String)]) -> Vec<HeaderChange> {
    let find = |list: &[(String, String)], name: &str| {
        list.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    };
    let mut out: Vec<HeaderChange> = before
        .iter()
        .filter_map(|(name, v)| {
            let now = find(after, name);
            (now.as_deref() != Some(v.as_str())).then(|| HeaderChange {
                name: name.clone(),
                before: Some(v.clone()),
                after: now,
            })
        })
        .collect();
    out.extend(after.iter().filter(|(name, _)| find(before, name).is_none()).map(|(name, v)| HeaderChange {
        name: name.clone(),
        before: None,
        after: Some(v.clone()),
    }));
    out
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
