//! Explicit number conversions and formatting: `int` and `float` (minijinja's, with errors
//! that show the input), `decimal` (exact digits: `"1234.50" | decimal` compares as a
//! number and prints as `1234.50`) and `format_number(decimals, decimal_point, thousands)`
//! (`1234.5 | format_number(2, ',', '.')` → `1.234,50`), which rounds on the digits, half
//! away from zero, so `2.675` gives `2.68` as a person expects.

use std::sync::Arc;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Value};

use super::values::ExactNumbers;
use super::values::NumberText;

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("int", int);
    env.add_filter("float", float);
    env.add_filter("decimal", decimal);
    env.add_filter("format_number", format_number);
}

/// `"abc" is not a number (| float)`: a conversion error shows its input.
fn not_a_number(value: &Value, filter: &str) -> Error {
    let shown = match value.as_str() {
        Some(s) => format!("{s:?}"),
        None => value.to_string(),
    };
    Error::new(ErrorKind::InvalidOperation, format!("{shown} is not a number (| {filter})"))
}

/// A `| decimal` value as the number it stands for, for minijinja's own conversions.
fn plain(value: Value) -> Value {
    match value.downcast_object_ref::<NumberText>().map(|t| t.0.parse::<f64>()) {
        Some(Ok(f)) => Value::from(f),
        _ => value,
    }
}

fn int(state: &State, value: Value, default: Option<Value>, base: Option<u32>, kwargs: Kwargs) -> Result<Value, Error> {
    let given = value.clone();
    let value = plain(value);
    // minijinja casts a float with `as`, which saturates: 1e39 became i128::MAX, silently.
    // A string minijinja reads as a float when it is no integer ("1e39", "nan") likewise.
    let float = match value.kind() {
        ValueKind::Number if !value.is_integer() => f64::try_from(value.clone()).ok(),
        ValueKind::String => {
            value.as_str().map(str::trim).filter(|t| t.parse::<i128>().is_err()).and_then(|t| t.parse().ok())
        }
        _ => None,
    };
    if let Some(f) = float {
        if f.is_nan() {
            return Err(not_a_number(&given, "int"));
        }
        if !f.is_finite() || f.abs() >= i128::MAX as f64 {
            let shown = match given.as_str() {
                Some(text) => format!("{text:?}"),
                None => digits_of(state, &given, "int").unwrap_or_else(|_| given.to_string()),
            };
            return Err(Error::new(ErrorKind::InvalidOperation, format!("{shown} is too large for | int")));
        }
    }
    minijinja::filters::int(state, &value, default, base, kwargs).map_err(|e| match e.kind() {
        ErrorKind::InvalidOperation => not_a_number(&value, "int"),
        _ => e,
    })
}

fn float(state: &State, value: Value, default: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let value = plain(value);
    minijinja::filters::float(state, &value, default, kwargs).map_err(|e| match e.kind() {
        ErrorKind::InvalidOperation => not_a_number(&value, "float"),
        _ => e,
    })
}

/// Whether `text` is a plain decimal: `-1234.50`, `7`, `0.5` (no exponent, no spaces).
fn is_decimal(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// The digits a value stands for: its own text when the event gave it one.
fn digits_of(state: &State, value: &Value, filter: &str) -> Result<String, Error> {
    if let Some(text) = value.downcast_object_ref::<NumberText>() {
        return Ok(text.0.to_string());
    }
    match value.kind() {
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default().trim();
            let text = text.strip_prefix('+').unwrap_or(text);
            is_decimal(text).then(|| text.to_string()).ok_or_else(|| not_a_number(value, filter))
        }
        ValueKind::Number => {
            let table = ExactNumbers::in_state(state);
            let exact = table.as_ref().and_then(|t| t.downcast_ref::<ExactNumbers>());
            Ok(match super::values::number_text(value, exact) {
                Some(text) => text,
                None if value.is_integer() => value.to_string(),
                // Rust prints an f64 in its shortest round-trip digits, never with an exponent.
                None => {
                    f64::try_from(value.clone()).map(|f| format!("{f}")).map_err(|_| not_a_number(value, filter))?
                }
            })
        }
        ValueKind::Undefined => Err(Error::from(ErrorKind::UndefinedError)),
        _ => Err(not_a_number(value, filter)),
    }
}

/// `"1234.50" | decimal`: a number that keeps its digits (compares as a number, prints as
/// written). An exponent form from the event (`1e2`) is printed as a plain decimal.
fn decimal(state: &State, value: Value) -> Result<Value, Error> {
    let text = plain_decimal(state, &value, "decimal")?;
    Ok(Value::from_object(NumberText(Arc::from(text))))
}

/// The plain decimal digits of `value`: an exponent form written out; one too large for a
/// number (`1e400`) is an error, not `inf`.
fn plain_decimal(state: &State, value: &Value, filter: &str) -> Result<String, Error> {
    let text = digits_of(state, value, filter)?;
    if is_decimal(&text) {
        return Ok(text);
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(format!("{f}")),
        Ok(_) => Err(Error::new(ErrorKind::InvalidOperation, format!("{text} is too large for | {filter}"))),
        Err(_) => Err(not_a_number(value, filter)),
    }
}

/// `value | format_number(decimals, decimal_point='.', thousands='')`.
fn format_number(
    state: &State,
    value: Value,
    decimals: usize,
    decimal_point: Option<String>,
    thousands: Option<String>,
) -> Result<String, Error> {
    let text = plain_decimal(state, &value, "format_number")?;
    Ok(format_digits(
        &text,
        decimals.min(30),
        decimal_point.as_deref().unwrap_or("."),
        thousands.as_deref().unwrap_or(""),
    ))
}

/// Formats a plain decimal `text`, rounded to `decimals` places, half away from zero.
fn format_digits(text: &str, decimals: usize, point: &str, thousands: &str) -> String {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let mut digits: Vec<u8> =
        whole.bytes().chain(fraction.bytes().chain(std::iter::repeat(b'0')).take(decimals)).collect();
    if fraction.as_bytes().get(decimals).is_some_and(|&d| d >= b'5') {
        round_up(&mut digits);
    }
    let whole_len = digits.len() - decimals;
    let (whole, fraction) = digits.split_at(whole_len);
    let whole = String::from_utf8_lossy(whole).trim_start_matches('0').to_string();
    let whole = if whole.is_empty() { "0".to_string() } else { whole };
    let mut out = String::new();
    let is_zero = whole == "0" && fraction.iter().all(|&d| d == b'0');
    if negative && !is_zero {
        out.push('-');
    }
    out.push_str(&group(&whole, thousands));
    if decimals > 0 {
        out.push_str(point);
        out.push_str(&String::from_utf8_lossy(fraction));
    }
    out
}

/// Adds one to the last digit, carrying; a carry out of the first digit adds a `1`.
fn round_up(digits: &mut Vec<u8>) {
    for d in digits.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            return;
        }
    }
    digits.insert(0, b'1');
}

fn group(whole: &str, thousands: &str) -> String {
    if thousands.is_empty() {
        return whole.to_string();
    }
    let mut out = String::with_capacity(whole.len() * 2);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push_str(thousands);
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_rounded_half_away_from_zero_and_grouped() {
        let cases = [
            ("1234.5", 2, ",", ".", "1.234,50"),
            ("10.5", 2, ",", "", "10,50"),
            ("2.675", 2, ".", "", "2.68"),
            ("-0.004", 2, ".", "", "0.00"),
            ("999.995", 2, ".", ",", "1,000.00"),
            ("1234567", 0, ".", " ", "1 234 567"),
            ("-1234.5", 0, ".", "", "-1235"),
        ];
        for (text, decimals, point, thousands, want) in cases {
            assert_eq!(format_digits(text, decimals, point, thousands), want, "{text}");
        }
    }
}
