//! `hookshape render`: the exact request a subscription would send for an event file,
//! with secrets shown as `***`. Sends nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context};

use super::{load_or_report, FileArgs};
use crate::dispatch::sender;
use crate::store::Leased;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    subscription: String,
    #[arg(long)]
    event: PathBuf,
    #[command(flatten)]
    files: FileArgs,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let Some(set) = load_or_report(&a.files) else { return Ok(ExitCode::FAILURE) };
    let sub = set.get(&a.subscription).ok_or_else(|| anyhow!("no subscription named {:?}", a.subscription))?;
    let bytes = std::fs::read(&a.event).with_context(|| format!("cannot read {}", a.event.display()))?;
    let event = crate::event::parse(&bytes).map_err(|e| anyhow!("{}: {e}", a.event.display()))?;
    if !set.routes(&event.topic).any(|s| s.name == sub.name) {
        eprintln!("note: topic {:?} does not match this subscription's topics; rendering anyway", event.topic);
    }
    let ctx = crate::render::context(&event);
    if !sub.template.matches(&ctx).map_err(|e| anyhow!("filter: {e}"))? {
        eprintln!("note: the filter does not let this event through; rendering anyway");
    }
    let rendered = sub.template.render(&ctx).map_err(|e| anyhow!("render failed: {e}"))?;
    let request = crate::accept::stored_request(sub, rendered);
    let shown = request.redacted();
    let leased = Leased {
        id: "dlv_render".into(),
        event_uuid: event.uuid.clone(),
        subscription: sub.name.clone(),
        topic: event.topic.clone(),
        attempt: 1,
        request: shown.clone(),
    };
    println!("{} {}", shown.method, shown.url);
    // Signatures are computed over the real body, which redaction does not change.
    for (k, v) in sender::headers(&leased, sub, chrono::Utc::now().timestamp()) {
        println!("{k}: {v}");
    }
    if let Some(body) = &shown.body {
        println!("\n{body}");
    }
    Ok(ExitCode::SUCCESS)
}
