//! The values that cross the `Store` boundary.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secret::{Masker, MASK};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    InFlight,
    Succeeded,
    Failed,
    Held,
    Shadow,
}

impl DeliveryStatus {
    pub const ALL: [Self; 6] = [Self::Pending, Self::InFlight, Self::Succeeded, Self::Failed, Self::Held, Self::Shadow];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InFlight => "in_flight",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Held => "held",
            Self::Shadow => "shadow",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The request a delivery sends, fixed when the delivery is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StoredRequest {
    pub method: String,
    pub url: String,
    /// In a delivery's detail (`GET /v1/deliveries/{id}`), every header its attempt carried:
    /// the always-sent ones, the request's own, the signature's and `Authorization` as `***`.
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Lowercase names of headers that carry secrets.
    #[serde(default)]
    pub sensitive: Vec<String>,
    /// Secret values inside the URL or body (from `${VAR}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
}

/// Why an `activation: ping` subscription that was never enabled is disabled: the store
/// registers it so (in the transaction that first holds one of its deliveries), so that
/// every path that sends (lease, retry, bulk retry) sees it disabled until enable.
pub const WAITING_FOR_PING: &str = "activation: ping: waiting for an enable whose ping is answered 2xx";

/// A stored request's URL as people may see it, from the URL and the `masked` values (a
/// JSON array, as stored) that the SQL stores read without decoding the whole request.
pub fn shown_url(url: Option<String>, masked: Option<String>) -> String {
    let masked: Vec<String> = masked.and_then(|m| serde_json::from_str(&m).ok()).unwrap_or_default();
    Masker::new(&masked).mask_url(&url.unwrap_or_default())
}

impl StoredRequest {
    /// The request as people may see it: sensitive header values replaced by `***`, and
    /// the secret values in the URL, the body and other headers masked in every encoding,
    /// URL userinfo included.
    pub fn redacted(&self) -> Self {
        let masker = Masker::new(&self.masked);
        let headers = self
            .headers
            .iter()
            .map(|(k, v)| {
                let hidden = self.sensitive.iter().any(|s| s.eq_ignore_ascii_case(k));
                (k.clone(), if hidden { MASK.to_string() } else { masker.mask(v) })
            })
            .collect();
        Self {
            method: self.method.clone(),
            url: masker.mask_url(&self.url),
            headers,
            body: self.body.as_deref().map(|b| masker.mask(b)),
            sensitive: Vec::new(),
            masked: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub uuid: String,
    pub topic: String,
    pub date: String,
    pub received_at: i64,
    /// The canonical envelope as JSON, kept for replay.
    pub body: String,
    /// The inbound source it came through, if any.
    pub source: Option<String>,
    pub deliveries: Vec<NewDelivery>,
    /// What history search finds it by (`search::event_keys`), stored with it.
    pub keys: Vec<crate::search::SearchKey>,
    /// What its catalog topics with `validation: warn` found wrong with its Payload
    /// (`Payload.path: message`); empty when it conforms or nothing checked it.
    pub schema_problems: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: String,
    pub subscription: String,
    pub status: DeliveryStatus,
    pub request: StoredRequest,
    /// Why the delivery is already `failed` (a render error), if it is.
    pub error: Option<String>,
    pub config_version: String,
    /// Store a `pending` delivery already leased to this node (unless its subscription is
    /// disabled): the node that accepted it sends it without a lease write of its own.
    pub lease: Option<PreLease>,
    /// Its subscription is `activation: ping`: until the store has seen it enabled, its
    /// deliveries are held.
    pub needs_activation: bool,
}

/// A lease taken as a delivery is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PreLease {
    pub owner: std::sync::Arc<str>,
    pub until: i64,
    /// The latest time its first attempt may start (see `Leased::send_by`).
    pub send_by: i64,
}

impl NewEvent {
    /// The deliveries `flags` marks as stored leased, as `Leased` ready to send.
    pub fn take_leased(self, flags: &[bool]) -> Vec<Leased> {
        let Self { uuid, topic, deliveries, .. } = self;
        deliveries
            .into_iter()
            .zip(flags)
            .filter(|(_, leased)| **leased)
            .filter_map(|(d, _)| {
                let (send_by, lease_until) = d.lease.as_ref().map(|l| (l.send_by, l.until))?;
                Some(Leased {
                    id: d.id,
                    event_uuid: uuid.clone(),
                    subscription: d.subscription,
                    topic: topic.clone(),
                    attempt: 1,
                    send_by,
                    lease_until,
                    request: d.request,
                })
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inserted {
    pub uuid: String,
    pub deliveries: usize,
    pub duplicate: bool,
    /// The deliveries stored already leased (see `NewDelivery::lease`), ready to send.
    #[serde(skip)]
    pub leased: Vec<Leased>,
}

#[derive(Debug, Clone)]
pub struct LeaseRequest {
    pub owner: String,
    pub now: i64,
    /// How long a lease lasts, by subscription: its request timeout plus a margin.
    pub lease_ms: std::collections::HashMap<String, i64>,
    /// For a subscription not in `lease_ms` (no longer configured).
    pub default_lease_ms: i64,
    pub limit: usize,
    /// `max_in_flight` of the subscriptions that have one.
    pub caps: std::collections::HashMap<String, u32>,
    /// Subscriptions not to lease now (this node holds their share already).
    pub exclude: Vec<String>,
    /// Whether any subscription may be disabled: then PostgreSQL first holds the pending
    /// deliveries a disabling node may have missed (skipped when none is).
    pub sweep_held: bool,
    /// The subscriptions this node has loaded: it leases only their deliveries, leaving the
    /// others to nodes that have them (a rolling deploy, a file missing mid-reload). None
    /// leases every subscription's (tools and tests that stand for no node's files).
    pub loaded: Option<Vec<String>>,
}

impl LeaseRequest {
    /// When a lease of `subscription`'s taken now expires.
    pub fn lease_until(&self, subscription: &str) -> i64 {
        self.now.saturating_add(self.lease_ms.get(subscription).copied().unwrap_or(self.default_lease_ms))
    }
}

/// How long a node may be silent before its leases are taken over: silent while the store
/// took the judging node's writes all along (see `HEARTBEAT_GAP_MS`).
pub const NODE_SILENCE_MS: i64 = 10_000;

/// A gap this long between a node's own heartbeats means the store was out of its reach: it
/// judges no other node dead until it has written for `NODE_SILENCE_MS` again since, so
/// after a store outage every node has time to write before anyone is taken for dead.
pub const HEARTBEAT_GAP_MS: i64 = 3_000;

/// The last error of deliveries failed because no node has had their subscription loaded
/// for the orphan grace.
pub const SUBSCRIPTION_REMOVED: &str = "subscription removed";

/// How often a subscription's "last seen loaded" time is written again, at most, for an
/// orphan grace of `grace_ms`: a quarter of it, and at least once a minute, so keeping it
/// costs a row write per subscription per minute, not one per node per second.
pub fn seen_refresh_ms(grace_ms: i64) -> i64 {
    (grace_ms / 4).min(60_000)
}

/// How long a subscription's "last seen loaded" time must be old before its deliveries are
/// failed: the grace, and the refresh on top, since a node may have had it loaded for up
/// to a refresh after the time it last wrote (failing at the grace alone failed them up to
/// a refresh early), and the housekeeping tick that writes it (once a second) with room.
pub fn unseen_for_ms(grace_ms: i64) -> i64 {
    grace_ms.saturating_add(seen_refresh_ms(grace_ms)).saturating_add(SEEN_TICK_MS)
}

/// How late after its refresh is due "last seen loaded" may be written, at most: the
/// housekeeping tick that writes it, with room.
const SEEN_TICK_MS: i64 = 2_000;

/// A rate-limited subscription's turn to send (`Store::claim_send_slot`), in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendSlot {
    /// This node's: send at this time.
    Granted(i64),
    /// Too far ahead to claim now; ask again before this time.
    NotBefore(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Leased {
    pub id: String,
    pub event_uuid: String,
    pub subscription: String,
    pub topic: String,
    /// This attempt's number: the attempts recorded so far, plus one.
    pub attempt: u32,
    /// Past this time the attempt must not start: its lease could expire before it ends
    /// (a lease is the timeout plus `LEASE_MARGIN`; this leaves `SEND_WITHIN_MS` to start).
    pub send_by: i64,
    /// When its lease expires. With `id` and the owner it names this lease: the same
    /// delivery leased again by the same owner (after a Resend, or once this lease expired)
    /// has another expiry, so giving this one back cannot release that one.
    pub lease_until: i64,
    pub request: StoredRequest,
}

/// A lease its owner gives back unsent (`Store::release_unsent`): the delivery and the
/// expiry it was leased with (`Leased::lease_until`).
#[derive(Debug, Clone, PartialEq)]
pub struct UnsentLease {
    pub id: String,
    pub until: i64,
}

impl From<&Leased> for UnsentLease {
    fn from(d: &Leased) -> Self {
        Self { id: d.id.clone(), until: d.lease_until }
    }
}

/// How long after leasing an attempt may still start.
pub const SEND_WITHIN_MS: i64 = 4_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded,
    /// Try again at this time.
    Retry {
        at: i64,
    },
    /// No more attempts.
    Failed,
}

#[derive(Debug, Clone)]
pub struct AttemptReport {
    pub delivery_id: String,
    pub subscription: String,
    pub owner: String,
    pub attempt: u32,
    pub started_at: i64,
    pub duration_ms: i64,
    pub status_code: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub outcome: Outcome,
    /// Consecutive failed deliveries that disable the subscription (0: never).
    pub disable_after: u32,
    /// Disable the subscription now whatever the count (the receiver answered 410 Gone).
    pub disable_now: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryNow {
    Scheduled,
    /// Its subscription is disabled: the delivery is held and goes when it is enabled.
    Held,
    NotFound,
    /// Shadow deliveries are recorded, never sent.
    Shadow,
    /// An attempt is under way: its result decides what comes next; nothing was changed
    /// (made due now, it would be sent again beside it, and its result not recorded).
    InFlight,
}

#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub uuid: String,
    pub topic: String,
    /// The inbound source it came through, if any.
    pub source: Option<String>,
    /// The canonical envelope as JSON.
    pub body: String,
    /// As `NewEvent::schema_problems`.
    pub schema_problems: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SubscriptionState {
    pub name: String,
    /// Whether the store has a state row for it (it has been disabled or enabled at least
    /// once): an `activation: ping` subscription without one is still waiting for its ping.
    pub registered: bool,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    /// When it was disabled (ms), while it is: the state row's time, which a disabled
    /// subscription's later failures and disables leave as it was.
    pub disabled_since: Option<i64>,
    pub consecutive_failures: u32,
    /// Deliveries by status (every status present, zero included).
    pub counts: std::collections::BTreeMap<String, u64>,
    /// Deliveries that finished in the last 24 hours, counted by the hour (this hour and
    /// the 24 before it), from counters: never a count over the history.
    pub last_24h: RecentOutcomes,
}

/// Succeeded and failed deliveries of a recent window (`SubscriptionState::last_24h`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecentOutcomes {
    pub succeeded: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Default)]
pub struct QueueStats {
    pub by_status: std::collections::BTreeMap<String, u64>,
    pub oldest_pending_created_at: Option<i64>,
    pub disabled_subscriptions: u64,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    /// Each list filter matches any of its values; an empty list matches everything.
    pub status: Vec<DeliveryStatus>,
    pub subscription: Vec<String>,
    pub topic: Vec<String>,
    /// The deliveries of any of these events.
    pub event: Vec<String>,
    /// The inbound source its event came through.
    pub source: Vec<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: usize,
    /// The last id of the previous page; results continue after it (newest first).
    pub cursor: Option<String>,
    /// `Some(false)` leaves out the failed deliveries never attempted (a render error, or a
    /// subscription gone before the first attempt), which resending as they are cannot
    /// send; `Some(true)` keeps only those. A bulk retry takes the first and answers the
    /// second one by one (rendered again, or not sendable and why).
    pub never_attempted_failures: Option<bool>,
    /// A history search (`search::Term`): the deliveries of the events indexed by it.
    pub key: Option<crate::search::Term>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DeliverySummary {
    pub id: String,
    pub event: String,
    pub subscription: String,
    pub topic: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub created_at: String,
    pub updated_at: String,
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub config_version: String,
    /// The inbound source its event came through, if any.
    pub source: Option<String>,
    /// Where it is sent, its secrets masked (empty when it could not be rendered).
    pub url: String,
    /// How long its last attempt took, if it has had one.
    pub last_duration_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliverySummary>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Attempt {
    pub attempt: u32,
    pub started_at: String,
    pub duration_ms: i64,
    pub status_code: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub summary: DeliverySummary,
    /// Always redacted: secrets never leave the store through this type.
    pub request: StoredRequest,
    pub attempts: Vec<Attempt>,
}

/// Milliseconds since the epoch as RFC 3339, for API output.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// `schema_problems` as both stores keep it: a JSON array of text, NULL when empty (most
/// events), so a conforming event costs nothing.
pub fn problems_column(problems: &[String]) -> Option<String> {
    (!problems.is_empty()).then(|| serde_json::Value::from(problems.to_vec()).to_string())
}

/// `problems_column` read back; a column that is not a list of text reads as one problem
/// saying so, rather than failing the whole event.
pub fn problems_from_column(text: Option<String>) -> Vec<String> {
    match text {
        None => Vec::new(),
        Some(text) => serde_json::from_str(&text).unwrap_or_else(|e| vec![format!("(unreadable: {e})")]),
    }
}
