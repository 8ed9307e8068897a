//! `bench --console`: after the load, how long the console's pages take to answer against
//! the store as the run left it (with `--prefill`, a long history): the deliveries page
//! unfiltered, by state, by subscription and state, a page deep in the history, and the
//! overview, the subscriptions page and the admin API's `/v1/subscriptions` (their counts
//! must not grow with the history), and a history search by key (page and API). Server-side time as the client sees it on loopback.

use std::time::Instant;

use serde::Serialize;

/// Requests per page; the report gives the median and the slowest.
const TRIES: usize = 20;

#[derive(Debug, Clone, Serialize)]
pub struct PageTiming {
    pub page: String,
    pub p50_ms: f64,
    pub max_ms: f64,
    /// Table rows on the page (deliveries shown; subscriptions listed by the API), so a fast
    /// empty page cannot pass for a full one.
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
        // History search: the load's customer C-7 (by its URL, and by its key with
        // --search-keys) and the prefill's event 7 (`--prefill` indexes its events so),
        // unless the node's retention pruned it: it is the prefill's oldest.
        "/console/deliveries?key=C-7",
        "/v1/deliveries?key=Customer.Id:C-7",
        "/console/",
        "/console/subscriptions",
        "/v1/subscriptions",
    ];
    let mut out = Vec::with_capacity(pages.len());
    for page in pages {
        let mut times = Vec::with_capacity(TRIES);
        let mut rows = 0;
        for _ in 0..TRIES {
            let started = Instant::now();
            let resp = client.get(format!("{base}{page}")).send().await?;
            let status = resp.status();
            let text = resp.text().await?;
            if !status.is_success() {
                anyhow::bail!("{page} answered {status}");
            }
            rows = shown_rows(&text);
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        out.push(PageTiming { page: page.to_string(), p50_ms: times[TRIES / 2], max_ms: times[TRIES - 1], rows });
    }
    Ok(out)
}

/// A page's table rows, or the items of the API's JSON list.
fn shown_rows(text: &str) -> usize {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(json) => json["subscriptions"]
            .as_array()
            .or_else(|| json["deliveries"].as_array())
            .or_else(|| json.as_array())
            .map_or(0, Vec::len),
        // Rows may carry attributes (`<tr data-id=…>`, for the live refresh).
        Err(_) => text.matches("<tr>").count() + text.matches("<tr ").count(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_are_table_rows_or_the_api_list() {
        assert_eq!(super::shown_rows("<table><tr><td>a</td></tr><tr><td>b</td></tr></table>"), 2);
        assert_eq!(super::shown_rows("<table><tr><th>h</th></tr><tr data-id=\"d\"><td>b</td></tr></table>"), 2);
        assert_eq!(super::shown_rows(r#"{"subscriptions":[{"name":"a"},{"name":"b"},{"name":"c"}]}"#), 3);
    }
}
