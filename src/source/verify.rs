//! Checking an inbound request's proof over the exact bytes received, before anything is
//! parsed or stored: every comparison in constant time, any one of the secrets accepted.

use std::time::Duration;

use base64::Engine as _;
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
    /// The header the proof comes in; None when it comes in the URL (`token`) or not at all.
    pub fn proof_header(&self) -> Option<&str> {
        match self.scheme {
            VerifyScheme::Token | VerifyScheme::None => None,
            VerifyScheme::Basic => Some("Authorization"),
            VerifyScheme::StandardWebhooks => Some("webhook-signature"),
            VerifyScheme::HmacSha256Hex | VerifyScheme::HmacSha256Prefixed | VerifyScheme::Header => Some(&self.header),
        }
    }

    /// The header whose value is the secret itself, not a signature made with it (`header`
    /// and `basic`): a mapping that reads `headers` sees it as `***`.
    pub fn secret_header(&self) -> Option<&str> {
        match self.scheme {
            VerifyScheme::Basic | VerifyScheme::Header => self.proof_header(),
            _ => None,
        }
    }

    /// Ok, or why the request is refused (said to the sender, so it names no secret).
    /// `token` is the one the URL carried, percent-decoded (scheme token).
    pub fn check(&self, given: &Given<'_>, body: &[u8], now_secs: i64) -> Result<(), String> {
        let header = given.header;
        match self.scheme {
            VerifyScheme::None => Ok(()),
            VerifyScheme::Token => {
                let token = given.token.ok_or("no token in the URL (POST /v1/sources/NAME/TOKEN or ?token=TOKEN)")?;
                self.one_of_the_secrets(token.as_bytes()).then_some(()).ok_or_else(|| "the token does not match".into())
            }
            VerifyScheme::Basic => {
                let pair = basic_credentials(header("authorization"))?;
                self.one_of_the_secrets(&pair).then_some(()).ok_or_else(|| "the Basic credentials do not match".into())
            }
            VerifyScheme::Header => {
                let given = header(&self.header).ok_or_else(|| format!("no {} header", self.header))?;
                if self.one_of_the_secrets(given.as_bytes()) {
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
                let off = now_secs - ts;
                if off.unsigned_abs() > self.tolerance.as_secs() {
                    let when = match off > 0 {
                        true => format!("{off} s ago"),
                        false => format!("{} s ahead of this server's clock", -off),
                    };
                    return Err(format!(
                        "webhook-timestamp is {when}, past the tolerance of {} s (a replay, or a clock that is off?)",
                        self.tolerance.as_secs()
                    ));
                }
                self.any_secret(|s| sign::verify(Scheme::StandardWebhooks, s, None, header, body))
            }
        }
    }

    /// Whether `given` is one of the secrets, each compared in constant time (all of them,
    /// so the time taken says nothing of which matched).
    fn one_of_the_secrets(&self, given: &[u8]) -> bool {
        self.secrets.iter().fold(false, |found, s| same_secret(given, s.expose().as_bytes()) | found)
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

/// What a request offers as proof besides its body.
pub struct Given<'a> {
    /// Its headers, by name (any case).
    pub header: &'a dyn Fn(&str) -> Option<String>,
    /// The token its URL carried (`/v1/sources/{name}/{token}` or `?token=`), decoded.
    pub token: Option<&'a str>,
}

/// `Authorization: Basic <base64 of user:password>` → the decoded `user:password`.
fn basic_credentials(authorization: Option<String>) -> Result<Vec<u8>, String> {
    let value = authorization.ok_or("no Authorization header (HTTP Basic)")?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or("the Authorization header is not HTTP Basic")?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err("the Authorization header is not HTTP Basic".into());
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| "the Basic credentials are not base64".to_string())
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

    /// `Verifier::check` with these headers and no token.
    trait Check {
        fn check_headers(&self, header: &dyn Fn(&str) -> Option<String>, body: &[u8], now: i64) -> Result<(), String>;
    }

    impl Check for Verifier {
        fn check_headers(&self, header: &dyn Fn(&str) -> Option<String>, body: &[u8], now: i64) -> Result<(), String> {
            self.check(&Given { header, token: None }, body, now)
        }
    }

    #[test]
    fn a_token_or_basic_credentials_must_match_one_of_the_secrets() {
        let no_headers = headers(&[]);
        let token = verifier(VerifyScheme::Token, "", &["t0ken-one", "t0ken-two"]);
        let with = |t: Option<&'static str>| Given { header: &no_headers, token: t };
        assert_eq!(token.check(&with(Some("t0ken-two")), b"{}", 0), Ok(()), "the second secret");
        assert_eq!(token.check(&with(Some("t0ken-on")), b"{}", 0).unwrap_err(), "the token does not match");
        assert!(token.check(&with(None), b"{}", 0).unwrap_err().contains("no token in the URL"));

        let basic = verifier(VerifyScheme::Basic, "", &["toolzz:pa55:word"]);
        let auth = |v: &str| vec![("Authorization", v.to_string())];
        let encoded = base64::engine::general_purpose::STANDARD.encode("toolzz:pa55:word");
        assert_eq!(basic.check_headers(&headers(&auth(&format!("Basic {encoded}"))), b"{}", 0), Ok(()));
        assert_eq!(basic.check_headers(&headers(&auth(&format!("basic  {encoded}"))), b"{}", 0), Ok(()));
        let wrong = base64::engine::general_purpose::STANDARD.encode("toolzz:pa55");
        for (value, why) in [
            (format!("Basic {wrong}"), "do not match"),
            (format!("Bearer {encoded}"), "not HTTP Basic"),
            ("Basic ***".to_string(), "not base64"),
        ] {
            let refused = basic.check_headers(&headers(&auth(&value)), b"{}", 0).unwrap_err();
            assert!(refused.contains(why) && !refused.contains("pa55"), "{value}: {refused}");
        }
        assert!(basic.check_headers(&headers(&[]), b"{}", 0).unwrap_err().contains("no Authorization"));
    }

    #[test]
    fn each_scheme_accepts_its_proof_and_refuses_others() {
        let body = br#"{"a":1}"#;
        let hex = sign::hmac_hex(b"k2", body);
        let hmac = verifier(VerifyScheme::HmacSha256Hex, "x-signature", &["k1", "k2"]);
        assert_eq!(hmac.check_headers(&headers(&[("X-Signature", hex.clone())]), body, 0), Ok(()), "the second key");
        assert_eq!(hmac.check_headers(&headers(&[("x-signature", hex.to_uppercase())]), body, 0), Ok(()));
        assert!(hmac.check_headers(&headers(&[("x-signature", hex.clone())]), b"{}", 0).is_err());
        assert!(hmac.check_headers(&headers(&[]), body, 0).is_err());

        let prefixed = verifier(VerifyScheme::HmacSha256Prefixed, "X-ConnectVets-Signature", &["k2"]);
        let proof = format!("sha256={hex}");
        assert_eq!(prefixed.check_headers(&headers(&[("x-connectvets-signature", proof)]), body, 0), Ok(()));
        assert!(prefixed.check_headers(&headers(&[("x-connectvets-signature", hex)]), body, 0).is_err());

        let static_secret = verifier(VerifyScheme::Header, "X-Loyalty-Secret", &["s3cret"]);
        assert_eq!(static_secret.check_headers(&headers(&[("x-loyalty-secret", "s3cret".into())]), body, 0), Ok(()));
        assert!(static_secret.check_headers(&headers(&[("x-loyalty-secret", "s3cre".into())]), body, 0).is_err());
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
        assert_eq!(v.check_headers(&headers(&signed(now - 60)), body, now), Ok(()));
        let late = v.check_headers(&headers(&signed(now - 600)), body, now).unwrap_err();
        assert!(late.starts_with("webhook-timestamp is 600 s ago, past the tolerance of 300 s"), "{late}");
        let early = v.check_headers(&headers(&signed(now + 400)), body, now).unwrap_err();
        assert!(early.starts_with("webhook-timestamp is 400 s ahead of this server's clock"), "{early}");
    }

    #[test]
    fn the_proof_header_is_the_one_each_scheme_reads() {
        assert_eq!(verifier(VerifyScheme::Token, "X-Webhook-Signature", &["t0ken"]).proof_header(), None);
        assert_eq!(
            verifier(VerifyScheme::Basic, "X-Webhook-Signature", &["u:p"]).proof_header(),
            Some("Authorization")
        );
        let header = verifier(VerifyScheme::Header, "X-Loyalty-Secret", &["s3cret-value"]);
        assert_eq!(header.proof_header(), Some("X-Loyalty-Secret"));
        let standard = verifier(
            VerifyScheme::StandardWebhooks,
            "X-Webhook-Signature",
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        );
        assert_eq!(standard.proof_header(), Some("webhook-signature"));
    }
}
