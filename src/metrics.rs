//! Prometheus metrics, one registry per application (so tests can run several apps in one
//! process). Counters move where things happen; gauges are refreshed by `housekeeping`.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub events_accepted: IntCounterVec,
    pub deliveries: IntCounterVec,
    pub attempt_seconds: HistogramVec,
    pub queue_depth: IntGaugeVec,
    pub oldest_pending_seconds: Gauge,
    pub disabled_subscriptions: IntGauge,
    pub reload_failures: IntCounter,
    pub source_requests: IntCounterVec,
    pub schema_mismatch: IntCounterVec,
    pub lease_skipped: IntCounter,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let m = Self {
            events_accepted: IntCounterVec::new(
                Opts::new(
                    "hookshape_events_accepted_total",
                    "Events accepted (duplicates not counted), by the configured topic or pattern they matched",
                ),
                &["topic"],
            )?,
            deliveries: IntCounterVec::new(
                Opts::new(
                    "hookshape_deliveries_total",
                    "Deliveries that reached a final state, by subscription and state",
                ),
                &["subscription", "state"],
            )?,
            attempt_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "hookshape_attempt_duration_seconds",
                    "Duration of delivery attempts, by subscription",
                )
                .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
                &["subscription"],
            )?,
            queue_depth: IntGaugeVec::new(
                Opts::new(
                    "hookshape_queue_depth",
                    "Deliveries in the store, by state (every second; finished ones from the store's counters)",
                ),
                &["state"],
            )?,
            oldest_pending_seconds: Gauge::new(
                "hookshape_oldest_pending_age_seconds",
                "Age of the oldest pending delivery (0 when none)",
            )?,
            disabled_subscriptions: IntGauge::new(
                "hookshape_subscriptions_disabled",
                "Subscriptions disabled in the store",
            )?,
            reload_failures: IntCounter::new("hookshape_reload_failures_total", "Subscription reloads refused")?,
            source_requests: IntCounterVec::new(
                Opts::new(
                    "hookshape_source_requests_total",
                    "Requests to inbound sources, by source and outcome (accepted, duplicate, \
                     refused_signature, refused_json, refused_mapping, refused_schema)",
                ),
                &["source", "outcome"],
            )?,
            schema_mismatch: IntCounterVec::new(
                Opts::new(
                    "hookshape_events_schema_mismatch_total",
                    "Events accepted although their Payload does not conform to a catalog topic with \
                     validation: warn, by catalog topic",
                ),
                &["topic"],
            )?,
            lease_skipped: IntCounter::new(
                "hookshape_lease_skipped_total",
                "Due deliveries this node's leases wanted and did not get because another node held \
                 them (PostgreSQL SKIP LOCKED; always 0 with SQLite)",
            )?,
            registry,
        };
        m.registry.register(Box::new(m.events_accepted.clone()))?;
        m.registry.register(Box::new(m.deliveries.clone()))?;
        m.registry.register(Box::new(m.attempt_seconds.clone()))?;
        m.registry.register(Box::new(m.queue_depth.clone()))?;
        m.registry.register(Box::new(m.oldest_pending_seconds.clone()))?;
        m.registry.register(Box::new(m.disabled_subscriptions.clone()))?;
        m.registry.register(Box::new(m.reload_failures.clone()))?;
        m.registry.register(Box::new(m.source_requests.clone()))?;
        m.registry.register(Box::new(m.schema_mismatch.clone()))?;
        m.registry.register(Box::new(m.lease_skipped.clone()))?;
        Ok(m)
    }

    pub fn source_accepted(&self, source: &str, duplicate: bool) {
        let outcome = if duplicate { "duplicate" } else { "accepted" };
        self.source_requests.with_label_values(&[source, outcome]).inc();
    }

    pub fn source_refused(&self, source: &str, reason: &str) {
        self.source_requests.with_label_values(&[source, &format!("refused_{reason}")]).inc();
    }

    pub fn delivery_finished(&self, subscription: &str, state: &str) {
        self.deliveries.with_label_values(&[subscription, state]).inc();
    }

    /// Events accepted and deliveries finished since start, every label summed: what the
    /// console's overview turns into rates.
    pub fn totals(&self) -> (u64, u64) {
        (sum(&self.events_accepted), sum(&self.deliveries))
    }

    /// Refused requests since start, by source and reason (`signature`, `json`, `mapping`),
    /// read from `hookshape_source_requests_total` without adding series to it: what the
    /// console shows. Counted on this node only, like the metric.
    pub fn source_refusals(&self) -> Vec<(String, String, u64)> {
        use prometheus::core::Collector;
        let families = self.source_requests.collect();
        let mut found = Vec::new();
        for m in families.iter().flat_map(|family| family.get_metric()) {
            let label = |name: &str| m.get_label().iter().find(|l| l.name() == name).map(|l| l.value().to_string());
            let (Some(source), Some(outcome)) = (label("source"), label("outcome")) else { continue };
            if let Some(reason) = outcome.strip_prefix("refused_") {
                found.push((source, reason.to_string(), m.get_counter().get_value() as u64));
            }
        }
        found
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn sum(counters: &IntCounterVec) -> u64 {
    use prometheus::core::Collector;
    counters.collect().iter().flat_map(|family| family.get_metric()).map(|m| m.get_counter().get_value() as u64).sum()
}
