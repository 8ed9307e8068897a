//! The deliveries form's date pickers: `<input type=datetime-local>` sends a time with no
//! zone (`2026-11-25T14:30`), which the console reads in the server's zone, UTC (the page
//! says so); and any time the filters accept is shown back in the picker's own form.

use chrono::{DateTime, NaiveDateTime};

/// What a picker sends, with and without seconds.
const PICKER_FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"];

/// A filter's time as the API takes it: a picker's value becomes RFC 3339 in UTC; anything
/// else (RFC 3339, milliseconds, or a mistake the API will name) passes unchanged.
pub fn from_picker(value: &str) -> String {
    let value = value.trim();
    PICKER_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
        .map(|t| t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| value.to_string())
}

/// A filter's time as the picker shows it (UTC); empty for what is no time.
pub fn to_picker(value: &str) -> String {
    let value = from_picker(value);
    let at = DateTime::parse_from_rfc3339(&value)
        .ok()
        .map(|t| t.naive_utc())
        .or_else(|| value.parse::<i64>().ok().and_then(DateTime::from_timestamp_millis).map(|t| t.naive_utc()));
    at.map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pickers_time_is_read_as_utc_and_every_accepted_time_is_shown_back_in_utc() {
        assert_eq!(from_picker("2026-11-25T14:30"), "2026-11-25T14:30:00Z");
        assert_eq!(from_picker("2026-11-25T14:30:05"), "2026-11-25T14:30:05Z");
        assert_eq!(from_picker("2026-11-25T14:30:00-03:00"), "2026-11-25T14:30:00-03:00", "an API time passes");
        assert_eq!(from_picker("yesterday"), "yesterday", "the API names the mistake");
        assert_eq!(to_picker("2026-11-25T14:30:00-03:00"), "2026-11-25T17:30:00");
        assert_eq!(to_picker("2026-11-25T14:30"), "2026-11-25T14:30:00");
        assert_eq!(to_picker("0"), "1970-01-01T00:00:00");
        assert_eq!(to_picker("yesterday"), "");
    }
}
