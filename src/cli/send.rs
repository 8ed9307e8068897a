//! `hookshape send`: posts an event file to a running intake and prints the answer.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A canonical event as JSON (or a JSON array, sent to the batch endpoint).
    file: PathBuf,
    /// The intake endpoint to post to.
    #[arg(long, default_value = "http://127.0.0.1:8080/v1/events")]
    url: String,
    /// Intake token (default: HOOKSHAPE_INTAKE_TOKEN).
    #[arg(long, env = "HOOKSHAPE_INTAKE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let body = std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let mut req = reqwest::Client::new().post(&a.url).header("Content-Type", "application/json").body(body);
    if let Some(token) = &a.token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.with_context(|| format!("cannot reach {}", a.url))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    println!("{status}\n{text}");
    Ok(if status.is_success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
