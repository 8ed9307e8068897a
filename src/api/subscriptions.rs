//! `GET /v1/subscriptions[/{name}]` (configuration and live state), and
//! `POST /v1/subscriptions/{name}/enable` (after a signed ping) and `.../disable`.

use serde_json::{json, Value};
use warp::http::StatusCode;
use warp::reply::Response;

use super::error::{json, ApiError};
use super::ApiState;
use crate::dispatch::ping;
use crate::dispatch::retry::AttemptResult;
use crate::store::SubscriptionState;
use crate::subscription::Subscription;

pub async fn list(state: ApiState) -> Response {
    let set = state.subscriptions.load_full();
    match state.store.subscription_states().await {
        Ok(states) => {
            let items: Vec<Value> =
                set.iter().map(|s| describe(s, states.iter().find(|st| st.name == s.name))).collect();
            json(StatusCode::OK, &json!({ "version": set.version, "subscriptions": items }))
        }
        Err(e) => ApiError::store(e).into_response(),
    }
}

pub async fn show(name: String, state: ApiState) -> Response {
    let set = state.subscriptions.load_full();
    let Some(sub) = set.get(&name) else { return no_such(&name).into_response() };
    match state.store.subscription_states().await {
        Ok(states) => json(StatusCode::OK, &describe(sub, states.iter().find(|st| st.name == name))),
        Err(e) => ApiError::store(e).into_response(),
    }
}

pub async fn enable(name: String, state: ApiState) -> Response {
    let set = state.subscriptions.load_full();
    let Some(sub) = set.get(&name) else { return no_such(&name).into_response() };
    let sent = ping::ping(&state.client, sub).await;
    let answered = match sent.result {
        AttemptResult::Status { code, .. } if (200..300).contains(&code) => code,
        _ => {
            let why = format!("{}; {name} stays as it was", ping::describe(&sent));
            return ApiError::new(StatusCode::CONFLICT, why).into_response();
        }
    };
    match state.store.enable(&name).await {
        Ok(released) => {
            state.wake.notify_one();
            json(
                StatusCode::OK,
                &json!({ "name": name, "state": "enabled", "ping_status": answered, "released": released }),
            )
        }
        Err(e) => ApiError::store(e).into_response(),
    }
}

pub async fn disable(name: String, state: ApiState) -> Response {
    if state.subscriptions.load().get(&name).is_none() {
        return no_such(&name).into_response();
    }
    match state.store.disable(&name, "disabled by hand").await {
        Ok(()) => json(StatusCode::OK, &json!({ "name": name, "state": "disabled" })),
        Err(e) => ApiError::store(e).into_response(),
    }
}

fn no_such(name: &str) -> ApiError {
    ApiError::not_found(format!("no subscription named {name:?}"))
}

/// A subscription's configuration (secrets left out) and its live state.
fn describe(s: &Subscription, live: Option<&SubscriptionState>) -> Value {
    let live = live.cloned().unwrap_or_default();
    let state = if !s.enabled {
        "off"
    } else if live.disabled {
        "disabled"
    } else {
        "enabled"
    };
    let counts: Value = if live.counts.is_empty() {
        crate::store::DeliveryStatus::ALL.iter().map(|st| (st.as_str().to_string(), json!(0))).collect()
    } else {
        live.counts.iter().map(|(k, v)| (k.clone(), json!(v))).collect()
    };
    json!({
        "name": s.name,
        "description": s.description,
        "file": s.file.display().to_string(),
        "enabled_in_file": s.enabled,
        "mode": s.mode,
        "topics": s.topics,
        "method": s.method.as_str(),
        "url": crate::secret::mask_userinfo(&s.url_source),
        "timeout": crate::duration::format(s.timeout),
        "retry": {
            "schedule": s.retry.schedule.iter().map(|d| crate::duration::format(*d)).collect::<Vec<_>>(),
            "give_up_on": s.retry.give_up_on,
        },
        "delivery": { "max_in_flight": s.delivery.max_in_flight, "disable_after_failures": s.delivery.disable_after_failures },
        "signature": s.signature.as_ref().map(|sig| json!({ "scheme": sig.scheme, "header": sig.header, "secret": crate::secret::MASK })),
        "state": state,
        "disabled_reason": live.disabled_reason,
        "consecutive_failures": live.consecutive_failures,
        "in_flight": counts["in_flight"],
        "counts": counts,
    })
}
