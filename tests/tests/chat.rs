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
