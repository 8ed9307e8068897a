//! Where template text stands at its end, read from its beginning as minijinja's lexer
//! reads it: in plain text, a `raw` block, a comment, or a tag (an expression or a
//! statement), and in a tag whether inside a string literal. A `${VAR}` is written there
//! (`env_vars`), and what makes its value harmless depends on the place: a delimiter
//! inside a string literal (`{{ '}}' ~ x }}`) closes nothing, so searching backwards for
//! the last delimiter is not enough.

use crate::render::Delimiters;

/// The place at the end of a template text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Text,
    Raw,
    Comment,
    /// Inside a tag; `quote` is the quote of the string literal it is inside, if any.
    Tag {
        quote: Option<char>,
    },
}

/// Where `text` ends.
pub fn at_end(text: &str, d: &Delimiters) -> Place {
    let mut rest = text;
    loop {
        let opens = [d.variable.0.as_str(), d.block.0.as_str(), d.comment.0.as_str()];
        let Some((at, open)) = earliest(rest, &opens) else { return Place::Text };
        let after = &rest[at + open.len()..];
        if open == d.comment.0 {
            match after.find(d.comment.1.as_str()) {
                Some(end) => rest = &after[end + d.comment.1.len()..],
                None => return Place::Comment,
            }
        } else if open == d.block.0 && statement_is(after, "raw", d).is_some() {
            match end_of_raw(after, d) {
                Some(end) => rest = end,
                None => return Place::Raw,
            }
        } else {
            let close = if open == d.variable.0 { d.variable.1.as_str() } else { d.block.1.as_str() };
            match tag_end(after, close) {
                Ok(end) => rest = end,
                Err(quote) => return Place::Tag { quote },
            }
        }
    }
}

/// The text after a tag whose inside begins `inside`, or (when it does not close) the
/// quote of the string literal the text ends in.
fn tag_end<'t>(inside: &'t str, close: &str) -> Result<&'t str, Option<char>> {
    let mut quote = None;
    // Brackets open in the expression: `}}` inside `{'a': {'b': 1}}` closes a map.
    let mut depth = 0usize;
    let mut chars = inside.char_indices();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some(_) if c == '\\' => {
                chars.next();
            }
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if depth == 0 && inside[i..].starts_with(close) => return Ok(&inside[i + close.len()..]),
            None if "{[(".contains(c) => depth += 1,
            None if "}])".contains(c) => depth = depth.saturating_sub(1),
            None => {}
        }
    }
    Err(quote)
}

/// When the block tag whose inside begins `inside` is the statement `keyword` (`raw`,
/// `endraw`), the text after the tag.
fn statement_is<'t>(inside: &'t str, keyword: &str, d: &Delimiters) -> Option<&'t str> {
    let words = inside.trim_start_matches(['-', '+']).trim_start().strip_prefix(keyword)?;
    let words = words.trim_start().trim_start_matches(['-', '+']);
    words.strip_prefix(d.block.1.as_str())
}

/// The text after the `endraw` that closes a raw block whose opening tag's inside begins
/// `inside`.
fn end_of_raw<'t>(inside: &'t str, d: &Delimiters) -> Option<&'t str> {
    let mut rest = statement_is(inside, "raw", d)?;
    loop {
        let at = rest.find(d.block.0.as_str())?;
        let after = &rest[at + d.block.0.len()..];
        match statement_is(after, "endraw", d) {
            Some(end) => return Some(end),
            None => rest = after,
        }
    }
}

/// The first of `marks` in `text`, the longest when several start at the same place.
pub fn earliest<'m>(text: &str, marks: &[&'m str]) -> Option<(usize, &'m str)> {
    marks
        .iter()
        .filter_map(|m| text.find(*m).map(|at| (at, *m)))
        .min_by_key(|(at, m)| (*at, std::cmp::Reverse(m.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tags_strings_raw_blocks_and_comments_from_the_start() {
        let d = Delimiters::default();
        let place = |t: &str| at_end(t, &d);
        assert_eq!(place("a {{ b }} c"), Place::Text);
        assert_eq!(place("a {{ b | default("), Place::Tag { quote: None });
        assert_eq!(place("{{ x | default('"), Place::Tag { quote: Some('\'') });
        assert_eq!(place("{{ '}}' ~ '"), Place::Tag { quote: Some('\'') }, "a delimiter in a string closes nothing");
        assert_eq!(place("{{ 'it\\'s' ~ \""), Place::Tag { quote: Some('"') });
        assert_eq!(place("{{ '{{' }} x "), Place::Text, "an opening in a string opens nothing");
        assert_eq!(place("{{ {'a': {'b': 1}} | tojson ~ '"), Place::Tag { quote: Some('\'') });
        assert_eq!(place("{{ {'a': 1} }} x"), Place::Text);
        assert_eq!(place("{% raw %}{{ "), Place::Raw);
        assert_eq!(place("{%- raw -%}{{ x {%- endraw %} y "), Place::Text);
        assert_eq!(place("{# a {{ "), Place::Comment);
        assert_eq!(place("{# a #}{% if "), Place::Tag { quote: None });
        let custom = Delimiters { variable: ("<<".into(), ">>".into()), block: ("<%".into(), "%>".into()), ..d };
        assert_eq!(at_end("<< a >> << '", &custom), Place::Tag { quote: Some('\'') });
    }
}
