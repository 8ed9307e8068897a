//! `hookshape diff`: the same events rendered through two versions of the files (a base
//! and the working ones), and what that changes per subscription: added, removed or
//! renamed; events newly or no longer delivered; request changes by field and JSON path;
//! new render errors; delivery settings changed (mode, retries, limits). Nothing is sent
//! and nothing is written.

pub mod base;
pub mod body;
pub mod compare;
pub mod pairs;
pub mod report;
pub mod settings;
pub mod text;
pub mod unchanged;

pub use report::Report;

use crate::event::Event;
use crate::subscription::SubscriptionSet;

/// Renders `events` through `base` and `work` and reports what differs.
pub fn diff(
    base: &SubscriptionSet,
    work: &SubscriptionSet,
    events: impl Iterator<Item = Result<Event, String>>,
) -> Result<Report, String> {
    let pairs = pairs::pair(base, work);
    compare::run(&compare::Sides { base, work, pairs: &pairs, differing: None }, events)
}
