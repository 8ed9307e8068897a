//! Reading the ISO 8601 dates events carry: what intake accepts as a `Date` and what
//! templates' `date` filter reads, one parser for both (an event accepted is one its
//! templates can date).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};

/// Reads a date from an event: RFC 3339 / ISO 8601 text (also an offset without its colon,
/// `+0300` as PHP's `DATE_ISO8601` writes it, and a time without seconds), a date alone.
/// Without an offset the time is UTC.
pub fn parse_any(text: &str) -> Result<DateTime<FixedOffset>, String> {
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Ok(d);
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"] {
        if let Ok(d) = DateTime::parse_from_str(text, f) {
            return Ok(d);
        }
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(text, f) {
            return Ok(n.and_utc().fixed_offset());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().fixed_offset());
    }
    Err(format!("{text:?} is not an ISO 8601 date"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn reads_the_iso_8601_forms_platforms_write() {
        let utc = |text: &str| parse_any(text).map(|d| d.with_timezone(&Utc).to_rfc3339());
        let at = Ok("2025-01-13T11:30:00+00:00".to_string());
        for text in [
            "2025-01-13T14:30:00+03:00",
            "2025-01-13T14:30:00+0300", // PHP's DATE_ISO8601
            "2025-01-13T14:30:00.000+0300",
            "2025-01-13T14:30+03:00",
            "2025-01-13T11:30Z",
            "2025-01-13T11:30",
            "2025-01-13T11:30:00",
            "2025-01-13 11:30:00",
        ] {
            assert_eq!(utc(text), at, "{text}");
        }
        for text in ["2025-01-13T14:30:00+3", "13/01/2025", "2025-01-13T25:00Z", "yesterday"] {
            assert!(parse_any(text).is_err(), "{text}");
        }
    }
}
