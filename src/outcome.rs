//! What one subscription does with one event, as intake would route, filter and render it,
//! shown as a person may see it (secrets and signature `***`; nothing is sent), and which
//! headers differ between two such requests. The console's studio and `hookshape diff`
//! both compare two versions of the files through this, so they agree.

use serde::Serialize;

use crate::accept::Shown;
use crate::event::Event;
use crate::secret::Masker;
use crate::subscription::{Subscription, SubscriptionSet};

/// What one version does with an event.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Outcome {
    /// The request it would send.
    Request { method: String, url: String, headers: Vec<(String, String)>, body: Option<String> },
    /// Nothing would be sent: its topics or its filter leave the event out, or `abort()`.
    Skipped { reason: String },
    /// A delivery would be recorded `failed` with this error.
    Failed { error: String },
}

impl Outcome {
    /// Whether intake would record a delivery (sent, or failed to render) for the event.
    pub fn delivered(&self) -> bool {
        !matches!(self, Outcome::Skipped { .. })
    }
}

/// What `sub` (a member of `set`) does with `event`; `id` stands for the delivery id in
/// the headers, so two versions rendered with the same id differ only where they do.
pub fn outcome(
    set: &SubscriptionSet,
    sub: &Subscription,
    event: &Event,
    ctx: &minijinja::Value,
    masker: &Masker,
    id: &str,
) -> Outcome {
    if !set.routes(&event.topic).any(|s| s.name == sub.name) {
        return Outcome::Skipped { reason: format!("its topics do not take {:?}", event.topic) };
    }
    match sub.template.matches(ctx) {
        Ok(true) => {}
        Ok(false) => return Outcome::Skipped { reason: "its filter leaves this event out".into() },
        Err(e) => match crate::render::aborted(&e) {
            Some(reason) => return Outcome::Skipped { reason: format!("abort: {}", masker.mask(reason)) },
            None => return Outcome::Failed { error: masker.mask(&sub.secrets.mask(&format!("filter: {e}"))) },
        },
    }
    match crate::accept::preview(sub, event, ctx, id, Shown::Masked) {
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

/// A header added, removed or changed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HeaderChange {
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Headers added, removed or changed, by name (case-insensitive), in the order sent.
pub fn header_changes(before: &[(String, String)], after: &[(String, String)]) -> Vec<HeaderChange> {
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
