//! What `hookshape diff` found, per subscription, as counts with the first few examples:
//! the structure the JSON format prints as it is (documented in docs/guide/gitops.md, "Review a change against real traffic")
//! and the text and markdown formats lay out.

use std::collections::BTreeMap;

use serde::Serialize;

use super::body::PathChange;
use super::pairs::{Kind, Pair};

/// Examples kept per kind of change and subscription; the count says how many more.
pub const EXAMPLES: usize = 5;
/// Distinct error messages and changed fields kept per subscription.
const DISTINCT: usize = 20;

#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Events rendered through both versions.
    pub events: u64,
    pub counts: Counts,
    /// Only the subscriptions with a change, in the working files' order.
    pub subscriptions: Vec<SubscriptionReport>,
}

/// Subscriptions by kind of change, and events by kind of change summed over them.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Counts {
    pub added: u64,
    pub removed: u64,
    pub renamed: u64,
    /// Kept under their name, with events that change.
    pub changed: u64,
    pub newly_delivered: u64,
    pub no_longer_delivered: u64,
    pub changed_requests: u64,
    pub new_errors: u64,
    pub fixed_errors: u64,
}

#[derive(Debug, Serialize)]
pub struct SubscriptionReport {
    pub name: String,
    pub change: Kind,
    pub renamed_from: Option<String>,
    /// Events the working files deliver and the base did not (topics or filter).
    pub newly_delivered: Examples<EventRef>,
    pub no_longer_delivered: Examples<EventRef>,
    /// Events delivered by both whose request differs.
    pub changed_requests: Examples<RequestChange>,
    /// How many events each field changed in (`body Customer.Id`, `header X-Id`, `url`).
    pub changed_fields: Vec<Counted>,
    /// Events whose delivery now fails (render or filter error) and did not before.
    pub new_errors: Examples<ErrorExample>,
    /// Each error message, and in how many events.
    pub error_messages: Vec<Counted>,
    /// Events that failed to render through the base and render now.
    pub fixed_errors: Examples<EventRef>,
    /// Delivery settings that change, which no request shows (`mode`, `retry.schedule`,
    /// `rate_limit`, …): the field as a subscription file writes it, before and after.
    pub settings: Vec<FieldChange>,
}

#[derive(Debug, Serialize)]
pub struct Examples<T> {
    pub count: u64,
    /// The first `EXAMPLES`, in the events' order.
    pub examples: Vec<T>,
}

impl<T> Default for Examples<T> {
    fn default() -> Self {
        Self { count: 0, examples: Vec::new() }
    }
}

impl<T> Examples<T> {
    fn add(&mut self, example: impl FnOnce() -> T) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(example());
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventRef {
    pub uuid: String,
    pub topic: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestChange {
    pub uuid: String,
    pub topic: String,
    pub changes: Vec<FieldChange>,
}

/// One part of a request that differs: `method`, `url`, `header NAME` or `body PATH`
/// (`body (body)` for a body that is not JSON); None where it is absent.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl From<PathChange> for FieldChange {
    fn from(c: PathChange) -> Self {
        Self { field: format!("body {}", c.path), before: c.before, after: c.after }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorExample {
    pub uuid: String,
    pub topic: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Counted {
    pub text: String,
    pub events: u64,
}

/// What one event does differently through one pair.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    NewlyDelivered,
    NoLongerDelivered,
    Changed(Vec<FieldChange>),
    NewError(String),
    FixedError,
}

/// One subscription's findings as they come, event by event.
#[derive(Debug)]
pub struct Tally {
    report: SubscriptionReport,
    fields: BTreeMap<String, u64>,
    messages: BTreeMap<String, u64>,
}

impl Tally {
    pub fn new(pair: &Pair) -> Self {
        let report = SubscriptionReport {
            name: pair.name.clone(),
            change: pair.kind.clone(),
            renamed_from: pair.renamed_from.clone(),
            newly_delivered: Examples::default(),
            no_longer_delivered: Examples::default(),
            changed_requests: Examples::default(),
            changed_fields: Vec::new(),
            new_errors: Examples::default(),
            error_messages: Vec::new(),
            fixed_errors: Examples::default(),
            settings: super::settings::changes(pair),
        };
        Self { report, fields: BTreeMap::new(), messages: BTreeMap::new() }
    }

    pub fn add(&mut self, event: &EventRef, finding: Finding) {
        let r = &mut self.report;
        match finding {
            Finding::NewlyDelivered => r.newly_delivered.add(|| event.clone()),
            Finding::NoLongerDelivered => r.no_longer_delivered.add(|| event.clone()),
            Finding::FixedError => r.fixed_errors.add(|| event.clone()),
            Finding::Changed(changes) => {
                for c in &changes {
                    bump(&mut self.fields, &c.field);
                }
                r.changed_requests.add(|| RequestChange {
                    uuid: event.uuid.clone(),
                    topic: event.topic.clone(),
                    changes,
                });
            }
            Finding::NewError(error) => {
                bump(&mut self.messages, &error);
                r.new_errors.add(|| ErrorExample { uuid: event.uuid.clone(), topic: event.topic.clone(), error });
            }
        }
    }

    /// The subscription's report, or None when nothing about it changed.
    pub fn finish(self) -> Option<SubscriptionReport> {
        let mut r = self.report;
        let counted = |m: BTreeMap<String, u64>| {
            let mut v: Vec<Counted> = m.into_iter().map(|(text, events)| Counted { text, events }).collect();
            v.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.text.cmp(&b.text)));
            v.truncate(DISTINCT);
            v
        };
        r.changed_fields = counted(self.fields);
        r.error_messages = counted(self.messages);
        let events = r.newly_delivered.count
            + r.no_longer_delivered.count
            + r.changed_requests.count
            + r.new_errors.count
            + r.fixed_errors.count;
        (r.change != Kind::Kept || events > 0 || !r.settings.is_empty()).then_some(r)
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n += 1;
    } else if map.len() < DISTINCT * 10 {
        map.insert(key.to_string(), 1);
    }
}

impl Report {
    pub fn new(events: u64, subscriptions: Vec<SubscriptionReport>) -> Self {
        let mut c = Counts::default();
        for s in &subscriptions {
            match s.change {
                Kind::Added => c.added += 1,
                Kind::Removed => c.removed += 1,
                Kind::Renamed => c.renamed += 1,
                Kind::Kept => c.changed += 1,
            }
            c.newly_delivered += s.newly_delivered.count;
            c.no_longer_delivered += s.no_longer_delivered.count;
            c.changed_requests += s.changed_requests.count;
            c.new_errors += s.new_errors.count;
            c.fixed_errors += s.fixed_errors.count;
        }
        Self { events, counts: c, subscriptions }
    }

    /// Whether anything changes (exit 1) or not (exit 0).
    pub fn any(&self) -> bool {
        !self.subscriptions.is_empty()
    }
}
