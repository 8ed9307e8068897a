//! What the template source's readers share: the delimiters, the lexical rules hookshape
//! reads template code by (names, dotted chains, string literals), and the error its own
//! filters and functions raise. Below the environment and its helpers (`source`,
//! `compare`, `positions`, `url`, `functions`), so each can use them without reaching
//! back up.

use minijinja::syntax::SyntaxConfig;
use minijinja::{Error, ErrorKind};

/// Template delimiters; the defaults are Jinja's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delimiters {
    pub variable: (String, String),
    pub block: (String, String),
    pub comment: (String, String),
}

impl Default for Delimiters {
    fn default() -> Self {
        Self {
            variable: ("{{".into(), "}}".into()),
            block: ("{%".into(), "%}".into()),
            comment: ("{#".into(), "#}".into()),
        }
    }
}

impl Delimiters {
    /// True when `text` would be interpreted by the template engine at all.
    pub fn has_markup(&self, text: &str) -> bool {
        text.contains(self.variable.0.as_str())
            || text.contains(self.block.0.as_str())
            || text.contains(self.comment.0.as_str())
    }

    pub(super) fn syntax(&self) -> Result<SyntaxConfig, Error> {
        SyntaxConfig::builder()
            .variable_delimiters(self.variable.0.clone(), self.variable.1.clone())
            .block_delimiters(self.block.0.clone(), self.block.1.clone())
            .comment_delimiters(self.comment.0.clone(), self.comment.1.clone())
            .build()
    }
}

/// An error for our own filters and functions.
pub fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// The index just past the string literal that starts at `start`.
pub fn string_end(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

pub fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

pub fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `A.b.c` starting at `start` (a single name when no dot follows), and where it ends.
pub fn read_chain(text: &str, start: usize) -> (String, usize) {
    let bytes = text.as_bytes();
    let mut end = start;
    loop {
        while end < bytes.len() && is_name_char(bytes[end]) {
            end += 1;
        }
        if end + 1 < bytes.len() && bytes[end] == b'.' && is_name_start(bytes[end + 1]) {
            end += 1;
        } else {
            return (text[start..end].to_string(), end);
        }
    }
}
