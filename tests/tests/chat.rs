//! Chat end to end: two clients chatting with pushes, history paging,
//! rooms, validation.

use coliseum_protocol::{ErrorCode, Push};
use coliseum_tests::{code, expect_push, field, start_server};

fn chat(p: &Push) -> bool {
    matches!(p, Push::Chat(_))
}

#[tokio::test]
async fn two_clients_chat_and_both_get_every_message() {
    let server = start_server().await;
    let (giulia, mut giulia_pushes, _) = server.user("giulia").await;
    let (marco, mut marco_pushes, _) = server.user("marco").await;
    let (_anon, mut anon_pushes) = server.connect().await;

    let seq = giulia.chat_send(None, "ciao marco").await.expect("send");
    for pushes in [&mut marco_pushes, &mut giulia_pushes] {
        let Push::Chat(message) = expect_push(pushes, chat).await else {
            unreachable!()
        };
        assert_eq!(message.seq, seq);
        assert_eq!(message.room, "lobby");
        assert_eq!(message.from.as_deref(), Some("giulia"));
        assert_eq!(message.text, "ciao marco");
    }
    let reply = marco.chat_send(Some("lobby"), "ciao!").await.expect("send");
    assert_eq!(reply, seq + 1);
    let Push::Chat(message) = expect_push(&mut giulia_pushes, chat).await else {
        unreachable!()
    };
    assert_eq!(
        (message.from.as_deref(), message.seq),
        (Some("marco"), reply)
    );

    // Anonymous connections get no chat: the next push they see is the
    // event_update of this booking, not the two messages before it.
    let event = marco.list_events().await.expect("list").remove(0);
    marco.book(&event.id, 1, None).await.expect("book");
    let next = tokio::time::timeout(coliseum_tests::WAIT, anon_pushes.recv())
        .await
        .expect("a push");
    assert!(matches!(next, Some(Push::EventUpdate { .. })), "{next:?}");
}

#[tokio::test]
async fn history_pages_backwards_oldest_first_per_room() {
    let server = start_server().await;
    let (client, _pushes, _) = server.user("writer").await;
    for i in 1..=7 {
        let seq = client
            .chat_send(None, &format!("lobby {i}"))
            .await
            .expect("send");
        assert_eq!(seq, i);
    }
    // Rooms are created before use (rooms issue); the creator is a member.
    client.room_create("jazz-fans", None).await.expect("create");
    assert_eq!(
        client
            .chat_send(Some("jazz-fans"), "other room")
            .await
            .expect("send"),
        1
    );

    let newest = client
        .chat_history(None, None, Some(3))
        .await
        .expect("history");
    let seqs: Vec<u64> = newest.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [5, 6, 7]);
    let older = client
        .chat_history(Some("lobby"), Some(5), Some(3))
        .await
        .expect("history");
    let texts: Vec<&str> = older.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["lobby 2", "lobby 3", "lobby 4"]);
    let all = client
        .chat_history(None, None, None)
        .await
        .expect("default page");
    assert_eq!(all.len(), 7);
    let jazz = client
        .chat_history(Some("jazz-fans"), None, None)
        .await
        .expect("history");
    assert_eq!(jazz.len(), 1);
    assert_eq!(jazz[0].room, "jazz-fans");
    client.room_create("empty", None).await.expect("create");
    assert!(
        client
            .chat_history(Some("empty"), None, None)
            .await
            .expect("history")
            .is_empty()
    );
    assert_eq!(
        code(client.chat_history(Some("nowhere"), None, None).await),
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn chat_errors() {
    let server = start_server().await;
    let (anon, _anon_pushes) = server.connect().await;
    assert_eq!(
        code(anon.chat_send(None, "hi").await),
        ErrorCode::Unauthenticated
    );
    assert_eq!(
        code(anon.chat_history(None, None, None).await),
        ErrorCode::Unauthenticated
    );
    let (client, _pushes, _) = server.user("checker").await;
    assert_eq!(
        field(client.chat_send(None, "   ").await),
        Some("text".into())
    );
    assert_eq!(
        field(client.chat_send(None, &"x".repeat(2001)).await),
        Some("text".into())
    );
    assert_eq!(
        field(client.chat_send(Some("no spaces"), "hi").await),
        Some("room".into())
    );
    assert_eq!(
        field(client.chat_send(Some(""), "hi").await),
        Some("room".into())
    );
    assert_eq!(
        field(client.chat_history(Some("bad room!"), None, None).await),
        Some("room".into())
    );
    for limit in [0, 201] {
        assert_eq!(
            field(client.chat_history(None, None, Some(limit)).await),
            Some("limit".into())
        );
    }
    assert_eq!(
        client
            .chat_history(None, None, Some(200))
            .await
            .expect("max page")
            .len(),
        0
    );
    assert_eq!(
        client
            .chat_send(None, &"é".repeat(2000))
            .await
            .expect("max text"),
        1
    );
}

/// A client that pipelines: 26 requests written at once, mostly
/// `chat_send`s (which the server reads together and stores together), with
/// an invalid text, another op and an unknown room among them, and more
/// messages than the chat burst allows. Every request is answered in order,
/// each as it would be on its own; the accepted messages get consecutive
/// `seq`s in the order sent, and a member sees exactly them, in that order.
#[tokio::test]
async fn pipelined_chat_sends_are_answered_in_order_and_stored_in_order() {
    use coliseum_tests::raw::RawConn;
    use serde_json::json;

    let server = start_server().await;
    let (_piper, _piper_pushes, _) = server.user("piper").await;
    let (watcher, mut watcher_pushes, _) = server.user("watcher").await;
    let (mut conn, _) = RawConn::connect(server.addr()).await;
    conn.send_json(
        &json!({"id": 0, "op": "login", "username": "piper", "password": coliseum_tests::PASSWORD}),
    )
    .await;
    assert_eq!(conn.response().await["ok"], json!(true), "logged in");

    let request = |id: u64| match id {
        5 => json!({"id": id, "op": "chat_send", "text": "   "}),
        9 => json!({"id": id, "op": "online"}),
        12 => json!({"id": id, "op": "chat_send", "room": "nowhere", "text": "hello?"}),
        _ => json!({"id": id, "op": "chat_send", "text": format!("pipelined {id}")}),
    };
    let mut bytes = Vec::new();
    for id in 1..=26_u64 {
        let body = request(id).to_string();
        let len = u32::try_from(body.len()).expect("small frame");
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(body.as_bytes());
    }
    conn.write_raw(&bytes).await;

    let mut accepted = Vec::new();
    let mut refused_for_rate = Vec::new();
    for id in 1..=26_u64 {
        let response = conn.response().await;
        assert_eq!(response["id"], json!(id), "answers in order: {response}");
        let code = response["error"]["code"].as_str();
        match id {
            5 => {
                assert_eq!(code, Some("bad_request"), "{response}");
                assert_eq!(response["error"]["field"], json!("text"));
            }
            9 => assert_eq!(response["data"]["count"], json!(2), "{response}"),
            12 => assert_eq!(code, Some("not_found"), "{response}"),
            _ if response["ok"] == json!(true) => {
                let seq = response["data"]["seq"].as_u64().expect("seq");
                accepted.push((seq, format!("pipelined {id}")));
            }
            _ => {
                assert_eq!(code, Some("rate_limited"), "{response}");
                refused_for_rate.push(id);
            }
        }
    }
    // The burst of 20 (a token or so may refill meanwhile); the refused
    // ones come after the first 20 accepted.
    assert!(accepted.len() >= 20, "{accepted:?}");
    assert_eq!(accepted.len() + refused_for_rate.len(), 23);
    assert!(
        refused_for_rate.iter().all(|id| *id > 23),
        "{refused_for_rate:?}"
    );
    let seqs: Vec<u64> = accepted.iter().map(|(seq, _)| *seq).collect();
    let first = seqs[0];
    let expected: Vec<u64> = (first..first + seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "consecutive seqs in the order sent");

    for (seq, text) in &accepted {
        let Push::Chat(message) = expect_push(&mut watcher_pushes, chat).await else {
            unreachable!()
        };
        assert_eq!((message.seq, &message.text), (*seq, text));
        assert_eq!(message.from.as_deref(), Some("piper"));
    }
    let history = watcher
        .chat_history(None, None, Some(200))
        .await
        .expect("history");
    let stored: Vec<(u64, String)> = history
        .into_iter()
        .filter(|m| m.from.as_deref() == Some("piper"))
        .map(|m| (m.seq, m.text))
        .collect();
    assert_eq!(
        stored, accepted,
        "the history holds exactly what was acknowledged"
    );
}
