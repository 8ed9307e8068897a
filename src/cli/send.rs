//! `hookshape send`: posts an event file to a running intake and prints the answer.

use crate::cli::admin::{read_answer, Field, Shape};
use crate::cli::output::outln;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A canonical event as JSON (or a JSON array, sent to the batch endpoint).
    file: PathBuf,
    /// Where hookshape serve listens (the event goes to /v1/events, a JSON array to
    /// /v1/events/batch), or an endpoint of its own (a source's /v1/sources/NAME).
    #[arg(long, env = "HOOKSHAPE_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Intake token (default: HOOKSHAPE_INTAKE_TOKEN).
    #[arg(long, env = "HOOKSHAPE_INTAKE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// What intake and a source answer with 2xx (Accepted), and the batch endpoint (BatchAnswer).
const ACCEPTED: Shape = &[Field::Text("uuid"), Field::Number("deliveries")];
const BATCH: Shape = &[Field::List("results")];

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let body = std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let body = crate::json::without_bom(body);
    let url = endpoint_for(&with_events_path(&a.url)?, &body);
    let mut req = reqwest::Client::new().post(&url).header("Content-Type", "application/json").body(body);
    if let Some(token) = &a.token {
        req = req.bearer_auth(token);
    }
    let shown = crate::secret::mask_userinfo(&url);
    let resp = req.send().await.with_context(|| format!("cannot reach {shown}"))?;
    let status = resp.status();
    // Checked before anything is printed: a 200 from a server that is not hookshape
    // means the event went nowhere, and must not read as sent.
    let path = url::Url::parse(&url).map(|u| u.path().trim_end_matches('/').to_string()).unwrap_or_default();
    let expected = if path.ends_with("/v1/events/batch") { BATCH } else { ACCEPTED };
    let (answer, text) = read_answer(&shown, resp, expected).await?;
    outln!("{status}\n{text}");
    Ok(if status.is_success() && !an_item_refused(&answer) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `url` as given when it names one of hookshape's routes (`…/v1/events`, a source's
/// `…/v1/sources/NAME`), else with `/v1/events` added to where serve listens (a proxy's
/// prefix kept), as the other client commands add theirs.
fn with_events_path(url: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https")).ok_or_else(|| {
        let shown = crate::secret::mask_userinfo(url);
        anyhow::anyhow!("--url {shown:?} is not an http:// or https:// address (http://127.0.0.1:8080)")
    })?;
    if super::admin::names_a_route(parsed.path()) {
        return Ok(url.to_string());
    }
    let mut with_route = parsed;
    let path = format!("{}/v1/events", with_route.path().trim_end_matches('/'));
    with_route.set_path(&path);
    Ok(with_route.to_string())
}

/// Whether a batch's answer refused one of its items (a 200 for the batch, a 422 inside).
fn an_item_refused(answer: &serde_json::Value) -> bool {
    answer["results"]
        .as_array()
        .is_some_and(|items| items.iter().any(|i| !i["status"].as_u64().is_some_and(|s| (200..300).contains(&s))))
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
    use super::{an_item_refused, endpoint_for, with_events_path};

    #[test]
    fn a_base_url_gets_the_events_path_and_an_endpoint_is_kept() {
        assert_eq!(with_events_path("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080/v1/events");
        assert_eq!(with_events_path("http://h:1/").unwrap(), "http://h:1/v1/events");
        assert_eq!(with_events_path("http://h/v1/sources/eduzz").unwrap(), "http://h/v1/sources/eduzz");
        assert_eq!(
            with_events_path("https://ops.example/hookshape/").unwrap(),
            "https://ops.example/hookshape/v1/events"
        );
        assert!(with_events_path("127.0.0.1:8080").unwrap_err().to_string().contains("not an http:// or https://"));
        assert_eq!(
            with_events_path("https://gw.example/v1/hookshape").unwrap(),
            "https://gw.example/v1/hookshape/v1/events"
        );
        assert_eq!(with_events_path("http://h:8080?x=1").unwrap(), "http://h:8080/v1/events?x=1");
        assert!(!with_events_path("ftp://u:pa55word@h").unwrap_err().to_string().contains("pa55word"));
        let refused = |answer: &str| an_item_refused(&serde_json::from_str(answer).unwrap());
        assert!(refused(r#"{"results":[{"status":202},{"status":422,"error":"x"}]}"#));
        assert!(!refused(r#"{"results":[{"status":202},{"status":200}]}"#));
        assert!(!refused(r#"{"uuid":"u","deliveries":1}"#));
    }

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
