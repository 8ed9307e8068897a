//! Clients that misbehave at the edge, against a real server on port 0: producers that hang
//! up mid-insert, a sign-in form trickled or oversized, wrong tokens in a loop, a cookie
//! kept after signing out, and pages that do not exist under the console.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

fn points(ws: &Workspace, receiver: &Receiver) {
    ws.subscription("points.yaml", &POINTS.replace("RECEIVER", &receiver.url()));
}

/// A client that does not follow redirects (the console answers forms with 303s), sending
/// from `local` (any 127.0.0.0/8 address: each is another client address to the server).
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(local.parse::<std::net::IpAddr>().ok())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producers_that_hang_up_mid_insert_do_not_stall_their_subscription() {
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    points(&ws, &receiver);
    let mut config = ws.config();
    config.concurrency = 2;
    let app = TestApp::spawn(config).await;
    assert_eq!(app.post_event(&loyalty_event(&new_uuid(), "C-0")).await.0, 202);
    receiver.wait_for(1, Duration::from_secs(10)).await;

    // Another connection holds SQLite's write lock (less than the store's busy timeout), so
    // the inserts wait; the producers give up on their answer and hang up meanwhile.
    let blocker = rusqlite::Connection::open(ws.db()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let hung: Vec<_> = (1..=6)
        .map(|i| {
            let request = impatient
                .post(format!("{}/v1/events", app.base))
                .header("Content-Type", "application/json")
                .body(loyalty_event(&new_uuid(), &format!("C-{i}")).to_string());
            tokio::spawn(async move { request.send().await.is_err() })
        })
        .collect();
    for h in hung {
        assert!(h.await.unwrap(), "the producer hung up before its answer");
    }
    blocker.execute_batch("ROLLBACK").unwrap();

    for i in 7..=9 {
        assert_eq!(app.post_event(&loyalty_event(&new_uuid(), &format!("C-{i}"))).await.0, 202);
    }
    eventually(Duration::from_secs(20), "the events after the hang-ups delivered", || async {
        let paths: Vec<String> = receiver.requests().into_iter().map(|r| r.path).collect();
        (7..=9).all(|i| paths.contains(&format!("/points/C-{i}"))).then_some(())
    })
    .await;
    // What the producers that hung up had committed is sent too: nothing is left waiting.
    eventually(Duration::from_secs(20), "no delivery left pending or in flight", || async {
        let (_, page) = app.get("/v1/deliveries?status=pending,in_flight&limit=100").await;
        page["deliveries"].as_array().is_some_and(|d| d.is_empty()).then_some(())
    })
    .await;
}

/// The status line's code and everything the server wrote before closing, within `within`
/// (None if it neither answered nor closed by then).
async fn answer_within(socket: &mut TcpStream, within: Duration) -> Option<(u16, String)> {
    let mut answer = Vec::new();
    tokio::time::timeout(within, socket.read_to_end(&mut answer)).await.ok()?.ok()?;
    let text = String::from_utf8_lossy(&answer).to_string();
    Some((text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0), text))
}

#[tokio::test]
async fn a_trickled_sign_in_form_is_cut_off_at_the_body_deadline_and_an_oversized_one_refused_unread() {
    let ws = Workspace::new();
    let mut config = with_tokens(ws.config(), "in-token", "admin-token");
    config.body_read_timeout = Duration::from_secs(1);
    let app = TestApp::spawn(config).await;
    let addr = app.base.trim_start_matches("http://").to_string();

    let mut socket = TcpStream::connect(&addr).await.unwrap();
    let head = "POST /console/signin HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n\r\nt";
    socket.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = socket.into_split();
    // One byte every 200 ms: never done, always just alive.
    let trickle = tokio::spawn(async move {
        while writer.write_all(b"o").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), reader.read_to_end(&mut answer)).await;
    trickle.abort();
    assert!(read.is_ok(), "the trickled form still holds its connection after 15 s (body deadline 1 s)");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("did not arrive within 1s"), "{text}");

    // Over the size limit by Content-Length: refused before a byte of it is read.
    let mut socket = TcpStream::connect(&addr).await.unwrap();
    let head = "POST /console/signin HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n";
    socket.write_all(head.as_bytes()).await.unwrap();
    let (status, text) = answer_within(&mut socket, Duration::from_secs(10)).await.expect("an answer");
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("over the limit of 1048576 bytes"), "{text}");
    assert!(text.to_ascii_lowercase().contains("content-security-policy"), "{text}");

    // A form that arrives whole still signs in.
    let resp = client_from("127.0.0.1")
        .post(format!("{}/console/signin", app.base))
        .form(&[("token", "admin-token"), ("next", "/console/")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert!(resp.headers().get("set-cookie").is_some());
}

/// Signs in as `client` and returns the session cookie (`name=value`).
async fn sign_in(client: &reqwest::Client, base: &str, token: &str) -> reqwest::Response {
    client.post(format!("{base}/console/signin")).form(&[("token", token), ("next", "/console/")]).send().await.unwrap()
}

fn session_cookie(resp: &reqwest::Response) -> String {
    let set = resp.headers().get("set-cookie").expect("a session cookie").to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server_and_after_a_restart() {
    let ws = Workspace::new();
    let app = TestApp::spawn(with_tokens(ws.config(), "in-token", "admin-token")).await;
    let client = client_from("127.0.0.1");
    let cookie = session_cookie(&sign_in(&client, &app.base, "admin-token").await);
    let overview = |cookie: String| {
        let request = client.get(format!("{}/console/", app.base)).header("Cookie", cookie);
        async move { request.send().await.unwrap() }
    };
    let page = overview(cookie.clone()).await;
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap();

    let out = client
        .post(format!("{}/console/signout", app.base))
        .header("Cookie", cookie.clone())
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    assert_eq!(out.headers()["location"], "/console/signin");

    // The browser forgets the cookie; someone who kept a copy gets no further.
    let again = overview(cookie.clone()).await;
    assert_eq!(again.status().as_u16(), 303, "the signed-out cookie still opens the console");
    assert!(again.headers()["location"].to_str().unwrap().starts_with("/console/signin"));
    let fresh = session_cookie(&sign_in(&client, &app.base, "admin-token").await);
    assert_eq!(overview(fresh.clone()).await.status().as_u16(), 200, "signing in again works");

    // The store remembers it: a restarted node (or another one) refuses the cookie too,
    // and still takes a session that was not signed out.
    app.stop().await;
    let app = TestApp::spawn(with_tokens(ws.config(), "in-token", "admin-token")).await;
    let open = |cookie: String| {
        let request = client.get(format!("{}/console/", app.base)).header("Cookie", cookie);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(open(cookie).await, 303, "the signed-out cookie opens the console after a restart");
    assert_eq!(open(fresh).await, 200, "a session still signed in survives the restart");
}

#[tokio::test]
async fn wrong_tokens_are_slowed_down_per_address_and_the_right_one_still_works_elsewhere() {
    let ws = Workspace::new();
    let app = TestApp::spawn(with_tokens(ws.config(), "in-token", "admin-token")).await;
    let get = |client: &reqwest::Client, token: &str| {
        let request = client.get(format!("{}/v1/deliveries", app.base)).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };

    let guesser = client_from("127.0.0.1");
    for _ in 0..5 {
        assert_eq!(get(&guesser, "guess").await.status().as_u16(), 401);
    }
    let slowed = get(&guesser, "guess").await;
    assert_eq!(slowed.status().as_u16(), 429, "no slowdown after 5 wrong tokens");
    let wait: u64 = slowed.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: serde_json::Value = slowed.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("too many wrong tokens"), "{body}");
    assert_eq!(get(&guesser, "admin-token").await.status().as_u16(), 429, "the address waits, whatever it sends");

    let operator = client_from("127.0.0.2");
    assert_eq!(get(&operator, "admin-token").await.status().as_u16(), 200, "another address is not slowed down");

    // The console's sign-in counts the same way.
    let browser = client_from("127.0.0.3");
    for _ in 0..5 {
        assert_eq!(sign_in(&browser, &app.base, "guess").await.status().as_u16(), 401);
    }
    let slowed = sign_in(&browser, &app.base, "admin-token").await;
    assert_eq!(slowed.status().as_u16(), 429);
    assert!(slowed.headers().get("retry-after").is_some());
    assert!(slowed.headers().get("set-cookie").is_none(), "no session while the address waits");
    assert_eq!(sign_in(&operator, &app.base, "admin-token").await.status().as_u16(), 303);
}

#[tokio::test]
async fn a_page_the_console_does_not_have_is_a_404_with_its_security_headers() {
    let ws = Workspace::new();
    let app = TestApp::spawn(ws.config()).await;
    for path in ["/console/no-such-page", "/console/deliveries/x/y/z", "/console/static/none.css"] {
        let resp = app.http.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{path}");
        let csp = resp.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_string());
        assert!(csp.is_some_and(|c| c.contains("default-src 'self'")), "{path}: {:?}", resp.headers());
        assert_eq!(resp.headers()["x-frame-options"], "DENY", "{path}");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff", "{path}");
    }
    let api = app.http.get(format!("{}/v1/no-such-endpoint", app.base)).send().await.unwrap();
    assert_eq!(api.status().as_u16(), 404, "the API's own 404 is unchanged");
}
