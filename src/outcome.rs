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
    outcome_with_digest(set, sub, event, ctx, masker, id).0
}

/// `outcome`, with a SHA-256 of the request as it would really be sent (secrets and all)
/// when there is one: two requests that show the same but digest differently differ in a
/// secret value, which `diff` can say without showing either.
pub fn outcome_with_digest(
    set: &SubscriptionSet,
    sub: &Subscription,
    event: &Event,
    ctx: &minijinja::Value,
    masker: &Masker,
    id: &str,
) -> (Outcome, Option<[u8; 32]>) {
    if !set.routes(&event.topic).any(|s| s.name == sub.name) {
        return (Outcome::Skipped { reason: format!("its topics do not take {:?}", event.topic) }, None);
    }
    match sub.template.matches(ctx) {
        Ok(true) => {}
        Ok(false) => return (Outcome::Skipped { reason: "its filter leaves this event out".into() }, None),
        Err(e) => match crate::render::aborted(&e) {
            Some(reason) => return (Outcome::Skipped { reason: format!("abort: {}", masker.mask(reason)) }, None),
            None => return (Outcome::Failed { error: masker.mask(&sub.secrets.mask(&format!("filter: {e}"))) }, None),
        },
    }
    match crate::accept::preview(sub, event, ctx, id, Shown::Masked) {
        Ok(request) => {
            let digest = digest(&request);
            let r = request.redacted();
            let headers = r.headers.into_iter().map(|(k, v)| (k, masker.mask(&v))).collect();
            let url = masker.mask(&r.url);
            (Outcome::Request { method: r.method, url, headers, body: r.body.map(|b| masker.mask(&b)) }, Some(digest))
        }
        Err(e) => match crate::render::aborted(&e) {
            Some(reason) => (Outcome::Skipped { reason: format!("abort: {}", masker.mask(reason)) }, None),
            None => (Outcome::Failed { error: masker.mask(&e) }, None),
        },
    }
}

/// Each part of the request, length-prefixed so no two requests run together the same.
fn digest(r: &crate::store::StoredRequest) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    part(r.method.as_bytes());
    part(r.url.as_bytes());
    for (k, v) in &r.headers {
        part(k.to_ascii_lowercase().as_bytes());
        part(v.as_bytes());
    }
    part(r.body.as_deref().unwrap_or_default().as_bytes());
    h.finalize().into()
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
