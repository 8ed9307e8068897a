//! `bench --prefill N`: a store whose history already holds N finished deliveries, to
//! measure that throughput does not depend on how much history there is.

use std::path::Path;

use anyhow::Context;

pub fn finished_history(path: &Path, deliveries: u64) -> anyhow::Result<()> {
    eprintln!("filling {} with {deliveries} finished deliveries…", path.display());
    let started = std::time::Instant::now();
    crate::store::sqlite::SqliteStore::prefill_finished(path, deliveries)
        .with_context(|| format!("cannot prefill {}", path.display()))?;
    eprintln!("filled in {:.0?}", started.elapsed());
    Ok(())
}

/// The PostgreSQL history: `deliveries` spread over the run's `fan_out` subscriptions,
/// the newest finished `age` ago.
pub async fn postgres_history(
    url: &str,
    deliveries: u64,
    fan_out: usize,
    age: std::time::Duration,
) -> anyhow::Result<()> {
    use crate::store::postgres::{prefill::History, PostgresStore};
    eprintln!("filling the PostgreSQL store with {deliveries} finished deliveries…");
    let started = std::time::Instant::now();
    let store = PostgresStore::open(url).await.map_err(|e| anyhow::anyhow!("--prefill: {e}"))?;
    let subscriptions: Vec<String> = (0..fan_out).map(|k| format!("bench-{k}")).collect();
    let age_ms = i64::try_from(age.as_millis()).context("--prefill-age is too long")?;
    let history = History { deliveries, subscriptions: &subscriptions, newest_at: crate::now_ms() - age_ms };
    let mut progress = |done: u64| eprintln!("  {done}/{deliveries} in {:.0?}", started.elapsed());
    store.prefill_finished(&history, &mut progress).await.map_err(|e| anyhow::anyhow!("--prefill: {e}"))?;
    eprintln!("filled (and vacuumed) in {:.0?}", started.elapsed());
    Ok(())
}
