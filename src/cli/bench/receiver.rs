//! The bench's receiver: a loopback HTTP server that answers 200 at once and records, per
//! request, how long ago the event it carries was posted (`?t=` microseconds).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use warp::Filter;

#[derive(Default)]
pub struct Arrivals {
    pub count: AtomicU64,
    /// When the latest request arrived, in microseconds since the epoch.
    pub last_at: AtomicU64,
    /// End-to-end latency of each request, in microseconds.
    latencies: Mutex<Vec<u32>>,
    /// When each request arrived (µs since the epoch), for counting them by window.
    times: Mutex<Vec<u64>>,
}

impl Arrivals {
    fn record(&self, sent_at: Option<u64>) {
        let now = super::now_micros();
        if let Some(sent) = sent_at {
            let latency = u32::try_from(now.saturating_sub(sent)).unwrap_or(u32::MAX);
            if let Ok(mut l) = self.latencies.lock() {
                l.push(latency);
            }
        }
        if let Ok(mut t) = self.times.lock() {
            t.push(now);
        }
        self.last_at.fetch_max(now, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// When each request arrived, in microseconds since the epoch.
    pub fn times(&self) -> Vec<u64> {
        self.times.lock().map(|t| t.clone()).unwrap_or_default()
    }

    pub fn latencies(&self) -> Vec<u32> {
        self.latencies.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.last_at.store(0, Ordering::Relaxed);
        if let Ok(mut l) = self.latencies.lock() {
            l.clear();
        }
        if let Ok(mut t) = self.times.lock() {
            t.clear();
        }
    }
}

/// Requests under this path hang for a minute and are not counted: the fairness
/// scenario's slow receiver.
pub const HANG_PATH: &str = "/hang";

/// Starts the receiver on a port-0 loopback listener; it runs until the process ends.
pub async fn start() -> anyhow::Result<(SocketAddr, Arc<Arrivals>)> {
    let arrivals = Arc::new(Arrivals::default());
    let recorded = arrivals.clone();
    let route = warp::path::full()
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::body::bytes())
        .then(move |path: warp::path::FullPath, query: String, _body: bytes::Bytes| {
            let recorded = recorded.clone();
            async move {
                if path.as_str().starts_with(HANG_PATH) {
                    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                } else {
                    recorded.record(sent_at(&query));
                }
                warp::reply()
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(warp::serve(route).incoming(listener).run());
    Ok((addr, arrivals))
}

fn sent_at(query: &str) -> Option<u64> {
    query.split('&').find_map(|pair| pair.strip_prefix("t=")).and_then(|t| t.parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_send_time_is_read_from_the_query() {
        assert_eq!(super::sent_at("a=1&t=1700000000000001"), Some(1_700_000_000_000_001));
        assert_eq!(super::sent_at("t=x"), None);
        assert_eq!(super::sent_at(""), None);
    }
}
