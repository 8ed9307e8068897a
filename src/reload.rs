//! Reloading subscriptions, sources, topics and templates, on SIGHUP and when their files change
//! (debounced). A valid set replaces the old one atomically; an invalid set is refused
//! whole, logged with `file:line`, and the old set stays in force.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::anyhow;
use arc_swap::ArcSwap;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::config::ServeConfig;
use crate::metrics::Metrics;
use crate::subscription::{self, LoadOptions, SubscriptionSet};

/// Editors write a file in several steps; reload once they have been quiet this long.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Loads subscriptions and sources from the configured directories, naming every problem:
/// at start (`app`) and at each reload.
pub fn load_subscriptions(config: &ServeConfig) -> anyhow::Result<SubscriptionSet> {
    let env = |name: &str| std::env::var(name).ok();
    let opts = LoadOptions {
        subscriptions_dir: &config.subscriptions_dir,
        templates_dir: &config.templates_dir,
        sources_dir: Some(&config.sources_dir),
        topics_dir: Some(&config.topics_dir),
        env: &env,
        allow_missing_env: false,
        read_files: true,
        placeholders: Default::default(),
    };
    let set = subscription::load(&opts).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow!("subscriptions did not load:\n{}", lines.join("\n"))
    })?;
    let unverified = set.sources.unverified();
    if !config.listen.ip().is_loopback() && !unverified.is_empty() {
        return Err(anyhow!(
            "source(s) {} verify nothing (verify.scheme: none), which is allowed only while hookshape listens on \
             loopback; give them a scheme, or listen on 127.0.0.1",
            unverified.join(", ")
        ));
    }
    Ok(set)
}

#[derive(Clone)]
pub struct Reloader {
    pub config: ServeConfig,
    pub live: Arc<ArcSwap<SubscriptionSet>>,
    pub metrics: Arc<Metrics>,
    /// Why the last reload was refused; cleared by the next good one. Shown by `/readyz`.
    pub last_error: Arc<Mutex<Option<String>>>,
}

impl Reloader {
    /// Loads the files again; returns whether a new set is now in force.
    pub fn reload(&self) -> bool {
        match load_subscriptions(&self.config) {
            Ok(set) => {
                self.set_error(None);
                if set.version == self.live.load().version {
                    return false;
                }
                info!(subscriptions = set.len(), version = %set.version, "subscriptions reloaded");
                self.live.store(Arc::new(set));
                true
            }
            Err(e) => {
                self.metrics.reload_failures.inc();
                let message = format!("{e:#}");
                error!("reload refused, the previous subscriptions stay in force: {message}");
                self.set_error(Some(message));
                false
            }
        }
    }

    fn set_error(&self, error: Option<String>) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = error;
        }
    }

    /// Watches the subscriptions, templates, sources and topics directories until shutdown.
    /// One that does not exist yet (a catalog started after the node) is watched for in its
    /// parent, and itself once it appears.
    pub async fn watch(self, mut shutdown: watch::Receiver<bool>) {
        let dirs: Vec<PathBuf> = [
            &self.config.subscriptions_dir,
            &self.config.templates_dir,
            &self.config.sources_dir,
            &self.config.topics_dir,
        ]
        .into_iter()
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
        .collect();
        // One pending change at most: it reloads every file, however many changed since, so
        // a flood of events (a checkout) costs no memory. Full only means one is pending.
        // A parent watched for a missing directory reports its other files too: only what
        // touches one of the directories counts.
        let (tx, mut rx) = mpsc::channel(1);
        // Each also with its symbolic links resolved, as some platforms' watchers name what
        // changed (macOS: /private/var for /var).
        let relevant: Vec<PathBuf> =
            dirs.iter().flat_map(|d| [d.clone(), crate::files::real_path(d).unwrap_or_else(|_| d.clone())]).collect();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|e| calls_for_reload(&e, &relevant)) {
                let _ = tx.try_send(());
            }
        });
        let mut watcher = match watcher {
            Ok(w) => w,
            Err(e) => {
                warn!(error = %e, "cannot watch files; reload with SIGHUP instead");
                return;
            }
        };
        let mut watching = Watching::default();
        watching.update(&mut watcher, &dirs);
        // What changed between the first load and the watch beginning (a `git pull` while
        // the node started) would otherwise wait for the next change.
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || me.reload()).await;
        loop {
            tokio::select! {
                changed = rx.recv() => if changed.is_none() { return },
                _ = shutdown.changed() => return,
            }
            // Wait until the files have been quiet for a moment.
            loop {
                tokio::select! {
                    _ = rx.recv() => continue,
                    _ = tokio::time::sleep(DEBOUNCE) => break,
                }
            }
            watching.update(&mut watcher, &dirs);
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || me.reload()).await;
        }
    }
}

/// Whether a watcher's event may have changed the files under `dirs`: not a mere read, and
/// naming a path under one of them, or none (a rescan: events were lost, say on a large
/// checkout, and anything may have changed).
fn calls_for_reload(event: &notify::Event, dirs: &[PathBuf]) -> bool {
    !event.kind.is_access()
        && (event.need_rescan()
            || event.paths.is_empty()
            || event.paths.iter().any(|p| dirs.iter().any(|d| p.starts_with(d))))
}

/// What the watcher has been given: each directory that exists, whole, and for one that
/// does not, its parent alone (to see it appear).
#[derive(Default)]
struct Watching {
    dirs: HashSet<PathBuf>,
    parents: HashSet<PathBuf>,
}

impl Watching {
    /// Watches each directory afresh (before each reload): one deleted and made again
    /// (`rm -r subscriptions && git checkout subscriptions`) or swapped for another (`mv
    /// new subscriptions`, a symbolic link pointed elsewhere) is another directory, which
    /// the old watch, following the old one, would never report. (Its device and inode do
    /// not tell: a directory made again may get the inode just freed.) Each parent is
    /// watched too, for the change that touches nothing inside the directory: a directory
    /// that appears, or a symbolic link pointed at another (`ln -sfn v2 subscriptions`).
    fn update(&mut self, watcher: &mut impl notify::Watcher, dirs: &[PathBuf]) {
        for dir in dirs {
            if self.dirs.remove(dir) {
                let _ = watcher.unwatch(dir);
            }
            if dir.is_dir() {
                match watcher.watch(dir, notify::RecursiveMode::Recursive) {
                    Ok(()) => _ = self.dirs.insert(dir.clone()),
                    Err(e) => {
                        warn!(error = %e, dir = %dir.display(), "cannot watch directory; reload with SIGHUP instead")
                    }
                }
            }
            // Not a parent that is (or is under) a watched directory: its recursive watch
            // covers it, and a second, flat one would replace it.
            let parent = dir.parent().filter(|p| p.is_dir() && !self.parents.contains(*p));
            if let Some(parent) = parent.filter(|p| !dirs.iter().any(|d| p.starts_with(d))) {
                // A parent that cannot be watched leaves such changes to SIGHUP.
                if watcher.watch(parent, notify::RecursiveMode::NonRecursive).is_ok() {
                    self.parents.insert(parent.to_path_buf());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, CreateKind, Event, EventKind, Flag};

    #[test]
    fn a_change_under_a_directory_or_a_rescan_reloads_and_the_parents_other_files_do_not() {
        let dirs = [PathBuf::from("/repo/topics"), PathBuf::from("/repo/subscriptions")];
        let created = |path: &str| Event::new(EventKind::Create(CreateKind::Any)).add_path(path.into());
        assert!(calls_for_reload(&created("/repo/topics"), &dirs), "the missing directory appears");
        assert!(calls_for_reload(&created("/repo/subscriptions/a.yaml"), &dirs));
        assert!(!calls_for_reload(&created("/repo/README.md"), &dirs), "a sibling in the watched parent");
        assert!(!calls_for_reload(&created("/repo/topics-old/x.yaml"), &dirs), "a path, not a prefix of text");
        let read = Event::new(EventKind::Access(AccessKind::Any)).add_path("/repo/topics/a.yaml".into());
        assert!(!calls_for_reload(&read, &dirs));
        assert!(calls_for_reload(&Event::new(EventKind::Other).set_flag(Flag::Rescan), &dirs), "events were lost");
        assert!(calls_for_reload(&Event::new(EventKind::Any), &dirs), "no path named");
    }
}
