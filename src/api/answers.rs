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
    /// ISO 8601; the time of receipt when absent.
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

#[derive(Debug, Serialize, JsonSchema)]
pub struct Replayed {
    pub uuid: String,
    /// New deliveries made for today's subscriptions.
    pub deliveries: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryState {
    /// Due now.
    Pending,
    /// Its subscription is disabled: it goes when the subscription is enabled.
    Held,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Retried {
    pub id: String,
    pub status: RetryState,
}

/// `POST /v1/deliveries/retry`'s answer: how many deliveries were made due again.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RetriedMany {
    pub retried: u64,
}

/// `POST /v1/deliveries/retry`'s question: filters as `GET /v1/deliveries` takes them.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)] // Read as JSON by hand (strings, lists or numbers); here for the OpenAPI document.
pub struct RetryFilter {
    /// One status or several (default `failed`); never `in_flight` or `shadow`.
    pub status: Option<String>,
    pub subscription: Option<String>,
    pub topic: Option<String>,
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

#[derive(Debug, Serialize, JsonSchema)]
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
    pub header: String,
    /// Always `***`.
    pub secret: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Enabled {
    pub name: String,
    /// Always `enabled`.
    pub state: String,
    /// The status the ping was answered with.
    pub ping_status: u16,
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
    /// Newest first.
    pub deliveries: Vec<crate::store::DeliverySummary>,
}
