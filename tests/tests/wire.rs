//! The wire contract seen through raw frames: welcome, malformed input,
//! oversize frames, the connection cap, ordering, graceful shutdown.

use coliseum_client::{Client, ClientError};
use coliseum_protocol::Push;
use coliseum_tests::flood::{flood_until_dropped, slow_reader};
use coliseum_tests::raw::RawConn;
use coliseum_tests::{Options, expect_closed, expect_push, start_server, start_server_with};
use serde_json::{Value, json};

fn error_code(response: &Value) -> &str {
    assert_eq!(response["ok"], json!(false), "{response}");
    response["error"]["code"].as_str().expect("code")
}

#[tokio::test]
async fn welcome_counts_connected_clients() {
    let server = start_server().await;
    let (_a, first) = RawConn::connect(server.addr()).await;
    assert_eq!(
        first,
        json!({"push":"welcome","server":"coliseum","protocol":1,"online":1})
    );
    let (b, _b_pushes) = server.connect().await;
    assert_eq!(b.welcome().online, 2);
}

#[tokio::test]
async fn malformed_requests_get_bad_request_and_the_connection_stays_usable() {
    let server = start_server().await;
    let (mut conn, _) = RawConn::connect(server.addr()).await;
    let cases: &[(&[u8], Value)] = &[
        (b"{not json", Value::Null),
        (b"\xff\xfe\x00", Value::Null),
        (b"[1,2,3]", Value::Null),
        (b"", Value::Null),
        (br#"{"op":"online"}"#, Value::Null),
        (br#"{"id":"7","op":"online"}"#, Value::Null),
        (br#"{"id":-7,"op":"online"}"#, Value::Null),
        (br#"{"id":8}"#, json!(8)),
        (br#"{"id":9,"op":"fly_to_the_moon"}"#, json!(9)),
        (br#"{"id":10,"op":42}"#, json!(10)),
        (
            br#"{"id":11,"op":"book","event_id":"1","quantity":"two"}"#,
            json!(11),
        ),
        (
            br#"{"id":12,"op":"book","event_id":1,"quantity":2}"#,
            json!(12),
        ),
        (
            br#"{"id":13,"op":"book","event_id":"1","quantity":-1}"#,
            json!(13),
        ),
        (br#"{"id":14,"op":"login","username":"bob"}"#, json!(14)),
        (br#"{"id":15,"op":"chat_history","limit":1.5}"#, json!(15)),
        (
            br#"{"id":16,"op":"register","username":null,"password":"x","email":"y"}"#,
            json!(16),
        ),
    ];
    for (frame, id) in cases {
        conn.send_bytes(frame).await;
        let response = conn.response().await;
        assert_eq!(
            error_code(&response),
            "bad_request",
            "{}",
            String::from_utf8_lossy(frame)
        );
        assert_eq!(&response["id"], id, "{}", String::from_utf8_lossy(frame));
        assert!(
            response["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // Still usable, and unknown fields are ignored.
    conn.send_json(&json!({"id": 99, "op": "online", "extra": [1, 2]}))
        .await;
    assert_eq!(
        conn.response().await,
        json!({"id":99,"ok":true,"data":{"count":0,"users":[]}})
    );
}

#[tokio::test]
async fn an_oversize_frame_gets_frame_too_large_and_the_connection_closes() {
    let server = start_server().await;
    let (mut conn, _) = RawConn::connect(server.addr()).await;
    // Only the header: the server must not wait for (or read) the body.
    conn.write_raw(&(1_048_577_u32).to_be_bytes()).await;
    let response = conn.response().await;
    assert_eq!(response["id"], Value::Null);
    assert_eq!(error_code(&response), "frame_too_large");
    assert_eq!(conn.recv().await, None, "closed after frame_too_large");
    // The server itself is fine.
    let (client, _pushes) = server.connect().await;
    assert!(client.online().await.is_ok());
}

#[tokio::test]
async fn an_oversize_frame_sent_whole_still_gets_its_error_before_the_close() {
    let server = start_server().await;
    let (mut conn, _) = RawConn::connect(server.addr()).await;
    let len: u32 = 1_048_577;
    let mut frame = len.to_be_bytes().to_vec();
    frame.resize(4 + 1_048_577, b' ');
    conn.write_raw(&frame).await;
    let response = conn.response().await;
    assert_eq!(error_code(&response), "frame_too_large");
    assert_eq!(conn.recv().await, None);
}

#[tokio::test]
async fn a_frame_of_exactly_one_mib_is_read_and_answered() {
    let server = start_server().await;
    let (mut conn, _) = RawConn::connect(server.addr()).await;
    let mut body = br#"{"id":5,"op":"online","pad":""#.to_vec();
    let tail = br#""}"#;
    body.resize(1_048_576 - tail.len(), b'x');
    body.extend_from_slice(tail);
    assert_eq!(body.len(), 1_048_576);
    conn.send_bytes(&body).await;
    let response = conn.response().await;
    assert_eq!(response["id"], json!(5));
    assert_eq!(response["ok"], json!(true));
}

#[tokio::test]
async fn the_connection_past_the_cap_gets_server_full() {
    let server = start_server_with(Options {
        max_connections: 2,
        ..Options::default()
    })
    .await;
    let (a, _a_pushes) = server.connect().await;
    let (_b, _b_pushes) = server.connect().await;
    let refused = Client::connect(server.addr()).await;
    assert!(
        matches!(refused, Err(ClientError::ServerFull { limit: 2 })),
        "{refused:?}"
    );
    let (mut raw, first) = RawConn::connect(server.addr()).await;
    assert_eq!(first, json!({"push":"server_full","limit":2}));
    assert_eq!(raw.recv().await, None, "closed after server_full");

    // A slot frees when a client leaves.
    drop(a);
    let joined = tokio::time::timeout(coliseum_tests::WAIT, async {
        loop {
            match Client::connect(server.addr()).await {
                Ok(joined) => return joined,
                Err(ClientError::ServerFull { .. }) => tokio::task::yield_now().await,
                Err(other) => panic!("{other:?}"),
            }
        }
    })
    .await
    .expect("a slot frees up");
    assert!(joined.0.online().await.is_ok());
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let server = start_server().await;
    let (mut conn, _) = RawConn::connect(server.addr()).await;
    for id in 1..=50_u64 {
        let op = if id % 3 == 0 { "my_tickets" } else { "online" };
        conn.send_json(&json!({"id": id, "op": op})).await;
    }
    for id in 1..=50_u64 {
        let response = conn.response().await;
        assert_eq!(response["id"], json!(id));
        assert_eq!(response["ok"], json!(id % 3 != 0), "{response}");
    }
}

#[tokio::test]
async fn every_op_but_five_needs_a_session() {
    let server = start_server().await;
    let (mut conn, _) = RawConn::connect(server.addr()).await;
    let needs_session = [
        json!({"op":"logout"}),
        json!({"op":"update_account","current_password":"whatever1"}),
        json!({"op":"create_event","name":"n","date":"2027-01-01","location":"l","capacity":1}),
        json!({"op":"book","event_id":"1","quantity":1}),
        json!({"op":"my_tickets"}),
        json!({"op":"cancel_ticket","ticket_id":"1"}),
        json!({"op":"chat_send","text":"hi"}),
        json!({"op":"chat_history"}),
    ];
    for (id, mut request) in needs_session.into_iter().enumerate() {
        request["id"] = json!(id);
        conn.send_json(&request).await;
        assert_eq!(
            error_code(&conn.response().await),
            "unauthenticated",
            "{request}"
        );
    }
    for (id, request) in [json!({"op":"online"}), json!({"op":"list_events"})]
        .into_iter()
        .enumerate()
    {
        let mut request = request;
        request["id"] = json!(100 + id);
        conn.send_json(&request).await;
        assert_eq!(conn.response().await["ok"], json!(true));
    }
}

#[tokio::test]
async fn graceful_shutdown_pushes_shutdown_and_closes_every_connection() {
    let mut server = start_server().await;
    let (_user, mut user_pushes, _) = server.user("leaving").await;
    let (_anon, mut anon_pushes) = server.connect().await;
    server.stop().await;
    for pushes in [&mut user_pushes, &mut anon_pushes] {
        let push = expect_push(pushes, |p| matches!(p, Push::Shutdown { .. })).await;
        assert_eq!(
            push,
            Push::Shutdown {
                reason: "server is shutting down".into()
            }
        );
        expect_closed(pushes).await;
    }
    assert!(
        Client::connect(server.addr()).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn a_slow_reader_is_disconnected_without_stalling_the_others() {
    let server = start_server_with(Options {
        outbound_queue: 32,
        // The writer floods the chat on purpose.
        tune: |c| c.chat_rate = 0,
        ..Options::default()
    })
    .await;
    let (writer, _writer_pushes, _) = server.user("writer").await;
    let (fast, mut fast_pushes, _) = server.user("fast").await;
    let _slow = slow_reader(&server, "slow").await;

    // Fill the slow client's socket buffers, then its queue, with chat
    // pushes until the server drops it (a presence push tells the others).
    // The fast client meanwhile gets every message, in order.
    let flood =
        flood_until_dropped(&writer, &mut fast_pushes, &"x".repeat(2000), "slow", 8000).await;
    assert!(flood.dropped, "the slow reader was never disconnected");
    assert!(!writer.is_closed() && !fast.is_closed());
}

/// Hardening issue (SIGTERM): requests already sent when the server stops
/// each get an answer — executed (`ok`) or refused with `unavailable` —
/// before the connection closes; none is dropped silently.
#[tokio::test]
async fn requests_in_flight_at_shutdown_are_each_answered() {
    const REQUESTS: u64 = 1_000;
    let mut server = start_server().await;
    let (mut conn, _) = RawConn::connect(server.addr()).await;
    let mut burst = Vec::new();
    for id in 1..=REQUESTS {
        let body = serde_json::to_vec(&json!({"id": id, "op": "list_events"})).expect("json");
        burst.extend_from_slice(&u32::try_from(body.len()).expect("small").to_be_bytes());
        burst.extend_from_slice(&body);
    }
    conn.write_raw(&burst).await;
    // Stop while the burst is being answered; read everything until close.
    let stopping = async { server.stop().await };
    let reading = async {
        let mut answered = std::collections::BTreeMap::new();
        while let Some(frame) = conn.recv().await {
            if let Some(id) = frame["id"].as_u64() {
                let outcome = if frame["ok"] == json!(true) {
                    "ok".to_owned()
                } else {
                    error_code(&frame).to_owned()
                };
                answered.insert(id, outcome);
            }
        }
        answered
    };
    let ((), answered) = tokio::join!(stopping, reading);
    let missing: Vec<u64> = (1..=REQUESTS)
        .filter(|id| !answered.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {REQUESTS} requests got no answer (first {:?})",
        missing.len(),
        missing.first()
    );
    assert!(
        answered.values().all(|o| o == "ok" || o == "unavailable"),
        "{answered:?}"
    );
}
