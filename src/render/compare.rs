//! Comparisons without silent coercion. minijinja orders a string and a number by their
//! kinds (`"9" >= 50` is quietly true), so every comparison in a template is rewritten,
//! before it compiles, into a call that refuses a string against a number and names both:
//! `Points >= 50` → `__hookshape_cmp(Points, ">=", 50, "Points\u{1}50")`.
//! A chained comparison (`a < b < c`) is left as it is.

use minijinja::value::ValueKind;
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior, Value};

use super::values::NumberText;

const CMP: &str = "__hookshape_cmp";
/// Between the two operands' source texts in the call's last argument.
const SEPARATOR: char = '\u{1}';
const OPERATORS: [&str; 6] = ["==", "!=", "<=", ">=", "<", ">"];

pub fn register(env: &mut Environment<'static>) {
    env.add_function(CMP, compare);
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Open,
    Close,
    Op,
    /// A word that ends an operand (`and`, `if`, `,`, `=` …).
    Stop,
    /// Part of an operand.
    Part,
}

/// The region's tokens as (start, end, kind); strings are single `Part`s.
fn tokens(region: &str) -> Vec<(usize, usize, Tok)> {
    let bytes = region.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut previous_word = "";
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let kind = if b.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if b == b'"' || b == b'\'' {
            i = super::syntax::string_end(bytes, i, b);
            Tok::Part
        } else if super::syntax::is_name_start(b) {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &region[start..i];
            let kind = match word {
                // `is not none` and `not in` keep `not` inside the operand.
                "not" if previous_word == "is" => Tok::Part,
                "and" | "or" | "not" | "if" | "elif" | "else" | "in" | "recursive" | "for" | "set" | "with"
                | "print" => Tok::Stop,
                _ => Tok::Part,
            };
            previous_word = word;
            out.push((start, i, kind));
            continue;
        } else if let Some(op) = OPERATORS.iter().find(|op| bytes[i..].starts_with(op.as_bytes())) {
            i += op.len();
            Tok::Op
        } else {
            i += 1;
            match b {
                b'(' | b'[' | b'{' => Tok::Open,
                b')' | b']' | b'}' => Tok::Close,
                b',' | b':' | b'=' => Tok::Stop,
                _ => Tok::Part,
            }
        };
        previous_word = "";
        out.push((start, i, kind));
    }
    out
}

/// The token index where the operand left of `op` starts, or `None` for a chain.
fn left_start(toks: &[(usize, usize, Tok)], op: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut i = op;
    while i > 0 {
        let kind = toks[i - 1].2;
        match kind {
            Tok::Close => depth += 1,
            Tok::Open if depth == 0 => break,
            Tok::Open => depth -= 1,
            Tok::Op if depth == 0 => return None,
            Tok::Stop if depth == 0 => break,
            _ => {}
        }
        i -= 1;
    }
    (i < op).then_some(i)
}

/// The token index just past the operand right of `op`, or `None` for a chain.
fn right_end(toks: &[(usize, usize, Tok)], op: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut i = op + 1;
    while i < toks.len() {
        match toks[i].2 {
            Tok::Open => depth += 1,
            Tok::Close if depth == 0 => break,
            Tok::Close => depth -= 1,
            Tok::Op if depth == 0 => return None,
            Tok::Stop if depth == 0 => break,
            _ => {}
        }
        i += 1;
    }
    (i > op + 1).then_some(i)
}

/// A string literal minijinja reads back as `text`.
fn literal(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One `{{ … }}` or `{% … %}` region with its comparisons turned into checked calls.
pub fn rewrite(region: &str) -> String {
    // Whitespace control (`{{-`, `-%}`) is a sign right at the delimiter, not an operand.
    let control = |c: char| c == '-' || c == '+';
    let head = usize::from(region.starts_with(control));
    let tail = match region.len() > head && region.ends_with(control) {
        true => region.len() - 1,
        false => region.len(),
    };
    format!("{}{}{}", &region[..head], rewrite_inner(&region[head..tail]), &region[tail..])
}

fn rewrite_inner(region: &str) -> String {
    let toks = tokens(region);
    // (offset, order, text, end of the text replaced): at one offset, closing parentheses
    // (inner first) go before openings (outer first).
    let mut edits: Vec<(usize, i64, String, usize)> = Vec::new();
    for (op, &(op_start, op_end, kind)) in toks.iter().enumerate() {
        if kind != Tok::Op {
            continue;
        }
        let (Some(l), Some(r)) = (left_start(&toks, op), right_end(&toks, op)) else { return region.to_string() };
        let (start, end) = (toks[l].0, toks[r - 1].1);
        let span = (end - start) as i64;
        let (left, right) = (region[start..op_start].trim(), region[op_end..end].trim());
        let operator = &region[op_start..op_end];
        edits.push((start, i64::MAX / 2 - span, format!("{CMP}("), start));
        edits.push((op_start, 0, format!(", {}, ", literal(operator)), op_end));
        let sources = format!("{left}{SEPARATOR}{right}");
        edits.push((end, span - i64::MAX / 2, format!(", {})", literal(&sources)), end));
    }
    edits.sort_by_key(|(at, order, _, _)| (*at, *order));
    let mut out = String::with_capacity(region.len() + edits.len() * 16);
    let mut at = 0;
    for (offset, _, text, replaced_end) in edits {
        if offset > at {
            out.push_str(&region[at..offset]);
            at = offset;
        }
        out.push_str(&text);
        at = at.max(replaced_end);
    }
    out.push_str(&region[at..]);
    out
}

fn kind_name(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::String => "a string",
        ValueKind::Number => "a number",
        _ => "a value",
    }
}

fn shown(value: &Value) -> String {
    match value.as_str() {
        Some(s) => format!("{s:?}"),
        None => value.to_string(),
    }
}

/// A number for comparing: plain numbers as they are, `| decimal` values by their digits.
fn numeric(value: Value) -> Value {
    match value.downcast_object_ref::<NumberText>() {
        Some(text) => text.0.parse::<f64>().map(Value::from).unwrap_or(value),
        None => value,
    }
}

/// `__hookshape_cmp(a, op, b, "a's source\u{1}b's source")`.
fn compare(state: &State, a: Value, op: &str, b: Value, sources: &str) -> Result<bool, Error> {
    let (left, right) = sources.split_once(SEPARATOR).unwrap_or((sources, ""));
    // The load-time dry run chains undefined values; only the real environment refuses them.
    let strict = matches!(state.undefined_behavior(), UndefinedBehavior::Strict | UndefinedBehavior::SemiStrict);
    for (value, text) in [(&a, left), (&b, right)] {
        if strict && value.is_undefined() {
            return Err(Error::new(ErrorKind::UndefinedError, super::undefined::explain(text, state)));
        }
    }
    let (a, b) = (numeric(a), numeric(b));
    let mixed = |x: &Value, y: &Value| x.kind() == ValueKind::String && y.kind() == ValueKind::Number;
    if mixed(&a, &b) || mixed(&b, &a) {
        let name = |text: &str, v: &Value| match text == shown(v) {
            true => format!("{} ({})", shown(v), kind_name(v)),
            false => format!("{text} = {} ({})", shown(v), kind_name(v)),
        };
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "cannot compare {} with {} using {op}; convert explicitly: `| int`, `| float` or `| decimal`",
                name(left, &a),
                name(right, &b)
            ),
        ));
    }
    Ok(match op {
        "==" => a == b,
        "!=" => a != b,
        "<" => a < b,
        "<=" => a <= b,
        ">" => a > b,
        _ => a >= b,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_become_checked_calls_and_the_rest_stays() {
        let cases = [
            (" Points >= 50 ", r#" __hookshape_cmp(Points , ">=",  50, "Points|50") "#),
            (" if (Points | int) >= 50 ", r#" if __hookshape_cmp((Points | int) , ">=",  50, "(Points | int)|50") "#),
            (" a == 'x' and b ", r#" __hookshape_cmp(a , "==",  'x', "a|'x'") and b "#),
            (" f(a < 1) ", r#" f(__hookshape_cmp(a , "<",  1, "a|1")) "#),
            (" a < b < c ", " a < b < c "),
            (" x is not none ", " x is not none "),
            (" Customer.Name ", " Customer.Name "),
            ("- a > 1 -", r#"- __hookshape_cmp(a , ">",  1, "a|1") -"#),
        ];
        for (region, want) in cases {
            assert_eq!(rewrite(region).replace(SEPARATOR, "|"), want, "{region}");
        }
    }
}
