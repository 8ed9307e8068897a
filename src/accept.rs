//! Accepting an event: route it by topic, apply each subscription's filter, render each
//! request. The result is the `NewEvent` the store commits; nothing here does I/O.

use crate::event::Event;
use crate::render::{self, Rendered};
use crate::store::{DeliveryStatus, NewDelivery, NewEvent, StoredRequest};
use crate::subscription::{Mode, Subscription, SubscriptionSet};

/// Builds the event and its deliveries for every enabled subscription that takes it.
/// A render or filter error becomes a `failed` delivery carrying the message; a template's
/// `abort(reason)` means the event is not for that subscription, as a false filter does.
pub fn prepare(event: &Event, set: &SubscriptionSet, received_at: i64) -> NewEvent {
    let ctx = render::context(event);
    let mut key_paths = std::collections::BTreeSet::new();
    let deliveries: Vec<NewDelivery> = set
        .routes(&event.topic)
        .filter(|s| s.enabled)
        .filter_map(|sub| {
            let delivery = delivery_for(sub, &ctx, &set.version)?;
            key_paths.extend(sub.search_keys.iter());
            Some(delivery)
        })
        .collect();
    // The catalog's topics index their events too, whoever takes them.
    for topic in set.catalog.for_event_topic(&event.topic) {
        key_paths.extend(topic.key_paths());
    }
    let urls = deliveries.iter().map(|d| (d.request.url.as_str(), &d.request.masked[..]));
    let keys = crate::search::event_keys(&event.payload, key_paths, event.source_id.as_deref(), urls);
    NewEvent {
        keys,
        schema_problems: Vec::new(),
        uuid: event.uuid.clone(),
        topic: event.topic.clone(),
        date: event.date.clone(),
        received_at,
        body: event.envelope_json(),
        source: None,
        deliveries,
    }
}

/// The delivery `sub` makes of the event in `ctx` (rendered by the subscription set
/// `version`), or None when the event is not for it (its filter, or `abort`). A render or
/// filter error is a `failed` delivery carrying the message. `prepare` makes one per
/// subscription; a resend of a delivery that never rendered makes one again.
pub fn delivery_for(sub: &Subscription, ctx: &minijinja::Value, version: &str) -> Option<NewDelivery> {
    let (status, request, error) = match sub.template.matches(ctx) {
        Ok(false) => return None,
        Err(e) if render::aborted(&e).is_some() => return None,
        Ok(true) => match sub.template.render(ctx) {
            Err(e) if render::aborted(&e).is_some() => return None,
            Ok(rendered) => {
                let status = if sub.mode == Mode::Shadow { DeliveryStatus::Shadow } else { DeliveryStatus::Pending };
                (status, stored_request(sub, rendered), None)
            }
            Err(e) => (DeliveryStatus::Failed, unrendered(sub), Some(sub.secrets.mask(&format!("render failed: {e}")))),
        },
        Err(e) => (DeliveryStatus::Failed, unrendered(sub), Some(sub.secrets.mask(&format!("filter failed: {e}")))),
    };
    Some(NewDelivery {
        id: new_delivery_id(),
        subscription: sub.name.clone(),
        status,
        request,
        error,
        config_version: version.to_string(),
        lease: None,
        needs_activation: sub.delivery.activation == crate::subscription::Activation::Ping,
    })
}

/// Exactly what delivery `id` of `event` would send on its first attempt: method, URL,
/// every header (the always-sent ones, the subscription's, the signature) and the body.
/// `.redacted()` makes it fit to show. `POST /v1/render`, `hookshape render` and
/// `hookshape test` all use this, so they agree with each other and with dispatch.
/// `signature` says whether the signature headers may be shown once redacted: not to an
/// API caller (that would sign any body it picks), yes to the operator's own CLI.
pub fn preview(
    sub: &Subscription,
    event: &Event,
    ctx: &minijinja::Value,
    id: &str,
    signature: Shown,
) -> Result<StoredRequest, String> {
    let mut request = stored_request(sub, sub.template.render(ctx).map_err(|e| sub.secrets.mask(&e))?);
    // The templates' clock, so a test case with a frozen `now` gets the same signature each run.
    let now = crate::render::clock::now().timestamp();
    request.headers = crate::headers::as_sent(crate::headers::headers(id, &event.topic, 1, &request, sub, now));
    if signature == Shown::Masked {
        if let Some(signer) = &sub.signature {
            request.sensitive.push(signer.signature_header().to_ascii_lowercase());
        }
    }
    Ok(request)
}

/// Whether a preview's signature headers are shown or masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Real,
    Masked,
}

/// Time-ordered ids, so the newest-first history needs no extra sort key.
pub fn new_delivery_id() -> String {
    format!("dlv_{}", uuid::Uuid::now_v7().simple())
}

/// Whether `text` has the shape of a delivery id (`new_delivery_id`'s, or a fixed one such
/// as `dlv_render`): a paging cursor that is not one would silently page through nothing.
pub fn is_delivery_id(text: &str) -> bool {
    text.strip_prefix("dlv_").is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub fn stored_request(sub: &Subscription, r: Rendered) -> StoredRequest {
    StoredRequest {
        method: sub.method.as_str().to_string(),
        url: r.url,
        headers: r.headers,
        body: r.body,
        sensitive: sub.sensitive_headers.clone(),
        masked: sub.masked_values.clone(),
    }
}

/// What a delivery whose render failed records as its request: nothing was rendered.
fn unrendered(sub: &Subscription) -> StoredRequest {
    StoredRequest {
        method: sub.method.as_str().to_string(),
        url: String::new(),
        headers: Vec::new(),
        body: None,
        sensitive: Vec::new(),
        masked: Vec::new(),
    }
}
