//! The server's edges against hostile clients, through the real binary: sockets that idle
//! or trickle are closed within the timeouts while others are served, the connection cap
//! makes room by closing idle connections and slow heads, slow bodies and unparseable
//! requests get JSON, and `Expect: 100-continue` gets the API's own answer.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// True once the server has closed `socket` (EOF or reset), within `within`.
async fn closed_within(socket: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // an answer (e.g. an error) before the close
        }
    }
}

/// A raw HTTP/1.1 exchange on a fresh connection: the status and the body.
async fn raw_exchange(base: &str, request: &[u8]) -> (u16, String) {
    let mut socket = TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn serve(ws: &Workspace, args: &[&str]) -> ServeProcess {
    ServeProcess::in_workspace(ws, free_port(), args, &[])
}

#[tokio::test]
async fn idle_and_trickling_sockets_are_closed_within_the_timeouts_while_others_are_served() {
    let ws = Workspace::new();
    let server = serve(&ws, &["--header-read-timeout", "1s", "--idle-timeout", "2s"]);
    server.ready().await;
    let addr = server.base.trim_start_matches("http://").to_string();

    let mut silent = Vec::new();
    let mut trickling = Vec::new();
    for i in 0..200 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        if i % 2 == 0 {
            silent.push(s);
        } else {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
            trickling.push(s);
        }
    }
    // Keep trickling a header byte every 100 ms: each one is progress, none finishes the head.
    let trickler = tokio::spawn(async move {
        for _ in 0..40 {
            for s in trickling.iter_mut() {
                let _ = s.write_all(b"X").await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        trickling
    });
    // Meanwhile a well-behaved client is served promptly.
    let http = reqwest::Client::new();
    for _ in 0..20 {
        let started = Instant::now();
        let resp = http.get(format!("{}/healthz", server.base)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(started.elapsed() < Duration::from_secs(2), "a normal request took {:?}", started.elapsed());
    }
    for s in silent.iter_mut() {
        assert!(closed_within(s, Duration::from_secs(5)).await, "a silent socket outlived the header timeout");
    }
    let mut trickling = trickler.await.unwrap();
    for s in trickling.iter_mut() {
        assert!(closed_within(s, Duration::from_secs(2)).await, "a trickling socket outlived the header timeout");
    }
    // An idle keep-alive connection is closed after the idle timeout, not before the header one.
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    assert!(kept.read(&mut buf).await.unwrap() > 0, "answered");
    assert!(!closed_within(&mut kept, Duration::from_millis(1300)).await, "kept alive past the header timeout");
    assert!(closed_within(&mut kept, Duration::from_secs(4)).await, "closed after the idle timeout");
}

#[tokio::test]
async fn at_the_connection_cap_idle_connections_make_room_for_new_clients() {
    let ws = Workspace::new();
    let server = serve(&ws, &["--max-connections", "20"]);
    server.ready().await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut hogs = Vec::new();
    for _ in 0..20 {
        hogs.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let resp = reqwest::Client::new().get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // Without the cap's pressure rule the hogs would hold every slot for the 10 s header timeout.
    assert!(started.elapsed() < Duration::from_secs(6), "the newcomer waited {:?}", started.elapsed());
    let mut closed = 0;
    for s in hogs.iter_mut() {
        if closed_within(s, Duration::from_millis(100)).await {
            closed += 1;
        }
    }
    assert!(closed >= 1, "no idle connection was closed to make room");
}

#[tokio::test]
async fn at_the_connection_cap_heads_sent_a_line_at_a_time_make_room_for_new_clients() {
    let ws = Workspace::new();
    let server = serve(&ws, &["--max-connections", "10"]);
    server.ready().await;
    let addr = server.base.trim_start_matches("http://").to_string();
    // Thirty sockets that each start a head and add a header line every 300 ms, coming back
    // whenever they are closed: every slot always held by a head "in progress".
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut lorises = Vec::new();
    for _ in 0..30 {
        let (addr, stop) = (addr.clone(), stop.clone());
        lorises.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(mut s) = TcpStream::connect(&addr).await else { continue };
                if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.is_err() {
                    continue;
                }
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && s.write_all(b"X-Slow: 1\r\n").await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(8)).build().unwrap();
    let mut served = 0;
    for _ in 0..5 {
        if http.get(format!("{}/healthz", server.base)).send().await.is_ok_and(|r| r.status() == 200) {
            served += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for l in lorises {
        l.abort();
    }
    // With the full 10 s header timeout for a head in progress, none got a slot within 8 s.
    assert_eq!(served, 5, "of 5 well-behaved requests, {served} were served within 8 s each");
}

#[tokio::test]
async fn at_the_connection_cap_bodies_sent_a_byte_at_a_time_make_room_for_new_clients() {
    let ws = Workspace::new();
    let server = serve(&ws, &["--max-connections", "10"]);
    server.ready().await;
    let addr = server.base.trim_start_matches("http://").to_string();
    // Every slot held by a request whose head is in and whose body trickles: each had the
    // whole 30 s body timeout, so a newcomer waited for it.
    let mut hogs = Vec::new();
    for _ in 0..10 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        let head = "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
        s.write_all(head.as_bytes()).await.unwrap();
        hogs.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let event = serde_json::json!({ "Topic": "t.a", "Payload": {} });
    let resp = http.post(format!("{}/v1/events", server.base)).json(&event).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    assert!(started.elapsed() < Duration::from_secs(4), "the newcomer waited {:?}", started.elapsed());
    let mut closed = 0;
    for s in hogs.iter_mut() {
        if closed_within(s, Duration::from_millis(100)).await {
            closed += 1;
        }
    }
    assert!(closed >= 1, "no trickling body was cut to make room");
}

#[tokio::test]
async fn a_request_that_expects_100_continue_gets_the_apis_own_answer() {
    let ws = Workspace::new();
    let server = serve(&ws, &[]);
    server.ready().await;
    for (body, status, field) in [
        (&br#"{"Topic":"t.a","Payload":{"Customer":{"Id":"c1"}}}"#[..], 202, "uuid"),
        (br#"{"Topic":"t.a","Payload":{"Customer":{"Id":"c1"}},}"#, 400, "error"),
    ] {
        let mut socket = TcpStream::connect(server.base.trim_start_matches("http://")).await.unwrap();
        let head = format!(
            "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Expect: 100-continue\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        // The body goes only once the server asked for it, as clients that send the header do.
        let mut interim = [0u8; 25];
        tokio::time::timeout(Duration::from_secs(5), socket.read_exact(&mut interim)).await.unwrap().unwrap();
        assert_eq!(&interim[..], b"HTTP/1.1 100 Continue\r\n\r\n");
        socket.write_all(body).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        let json: serde_json::Value = serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert!(json[field].is_string(), "{json}");
        assert!(!text.contains("not valid HTTP"), "{text}");
        if status == 400 {
            assert!(json["error"].as_str().unwrap().contains("column"), "the JSON error says where: {json}");
        }
    }
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_a_408_and_a_request_hyper_cannot_parse_is_json() {
    let ws = Workspace::new();
    let server = serve(&ws, &["--body-read-timeout", "1s"]);
    server.ready().await;
    let (status, body) = raw_exchange(
        &server.base,
        b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"Topic\"",
    )
    .await;
    assert_eq!(status, 408, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(error["error"].as_str().unwrap().contains("did not arrive within 1s"), "{error}");

    for garbage in [&b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n"[..], b"\x16\x03\x01\x02\x00 not http\r\n\r\n"] {
        let (status, body) = raw_exchange(&server.base, garbage).await;
        assert_eq!(status, 400, "{body}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
        assert!(error["error"].as_str().unwrap().contains("not valid HTTP"), "{error}");
    }
}

/// A client that closes its side after part of the body it announced is told how much came
/// of how much (hyper says only "error reading a body from connection"), and nothing is
/// stored.
#[tokio::test]
async fn a_body_cut_short_by_the_client_is_refused_saying_how_much_came() {
    let ws = Workspace::new();
    let app = TestApp::spawn(ws.config()).await;
    let mut socket = TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    let head =
        "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&[b' '; 97]).await.unwrap();
    socket.shutdown().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("ended after 97 of the 1000 bytes"), "{text}");
    assert_eq!(app.get("/v1/deliveries").await.1["deliveries"], serde_json::json!([]));
}
