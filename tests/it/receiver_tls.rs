//! `tls:` on subscriptions: a receiver on loopback that requires a client certificate from
//! its own CA (CA, server and client certificates made by rcgen in each run, served with
//! tokio-rustls), and the load errors for files that are missing or do not match.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use serde_json::json;
use tokio_rustls::rustls;

use crate::helpers::*;

/// A CA and the PEM files of a server and a client certificate it signed, written to `dir`.
struct Pki {
    ca_pem: String,
    server: (rustls::pki_types::CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>),
}

fn make_pki(dir: &Path) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "hookshape test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let mut server_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    server_params.subject_alt_names.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server_params.signed_by(&server_key, &*ca).unwrap();

    let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params.distinguished_name.push(DnType::CommonName, "hookshape client");
    let client_key = KeyPair::generate().unwrap();
    let client_cert = client_params.signed_by(&client_key, &*ca).unwrap();
    // A key of another pair: the mismatch case.
    let stranger = KeyPair::generate().unwrap();

    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("client.pem"), client_cert.pem()).unwrap();
    std::fs::write(dir.join("client.key"), client_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("stranger.key"), stranger.serialize_pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
    Pki { ca_pem: ca.pem(), server: (server_cert.der().clone(), key) }
}

/// An HTTPS receiver that completes the handshake only with a client certificate signed by
/// the CA, answers 200 to every request, and counts them.
async fn mtls_receiver(pki: &Pki) -> (String, Arc<AtomicUsize>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![pki.server.0.clone()], pki.server.1.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, counted) = (acceptor.clone(), counted.clone());
            tokio::spawn(async move {
                // A handshake without the certificate fails here: nothing is served.
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service = hyper::service::service_fn(move |_req| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    async { Ok::<_, std::convert::Infallible>(hyper::Response::new("mtls ok".to_string())) }
                });
                let io = hyper_util::rt::TokioIo::new(tls);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    (url, count)
}

use rustls::pki_types::pem::PemObject;

#[tokio::test]
async fn a_client_certificate_is_presented_to_a_receiver_that_requires_one() {
    let ws = Workspace::new();
    let pki = make_pki(ws.path());
    let (url, count) = mtls_receiver(&pki).await;
    let dir = ws.path().display();
    let sub = |path: &str, tls: &str| {
        format!("topics: [T]\nrequest:\n  url: {url}/{path}\n  timeout: 5s\nretry:\n  schedule: []\ntls:\n{tls}")
    };
    ws.subscription(
        "with-cert.yaml",
        &sub("with", &format!("  client_cert: {dir}/client.pem\n  client_key: {dir}/client.key\n  ca: {dir}/ca.pem\n")),
    );
    // Relative paths are read from the subscription file's directory.
    ws.subscription(
        "relative.yaml",
        &sub("relative", "  client_cert: ../client.pem\n  client_key: ../client.key\n  ca: ../ca.pem\n"),
    );
    ws.subscription("no-cert.yaml", &sub("none", &format!("  ca: {dir}/ca.pem\n")));
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
    let succeeded = app.wait_for_status("succeeded", 2).await;
    let mut names: Vec<&str> = succeeded.iter().map(|d| d["subscription"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["relative", "with-cert"]);
    let failed = app.wait_for_status("failed", 1).await;
    assert_eq!(failed[0]["subscription"], "no-cert");
    let (_, detail) = app.get(&format!("/v1/deliveries/{}", failed[0]["id"].as_str().unwrap())).await;
    let error = detail["attempts"][0]["error"].as_str().unwrap_or_default();
    // The server's CA was trusted (the private CA works), the handshake then refused.
    assert!(!error.contains("UnknownIssuer"), "{error}");
    assert!(error.contains("connection failed") || error.contains("request failed"), "{detail}");
    assert_eq!(count.load(Ordering::SeqCst), 2, "only the two with the certificate were served");
}

#[tokio::test]
async fn without_the_private_ca_the_receivers_certificate_is_not_trusted() {
    let ws = Workspace::new();
    let pki = make_pki(ws.path());
    let (url, count) = mtls_receiver(&pki).await;
    let dir = ws.path().display();
    ws.subscription(
        "s.yaml",
        &format!("topics: [T]\nrequest:\n  url: {url}/x\nretry:\n  schedule: []\ntls:\n  client_cert: {dir}/client.pem\n  client_key: {dir}/client.key\n"),
    );
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": {} })).await.0, 202);
    let failed = app.wait_for_status("failed", 1).await;
    let (_, detail) = app.get(&format!("/v1/deliveries/{}", failed[0]["id"].as_str().unwrap())).await;
    assert!(detail["attempts"][0]["error"].as_str().unwrap().contains("UnknownIssuer"), "{detail}");
    assert_eq!(count.load(Ordering::SeqCst), 0);
}

#[test]
fn missing_unreadable_and_mismatched_files_are_load_errors_naming_them() {
    let ws = Workspace::new();
    make_pki(ws.path());
    let dir = ws.path().display();
    std::fs::write(ws.path().join("garbage.pem"), "not a certificate").unwrap();
    let sub = |tls: String| format!("topics: [T]\nrequest:\n  url: https://127.0.0.1:9/x\ntls:\n{tls}");
    ws.subscription("missing.yaml", &sub(format!("  client_cert: {dir}/nope.pem\n  client_key: {dir}/client.key\n")));
    ws.subscription(
        "mismatch.yaml",
        &sub(format!("  client_cert: {dir}/client.pem\n  client_key: {dir}/stranger.key\n")),
    );
    ws.subscription("garbage.yaml", &sub(format!("  ca: {dir}/garbage.pem\n")));
    ws.subscription("half.yaml", &sub(format!("  client_cert: {dir}/client.pem\n")));
    // Neither a FIFO (which would hold the load until written to) nor a file no PEM is as
    // large as is read.
    assert!(std::process::Command::new("mkfifo").arg(ws.path().join("fifo.pem")).status().unwrap().success());
    std::fs::write(ws.path().join("huge.pem"), vec![b'A'; 2 * 1024 * 1024]).unwrap();
    ws.subscription("fifo.yaml", &sub(format!("  ca: {dir}/fifo.pem\n")));
    ws.subscription("huge.yaml", &sub(format!("  ca: {dir}/huge.pem\n")));
    let out = on_workspace("validate", &ws);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let expect = [
        ("garbage.yaml:5: tls.ca:", "garbage.pem holds no PEM certificate"),
        ("half.yaml:4: tls:", "client_cert and client_key go together"),
        ("fifo.yaml:5: tls.ca:", "it is not a regular file"),
        ("huge.yaml:5: tls.ca:", "larger than 1024 KiB"),
        ("missing.yaml:5: tls.client_cert:", "cannot read"),
        ("mismatch.yaml:6: tls.client_key:", "stranger.key does not match the certificate in"),
    ];
    for (location, words) in expect {
        assert!(stdout.lines().any(|l| l.contains(location) && l.contains(words)), "{location} {words}:\n{stdout}");
    }
    assert!(stdout.contains("nope.pem"), "{stdout}");
}
