//! Durations as subscription files write them: `500ms`, `30s`, `5m`, `1h`.

use std::time::Duration;

/// About a century: longer than anything hookshape waits for, short enough to add to a clock.
const MAX_MS: u64 = 36_500 * 86_400_000;

pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad =
        || format!("invalid duration {text:?}: expected a whole number and a unit, like 500ms, 30s, 5m, 1h or 30d");
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => return Err(bad()),
    };
    // Bounded so that any duration added to a timestamp in milliseconds stays far from overflow.
    ms.filter(|&ms| ms <= MAX_MS).map(Duration::from_millis).ok_or_else(bad)
}

/// The inverse of [`parse`], for showing configuration back to people.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0s".into(),
        _ if ms.is_multiple_of(86_400_000) => format!("{}d", ms / 86_400_000),
        _ if ms.is_multiple_of(3_600_000) => format!("{}h", ms / 3_600_000),
        _ if ms.is_multiple_of(60_000) => format!("{}m", ms / 60_000),
        _ if ms.is_multiple_of(1_000) => format!("{}s", ms / 1_000),
        _ => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit_and_rejects_the_rest() {
        let cases = [
            ("500ms", Some(500)),
            ("30s", Some(30_000)),
            ("5m", Some(300_000)),
            ("1h", Some(3_600_000)),
            (" 2s ", Some(2_000)),
            ("30", None),
            ("s", None),
            ("1.5s", None),
            ("-1s", None),
            ("30d", Some(2_592_000_000)),
            ("10w", None),
            ("99999999999999999999h", None),
            ("36500d", Some(3_153_600_000_000)),
            ("36501d", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).ok().map(|d| d.as_millis() as u64), want, "{text}");
        }
    }

    #[test]
    fn format_round_trips() {
        for text in ["500ms", "30s", "5m", "1h", "90s"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
