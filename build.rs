//! Build script: stamps the commit into `hookshape --version` (as `HOOKSHAPE_COMMIT`).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=HOOKSHAPE_COMMIT");
    // A build from a source archive has no git history: its packager may name the commit.
    let commit = std::env::var("HOOKSHAPE_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HOOKSHAPE_COMMIT={commit}");
    // Built again when the checkout moves to another commit (a worktree has its own HEAD;
    // branches live in the common directory).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        watch(&format!("{dir}/HEAD"));
    }
    if let (Some(common), Some(branch)) =
        (git(&["rev-parse", "--git-common-dir"]), git(&["symbolic-ref", "-q", "HEAD"]))
    {
        watch(&format!("{common}/{branch}"));
        watch(&format!("{common}/packed-refs"));
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// Only files that exist: cargo runs a script watching a missing file at every build.
fn watch(path: &str) {
    if std::path::Path::new(path).exists() {
        println!("cargo:rerun-if-changed={path}");
    }
}
