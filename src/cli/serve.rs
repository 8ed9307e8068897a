//! `hookshape serve`: the service, until SIGINT or SIGTERM; SIGHUP reloads subscriptions.

use std::path::PathBuf;
use std::process::ExitCode;

use tracing::info;

use crate::app::Application;
use crate::config::{Overrides, ServeConfig};
use crate::reload::Reloader;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Config file (default: hookshape.yaml when present).
    #[arg(long, env = "HOOKSHAPE_CONFIG")]
    config: Option<PathBuf>,
    /// Address and port to serve the API and console on (default 127.0.0.1:8080).
    #[arg(long, env = "HOOKSHAPE_LISTEN")]
    listen: Option<String>,
    /// sqlite://PATH (default sqlite://data/hookshape.db) or postgres://…
    #[arg(long, env = "HOOKSHAPE_STORE")]
    store: Option<String>,
    /// Subscriptions, one YAML file each (default subscriptions/).
    #[arg(long, env = "HOOKSHAPE_SUBSCRIPTIONS")]
    subscriptions: Option<PathBuf>,
    /// Body templates and macros the subscriptions use (default templates/).
    #[arg(long, env = "HOOKSHAPE_TEMPLATES")]
    templates: Option<PathBuf>,
    /// Inbound sources, one YAML file each (default sources/).
    #[arg(long, env = "HOOKSHAPE_SOURCES")]
    sources: Option<PathBuf>,
    /// The event catalog, one topic per YAML file (default topics/).
    #[arg(long, env = "HOOKSHAPE_TOPICS")]
    topics: Option<PathBuf>,
    /// Largest accepted request body, in bytes (default 1 MiB).
    #[arg(long, env = "HOOKSHAPE_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Requests in flight at once across all subscriptions (default 256).
    #[arg(long, env = "HOOKSHAPE_CONCURRENCY")]
    concurrency: Option<usize>,
    /// How long attempts in flight may finish after SIGTERM (default 10s).
    #[arg(long, env = "HOOKSHAPE_SHUTDOWN_GRACE")]
    shutdown_grace: Option<String>,
    /// How long finished deliveries are kept (default 30d).
    #[arg(long, env = "HOOKSHAPE_RETENTION")]
    retention: Option<String>,
    /// How long deliveries of a subscription no node has loaded wait for one that does,
    /// before they are failed as "subscription removed" (default 10m).
    #[arg(long, env = "HOOKSHAPE_ORPHAN_GRACE")]
    orphan_grace: Option<String>,
    /// Tests only: this node's clock reads this many milliseconds off.
    #[arg(long, hide = true, allow_hyphen_values = true)]
    clock_skew_ms: Option<i64>,
    /// Pending deliveries past which intake answers 503 (default 1000000).
    #[arg(long, env = "HOOKSHAPE_MAX_PENDING")]
    max_pending: Option<u64>,
    /// Client connections open at once, at most (default 4096); more wait to be accepted.
    #[arg(long, env = "HOOKSHAPE_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Items in one POST /v1/events/batch, at most (default 1000).
    #[arg(long, env = "HOOKSHAPE_MAX_BATCH_ITEMS")]
    max_batch_items: Option<usize>,
    /// A request's headers must arrive within this long (default 10s).
    #[arg(long, env = "HOOKSHAPE_HEADER_READ_TIMEOUT")]
    header_read_timeout: Option<String>,
    /// A keep-alive connection with no request is closed after this long (default 60s).
    #[arg(long, env = "HOOKSHAPE_IDLE_TIMEOUT")]
    idle_timeout: Option<String>,
    /// A request's body must arrive within this long (default 30s).
    #[arg(long, env = "HOOKSHAPE_BODY_READ_TIMEOUT")]
    body_read_timeout: Option<String>,
    /// Refuse deliveries to loopback, RFC 1918, CGNAT, ULA and unspecified addresses too
    /// (link-local and cloud metadata addresses are always refused).
    /// The variable takes true/false, yes/no, on/off or 1/0.
    #[arg(long, env = "HOOKSHAPE_DENY_PRIVATE_NETWORKS", value_parser = clap::builder::BoolishValueParser::new())]
    deny_private_networks: bool,
    /// An address range deliveries may reach despite --deny-private-networks (repeatable).
    #[arg(long = "egress-allow", value_name = "CIDR", env = "HOOKSHAPE_EGRESS_ALLOW", value_delimiter = ',')]
    egress_allow: Vec<String>,
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        listen: a.listen,
        store: a.store,
        subscriptions: a.subscriptions,
        templates: a.templates,
        sources: a.sources,
        topics: a.topics,
        max_body_bytes: a.max_body_bytes,
        concurrency: a.concurrency,
        shutdown_grace: a.shutdown_grace,
        retention: a.retention,
        orphan_grace: a.orphan_grace,
        max_pending: a.max_pending,
        max_connections: a.max_connections,
        max_batch_items: a.max_batch_items,
        header_read_timeout: a.header_read_timeout,
        idle_timeout: a.idle_timeout,
        body_read_timeout: a.body_read_timeout,
        deny_private_networks: a.deny_private_networks.then_some(true),
        egress_allow: Some(a.egress_allow),
        // Tokens come from the environment only: flags would show in `ps`.
        intake_token: std::env::var("HOOKSHAPE_INTAKE_TOKEN").ok(),
        admin_token: std::env::var("HOOKSHAPE_ADMIN_TOKEN").ok(),
    };
    if let Some(skew) = a.clock_skew_ms {
        crate::clock::skew_for_tests(skew);
    }
    let config = ServeConfig::resolve(a.config.as_deref(), overrides)?;
    let app = Application::build(config).await?;
    info!(address = %app.local_addr(), "hookshape is listening");
    spawn_reload_on_sighup(app.reloader());
    app.run_until_stopped(stop_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn spawn_reload_on_sighup(reloader: Reloader) {
    use tokio::signal::unix::{signal, SignalKind};
    tokio::spawn(async move {
        let Ok(mut hup) = signal(SignalKind::hangup()) else { return };
        while hup.recv().await.is_some() {
            // Said, so a `systemctl reload` is seen to have run even when nothing changed.
            info!("SIGHUP: reading the subscription files again");
            let r = reloader.clone();
            let _ = tokio::task::spawn_blocking(move || r.reload()).await;
        }
    });
}
