//! `hookshape events export`: a node's stored events as canonical JSON lines on stdout,
//! read-only (for `hookshape diff`, `hookshape send`, or a bug report with `--redact`).
//! Exit 0, or 2 with the reason on stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::export::{Export, RedactPath};
use crate::store::export::Selection;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// Stored events as canonical JSON lines (oldest first) on stdout; the store is only
    /// read. Exit 0, or 2 with the reason on stderr.
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// sqlite://PATH or postgres://… (default: the store serve would use: hookshape.yaml's
    /// store, else sqlite://data/hookshape.db).
    #[arg(long, env = "HOOKSHAPE_STORE")]
    store: Option<String>,
    /// Config file whose store: to read (default: hookshape.yaml when present).
    #[arg(long, env = "HOOKSHAPE_CONFIG")]
    config: Option<PathBuf>,
    /// Only events of this topic (a name, or a glob with *).
    #[arg(long)]
    topic: Option<String>,
    /// Only events received since this time: RFC 3339, or a duration back from now (24h, 7d).
    #[arg(long)]
    since: Option<String>,
    /// Only the newest N events (still printed oldest first).
    #[arg(long, value_name = "N")]
    last: Option<usize>,
    /// Replace the value at this payload path (Customer.Email, Items[].Sku, Items[0].Sku) with a
    /// stable placeholder (redacted-<hash>; numbers become strings; null, "", booleans, 0, [] and
    /// {} are kept, as they identify no one); repeatable.
    #[arg(long, value_name = "PATH")]
    redact: Vec<String>,
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let EventsCommand::Export(a) = a.command;
    let export = match export_of(a) {
        Ok(export) => export,
        Err(e) => return Ok(super::failed(&e)),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match crate::export::write(&export, &mut out).await {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => Ok(super::failed(&format!("{e:#}"))),
    }
}

fn export_of(a: ExportArgs) -> Result<Export, String> {
    let store = crate::config::store_url(a.config.as_deref(), a.store).map_err(|e| format!("{e:#}"))?;
    if let Some(topic) = &a.topic {
        crate::subscription::topics::validate(topic).map_err(|e| format!("--topic: {e}"))?;
    }
    if a.last == Some(0) {
        return Err("--last: give a number of events, 1 or more".into());
    }
    let since_ms = a.since.as_deref().map(|s| crate::export::since_ms(s, crate::now_ms())).transpose()?;
    let redact = a.redact.iter().map(|p| RedactPath::parse(p)).collect::<Result<Vec<_>, _>>()?;
    let matches = Some(crate::subscription::topics::glob_match as fn(&str, &str) -> bool);
    Ok(Export { store, selection: Selection { topic: a.topic, matches, since_ms, last: a.last }, redact })
}
