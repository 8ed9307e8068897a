//! `hookshape listen`: a local receiver for trying subscriptions. Prints each request
//! (method, URL, headers, pretty body) and whether its signature verifies.

use crate::cli::output::outln;
use std::process::ExitCode;

use bytes::Bytes;
use warp::http::{HeaderMap, Method, StatusCode};
use warp::Filter;

use crate::sign::{self, Scheme};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port to listen on, on 127.0.0.1.
    #[arg(long, default_value_t = 9000)]
    port: u16,
    /// Signature scheme to verify: hmac-sha256-hex, hmac-sha256-prefixed or standard-webhooks.
    #[arg(long, value_parser = parse_scheme, requires = "secret")]
    scheme: Option<Scheme>,
    /// The secret the subscription signs with (required with --scheme).
    #[arg(long, env = "HOOKSHAPE_LISTEN_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Header holding the signature for the hmac schemes (default X-Webhook-Signature).
    #[arg(long)]
    signature_header: Option<String>,
    /// Status code to answer with, to try retries.
    #[arg(long, default_value_t = 200)]
    status: u16,
}

fn parse_scheme(text: &str) -> Result<Scheme, String> {
    serde_norway::from_str(text).map_err(|_| "use hmac-sha256-hex, hmac-sha256-prefixed or standard-webhooks".into())
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let status = StatusCode::from_u16(a.status)?;
    let check = a.scheme.zip(a.secret.clone()).map(|(scheme, secret)| (scheme, secret, a.signature_header.clone()));
    let route = warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(move |method: Method, path: warp::path::FullPath, query: String, headers: HeaderMap, body: Bytes| {
            outln!("{}", describe(&method, path.as_str(), &query, &headers, &body, check.as_ref()));
            warp::reply::with_status("ok", status)
        });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", a.port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{}: {e}", a.port))?;
    outln!("listening on http://{}", listener.local_addr()?);
    warp::serve(route).incoming(listener).graceful(stopped()).run().await;
    Ok(ExitCode::SUCCESS)
}

fn describe(
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    check: Option<&(Scheme, String, Option<String>)>,
) -> String {
    let mut out = format!("── {method} {path}{}{query}\n", if query.is_empty() { "" } else { "?" });
    for (k, v) in headers {
        out.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
    }
    let pretty = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    out.push_str(&format!("\n{pretty}\n"));
    if let Some((scheme, secret, header)) = check {
        let lookup = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        // No signature header at all is a subscription that signs nothing, not a forgery.
        let carrier = sign::signature_header(*scheme, header.as_deref());
        if !headers.contains_key(carrier) {
            out.push_str(&format!("signature: unsigned (no {carrier} header)\n"));
            return out;
        }
        match sign::verify(*scheme, secret, header.as_deref(), &lookup, body) {
            Ok(()) => out.push_str("signature: valid\n"),
            Err(why) => out.push_str(&format!("signature: INVALID ({why})\n")),
        }
    }
    out
}

/// Ctrl-C at a terminal, or SIGTERM from a container runtime or a service manager.
async fn stopped() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
