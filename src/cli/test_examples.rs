//! `hookshape test --examples`: every example of the topic catalog (`topics/*.yaml`) run as
//! a case through every subscription whose `topics:` reach its topic. Such a case asserts
//! what an example can assert without an expected output: the filter evaluates and the
//! request renders, without error (an `abort()` or a filter that leaves the example out is
//! a pass, said on the line). Each line names the topic file and the example's line. A glob
//! topic's example goes only where some topic it fits is taken (`examples::event_topic`).

use crate::cli::output::outln;
use std::sync::Arc;

use crate::catalog::examples::{self, Example};
use crate::catalog::{Catalog, Topic};
use crate::subscription::{Subscription, SubscriptionSet};

/// How the examples went: cases (an example through one subscription) passed and failed.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
}

/// Runs every example, printing a line per case (and per example no subscription takes).
pub fn run(set: &SubscriptionSet) -> Tally {
    let mut tally = Tally::default();
    for topic in &set.catalog.topics {
        let takers = takers(set, topic);
        for example in examples::of_topic(topic) {
            let line = examples::line_of(topic, example.number);
            let at = format!("{}:{line}: {}", topic.file.display(), example.label());
            run_example(&set.catalog, &example, &takers, &at, &mut tally);
        }
    }
    tally
}

/// The subscriptions whose `topics:` reach `topic` in the catalog's sense (a name it
/// matches, or globs that overlap), in the set's order.
fn takers<'a>(set: &'a SubscriptionSet, topic: &Arc<Topic>) -> Vec<&'a Arc<Subscription>> {
    set.iter().filter(|s| set.catalog.for_patterns(&s.topics).iter().any(|t| Arc::ptr_eq(t, topic))).collect()
}

fn run_example(catalog: &Catalog, example: &Example<'_>, takers: &[&Arc<Subscription>], at: &str, tally: &mut Tally) {
    if takers.is_empty() {
        outln!("--   {at}: no subscription takes topic {}", example.topic.name);
        return;
    }
    for sub in takers {
        // A family's example that no topic of this subscription can carry is not its case.
        let topic = match examples::event_topic(catalog, example, &sub.topics) {
            Ok(topic) => topic,
            Err(why) => {
                outln!("--   {at} → {}: skipped: {why}", sub.name);
                continue;
            }
        };
        match example.event(&topic).and_then(|e| render(sub, &e)) {
            Ok(note) => {
                tally.passed += 1;
                outln!("ok   {at} → {}{note}", sub.name);
            }
            Err(problem) => {
                tally.failed += 1;
                outln!("FAIL {at} → {}", sub.name);
                outln!("       {problem}");
            }
        }
    }
}

/// The example through one subscription: Ok with a note for the line (empty when it renders
/// a request), or what failed (secrets `***`).
fn render(sub: &Subscription, event: &crate::event::Event) -> Result<String, String> {
    let ctx = crate::render::context(event);
    let aborted = |e: &str| crate::render::aborted(e).map(|why| format!(" (abort: {why})"));
    match sub.template.matches(&ctx) {
        Ok(true) => {}
        Ok(false) => return Ok(" (its filter leaves this example out)".to_string()),
        Err(e) => return aborted(&e).ok_or_else(|| format!("filter failed: {}", sub.secrets.mask(&e))),
    }
    match crate::accept::preview(sub, event, &ctx, "dlv_example", crate::accept::Shown::Masked) {
        Ok(_) => Ok(String::new()),
        Err(e) => aborted(&e).ok_or_else(|| format!("render failed: {e}")),
    }
}
