//! Reading an events file (one canonical event per line, as `hookshape events export`
//! writes them): each line through the intake's own parser, so a file `diff` takes is one
//! intake would take. A bad line is `FILE:LINE: message` (with the column of a JSON error);
//! a line longer than intake's largest body is refused before it is read whole.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::event::{Event, EventError};

/// The events of one file, in order; each item an event or the error naming its line.
pub struct EventLines {
    file: PathBuf,
    reader: Box<dyn BufRead>,
    line: usize,
    max_bytes: usize,
    buf: Vec<u8>,
}

impl EventLines {
    /// Opens `path` (`-` for standard input); lines longer than `max_bytes` are refused.
    pub fn open(path: &Path, max_bytes: usize) -> Result<Self, String> {
        let reader: Box<dyn BufRead> = if path == Path::new("-") {
            Box::new(BufReader::new(std::io::stdin()))
        } else {
            let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Box::new(BufReader::new(file))
        };
        Ok(Self::from_reader(path, reader, max_bytes))
    }

    pub fn from_reader(path: &Path, reader: Box<dyn BufRead>, max_bytes: usize) -> Self {
        Self { file: path.to_path_buf(), reader, line: 0, max_bytes, buf: Vec::new() }
    }

    fn error(&self, message: impl std::fmt::Display) -> String {
        format!("{}:{}: {message}", self.file.display(), self.line)
    }

    /// The next line's bytes (without its newline), None at the end.
    fn next_line(&mut self) -> Result<Option<()>, String> {
        self.buf.clear();
        self.line += 1;
        // One byte past the limit, and the newline: a longer line is known without reading it all.
        let limit = self.max_bytes as u64 + 2;
        let read = (&mut self.reader).take(limit).read_until(b'\n', &mut self.buf).map_err(|e| self.error(e))?;
        if read == 0 {
            return Ok(None);
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        if self.buf.len() > self.max_bytes {
            return Err(self.error(format_args!(
                "the event is larger than intake takes ({} bytes at most; `serve --max-body-bytes`)",
                self.max_bytes
            )));
        }
        Ok(Some(()))
    }

    fn parse(&self) -> Result<Event, String> {
        let parsed = crate::json::parse(&self.buf).map_err(EventError::from).and_then(crate::event::from_stored);
        parsed.map_err(|e| match e {
            EventError::Syntax { line: 1, column, message } => {
                self.error(format_args!("column {column}: invalid JSON: {message}"))
            }
            other => self.error(other),
        })
    }
}

impl Iterator for EventLines {
    type Item = Result<Event, String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_line() {
                Err(e) => return Some(Err(e)),
                Ok(None) => return None,
                // A blank line (a file's last newline, a hand edit) holds no event.
                Ok(Some(())) if self.buf.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(Some(())) => return Some(self.parse()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &'static str, max: usize) -> Vec<Result<String, String>> {
        EventLines::from_reader(Path::new("events.jsonl"), Box::new(text.as_bytes()), max)
            .map(|r| r.map(|e| e.topic))
            .collect()
    }

    #[test]
    fn each_line_is_an_event_and_blank_lines_are_skipped() {
        let out =
            lines("{\"Topic\":\"a\",\"Payload\":{}}\n\n{\"Topic\":\"b\",\"Payload\":{},\"SourceId\":\"x\"}\n", 1000);
        assert_eq!(out, [Ok("a".to_string()), Ok("b".to_string())]);
    }

    #[test]
    fn a_bad_line_is_named_with_its_number_and_column() {
        let out = lines("{\"Topic\":\"a\",\"Payload\":{}}\n{\"Topic\": oops}\n{\"Payload\":{}}\n", 1000);
        assert_eq!(out[1], Err("events.jsonl:2: column 11: invalid JSON: expected value".to_string()));
        assert_eq!(out[2], Err("events.jsonl:3: Topic: is required".to_string()));
    }

    #[test]
    fn a_line_past_the_limit_is_refused_with_its_number() {
        let out = lines("{\"Topic\":\"a\",\"Payload\":{}}\n{\"Topic\":\"a\",\"Payload\":{\"x\":\"0123456789\"}}\n", 30);
        assert!(out[0].is_ok());
        assert!(
            out[1].as_ref().unwrap_err().starts_with("events.jsonl:2: the event is larger than intake takes (30 bytes"),
            "{out:?}"
        );
    }
}
