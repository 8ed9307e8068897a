//! `hookshape init DIR`: writes a new subscriptions repository (an example of each kind of
//! file with its test cases, the editor schemas, CI for GitHub Actions and GitLab CI) into
//! an empty directory, and never over a file that is already there.

mod contents;

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

pub use contents::{files, File};

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{}: exists and is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error(
        "{}: is not empty (it holds {listing}); init writes a new repository into an empty \
         directory (one holding only .git is empty), or with --force adds the files that are \
         missing and leaves every existing file as it is",
        dir.display()
    )]
    NotEmpty { dir: PathBuf, listing: String },
    #[error("{}: cannot {action}: {source}", path.display())]
    Io { path: PathBuf, action: &'static str, source: io::Error },
    #[error("cannot prepare the editor schemas: {0}")]
    Schema(#[from] serde_json::Error),
}

/// What `write` did, by path relative to the directory.
#[derive(Debug, Default)]
pub struct Outcome {
    pub written: Vec<&'static str>,
    /// Already there (only with `force`): left as they were.
    pub kept: Vec<&'static str>,
}

/// Writes every file of the new repository into `dir`, creating it if needed. Without
/// `force` a directory with anything but `.git` in it is refused before anything is written.
pub fn write(dir: &Path, force: bool) -> Result<Outcome, InitError> {
    let files = contents::files()?;
    prepare(dir, force)?;
    let mut outcome = Outcome::default();
    for file in &files {
        if write_new(&dir.join(file.path), &file.text)? {
            outcome.written.push(file.path);
        } else {
            outcome.kept.push(file.path);
        }
    }
    Ok(outcome)
}

/// Creates `dir`, or checks that the one there may be written into.
fn prepare(dir: &Path, force: bool) -> Result<(), InitError> {
    let io_error = |action| move |source| InitError::Io { path: dir.to_path_buf(), action, source };
    match fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return fs::create_dir_all(dir).map_err(io_error("create the directory"));
        }
        Err(e) => return Err(io_error("read")(e)),
        Ok(meta) if !meta.is_dir() => return Err(InitError::NotADirectory(dir.to_path_buf())),
        Ok(_) => {}
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error("list the directory"))? {
        let name = entry.map_err(io_error("list the directory"))?.file_name().to_string_lossy().into_owned();
        // A fresh `git init` or a clone of a new, empty repository: still empty for us.
        if name != ".git" {
            names.push(name);
        }
    }
    if names.is_empty() || force {
        return Ok(());
    }
    Err(InitError::NotEmpty { dir: dir.to_path_buf(), listing: listing(names) })
}

/// A few of the names, sorted, and how many more.
fn listing(mut names: Vec<String>) -> String {
    const SHOWN: usize = 5;
    names.sort();
    let more = names.len().saturating_sub(SHOWN);
    let mut text = names.into_iter().take(SHOWN).collect::<Vec<_>>().join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// Writes `text` to `path` unless something is there already (then `false`).
/// `create_new` makes "is it there?" and "create it" one step, so neither a file nor a
/// link that is there, or appears meanwhile, is ever overwritten or followed.
fn write_new(path: &Path, text: &str) -> Result<bool, InitError> {
    let io_error = |action| move |source| InitError::Io { path: path.to_path_buf(), action, source };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|source| InitError::Io {
            path: parent.to_path_buf(),
            action: "create the directory",
            source,
        })?;
    }
    let mut file = match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(io_error("create the file")(e)),
    };
    file.write_all(text.as_bytes()).map_err(io_error("write the file"))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_names_five_entries_in_order_and_counts_the_rest() {
        let names = |n: usize| (0..n).rev().map(|i| format!("f{i}")).collect::<Vec<_>>();
        assert_eq!(listing(names(2)), "f0, f1");
        assert_eq!(listing(names(7)), "f0, f1, f2, f3, f4 and 2 more");
    }

    #[test]
    fn a_directory_holding_only_git_is_empty_and_anything_else_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(".git")).unwrap();
        assert!(prepare(dir.path(), false).is_ok());
        fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let err = prepare(dir.path(), false).unwrap_err().to_string();
        assert!(err.contains("is not empty (it holds notes.txt)") && err.contains("--force"), "{err}");
        assert!(prepare(dir.path(), true).is_ok());
    }

    #[test]
    fn an_existing_file_is_kept_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.txt");
        assert!(write_new(&path, "first").unwrap());
        assert!(!write_new(&path, "second").unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "first");
    }

    #[test]
    fn a_file_where_the_directory_should_be_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        fs::write(&file, "x").unwrap();
        let err = write(&file, false).unwrap_err().to_string();
        assert!(err.ends_with("plain: exists and is not a directory"), "{err}");
    }
}
