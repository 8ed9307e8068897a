//! `GET /v1/subscriptions[/{name}]` (configuration and live state), and
//! `POST /v1/subscriptions/{name}/enable` (after a signed ping) and `.../disable`.

use warp::http::StatusCode;
use warp::reply::Response;

use super::answers::{
    DeliveryView, Disabled, Enabled, LiveState, RetryView, SignatureView, SubscriptionList, SubscriptionView,
    UnreachableView,
};
use super::error::{json, ApiError};
use super::ApiState;
use crate::dispatch::ping;
use crate::dispatch::retry::AttemptResult;
use crate::store::SubscriptionState;
use crate::subscription::Subscription;

pub async fn list(state: ApiState) -> Response {
    respond(views(&state).await)
}

pub async fn show(name: String, state: ApiState) -> Response {
    let found = views(&state)
        .await
        .and_then(|list| list.subscriptions.into_iter().find(|s| s.name == name).ok_or_else(|| no_such(&name)));
    respond(found)
}

pub async fn enable(name: String, state: ApiState) -> Response {
    respond(enable_subscription(&state, &name).await)
}

pub async fn disable(name: String, state: ApiState) -> Response {
    respond(disable_subscription(&state, &name).await)
}

fn respond<T: serde::Serialize>(answer: Result<T, ApiError>) -> Response {
    answer.map(|a| json(StatusCode::OK, &a)).unwrap_or_else(ApiError::into_response)
}

/// Every loaded subscription with its live state: the API's list.
pub(crate) async fn views(state: &ApiState) -> Result<SubscriptionList, ApiError> {
    views_and_states(state).await.map(|(list, _)| list)
}

/// `views`, and the store's states they were made from, for the console (which shows
/// their `last_24h` too): one read of the store's states and counters, which cost the
/// same at any history size.
pub(crate) async fn views_and_states(state: &ApiState) -> Result<(SubscriptionList, Vec<SubscriptionState>), ApiError> {
    let set = state.subscriptions.load_full();
    let states = state.store.subscription_states().await.map_err(ApiError::store)?;
    let now = crate::now_ms();
    let subscriptions = set
        .iter()
        .map(|s| {
            let mut view = describe(s, states.iter().find(|st| st.name == s.name));
            view.unreachable = unreachable(state, &s.name, now);
            view.paused_until = state.queue.paused.paused_until(&s.name, now).map(crate::store::iso);
            view
        })
        .collect();
    Ok((SubscriptionList { version: set.version.clone(), subscriptions }, states))
}

/// Whether this node finds `name`'s receiver unreachable now (its own view, in memory).
pub(crate) fn unreachable(state: &ApiState, name: &str, now: i64) -> Option<UnreachableView> {
    state.queue.unreachable.status(name, now).map(|u| UnreachableView {
        since: crate::store::iso(u.since),
        probing: u.probing,
        node: state.node.to_string(),
    })
}

/// Enables after a ping answered 2xx; a refusal (the file says `enabled: false`, or the
/// ping's answer) is a 409 that says why.
pub(crate) async fn enable_subscription(state: &ApiState, name: &str) -> Result<Enabled, ApiError> {
    let set = state.subscriptions.load_full();
    let sub = set.get(name).ok_or_else(|| no_such(name))?;
    if !sub.enabled {
        let why = format!(
            "{name} says enabled: false in {}: change the file to enable it (the store cannot override it)",
            sub.file.display()
        );
        return Err(ApiError::new(StatusCode::CONFLICT, why));
    }
    // A shadow subscription sends nothing, a ping neither: its receiver may not know of it
    // yet, and the ping would carry its credentials there.
    let answered = match sub.mode {
        crate::subscription::Mode::Shadow => None,
        crate::subscription::Mode::Live => Some(ping_answer(state, sub).await?),
    };
    let released = state.store.enable(name).await.map_err(ApiError::store)?;
    state.wake.notify_one();
    Ok(Enabled { name: name.to_string(), state: "enabled".into(), ping_status: answered, released })
}

/// The 2xx status `sub`'s receiver answered its ping with, or why it did not.
async fn ping_answer(state: &ApiState, sub: &Subscription) -> Result<u16, ApiError> {
    let sent = ping::ping(&state.client, state.store.as_ref(), sub).await;
    match sent.result {
        AttemptResult::Status { code, .. } if (200..300).contains(&code) => Ok(code),
        _ => {
            let why = format!("{}; {} stays as it was", ping::describe(&sent), sub.name);
            Err(ApiError::new(StatusCode::CONFLICT, why))
        }
    }
}

pub(crate) async fn disable_subscription(state: &ApiState, name: &str) -> Result<Disabled, ApiError> {
    let set = state.subscriptions.load_full();
    let sub = set.get(name).ok_or_else(|| no_such(name))?;
    if !sub.enabled {
        // Off by its file, which the store cannot override either way: "disabled" would
        // say a state the subscription does not read (`off`) and enable could not undo.
        let why = format!("{name} says enabled: false in {}: it is off already, by its file", sub.file.display());
        return Err(ApiError::new(StatusCode::CONFLICT, why));
    }
    state.store.disable(name, "disabled by hand").await.map_err(ApiError::store)?;
    Ok(Disabled { name: name.to_string(), state: "disabled".into() })
}

fn no_such(name: &str) -> ApiError {
    ApiError::not_found(format!("no subscription named {name:?}"))
}

/// A subscription's configuration (secrets left out) and its live state.
fn describe(s: &Subscription, live: Option<&SubscriptionState>) -> SubscriptionView {
    // An `activation: ping` subscription the store has never seen enabled is disabled.
    let waiting = !live.is_some_and(|l| l.registered) && s.delivery.activation == crate::subscription::Activation::Ping;
    let live = live.cloned().unwrap_or_default();
    let state = if !s.enabled {
        LiveState::Off
    } else if live.disabled || waiting {
        LiveState::Disabled
    } else {
        LiveState::Enabled
    };
    let disabled_reason = if waiting { Some(crate::store::WAITING_FOR_PING.to_string()) } else { live.disabled_reason };
    let mut counts = crate::store::zero_counts();
    counts.extend(live.counts);
    SubscriptionView {
        name: s.name.clone(),
        description: s.description.clone(),
        file: s.file.display().to_string(),
        enabled_in_file: s.enabled,
        mode: s.mode,
        topics: s.topics.clone(),
        method: s.method.as_str().to_string(),
        // The file's text: a `${VAR:-default}` whose default is in force shows it masked.
        url: s.secrets.mask_url(&s.url_source),
        timeout: crate::duration::format(s.timeout),
        retry: RetryView {
            schedule: s.retry.schedule.iter().map(|d| crate::duration::format(*d)).collect(),
            give_up_on: s.retry.give_up_on.clone(),
        },
        delivery: DeliveryView {
            max_in_flight: s.delivery.max_in_flight,
            disable_after_failures: s.delivery.disable_after_failures,
            activation: s.delivery.activation,
        },
        signature: s.signature.as_ref().map(|sig| SignatureView {
            scheme: sig.scheme,
            header: sig.signature_header().to_string(),
            secret: crate::secret::MASK.into(),
        }),
        state,
        disabled_reason,
        disabled_since: live.disabled_since.filter(|_| state == LiveState::Disabled).map(crate::store::iso),
        unreachable: None,
        paused_until: None,
        consecutive_failures: live.consecutive_failures,
        in_flight: counts.get("in_flight").copied().unwrap_or(0),
        counts,
    }
}
