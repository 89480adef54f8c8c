//! A restart (graceful stop, start again on the same data directory)
//! keeps users, sessions, events, tickets and chat history.

use coliseum_tests::{ADMIN, ADMIN_PASSWORD, PASSWORD, start_server};

#[tokio::test]
async fn a_restarted_server_remembers_everything() {
    let server = start_server().await;
    let (admin, _admin_pushes, _) = server.admin().await;
    let created = admin
        .create_event("Encore", "2027-11-11", "Hall", 20, Some(5))
        .await
        .expect("create");
    let (client, _pushes, session) = server.user("keeper").await;
    let ticket = client
        .book(&created.id, 3, Some("key-1"))
        .await
        .expect("book");
    client
        .chat_send(None, "before the restart")
        .await
        .expect("send");
    client
        .room_create("night", Some("after hours"))
        .await
        .expect("room");
    client
        .chat_send(Some("night"), "other room")
        .await
        .expect("send");
    client.mark_read("night", 1).await.expect("mark");
    let events_before = client.list_events().await.expect("list");
    drop((admin, client));

    let server = server.restart().await;

    let (client, _pushes) = server.connect().await;
    // The token still resumes the session.
    let resumed = client.resume(&session.token).await.expect("resume");
    assert_eq!(resumed.user_id, session.user_id);
    assert_eq!(
        client.my_tickets().await.expect("tickets"),
        std::slice::from_ref(&ticket)
    );
    assert_eq!(client.list_events().await.expect("list"), events_before);
    let lobby = client
        .chat_history(None, None, None)
        .await
        .expect("history");
    // The event's announcement (a system message), then the member's.
    assert_eq!(lobby.len(), 2);
    assert!(lobby[0].system && lobby[0].from.is_none(), "{:?}", lobby[0]);
    assert_eq!(
        (lobby[1].seq, lobby[1].text.as_str()),
        (2, "before the restart")
    );
    // Sequence numbers continue where they were.
    assert_eq!(client.chat_send(None, "after").await.expect("send"), 3);
    // Rooms, memberships and read markers survive too.
    let rooms = client.rooms().await.expect("rooms");
    let night = rooms.iter().find(|r| r.room == "night").expect("night");
    assert_eq!(
        (
            night.joined,
            night.unread,
            night.last_seq,
            night.topic.as_str()
        ),
        (true, 0, 1, "after hours")
    );
    assert_eq!(
        client
            .chat_send(Some("night"), "still here")
            .await
            .expect("send"),
        2
    );
    // The idempotency key is remembered too.
    assert_eq!(
        client
            .book(&created.id, 3, Some("key-1"))
            .await
            .expect("replay"),
        ticket
    );
    // Passwords and roles survive.
    let (other, _other_pushes) = server.connect().await;
    other.login("keeper", PASSWORD).await.expect("login");
    let admin = other
        .login(ADMIN, ADMIN_PASSWORD)
        .await
        .expect("admin login");
    assert_eq!(admin.role, coliseum_protocol::Role::Admin);
}
