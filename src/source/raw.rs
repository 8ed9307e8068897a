//! A source file exactly as written: serde types that reject unknown keys, so a typo is a
//! load error with its line, and whose JSON Schema `hookshape schema --sources` prints.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A hookshape inbound source: one YAML file in the sources directory.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "hookshape source")]
pub struct RawSource {
    /// `POST /v1/sources/{name}`; defaults to the file stem.
    pub name: Option<String>,
    pub description: Option<String>,
    /// How a request proves it comes from the platform.
    pub verify: RawVerify,
    /// Templates over the inbound JSON body (its top-level keys, `body` and `headers`)
    /// that make the canonical event.
    pub event: RawMapping,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyScheme {
    /// The header holds the lowercase hex HMAC-SHA256 of the raw body (TheMembers, Eduzz).
    HmacSha256Hex,
    /// The header holds `sha256=<hex HMAC-SHA256>` (ConnectVets).
    HmacSha256Prefixed,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature` per Standard Webhooks.
    StandardWebhooks,
    /// The header's value must equal one of the secrets (X-Loyalty-Secret).
    Header,
    /// A secret in the URL, for platforms that sign nothing and can add no header (Toolzz):
    /// `POST /v1/sources/{name}/{token}` or `POST /v1/sources/{name}?token=…`.
    Token,
    /// HTTP Basic credentials; each secret is `user:password`.
    Basic,
    /// No proof: allowed only while hookshape listens on loopback.
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawVerify {
    pub scheme: VerifyScheme,
    /// The header carrying the proof (default X-Webhook-Signature; not for standard-webhooks,
    /// token or basic).
    pub header: Option<String>,
    /// Any one of them verifies: rotation, or one key per sender (Eduzz).
    #[serde(default)]
    pub secrets: Vec<String>,
    /// standard-webhooks: how far `webhook-timestamp` may be from now (default 5m).
    pub tolerance: Option<String>,
}

/// The canonical event's fields, each a template (one `{{ expr }}` keeps its JSON type).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    #[serde(rename = "Topic")]
    pub topic: String,
    /// Optional: the platform's id; the event's Uuid is the UUIDv5 of the source's name and
    /// that id (a UUID too, so no source can collide with another's or intake's events; a
    /// number by its value); without it, the UUIDv5 of the source's name and the body's SHA-256.
    #[serde(rename = "Uuid")]
    pub uuid: Option<String>,
    /// Optional ISO 8601; the time of receipt when absent.
    #[serde(rename = "Date")]
    pub date: Option<String>,
    /// A JSON object (usually `"{{ data }}"`).
    #[serde(rename = "Payload")]
    pub payload: Value,
}
