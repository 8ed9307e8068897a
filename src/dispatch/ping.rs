//! The signed ping sent before a subscription is enabled: Topic `hookshape.ping`, the
//! subscription's method, headers and signature; with `ping.payload`, rendered through the
//! subscription's own templates; to `ping.url` when it has one. The ping's URL follows the
//! deliveries' rules: one that does not render from the ping's Payload (an empty path
//! segment) is refused, never sent to a collection URL. Only a 2xx answer enables it.

use std::time::Duration;

use super::retry::AttemptResult;
use super::sender::{self, Sent};
use crate::event::Event;
use crate::store::{Leased, Store, StoredRequest};
use crate::subscription::Subscription;

pub const PING_TOPIC: &str = "hookshape.ping";

/// The ping, sent on a turn of the subscription's rate limit when it has one: to the
/// receiver it is one more request, and the held deliveries that enabling releases take
/// the turns after it.
pub async fn ping(client: &sender::HttpClient, store: &dyn Store, sub: &Subscription) -> Sent {
    let event = Event {
        uuid: uuid::Uuid::new_v4().to_string(),
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        topic: PING_TOPIC.into(),
        payload: sub.ping_payload.clone().unwrap_or_default(),
        source_id: None,
    };
    let request = match request(sub, &event) {
        Ok(request) => request,
        Err(why) => {
            let result = AttemptResult::Refused(sub.secrets.mask(&why));
            return Sent { result, response_body: None, duration_ms: 0, unreachable: false };
        }
    };
    let leased = Leased {
        id: format!("ping_{}", uuid::Uuid::new_v4().simple()),
        event_uuid: event.uuid.clone(),
        subscription: sub.name.clone(),
        topic: PING_TOPIC.into(),
        attempt: 1,
        send_by: i64::MAX,
        lease_until: i64::MAX,
        request,
    };
    let not_sent = || {
        let result = AttemptResult::Error(format!(
            "not sent: no turn of the rate limit came within {}; try again",
            crate::duration::format(LONGEST_TURN_WAIT)
        ));
        Sent { result, response_body: None, duration_ms: 0, unreachable: false }
    };
    let turn = |by| async move {
        match sub.rate_limit {
            Some(limit) => super::pace::turn_for_resend(store, &sub.name, limit, by).await,
            None => true,
        }
    };
    // Longer than the request's timeout (a turn a minute must not fail the ping), but not
    // so long that the enable's HTTP request waits for an hour.
    if !turn(tokio::time::Instant::now() + LONGEST_TURN_WAIT).await {
        return not_sent();
    }
    sender::send(client, &leased, sub, turn).await.unwrap_or_else(not_sent)
}

/// The longest the ping waits for a turn of the rate limit.
const LONGEST_TURN_WAIT: Duration = Duration::from_secs(60);

/// The ping's request, or why it is not sent (unmasked: the caller masks it).
fn request(sub: &Subscription, event: &Event) -> Result<StoredRequest, String> {
    let ctx = crate::render::context(event);
    let url = sub.template.render_ping_url(&ctx).map_err(|(field, e)| {
        format!(
            "not sent: {field} did not render from the ping's Payload ({e}); give ping.payload the fields \
             {field} uses, or set ping.url to a route the ping can go to"
        )
    })?;
    match &sub.ping_payload {
        // Rendered like any delivery, so it arrives in the receiver's own envelope.
        Some(_) => sub
            .template
            .render_with_url(url, &ctx)
            .map(|rendered| crate::accept::stored_request(sub, rendered))
            .map_err(|e| format!("the ping did not render from ping.payload: {e}")),
        None => Ok(canonical_ping(sub, event, &ctx, url)),
    }
}

/// Without `ping.payload`: the canonical envelope, with the headers that render.
fn canonical_ping(sub: &Subscription, event: &Event, ctx: &minijinja::Value, url: String) -> StoredRequest {
    StoredRequest {
        method: sub.method.as_str().into(),
        url,
        headers: sub.template.render_headers_lenient(ctx),
        body: Some(event.envelope_json()),
        sensitive: sub.sensitive_headers.clone(),
        masked: sub.masked_values.clone(),
    }
}

/// A ping's result in words, for the API's answer.
pub fn describe(sent: &Sent) -> String {
    match &sent.result {
        AttemptResult::Status { code, .. } => format!("the ping was answered {code}"),
        AttemptResult::Error(e) | AttemptResult::Refused(e) => format!("the ping failed: {e}"),
    }
}
