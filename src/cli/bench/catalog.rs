//! `hookshape bench --catalog VALIDATION`: a catalog topic for the bench's events (a
//! schema of every field their Payload has), so a run shows what checking events against
//! a schema costs intake, against a run without.

use std::path::Path;

/// Writes `topics/bench.yaml` under `dir` (the servers' working directory) with `validation`.
pub fn write_topic(dir: &Path, validation: &str) -> anyhow::Result<()> {
    let topics = dir.join("topics");
    std::fs::create_dir_all(&topics)?;
    let yaml = format!(
        "name: bench.event\n\
         schema:\n  type: object\n  required: [SentAt, N, Points, Customer, Store, Items]\n  properties:\n    \
         SentAt: {{type: integer}}\n    N: {{type: integer}}\n    Points: {{type: integer, minimum: 0}}\n    \
         Customer:\n      type: object\n      required: [Id, Email]\n      properties:\n        \
         Id: {{type: string}}\n        Name: {{type: string}}\n        Email: {{type: string, format: email}}\n        \
         Tier: {{enum: [bronze, silver, gold]}}\n    Store: {{type: object, properties: {{Id: {{type: string}}, City: {{type: string}}}}}}\n    \
         Items:\n      type: array\n      items:\n        type: object\n        required: [Sku, Qty]\n        properties:\n          \
         Sku: {{type: string}}\n          Qty: {{type: integer, minimum: 1}}\n          Price: {{type: number}}\n\
         validation: {validation}\n"
    );
    std::fs::write(topics.join("bench.yaml"), yaml)?;
    Ok(())
}
