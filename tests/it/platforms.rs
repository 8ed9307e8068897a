//! The seed platforms' templates, end to end: the real binary, the repository's own
//! subscriptions and templates, a real receiver.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::helpers::*;

/// The body TheMembers' webhook documentation prints for class.completed, compact.
const THEMEMBERS_SEED_BODY: &str = r#"{"type":"class_history","event":"class.completed","created":"2025-01-13T14:30:00.000000Z","data":{"datetime":"2025-01-13T14:25:00.000000Z","platform_id":1,"platform_name":"Minha Plataforma","student":{"id":12345,"reference_id":"EXT-001","name":"João da Silva","email":"joao@exemplo.com","phone":"+5511999999999","document":"12345678900","gender":"male"},"course":{"id":100,"name":"Curso de Programação","module":{"id":10,"name":"Módulo 1 - Fundamentos","class":{"id":1,"name":"Introdução ao PHP"}}}}}"#;

#[tokio::test]
async fn themembers_receives_the_seed_body_byte_for_byte_signed_as_its_php_check_computes() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    let repo = env!("CARGO_MANIFEST_DIR");
    let repo = std::path::Path::new(repo);
    let url = format!("{}/themembers", receiver.url());
    let server = ServeProcess::start(
        free_port(),
        &format!("sqlite://{}", ws.db().display()),
        &repo.join("subscriptions"),
        &repo.join("templates"),
        &[],
        &[("THEMEMBERS_URL", &url)],
    );
    server.ready().await;
    let (http, base) = (reqwest::Client::new(), &server.base);
    let event = std::fs::read_to_string(repo.join("examples/themembers/class.completed.json")).unwrap();
    let resp = http.post(format!("{base}/v1/events")).body(event).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 202);

    let got = receiver.wait_for(1, Duration::from_secs(15)).await;
    let r = &got[0];
    assert_eq!(r.path, "/themembers");
    assert_eq!(std::str::from_utf8(&r.body).unwrap(), THEMEMBERS_SEED_BODY);
    // PHP: hash_equals(hash_hmac('sha256', $body, 'mySecretKey123'), $_SERVER['HTTP_X_WEBHOOK_SIGNATURE'])
    let mut mac = Hmac::<Sha256>::new_from_slice(b"mySecretKey123").unwrap();
    mac.update(&r.body);
    assert_eq!(r.header("x-webhook-signature"), Some(hex::encode(mac.finalize().into_bytes())));
    assert_eq!(r.header("x-webhook-event").as_deref(), Some("class.completed"));
}
