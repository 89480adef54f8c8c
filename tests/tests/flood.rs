//! Flood and abuse control end to end (security issue): the per-user chat
//! rate, the per-address connection cap, and the handshake and idle
//! timeouts. (Slow readers: `wire.rs`,
//! `a_slow_reader_is_disconnected_without_stalling_the_others`.)
//!
//! Timing assertions only use bounds that load cannot break: "no sooner
//! than the timeout" and "within [`WAIT`]", and token counts bounded by the
//! time that really passed.

use std::time::Duration;

use coliseum_client::ClientError;
use coliseum_protocol::ErrorCode;
use coliseum_tests::raw::RawConn;
use coliseum_tests::{Options, PASSWORD, WAIT, start_server_with};
use futures::future::join_all;
use serde_json::{Value, json};
use tokio::time::Instant;

#[tokio::test]
async fn chat_is_rate_limited_per_user_across_connections() {
    let server = start_server_with(Options {
        tune: |c| {
            c.chat_rate = 1;
            c.chat_burst = 5;
        },
        ..Options::default()
    })
    .await;
    let (first, _first_pushes, _) = server.user("chatty").await;
    let (second, _second_pushes) = server.connect().await;
    second.login("chatty", PASSWORD).await.expect("login");
    let (calm, _calm_pushes, _) = server.user("calm").await;

    let texts: Vec<String> = (0..30).map(|i| format!("message {i}")).collect();
    let started = Instant::now();
    let mut results = join_all(texts[..20].iter().map(|t| first.chat_send(None, t))).await;
    results.extend(join_all(texts[20..].iter().map(|t| second.chat_send(None, t))).await);
    let elapsed = started.elapsed();

    let mut accepted = 0_u64;
    for result in &results {
        match result {
            Ok(_) => accepted += 1,
            Err(ClientError::Server(body)) => {
                assert_eq!(body.code, ErrorCode::RateLimited, "{body:?}");
                let wait = body.retry_after_ms.expect("retry_after_ms");
                assert!((1..=1000).contains(&wait), "{wait} ms at 1 msg/s");
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    // The burst, plus at most one token per second that really passed.
    let refilled = elapsed.as_secs() + 1;
    assert!(
        accepted >= 5 && accepted <= 5 + refilled,
        "{accepted} accepted in {elapsed:?}"
    );
    assert!(
        results[20..].iter().any(Result::is_err),
        "the second connection shares the user's bucket"
    );
    assert_eq!(server.stats().chats_rate_limited, 30 - accepted);
    // Refused messages were not stored.
    let history = calm
        .chat_history(None, None, Some(200))
        .await
        .expect("history");
    assert_eq!(history.len() as u64, accepted);
    // Another user has their own bucket; the connections stay usable.
    for i in 0..5 {
        calm.chat_send(None, &format!("calm {i}"))
            .await
            .expect("own bucket");
    }
    assert!(first.online().await.is_ok() && second.online().await.is_ok());
}

#[tokio::test]
async fn the_connection_past_the_per_address_cap_gets_rate_limited_and_is_closed() {
    let server = start_server_with(Options {
        tune: |c| c.max_connections_per_ip = 3,
        ..Options::default()
    })
    .await;
    let (a, _a_pushes) = server.connect().await;
    let (_b, _b_pushes) = server.connect().await;
    let (_c, _c_pushes) = server.connect().await;
    let (mut refused, first) = RawConn::connect(server.addr()).await;
    assert_eq!(first["id"], Value::Null, "{first}");
    assert_eq!(first["ok"], json!(false));
    assert_eq!(first["error"]["code"], json!("rate_limited"));
    assert!(
        first["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains('3'))
    );
    assert_eq!(refused.recv().await, None, "closed after the refusal");
    assert_eq!(server.stats().connections_refused_per_ip, 1);

    // A slot frees when a client leaves.
    drop(a);
    tokio::time::timeout(WAIT, async {
        loop {
            let (mut conn, first) = RawConn::connect(server.addr()).await;
            if first["push"] == json!("welcome") {
                conn.send_json(&json!({"id": 1, "op": "online"})).await;
                assert_eq!(conn.response().await["ok"], json!(true));
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("a slot frees up");
}

const HANDSHAKE: Duration = Duration::from_millis(300);
const IDLE: Duration = Duration::from_millis(1500);

fn short_timeouts(c: &mut coliseum_server::ServerConfig) {
    c.handshake_timeout = HANDSHAKE;
    c.idle_timeout = IDLE;
}

#[tokio::test]
async fn a_silent_or_half_sent_connection_is_closed_after_the_handshake_timeout() {
    let server = start_server_with(Options {
        tune: short_timeouts,
        ..Options::default()
    })
    .await;
    // Sends nothing at all.
    let started = Instant::now();
    let (mut silent, _) = RawConn::connect(server.addr()).await;
    assert_eq!(silent.recv().await, None, "closed without a word");
    assert!(started.elapsed() >= HANDSHAKE, "{:?}", started.elapsed());

    // Sends the header and part of a body, never the rest.
    let started = Instant::now();
    let (mut partial, _) = RawConn::connect(server.addr()).await;
    partial.write_raw(&100_u32.to_be_bytes()).await;
    partial.write_raw(br#"{"id":1,"op":"#).await;
    assert_eq!(partial.recv().await, None);
    assert!(started.elapsed() >= HANDSHAKE, "{:?}", started.elapsed());
    assert_eq!(server.stats().connections_timed_out, 2);
}

#[tokio::test]
async fn each_sign_in_attempt_restarts_the_clock() {
    // Only register/login/resume restart an anonymous connection's clock
    // (other requests do not: security.rs,
    // an_anonymous_connection_cannot_stay_by_sending_other_requests).
    let server = start_server_with(Options {
        tune: |c| c.handshake_timeout = Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let started = Instant::now();
    let (mut conn, _) = RawConn::connect(server.addr()).await;
    // Four attempts 400 ms apart: 1.6 s in all, longer than the timeout.
    for id in 1..=4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        conn.send_json(&json!({"id": id, "op": "resume", "token": "not-a-token"}))
            .await;
        assert_eq!(conn.response().await["id"], json!(id));
    }
    assert!(started.elapsed() > Duration::from_secs(1));
    assert_eq!(conn.recv().await, None, "then closed when silent");
}

#[tokio::test]
async fn a_logged_in_connection_gets_the_longer_idle_timeout() {
    let server = start_server_with(Options {
        tune: short_timeouts,
        ..Options::default()
    })
    .await;
    let (mut conn, _) = RawConn::connect(server.addr()).await;
    conn.send_json(&json!({"id": 1, "op": "register", "username": "idler",
        "password": PASSWORD, "email": "idler@example.com"}))
        .await;
    assert_eq!(conn.response().await["ok"], json!(true));
    // The clock starts after the server answered the login, so measuring
    // from before sending it gives a strict lower bound.
    let login_sent = Instant::now();
    conn.send_json(&json!({"id": 2, "op": "login", "username": "idler", "password": PASSWORD}))
        .await;
    assert_eq!(conn.response().await["ok"], json!(true));
    // Pushes do not count as activity; only the idle timeout ends it.
    let closed = tokio::time::timeout(WAIT, async { while conn.recv().await.is_some() {} }).await;
    assert!(closed.is_ok(), "closed by the idle timeout");
    let after = login_sent.elapsed();
    assert!(
        after >= IDLE,
        "closed {after:?} after the login, sooner than the idle timeout"
    );
    assert_eq!(server.stats().connections_timed_out, 1);
}

/// Listen-backlog issue: 1,500 clients connecting at once each get
/// `welcome` or `server_full` within [`WAIT`]. With the old backlog of 128
/// some completed the TCP handshake but were never accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_burst_gets_welcome_or_server_full_for_everyone() {
    const CLIENTS: usize = 1_500;
    // Each client costs this process two descriptors (its end and the
    // server's): make sure the soft limit allows it.
    let wanted = u64::try_from(CLIENTS * 2 + 512).unwrap_or(u64::MAX);
    let limit = rlimit::increase_nofile_limit(wanted).expect("raise RLIMIT_NOFILE");
    assert!(
        limit >= wanted,
        "RLIMIT_NOFILE is {limit}; this test needs {wanted} descriptors"
    );
    let server = start_server_with(Options {
        tune: |c| c.max_connections_per_ip = 0,
        ..Options::default()
    })
    .await;
    let addr = server.addr();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let clients = (0..CLIENTS).map(|_| {
        let barrier = std::sync::Arc::clone(&barrier);
        tokio::spawn(async move {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            barrier.wait().await;
            let first = tokio::time::timeout(WAIT, async {
                let stream = socket.connect(addr).await.ok()?;
                let mut framed =
                    tokio_util::codec::Framed::new(stream, coliseum_protocol::frame_codec());
                let frame = futures::StreamExt::next(&mut framed).await?.ok()?;
                // Held until the whole burst is answered, so the cap is reached.
                Some((serde_json::from_slice::<Value>(&frame).ok()?, framed))
            })
            .await;
            first.ok().flatten()
        })
    });
    let answers = join_all(clients).await;
    let (mut welcomed, mut full, mut other) = (0, 0, Vec::new());
    for answer in &answers {
        match answer.as_ref().expect("client task") {
            Some((first, _)) if first["push"] == "welcome" => welcomed += 1,
            Some((first, _)) if first["push"] == "server_full" => full += 1,
            unanswered => other.push(unanswered.as_ref().map(|(v, _)| v.clone())),
        }
    }
    assert!(
        other.is_empty(),
        "{} of {CLIENTS} got neither welcome nor server_full in time (e.g. {:?})",
        other.len(),
        other.first()
    );
    assert_eq!(welcomed, 1024, "the default cap admits exactly 1,024");
    assert_eq!(full, CLIENTS - 1024);
}
