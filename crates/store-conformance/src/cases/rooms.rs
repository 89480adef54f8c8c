//! Rooms (rooms issue): which rooms exist, memberships, direct rooms, read
//! markers and unread counts, edits and deletions, mutes, roles, slow mode
//! and bans.

use std::sync::Arc;
use std::time::Duration;

use coliseum_protocol::{ChatMessage, Role, RoomKind, RoomRole};
use coliseum_store::{NewMessage, NewRoom, Store, StoreError, User};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::TestStore;
use crate::support::{at, finish, make_event, make_user, unique};

/// A lowercase public room name, unique per call.
fn room_name(prefix: &str) -> String {
    unique(prefix).to_ascii_lowercase()
}

/// Creates a public room owned by `owner`.
async fn make_room(store: &dyn Store, prefix: &str, owner: &User) -> String {
    let name = room_name(prefix);
    store
        .create_room(NewRoom {
            name: name.clone(),
            topic: format!("about {name}"),
            owner_id: owner.id.clone(),
            created_at: at(0),
        })
        .await
        .unwrap_or_else(|e| panic!("create_room({name}) failed: {e}"));
    name
}

/// Appends a message from `from` (`None`: a system message).
async fn say(store: &dyn Store, room: &str, from: Option<&str>, text: &str) -> ChatMessage {
    store
        .append_message(NewMessage {
            room: room.to_owned(),
            from: from.map(str::to_owned),
            text: text.to_owned(),
            sent_at: coliseum_store::now(),
        })
        .await
        .unwrap_or_else(|e| panic!("append_message({room}) failed: {e}"))
}

/// `lobby` always exists; an event's room exists with the event (topic:
/// its name) and not before or for unknown ids; other names exist only
/// once created.
pub async fn rooms_lobby_and_event_rooms_exist_without_creation(test: TestStore) {
    let store = test.store.as_ref();
    let lobby = store.room("lobby").await.expect("room").expect("lobby");
    assert_eq!(lobby.kind, RoomKind::Public);
    assert_eq!(lobby.owner_id, None);
    let event = make_event(store, "Roomy", 10, 2).await;
    let name = coliseum_protocol::validate::event_room(&event.id);
    let room = store.room(&name).await.expect("room").expect("event room");
    assert_eq!(room.kind, RoomKind::Event);
    assert_eq!(room.topic, event.name);
    assert_eq!(room.name, name);
    for missing in [
        "event-999999999",
        "event-ffffffffffffffffffffffff",
        "event-",
        "nope-room",
    ] {
        assert_eq!(store.room(missing).await.expect("room"), None, "{missing}");
    }
    finish(test).await;
}

/// Creating a room makes the creator its owner and only member; a taken
/// name (or `lobby`) is `Conflict("room")` and changes nothing.
pub async fn room_create_owner_and_conflict(test: TestStore) {
    let store = test.store.as_ref();
    let owner = make_user(store, "owner").await;
    let other = make_user(store, "other").await;
    let name = make_room(store, "hall-", &owner).await;
    let room = store.room(&name).await.expect("room").expect("created");
    assert_eq!(room.kind, RoomKind::Public);
    assert_eq!(room.owner_id.as_deref(), Some(owner.id.as_str()));
    assert_eq!(room.topic, format!("about {name}"));
    assert_eq!(room.slow_mode_seconds, 0);
    let members = store.room_members(&name).await.expect("members");
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].role, RoomRole::Owner);
    assert_eq!(members[0].username, owner.username);
    for taken in [name.as_str(), "lobby"] {
        let again = store
            .create_room(NewRoom {
                name: taken.to_owned(),
                topic: String::new(),
                owner_id: other.id.clone(),
                created_at: at(1),
            })
            .await;
        assert_eq!(
            again,
            Err(StoreError::Conflict("room".to_owned())),
            "{taken}"
        );
    }
    let members = store.room_members(&name).await.expect("members");
    assert_eq!(members.len(), 1, "the refused creation added nobody");
    finish(test).await;
}

/// Every account is a member of `lobby`; joining and leaving other rooms is
/// idempotent and shows in `membership` and `rooms_of_user`.
pub async fn memberships_join_leave_and_lobby(test: TestStore) {
    let store = test.store.as_ref();
    let owner = make_user(store, "owner").await;
    let user = make_user(store, "joiner").await;
    let lobby = store
        .membership("lobby", &user.id)
        .await
        .expect("membership")
        .expect("everyone is in lobby");
    assert_eq!(lobby.role, RoomRole::Member);
    assert_eq!(lobby.read_seq, 0);
    assert_eq!(lobby.username, user.username);
    // Nobody joins or leaves lobby: both change nothing.
    assert!(
        !store
            .join_room("lobby", &user.id, RoomRole::Member)
            .await
            .expect("join lobby")
    );
    assert!(
        !store
            .leave_room("lobby", &user.id)
            .await
            .expect("leave lobby")
    );
    assert!(
        store
            .membership("lobby", &user.id)
            .await
            .expect("m")
            .is_some()
    );
    let a = make_room(store, "aa-", &owner).await;
    let b = make_room(store, "bb-", &owner).await;
    assert_eq!(store.membership(&a, &user.id).await.expect("m"), None);
    assert!(
        store
            .join_room(&b, &user.id, RoomRole::Member)
            .await
            .expect("join")
    );
    assert!(
        store
            .join_room(&a, &user.id, RoomRole::Member)
            .await
            .expect("join")
    );
    assert!(
        !store
            .join_room(&a, &user.id, RoomRole::Member)
            .await
            .expect("again")
    );
    let mut expected = vec!["lobby".to_owned(), a.clone(), b.clone()];
    expected[1..].sort();
    assert_eq!(
        store.rooms_of_user(&user.id).await.expect("rooms"),
        expected
    );
    assert!(store.leave_room(&a, &user.id).await.expect("leave"));
    assert!(!store.leave_room(&a, &user.id).await.expect("leave again"));
    assert_eq!(store.membership(&a, &user.id).await.expect("m"), None);
    assert_eq!(
        store.rooms_of_user(&user.id).await.expect("rooms"),
        ["lobby".to_owned(), b.clone()]
    );
    // Event rooms are joined like public ones.
    let event = make_event(store, "Joinable", 5, 1).await;
    let event_room = coliseum_protocol::validate::event_room(&event.id);
    assert!(
        store
            .join_room(&event_room, &user.id, RoomRole::Member)
            .await
            .expect("join")
    );
    assert!(
        store
            .membership(&event_room, &user.id)
            .await
            .expect("m")
            .is_some()
    );
    // lobby lists every account.
    let everyone: Vec<String> = store
        .room_members("lobby")
        .await
        .expect("lobby members")
        .into_iter()
        .map(|m| m.username)
        .collect();
    assert!(everyone.contains(&owner.username) && everyone.contains(&user.username));
    finish(test).await;
}

/// Owner first, then moderators, then members, by name within each.
pub async fn room_members_are_ordered_by_role_then_name(test: TestStore) {
    let store = test.store.as_ref();
    let owner = make_user(store, "zz-owner").await;
    let room = make_room(store, "ordered-", &owner).await;
    let mut users = Vec::new();
    for prefix in ["m-c", "m-a", "m-b"] {
        let user = make_user(store, prefix).await;
        store
            .join_room(&room, &user.id, RoomRole::Member)
            .await
            .expect("join");
        users.push(user);
    }
    store
        .set_room_role(&room, &users[0].id, RoomRole::Moderator)
        .await
        .expect("promote");
    let members = store.room_members(&room).await.expect("members");
    let seen: Vec<(String, RoomRole)> = members.into_iter().map(|m| (m.username, m.role)).collect();
    assert_eq!(
        seen,
        [
            (owner.username.clone(), RoomRole::Owner),
            (users[0].username.clone(), RoomRole::Moderator),
            (users[1].username.clone(), RoomRole::Member),
            (users[2].username.clone(), RoomRole::Member),
        ]
    );
    let stranger = make_user(store, "stranger").await;
    assert_eq!(
        store
            .set_room_role(&room, &stranger.id, RoomRole::Moderator)
            .await,
        Err(StoreError::NotFound)
    );
    finish(test).await;
}

/// Many concurrent first messages between the same two users make one
/// direct room with both as members, whichever order they name each other
/// in; it is listed for them and for nobody else.
pub async fn direct_room_is_created_once_under_concurrency(test: TestStore) {
    const RACERS: usize = 16;
    let store = Arc::clone(&test.store);
    let a = make_user(store.as_ref(), "dm-a").await;
    let b = make_user(store.as_ref(), "dm-b").await;
    let c = make_user(store.as_ref(), "dm-c").await;
    let name = coliseum_protocol::validate::direct_room(&a.username, &b.username);
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = JoinSet::new();
    for n in 0..RACERS {
        let (store, barrier, name) = (Arc::clone(&store), Arc::clone(&barrier), name.clone());
        let (x, y) = if n % 2 == 0 {
            (a.id.clone(), b.id.clone())
        } else {
            (b.id.clone(), a.id.clone())
        };
        tasks.spawn(async move {
            barrier.wait().await;
            store
                .direct_room(&x, &y, &name, coliseum_store::now())
                .await
        });
    }
    let mut names = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let room = joined.expect("task").expect("direct_room");
        assert_eq!(room.kind, RoomKind::Direct);
        names.push(room.name);
    }
    assert!(names.iter().all(|n| *n == name), "{names:?}");
    let room = store.room(&name).await.expect("room").expect("direct room");
    let mut pair = [a.id.clone(), b.id.clone()];
    pair.sort();
    assert_eq!(room.direct, Some((pair[0].clone(), pair[1].clone())));
    let members: Vec<String> = store
        .room_members(&name)
        .await
        .expect("members")
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    assert_eq!(members.len(), 2);
    assert!(members.contains(&a.id) && members.contains(&b.id));
    // A later call with another name (say after a rename) finds the same room.
    let again = store
        .direct_room(&b.id, &a.id, "dm:renamed:other", coliseum_store::now())
        .await
        .expect("again");
    assert_eq!(again.name, name);
    let listed = |rooms: Vec<coliseum_protocol::RoomInfo>| rooms.iter().any(|r| r.room == name);
    assert!(listed(
        store.room_list(&a.id, &a.username).await.expect("list a")
    ));
    assert!(listed(
        store.room_list(&b.id, &b.username).await.expect("list b")
    ));
    assert!(!listed(
        store.room_list(&c.id, &c.username).await.expect("list c")
    ));
    drop(store);
    finish(test).await;
}

/// Unread counts what came after the read marker, without the reader's own
/// and deleted messages; mentions count `@username` in any case; the
/// marker never moves back; `room_list` carries members and `last_seq`.
pub async fn read_markers_and_unread_counts(test: TestStore) {
    let store = test.store.as_ref();
    let owner = make_user(store, "reader").await;
    let other = make_user(store, "writer").await;
    let room = make_room(store, "news-", &owner).await;
    store
        .join_room(&room, &other.id, RoomRole::Member)
        .await
        .expect("join");
    let mention = format!("hi @{}!", owner.username.to_ascii_uppercase());
    say(store, &room, Some(&other.username), "one").await;
    say(store, &room, Some(&owner.username), "my own").await;
    let third = say(store, &room, Some(&other.username), &mention).await;
    say(store, &room, None, "system news").await;
    let info = |rooms: Vec<coliseum_protocol::RoomInfo>| {
        rooms
            .into_iter()
            .find(|r| r.room == room)
            .unwrap_or_else(|| panic!("{room} not listed"))
    };
    let seen = info(
        store
            .room_list(&owner.id, &owner.username)
            .await
            .expect("list"),
    );
    assert_eq!(seen.kind, RoomKind::Public);
    assert!(seen.joined);
    assert_eq!(seen.members, 2);
    assert_eq!(seen.last_seq, 4);
    assert_eq!(
        (seen.unread, seen.mentions),
        (3, 1),
        "own message not counted"
    );
    assert_eq!(store.mark_read(&room, &owner.id, 2).await.expect("mark"), 2);
    let seen = info(
        store
            .room_list(&owner.id, &owner.username)
            .await
            .expect("list"),
    );
    assert_eq!((seen.unread, seen.mentions), (2, 1));
    store
        .delete_message(&room, third.seq, at(5))
        .await
        .expect("delete");
    let seen = info(
        store
            .room_list(&owner.id, &owner.username)
            .await
            .expect("list"),
    );
    assert_eq!(
        (seen.unread, seen.mentions),
        (1, 0),
        "deleted messages are not unread"
    );
    assert_eq!(
        store
            .mark_read(&room, &owner.id, 1)
            .await
            .expect("mark back"),
        2,
        "never moves back"
    );
    assert_eq!(
        store
            .mark_read(&room, &owner.id, 4)
            .await
            .expect("mark all"),
        4
    );
    let seen = info(
        store
            .room_list(&owner.id, &owner.username)
            .await
            .expect("list"),
    );
    assert_eq!((seen.unread, seen.mentions), (0, 0));
    // A non-member sees the room, not joined, with nothing unread.
    let stranger = make_user(store, "stranger").await;
    let seen = info(
        store
            .room_list(&stranger.id, &stranger.username)
            .await
            .expect("list"),
    );
    assert!(!seen.joined);
    assert_eq!((seen.unread, seen.mentions, seen.last_seq), (0, 0, 4));
    assert_eq!(
        store.mark_read(&room, &stranger.id, 4).await,
        Err(StoreError::NotFound)
    );
    // lobby markers are stored too, for every account.
    say(store, "lobby", Some(&other.username), "lobby news").await;
    let lobby = store
        .room_list(&stranger.id, &stranger.username)
        .await
        .expect("list");
    assert_eq!(lobby[0].room, "lobby", "lobby comes first");
    assert!(lobby[0].joined && lobby[0].unread >= 1);
    let last = lobby[0].last_seq;
    assert_eq!(
        store
            .mark_read("lobby", &stranger.id, last)
            .await
            .expect("mark"),
        last
    );
    let lobby = store
        .room_list(&stranger.id, &stranger.username)
        .await
        .expect("list");
    assert_eq!(lobby[0].unread, 0);
    finish(test).await;
}

/// Writers append while the reader moves its marker: at the end, unread is
/// exactly the messages after the final marker.
pub async fn unread_counts_with_concurrent_writers(test: TestStore) {
    const WRITERS: usize = 8;
    const EACH: usize = 10;
    let store = Arc::clone(&test.store);
    let reader = make_user(store.as_ref(), "u-reader").await;
    let room = make_room(store.as_ref(), "busy-", &reader).await;
    let barrier = Arc::new(Barrier::new(WRITERS + 1));
    let mut tasks = JoinSet::new();
    for n in 0..WRITERS {
        let writer = make_user(store.as_ref(), "u-writer").await;
        store
            .join_room(&room, &writer.id, RoomRole::Member)
            .await
            .expect("join");
        let (store, barrier, room) = (Arc::clone(&store), Arc::clone(&barrier), room.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            for i in 0..EACH {
                say(
                    store.as_ref(),
                    &room,
                    Some(&writer.username),
                    &format!("w{n} m{i}"),
                )
                .await;
            }
        });
    }
    let marker = {
        let (store, barrier, room, reader) = (
            Arc::clone(&store),
            Arc::clone(&barrier),
            room.clone(),
            reader.clone(),
        );
        tokio::spawn(async move {
            barrier.wait().await;
            let mut marker = 0;
            for _ in 0..10 {
                let history = store.chat_history(&room, None, 1).await.expect("history");
                if let Some(last) = history.last() {
                    marker = store
                        .mark_read(&room, &reader.id, last.seq)
                        .await
                        .expect("mark");
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            marker
        })
    };
    while let Some(done) = tasks.join_next().await {
        done.expect("writer");
    }
    let marker = marker.await.expect("reader");
    let total = (WRITERS * EACH) as u64;
    let listed = store
        .room_list(&reader.id, &reader.username)
        .await
        .expect("list")
        .into_iter()
        .find(|r| r.room == room)
        .expect("listed");
    assert_eq!(listed.last_seq, total);
    assert_eq!(listed.unread, total - marker, "marker {marker}");
    drop(store);
    finish(test).await;
}

/// Edits replace the text and stamp `edited_at`; deletions erase the text
/// and keep the `seq`; neither applies to a deleted or missing message.
/// Only the author may edit; the author, the room's moderators and admins
/// may delete (`may_edit` / `may_delete` over stored records).
pub async fn edits_deletions_and_their_rights(test: TestStore) {
    let store = test.store.as_ref();
    let owner = make_user(store, "e-owner").await;
    let author = make_user(store, "e-author").await;
    let member = make_user(store, "e-member").await;
    let room = make_room(store, "edits-", &owner).await;
    for user in [&author, &member] {
        store
            .join_room(&room, &user.id, RoomRole::Member)
            .await
            .expect("join");
    }
    let first = say(store, &room, Some(&author.username), "frist").await;
    let edited = store
        .edit_message(&room, first.seq, "first".to_owned(), at(10))
        .await
        .expect("edit");
    assert_eq!(edited.text, "first");
    assert_eq!(edited.edited_at, Some(at(10)));
    assert!(!edited.deleted);
    assert_eq!(
        store.message(&room, first.seq).await.expect("message"),
        Some(edited.clone())
    );
    let author_m = store.membership(&room, &author.id).await.expect("m");
    let member_m = store.membership(&room, &member.id).await.expect("m");
    let owner_m = store.membership(&room, &owner.id).await.expect("m");
    assert!(coliseum_store::may_edit(&edited, &author.username));
    assert!(!coliseum_store::may_edit(&edited, &member.username));
    assert!(!coliseum_store::may_edit(&edited, &owner.username));
    assert!(coliseum_store::may_delete(
        &edited,
        &author.username,
        Role::User,
        author_m.as_ref()
    ));
    assert!(!coliseum_store::may_delete(
        &edited,
        &member.username,
        Role::User,
        member_m.as_ref()
    ));
    assert!(coliseum_store::may_delete(
        &edited,
        &owner.username,
        Role::User,
        owner_m.as_ref()
    ));
    assert!(coliseum_store::may_delete(
        &edited,
        &member.username,
        Role::Admin,
        None
    ));
    store
        .set_room_role(&room, &member.id, RoomRole::Moderator)
        .await
        .expect("promote");
    let member_m = store.membership(&room, &member.id).await.expect("m");
    assert!(coliseum_store::may_delete(
        &edited,
        &member.username,
        Role::User,
        member_m.as_ref()
    ));
    let deleted = store
        .delete_message(&room, first.seq, at(20))
        .await
        .expect("delete");
    assert!(deleted.deleted);
    assert_eq!(deleted.text, "");
    assert_eq!(deleted.edited_at, Some(at(20)));
    assert!(!coliseum_store::may_edit(&deleted, &author.username));
    assert!(!coliseum_store::may_delete(
        &deleted,
        &owner.username,
        Role::Admin,
        None
    ));
    assert_eq!(
        store
            .edit_message(&room, first.seq, "again".to_owned(), at(30))
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.delete_message(&room, first.seq, at(30)).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.delete_message(&room, 99, at(30)).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.message(&room, 99).await.expect("message"), None);
    let next = say(store, &room, Some(&author.username), "second").await;
    assert_eq!(next.seq, first.seq + 1, "a deleted message keeps its seq");
    let history = store.chat_history(&room, None, 10).await.expect("history");
    assert_eq!(history.len(), 2);
    assert!(history[0].deleted && history[0].text.is_empty());
    assert_eq!(history[1].text, "second");
    finish(test).await;
}

/// System messages have no sender and are flagged.
pub async fn system_messages_have_no_sender(test: TestStore) {
    let store = test.store.as_ref();
    let event = make_event(store, "Newsy", 10, 2).await;
    let room = coliseum_protocol::validate::event_room(&event.id);
    let stored = say(store, &room, None, "Tickets are on sale").await;
    assert_eq!(stored.from, None);
    assert!(stored.system);
    let history = store.chat_history(&room, None, 10).await.expect("history");
    assert_eq!(history, [stored]);
    finish(test).await;
}

/// Mutes lapse by themselves, can be lifted and outlive a membership;
/// lobby mutes work for any account; slow mode is stored for public, event rooms and lobby; bans
/// are stored on the account and lifted.
pub async fn mutes_slow_mode_and_bans_are_stored(test: TestStore) {
    let store = test.store.as_ref();
    let owner = make_user(store, "mu-owner").await;
    let user = make_user(store, "mu-user").await;
    let room = make_room(store, "quiet-", &owner).await;
    store
        .join_room(&room, &user.id, RoomRole::Member)
        .await
        .expect("join");
    for target in [room.as_str(), "lobby"] {
        store
            .set_mute(target, &user.id, Some(at(60_000)))
            .await
            .expect("mute");
        let member = store
            .membership(target, &user.id)
            .await
            .expect("m")
            .expect("member");
        assert_eq!(member.muted_until, Some(at(60_000)), "{target}");
        assert!(member.muted_at(at(59_999)));
        assert!(!member.muted_at(at(60_000)), "a mute lapses by itself");
        store
            .set_mute(target, &user.id, None)
            .await
            .expect("unmute");
        let member = store
            .membership(target, &user.id)
            .await
            .expect("m")
            .expect("member");
        assert_eq!(member.muted_until, None);
    }
    let event = make_event(store, "Slow", 10, 2).await;
    let event_room = coliseum_protocol::validate::event_room(&event.id);
    for target in [room.as_str(), "lobby", event_room.as_str()] {
        store.set_slow_mode(target, 30).await.expect("slow mode");
        let stored = store.room(target).await.expect("room").expect("exists");
        assert_eq!(stored.slow_mode_seconds, 30, "{target}");
        store.set_slow_mode(target, 0).await.expect("off");
        let stored = store.room(target).await.expect("room").expect("exists");
        assert_eq!(stored.slow_mode_seconds, 0, "{target}");
    }
    let event_stored = store
        .room(&event_room)
        .await
        .expect("room")
        .expect("exists");
    assert_eq!(event_stored.kind, RoomKind::Event, "settings keep the kind");
    assert_eq!(event_stored.topic, event.name);
    assert_eq!(
        store.set_slow_mode("no-such-room", 5).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store
            .user_by_id(&user.id)
            .await
            .expect("user")
            .expect("u")
            .banned_until,
        None
    );
    store.set_ban(&user.id, Some(at(1000))).await.expect("ban");
    let banned = store.user_by_id(&user.id).await.expect("user").expect("u");
    assert_eq!(banned.banned_until, Some(at(1000)));
    assert!(banned.banned_at(at(999)) && !banned.banned_at(at(1000)));
    store
        .set_ban(&user.id, Some(coliseum_store::BAN_FOREVER))
        .await
        .expect("ban forever");
    let banned = store
        .user_by_username(&user.username)
        .await
        .expect("user")
        .expect("u");
    assert_eq!(banned.banned_until, Some(coliseum_store::BAN_FOREVER));
    store.set_ban(&user.id, None).await.expect("unban");
    let lifted = store.user_by_id(&user.id).await.expect("user").expect("u");
    assert_eq!(lifted.banned_until, None);
    let unknown = if store.backend() == "sqlite" {
        "999999999"
    } else {
        "ffffffffffffffffffffffff"
    };
    assert_eq!(
        store.set_ban(unknown, None).await,
        Err(StoreError::NotFound)
    );
    // Leaving drops the read marker, but a mute outlives the membership:
    // leaving and joining again does not lift it.
    store
        .set_mute(&room, &user.id, Some(at(60_000)))
        .await
        .expect("mute");
    store.mark_read(&room, &user.id, 0).await.expect("mark");
    assert!(store.leave_room(&room, &user.id).await.expect("leave"));
    store
        .join_room(&room, &user.id, RoomRole::Member)
        .await
        .expect("rejoin");
    let member = store
        .membership(&room, &user.id)
        .await
        .expect("m")
        .expect("member");
    assert_eq!((member.muted_until, member.read_seq), (Some(at(60_000)), 0));
    finish(test).await;
}
