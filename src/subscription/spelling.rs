//! Numbers in a subscription's body as its file spells them. YAML's reader gives a number
//! leaf only its value (`price: 1234.50` is 1234.5, `1.0E-7` is 1e-7), while a body's
//! literal is meant to go out as written; the file's own text says how it was written.

use std::collections::HashMap;

use serde_json::{Number, Value};

/// Puts back the spelling of each fractional number leaf in `body` that the lines of the
/// file's `body:` section write one way only, as a JSON number (YAML's `0x1F` has no JSON
/// form and stays as read; `.inf` and `.nan` are refused, see [`non_finite_leaves`]). A value written two ways there keeps YAML's.
pub fn as_written(body: &mut Value, text: &str) {
    let spellings = spellings_in(body_section(text));
    if !spellings.is_empty() {
        respell(body, &spellings);
    }
}

/// The lines from the first `body:` key to the first line indented no deeper than it.
fn body_section(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let Some(start) = lines.iter().position(|l| l.trim_start().starts_with("body:")) else { return String::new() };
    let own = indent(lines[start]);
    let end = lines[start + 1..]
        .iter()
        .position(|l| !l.trim().is_empty() && indent(l) <= own)
        .map_or(lines.len(), |i| start + 1 + i);
    lines[start..end].iter().map(|l| strip_comment(l)).collect::<Vec<_>>().join("\n")
}

/// A line without its comment (` #` outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && previous.is_whitespace() => return &line[..i],
            None => {}
        }
        previous = c;
    }
    line
}

/// Each f64 (by its bits) written in `section` as a JSON number, with every spelling seen.
fn spellings_in(section: String) -> HashMap<u64, Vec<String>> {
    let mut seen: HashMap<u64, Vec<String>> = HashMap::new();
    let is_part = |c: char| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-');
    for token in section.split(|c: char| !is_part(c)).filter(|t| t.contains(|c: char| c.is_ascii_digit())) {
        let Ok(number) = serde_json::from_str::<Number>(token) else { continue };
        let Some(f) = number.as_f64().filter(|f| f.is_finite()) else { continue };
        let spellings = seen.entry(f.to_bits()).or_default();
        if !spellings.iter().any(|s| s == token) {
            spellings.push(token.to_string());
        }
    }
    seen
}

/// Each leaf of the file's `request.body` that YAML reads as an infinite or NaN float
/// (`.inf`, `-.Inf`, `.nan`), by its dotted path (`request.body.limits.max`) with the value
/// as YAML prints it. JSON has no number for them, and serde_json reads them as null
/// without a word, so the loader refuses them instead.
pub fn non_finite_leaves(text: &str) -> Vec<(String, String)> {
    let Ok(file) = serde_norway::from_str::<serde_norway::Value>(text) else { return Vec::new() };
    let mut found = Vec::new();
    if let Some(body) = file.get("request").and_then(|r| r.get("body")) {
        walk_non_finite(body, "request.body".to_string(), &mut found);
    }
    found
}

/// The line (from 1) of `text` that writes the non-finite leaf `path` found: the first
/// line with an `.inf`/`.nan` from its key's line under `body:` on (the key's own line, or
/// an item of a block list below it).
pub fn line_of_non_finite(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let body = lines.iter().position(|l| l.trim_start().starts_with("body:"))?;
    let leaf = path.rsplit('.').next().unwrap_or(path).split('[').next().unwrap_or_default();
    let key = format!("{leaf}:");
    let non_finite = |l: &str| {
        let l = strip_comment(l).to_ascii_lowercase();
        l.contains(".inf") || l.contains(".nan")
    };
    let from = lines.iter().enumerate().skip(body).find(|(_, l)| l.contains(&key)).map_or(body, |(i, _)| i);
    lines.iter().enumerate().skip(from).find(|(_, l)| non_finite(l)).map(|(i, _)| i + 1)
}

fn walk_non_finite(value: &serde_norway::Value, path: String, found: &mut Vec<(String, String)>) {
    use serde_norway::Value as Yaml;
    match value {
        Yaml::Number(n) if n.as_f64().is_some_and(|f| !f.is_finite()) => found.push((path, n.to_string())),
        Yaml::Sequence(items) => {
            items.iter().enumerate().for_each(|(i, v)| walk_non_finite(v, format!("{path}[{i}]"), found))
        }
        Yaml::Mapping(map) => {
            for (k, v) in map {
                let key = k.as_str().map_or_else(|| format!("{k:?}"), str::to_string);
                walk_non_finite(v, format!("{path}.{key}"), found);
            }
        }
        Yaml::Tagged(t) => walk_non_finite(&t.value, path, found),
        _ => {}
    }
}

fn respell(value: &mut Value, spellings: &HashMap<u64, Vec<String>>) {
    match value {
        Value::Number(n) if n.is_f64() => {
            let written = n.as_f64().and_then(|f| spellings.get(&f.to_bits())).filter(|s| s.len() == 1);
            if let Some(number) = written.and_then(|s| serde_json::from_str::<Number>(&s[0]).ok()) {
                *n = number;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| respell(v, spellings)),
        Value::Object(map) => map.values_mut().for_each(|v| respell(v, spellings)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(yaml: &str) -> String {
        let raw: serde_json::Value = serde_norway::from_str(yaml).unwrap();
        let mut body = raw["request"]["body"].clone();
        as_written(&mut body, yaml);
        body.to_string()
    }

    #[test]
    fn fractional_numbers_keep_the_spelling_the_file_gives_them() {
        let yaml = "request:\n  url: http://h\n  body:\n    version: 1.10\n    price: 1234.50 # reais\n    tiny: 1.0E-7\n    e: 1e2\n    n: 7\n    s: \"2.50\"\n    flow: {a: 3.10, b: [0.50]}\ntimeout: 2.0\n";
        assert_eq!(
            body_of(yaml),
            // serde_json writes an exponent its own way (`e-7`, `e+2`); the digits are the file's.
            r#"{"version":1.10,"price":1234.50,"tiny":1.0e-7,"e":1e+2,"n":7,"s":"2.50","flow":{"a":3.10,"b":[0.50]}}"#
        );
    }

    #[test]
    fn infinite_and_nan_leaves_are_found_by_their_path() {
        let yaml = "request:\n  url: http://h\n  body:\n    max: .inf\n    ok: 1.5\n    s: \".nan\"\n    list: [1, -.Inf]\n    deep: {x: .NaN}\n";
        let found: Vec<String> = non_finite_leaves(yaml).into_iter().map(|(p, v)| format!("{p}={v}")).collect();
        assert_eq!(found, ["request.body.max=.inf", "request.body.list[1]=-.inf", "request.body.deep.x=.nan"]);
        assert!(non_finite_leaves("request:\n  body: {a: 1e308}\n").is_empty());
        let file = "timeout: 5s\nrequest:\n  body:\n    timeout: .inf\n    list:\n      - 1\n      - .NaN\n";
        assert_eq!(line_of_non_finite(file, "request.body.timeout"), Some(4), "the body's, not the file's");
        assert_eq!(line_of_non_finite(file, "request.body.list[1]"), Some(7));
    }

    #[test]
    fn a_value_written_two_ways_or_in_no_json_form_stays_as_read() {
        // 1.1 and 1.10 are one f64: which leaf was which cannot be told, so neither changes.
        assert_eq!(body_of("request:\n  body:\n    a: 1.10\n    b: 1.1\n"), r#"{"a":1.1,"b":1.1}"#);
        // A comment's digits are no spelling; `timeout: 2.50` outside the body neither.
        assert_eq!(body_of("request:\n  body:\n    a: 2.5 # not 2.50\ntimeout: 2.50\n"), r#"{"a":2.5}"#);
        assert_eq!(body_of("request:\n  body: {a: .5}\n"), r#"{"a":0.5}"#);
    }
}
