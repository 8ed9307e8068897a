//! Reading configuration directories (subscriptions, templates, sources) strictly from
//! inside: a symlink that leads out of its directory, or loops, is a load error rather
//! than a way to render `/etc/passwd` into a body or to hang a reload; and the real path of
//! a directory that may not exist yet.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A file found under a directory, with its `/`-separated path relative to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub path: PathBuf,
    pub relative: String,
}

/// A file or directory that may not be read, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub path: PathBuf,
    pub why: String,
}

/// Every file under `dir` (recursively, or only its own entries), sorted, symlinks allowed
/// only when they resolve to somewhere inside `dir`. A missing `dir` is an error.
pub fn list(dir: &Path, recursive: bool) -> (Vec<Found>, Vec<Refused>) {
    let mut found = Vec::new();
    let mut refused = Vec::new();
    let root = match dir.canonicalize() {
        Ok(r) => r,
        Err(e) => {
            refused.push(Refused { path: dir.to_path_buf(), why: format!("cannot read directory: {e}") });
            return (found, refused);
        }
    };
    let mut visited = HashSet::from([root.clone()]);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = match std::fs::read_dir(&current) {
            Ok(e) => e,
            Err(e) => {
                refused.push(Refused { path: current, why: format!("cannot read directory: {e}") });
                continue;
            }
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            match classify(&path, &root, &mut visited) {
                Ok(Kind::File) => {
                    let relative = path.strip_prefix(dir).unwrap_or(&path);
                    let relative =
                        relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                    found.push(Found { path, relative });
                }
                Ok(Kind::Dir) if recursive => stack.push(path),
                Ok(Kind::Dir) => {}
                Err(why) => refused.push(Refused { path, why }),
            }
        }
    }
    found.sort_by(|a, b| a.relative.cmp(&b.relative));
    (found, refused)
}

enum Kind {
    File,
    Dir,
}

fn classify(path: &Path, root: &Path, visited: &mut HashSet<PathBuf>) -> Result<Kind, String> {
    let link = std::fs::symlink_metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    let resolved = path.canonicalize().map_err(|e| {
        if link.file_type().is_symlink() {
            format!("symlink loops or leads nowhere: {e}")
        } else {
            format!("cannot read: {e}")
        }
    })?;
    if !resolved.starts_with(root) {
        return Err(format!(
            "symlink leads outside {} (to {}); only files inside the directory are read",
            root.display(),
            resolved.display()
        ));
    }
    if resolved.is_dir() {
        if !visited.insert(resolved.clone()) {
            return Err(format!("symlink loop: {} is already being read", resolved.display()));
        }
        return Ok(Kind::Dir);
    }
    Ok(Kind::File)
}

/// `p` made absolute with symbolic links resolved (of its nearest existing ancestor, for a
/// path that does not exist, such as an absent sources/): how the file system names it,
/// whatever way it was given (`diff`'s base paths, the directories a reload watches).
pub fn real_path(p: &Path) -> Result<PathBuf, String> {
    let p = std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut missing = Vec::new();
    let mut at = p.as_path();
    loop {
        if let Ok(real) = at.canonicalize() {
            return Ok(missing.iter().rev().fold(real, |acc: PathBuf, part| acc.join(part)));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                at = parent;
            }
            _ => return Ok(p.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_inside_are_followed_and_those_leaving_or_looping_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("templates");
        std::fs::create_dir_all(root.join("crm")).unwrap();
        std::fs::write(root.join("crm/a.j2"), "a").unwrap();
        symlink(root.join("crm/a.j2"), root.join("alias.j2")).unwrap();
        symlink("/etc/passwd", root.join("passwd.j2")).unwrap();
        symlink(".", root.join("loop")).unwrap();
        symlink("self", root.join("self")).unwrap();
        let (found, refused) = list(&root, true);
        let names: Vec<&str> = found.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(names, ["alias.j2", "crm/a.j2"]);
        let why = |name: &str| refused.iter().find(|r| r.path.ends_with(name)).map(|r| r.why.clone());
        assert!(why("passwd.j2").unwrap().contains("outside"), "{refused:?}");
        assert!(why("loop").unwrap().contains("loop"), "{refused:?}");
        assert!(why("self").unwrap().contains("loops"), "{refused:?}");
    }

    #[test]
    fn a_flat_listing_does_not_descend_and_a_missing_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/x.yaml"), "").unwrap();
        std::fs::write(dir.path().join("a.yaml"), "").unwrap();
        let (found, refused) = list(dir.path(), false);
        assert_eq!(found.iter().map(|f| f.relative.as_str()).collect::<Vec<_>>(), ["a.yaml"]);
        assert!(refused.is_empty());
        assert_eq!(list(&dir.path().join("none"), false).1.len(), 1);
    }

    #[test]
    fn a_real_path_resolves_links_and_keeps_what_does_not_exist_yet() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap().join("repo");
        std::fs::create_dir(&real).unwrap();
        symlink(&real, dir.path().join("link")).unwrap();
        assert_eq!(real_path(&dir.path().join("link")).unwrap(), real);
        assert_eq!(real_path(&dir.path().join("link/sources/new")).unwrap(), real.join("sources/new"));
        assert_eq!(real_path(&dir.path().join("link/../repo")).unwrap(), real);
    }
}
