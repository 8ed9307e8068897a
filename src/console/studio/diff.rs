//! Line diffs for the studio (a file, a rendered body), as hunks with three lines of
//! context, each line tagged and numbered on its side: the page shows them, it never
//! computes them.

use std::time::Duration;

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

/// Lines of context around each change.
const CONTEXT: usize = 3;
/// Past this, the diff is approximated rather than computed exactly (a 1 MiB file typed
/// into the editor must not hold a worker thread).
const DEADLINE: Duration = Duration::from_millis(500);

/// A diff: nothing when both sides are equal.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct LineDiff {
    pub changed: bool,
    pub hunks: Vec<Vec<Line>>,
}

/// One line of a hunk: `-` only before, `+` only after, ` ` both.
#[derive(Debug, Serialize, PartialEq)]
pub struct Line {
    pub op: char,
    /// 1-based line numbers on each side, where the line is.
    pub old: Option<usize>,
    pub new: Option<usize>,
    pub text: String,
}

pub fn lines(before: &str, after: &str) -> LineDiff {
    if before == after {
        return LineDiff::default();
    }
    let diff = TextDiff::configure().timeout(DEADLINE).diff_lines(before, after);
    let hunks = diff
        .grouped_ops(CONTEXT)
        .iter()
        .map(|group| group.iter().flat_map(|op| diff.iter_changes(op)).map(line).collect())
        .collect();
    LineDiff { changed: true, hunks }
}

/// `diff` with every secret `masker` knows replaced by `***`, line by line.
pub fn masked(mut diff: LineDiff, masker: &crate::secret::Masker) -> LineDiff {
    for line in diff.hunks.iter_mut().flatten() {
        line.text = masker.mask(&line.text);
    }
    diff
}

fn line(change: similar::Change<&str>) -> Line {
    let op = match change.tag() {
        ChangeTag::Equal => ' ',
        ChangeTag::Delete => '-',
        ChangeTag::Insert => '+',
    };
    let text = change.value().strip_suffix('\n').unwrap_or(change.value());
    Line {
        op,
        old: change.old_index().map(|i| i + 1),
        new: change.new_index().map(|i| i + 1),
        text: text.strip_suffix('\r').unwrap_or(text).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_hunks() {
        assert_eq!(lines("a\nb\n", "a\nb\n"), LineDiff::default());
    }

    #[test]
    fn a_changed_line_is_a_removal_and_an_addition_numbered_on_each_side() {
        let before = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let after = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        let d = lines(before, after);
        assert!(d.changed);
        assert_eq!(d.hunks.len(), 1);
        let ops: String = d.hunks[0].iter().map(|l| l.op).collect();
        assert_eq!(ops, "   -+   ", "three lines of context each side");
        let removed = &d.hunks[0][3];
        assert_eq!((removed.old, removed.new, removed.text.as_str()), (Some(5), None, "5"));
        let added = &d.hunks[0][4];
        assert_eq!((added.old, added.new, added.text.as_str()), (None, Some(5), "five"));
    }

    #[test]
    fn a_last_line_without_newline_still_compares() {
        let d = lines("a\nb", "a\nc");
        let ops: Vec<(char, &str)> = d.hunks[0].iter().map(|l| (l.op, l.text.as_str())).collect();
        assert_eq!(ops, [(' ', "a"), ('-', "b"), ('+', "c")]);
    }
}
