//! `hookshape diff`: what a change to the files does to real events, per subscription.
//! Loads both file sets fully before it prints anything. Exit 0 no change, 1 changes,
//! 2 an error (a base or working file set that does not load, a bad events file, a ref
//! git does not know); 130 or 143 on Ctrl-C or SIGTERM, once the base's checkout is removed.

use crate::cli::output::out;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::FileArgs;
use crate::diff::base::{self, Paths};
use crate::event::Event;
use crate::store::export::Selection;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("events_from").required(true).args(["events", "store"])))]
pub struct Args {
    /// The files to compare with: a directory laid out as the current one, or a git ref
    /// (branch, tag, commit, HEAD~1) of the repository holding the working files. A base
    /// without the subscriptions directory has none: every subscription shows as added.
    #[arg(long, value_name = "DIR|GIT_REF")]
    base: String,
    /// Events to render, one per line, as `hookshape events export` writes them (- for stdin).
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Render the newest --last events of this store instead (sqlite://PATH or postgres://…).
    #[arg(long, requires = "last")]
    store: Option<String>,
    /// With --store: how many of the newest events, 1 or more.
    #[arg(long, value_name = "N", conflicts_with = "events")]
    last: Option<usize>,
    /// How to print the report: text, markdown (for a pull request comment) or json.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    files: FileArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Markdown,
    Json,
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    base::remove_checkout_on_interrupt();
    match report(&a).await {
        Ok(report) => {
            let shown = match a.format {
                Format::Text => crate::diff::text::text(&report),
                Format::Markdown => crate::diff::text::markdown(&report),
                Format::Json => serde_json::to_string_pretty(&report)? + "\n",
            };
            out!("{shown}");
            Ok(if report.any() { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Err(problems) => Ok(super::failed(&problems)),
    }
}

/// Everything before printing, so an error leaves nothing half-printed.
async fn report(a: &Args) -> Result<crate::diff::Report, String> {
    // Refused as `events export` refuses it: no events would compare nothing and read as
    // "no change", an all-clear that checked nothing.
    if a.last == Some(0) {
        return Err("--last: give a number of events, 1 or more".into());
    }
    let work_paths = Paths {
        subscriptions: a.files.subscriptions.clone(),
        templates: a.files.templates.clone(),
        sources: a.files.sources.clone(),
        topics: a.files.topics.clone(),
    };
    let work =
        base::load(&work_paths, None).map_err(|e| format!("the working files do not load:\n{}", e.join("\n")))?;
    let base_files = base::resolve(&a.base, &work_paths)?;
    let base_set = base::load_base(&base_files)
        .map_err(|e| format!("the base files ({}) do not load:\n{}", a.base, e.join("\n")))?;
    // The checkout is read: remove it now, not after the rendering.
    drop(base_files);
    match (&a.events, &a.store) {
        (Some(file), _) => {
            let lines = crate::export::read::EventLines::open(file, crate::api::DEFAULT_MAX_BODY_BYTES)?;
            crate::diff::diff(&base_set, &work, lines)
        }
        (None, Some(store)) => {
            let events = stored(store, a.last.unwrap_or(1)).await?;
            crate::diff::diff(&base_set, &work, events.into_iter().map(Ok))
        }
        (None, None) => Err("give --events FILE or --store URL --last N".into()),
    }
}

/// The newest `last` events of `store`, oldest first.
async fn stored(store: &str, last: usize) -> Result<Vec<Event>, String> {
    let url = crate::config::StoreUrl::parse(store).map_err(|e| format!("{e:#}"))?;
    let mut events = Vec::new();
    let mut each = |body: String| -> anyhow::Result<()> {
        let value = crate::json::parse(body.as_bytes()).map_err(|e| anyhow::anyhow!("a stored event: {e}"))?;
        events.push(crate::event::from_stored(value).map_err(|e| anyhow::anyhow!("a stored event: {e}"))?);
        Ok(())
    };
    let selection = Selection { last: Some(last), ..Selection::default() };
    crate::export::each_stored(&url, &selection, &mut each).await.map_err(|e| format!("{e:#}"))?;
    Ok(events)
}
