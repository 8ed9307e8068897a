//! The OpenAPI document describes the server it comes from: every operation it names is
//! routed (schemathesis, run by `.ci/run`, checks the answers against it in depth).

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn every_documented_operation_is_served_and_the_document_needs_no_token() {
    let ws = Workspace::new();
    ws.subscription("s.yaml", "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/x\n");
    let app = TestApp::spawn(with_tokens(ws.config(), "in", "ad")).await;
    let doc: Value = app.http.get(format!("{}/v1/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 14, "{paths:?}");
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let concrete = path.replace("{uuid}", &new_uuid()).replace("{id}", "dlv_none").replace("{name}", "s");
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut req = app.http.request(method.clone(), format!("{}{concrete}", app.base));
            if op["security"] != serde_json::json!([]) {
                let token = if path.starts_with("/v1/events") && !path.ends_with("/replay") { "in" } else { "ad" };
                req = req.bearer_auth(token).header("Content-Type", "application/json").body("{}");
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let documented = op["responses"].as_object().unwrap();
            assert!(documented.contains_key(&status.to_string()), "{method} {path} answered {status}, not documented");
            let body = resp.text().await.unwrap();
            assert!(!body.contains("no such endpoint"), "{method} {path} is not routed");
        }
    }
}
