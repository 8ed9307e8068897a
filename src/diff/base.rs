//! The two file sets `hookshape diff` compares: the working files as given, and the same
//! paths under `--base`, a directory (standing for the current directory) or a git ref
//! checked out by `git worktree add --detach` into a temporary directory that is removed
//! again whatever happens: the `Worktree` guard's drop, or, on Ctrl-C or SIGTERM (which
//! would end the process with no destructor run), `remove_checkout_on_interrupt`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use crate::files::real_path;
use crate::subscription::SubscriptionSet;

/// Where one set's subscriptions, templates, sources and topics are.
#[derive(Debug, Clone)]
pub struct Paths {
    pub subscriptions: PathBuf,
    pub templates: PathBuf,
    pub sources: PathBuf,
    pub topics: PathBuf,
}

/// Loads a file set as `validate --allow-missing-env` does (so CI needs no secrets), or
/// gives every problem as `file:line: message`, with `shown` put for `hidden` in the paths.
pub fn load(paths: &Paths, hidden: Option<(&Path, &str)>) -> Result<SubscriptionSet, Vec<String>> {
    let env = |name: &str| std::env::var(name).ok();
    let opts = crate::subscription::LoadOptions {
        subscriptions_dir: &paths.subscriptions,
        templates_dir: &paths.templates,
        sources_dir: Some(&paths.sources),
        topics_dir: Some(&paths.topics),
        env: &env,
        allow_missing_env: true,
        read_files: true,
        placeholders: Default::default(),
    };
    crate::subscription::load(&opts).map_err(|errors| {
        let shown = |text: String| match hidden {
            Some((dir, name)) => text.replace(&format!("{}/", dir.display()), name),
            None => text,
        };
        errors.into_iter().map(|e| shown(e.to_string())).collect()
    })
}

/// Loads the base's files as `load` does, but a base without the subscriptions directory
/// has no subscriptions, as a missing sources/ or topics/ means none: the change that
/// brings hookshape into a repository (or into a directory of one) is compared with a base
/// that never had it, and every subscription shows as added. A directory that is there
/// and does not load is still an error.
pub fn load_base(base: &Base) -> Result<SubscriptionSet, Vec<String>> {
    let hidden = base.worktree.as_ref().map(|w| (w.dir.as_path(), w.name.as_str()));
    let missing =
        std::fs::symlink_metadata(&base.paths.subscriptions).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
    if !missing {
        return load(&base.paths, hidden);
    }
    // The loader reads a subscriptions directory, so it is given an empty one.
    let empty = tempfile::Builder::new()
        .prefix("hookshape-diff-")
        .tempdir()
        .map_err(|e| vec![format!("a temporary directory: {e}")])?;
    let paths = Paths { subscriptions: empty.path().to_path_buf(), ..base.paths.clone() };
    load(&paths, hidden)
}

/// The base's files, and the checkout that holds them while they are read.
pub struct Base {
    pub paths: Paths,
    /// The git checkout, removed on drop; None for a directory.
    pub worktree: Option<Worktree>,
}

/// `--base`: an existing directory, else a git ref of the repository holding the working files.
pub fn resolve(base: &str, work: &Paths) -> Result<Base, String> {
    let dir = Path::new(base);
    if dir.is_dir() {
        let root = std::env::current_dir().map_err(|e| format!("the current directory: {e}"))?;
        return Ok(Base { paths: moved(work, &root, dir)?, worktree: None });
    }
    let repo = toplevel(&work.subscriptions)?;
    let worktree = Worktree::add(&repo, base)?;
    Ok(Base { paths: moved(work, &repo, &worktree.dir)?, worktree: Some(worktree) })
}

/// `work`'s paths, taken relative to `root`, under `to`.
fn moved(work: &Paths, root: &Path, to: &Path) -> Result<Paths, String> {
    let root = real_path(root)?;
    let one = |p: &Path| -> Result<PathBuf, String> {
        let full = real_path(p)?;
        let rel = full.strip_prefix(&root).map_err(|_| {
            format!("--base: {} is not inside {}, so it has no place in the base", p.display(), root.display())
        })?;
        Ok(to.join(rel))
    };
    Ok(Paths {
        subscriptions: one(&work.subscriptions)?,
        templates: one(&work.templates)?,
        sources: one(&work.sources)?,
        topics: one(&work.topics)?,
    })
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The repository holding the working subscriptions.
fn toplevel(subscriptions: &Path) -> Result<PathBuf, String> {
    let from = real_path(subscriptions)?;
    let dir = if from.is_dir() { from.clone() } else { from.parent().map_or(from.clone(), Path::to_path_buf) };
    git(&dir, &["rev-parse", "--show-toplevel"])
        .map(PathBuf::from)
        .map_err(|e| format!("--base: not a directory, and {} is not in a git repository ({e})", dir.display()))
}

/// A detached checkout of a ref in a temporary directory, removed on drop.
pub struct Worktree {
    pub dir: PathBuf,
    pub name: String,
}

/// The checkout that exists now, if any: whoever takes it out (the guard's drop, or an
/// interrupt) removes it. Held while `git worktree add` runs, so an interrupt then waits
/// for the checkout to be whole before removing it.
static CHECKOUT: Mutex<Option<Checkout>> = Mutex::new(None);

fn checkout() -> MutexGuard<'static, Option<Checkout>> {
    // Nothing panics while holding it; a poisoned one still holds valid data.
    CHECKOUT.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What removing a checkout takes: its repository, and the temporary directory holding it.
struct Checkout {
    repo: PathBuf,
    dir: PathBuf,
    parent: tempfile::TempDir,
}

impl Checkout {
    fn remove(self) {
        let shown = self.dir.to_string_lossy().into_owned();
        if let Err(e) = git(&self.repo, &["worktree", "remove", "--force", &shown]) {
            eprintln!("hookshape: could not remove the base checkout {shown}: {e}");
        }
        // Prune forgets a checkout git could not remove; the directory goes with `parent`.
        let _ = git(&self.repo, &["worktree", "prune"]);
        drop(self.parent);
    }
}

/// From now on, Ctrl-C (SIGINT) or SIGTERM removes the base checkout, if one exists, then
/// ends the process (exit 130 or 143, as a shell reports those signals). Without this, the
/// signal would end the process at once and leave the checkout in the repository's
/// `git worktree list` and in the temporary directory.
pub fn remove_checkout_on_interrupt() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        // Signals keep their default: the process ends as before.
        return;
    };
    tokio::spawn(async move {
        let code = tokio::select! {
            _ = interrupt.recv() => 130,
            _ = terminate.recv() => 143,
        };
        // The main thread may be inside `git worktree add`: wait for it, off the runtime.
        let _ = tokio::task::spawn_blocking(move || {
            let mut active = checkout();
            if let Some(c) = active.take() {
                c.remove();
            }
            std::process::exit(code)
        })
        .await;
    });
}

impl Worktree {
    fn add(repo: &Path, reference: &str) -> Result<Self, String> {
        let spec = format!("{reference}^{{commit}}");
        if reference.starts_with('-') || git(repo, &["rev-parse", "--verify", "--quiet", &spec]).is_err() {
            return Err(format!(
                "--base {reference:?}: not a directory, nor a commit the git repository {} knows",
                repo.display()
            ));
        }
        // Taken first, so it is released last, after any failure below is cleaned up.
        let mut active = checkout();
        let parent = tempfile::Builder::new()
            .prefix("hookshape-diff-")
            .tempdir()
            .map_err(|e| format!("a temporary directory: {e}"))?;
        let dir = parent.path().join("base");
        let shown = dir.to_string_lossy().into_owned();
        if let Err(e) = git(repo, &["worktree", "add", "--quiet", "--detach", &shown, &spec]) {
            // A checkout begun and not finished (git was interrupted too) is forgotten once
            // its directory is gone.
            drop(parent);
            let _ = git(repo, &["worktree", "prune"]);
            return Err(format!("--base {reference:?}: git worktree add failed: {e}"));
        }
        *active = Some(Checkout { repo: repo.to_path_buf(), dir: dir.clone(), parent });
        Ok(Self { dir, name: format!("{reference}:") })
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        // Held while removing, so an interrupt meanwhile finds nothing left to remove.
        let mut active = checkout();
        if let Some(c) = active.take() {
            c.remove();
        }
    }
}
