//! Signature schemes over the exact body bytes: pure functions, and a constant-time
//! verifier (used by `hookshape listen` and by tests, as a receiver would use it).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secret::Secret;

// The schemes as a subscription or source file names them (a `//` comment: a doc
// comment would change the published JSON Schemas).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    HmacSha256Hex,
    HmacSha256Prefixed,
    StandardWebhooks,
}

/// A subscription's signing setup, validated at load.
#[derive(Debug, Clone)]
pub struct Signer {
    pub scheme: Scheme,
    /// The header the hmac schemes write; standard-webhooks uses its own three.
    pub header: String,
    pub secrets: Vec<Secret>,
}

pub const DEFAULT_HEADER: &str = "X-Webhook-Signature";

impl Signer {
    pub fn new(scheme: Scheme, header: Option<String>, secrets: Vec<Secret>) -> Result<Self, String> {
        if secrets.is_empty() {
            return Err("signature needs a secret".into());
        }
        if secrets.iter().any(|s| s.expose().is_empty()) {
            return Err("signature secret is empty".into());
        }
        match scheme {
            Scheme::StandardWebhooks => {
                if header.is_some() {
                    return Err("standard-webhooks sets webhook-id, webhook-timestamp and webhook-signature itself; remove header".into());
                }
                for s in &secrets {
                    standard_key(s.expose())?;
                }
            }
            _ if secrets.len() > 1 => {
                return Err(format!("{scheme:?} signs with one secret; only standard-webhooks takes several"))
            }
            _ => {}
        }
        let header = header.unwrap_or_else(|| DEFAULT_HEADER.to_string());
        reqwest::header::HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| format!("{header:?} is not a valid header name"))?;
        Ok(Self { scheme, header, secrets })
    }

    /// The headers that sign `body` for delivery `id` at Unix time `timestamp`.
    pub fn headers(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
        match self.scheme {
            Scheme::HmacSha256Hex => vec![(self.header.clone(), hmac_hex(self.secret_bytes(), body))],
            Scheme::HmacSha256Prefixed => {
                vec![(self.header.clone(), format!("sha256={}", hmac_hex(self.secret_bytes(), body)))]
            }
            Scheme::StandardWebhooks => {
                let signatures: Vec<String> = self
                    .secrets
                    .iter()
                    .filter_map(|s| standard_key(s.expose()).ok())
                    .map(|key| standard_signature(&key, id, timestamp, body))
                    .collect();
                vec![
                    ("webhook-id".into(), id.to_string()),
                    ("webhook-timestamp".into(), timestamp.to_string()),
                    ("webhook-signature".into(), signatures.join(" ")),
                ]
            }
        }
    }

    /// The names of the headers `headers` writes, without signing anything (history shows
    /// them masked: their values are computed anew at each attempt).
    pub fn header_names(&self) -> Vec<&str> {
        match self.scheme {
            Scheme::StandardWebhooks => vec!["webhook-id", "webhook-timestamp", "webhook-signature"],
            _ => vec![&self.header],
        }
    }

    /// The header that carries the signature itself.
    pub fn signature_header(&self) -> &str {
        match self.scheme {
            Scheme::StandardWebhooks => "webhook-signature",
            _ => &self.header,
        }
    }

    fn secret_bytes(&self) -> &[u8] {
        self.secrets.first().map(|s| s.expose().as_bytes()).unwrap_or_default()
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

pub fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let mut m = mac(key);
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// A Standard Webhooks secret is `whsec_` followed by base64 of the key bytes, padded or
/// not (the official libraries take both).
pub fn standard_key(secret: &str) -> Result<Vec<u8>, String> {
    use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig};
    const EITHER_PADDING: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    EITHER_PADDING.decode(encoded).map_err(|_| "a standard-webhooks secret must be whsec_ followed by base64".into())
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
pub fn standard_signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut m = mac(key);
    m.update(format!("{id}.{timestamp}.").as_bytes());
    m.update(body);
    format!("v1,{}", B64.encode(m.finalize().into_bytes()))
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Verifies a received request the way each scheme's receivers do. `header` looks a
/// header up by (case-insensitive) name.
/// The header that carries a request's signature under `scheme` (`header_name` for the
/// hmac schemes, when the subscription names one): a request without it is unsigned.
pub fn signature_header(scheme: Scheme, header_name: Option<&str>) -> &str {
    match scheme {
        Scheme::HmacSha256Hex | Scheme::HmacSha256Prefixed => header_name.unwrap_or(DEFAULT_HEADER),
        Scheme::StandardWebhooks => "webhook-signature",
    }
}

pub fn verify(
    scheme: Scheme,
    secret: &str,
    header_name: Option<&str>,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<(), String> {
    let name = header_name.unwrap_or(DEFAULT_HEADER);
    match scheme {
        Scheme::HmacSha256Hex | Scheme::HmacSha256Prefixed => {
            let got = header(name).ok_or_else(|| format!("no {name} header"))?;
            let mut want = hmac_hex(secret.as_bytes(), body);
            if scheme == Scheme::HmacSha256Prefixed {
                want = format!("sha256={want}");
            }
            if ct_eq(&got, &want) {
                Ok(())
            } else {
                Err(format!("{name} does not match"))
            }
        }
        Scheme::StandardWebhooks => {
            let id = header("webhook-id").ok_or("no webhook-id header")?;
            let ts = header("webhook-timestamp").ok_or("no webhook-timestamp header")?;
            let ts: i64 = ts.parse().map_err(|_| "webhook-timestamp is not a number")?;
            let got = header("webhook-signature").ok_or("no webhook-signature header")?;
            let want = standard_signature(&standard_key(secret)?, &id, ts, body);
            if got.split(' ').any(|sig| ct_eq(sig, &want)) {
                Ok(())
            } else {
                Err("webhook-signature does not match".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks specification.
    #[test]
    fn standard_webhooks_matches_the_published_vector() {
        let key = standard_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = standard_signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn hmac_hex_matches_rfc4231_case_2() {
        assert_eq!(
            hmac_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signer_and_verify_agree_and_reject_tampering() {
        for (scheme, secret) in [
            (Scheme::HmacSha256Hex, "mySecretKey123"),
            (Scheme::HmacSha256Prefixed, "vet-secret"),
            (Scheme::StandardWebhooks, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ] {
            let signer = Signer::new(scheme, None, vec![Secret::new(secret)]).unwrap();
            let headers = signer.headers("dlv_1", 1_700_000_000, b"{\"a\":1}");
            let lookup = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
            assert_eq!(verify(scheme, secret, None, &lookup, b"{\"a\":1}"), Ok(()), "{scheme:?}");
            assert!(verify(scheme, secret, None, &lookup, b"{\"a\":2}").is_err(), "{scheme:?}");
        }
    }

    #[test]
    fn rotation_signs_with_every_secret() {
        let a = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let b = "whsec_dGhlLW5ldy1rZXk=";
        let signer = Signer::new(Scheme::StandardWebhooks, None, vec![Secret::new(a), Secret::new(b)]).unwrap();
        let headers = signer.headers("id", 1, b"{}");
        let lookup = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(verify(Scheme::StandardWebhooks, b, None, &lookup, b"{}"), Ok(()));
        assert_eq!(verify(Scheme::StandardWebhooks, a, None, &lookup, b"{}"), Ok(()));
    }

    #[test]
    fn bad_signer_setups_are_refused() {
        assert!(Signer::new(Scheme::HmacSha256Hex, None, vec![]).is_err());
        assert!(Signer::new(Scheme::HmacSha256Hex, None, vec![Secret::new("a"), Secret::new("b")]).is_err());
        assert!(Signer::new(Scheme::StandardWebhooks, None, vec![Secret::new("whsec_!!")]).is_err());
        assert!(Signer::new(Scheme::StandardWebhooks, Some("X".into()), vec![Secret::new("whsec_YQ==")]).is_err());
        assert_eq!(standard_key("whsec_YQ").unwrap(), b"a", "unpadded, as the official libraries accept");
        assert_eq!(standard_key("whsec_YQ==").unwrap(), b"a");
    }
}
