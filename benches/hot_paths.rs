//! Micro-benchmarks of intake's and dispatch's hot pure functions: routing and preparing one
//! event (`accept::prepare`) as non-matching subscriptions grow, rendering real subscription
//! bodies, rendering a templated URL alone, and each signature scheme over a 1 KiB body.
//!
//! Run with `cargo bench --bench hot_paths` (add `-- <filter>` for one group, e.g. `-- route`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hookshape::event::Event;
use hookshape::secret::Secret;
use hookshape::sign::{Scheme, Signer};
use hookshape::subscription::{self, LoadOptions, SubscriptionSet};

// The binary's allocator (src/main.rs), so these measure what the server runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECEIVED_AT: i64 = 1_744_727_400_123;

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read_event(relative: &str) -> Event {
    let bytes = std::fs::read(repo(relative)).unwrap();
    hookshape::event::parse(&bytes).unwrap()
}

/// `${VAR}`s the benches pin; every other one takes its `:-default` (or a placeholder).
fn bench_env(name: &str) -> Option<String> {
    match name {
        "CRM_URL" => Some("https://crm.example.com".to_string()),
        _ => None,
    }
}

fn load(subscriptions_dir: &Path, templates_dir: &Path) -> SubscriptionSet {
    let opts = LoadOptions {
        subscriptions_dir,
        templates_dir,
        sources_dir: None,
        topics_dir: None,
        env: &bench_env,
        allow_missing_env: true,
        read_files: true,
        placeholders: Default::default(),
    };
    subscription::load(&opts).unwrap_or_else(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("subscriptions did not load:\n{}", lines.join("\n"))
    })
}

/// The repository's own subscriptions and templates, as `hookshape serve` would load them.
fn repo_set() -> SubscriptionSet {
    load(&repo("subscriptions"), &repo("templates"))
}

/// A set with the repository's `crm-points` subscription (which takes the loyalty event:
/// filter, templated URL and header, structured body, signature) plus `others`
/// subscriptions that do not take it. Half of those are exact topics and half are globs,
/// all in the same `Communication_` namespace, so they are near misses rather than
/// topics the index could skip by their first letter.
fn routing_set(others: usize) -> (tempfile::TempDir, SubscriptionSet) {
    let dir = tempfile::tempdir().unwrap();
    let subs = dir.path().join("subscriptions");
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(&subs).unwrap();
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::copy(repo("subscriptions/crm-points.yaml"), subs.join("crm-points.yaml")).unwrap();
    for i in 0..others {
        let topic = if i % 2 == 0 { format!("Communication_Other{i}") } else { format!("Communication_Other{i}_*") };
        let yaml = format!(
            r#"name: other-{i}
topics: ["{topic}"]
request:
  url: "https://receiver-{i}.example.com/hooks/{{{{ Customer.Id }}}}"
  headers:
    X-Source: "{{{{ Topic }}}}"
  body:
    id: "{{{{ Uuid }}}}"
    points: "{{{{ Points }}}}"
"#
        );
        std::fs::write(subs.join(format!("other-{i:04}.yaml")), yaml).unwrap();
    }
    let set = load(&subs, &templates);
    assert_eq!(set.len(), others + 1);
    (dir, set)
}

fn route(c: &mut Criterion) {
    let event = read_event("examples/event.json");
    let mut group = c.benchmark_group("route");
    for others in [10usize, 100, 1000] {
        let (_dir, set) = routing_set(others);
        let prepared = hookshape::accept::prepare(&event, &set, RECEIVED_AT);
        assert_eq!(prepared.deliveries.len(), 1, "exactly one subscription takes the event");
        assert!(prepared.deliveries[0].error.is_none(), "{:?}", prepared.deliveries[0].error);
        group.bench_with_input(BenchmarkId::from_parameter(others), &set, |b, set| {
            b.iter(|| hookshape::accept::prepare(black_box(&event), black_box(set), black_box(RECEIVED_AT)))
        });
    }
    group.finish();
}

fn render(c: &mut Criterion) {
    let set = repo_set();
    let cases = [
        // The loyalty platform's envelope: body_template with the enum macros (coupon type named).
        ("loyalty_envelope", "loyalty", "examples/loyalty/coupon.json"),
        // The loyalty event into the CRM: a structured `body:` with typed leaves and a date filter.
        ("crm_points_structured", "crm-points", "examples/event.json"),
        // TheMembers' envelope: body_template with a date reformat and the payload passed through.
        ("themembers_template", "themembers", "examples/themembers/class.completed.json"),
    ];
    let mut group = c.benchmark_group("render");
    for (id, name, example) in cases {
        let sub = set.get(name).unwrap_or_else(|| panic!("no subscription {name}"));
        let event = read_event(example);
        let ctx = hookshape::render::context(&event);
        let rendered = sub.template.render(&ctx).unwrap();
        assert!(rendered.body.is_some(), "{name} renders a body");
        group.bench_function(id, |b| b.iter(|| sub.template.render(black_box(&ctx))));
    }
    group.finish();
}

fn url(c: &mut Criterion) {
    let set = repo_set();
    let sub = set.get("crm-points").unwrap();
    let ctx = hookshape::render::context(&read_event("examples/event.json"));
    assert_eq!(sub.template.render_url(&ctx).unwrap(), "https://crm.example.com/customers/C-1001/points");
    let mut group = c.benchmark_group("url");
    group.bench_function("customer_points", |b| b.iter(|| sub.template.render_url(black_box(&ctx))));
    group.finish();
}

/// A 1 KiB JSON body, the order of size of a rendered delivery.
fn body_1k() -> Vec<u8> {
    let head = r#"{"email":"joao@exemplo.com","points":120,"notes":""#;
    let tail = r#""}"#;
    let mut body = String::from(head);
    body.push_str(&"x".repeat(1024 - head.len() - tail.len()));
    body.push_str(tail);
    assert_eq!(body.len(), 1024);
    body.into_bytes()
}

fn sign(c: &mut Criterion) {
    let body = body_1k();
    let schemes = [
        ("hmac-sha256-hex", Scheme::HmacSha256Hex, "mySecretKey123"),
        ("hmac-sha256-prefixed", Scheme::HmacSha256Prefixed, "vet-secret"),
        ("standard-webhooks", Scheme::StandardWebhooks, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ];
    let mut group = c.benchmark_group("sign");
    for (id, scheme, secret) in schemes {
        let signer = Signer::new(scheme, None, vec![Secret::new(secret)]).unwrap();
        group.bench_function(id, |b| {
            b.iter(|| {
                signer.headers(black_box("dlv_0196346b5f3a7c2e9d10a1b2c3d4e5f6"), black_box(1_744_727_400), &body)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, route, render, url, sign);
criterion_main!(benches);
