//! The shapes the HTTP API takes and answers with. Handlers build these, and the OpenAPI
//! document (`openapi.rs`) is generated from the same types, so the two cannot disagree.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Every error: what went wrong and where (a field, a line and column, a limit).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorBody {
    pub error: String,
}

/// A canonical event, as producers post it. The lowercase keys `uuid`, `date`, `topic`
/// and `payload` are accepted as aliases.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read by hand in `event.rs`; this type is the description
pub struct CanonicalEvent {
    /// The idempotency key; assigned when absent.
    #[serde(rename = "Uuid")]
    #[schemars(extend("format" = "uuid"))]
    pub uuid: Option<String>,
    /// ISO 8601 (`2025-01-13T14:30:00.123Z`, `+03:00` or `+0300`, seconds optional; no
    /// offset means UTC), kept as written; the time of receipt when absent.
    #[serde(rename = "Date")]
    #[schemars(extend("format" = "date-time"))]
    pub date: Option<String>,
    #[serde(rename = "Topic")]
    #[schemars(length(min = 1, max = 256))]
    pub topic: String,
    #[serde(rename = "Payload")]
    pub payload: Map<String, Value>,
}

/// The answer to an accepted event: 202, or 200 with `duplicate` for a known Uuid.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Accepted {
    pub uuid: String,
    /// Deliveries the event made (for a duplicate: those the first one made).
    pub deliveries: usize,
    pub duplicate: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BatchAnswer {
    /// One result per item, in order.
    pub results: Vec<BatchItem>,
}

/// One item's result: what `POST /v1/events` would have answered for it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BatchItem {
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl BatchItem {
    pub fn failed(status: u16, error: String) -> Self {
        Self { status, uuid: None, deliveries: None, duplicate: None, error: Some(error) }
    }
}

/// `POST /v1/events/{uuid}/replay`'s answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Replayed {
    pub uuid: String,
    /// How many new deliveries were made for today's subscriptions.
    pub deliveries: usize,
    /// Each new delivery: its id, subscription and state (`pending`, `held` with the
    /// subscription's state, `failed` with its render error, `shadow`).
    pub new_deliveries: Vec<MadeDelivery>,
    /// Subscriptions chosen that made no delivery, and why (the Topic, the filter); with
    /// `failed_only`, also those left out because their delivery did not fail (its state).
    pub skipped: Vec<Skipped>,
}

/// `POST /v1/events/{uuid}/replay`'s optional question: which subscriptions. Without it,
/// every subscription that takes the event today.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayChoice {
    /// Only these subscriptions (each must be loaded).
    #[serde(default)]
    pub subscriptions: Option<Vec<String>>,
    /// Only the subscriptions whose every delivery of this event failed (none succeeded,
    /// none is still pending, in flight or held).
    #[serde(default)]
    pub failed_only: bool,
}

/// A delivery a replay or a resend made.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MadeDelivery {
    pub id: String,
    pub subscription: String,
    pub status: crate::store::DeliveryStatus,
    /// Why it is `failed` (its render error) or `held` (its subscription is disabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it is `held`: its subscription's state and how to enable it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<HeldBy>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Skipped {
    pub subscription: String,
    pub reason: String,
}

/// What a resend did to one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Due now: it goes at once, or when its subscription's pause ends (`paused_until`).
    Sent,
    /// Its subscription is disabled: it waits, held, until the subscription is enabled.
    Held,
    /// It had never rendered (a render error): the event was rendered again with today's
    /// subscription into this delivery, which is then sent (`status` `pending`) or held.
    Rerendered,
    /// It cannot be sent (`reason` says why and what to do: its subscription is gone, it still
    /// does not render, it is in flight); nothing changed.
    NotSendable,
}

/// A disabled subscription, as what waits for it is told.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HeldBy {
    pub subscription: String,
    /// Always `disabled`.
    pub state: String,
    /// RFC 3339: when it was disabled.
    pub disabled_since: Option<String>,
    /// Why it was disabled (failures, by hand, waiting for its first ping).
    pub disabled_reason: Option<String>,
    /// How to send what waits: `POST /v1/subscriptions/{name}/enable` (after a 2xx ping).
    pub enable: String,
}

/// `POST /v1/deliveries/{id}/retry`'s answer: what happened to that delivery.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Retried {
    pub id: String,
    /// Its state now: `pending` or `held` (sent, held or rerendered), or as it was when not sendable.
    pub status: crate::store::DeliveryStatus,
    pub outcome: Outcome,
    pub subscription: String,
    /// When it waits (`held`, or `rerendered` into `held`): its subscription's state and
    /// how to enable it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<HeldBy>,
    /// For `not_sendable`: why, and what to do instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it is due (`pending`) but its subscription is paused because the receiver asked
    /// to wait (429 or 503 with Retry-After): RFC 3339, when the pause ends and it goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<String>,
}

/// `POST /v1/deliveries/retry`'s answer: what happened, by outcome, by subscription and
/// by delivery.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct RetriedMany {
    /// Deliveries made due again or rendered again (`sent` + `held` + `rerendered`).
    pub retried: u64,
    pub sent: u64,
    pub held: u64,
    pub rerendered: u64,
    pub not_sendable: u64,
    /// Per subscription: its counts, and its state when its deliveries wait (`held_by`).
    pub subscriptions: Vec<SubscriptionOutcome>,
    /// Each delivery's outcome, the first 1,000 (`truncated` says when there were more).
    pub deliveries: Vec<Retried>,
    pub truncated: bool,
}

#[derive(Debug, Default, Clone, Serialize, JsonSchema)]
pub struct SubscriptionOutcome {
    pub subscription: String,
    pub sent: u64,
    pub held: u64,
    pub rerendered: u64,
    pub not_sendable: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<HeldBy>,
    /// When it is paused because its receiver asked to wait: RFC 3339, when what was made
    /// due goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<String>,
}

/// Why a delivery is where it is, one fact each (`GET /v1/deliveries/{id}`'s `reasons`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Reason {
    pub kind: ReasonKind,
    /// In words, secrets masked: the render error (template and line), the connection
    /// error, "held: subscription … disabled since …", "receiver unreachable since …", "paused until …", or
    /// the last response's status.
    pub text: String,
    /// RFC 3339, for `held` and `unreachable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// RFC 3339, for `paused`: when the pause ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// The last response's body (for `response`), secrets masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    /// It never rendered: the template's error, with the template and line.
    RenderError,
    /// It waits for its disabled subscription.
    Held,
    /// This node cannot reach the receiver: the subscription is paused, one delivery at a
    /// time probing. Per node (each node keeps its own, in memory).
    Unreachable,
    /// The receiver answered 429 with `Retry-After`: the whole subscription waits until then.
    Paused,
    /// The last attempt ended without a response from the receiver: a connection error, a
    /// timeout, or what stopped the request going (its OAuth2 token endpoint, the egress rules).
    ConnectionError,
    /// The last attempt's answer: its status (and body).
    Response,
    /// Failed without an attempt for another reason (the subscription was removed).
    Failed,
    /// Its subscription is loaded by no node (removed or renamed): it waits for one that
    /// has it, and fails once none has for `--orphan-grace`.
    NotLoaded,
}

/// `GET /v1/deliveries/{id}`: the delivery, and why it is where it is.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeliveryAnswer {
    #[serde(flatten)]
    pub detail: crate::store::DeliveryDetail,
    /// The facts that explain its state, most telling first (may be empty: a succeeded one).
    pub reasons: Vec<Reason>,
}

/// A subscription this node cannot reach the receiver of.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UnreachableView {
    /// RFC 3339: the first failed connect of this run.
    pub since: String,
    /// Past its pause: one delivery at a time is tried.
    pub probing: bool,
    /// The node that says so: each node keeps its own view, in memory.
    pub node: String,
}

/// `POST /v1/deliveries/retry`'s question: filters as `GET /v1/deliveries` takes them.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)] // Read as JSON by hand (strings, lists or numbers); here for the OpenAPI document.
pub struct RetryFilter {
    /// One status or several (default `failed`); never `in_flight` or `shadow`.
    pub status: Option<String>,
    pub subscription: Option<String>,
    pub topic: Option<String>,
    /// Event Uuids, one or several.
    pub event: Option<String>,
    /// A history search, as `GET /v1/deliveries` takes it.
    pub key: Option<String>,
    pub source: Option<String>,
    /// RFC 3339 or milliseconds since the epoch.
    pub since: Option<String>,
    pub until: Option<String>,
    /// At most this many, newest first (default 10,000).
    #[schemars(range(min = 1, max = 1_000_000))]
    pub limit: Option<u64>,
}

/// `POST /v1/render`'s question.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)] // read by hand in `operations.rs`; this type is the description
pub struct RenderQuestion {
    pub subscription: String,
    pub event: CanonicalEvent,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Rendered {
    pub subscription: String,
    /// Whether the subscription's topics take the event's Topic.
    pub matches_topic: bool,
    /// Whether its filter lets the event through.
    pub matches_filter: bool,
    pub request: ShownRequest,
}

/// A request as it would be sent, secrets (and the signature) shown as `***`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ShownRequest {
    pub method: String,
    pub url: String,
    /// Name and value pairs, in the order they are sent.
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SubscriptionList {
    /// The content hash of the subscription set in force.
    pub version: String,
    pub subscriptions: Vec<SubscriptionView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LiveState {
    Enabled,
    /// Disabled in the store (by hand, by failures, or waiting for its first ping).
    Disabled,
    /// `enabled: false` in its file.
    Off,
}

/// A subscription's configuration (secrets left out) and its live state.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SubscriptionView {
    pub name: String,
    pub description: Option<String>,
    pub file: String,
    pub enabled_in_file: bool,
    pub mode: crate::subscription::Mode,
    pub topics: Vec<String>,
    pub method: String,
    /// As written in the file: `${VAR}`s unexpanded, userinfo masked.
    pub url: String,
    pub timeout: String,
    pub retry: RetryView,
    pub delivery: DeliveryView,
    pub signature: Option<SignatureView>,
    pub state: LiveState,
    pub disabled_reason: Option<String>,
    /// RFC 3339: when it was disabled, while it is.
    pub disabled_since: Option<String>,
    /// Set while this node cannot reach its receiver (deliveries wait, one probing).
    pub unreachable: Option<UnreachableView>,
    /// RFC 3339: while the receiver's 429 with `Retry-After` pauses it, when the pause ends
    /// (on every node; nothing is sent to it before then).
    pub paused_until: Option<String>,
    pub consecutive_failures: u32,
    pub in_flight: u64,
    /// Deliveries by state, every state named.
    pub counts: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RetryView {
    pub schedule: Vec<String>,
    pub give_up_on: Vec<u16>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DeliveryView {
    pub max_in_flight: Option<u32>,
    pub disable_after_failures: u32,
    pub activation: crate::subscription::Activation,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SignatureView {
    pub scheme: crate::sign::Scheme,
    /// The header that carries the signature (`webhook-signature` for standard-webhooks).
    pub header: String,
    /// Always `***`.
    pub secret: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Enabled {
    pub name: String,
    /// Always `enabled`.
    pub state: String,
    /// The status the ping was answered with; null for a subscription in shadow mode,
    /// which sends nothing, a ping neither.
    pub ping_status: Option<u16>,
    /// Held deliveries released.
    pub released: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Disabled {
    pub name: String,
    /// Always `disabled`.
    pub state: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    pub status: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Ready {
    pub status: String,
    pub subscriptions: usize,
    /// The content hash of the subscription set in force.
    pub version: String,
    /// Why the last reload was refused (secrets masked); null after a good one.
    pub last_reload_error: Option<String>,
}

/// A stored event: the canonical envelope as accepted, its source, its deliveries.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EventView {
    pub uuid: String,
    /// The inbound source it came through; null when it was posted to intake.
    pub source: Option<String>,
    /// `{Uuid, Date, Topic, Payload}`.
    pub event: Value,
    /// What the event's catalog topics with `validation: warn` found wrong with its Payload
    /// when it was accepted (`Payload.Customer.Id: 7 is not of type "string"`); empty when
    /// it conformed or nothing checked it.
    pub schema_problems: Vec<String>,
    /// Newest first.
    pub deliveries: Vec<crate::store::DeliverySummary>,
}
