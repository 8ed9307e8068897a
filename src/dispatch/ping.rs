//! The signed ping sent before a subscription is enabled: Topic `hookshape.ping`, the
//! subscription's method, headers and signature; with `ping.payload`, rendered through the
//! subscription's own templates. Only a 2xx answer enables it.

use super::retry::AttemptResult;
use super::sender::{self, Sent};
use crate::event::Event;
use crate::store::{Leased, StoredRequest};
use crate::subscription::Subscription;

pub const PING_TOPIC: &str = "hookshape.ping";

pub async fn ping(client: &sender::HttpClient, sub: &Subscription) -> Sent {
    let event = Event {
        uuid: uuid::Uuid::new_v4().to_string(),
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        topic: PING_TOPIC.into(),
        payload: sub.ping_payload.clone().unwrap_or_default(),
        source_id: None,
    };
    let ctx = crate::render::context(&event);
    let request = match &sub.ping_payload {
        // Rendered like any delivery, so it arrives in the receiver's own envelope.
        Some(_) => match sub.template.render(&ctx) {
            Ok(rendered) => crate::accept::stored_request(sub, rendered),
            Err(e) => {
                let why = sub.secrets.mask(&format!("the ping did not render from ping.payload: {e}"));
                return Sent {
                    result: AttemptResult::Error(why),
                    response_body: None,
                    duration_ms: 0,
                    unreachable: false,
                };
            }
        },
        None => canonical_ping(sub, &event, &ctx),
    };
    let leased = Leased {
        id: format!("ping_{}", uuid::Uuid::new_v4().simple()),
        event_uuid: event.uuid.clone(),
        subscription: sub.name.clone(),
        topic: PING_TOPIC.into(),
        attempt: 1,
        send_by: i64::MAX,
        request,
    };
    sender::send(client, &leased, sub).await
}

/// Without `ping.payload`: the canonical envelope, to the URL as far as it renders without
/// event data, with the headers that render.
fn canonical_ping(sub: &Subscription, event: &Event, ctx: &minijinja::Value) -> StoredRequest {
    let url = sub.template.render_url(ctx).unwrap_or_else(|_| sub.template.literal_url_prefix().to_string());
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
