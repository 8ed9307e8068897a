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
