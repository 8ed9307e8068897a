//! `hookshape init DIR [--force]`: a new subscriptions repository (src/init/ has the files
//! and the rules for writing them); this prints what was written and what to do next.

use crate::cli::output::outln;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the repository: created if missing; must be empty (or hold only .git).
    dir: PathBuf,
    /// Write into a directory that is not empty: only the missing files are added, every
    /// existing one is kept as it is (and listed).
    #[arg(long)]
    force: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let outcome = match crate::init::write(&a.dir, a.force) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("hookshape init: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let dir = a.dir.display();
    for path in &outcome.written {
        outln!("wrote {dir}/{path}");
    }
    for path in &outcome.kept {
        outln!("kept  {dir}/{path} (already there; not overwritten)");
    }
    outln!(
        "\nNext, in {dir}: `hookshape validate` and `hookshape test`, then `git init` and a first commit.\n\
         For CI, set HOOKSHAPE_DEB_URL (README.md, section CI) and delete the workflow file you do not use."
    );
    Ok(ExitCode::SUCCESS)
}
