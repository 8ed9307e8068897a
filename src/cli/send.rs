//! `hookshape send`: posts an event file to a running intake and prints the answer.

use crate::cli::output::outln;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A canonical event as JSON (or a JSON array, sent to the batch endpoint).
    file: PathBuf,
    /// The intake endpoint to post to (a JSON array goes to its `/batch`).
    #[arg(long, default_value = "http://127.0.0.1:8080/v1/events")]
    url: String,
    /// Intake token (default: HOOKSHAPE_INTAKE_TOKEN).
    #[arg(long, env = "HOOKSHAPE_INTAKE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let body = std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let url = endpoint_for(&a.url, &body);
    let mut req = reqwest::Client::new().post(&url).header("Content-Type", "application/json").body(body);
    if let Some(token) = &a.token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.with_context(|| format!("cannot reach {url}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    outln!("{status}\n{text}");
    Ok(if status.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The batch endpoint beside `url` (`…/v1/events` → `…/v1/events/batch`) when `body` is a
/// JSON array, which the single-event endpoint refuses; otherwise `url` as given.
fn endpoint_for(url: &str, body: &[u8]) -> String {
    let array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    match url.trim_end_matches('/').strip_suffix("/v1/events") {
        Some(base) if array => format!("{base}/v1/events/batch"),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint_for;

    #[test]
    fn an_array_goes_to_the_batch_endpoint_and_an_object_where_it_was_sent() {
        let url = "http://127.0.0.1:8080/v1/events";
        assert_eq!(endpoint_for(url, b" \n[{}]"), "http://127.0.0.1:8080/v1/events/batch");
        assert_eq!(endpoint_for("http://h/v1/events/", b"[]"), "http://h/v1/events/batch");
        assert_eq!(endpoint_for(url, br#"{"Topic":"T"}"#), url);
        // A URL of the caller's own (a source, a proxy's path) is left as it is.
        assert_eq!(endpoint_for("http://h/v1/sources/eduzz", b"[]"), "http://h/v1/sources/eduzz");
    }
}
