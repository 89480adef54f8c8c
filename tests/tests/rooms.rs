//! Rooms end to end (rooms issue): room-scoped fan-out, direct messages,
//! unread counts and read markers across connections, edits and
//! deletions, typing, moderation (mute, kick, slow mode, ban) and the
//! system messages of events.
//!
//! "Did not receive" is never asserted by waiting: a later marker push
//! (a lobby message everyone gets) must be the next one seen instead.

use coliseum_protocol::request::{Ban, Kick, Mute, RoomModerator, SlowMode, Unban};
use coliseum_protocol::validate::event_room;
use coliseum_protocol::{ChatMessage, ErrorCode, Push, RoomKind};
use coliseum_tests::{Options, code, expect_push, start_server, start_server_with};

/// The next `chat` push (skipping others).
async fn next_chat(pushes: &mut coliseum_client::Pushes) -> ChatMessage {
    match expect_push(pushes, |p| matches!(p, Push::Chat(_))).await {
        Push::Chat(message) => message,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn room_messages_reach_members_only() {
    let server = start_server().await;
    let (ada, mut ada_pushes, _) = server.user("ada").await;
    let (bob, mut bob_pushes, _) = server.user("bob").await;
    assert_eq!(
        ada.room_create("jazz", Some("Late sets"))
            .await
            .expect("create"),
        "jazz"
    );
    ada.chat_send(Some("jazz"), "members only")
        .await
        .expect("send");
    assert_eq!(next_chat(&mut ada_pushes).await.text, "members only");
    ada.chat_send(None, "marker").await.expect("send");
    let seen = next_chat(&mut bob_pushes).await;
    assert_eq!(
        (seen.room.as_str(), seen.text.as_str()),
        ("lobby", "marker"),
        "bob is not in jazz"
    );
    // Not a member: cannot post, but may read a public room.
    assert_eq!(
        code(bob.chat_send(Some("jazz"), "let me in").await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        bob.chat_history(Some("jazz"), None, None)
            .await
            .expect("read")
            .len(),
        1
    );
    bob.room_join("JAZZ").await.expect("join, any case");
    ada.chat_send(Some("jazz"), "welcome").await.expect("send");
    let seen = next_chat(&mut bob_pushes).await;
    assert_eq!(
        (seen.room.as_str(), seen.text.as_str()),
        ("jazz", "welcome")
    );
    let members = ada.room_members("jazz").await.expect("members");
    let names: Vec<(&str, bool)> = members
        .iter()
        .map(|m| (m.user.as_str(), m.online))
        .collect();
    assert_eq!(names, [("ada", true), ("bob", true)]);
    bob.room_leave("jazz").await.expect("leave");
    ada.chat_send(Some("jazz"), "gone").await.expect("send");
    ada.chat_send(None, "marker 2").await.expect("send");
    assert_eq!(
        next_chat(&mut bob_pushes).await.text,
        "marker 2",
        "no more jazz for bob"
    );
    // Names and rules.
    assert_eq!(
        code(ada.room_create("jazz", None).await),
        ErrorCode::Conflict
    );
    for bad in ["J", "Jazz", "event-1", "has space", "lobby!"] {
        assert_eq!(
            code(ada.room_create(bad, None).await),
            ErrorCode::BadRequest,
            "{bad}"
        );
    }
    assert_eq!(
        code(ada.room_create("lobby", None).await),
        ErrorCode::Conflict
    );
    assert_eq!(code(ada.room_join("nowhere").await), ErrorCode::NotFound);
    assert_eq!(code(ada.room_leave("lobby").await), ErrorCode::BadRequest);
}

#[tokio::test]
async fn direct_messages_reach_the_two_users_only() {
    let server = start_server().await;
    let (ada, mut ada_pushes, _) = server.user("Ada").await;
    let (bob, mut bob_pushes, _) = server.user("bob").await;
    let (carl, mut carl_pushes, _) = server.user("carl").await;
    let sent = ada.dm_send("BOB", "just us").await.expect("dm");
    assert_eq!(sent.room, "dm:ada:bob");
    for pushes in [&mut ada_pushes, &mut bob_pushes] {
        let message = next_chat(pushes).await;
        assert_eq!(
            (message.room.as_str(), message.seq),
            ("dm:ada:bob", sent.seq)
        );
    }
    carl.chat_send(None, "marker").await.expect("send");
    assert_eq!(next_chat(&mut carl_pushes).await.text, "marker");
    assert_eq!(
        code(carl.chat_history(Some("dm:ada:bob"), None, None).await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(carl.chat_send(Some("dm:ada:bob"), "hi").await),
        ErrorCode::Forbidden
    );
    // The reply goes to the same room, whichever way round.
    assert_eq!(
        bob.dm_send("ada", "hello").await.expect("dm").room,
        "dm:ada:bob"
    );
    assert_eq!(
        bob.chat_send(Some("dm:ada:bob"), "also here")
            .await
            .expect("send"),
        3
    );
    let listed = |rooms: Vec<coliseum_protocol::RoomInfo>| {
        rooms.into_iter().find(|r| r.room == "dm:ada:bob")
    };
    let for_ada = listed(ada.rooms().await.expect("rooms")).expect("ada sees it");
    assert_eq!(
        (for_ada.kind, for_ada.topic.as_str(), for_ada.unread),
        (RoomKind::Direct, "bob", 2)
    );
    assert!(
        listed(carl.rooms().await.expect("rooms")).is_none(),
        "carl does not"
    );
    assert_eq!(code(ada.dm_send("nobody", "hi").await), ErrorCode::NotFound);
    assert_eq!(code(ada.dm_send("ada", "me").await), ErrorCode::BadRequest);
    assert_eq!(
        code(ada.room_leave("dm:ada:bob").await),
        ErrorCode::BadRequest
    );
}

#[tokio::test]
async fn unread_counts_follow_the_user_across_connections() {
    let server = start_server().await;
    let (ada, _ada_pushes, _) = server.user("ada").await;
    let (bob, _bob_pushes, bob_session) = server.user("bob").await;
    ada.room_create("news", None).await.expect("create");
    bob.room_join("news").await.expect("join");
    for text in ["one", "two @BOB", "three"] {
        ada.chat_send(Some("news"), text).await.expect("send");
    }
    bob.chat_send(Some("news"), "mine").await.expect("own");
    let news = |rooms: Vec<coliseum_protocol::RoomInfo>| {
        rooms
            .into_iter()
            .find(|r| r.room == "news")
            .expect("listed")
    };
    let seen = news(bob.rooms().await.expect("rooms"));
    assert_eq!((seen.unread, seen.mentions, seen.last_seq), (3, 1, 4));
    // A second device of bob's hears the marker move.
    let (phone, mut phone_pushes) = server.connect().await;
    phone.resume(&bob_session.token).await.expect("resume");
    bob.mark_read("news", 2).await.expect("mark");
    let read = expect_push(&mut phone_pushes, |p| matches!(p, Push::Read { .. })).await;
    assert_eq!(
        read,
        Push::Read {
            room: "news".into(),
            seq: 2
        }
    );
    assert_eq!(news(phone.rooms().await.expect("rooms")).unread, 1);
    // After a reconnect, too.
    drop((bob, phone));
    let (again, _pushes) = server.connect().await;
    again.resume(&bob_session.token).await.expect("resume");
    let seen = news(again.rooms().await.expect("rooms"));
    assert_eq!((seen.unread, seen.mentions), (1, 0));
    let (carl, _carl_pushes, _) = server.user("carl").await;
    assert_eq!(code(carl.mark_read("news", 1).await), ErrorCode::Forbidden);
}

#[tokio::test]
async fn edits_and_deletions_are_pushed_and_kept() {
    let server = start_server().await;
    let (ada, mut ada_pushes, _) = server.user("ada").await;
    let (bob, mut bob_pushes, _) = server.user("bob").await;
    let seq = ada.chat_send(None, "teh show").await.expect("send");
    ada.chat_edit("lobby", seq, "the show").await.expect("edit");
    let update = expect_push(&mut bob_pushes, |p| matches!(p, Push::ChatUpdate { .. })).await;
    let Push::ChatUpdate {
        room,
        seq: s,
        text,
        deleted,
        ..
    } = update
    else {
        unreachable!()
    };
    assert_eq!(
        (room.as_str(), s, text.as_str(), deleted),
        ("lobby", seq, "the show", false)
    );
    assert_eq!(
        code(bob.chat_edit("lobby", seq, "mine now").await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(bob.chat_delete("lobby", seq).await),
        ErrorCode::Forbidden
    );
    ada.chat_delete("lobby", seq).await.expect("delete");
    let update = expect_push(&mut ada_pushes, |p| {
        matches!(p, Push::ChatUpdate { deleted: true, .. })
    })
    .await;
    assert!(matches!(update, Push::ChatUpdate { ref text, .. } if text.is_empty()));
    let history = bob.chat_history(None, None, None).await.expect("history");
    let message = history.iter().find(|m| m.seq == seq).expect("kept");
    assert!(message.deleted && message.text.is_empty() && message.edited_at.is_some());
    assert_eq!(
        code(ada.chat_edit("lobby", seq, "again").await),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(ada.chat_delete("lobby", 999).await),
        ErrorCode::NotFound
    );
    // An admin may delete anyone's message.
    let other = bob.chat_send(None, "spam").await.expect("send");
    let (admin, _admin_pushes, _) = server.admin().await;
    admin
        .chat_delete("lobby", other)
        .await
        .expect("admin deletes");
}

#[tokio::test]
async fn typing_is_pushed_at_most_once_per_three_seconds() {
    let server = start_server().await;
    let (ada, _ada_pushes, _) = server.user("ada").await;
    let (_bob, mut bob_pushes, _) = server.user("bob").await;
    ada.typing("lobby").await.expect("typing");
    let first = expect_push(&mut bob_pushes, |p| matches!(p, Push::Typing { .. })).await;
    assert_eq!(
        first,
        Push::Typing {
            room: "lobby".into(),
            user: "ada".into()
        }
    );
    ada.typing("lobby").await.expect("typing again, answered");
    ada.chat_send(None, "marker").await.expect("send");
    let next = expect_push(&mut bob_pushes, |p| {
        matches!(p, Push::Typing { .. } | Push::Chat(_))
    })
    .await;
    assert!(
        matches!(next, Push::Chat(_)),
        "the second typing was not pushed: {next:?}"
    );
    assert_eq!(code(ada.typing("nowhere").await), ErrorCode::NotFound);
}

#[tokio::test]
async fn moderators_mute_kick_and_slow_a_room() {
    let server = start_server().await;
    let (owner, mut owner_pushes, _) = server.user("owner").await;
    let (moderator, _m, _) = server.user("moddy").await;
    let (member, mut member_pushes, _) = server.user("member").await;
    owner.room_create("club", None).await.expect("create");
    moderator.room_join("club").await.expect("join");
    member.room_join("club").await.expect("join");
    owner
        .send_op(RoomModerator {
            room: "club".into(),
            user: "moddy".into(),
            on: true,
        })
        .await
        .expect("promote");
    // Mute: refused with the time left; a system message says so.
    moderator
        .send_op(Mute {
            room: "club".into(),
            user: "member".into(),
            minutes: 10,
        })
        .await
        .expect("mute");
    let err = member
        .chat_send(Some("club"), "hello?")
        .await
        .expect_err("muted");
    assert_eq!(err.code(), Some(ErrorCode::Forbidden));
    assert!(err.to_string().contains("10 more minutes"), "{err}");
    // Leaving and joining again does not lift it.
    member.room_leave("club").await.expect("leave");
    member.room_join("club").await.expect("rejoin");
    assert_eq!(
        code(member.chat_send(Some("club"), "sneaky").await),
        ErrorCode::Forbidden
    );
    moderator
        .send_op(Mute {
            room: "club".into(),
            user: "member".into(),
            minutes: 0,
        })
        .await
        .expect("unmute");
    member
        .chat_send(Some("club"), "free")
        .await
        .expect("unmuted");
    // A moderator cannot act on the owner.
    assert_eq!(
        code(
            moderator
                .send_op(Mute {
                    room: "club".into(),
                    user: "owner".into(),
                    minutes: 5
                })
                .await
        ),
        ErrorCode::Forbidden
    );
    // Slow mode: the second message within the interval is refused.
    moderator
        .send_op(SlowMode {
            room: "club".into(),
            seconds: 60,
        })
        .await
        .expect("slow");
    member
        .chat_send(Some("club"), "first")
        .await
        .expect("first");
    let err = member
        .chat_send(Some("club"), "second")
        .await
        .expect_err("too fast");
    assert_eq!(err.code(), Some(ErrorCode::RateLimited));
    match err {
        coliseum_client::ClientError::Server(body) => {
            assert!(
                body.retry_after_ms.is_some_and(|ms| ms > 50_000),
                "{body:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    moderator
        .chat_send(Some("club"), "mods are exempt")
        .await
        .expect("exempt");
    moderator
        .chat_send(Some("club"), "twice")
        .await
        .expect("exempt");
    // Kick: the room says so (the member hears it), then room_left.
    moderator
        .send_op(Kick {
            room: "club".into(),
            user: "member".into(),
        })
        .await
        .expect("kick");
    let left = expect_push(&mut member_pushes, |p| matches!(p, Push::RoomLeft { .. })).await;
    assert!(matches!(left, Push::RoomLeft { ref room, .. } if room == "club"));
    assert_eq!(
        code(member.chat_send(Some("club"), "back?").await),
        ErrorCode::Forbidden
    );
    let history = owner
        .chat_history(Some("club"), None, None)
        .await
        .expect("history");
    let system: Vec<&str> = history
        .iter()
        .filter(|m| m.system)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(
        system,
        [
            "moddy is now a moderator (by owner).",
            "member was muted for 10 minutes by moddy.",
            "member may speak again (by moddy).",
            "Slow mode: one message every 60 seconds per member (by moddy).",
            "member was removed by moddy.",
        ]
    );
    assert!(
        history
            .iter()
            .filter(|m| m.system)
            .all(|m| m.from.is_none())
    );
    let kicked = next_chat_in(&mut owner_pushes, "club", "member was removed by moddy.").await;
    assert!(kicked.system);
    // Every action is in the audit log.
    let audit = server.store().recent_audit(50).await.expect("audit");
    for action in ["room_moderator", "mute", "slow_mode", "kick"] {
        assert!(
            audit.iter().any(|e| e.action == action),
            "no {action} in the audit log"
        );
    }
}

/// The next `chat` push in `room` with `text`, skipping others.
async fn next_chat_in(pushes: &mut coliseum_client::Pushes, room: &str, text: &str) -> ChatMessage {
    match expect_push(
        pushes,
        |p| matches!(p, Push::Chat(m) if m.room == room && m.text == text),
    )
    .await
    {
        Push::Chat(message) => message,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn a_ban_ends_the_sessions_at_once_and_refuses_logins_until_lifted() {
    let server = start_server().await;
    let (admin, _admin_pushes, _) = server.admin().await;
    let (troll, mut troll_pushes, troll_session) = server.user("troll").await;
    admin
        .send_op(Ban {
            user: "troll".into(),
            minutes: None,
        })
        .await
        .expect("ban");
    let expired = expect_push(&mut troll_pushes, |p| {
        matches!(p, Push::SessionExpired { .. })
    })
    .await;
    assert!(matches!(expired, Push::SessionExpired { ref reason } if reason.contains("banned")));
    assert_eq!(
        code(troll.chat_send(None, "still here?").await),
        ErrorCode::Unauthenticated
    );
    let err = troll
        .login("troll", coliseum_tests::PASSWORD)
        .await
        .expect_err("banned");
    assert_eq!(err.code(), Some(ErrorCode::Forbidden));
    assert!(err.to_string().contains("banned"), "{err}");
    assert_eq!(
        code(troll.resume(&troll_session.token).await),
        ErrorCode::Unauthenticated
    );
    // A wrong password still reads as a wrong password (nothing revealed).
    assert_eq!(
        code(troll.login("troll", "wrong-password-1").await),
        ErrorCode::Unauthenticated
    );
    admin
        .send_op(Unban {
            user: "troll".into(),
        })
        .await
        .expect("unban");
    troll
        .login("troll", coliseum_tests::PASSWORD)
        .await
        .expect("welcome back");
    // A timed ban lapses by itself.
    admin
        .send_op(Ban {
            user: "troll".into(),
            minutes: Some(5),
        })
        .await
        .expect("ban");
    let (fresh, _pushes) = server.connect().await;
    assert_eq!(
        code(fresh.login("troll", coliseum_tests::PASSWORD).await),
        ErrorCode::Forbidden
    );
    let user = server
        .store()
        .user_by_username("troll")
        .await
        .expect("lookup")
        .expect("troll");
    server
        .store()
        .set_ban(
            &user.id,
            Some(coliseum_store::now() - chrono::Duration::seconds(1)),
        )
        .await
        .expect("let it lapse");
    fresh
        .login("troll", coliseum_tests::PASSWORD)
        .await
        .expect("lapsed");
    assert_eq!(
        code(
            admin
                .send_op(Ban {
                    user: "admin".into(),
                    minutes: None
                })
                .await
        ),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code(
            admin
                .send_op(Ban {
                    user: "ghost".into(),
                    minutes: None
                })
                .await
        ),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(
            admin
                .send_op(Ban {
                    user: "troll".into(),
                    minutes: Some(0)
                })
                .await
        ),
        ErrorCode::BadRequest
    );
}

#[tokio::test]
async fn events_speak_in_their_room_and_the_lobby() {
    let server = start_server_with(Options {
        tune: |c| c.chat_rate = 0,
        ..Options::default()
    })
    .await;
    let (admin, _admin_pushes, _) = server.admin().await;
    let (fan, mut fan_pushes, _) = server.user("fan").await;
    let event = admin
        .create_event("Tiny Gig", "2031-01-02", "Cellar", 10, Some(10))
        .await
        .expect("create");
    let room = event_room(&event.id);
    let news = next_chat_in(
        &mut fan_pushes,
        "lobby",
        "New event: Tiny Gig on 2031-01-02 at Cellar. 10 seats on sale.",
    )
    .await;
    assert!(news.system && news.from.is_none());
    fan.room_join(&room).await.expect("join the event's room");
    let info = fan
        .rooms()
        .await
        .expect("rooms")
        .into_iter()
        .find(|r| r.room == room)
        .expect("listed");
    assert_eq!(
        (info.kind, info.topic.as_str(), info.joined),
        (RoomKind::Event, "Tiny Gig", true)
    );
    assert_eq!(
        fan.chat_history(Some(&room), None, None)
            .await
            .expect("history")
            .len(),
        1
    );
    fan.book(&event.id, 9, None).await.expect("book 9");
    next_chat_in(&mut fan_pushes, &room, "Tiny Gig: only 1 seat left.").await;
    let last = fan.book(&event.id, 1, None).await.expect("book the last");
    next_chat_in(&mut fan_pushes, &room, "Tiny Gig is sold out.").await;
    fan.cancel_ticket(&last.id).await.expect("cancel");
    next_chat_in(
        &mut fan_pushes,
        &room,
        "Tiny Gig: seats are available again (1 left).",
    )
    .await;
    next_chat_in(
        &mut fan_pushes,
        "lobby",
        "Tiny Gig: seats are available again (1 left).",
    )
    .await;
    let texts: Vec<String> = fan
        .chat_history(Some(&room), None, None)
        .await
        .expect("history")
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
}
