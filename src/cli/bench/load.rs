//! The bench's load generator: posts canonical events over keep-alive connections, either
//! as fast as `concurrency` connections allow (closed loop) or at a fixed rate (open loop,
//! for latency), for a number of events or a duration.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

#[derive(Debug, Clone, Copy)]
pub enum Limit {
    Events(u64),
    Duration(Duration),
}

pub struct Load {
    /// Where to POST; requests go to each in turn (several nodes, or the receiver itself).
    pub targets: Vec<String>,
    pub concurrency: usize,
    pub limit: Limit,
    /// Events per second; None posts as fast as the connections allow.
    pub rate: Option<f64>,
}

#[derive(Default)]
pub struct Posted {
    pub sent: AtomicU64,
    pub accepted: AtomicU64,
    pub failed: AtomicU64,
    pub first_error: Mutex<Option<String>>,
    /// When the latest accepted POST was answered, in microseconds since the epoch.
    pub last_ok_at: AtomicU64,
    pub done: AtomicBool,
}

impl Posted {
    fn fail(&self, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(why);
        }
    }
}

/// A canonical event of a realistic size (about 400 bytes), stamped with its send time.
pub fn event_body(n: u64) -> String {
    let sent = super::now_micros();
    format!(
        r#"{{"Topic":"bench.event","Payload":{{"SentAt":{sent},"N":{n},"Points":{points},"Customer":{{"Id":"C-{n}","Name":"Bench Customer {n}","Email":"customer{n}@example.com","Tier":"gold"}},"Store":{{"Id":"S-{store}","City":"São Paulo"}},"Items":[{{"Sku":"A-1","Qty":2,"Price":19.9}},{{"Sku":"B-7","Qty":1,"Price":5.5}}]}}}}"#,
        points = n % 1000,
        store = n % 50,
    )
}

pub async fn run(client: reqwest::Client, load: Load, posted: Arc<Posted>) {
    let load = Arc::new(load);
    let started = Instant::now();
    let more = {
        let load = load.clone();
        move |n: u64| match load.limit {
            Limit::Events(total) => n < total,
            Limit::Duration(d) => started.elapsed() < d,
        }
    };
    match load.rate {
        None => {
            let next = Arc::new(AtomicU64::new(0));
            let workers: Vec<_> = (0..load.concurrency)
                .map(|_| {
                    let (client, load, posted, next, more) =
                        (client.clone(), load.clone(), posted.clone(), next.clone(), more.clone());
                    tokio::spawn(async move {
                        loop {
                            let n = next.fetch_add(1, Ordering::Relaxed);
                            if !more(n) {
                                break;
                            }
                            post(&client, &load, &posted, n).await;
                        }
                    })
                })
                .collect();
            for w in workers {
                let _ = w.await;
            }
        }
        Some(rate) => {
            // Each event has its time; a slow answer never delays the next event's send
            // (up to `concurrency` outstanding, beyond which sends queue).
            let permits = Arc::new(Semaphore::new(load.concurrency));
            let start = tokio::time::Instant::now();
            let mut n = 0u64;
            while more(n) {
                tokio::time::sleep_until(start + Duration::from_secs_f64(n as f64 / rate)).await;
                let Ok(permit) = permits.clone().acquire_owned().await else { break };
                let (client, load, posted) = (client.clone(), load.clone(), posted.clone());
                tokio::spawn(async move {
                    post(&client, &load, &posted, n).await;
                    drop(permit);
                });
                n += 1;
            }
            let _ = permits.acquire_many(load.concurrency as u32).await;
        }
    }
    posted.done.store(true, Ordering::Relaxed);
}

async fn post(client: &reqwest::Client, load: &Load, posted: &Posted, n: u64) {
    let target = &load.targets[(n % load.targets.len() as u64) as usize];
    posted.sent.fetch_add(1, Ordering::Relaxed);
    match client.post(target).header("content-type", "application/json").body(event_body(n)).send().await {
        Ok(resp) if resp.status().is_success() => {
            // Read to the end so the connection goes back to the pool.
            let _ = resp.bytes().await;
            posted.accepted.fetch_add(1, Ordering::Relaxed);
            posted.last_ok_at.fetch_max(super::now_micros(), Ordering::Relaxed);
        }
        Ok(resp) => {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            posted.fail(format!("{target} answered {status}: {body}"));
        }
        Err(e) => posted.fail(format!("{target}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bench_events_are_canonical_events() {
        let body = super::event_body(7);
        let event = crate::event::parse(body.as_bytes()).unwrap();
        assert_eq!(event.topic, "bench.event");
        assert_eq!(event.payload["Customer"]["Id"], "C-7");
    }
}
