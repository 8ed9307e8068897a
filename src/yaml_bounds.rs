//! Configuration files are bounded before YAML parses them: at most 1 MiB, nested at most
//! 64 levels. libyaml's scanner does work proportional to the nesting for every token, so
//! a 200 KB file nested 100,000 deep took 35 s to refuse; this check is one linear pass.

use std::io::Read as _;
use std::path::Path;

/// The largest configuration file read.
pub const MAX_BYTES: u64 = 1024 * 1024;
/// The deepest nesting of mappings and sequences a configuration file may have.
pub const MAX_DEPTH: usize = 64;

/// Why a file was refused: a message, and the line where it can say.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub line: Option<usize>,
    pub message: String,
}

/// Reads a configuration file, refusing one over `MAX_BYTES` (before reading it) or nested
/// deeper than `MAX_DEPTH`.
pub fn read(path: &Path) -> Result<String, Refused> {
    let refused = |message: String| Refused { line: None, message };
    let file = std::fs::File::open(path).map_err(|e| refused(format!("cannot read: {e}")))?;
    let mut text = String::new();
    // `take` bounds what is read even if the file grows between the check and the read.
    file.take(MAX_BYTES + 1).read_to_string(&mut text).map_err(|e| refused(format!("cannot read: {e}")))?;
    check(&text)?;
    Ok(without_bom(text))
}

/// `text` without the byte order mark some editors (Windows') write first: YAML allows
/// one, but read as text it would stand before the first key (`missing field topics`).
pub fn without_bom(text: String) -> String {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

/// Refuses text over `MAX_BYTES` or nested deeper than `MAX_DEPTH`.
pub fn check(text: &str) -> Result<(), Refused> {
    if text.len() as u64 > MAX_BYTES {
        let message = format!("the file is larger than {} KiB; configuration files are bounded", MAX_BYTES / 1024);
        return Err(Refused { line: None, message });
    }
    match deepest_beyond(text, MAX_DEPTH) {
        Some(line) => Err(Refused {
            line: Some(line),
            message: format!("nested deeper than {MAX_DEPTH} levels; configuration files are bounded"),
        }),
        None => Ok(()),
    }
}

/// The first line where the nesting passes `max`, if any. The count follows libyaml's own
/// tokens (block levels opened by `- ` and keys at a deeper column, flow levels by `[`
/// and `{` outside quoted, plain and block scalars and comments), so text can neither
/// hide a level nor add one; at worst it counts an indentless sequence one level short.
fn deepest_beyond(text: &str, max: usize) -> Option<usize> {
    let mut s = Scanner { b: text.as_bytes(), max, line: 1, ..Scanner::default() };
    while s.i < s.b.len() && s.deep.is_none() && !s.stopped {
        s.token();
    }
    s.deep
}

#[derive(Default)]
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    max: usize,
    line: usize,
    line_start: usize,
    /// Columns of the open block collections (libyaml's indent stack).
    indents: Vec<usize>,
    /// Open `[` and `{`.
    flow: usize,
    /// Where the node that may turn out to be a key began on this line.
    node_col: Option<usize>,
    /// The line where the nesting first passed `max`.
    deep: Option<usize>,
    /// libyaml stops here with an error, so nothing after it is scanned.
    stopped: bool,
}

impl Scanner<'_> {
    fn blankz(&self, at: usize) -> bool {
        self.b.get(at).is_none_or(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
    }

    /// Past the `\n` at `self.i`.
    fn newline(&mut self) {
        self.i += 1;
        self.line += 1;
        self.line_start = self.i;
        if self.flow == 0 {
            self.node_col = None;
        }
    }

    fn skip_to_line_end(&mut self) {
        while self.i < self.b.len() && self.b[self.i] != b'\n' {
            self.i += 1;
        }
    }

    fn check(&mut self) {
        if self.indents.len() + self.flow > self.max && self.deep.is_none() {
            self.deep = Some(self.line);
        }
    }

    /// A block collection at column `col`, when deeper than the innermost one.
    fn open_block(&mut self, col: usize) {
        if self.indents.last().is_none_or(|&top| col > top) {
            self.indents.push(col);
            self.check();
        }
    }

    /// One token, or the blanks and comments between tokens.
    fn token(&mut self) {
        let c = self.b[self.i];
        let col = self.i - self.line_start;
        match c {
            b' ' | b'\t' | b'\r' => {
                self.i += 1;
                return;
            }
            b'\n' => {
                self.newline();
                return;
            }
            b'#' => {
                self.skip_to_line_end();
                return;
            }
            _ => {}
        }
        if self.flow == 0 {
            while self.indents.last().is_some_and(|&top| top > col) {
                self.indents.pop();
            }
        }
        self.node_token(c, col);
    }

    /// A token that is part of a node: an indicator, or a scalar's start.
    fn node_token(&mut self, c: u8, col: usize) {
        let indicator = |s: &Self| s.flow > 0 || s.blankz(s.i + 1);
        match c {
            b'[' | b'{' => {
                self.node_col.get_or_insert(col);
                self.flow += 1;
                self.check();
                self.i += 1;
            }
            b']' | b'}' => {
                self.flow = self.flow.saturating_sub(1);
                self.i += 1;
            }
            b',' => self.i += 1,
            b'-' if self.blankz(self.i + 1) => {
                if self.flow == 0 {
                    self.open_block(col);
                }
                self.node_col = None;
                self.i += 1;
            }
            b'?' if indicator(self) => {
                self.node_col = None;
                self.i += 1;
            }
            b':' if indicator(self) => {
                if let (0, Some(key)) = (self.flow, self.node_col) {
                    self.open_block(key);
                }
                self.node_col = None;
                self.i += 1;
            }
            b'*' | b'&' | b'!' => {
                self.node_col.get_or_insert(col);
                // An anchor or alias ends at a flow indicator in flow context; a tag only at a blank.
                let ends_at_flow_indicator = c != b'!' && self.flow > 0;
                let ends = |s: &Self| s.blankz(s.i) || ends_at_flow_indicator && b",[]{}".contains(&s.b[s.i]);
                while !ends(self) {
                    self.i += 1;
                }
            }
            b'|' | b'>' if self.flow == 0 => self.block_scalar(),
            b'\'' | b'"' => {
                self.node_col.get_or_insert(col);
                self.quoted(c);
            }
            b'%' if col == 0 => self.skip_to_line_end(),
            _ => {
                self.node_col.get_or_insert(col);
                self.plain();
            }
        }
    }

    /// A quoted scalar, which may span lines: past its closing quote.
    fn quoted(&mut self, q: u8) {
        self.i += 1;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\n' => {
                    self.newline();
                    continue;
                }
                b'\\' if q == b'"' && self.b.get(self.i + 1) != Some(&b'\n') => self.i += 1,
                b'\'' if q == b'\'' && self.b.get(self.i + 1) == Some(&b'\'') => self.i += 1,
                c if c == q => {
                    self.i += 1;
                    return;
                }
                _ => {}
            }
            self.i += 1;
        }
    }

    /// A plain scalar: up to `: `, a comment, a flow indicator in flow context, or a line
    /// that does not continue it (in block context, one indented no deeper than its parent).
    fn plain(&mut self) {
        loop {
            while !self.blankz(self.i) {
                let (c, next) = (self.b[self.i], self.b.get(self.i + 1).copied());
                let flow_indicator = |c: u8| b",[]{}".contains(&c);
                if c == b':' && self.blankz(self.i + 1) || self.flow > 0 && flow_indicator(c) {
                    return;
                }
                if c == b':' && self.flow > 0 && next.is_some_and(|n| n == b'?' || flow_indicator(n)) {
                    self.stopped = true; // libyaml: "found unexpected ':'"
                    return;
                }
                self.i += 1;
            }
            while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\r')) {
                self.i += 1;
            }
            match self.b.get(self.i) {
                None | Some(b'#') => return,
                Some(b'\n') if !self.continues_on_next_line() => return,
                Some(b'\n') => {
                    while self.b.get(self.i) == Some(&b'\n') || matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\r'))
                    {
                        if self.b[self.i] == b'\n' {
                            self.line += 1;
                            self.line_start = self.i + 1;
                        }
                        self.i += 1;
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// Whether the first line after this one that is not blank continues a plain scalar.
    fn continues_on_next_line(&self) -> bool {
        let mut at = self.i;
        while self.b.get(at) == Some(&b'\n') {
            let spaces = self.b[at + 1..].iter().take_while(|c| **c == b' ').count();
            let first = at + 1 + spaces;
            match self.b.get(first) {
                None => return false,
                Some(b'\n') | Some(b'\r') => at = first + usize::from(self.b[first] == b'\r'),
                Some(b'#') => return false,
                Some(_) if self.flow > 0 => return true,
                Some(_) => {
                    let marker =
                        spaces == 0 && (self.b[first..].starts_with(b"---") || self.b[first..].starts_with(b"..."));
                    return !marker && self.indents.last().is_none_or(|&top| spaces > top);
                }
            }
        }
        false
    }

    /// `|` or `>`: its header, then every line indented at least as deep as its first
    /// (and deeper than its parent), blank lines included, is text.
    fn block_scalar(&mut self) {
        let header = self.b[self.i + 1..].iter().take_while(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'));
        let explicit = header.filter(|c| c.is_ascii_digit()).last().map(|d| usize::from(d - b'0'));
        self.skip_to_line_end();
        let parent = self.indents.last().map_or(-1, |&t| t as isize);
        let mut indent = explicit.map(|d| (parent.max(0) as usize) + d);
        while self.b.get(self.i) == Some(&b'\n') {
            let spaces = self.b[self.i + 1..].iter().take_while(|c| **c == b' ').count();
            let first = self.i + 1 + spaces;
            match self.b.get(first) {
                None => return,
                Some(b'\n' | b'\r') => {}
                Some(_) => {
                    let needed = *indent.get_or_insert_with(|| spaces.max((parent + 1).max(1) as usize));
                    if spaces < needed {
                        self.newline();
                        return;
                    }
                }
            }
            self.newline();
            self.skip_to_line_end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(text: &str) -> bool {
        deepest_beyond(text, MAX_DEPTH).is_none()
    }

    #[test]
    fn real_files_pass_and_deep_ones_are_refused_at_their_line() {
        for dir in ["subscriptions", "sources"] {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                assert_eq!(check(&text), Ok(()), "{}", path.display());
            }
        }
        let flow = |open: &str, n: usize| format!("topics: [T]\nbody: {}1\n", open.repeat(n));
        assert!(depth_ok(&flow("[", 60)));
        assert_eq!(deepest_beyond(&flow("[", 70), MAX_DEPTH), Some(2));
        assert_eq!(deepest_beyond(&flow("{a: ", 70), MAX_DEPTH), Some(2));
        let compact = format!("body:\n  {}x\n", "- ".repeat(80));
        assert_eq!(deepest_beyond(&compact, MAX_DEPTH), Some(2));
        let indented: String = (0..80).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert_eq!(deepest_beyond(&indented, MAX_DEPTH), Some(MAX_DEPTH + 1));
        let mixed = format!("a:\n  - b: {}1{}\n", "{c: ".repeat(61), "}".repeat(61));
        assert!(depth_ok(&mixed), "3 block levels and 61 flow ones");
        let mixed = format!("a:\n  - b: {}1{}\n", "{c: ".repeat(62), "}".repeat(62));
        assert_eq!(deepest_beyond(&mixed, MAX_DEPTH), Some(2));
    }

    #[test]
    fn brackets_in_strings_comments_and_block_scalars_are_text() {
        let brackets = "[".repeat(100);
        for text in [
            format!("a: \"{brackets}\"\n"),
            format!("a: '{brackets}'\n"),
            format!("a: x # {brackets}\n"),
            format!("a: |\n  {brackets}\n  \"\nb: 1\n"),
            format!("- key: >-\n    {brackets}\n  other: 1\n"),
            format!("url: https://h/{brackets}\n"),
            format!("a: \"multi\n  line {brackets}\n  end\"\n"),
        ] {
            assert!(depth_ok(&text), "{text}");
        }
        // A quote that is text does not hide what follows, nor does a block scalar's end.
        assert!(!depth_ok(&format!("a: it's\nb: {brackets}\n")));
        assert!(!depth_ok(&format!("- a: |\n    text\n  b: {brackets}\n")));
        assert!(!depth_ok(&format!("a: ['x', \"]]]\", {brackets}]\n")));
        assert!(!depth_ok(&format!("a: {{k :\"x\", y: {brackets}}}\n")), "a quote after a token-start `:`");
        assert!(!depth_ok(&format!("a: {{k:\"{brackets}\"}}\n")), "`k:\"` is plain in flow: the `[` opens");
        assert!(!depth_ok(&format!("a: &anchor {brackets}\n")));
        assert!(!depth_ok(&format!("a: text\n  more\nb: {brackets}\n")), "after a multi-line plain scalar");
    }

    #[test]
    fn a_large_or_deep_file_is_refused_quickly() {
        let deep = format!("topics: [T]\nrequest:\n  body: {}\n", "[".repeat(100_000));
        let started = std::time::Instant::now();
        let refused = check(&deep).unwrap_err();
        assert_eq!(refused.line, Some(3));
        assert!(refused.message.contains("deeper than 64 levels"), "{refused:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "a generous bound");
        let large = format!("description: \"{}\"\n", "x".repeat(MAX_BYTES as usize));
        assert!(check(&large).unwrap_err().message.contains("larger than 1024 KiB"));
    }
}
