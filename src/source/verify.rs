//! Checking an inbound request's proof over the exact bytes received, before anything is
//! parsed or stored: every comparison in constant time, any one of the secrets accepted.

use std::time::Duration;

use subtle::ConstantTimeEq;

use super::raw::VerifyScheme;
use crate::secret::Secret;
use crate::sign::{self, Scheme};

#[derive(Debug, Clone)]
pub struct Verifier {
    pub scheme: VerifyScheme,
    /// Where the proof is (the hmac and header schemes).
    pub header: String,
    pub secrets: Vec<Secret>,
    /// standard-webhooks: the most `webhook-timestamp` may differ from now.
    pub tolerance: Duration,
}

pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

impl Verifier {
    /// Ok, or why the request is refused (said to the sender, so it names no secret).
    pub fn check(&self, header: &dyn Fn(&str) -> Option<String>, body: &[u8], now_secs: i64) -> Result<(), String> {
        match self.scheme {
            VerifyScheme::None => Ok(()),
            VerifyScheme::Header => {
                let given = header(&self.header).ok_or_else(|| format!("no {} header", self.header))?;
                if self.secrets.iter().any(|s| same_secret(given.as_bytes(), s.expose().as_bytes())) {
                    Ok(())
                } else {
                    Err(format!("{} does not match", self.header))
                }
            }
            VerifyScheme::HmacSha256Hex | VerifyScheme::HmacSha256Prefixed => {
                let scheme = if self.scheme == VerifyScheme::HmacSha256Hex {
                    Scheme::HmacSha256Hex
                } else {
                    Scheme::HmacSha256Prefixed
                };
                // Hex may come in either case; it is compared as lowercase.
                let lowercase = |name: &str| header(name).map(|v| v.to_ascii_lowercase());
                self.any_secret(|s| sign::verify(scheme, s, Some(&self.header), &lowercase, body))
            }
            VerifyScheme::StandardWebhooks => {
                let ts = header("webhook-timestamp").ok_or("no webhook-timestamp header")?;
                let ts: i64 = ts.trim().parse().map_err(|_| "webhook-timestamp is not a number")?;
                if (now_secs - ts).unsigned_abs() > self.tolerance.as_secs() {
                    return Err(format!(
                        "webhook-timestamp is {} s from now, past the tolerance of {} s (a replay?)",
                        now_secs - ts,
                        self.tolerance.as_secs()
                    ));
                }
                self.any_secret(|s| sign::verify(Scheme::StandardWebhooks, s, None, header, body))
            }
        }
    }

    fn any_secret(&self, check: impl Fn(&str) -> Result<(), String>) -> Result<(), String> {
        let mut last = Err("no secret to verify with".to_string());
        for secret in &self.secrets {
            last = check(secret.expose());
            if last.is_ok() {
                return last;
            }
        }
        last
    }
}

/// Compares digests, not the values: equal lengths, so the time taken says nothing of the
/// secret's length either.
fn same_secret(given: &[u8], secret: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    bool::from(Sha256::digest(given).ct_eq(&Sha256::digest(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(scheme: VerifyScheme, header: &str, secrets: &[&str]) -> Verifier {
        Verifier {
            scheme,
            header: header.into(),
            secrets: secrets.iter().map(|s| Secret::new(*s)).collect(),
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    fn headers<'a>(pairs: &'a [(&'a str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }

    #[test]
    fn each_scheme_accepts_its_proof_and_refuses_others() {
        let body = br#"{"a":1}"#;
        let hex = sign::hmac_hex(b"k2", body);
        let hmac = verifier(VerifyScheme::HmacSha256Hex, "x-signature", &["k1", "k2"]);
        assert_eq!(hmac.check(&headers(&[("X-Signature", hex.clone())]), body, 0), Ok(()), "the second key");
        assert_eq!(hmac.check(&headers(&[("x-signature", hex.to_uppercase())]), body, 0), Ok(()));
        assert!(hmac.check(&headers(&[("x-signature", hex.clone())]), b"{}", 0).is_err());
        assert!(hmac.check(&headers(&[]), body, 0).is_err());

        let prefixed = verifier(VerifyScheme::HmacSha256Prefixed, "X-ConnectVets-Signature", &["k2"]);
        let proof = format!("sha256={hex}");
        assert_eq!(prefixed.check(&headers(&[("x-connectvets-signature", proof)]), body, 0), Ok(()));
        assert!(prefixed.check(&headers(&[("x-connectvets-signature", hex)]), body, 0).is_err());

        let static_secret = verifier(VerifyScheme::Header, "X-Loyalty-Secret", &["s3cret"]);
        assert_eq!(static_secret.check(&headers(&[("x-loyalty-secret", "s3cret".into())]), body, 0), Ok(()));
        assert!(static_secret.check(&headers(&[("x-loyalty-secret", "s3cre".into())]), body, 0).is_err());
    }

    #[test]
    fn standard_webhooks_refuses_a_timestamp_outside_the_tolerance() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let v = verifier(VerifyScheme::StandardWebhooks, "", &[secret]);
        let body = b"{}";
        let signed = |ts: i64| {
            let key = sign::standard_key(secret).unwrap();
            vec![
                ("webhook-id", "msg_1".to_string()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", sign::standard_signature(&key, "msg_1", ts, body)),
            ]
        };
        let now = 1_700_000_000;
        assert_eq!(v.check(&headers(&signed(now - 60)), body, now), Ok(()));
        let late = v.check(&headers(&signed(now - 600)), body, now).unwrap_err();
        assert!(late.contains("tolerance"), "{late}");
    }
}
