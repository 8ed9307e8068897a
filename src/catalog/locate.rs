//! Finding the line of a path inside a YAML file's text (`schema` → `properties` →
//! `Customer`), so an error inside a schema or an example points at the line that holds it,
//! not only at the `schema:` key. A best effort over the text: it follows block mappings,
//! block sequences and flow mappings on one line, and stops at the deepest part it finds.

/// The 1-based line of `path` under the top-level `key`, as deep as it can be followed;
/// None when `key` itself is not in the file.
pub fn line_of_path(text: &str, key: &str, path: &[String]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut at = lines.iter().position(|l| indent(l) == 0 && key_at_start(l, key))?;
    for segment in path {
        let next = match segment.parse::<usize>() {
            Ok(n) if segment.bytes().all(|b| b.is_ascii_digit()) => item(&lines, at, n),
            _ => key_below(&lines, at, segment),
        };
        match next {
            Some(line) => at = line,
            None => break,
        }
    }
    Some(at + 1)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The line index of the `n`-th block sequence item under the line `at`.
fn item(lines: &[&str], at: usize, n: usize) -> Option<usize> {
    let base = indent(lines[at]);
    let mut items = lines.iter().enumerate().skip(at + 1).take_while(|(_, l)| {
        is_blank(l) || indent(l) > base || (indent(l) == base && l.trim_start().starts_with("- "))
    });
    let (first, first_line) = items.find(|(_, l)| l.trim_start().starts_with("- "))?;
    let column = indent(first_line);
    let mut found = std::iter::once(first)
        .chain(items.filter(|(_, l)| indent(l) == column && l.trim_start().starts_with("- ")).map(|(i, _)| i));
    found.nth(n)
}

/// The line index of `key` inside the block (or flow mapping) that line `at` opens.
fn key_below(lines: &[&str], at: usize, key: &str) -> Option<usize> {
    // The rest of line `at` itself: a flow mapping (`schema: {properties: …}`) or a
    // sequence item's first key (`- Customer: …`).
    let own = lines[at].trim_start();
    let rest = own.strip_prefix("- ").unwrap_or_else(|| own.split_once(':').map_or("", |(_, r)| r));
    if key_at_start(rest, key) || key_in_flow(rest, key) {
        return Some(at);
    }
    let base = indent(lines[at]);
    lines
        .iter()
        .enumerate()
        .skip(at + 1)
        .take_while(|(_, l)| is_blank(l) || indent(l) > base || l.trim_start().starts_with("- ") && indent(l) == base)
        .find(|(_, l)| key_at_start(l, key) || key_in_flow(l, key))
        .map(|(i, _)| i)
}

/// The line sets `key:` first thing (after a `- `), quoted or not.
fn key_at_start(line: &str, key: &str) -> bool {
    let t = line.trim_start().trim_start_matches("- ").trim_start();
    [format!("{key}:"), format!("\"{key}\":"), format!("'{key}':")].iter().any(|p| t.starts_with(p.as_str()))
}

/// `key:` inside a flow mapping on this line (`{type: object, properties: {Id: …}}`).
fn key_in_flow(line: &str, key: &str) -> bool {
    ["{", "{ ", ", ", ","].iter().any(|before| {
        [format!("{before}{key}:"), format!("{before}\"{key}\":")].iter().any(|p| line.contains(p.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn follows_block_mappings_sequences_and_flow_mappings() {
        let text = "name: T\nschema:\n  type: object\n  properties:\n    Customer:\n      type: object\n      \
                    properties:\n        Id: {type: strin}\n    Points: {type: integer}\nexamples:\n  - Customer: \
                    {Id: 1}\n    Points: 2\n  - Customer: {Id: x}\n    Points: 3\n";
        assert_eq!(line_of_path(text, "schema", &path(&["properties", "Customer", "properties", "Id"])), Some(8));
        assert_eq!(line_of_path(text, "schema", &path(&["properties", "Points", "type"])), Some(9));
        assert_eq!(line_of_path(text, "examples", &path(&["1", "Customer", "Id"])), Some(13));
        assert_eq!(line_of_path(text, "examples", &path(&["1", "Points"])), Some(14));
        assert_eq!(line_of_path(text, "examples", &path(&["0", "Points"])), Some(12));
        // What cannot be followed stops at the deepest part found.
        assert_eq!(line_of_path(text, "schema", &path(&["properties", "Nowhere"])), Some(4));
        assert_eq!(line_of_path(text, "nothing", &[]), None);
    }

    #[test]
    fn a_flow_schema_on_one_line_is_that_line() {
        let text = "name: T\nschema: {type: object, properties: {Id: {type: strin}}}\n";
        assert_eq!(line_of_path(text, "schema", &path(&["properties", "Id", "type"])), Some(2));
    }
}
