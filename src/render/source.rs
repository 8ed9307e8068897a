//! Template source, looked at before minijinja compiles it: literal date patterns and time
//! zones are checked (a bad one is a load error, not a failed delivery), and a dotted name
//! under `| default(…)` is guarded so the default also covers a missing parent
//! (`{{ Customer.Id | default('none') }}` with no `Customer` renders `none`).

use super::syntax::{is_name_char, is_name_start, read_chain, string_end, Delimiters};

/// The source minijinja should compile, or why it must not be.
pub fn prepare(source: &str, d: &Delimiters) -> Result<String, String> {
    prepare_with(source, d, false)
}

/// `prepare` for a template that writes JSON (a `body_template` file, a typed body leaf):
/// also a field printed whole keeps its number's own spelling (`super::positions`).
pub fn prepare_json(source: &str, d: &Delimiters) -> Result<String, String> {
    prepare_with(source, d, true)
}

fn prepare_with(source: &str, d: &Delimiters, json: bool) -> Result<String, String> {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some((at, open)) = next_opening(rest, d) {
        out.push_str(&rest[..at]);
        rest = &rest[at + open.len()..];
        let close = match open {
            o if o == d.comment.0 => d.comment.1.as_str(),
            o if o == d.variable.0 => d.variable.1.as_str(),
            _ => d.block.1.as_str(),
        };
        let end = if open == d.comment.0 { rest.find(close) } else { closing(rest, close) };
        let Some(end) = end else {
            // Unclosed: minijinja will report it with its line.
            out.push_str(open);
            out.push_str(rest);
            return Ok(out);
        };
        let region = &rest[..end];
        out.push_str(open);
        if open == d.comment.0 {
            out.push_str(region);
        } else if open == d.block.0 && is_raw(region) {
            // `{% raw %}` … `{% endraw %}` is text: copy it as it is.
            let body_end = find_endraw(&rest[end + close.len()..], d).map_or(rest.len(), |e| end + close.len() + e);
            out.push_str(&rest[..body_end]);
            rest = &rest[body_end..];
            continue;
        } else if json && open == d.variable.0 {
            out.push_str(&super::compare::rewrite(&super::positions::whole_field(&expression(region)?)));
        } else {
            out.push_str(&super::compare::rewrite(&expression(region)?));
        }
        out.push_str(close);
        rest = &rest[end + close.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether a template would pull in other templates (`include`, `import`, `from`, `extends`).
pub fn uses_other_templates(source: &str, d: &Delimiters) -> bool {
    source.split(d.block.0.as_str()).skip(1).any(|tag| {
        let word = tag.trim_start_matches(['-', '+']).trim_start().split(|c: char| !c.is_alphanumeric()).next();
        matches!(word, Some("include" | "import" | "from" | "extends"))
    })
}

fn next_opening<'a>(text: &str, d: &'a Delimiters) -> Option<(usize, &'a str)> {
    [&d.variable.0, &d.block.0, &d.comment.0]
        .into_iter()
        .filter_map(|open| text.find(open.as_str()).map(|at| (at, open.as_str())))
        .min_by_key(|(at, open)| (*at, std::cmp::Reverse(open.len())))
}

/// Where `close` ends an expression, skipping string literals that might contain it.
fn closing(text: &str, close: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'"' | b'\'') => i = string_end(bytes, i, q),
            // Bytes, not `&text[i..]`: `i` may be inside a multi-byte character.
            _ if bytes[i..].starts_with(close.as_bytes()) => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn is_raw(region: &str) -> bool {
    region.trim_matches(|c: char| c.is_whitespace() || c == '-' || c == '+') == "raw"
}

fn find_endraw(text: &str, d: &Delimiters) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find(d.block.0.as_str()) {
        let tag = &text[from + at + d.block.0.len()..];
        let end = tag.find(d.block.1.as_str())?;
        if tag[..end].trim_matches(|c: char| c.is_whitespace() || c == '-' || c == '+') == "endraw" {
            return Some(from + at);
        }
        from += at + d.block.0.len();
    }
    None
}

/// One `{{ … }}` or `{% … %}`: literal date arguments checked, default chains guarded.
fn expression(region: &str) -> Result<String, String> {
    let bytes = region.as_bytes();
    let mut out = String::with_capacity(region.len());
    let mut i = 0;
    // The last character that was not whitespace: a name after `.` continues a chain.
    let mut previous = b' ';
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'"' || b == b'\'' {
            let end = string_end(bytes, i, b);
            out.push_str(&region[i..end]);
            i = end;
            previous = b;
        } else if is_name_start(b) && previous != b'.' {
            let (chain, end) = read_chain(region, i);
            if ["date", "parse_date"].contains(&chain.as_str()) {
                check_date_arguments(&chain, &region[end..])?;
            }
            match chain.split_once('.').filter(|_| applies_default(&region[end..])) {
                Some((first, _)) => out.push_str(&guarded(first, &chain)),
                None => out.push_str(&chain),
            }
            i = end;
            previous = bytes[end - 1];
        } else {
            out.push(char::from(b));
            if !b.is_ascii_whitespace() {
                previous = b;
            }
            i += 1;
            // Copy the rest of a multi-byte character unchanged.
            while i < bytes.len() && (bytes[i] & 0xC0) == 0x80 {
                out.pop();
                let start = i - 1;
                while i < bytes.len() && (bytes[i] & 0xC0) == 0x80 {
                    i += 1;
                }
                out.push_str(&region[start..i]);
            }
        }
    }
    Ok(out)
}

/// Whether what follows a chain applies `default` (or its alias `d`) to it.
fn applies_default(after: &str) -> bool {
    let Some(filter) = after.trim_start().strip_prefix('|') else { return false };
    let filter = filter.trim_start();
    ["default", "d"].iter().any(|name| {
        filter.strip_prefix(name).is_some_and(|rest| rest.as_bytes().first().is_none_or(|&c| !is_name_char(c)))
    })
}

/// `A.b.c` → `(A.b.c if A is defined and A.b is defined)`: undefined, not an error, when a
/// parent is missing, so the default that follows applies.
fn guarded(first: &str, chain: &str) -> String {
    let mut parents = vec![first.to_string()];
    let segments: Vec<&str> = chain.split('.').collect();
    for n in 2..segments.len() {
        parents.push(segments[..n].join("."));
    }
    let conditions: Vec<String> = parents.iter().map(|p| format!("{p} is defined")).collect();
    format!("({chain} if {})", conditions.join(" and "))
}

/// `date('dd/MM/yyyy', 'America/Sao_Paulo')` with literal arguments: checked now, so a bad
/// pattern is a load error rather than a failure of every delivery.
fn check_date_arguments(name: &str, after: &str) -> Result<(), String> {
    let Some(args) = after.trim_start().strip_prefix('(') else { return Ok(()) };
    let literals = leading_literals(args);
    if let Some(pattern) = literals.first() {
        super::dates::to_strftime(pattern).map_err(|e| format!("{name}: {e}"))?;
    }
    if let Some(zone) = literals.get(1) {
        super::dates::zone(zone).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

/// The string literals at the start of an argument list, up to the first argument that is not one.
fn leading_literals(args: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = args.trim_start();
    while let Some(quote) = rest.bytes().next().filter(|b| *b == b'"' || *b == b'\'') {
        let end = string_end(rest.as_bytes(), 0, quote);
        let literal = &rest[1..end.saturating_sub(1).max(1)];
        if literal.contains('\\') {
            break; // escapes: leave the checking to run time
        }
        found.push(literal.to_string());
        rest = rest[end..].trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(source: &str) -> Result<String, String> {
        prepare(source, &Delimiters::default())
    }

    #[test]
    fn default_chains_are_guarded_and_nothing_else_changes() {
        let cases = [
            ("{{ Customer.Id | default('none') }}", "{{ (Customer.Id if Customer is defined) | default('none') }}"),
            ("{{ A.b.c|d(1) }}", "{{ (A.b.c if A is defined and A.b is defined)|d(1) }}"),
            ("{{ Customer.Id }}", "{{ Customer.Id }}"),
            ("{{ Points | default(0) }}", "{{ Points | default(0) }}"),
            ("{{ 'a.b | default' }}", "{{ 'a.b | default' }}"),
            ("{{ x.y | defaults }}", "{{ x.y | defaults }}"),
            ("{{ f().a.b | default(1) }}", "{{ f().a.b | default(1) }}"),
            ("text A.b | default {# A.b | default #}", "text A.b | default {# A.b | default #}"),
            (
                "{% if A.b | default(false) %}é{% endif %}",
                "{% if (A.b if A is defined) | default(false) %}é{% endif %}",
            ),
            ("{% raw %}{{ A.b | default(1) }}{% endraw %}", "{% raw %}{{ A.b | default(1) }}{% endraw %}"),
            ("{{ 'é' ~ A.b | default('ü') }}", "{{ 'é' ~ (A.b if A is defined) | default('ü') }}"),
        ];
        for (source, want) in cases {
            assert_eq!(prep(source).unwrap(), want, "{source}");
        }
    }

    #[test]
    fn literal_date_patterns_and_zones_are_checked() {
        assert!(prep("{{ Date | date('dd/MM/yyyy HH:mm:ss', 'America/Sao_Paulo') }}").is_ok());
        assert!(prep("{{ Date | date(Pattern) }}").is_ok(), "not a literal: checked when it renders");
        for bad in ["{{ Date | date('%Q') }}", "{{ Date | date(\"QQ\") }}", "{{ Date | date('yyyy', 'Mars/Base') }}"] {
            assert!(prep(bad).is_err(), "{bad}");
        }
        assert!(prep("{{ x | parse_date('%Y-%m-%d %Q') }}").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_source_is_prepared_without_panic_and_only_default_chains_change(
            source in "(\\{\\{|\\}\\}|\\{%|%\\}|\\{#|#\\}|[a-z.|() '\"é中]){0,40}"
        ) {
            if let Ok(out) = prep(&source) {
                // `in` between two operands is rewritten into a checked comparison (compare.rs).
                let compares = source.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').any(|w| w == "in");
                if !source.contains("| d") && !source.contains("|d") && !compares {
                    proptest::prop_assert_eq!(out, source);
                }
            }
        }
    }

    #[test]
    fn templates_that_pull_in_others_are_spotted() {
        let d = Delimiters::default();
        assert!(uses_other_templates("/a/{% include 'x' %}", &d));
        assert!(uses_other_templates("{%- import 'm' as m %}", &d));
        assert!(!uses_other_templates("/a/{{ includes }}/{% if x %}b{% endif %}", &d));
    }
}
