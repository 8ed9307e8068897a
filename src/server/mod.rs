//! The HTTP listener under the API: accepts connections up to a cap and holds each one to
//! the header-read and idle timeouts, so clients holding sockets open cannot take intake
//! away from the others. warp has no such settings, so this drives hyper directly.

mod connection;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};
use warp::reply::Response;
use warp::Filter;

pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long connections may finish their requests once the server stops.
const DRAIN: Duration = Duration::from_secs(10);
/// After a failed accept (out of file descriptors, say), wait before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Files the process keeps for itself beside client connections (store, outbound requests).
const RESERVED_FILES: u64 = 256;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    /// From a request's first byte (or the connection's start) to its last header line.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request under way is closed after this long.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// Raises the soft limit on open files to the hard one, and lowers `max_connections` if
/// even that cannot hold them: accept failing for want of descriptors stalls everyone.
pub fn fit_to_file_limit(limits: &mut Limits, outbound: usize) {
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            warn!(error = %e, "cannot read or raise the open-file limit");
            return;
        }
    };
    let room = soft.saturating_sub(RESERVED_FILES + outbound as u64) as usize;
    if room < limits.max_connections {
        let fitted = room.max(16);
        warn!(
            open_files = soft,
            asked = limits.max_connections,
            max_connections = fitted,
            "the open-file limit cannot hold --max-connections; serving fewer (raise `ulimit -n`)"
        );
        limits.max_connections = fitted;
    }
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not Send: drop it before anything else is awaited.
    let _ = stop.wait_for(|s| *s).await.map(drop);
}

/// Serves `filter` on `listener` until `stop` turns true; then stops accepting, lets
/// requests under way finish (up to a drain period) and returns.
pub async fn serve<F>(listener: TcpListener, filter: F, limits: Limits, mut stop: watch::Receiver<bool>)
where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(warp::service(filter));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    info!(max_connections = limits.max_connections, "accepting connections");
    loop {
        // At the cap, wait for a slot rather than accept and drop: the kernel's backlog
        // holds the newcomer while idle connections are being closed to make room.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stopped(&mut stop) => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let pressure = permits.clone();
        let conn = connection::Connection::new(stream, service.clone(), limits, pressure, permit);
        connections.spawn(conn.run(stop.clone(), DRAIN));
        // Reap finished connection tasks so the set does not grow with history.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    debug!(open = connections.len(), "stopped accepting; draining connections");
    while connections.join_next().await.is_some() {}
}
