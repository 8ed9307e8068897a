//! `bench --console`: after the load, how long the console's pages take to answer against
//! the store as the run left it (with `--prefill`, a long history): the deliveries page
//! unfiltered, by state, by subscription and state, a page deep in the history, and the
//! overview. Server-side time as the client sees it on loopback.

use std::time::Instant;

use serde::Serialize;

/// Requests per page; the report gives the median and the slowest.
const TRIES: usize = 20;

#[derive(Debug, Clone, Serialize)]
pub struct PageTiming {
    pub page: String,
    pub p50_ms: f64,
    pub max_ms: f64,
    /// Table rows on the page (deliveries shown), so a fast empty page cannot pass for a full one.
    pub rows: usize,
}

pub async fn time_pages(client: &reqwest::Client, base: &str) -> anyhow::Result<Vec<PageTiming>> {
    let pages = [
        "/console/deliveries",
        "/console/deliveries?status=succeeded",
        "/console/deliveries?status=failed",
        "/console/deliveries?subscription=bench-0&status=succeeded",
        "/console/deliveries?cursor=dlv_0000000000500000",
        "/console/deliveries?topic=bench.event&since=2026-01-01T00:00:00Z",
        "/console/",
    ];
    let mut out = Vec::with_capacity(pages.len());
    for page in pages {
        let mut times = Vec::with_capacity(TRIES);
        let mut rows = 0;
        for _ in 0..TRIES {
            let started = Instant::now();
            let resp = client.get(format!("{base}{page}")).send().await?;
            let status = resp.status();
            let html = resp.text().await?;
            if !status.is_success() {
                anyhow::bail!("{page} answered {status}");
            }
            rows = html.matches("<tr>").count();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        out.push(PageTiming { page: page.to_string(), p50_ms: times[TRIES / 2], max_ms: times[TRIES - 1], rows });
    }
    Ok(out)
}
