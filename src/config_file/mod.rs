//! Reading one configuration file (a subscription or a source): `${VAR}`s expanded, with
//! the values they took kept as secrets and masked out of every error; each problem
//! collected as `file:line: message`. Below `subscription` and `source`, which both
//! compile their files through a `FileContext`, and `config` (`hookshape.yaml`).

pub(crate) mod env_vars;
mod template_place;

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use env_vars::Expanded;

use crate::render::Delimiters;
use crate::secret::Masker;

/// One problem with one file, shown as `file:line: message`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Where the files are, and how their `${VAR}`s are read.
pub struct LoadOptions<'a> {
    pub subscriptions_dir: &'a Path,
    pub templates_dir: &'a Path,
    /// Inbound sources (`sources/`); a directory that does not exist means none.
    pub sources_dir: Option<&'a Path>,
    /// The event catalog (`topics/`); a directory that does not exist means none.
    pub topics_dir: Option<&'a Path>,
    /// Looks up `${VAR}`; the process environment in production.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Accept unset `${VAR}`s (checking only that they are well-formed), so CI can validate
    /// without production secrets. A variable with a default keeps it; a placeholder that
    /// keeps the field valid stands in for one without.
    pub allow_missing_env: bool,
    /// Read the files a subscription names (`tls:`'s PEM files). The console's studio does
    /// not: a draft could name any file on the server.
    pub read_files: bool,
    /// Filled by `load`: each variable that got a placeholder, with the files that use it.
    pub placeholders: Placeholders,
}

/// Variable name → the files (shown as given) where a placeholder stood in for it.
pub type Placeholders = std::sync::Mutex<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>>;

/// A file being compiled: its text for line numbers, the errors found so far, and the
/// values its `${VAR}`s took from the environment (secrets, until shown otherwise).
pub(crate) struct FileContext<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    pub opts: &'a LoadOptions<'a>,
    errors: RefCell<Vec<LoadError>>,
    /// The values read from the environment so far: the compile steps add what they learn
    /// is secret (a URL's userinfo, signing keys).
    pub(crate) secrets: RefCell<Vec<String>>,
}

impl<'a> FileContext<'a> {
    pub fn new(path: &'a Path, text: &'a str, opts: &'a LoadOptions<'a>) -> Self {
        Self { path, text, opts, errors: RefCell::default(), secrets: RefCell::default() }
    }

    pub fn error(&self, line: Option<usize>, message: String) {
        self.errors.borrow_mut().push(LoadError { file: self.path.to_path_buf(), line, message });
    }

    /// An error about `field` (a dotted path such as `request.timeout`), at its key's line.
    pub fn field_error(&self, field: &str, message: String) {
        self.error(line_of_key(self.text, field), format!("{field}: {message}"));
    }

    /// A template problem: at its line in the file under the templates directory when it is
    /// in one (naming the field that reaches it), else at the field in this file.
    pub fn template_error(&self, e: crate::render::CompileError) {
        let error = template_error_at(self.path, self.text, self.opts.templates_dir, e);
        self.errors.borrow_mut().push(error);
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.borrow().is_empty()
    }

    /// The errors, with every secret value this file read masked out of them.
    pub fn finish(self, all_secrets: &mut Vec<String>) -> Vec<LoadError> {
        let secrets = self.secrets.into_inner();
        let masker = Masker::new(&secrets);
        all_secrets.extend(secrets);
        let mut errors = self.errors.into_inner();
        for e in &mut errors {
            e.message = masker.mask(&e.message);
        }
        errors
    }

    /// Expands `${VAR}`s in `value`, the text of `field`; None (and an error) when it cannot.
    pub fn expand(&self, field: &str, value: &str) -> Option<Expanded> {
        self.expand_in(field, value, None)
    }

    /// Like `expand`, for a field that is a template with delimiters `d`: the values arrive
    /// as text, never as template code.
    pub fn expand_template(&self, field: &str, value: &str, d: &Delimiters) -> Option<Expanded> {
        self.expand_in(field, value, Some(d))
    }

    fn expand_in(&self, field: &str, value: &str, d: Option<&Delimiters>) -> Option<Expanded> {
        let leading = leading_variables(value);
        let placeholder = |name: &str| placeholder_for(field, leading.contains(&name)).to_string();
        let placeholder: Option<&dyn Fn(&str) -> String> = self.opts.allow_missing_env.then_some(&placeholder);
        match env_vars::expand_with(value, self.opts.env, d, placeholder) {
            Ok(x) => {
                self.secrets.borrow_mut().extend(x.values.iter().cloned());
                self.note_placeholders(&x.placeholders);
                Some(x)
            }
            Err(m) => {
                let line = line_of_value(self.text, field, value.lines().next().unwrap_or(value));
                self.error(line, format!("{field}: {m}"));
                None
            }
        }
    }

    /// Records which variables got a placeholder here, so the command can say so.
    fn note_placeholders(&self, names: &[String]) {
        if names.is_empty() {
            return;
        }
        // A poisoned lock only loses this note; loading goes on.
        if let Ok(mut noted) = self.opts.placeholders.lock() {
            for name in names {
                noted.entry(name.clone()).or_default().insert(self.path.display().to_string());
            }
        }
    }

    /// A duration (`30s`, or `${VAR}` naming one) no longer than `max`.
    pub fn duration(&self, field: &str, value: &str, max: Duration) -> Option<Duration> {
        let text = self.expand(field, value)?.text;
        let line = || line_of_value(self.text, field, value);
        match crate::duration::parse(&text) {
            Ok(d) if d > max => {
                self.error(line(), format!("{field}: at most {}", crate::duration::format(max)));
                None
            }
            Ok(d) => Some(d),
            Err(m) => {
                self.error(line(), format!("{field}: {m}"));
                None
            }
        }
    }
}

/// A template problem of the subscription in `path` (whose text is `text`): at its line in
/// the file under `templates_dir` when it is in one, naming the field that reaches it;
/// else at the field's line in the subscription file.
pub(crate) fn template_error_at(
    path: &Path,
    text: &str,
    templates_dir: &Path,
    e: crate::render::CompileError,
) -> LoadError {
    match e.at {
        Some(at) => LoadError {
            file: templates_dir.join(&at.file),
            line: Some(at.line),
            message: format!("{} (reached from {} {})", e.message, path.display(), e.field),
        },
        None => LoadError {
            file: path.to_path_buf(),
            line: line_of_key(text, &e.field),
            message: format!("{}: {}", e.field, e.message),
        },
    }
}

/// What stands in for an unset variable under `--allow-missing-env`: a URL for one that
/// begins `request.url` (so its host is shown as hosts are), else a value none of the
/// others contains (a masked query value of "placeholder" would hide the URL's host).
fn placeholder_for(field: &str, begins_value: bool) -> &'static str {
    if field == "request.url" && begins_value {
        "https://placeholder.invalid"
    } else if field.starts_with("signature") || field.starts_with("verify") {
        "whsec_cGxhY2Vob2xkZXI=" // valid for every scheme, standard-webhooks included
    } else if field.contains("timeout") || field.contains("schedule") {
        "1s"
    } else {
        "placeholder-value"
    }
}

/// The names of the `${VAR}`s a value may begin with: the first, and the one its default
/// begins with, and so on (`${secret:URL:-${FALLBACK_URL}}` gives URL and FALLBACK_URL).
fn leading_variables(value: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = value.trim_start();
    while let Some(inner) = rest.strip_prefix("${") {
        let inner = inner.strip_prefix("secret:").unwrap_or(inner);
        let end = inner.find([':', '}']).unwrap_or(inner.len());
        names.push(&inner[..end]);
        let Some(default) = inner[end..].strip_prefix(":-") else { break };
        rest = default;
    }
    names
}

/// The first line that sets `key:` (a best effort at pointing to a field in the file).
pub(crate) fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let starts_line = |l: &str| {
        let t = l.trim_start().trim_start_matches("- ");
        t.strip_prefix(leaf).is_some_and(|r| r.starts_with(':'))
            || t.strip_prefix(&format!("\"{leaf}\"")).is_some_and(|r| r.starts_with(':'))
    };
    // Or inside a flow mapping: `body: { d: … }`.
    let in_flow =
        |l: &str| [format!("{{ {leaf}:"), format!("{{{leaf}:"), format!(", {leaf}:")].iter().any(|p| l.contains(p));
    text.lines().position(starts_line).or_else(|| text.lines().position(in_flow)).map(|i| i + 1)
}

/// The line of `field`'s `value`: the first line from the field's key on that holds the
/// value as a whole word (`timeout: 10`, or a list item under `schedule:`), else the first
/// such line anywhere, else the key's line. Not merely the first line holding the text:
/// `90` is in `url: http://host:9000` too.
pub(crate) fn line_of_value(text: &str, field: &str, value: &str) -> Option<usize> {
    let holds = |l: &&str| holds_word(l, value);
    let key = line_of_key(text, field);
    let from_key = key.and_then(|k| text.lines().skip(k - 1).position(|l| holds(&l)).map(|i| k + i));
    from_key.or_else(|| text.lines().position(|l| holds(&l)).map(|i| i + 1)).or(key)
}

/// Whether `word` occurs in `line` with no letter, digit, `_` or `.` right before or after it.
fn holds_word(line: &str, word: &str) -> bool {
    let part_of_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
    !word.is_empty()
        && line.match_indices(word).any(|(at, _)| {
            !part_of_word(line[..at].chars().next_back()) && !part_of_word(line[at + word.len()..].chars().next())
        })
}

pub(crate) fn line_of_text(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

/// Parses YAML into `T`, as an error with serde_norway's line when it does not fit.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, LoadError> {
    serde_norway::from_str(text).map_err(|e| {
        let (line, mut message) = yaml_error_at(&e.to_string(), e.location().map(|l| l.line()));
        if message.contains("invalid type: map") && line.is_some_and(|l| unquoted_template_at(text, l)) {
            message.push_str("; YAML reads an unquoted {{ … }} as a mapping: quote the template (\"{{ Points }}\")");
        }
        if let (Some(field), Some(written)) = (missing_field(&message), missing_field_written(&message, text)) {
            let hint =
                format!("; a `{field}:` is at line {written}: check its indentation (its mapping's keys line up)");
            message.push_str(&hint);
        }
        LoadError { file: path.to_path_buf(), line, message }
    })
}

/// The field a "missing field `url`" message names.
fn missing_field(message: &str) -> Option<String> {
    Some(message.split_once("missing field `")?.1.split('`').next()?.to_string())
}

/// The line (from 1) where the field a "missing field" message names is written after all,
/// as a key: then it is there, indented where it belongs to no mapping or to another.
fn missing_field_written(message: &str, text: &str) -> Option<usize> {
    let key = format!("{}:", missing_field(message)?);
    text.lines().position(|l| l.trim_start().starts_with(&key)).map(|i| i + 1)
}

/// Whether line `line` (from 1) of `text` holds a value that begins with `{{` unquoted
/// (`points: {{ Points }}`, `- {{ Tag }}`).
fn unquoted_template_at(text: &str, line: usize) -> bool {
    let Some(row) = text.lines().nth(line.saturating_sub(1)) else { return false };
    let value = row.split_once(": ").map_or(row.trim_start().trim_start_matches("- "), |(_, v)| v);
    value.trim_start().starts_with("{{")
}

/// serde_norway's message without the "at line L column C" the file's line already says,
/// keeping the context a syntax error adds ("while scanning a quoted scalar at line 4
/// column 8"). For a quote or a bracket never closed the problem began there, so that line
/// is the one given and where the scanner gave up stays in the message; for anything else
/// (a block mapping's context is where the mapping began) the error's own line is.
pub(crate) fn yaml_error_at(message: &str, line: Option<usize>) -> (Option<usize>, String) {
    let message = &plain_types(message);
    let Some((found, context)) = message.split_once(", while ") else {
        return (line, message.split(" at line ").next().unwrap_or(message).to_string());
    };
    // A quote or bracket never closed, or a key never given its `:`: the mistake is where
    // it began.
    let unclosed =
        ["scanning a quoted scalar", "parsing a flow sequence", "parsing a flow mapping", "scanning a simple key"]
            .iter()
            .any(|c| context.starts_with(c));
    let began = context.rsplit_once(" at line ").and_then(|(_, at)| at.split(' ').next()?.parse().ok());
    match began {
        Some(began) if unclosed && Some(began) != line => (Some(began), format!("{found}, while {context}")),
        _ => (line, format!("{}, while {context}", found.split(" at line ").next().unwrap_or(found))),
    }
}

/// serde's "expected u32" in words a YAML writer knows: the Rust type names mean nothing
/// to them.
fn plain_types(message: &str) -> String {
    const WORDS: [(&str, &str); 11] = [
        ("usize", "a whole number (0 or more)"),
        ("u64", "a whole number (0 or more)"),
        ("u32", "a whole number (0 or more)"),
        ("u16", "a whole number from 0 to 65535"),
        ("u8", "a whole number from 0 to 255"),
        ("i64", "a whole number"),
        ("i32", "a whole number"),
        ("f64", "a number"),
        ("f32", "a number"),
        ("a boolean", "true or false"),
        ("a string", "a string (text)"),
    ];
    let Some((before, expected)) = message.split_once(", expected ") else { return message.to_string() };
    let named = |(rust, _): &&(&str, &str)| {
        expected.strip_prefix(rust).is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', ',']))
    };
    match WORDS.iter().find(named) {
        Some((rust, words)) => format!("{before}, expected {words}{}", &expected[rust.len()..]),
        None => message.to_string(),
    }
}

/// `${VAR}` expansion against the process environment (also used by `hookshape.yaml`).
/// A YAML file of a directory, read within the YAML bounds.
pub struct YamlFile {
    pub path: PathBuf,
    /// Its `/`-separated name under the directory (for the set's version hash).
    pub relative: String,
    pub text: String,
}

/// The `*.yaml`/`*.yml` files directly in `dir` (not `*.test.yaml`): none when `dir` does
/// not exist. One that cannot be listed or read is an error in `errors`, and left out.
pub fn read_yaml_dir(dir: &Path, errors: &mut Vec<LoadError>) -> Vec<YamlFile> {
    if !dir.exists() {
        return Vec::new();
    }
    let (found, refused) = crate::files::list(dir, false);
    errors.extend(refused.into_iter().map(|r| LoadError { file: r.path, line: None, message: r.why }));
    found
        .into_iter()
        .filter(|f| {
            let n = f.relative.as_str();
            (n.ends_with(".yaml") || n.ends_with(".yml")) && !n.contains(".test.")
        })
        .filter_map(|f| match crate::yaml_bounds::read(&f.path) {
            Ok(text) => Some(YamlFile { path: f.path, relative: f.relative, text }),
            Err(refused) => {
                errors.push(LoadError { file: f.path, line: refused.line, message: refused.message });
                None
            }
        })
        .collect()
}

pub fn expand_env(text: &str) -> Result<String, String> {
    env_vars::expand(text, &|name| std::env::var(name).ok()).map(|x| x.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variables_a_value_may_begin_with_are_read_through_secret_and_defaults() {
        assert_eq!(leading_variables("${ERP_URL}/orders?k=${KEY}"), ["ERP_URL"]);
        assert_eq!(leading_variables("${secret:CHAT_URL}"), ["CHAT_URL"]);
        assert_eq!(leading_variables("${CRM_URL:-${FALLBACK_URL}}/x"), ["CRM_URL", "FALLBACK_URL"]);
        assert_eq!(leading_variables("${A:-http://h}"), ["A"]);
        assert!(leading_variables("https://${HOST}/x").is_empty());
    }

    #[test]
    fn a_yaml_syntax_error_is_given_where_the_construct_began() {
        let unclosed =
            "found unexpected end of stream at line 8 column 1, while scanning a quoted scalar at line 4 column 8";
        assert_eq!(yaml_error_at(unclosed, Some(8)), (Some(4), unclosed.to_string()));
        assert_eq!(
            yaml_error_at("concurrency: invalid type: string \"many\", expected usize at line 1 column 14", Some(1)).1,
            "concurrency: invalid type: string \"many\", expected a whole number (0 or more)"
        );
        assert_eq!(
            yaml_error_at("enabled: invalid type: string \"yes\", expected a boolean at line 2 column 10", Some(2)).1,
            "enabled: invalid type: string \"yes\", expected true or false"
        );
        assert_eq!(
            yaml_error_at("port: invalid value: integer `70000`, expected u16", None).1,
            "port: invalid value: integer `70000`, expected a whole number from 0 to 65535"
        );
        let plain = "unknown field `methd`, expected one of `url`, `method` at line 3 column 3";
        assert_eq!(
            yaml_error_at(plain, Some(3)),
            (Some(3), "unknown field `methd`, expected one of `url`, `method`".to_string())
        );
        let no_colon = "could not find expected ':' at line 3 column 1, while scanning a simple key at line 2 column 1";
        assert_eq!(yaml_error_at(no_colon, Some(3)).0, Some(2), "the key without its colon");
        let block = "did not find expected key at line 6 column 4, while parsing a block mapping at line 3 column 3";
        assert_eq!(
            yaml_error_at(block, Some(6)),
            (Some(6), "did not find expected key, while parsing a block mapping at line 3 column 3".to_string()),
            "a mapping's start is not where the mistake is"
        );
        let same_line =
            "did not find expected ',' or ']' at line 1 column 13, while parsing a flow sequence at line 1 column 9";
        assert_eq!(
            yaml_error_at(same_line, Some(1)),
            (Some(1), "did not find expected ',' or ']', while parsing a flow sequence at line 1 column 9".to_string())
        );
    }

    #[test]
    fn a_value_is_found_on_its_own_line_not_inside_another_value() {
        let text = "topics: [T]\nfilter: \"Points >= 10\"\nrequest:\n  url: http://127.0.0.1:9000/x\n  timeout: 10\nretry: {schedule: [30s, 90]}\n";
        assert_eq!(line_of_value(text, "request.timeout", "10"), Some(5), "not the filter's 10");
        assert_eq!(line_of_value(text, "retry.schedule", "90"), Some(6), "not the port's 90");
        let listed = "retry:\n  schedule:\n    - 30s\n    - 90\nrequest:\n  url: http://h:90/x\n";
        assert_eq!(line_of_value(listed, "retry.schedule", "90"), Some(4));
        assert_eq!(line_of_value(listed, "request.timeout", "5m"), None, "neither key nor value");
        assert_eq!(line_of_value("a: 1\nb: x90\n", "retry.schedule", "90"), None);
    }
}
