//! What a resend did, per delivery: `sent` (due now), `held` (its subscription is
//! disabled: since when, and how to enable it), `rerendered` (it never rendered, so the
//! event was rendered again into a new delivery) or `not_sendable` (and why). The API's
//! retries and the console's Resend and Recover answer with these; never "sent" for what
//! stays held.

use std::collections::BTreeMap;

use warp::http::StatusCode;

use super::answers::{HeldBy, MadeDelivery, Outcome, Retried, RetriedMany, SubscriptionOutcome};
use super::error::ApiError;
use super::ApiState;
use crate::store::{DeliveryQuery, DeliveryStatus, DeliverySummary, MadeDue, RetryNow, SubscriptionState};

/// Why a delivery in flight is not sent again.
const IN_FLIGHT: &str = "it is in flight (leased to a node, which sends it now or in its turn): that attempt goes \
     first and its result decides what comes next; resend it after, if it fails";

/// Why a shadow delivery is not sent.
const SHADOW: &str = "it is a shadow delivery: its subscription (mode: shadow) records what it would send and never \
     sends it; remove mode: shadow from the file to send new events";

/// Deliveries listed one by one in a bulk retry's answer, at most.
const LISTED: usize = 1000;

/// Resends one delivery and says what happened to it.
pub(crate) async fn retry_one(state: &ApiState, id: &str) -> Result<Retried, ApiError> {
    let detail = state.store.get_delivery(id).await.map_err(ApiError::store)?;
    let detail = detail.ok_or_else(|| ApiError::not_found(format!("no delivery {id}")))?;
    if detail.summary.status == DeliveryStatus::Shadow {
        return Ok(not_sendable(&detail.summary, SHADOW.into()));
    }
    let mut retried = retry_found(state, &detail.summary).await?;
    if retried.status == DeliveryStatus::Held {
        let states = state.store.subscription_states().await.map_err(ApiError::store)?;
        retried.held_by = held_by(&states, &retried.subscription);
    }
    if retried.status == DeliveryStatus::Pending && retried.outcome != Outcome::NotSendable {
        retried.paused_until = paused_until(state, &retried.subscription);
    }
    Ok(retried)
}

/// When `name`'s pause ends, if its receiver asked to wait (429/503 with Retry-After):
/// what is made due goes then, not now.
fn paused_until(state: &ApiState, name: &str) -> Option<String> {
    state.queue.paused.paused_until(name, crate::now_ms()).map(crate::store::iso)
}

/// Resends a delivery already read: rendered again when it never rendered, not sent when
/// its subscription is gone, else made due (or held). `held_by` is left for the caller,
/// which reads the subscriptions' states once for many.
async fn retry_found(state: &ApiState, d: &DeliverySummary) -> Result<Retried, ApiError> {
    if let Some(why) = unsendable(state, &d.subscription).await? {
        return Ok(not_sendable(d, why));
    }
    if d.status == DeliveryStatus::Failed && d.url.is_empty() {
        return rerender(state, d).await;
    }
    let status = match state.store.retry_now(&d.id).await.map_err(ApiError::store)? {
        RetryNow::Scheduled => {
            state.wake.notify_one();
            DeliveryStatus::Pending
        }
        RetryNow::Held => DeliveryStatus::Held,
        RetryNow::NotFound => return Err(ApiError::not_found(format!("no delivery {}", d.id))),
        RetryNow::Shadow => return Ok(not_sendable(d, SHADOW.into())),
        RetryNow::InFlight => return Ok(not_sendable(d, IN_FLIGHT.into())),
    };
    let outcome = if status == DeliveryStatus::Held { Outcome::Held } else { Outcome::Sent };
    Ok(Retried { status, outcome, ..unchanged(d) })
}

/// Why `name`'s deliveries cannot be sent now, if they cannot: `enabled: false` in its
/// file, or loaded neither here nor by another live node (in a rolling deploy, a node that
/// has it sends what this one makes due).
async fn unsendable(state: &ApiState, name: &str) -> Result<Option<String>, ApiError> {
    let here = state.subscriptions.load().get(name).map(|sub| (sub.enabled, sub.file.display().to_string()));
    match here {
        Some((false, file)) => {
            Ok(Some(format!("subscription {name} says enabled: false in {file}: change the file first")))
        }
        Some((true, _)) => Ok(None),
        None if state.store.loaded_elsewhere(&state.node, name).await.map_err(ApiError::store)? => Ok(None),
        None => Ok(Some(format!(
            "subscription {name} is not loaded (removed or renamed): nothing would send it; \
             add it back, or replay the event to today's subscriptions"
        ))),
    }
}

/// Whether no node has `name` loaded (here, or lately elsewhere): what waits for it is
/// failed after `--orphan-grace`.
pub(crate) async fn loaded_nowhere(state: &ApiState, name: &str) -> Result<bool, ApiError> {
    if state.subscriptions.load().get(name).is_some() {
        return Ok(false);
    }
    Ok(!state.store.loaded_elsewhere(&state.node, name).await.map_err(ApiError::store)?)
}

/// `unsendable`, asked once per subscription in a bulk retry.
#[derive(Default)]
struct Sendability(std::collections::HashMap<String, Option<String>>);

impl Sendability {
    async fn why(&mut self, state: &ApiState, name: &str) -> Result<Option<String>, ApiError> {
        if let Some(known) = self.0.get(name) {
            return Ok(known.clone());
        }
        let why = unsendable(state, name).await?;
        self.0.insert(name.to_string(), why.clone());
        Ok(why)
    }
}

/// A delivery that never rendered: its event rendered again with today's subscription,
/// into the same delivery, which then goes (or waits, held) as any resent one.
async fn rerender(state: &ApiState, d: &DeliverySummary) -> Result<Retried, ApiError> {
    let Some((_, event)) = super::events::load_event(state, &d.event).await? else {
        return Ok(not_sendable(d, format!("its event {} is no longer stored (pruned)", d.event)));
    };
    let set = state.subscriptions.load_full();
    let Some(sub) = set.get(&d.subscription) else {
        return Ok(not_sendable(d, format!("subscription {} is not loaded", d.subscription)));
    };
    if !set.routes(&event.topic).any(|s| s.name == sub.name) {
        return Ok(not_sendable(d, format!("subscription {} no longer takes Topic {}", sub.name, event.topic)));
    }
    let ctx = crate::render::context(&event);
    let Some(new) = crate::accept::delivery_for(sub, &ctx, &set.version) else {
        return Ok(not_sendable(d, format!("the event no longer passes subscription {}'s filter", sub.name)));
    };
    match new.status {
        DeliveryStatus::Failed => {
            let error = new.error.unwrap_or_default();
            return Ok(not_sendable(d, format!("it still does not render ({error}); fix the template, then resend")));
        }
        DeliveryStatus::Shadow => {
            return Ok(not_sendable(d, format!("subscription {} is in shadow mode: never sent", sub.name)))
        }
        _ => {}
    }
    let status = match state.store.render_again(&d.id, new.request, &set.version).await.map_err(ApiError::store)? {
        RetryNow::Scheduled => {
            state.wake.notify_one();
            DeliveryStatus::Pending
        }
        RetryNow::Held => DeliveryStatus::Held,
        RetryNow::NotFound | RetryNow::Shadow | RetryNow::InFlight => {
            return Ok(not_sendable(d, "it was rendered or removed meanwhile: look at it again".into()))
        }
    };
    Ok(Retried { status, outcome: Outcome::Rerendered, ..unchanged(d) })
}

/// A delivery just made, as its answer shows it: its state read back (`held` when its
/// subscription is disabled, with a `held_by` the caller fills in from the states).
pub(crate) async fn made_delivery(state: &ApiState, id: &str, subscription: &str) -> Result<MadeDelivery, ApiError> {
    let found = state.store.get_delivery(id).await.map_err(ApiError::store)?;
    let (status, error) =
        found.map(|f| (f.summary.status, f.summary.last_error)).unwrap_or((DeliveryStatus::Pending, None));
    let reason = match status {
        DeliveryStatus::Held => Some(format!("subscription {subscription} is disabled")),
        DeliveryStatus::Failed => error,
        _ => None,
    };
    let held_by = (status == DeliveryStatus::Held).then(|| held_by_of(subscription, None));
    Ok(MadeDelivery { id: id.to_string(), subscription: subscription.to_string(), status, reason, held_by })
}

fn unchanged(d: &DeliverySummary) -> Retried {
    Retried {
        id: d.id.clone(),
        status: d.status,
        outcome: Outcome::NotSendable,
        subscription: d.subscription.clone(),
        held_by: None,
        reason: None,
        paused_until: None,
    }
}

fn not_sendable(d: &DeliverySummary, reason: String) -> Retried {
    Retried { reason: Some(reason), ..unchanged(d) }
}

/// `name`'s state as what waits for it is told; None when it is not disabled.
pub(crate) fn held_by(states: &[SubscriptionState], name: &str) -> Option<HeldBy> {
    let state = states.iter().find(|s| s.name == name);
    match state {
        Some(s) if !s.disabled => None,
        other => Some(held_by_of(name, other)),
    }
}

fn held_by_of(name: &str, state: Option<&SubscriptionState>) -> HeldBy {
    HeldBy {
        subscription: name.to_string(),
        state: "disabled".into(),
        disabled_since: state.and_then(|s| s.disabled_since).map(crate::store::iso),
        disabled_reason: state.and_then(|s| s.disabled_reason.clone()),
        enable: format!("POST /v1/subscriptions/{name}/enable"),
    }
}

/// Resends what `query` matches and says what happened to each: the API's and the
/// console's recover. A task of its own does it (the store goes in batches): a client that
/// hangs up does not leave a bulk retry half done, nor what it did without a wake.
pub(crate) async fn retry_many(state: &ApiState, query: DeliveryQuery) -> Result<RetriedMany, ApiError> {
    let state = state.clone();
    let task = tokio::spawn(async move { retry_many_now(&state, query).await });
    task.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a bulk retry's task failed");
        Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the bulk retry did not finish; send it again"))
    })
}

async fn retry_many_now(state: &ApiState, query: DeliveryQuery) -> Result<RetriedMany, ApiError> {
    let mut answer = Tally::default();
    let mut sendable = Sendability::default();
    let (loaded, gone) = split_sendable(state, &query.subscription, &mut sendable).await?;
    let none_named = query.subscription.is_empty();
    if none_named || !loaded.is_empty() {
        let ours = DeliveryQuery { subscription: loaded, ..query.clone() };
        in_batches(state, &ours, &mut answer, &mut sendable).await?;
        if query.status.contains(&DeliveryStatus::Failed) {
            never_attempted(state, &ours, query.limit, &mut answer).await?;
        }
    }
    // The named subscriptions no node would send: their deliveries are left as they are.
    for name in gone {
        let theirs = DeliveryQuery { subscription: vec![name.clone()], ..query.clone() };
        let why = sendable.why(state, &name).await?.unwrap_or_default();
        for d in list_up_to(state, theirs, query.limit.saturating_sub(answer.total()).min(LISTED)).await? {
            answer.retried(not_sendable(&d, why.clone()));
        }
    }
    let states = state.store.subscription_states().await.map_err(ApiError::store)?;
    Ok(answer.finish(state, &states))
}

/// The store's batches, leaving out failures never attempted (resent as they are, they
/// cannot go). With no subscription named the filter stays as asked (an IN list of every
/// loaded one would cost SQLite a sort of every match per batch), so a delivery of a
/// subscription no longer loaded may be made due: it is said not sendable (no node with
/// these files sends it; it fails as `subscription removed` after the orphan grace).
async fn in_batches(
    state: &ApiState,
    query: &DeliveryQuery,
    answer: &mut Tally,
    sendable: &mut Sendability,
) -> Result<(), ApiError> {
    let batches = DeliveryQuery { never_attempted_failures: Some(false), ..query.clone() };
    let made_due = state.store.retry_matching_each(batches).await.map_err(ApiError::store)?;
    if !made_due.is_empty() {
        state.wake.notify_one();
    }
    for m in &made_due {
        match sendable.why(state, &m.subscription).await? {
            Some(why) => answer.retried(Retried {
                id: m.id.clone(),
                status: if m.held { DeliveryStatus::Held } else { DeliveryStatus::Pending },
                outcome: Outcome::NotSendable,
                subscription: m.subscription.clone(),
                held_by: None,
                reason: Some(why),
                paused_until: None,
            }),
            None => answer.made_due(m),
        }
    }
    Ok(())
}

/// The failures never attempted that `query` matches, one by one: rendered again, or not
/// sendable and why, up to what `limit` leaves.
async fn never_attempted(
    state: &ApiState,
    query: &DeliveryQuery,
    limit: usize,
    answer: &mut Tally,
) -> Result<(), ApiError> {
    let never =
        DeliveryQuery { status: vec![DeliveryStatus::Failed], never_attempted_failures: Some(true), ..query.clone() };
    for d in list_up_to(state, never, limit.saturating_sub(answer.total())).await? {
        answer.retried(retry_found(state, &d).await?);
    }
    Ok(())
}

/// At most `limit` of what `query` matches, newest first, read a page at a time.
async fn list_up_to(state: &ApiState, query: DeliveryQuery, limit: usize) -> Result<Vec<DeliverySummary>, ApiError> {
    let mut found = Vec::new();
    let mut cursor = None;
    while found.len() < limit {
        let page = DeliveryQuery { limit: (limit - found.len()).min(LISTED), cursor, ..query.clone() };
        let page = state.store.list_deliveries(page).await.map_err(ApiError::store)?;
        found.extend(page.deliveries);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(found)
}

/// The subscriptions a bulk retry's filter names that a node would send (loaded here or by
/// another live node, and enabled in the file), and those none would (none of either when
/// it names none).
async fn split_sendable(
    state: &ApiState,
    named: &[String],
    sendable: &mut Sendability,
) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let (mut yes, mut no) = (Vec::new(), Vec::new());
    for name in named {
        match sendable.why(state, name).await? {
            None => yes.push(name.clone()),
            Some(_) => no.push(name.clone()),
        }
    }
    Ok((yes, no))
}

/// A bulk retry's answer as it is gathered.
#[derive(Default)]
struct Tally {
    answer: RetriedMany,
    by_subscription: BTreeMap<String, SubscriptionOutcome>,
    seen: usize,
}

impl Tally {
    fn total(&self) -> usize {
        self.seen
    }

    fn subscription(&mut self, name: &str) -> &mut SubscriptionOutcome {
        self.by_subscription
            .entry(name.to_string())
            .or_insert_with(|| SubscriptionOutcome { subscription: name.to_string(), ..Default::default() })
    }

    fn made_due(&mut self, m: &MadeDue) {
        let (status, outcome) =
            if m.held { (DeliveryStatus::Held, Outcome::Held) } else { (DeliveryStatus::Pending, Outcome::Sent) };
        self.retried(Retried {
            id: m.id.clone(),
            status,
            outcome,
            subscription: m.subscription.clone(),
            held_by: None,
            reason: None,
            paused_until: None,
        });
    }

    fn retried(&mut self, r: Retried) {
        self.seen += 1;
        let sub = self.subscription(&r.subscription);
        match r.outcome {
            Outcome::Sent => sub.sent += 1,
            Outcome::Held => sub.held += 1,
            Outcome::Rerendered => sub.rerendered += 1,
            Outcome::NotSendable => sub.not_sendable += 1,
        }
        let a = &mut self.answer;
        match r.outcome {
            Outcome::Sent => a.sent += 1,
            Outcome::Held => a.held += 1,
            Outcome::Rerendered => a.rerendered += 1,
            Outcome::NotSendable => a.not_sendable += 1,
        }
        if a.deliveries.len() < LISTED {
            a.deliveries.push(r);
        } else {
            a.truncated = true;
        }
    }

    /// The answer, each subscription whose deliveries wait with its state.
    fn finish(mut self, state: &ApiState, states: &[SubscriptionState]) -> RetriedMany {
        for (name, mut sub) in self.by_subscription {
            if sub.sent + sub.rerendered > 0 {
                sub.paused_until = paused_until(state, &name);
                let due = |d: &&mut Retried| {
                    d.subscription == name && d.status == DeliveryStatus::Pending && d.outcome != Outcome::NotSendable
                };
                for d in self.answer.deliveries.iter_mut().filter(due) {
                    d.paused_until.clone_from(&sub.paused_until);
                }
            }
            let waits = sub.held > 0
                || self.answer.deliveries.iter().any(|d| d.subscription == name && d.status == DeliveryStatus::Held);
            sub.held_by = if waits { held_by(states, &name) } else { None };
            // Each delivery that waits says so too, as a single resend's answer does.
            for d in
                self.answer.deliveries.iter_mut().filter(|d| d.subscription == name && d.status == DeliveryStatus::Held)
            {
                d.held_by.clone_from(&sub.held_by);
            }
            self.answer.subscriptions.push(sub);
        }
        self.answer.retried = self.answer.sent + self.answer.held + self.answer.rerendered;
        self.answer
    }
}
