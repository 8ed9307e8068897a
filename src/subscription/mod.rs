//! Subscriptions: YAML files loaded, validated and compiled into a `SubscriptionSet`
//! (with its topic index and content version) that intake routes events through.

mod auth;
pub(crate) mod compile;
mod load;
pub mod rate_limit;
pub mod raw;
mod spelling;
pub mod template_paths;
pub mod tls;
pub mod topics;
mod url_rule;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use compile::template_load_error;
pub use load::load;
// The file-reading types, where callers of `load` have always found them.
pub use crate::config_file::{expand_env, LoadError, LoadOptions, Placeholders};
pub use rate_limit::RateLimit;
pub use raw::{Activation, Method, Mode};

use crate::render::RequestTemplate;
use crate::sign::Signer;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Wait before retry 1, 2, 3, …; its length is the number of retries.
    pub schedule: Vec<Duration>,
    /// Statuses that end a delivery at once.
    pub give_up_on: Vec<u16>,
}

#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    pub max_in_flight: Option<u32>,
    pub disable_after_failures: u32,
    pub activation: Activation,
}

/// One compiled subscription. Immutable: a reload builds a new set.
#[derive(Debug)]
pub struct Subscription {
    pub name: String,
    pub file: PathBuf,
    pub description: Option<String>,
    pub enabled: bool,
    pub mode: Mode,
    pub topics: Vec<String>,
    pub method: Method,
    /// The URL as written in the file (`${VAR}` unexpanded), for showing.
    pub url_source: String,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub delivery: DeliveryPolicy,
    /// The receiver's quota, shared by every node; None sends as fast as the caps allow.
    pub rate_limit: Option<RateLimit>,
    pub signature: Option<Signer>,
    /// Lowercase names of headers whose values came from `${VAR}`: shown as `***`.
    pub sensitive_headers: Vec<String>,
    /// What is `***` when shown: `${VAR}` values in the body, the URL's userinfo and the
    /// values of its query parameters that came from a variable, `${secret:VAR}`s whole.
    pub masked_values: Vec<String>,
    /// Every value the file took from the environment, signature secrets included: masked
    /// out of anything about this subscription that people read (errors, responses).
    pub secrets: crate::secret::Masker,
    /// The ping's Payload, rendered through the subscription's own templates; None sends
    /// the canonical envelope.
    pub ping_payload: Option<serde_json::Map<String, serde_json::Value>>,
    pub template: RequestTemplate,
    /// `auth:`: the Authorization header the sender adds to every attempt (never stored).
    pub auth: Option<crate::auth::Auth>,
    /// `tls:`: the client configuration for this subscription's receiver.
    pub tls: Option<tls::Tls>,
    /// `search_keys`: indexed with every event this subscription takes.
    pub search_keys: Vec<crate::search::KeyPath>,
}

/// The metrics label of events no subscription's topics match.
pub const UNROUTED_TOPIC: &str = "(no subscription)";

/// The subscriptions in force, swapped whole on reload.
#[derive(Debug, Default)]
pub struct SubscriptionSet {
    subscriptions: Vec<Arc<Subscription>>,
    by_name: HashMap<String, usize>,
    index: topics::TopicIndex,
    /// Content hash of every subscription and template file: recorded on each delivery.
    pub version: String,
    /// How many deliveries of a subscription may be leased at once, for leasing: its
    /// `max_in_flight`, or fewer when its rate limit would keep more waiting.
    caps: HashMap<String, u32>,
    /// The rate limits by subscription name.
    rate_limits: HashMap<String, RateLimit>,
    /// Lease lengths by subscription name, for leasing.
    lease_ms: HashMap<String, i64>,
    /// The inbound sources loaded with them (same reload, same version).
    pub sources: crate::source::SourceSet,
    /// The event catalog loaded with them (same reload, same version).
    pub catalog: Arc<crate::catalog::Catalog>,
    /// The files' text as loaded, `${VAR}`s unexpanded: what the console's studio edits.
    pub texts: LoadedTexts,
}

/// The text of the files a set was loaded from, as written (no `${VAR}` expanded).
#[derive(Debug, Default)]
pub struct LoadedTexts {
    /// Each subscription's file, by subscription name.
    pub subscriptions: HashMap<String, String>,
    /// Every file under the templates directory, by its `/`-separated relative path.
    pub templates: crate::render::TemplateFiles,
    /// The templates directory, as errors name its files.
    pub templates_dir: PathBuf,
}

/// What a lease adds to its subscription's timeout: room to record the result.
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// How long a lease lasts for a subscription with this request timeout, in milliseconds.
pub fn lease_length(timeout: Duration) -> i64 {
    (timeout + LEASE_MARGIN).as_millis() as i64
}

impl SubscriptionSet {
    pub fn new(subscriptions: Vec<Subscription>, version: String) -> Self {
        let mut set = Self { version, ..Self::default() };
        for (i, sub) in subscriptions.into_iter().enumerate() {
            for pattern in &sub.topics {
                set.index.insert(pattern, i);
            }
            set.by_name.insert(sub.name.clone(), i);
            let paced = sub.rate_limit.map(|r| r.lease_cap());
            if let Some(cap) = [sub.delivery.max_in_flight, paced].into_iter().flatten().min() {
                set.caps.insert(sub.name.clone(), cap);
            }
            if let Some(limit) = sub.rate_limit {
                set.rate_limits.insert(sub.name.clone(), limit);
            }
            set.lease_ms.insert(sub.name.clone(), lease_length(sub.timeout));
            set.subscriptions.push(Arc::new(sub));
        }
        set
    }

    /// The subscriptions whose topic patterns match `topic`, in file-name order.
    pub fn routes(&self, topic: &str) -> impl Iterator<Item = &Arc<Subscription>> {
        self.index.lookup(topic).into_iter().filter_map(|i| self.subscriptions.get(i))
    }

    /// What metrics call `topic`: a pattern from the configuration, never the producer's raw
    /// text, so the number of series stays bounded whatever producers send.
    pub fn topic_label(&self, topic: &str) -> &str {
        self.index.matching_pattern(topic).unwrap_or(UNROUTED_TOPIC)
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Subscription>> {
        self.by_name.get(name).and_then(|&i| self.subscriptions.get(i))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Subscription>> {
        self.subscriptions.iter()
    }

    pub fn len(&self) -> usize {
        self.subscriptions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
    }

    pub fn caps(&self) -> &HashMap<String, u32> {
        &self.caps
    }

    /// The subscriptions with a `rate_limit`.
    pub fn rate_limits(&self) -> &HashMap<String, RateLimit> {
        &self.rate_limits
    }

    /// How long a lease of each subscription's deliveries lasts, in milliseconds.
    pub fn lease_ms(&self) -> &HashMap<String, i64> {
        &self.lease_ms
    }
}
