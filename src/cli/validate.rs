//! `hookshape validate`: exit 0 when every subscription, source and template loads, else 1
//! with a `file:line: message` line per problem.

use std::process::ExitCode;

use super::{load_or_report, FileArgs};

pub fn run(files: FileArgs) -> anyhow::Result<ExitCode> {
    Ok(match load_or_report(&files) {
        Some(set) => {
            println!("{} subscriptions, {} sources OK (version {})", set.len(), set.sources.len(), set.version);
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    })
}
