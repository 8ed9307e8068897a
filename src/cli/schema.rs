//! `hookshape schema [--sources|--topics]`: the JSON Schema of a subscription file (or of a
//! source file, or of a topic file), generated from the same types the loader
//! deserializes, for editors running the YAML language server.

use crate::cli::output::outln;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The schema of a source file (`sources/*.yaml`) instead of a subscription file.
    #[arg(long, conflicts_with = "topics")]
    sources: bool,
    /// The schema of a topic file of the event catalog (`topics/*.yaml`).
    #[arg(long)]
    topics: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let schema = if a.sources {
        schemars::schema_for!(crate::source::raw::RawSource)
    } else if a.topics {
        schemars::schema_for!(crate::catalog::raw::RawTopic)
    } else {
        schemars::schema_for!(crate::subscription::raw::RawSubscription)
    };
    outln!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitCode::SUCCESS)
}
