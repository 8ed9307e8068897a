//! Date parsing and formatting for templates, with time zones and the Java/.NET style
//! patterns the seed platforms document (`dd/MM/yyyy HH:mm:ss`) as well as strftime.

use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Reads a date from an event (`crate::iso8601`, which intake checks by too).
pub use crate::iso8601::parse_any;

pub fn from_unix_seconds(secs: f64) -> Result<DateTime<FixedOffset>, String> {
    let millis = (secs * 1000.0).round() as i64;
    Utc.timestamp_millis_opt(millis).single().map(|d| d.fixed_offset()).ok_or_else(|| format!("{secs} is out of range"))
}

/// Parses text written in `pattern` (Java style or strftime), read in time zone `tz`
/// (UTC when absent and the pattern has no offset).
pub fn parse_with(text: &str, pattern: &str, tz: Option<&str>) -> Result<DateTime<FixedOffset>, String> {
    let fmt = to_strftime(pattern)?;
    if let Ok(d) = DateTime::parse_from_str(text, &fmt) {
        return Ok(d);
    }
    let naive = NaiveDateTime::parse_from_str(text, &fmt)
        .or_else(|_| NaiveDate::parse_from_str(text, &fmt).map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default()))
        .map_err(|e| format!("{text:?} does not match {pattern:?}: {e}"))?;
    match tz {
        None => Ok(naive.and_utc().fixed_offset()),
        Some(name) => zone(name)?
            .from_local_datetime(&naive)
            .earliest()
            .map(|d| d.fixed_offset())
            .ok_or_else(|| format!("{text:?} does not exist in time zone {name}")),
    }
}

/// Formats `date` with `pattern`, converted to `tz` first when given.
pub fn format(date: DateTime<FixedOffset>, pattern: &str, tz: Option<&str>) -> Result<String, String> {
    let fmt = to_strftime(pattern)?;
    // `write!`, not `to_string()`: chrono reports a field it cannot format as an error,
    // which `to_string()` would turn into a panic.
    let mut out = String::new();
    let written = match tz {
        Some(name) => write!(out, "{}", date.with_timezone(&zone(name)?).format(&fmt)),
        None => write!(out, "{}", date.format(&fmt)),
    };
    written.map_err(|_| format!("date pattern {pattern:?} cannot format this date"))?;
    Ok(out)
}

pub fn zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| format!("unknown time zone {name:?} (use an IANA name like America/Sao_Paulo)"))
}

/// Translates a Java/.NET style pattern into strftime (a pattern with `%` is strftime
/// already), refusing a pattern chrono would not understand.
pub fn to_strftime(pattern: &str) -> Result<String, String> {
    let fmt = translate(pattern)?;
    if StrftimeItems::new(&fmt).any(|item| matches!(item, Item::Error)) {
        return Err(format!("date pattern {pattern:?} has a field that is not a strftime or Java pattern field"));
    }
    Ok(fmt)
}

fn translate(pattern: &str) -> Result<String, String> {
    if pattern.contains('%') {
        return Ok(pattern.to_string());
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal text; '' is a single quote.
            let end = chars[i + 1..].iter().position(|&q| q == '\'').map(|p| i + 1 + p);
            let Some(end) = end else { return Err(format!("unclosed quote in date pattern {pattern:?}")) };
            if end == i + 1 {
                out.push('\'');
            }
            out.extend(chars[i + 1..end].iter());
            i = end + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&d| d == c).count();
        let spec = match (c, run) {
            ('y', 4) => "%Y",
            ('y', 2) => "%y",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', 4) => "%B",
            ('d', 1) => "%-d",
            ('d', 2) => "%d",
            ('H', 1) => "%-H",
            ('H', 2) => "%H",
            ('h', 1) => "%-I",
            ('h', 2) => "%I",
            ('m', 1) => "%-M",
            ('m', 2) => "%M",
            ('s', 1) => "%-S",
            ('s', 2) => "%S",
            ('S', 3) => "%3f",
            ('S', 6) => "%6f",
            ('a', 1) => "%p",
            ('E', 3) => "%a",
            ('E', 4) => "%A",
            ('X', 3) | ('x', 3) => "%:z",
            ('X', 2) | ('x', 2) | ('Z', 1) => "%z",
            ('z', _) => "%Z",
            _ => return Err(format!("date pattern {pattern:?}: {} is not a known field", c.to_string().repeat(run))),
        };
        out.push_str(spec);
        i += run;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_patterns_translate() {
        assert_eq!(to_strftime("dd/MM/yyyy HH:mm:ss").unwrap(), "%d/%m/%Y %H:%M:%S");
        assert_eq!(to_strftime("yyyy-MM-dd'T'HH:mm:ss.SSSXXX").unwrap(), "%Y-%m-%dT%H:%M:%S.%3f%:z");
        assert_eq!(to_strftime("%d/%m").unwrap(), "%d/%m");
        assert!(to_strftime("QQ").is_err());
        for bad in ["%Q", "%", "%Y-%", "%.9", "%:"] {
            assert!(to_strftime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_in_a_time_zone() {
        let d = parse_any("2025-04-15T14:30:00.123Z").unwrap();
        assert_eq!(format(d, "dd/MM/yyyy HH:mm:ss", None).unwrap(), "15/04/2025 14:30:00");
        assert_eq!(format(d, "dd/MM/yyyy HH:mm:ss", Some("America/Sao_Paulo")).unwrap(), "15/04/2025 11:30:00");
        assert!(format(d, "yyyy", Some("Mars/Base")).is_err());
        assert!(format(d, "%Q", None).is_err(), "an error, not a panic");
    }

    #[test]
    fn parses_custom_patterns_in_a_zone() {
        let d = parse_with("15/04/2025 11:30:00", "dd/MM/yyyy HH:mm:ss", Some("America/Sao_Paulo")).unwrap();
        assert_eq!(d.with_timezone(&Utc).to_rfc3339(), "2025-04-15T14:30:00+00:00");
        assert!(parse_with("2025-04-15", "dd/MM/yyyy", None).is_err());
    }
}
