//! Each signature scheme, checked at a real receiver the way the seeds' receivers check it
//! (computed here independently from hookshape's `sign` module).

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::helpers::*;

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

async fn deliver_one(signature_yaml: &str) -> Received {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription(
        "s.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: {}/hook\n  body: {{ name: \"{{{{ Name }}}}\" }}\n{signature_yaml}",
            receiver.url()
        ),
    );
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": { "Name": "João / Açaí" } })).await.0, 202);
    receiver.wait_for(1, Duration::from_secs(10)).await.remove(0)
}

/// TheMembers: `hash_hmac('sha256', $body, $clientToken)` compared with X-Webhook-Signature.
#[tokio::test]
async fn hmac_sha256_hex_verifies_like_the_themembers_php_check() {
    let r = deliver_one("signature:\n  scheme: hmac-sha256-hex\n  secret: mySecretKey123\n").await;
    let expected = hex::encode(hmac_sha256(b"mySecretKey123", &[&r.body]));
    assert_eq!(r.header("x-webhook-signature"), Some(expected));
}

/// ConnectVets: `X-ConnectVets-Signature: sha256=<hex>`, compared in constant time.
#[tokio::test]
async fn hmac_sha256_prefixed_verifies_like_the_connectvets_check() {
    let r = deliver_one(
        "signature:\n  scheme: hmac-sha256-prefixed\n  header: X-ConnectVets-Signature\n  secret: vets-secret\n",
    )
    .await;
    let expected = format!("sha256={}", hex::encode(hmac_sha256(b"vets-secret", &[&r.body])));
    assert_eq!(r.header("x-connectvets-signature"), Some(expected));
}

/// Standard Webhooks: base64 HMAC of `id.timestamp.body` under the decoded whsec_ key.
#[tokio::test]
async fn standard_webhooks_verifies_per_the_spec_with_every_rotated_secret() {
    let r = deliver_one(
        "signature:\n  scheme: standard-webhooks\n  secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, whsec_bmV3LWtleQ==]\n",
    )
    .await;
    let id = r.header("webhook-id").unwrap();
    assert_eq!(Some(id.clone()), r.header("x-webhook-id"));
    let ts = r.header("webhook-timestamp").unwrap();
    let age = chrono::Utc::now().timestamp() - ts.parse::<i64>().unwrap();
    assert!((0..60).contains(&age), "timestamp is current");
    let b64 = base64::engine::general_purpose::STANDARD;
    let sigs = r.header("webhook-signature").unwrap();
    for key in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "bmV3LWtleQ=="] {
        let mac = hmac_sha256(&b64.decode(key).unwrap(), &[id.as_bytes(), b".", ts.as_bytes(), b".", &r.body]);
        let expected = format!("v1,{}", b64.encode(mac));
        assert!(sigs.split(' ').any(|s| s == expected), "{sigs} lacks {expected}");
    }
}
