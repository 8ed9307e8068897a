//! Why a delivery is where it is, in facts people read: its render error (template and
//! line), "held: subscription … disabled since …", "receiver unreachable since …, probing"
//! (this node's pause, `dispatch::breaker`), "paused until …" (the receiver's 429 with
//! `Retry-After`), "not loaded" (a subscription removed, its deliveries waiting out the
//! orphan grace), the last attempt's connection error or response. `GET /v1/deliveries/{id}` answers them and the console's delivery page shows them.

use super::answers::{Reason, ReasonKind};
use super::error::ApiError;
use super::ApiState;
use crate::store::{iso, DeliveryDetail, DeliveryStatus};

/// The facts that explain `d`'s state, the most telling first. Reads the subscriptions'
/// states only for a held delivery.
pub(crate) async fn reasons(state: &ApiState, d: &DeliveryDetail) -> Result<Vec<Reason>, ApiError> {
    let s = &d.summary;
    let mut out = Vec::new();
    if s.status == DeliveryStatus::Failed && s.attempts == 0 {
        let kind = if s.url.is_empty() { ReasonKind::RenderError } else { ReasonKind::Failed };
        let text = s.last_error.clone().unwrap_or_else(|| "failed before its first attempt".into());
        out.push(reason(kind, text));
    }
    if s.status == DeliveryStatus::Held {
        out.push(held(state, &s.subscription).await?);
    }
    if matches!(s.status, DeliveryStatus::Pending | DeliveryStatus::InFlight | DeliveryStatus::Held) {
        if super::outcomes::loaded_nowhere(state, &s.subscription).await? {
            let text = format!(
                "subscription {} is not loaded (removed or renamed): nothing sends it; it fails once no node has \
                 had the subscription loaded for --orphan-grace, unless the subscription comes back",
                s.subscription
            );
            out.push(reason(ReasonKind::NotLoaded, text));
        }
        if let Some(u) = state.queue.unreachable.status(&s.subscription, crate::now_ms()) {
            let since = iso(u.since);
            let doing = if u.probing { "probing (one delivery at a time is tried)" } else { "paused" };
            let text = format!("receiver unreachable since {since}, {doing}: deliveries wait until it answers");
            out.push(Reason { since: Some(since), ..reason(ReasonKind::Unreachable, text) });
        }
        if let Some(until) = state.queue.paused.paused_until(&s.subscription, crate::now_ms()) {
            let until = iso(until);
            let text = format!(
                "paused until {until}: the receiver answered 429 with Retry-After; \
                 nothing is sent to subscription {} before then",
                s.subscription
            );
            out.push(Reason { until: Some(until), ..reason(ReasonKind::Paused, text) });
        }
    }
    if let Some(last) = d.attempts.last() {
        out.push(match (last.status_code, &last.error) {
            (Some(code), _) => Reason {
                body: last.response_body.clone(),
                ..reason(ReasonKind::Response, format!("attempt {} was answered {code}", last.attempt))
            },
            (None, error) => reason(
                ReasonKind::ConnectionError,
                // Not always the receiver's silence: a token endpoint's refusal or the egress
                // rules stop a request before it goes, and their words say which.
                format!(
                    "attempt {} ended without a response: {}",
                    last.attempt,
                    error.as_deref().unwrap_or("no response")
                ),
            ),
        });
    }
    Ok(out)
}

/// "held: subscription … disabled since … (why)", from the store's state of it.
async fn held(state: &ApiState, subscription: &str) -> Result<Reason, ApiError> {
    let states = state.store.subscription_states().await.map_err(ApiError::store)?;
    let Some(by) = super::outcomes::held_by(&states, subscription) else {
        let text = format!("held: subscription {subscription} was enabled since; its held deliveries are released");
        return Ok(reason(ReasonKind::Held, text));
    };
    let since = by.disabled_since.clone();
    let mut text = format!("held: subscription {subscription} is disabled");
    if let Some(t) = &since {
        text.push_str(&format!(" since {t}"));
    }
    if let Some(why) = &by.disabled_reason {
        text.push_str(&format!(" ({why})"));
    }
    text.push_str("; enable it to send what waits");
    Ok(Reason { since, ..reason(ReasonKind::Held, text) })
}

/// A reason with only its kind and words.
fn reason(kind: ReasonKind, text: String) -> Reason {
    Reason { kind, text, since: None, until: None, body: None }
}
