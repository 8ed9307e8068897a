//! Stored events out as canonical JSON lines (`hookshape events export`), and read back in
//! (`read`): each line is the envelope exactly as `POST /v1/events` takes it (with the
//! `SourceId` a source recorded), keys in the envelope's order (`Uuid`, `Date`, `Topic`,
//! `Payload`, `SourceId`; the payload's as the producer sent them), numbers with the digits
//! they came with.

pub mod read;
pub mod redact;

use std::io::Write;

use crate::config::StoreUrl;
use crate::store::export::Selection;
pub use redact::RedactPath;

/// What to export, and how.
#[derive(Debug, Clone)]
pub struct Export {
    pub store: StoreUrl,
    pub selection: Selection,
    pub redact: Vec<RedactPath>,
}

/// The canonical line of a stored envelope, its payload redacted at `paths`.
pub fn canonical_line(stored: &str, paths: &[RedactPath]) -> anyhow::Result<String> {
    let value = crate::json::parse(stored.as_bytes()).map_err(|e| anyhow::anyhow!("a stored event: {e}"))?;
    let mut event = crate::event::from_stored(value).map_err(|e| anyhow::anyhow!("a stored event: {e}"))?;
    redact::redact(&mut event.payload, paths);
    Ok(event.envelope_json())
}

/// Hands each selected stored envelope of the store to `each`, oldest first.
pub async fn each_stored(
    store: &StoreUrl,
    selection: &Selection,
    each: &mut dyn FnMut(String) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match store {
        StoreUrl::Sqlite(path) => crate::store::export::read_sqlite(path, selection, each),
        StoreUrl::Postgres(url) => crate::store::export::read_postgres(url, selection, each).await,
    }
}

/// Writes the export to `out`, a line per event; returns how many.
pub async fn write(export: &Export, out: &mut dyn Write) -> anyhow::Result<u64> {
    let mut written = 0;
    let mut each = |stored: String| -> anyhow::Result<()> {
        let line = canonical_line(&stored, &export.redact)?;
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        written += 1;
        Ok(())
    };
    each_stored(&export.store, &export.selection, &mut each).await?;
    out.flush()?;
    Ok(written)
}

/// `--since`: an RFC 3339 time, or a duration back from now (`24h`, `30m`, `7d`).
pub fn since_ms(text: &str, now_ms: i64) -> Result<i64, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(at.timestamp_millis());
    }
    match crate::duration::parse(text) {
        Ok(d) => Ok(now_ms - i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)),
        Err(_) => {
            Err(format!("--since {text:?}: give an RFC 3339 time (2026-01-31T12:00:00Z) or a duration (24h, 30m, 7d)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_envelope_comes_out_in_the_envelope_order_with_its_digits() {
        let stored = r#"{"Topic":"t","Payload":{"b":1.50,"a":12345678901234567890},"SourceId":"s-1","Date":"2025-04-15T14:30:00Z","Uuid":"f47ac10b-58cc-4372-a567-0e02b2c3d479"}"#;
        assert_eq!(
            canonical_line(stored, &[]).unwrap(),
            r#"{"Uuid":"f47ac10b-58cc-4372-a567-0e02b2c3d479","Date":"2025-04-15T14:30:00Z","Topic":"t","Payload":{"b":1.50,"a":12345678901234567890},"SourceId":"s-1"}"#
        );
    }

    #[test]
    fn since_takes_a_time_or_a_duration() {
        assert_eq!(since_ms("2026-01-01T00:00:00Z", 0), Ok(1_767_225_600_000));
        assert_eq!(since_ms("24h", 100_000_000), Ok(100_000_000 - 86_400_000));
        assert!(since_ms("yesterday", 0).unwrap_err().contains("--since"));
    }
}
