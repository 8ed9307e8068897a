//! `hookshape diff` at the size issue 27 sets: 10,000 events × 20 subscriptions rendered
//! through a base and a working set that differ in three subscriptions (a renamed payload
//! field in a body template, a changed structured body, a changed filter).
//!
//! Run with `cargo bench --bench diff` (release; criterion, 10 samples). For one timed run
//! of any build, e.g. the debug one: `HOOKSHAPE_DIFF_BENCH_ONCE=1 cargo bench --profile dev --bench diff`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Instant;

use criterion::Criterion;
use hookshape::event::Event;
use hookshape::subscription::{self, LoadOptions, SubscriptionSet};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SUBSCRIPTIONS: usize = 20;
const EVENTS: usize = 10_000;
const TOPICS: [&str; 4] = ["Communication_EarnPurchasePoints", "Communication_Redeem", "Order_Paid", "Order_Refunded"];

/// Subscription `i`: every other one a body template, the rest a structured body; topics
/// and filters vary so routing and filtering both do work.
fn subscription(i: usize, changed: bool) -> (String, Option<String>) {
    let topics = match i % 3 {
        0 => "[\"Communication_*\"]".to_string(),
        1 => format!("[{}]", TOPICS[i % 4]),
        _ => "[\"Order_*\", Communication_Redeem]".to_string(),
    };
    let bar = if changed && i == 2 { 200 } else { 100 };
    let mut yaml = format!(
        "name: sub-{i}\ntopics: {topics}\nfilter: \"(Points | default(0)) >= {bar} or Order\"\nrequest:\n  url: \"https://receiver-{i}.example.com/hooks/{{{{ Customer.Id }}}}\"\n  headers:\n    X-Tenant: \"{{{{ Customer.StoreId | default('main') }}}}\"\n"
    );
    if i.is_multiple_of(2) {
        yaml.push_str(&format!("  body_template: sub-{i}.json.j2\n"));
        let id = if changed && i == 0 { "Customer.Code | default(none)" } else { "Customer.Id" };
        let template = format!(
            "{{\"id\": {{{{ Uuid }}}}, \"customer\": {{\"id\": {{{{ {id} }}}}, \"email\": {{{{ Customer.Email }}}}}}, \"points\": {{{{ Points | default(0) }}}}, \"items\": [{{% for it in Items | default([]) %}}{{{{ it.Sku }}}}{{% if not loop.last %}},{{% endif %}}{{% endfor %}}], \"at\": {{{{ Date }}}}}}\n"
        );
        (yaml, Some(template))
    } else {
        let source = if changed && i == 1 { "crm" } else { "loyalty" };
        yaml.push_str(&format!(
            "  body:\n    email: \"{{{{ Customer.Email }}}}\"\n    points: \"{{{{ Points | default(0) }}}}\"\n    name: \"{{{{ Customer.Name | default('') }}}}\"\n    source: {source}\n"
        ));
        (yaml, None)
    }
}

fn write_files(dir: &Path, changed: bool, touch_all: bool) -> SubscriptionSet {
    let (subs, templates) = (dir.join("subscriptions"), dir.join("templates"));
    std::fs::create_dir_all(&subs).unwrap();
    std::fs::create_dir_all(&templates).unwrap();
    for i in 0..SUBSCRIPTIONS {
        let (mut yaml, template) = subscription(i, changed);
        if touch_all {
            // A comment: nothing renders differently, but every subscription must be rendered.
            yaml.push_str("# touched\n");
        }
        std::fs::write(subs.join(format!("sub-{i}.yaml")), yaml).unwrap();
        if let Some(t) = template {
            std::fs::write(templates.join(format!("sub-{i}.json.j2")), t).unwrap();
        }
    }
    let env = |_: &str| None;
    let opts = LoadOptions {
        subscriptions_dir: &subs,
        templates_dir: &templates,
        sources_dir: None,
        topics_dir: None,
        env: &env,
        allow_missing_env: true,
        read_files: true,
        placeholders: Default::default(),
    };
    subscription::load(&opts).unwrap()
}

fn events() -> Vec<Event> {
    (0..EVENTS)
        .map(|i| {
            let text = format!(
                r#"{{"Uuid":"{}","Date":"2025-04-15T14:30:00.123Z","Topic":"{}","Payload":{{"Customer":{{"Id":"C-{i}","Email":"c{i}@exemplo.com","Name":"Cliente {i}"}},"Points":{},"Items":[{{"Sku":"A-{i}"}},{{"Sku":"B-{i}"}}]}}}}"#,
                uuid::Uuid::new_v4(),
                TOPICS[i % 4],
                (i * 37) % 400
            );
            hookshape::event::parse(text.as_bytes()).unwrap()
        })
        .collect()
}

fn run(base: &SubscriptionSet, work: &SubscriptionSet, events: &[Event]) -> hookshape::diff::Report {
    hookshape::diff::diff(base, work, events.iter().cloned().map(Ok)).unwrap()
}

fn main() {
    let (b, w, t) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let base = write_files(b.path(), false, false);
    // Three subscriptions changed: the usual pull request. Every one touched: the worst case,
    // where nothing can be skipped and all 20 are rendered twice for every event.
    let work = write_files(w.path(), true, false);
    let touched = write_files(t.path(), true, true);
    let events = events();
    if std::env::var_os("HOOKSHAPE_DIFF_BENCH_ONCE").is_some() {
        for (what, work) in [("3 changed", &work), ("all 20 touched", &touched)] {
            let started = Instant::now();
            let report = run(&base, work, &events);
            println!(
                "diff of {EVENTS} events x {SUBSCRIPTIONS} subscriptions, {what}: {:.2} s ({:?})",
                started.elapsed().as_secs_f64(),
                report.counts
            );
        }
        return;
    }
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    c.bench_function("diff/10000x20/3_changed", |bench| bench.iter(|| run(&base, &work, &events)));
    c.bench_function("diff/10000x20/all_touched", |bench| bench.iter(|| run(&base, &touched, &events)));
    c.final_summary();
}
