//! MongoDB-specific room behaviour beyond the shared conformance suite: the
//! stored shapes, documents written before the rooms issue, a direct-room
//! name taken by another pair, and literal mentions.

mod common;

use coliseum_protocol::{Role, RoomKind, RoomRole};
use coliseum_store::{NewMessage, NewRoom, NewUser, Store, StoreError, User};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_owned(),
        email: format!("{name}@example.test"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash".to_owned(),
        role: Role::User,
        created_at: coliseum_store::now(),
    }
}

async fn user(store: &dyn Store, name: &str) -> User {
    store
        .create_user(new_user(name))
        .await
        .expect("create_user")
}

async fn say(store: &dyn Store, room: &str, from: Option<&str>, text: &str) -> u64 {
    store
        .append_message(NewMessage {
            room: room.to_owned(),
            from: from.map(str::to_owned),
            text: text.to_owned(),
            sent_at: coliseum_store::now(),
        })
        .await
        .expect("append_message")
        .seq
}

/// Users and messages stored before bans, system messages, edits and
/// deletions existed read as before (no ban, plain messages), and can be
/// edited, deleted and counted.
#[tokio::test]
async fn documents_written_before_rooms_still_read() {
    let Some((store, guard)) = common::fresh_store().await else {
        return;
    };
    let client = common::raw_client(&guard.uri).await;
    let db = client.database(&guard.name);
    let id = ObjectId::new();
    db.collection::<Document>("users")
        .insert_one(doc! {
            "_id": id,
            "username": "Old",
            "username_lc": "old",
            "email": "old@example.test",
            "email_lc": "old@example.test",
            "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash",
            "role": "user",
            "created_at": mongodb::bson::DateTime::from_millis(1_000),
        })
        .await
        .expect("insert old user");
    let old = store
        .user_by_id(&id.to_hex())
        .await
        .expect("read")
        .expect("old user");
    assert_eq!(old.banned_until, None);
    db.collection::<Document>("counters")
        .insert_one(doc! { "_id": "room:lobby", "seq": 1_i64 })
        .await
        .expect("insert counter");
    db.collection::<Document>("messages")
        .insert_one(doc! {
            "_id": ObjectId::new(),
            "room": "lobby",
            "seq": 1_i64,
            "from": "someone",
            "text": "hello @old",
            "sent_at": mongodb::bson::DateTime::from_millis(2_000),
        })
        .await
        .expect("insert old message");
    let history = store
        .chat_history("lobby", None, 10)
        .await
        .expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].from.as_deref(), Some("someone"));
    assert!(!history[0].system && !history[0].deleted);
    let lobby = &store.room_list(&old.id, "Old").await.expect("list")[0];
    assert_eq!(
        (lobby.room.as_str(), lobby.unread, lobby.mentions),
        ("lobby", 1, 1)
    );
    let edited = store
        .edit_message("lobby", 1, "hi".to_owned(), coliseum_store::now())
        .await
        .expect("edit old message");
    assert_eq!(edited.text, "hi");
    assert_eq!(say(&store, "lobby", Some("Old"), "next").await, 2);
    client.shutdown().await;
    assert_eq!(store.close().await, Ok(()));
}

/// What the room collections hold: rooms by name with a `direct_key` for
/// direct rooms, memberships and mutes with ObjectId user ids, system
/// messages with a null sender, deleted messages without text, bans as
/// dates (and gone when lifted).
#[tokio::test]
async fn room_documents_have_the_documented_shape() {
    let Some((store, guard)) = common::fresh_store().await else {
        return;
    };
    let ada = user(&store, "Ada").await;
    let bob = user(&store, "Bob").await;
    store
        .create_room(NewRoom {
            name: "hall".to_owned(),
            topic: "t".to_owned(),
            owner_id: ada.id.clone(),
            created_at: coliseum_store::now(),
        })
        .await
        .expect("create_room");
    let direct = store
        .direct_room(&bob.id, &ada.id, "dm:ada:bob", coliseum_store::now())
        .await
        .expect("direct_room");
    store
        .set_mute("hall", &bob.id, Some(coliseum_store::BAN_FOREVER))
        .await
        .expect("mute");
    store
        .set_ban(&bob.id, Some(coliseum_store::now()))
        .await
        .expect("ban");
    say(&store, "hall", None, "news").await;
    let seq = say(&store, "hall", Some("Ada"), "oops").await;
    store
        .delete_message("hall", seq, coliseum_store::now())
        .await
        .expect("delete");

    let client = common::raw_client(&guard.uri).await;
    let db = client.database(&guard.name);
    let one = |collection: &'static str, filter: Document| {
        let db = db.clone();
        async move {
            db.collection::<Document>(collection)
                .find_one(filter)
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("no document in {collection}"))
        }
    };
    let room = one("rooms", doc! { "_id": "hall" }).await;
    assert_eq!(room.get_str("kind"), Ok("public"));
    assert!(room.get_object_id("owner_id").is_ok());
    assert!(!room.contains_key("direct_key"));
    let mut pair = [ada.id.clone(), bob.id.clone()];
    pair.sort();
    let stored = one("rooms", doc! { "_id": &direct.name }).await;
    assert_eq!(stored.get_str("kind"), Ok("direct"));
    assert_eq!(stored.get_str("direct_key"), Ok(pair.join(":").as_str()));
    let owner = one("memberships", doc! { "room": "hall" }).await;
    assert_eq!(owner.get_str("role"), Ok("owner"));
    assert!(owner.get_object_id("user_id").is_ok());
    assert_eq!(owner.get_i64("read_seq"), Ok(0));
    let mute = one("mutes", doc! { "room": "hall" }).await;
    assert!(mute.get_datetime("until").is_ok());
    let system = one("messages", doc! { "room": "hall", "seq": 1_i64 }).await;
    assert_eq!(system.get("from"), Some(&Bson::Null));
    assert_eq!(system.get_bool("system"), Ok(true));
    let deleted = one("messages", doc! { "room": "hall", "seq": 2_i64 }).await;
    assert_eq!(deleted.get_bool("deleted"), Ok(true));
    assert_eq!(deleted.get_str("text"), Ok(""));
    assert!(deleted.get_datetime("edited_at").is_ok());
    let banned = one("users", doc! { "username_lc": "bob" }).await;
    assert!(banned.get_datetime("banned_until").is_ok());
    store.set_ban(&bob.id, None).await.expect("unban");
    let lifted = one("users", doc! { "username_lc": "bob" }).await;
    assert!(!lifted.contains_key("banned_until"));
    let names = store.collection_names().await.expect("collections");
    for expected in ["memberships", "mutes", "rooms"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    client.shutdown().await;
    assert_eq!(store.close().await, Ok(()));
}

/// After a rename, a new pair may ask for a direct-room name an older pair
/// already holds: it gets `<name>:2`, and each pair keeps its own room.
#[tokio::test]
async fn a_direct_room_name_held_by_another_pair_gets_a_suffix() {
    let Some((store, _guard)) = common::fresh_store().await else {
        return;
    };
    let (a, b, c, d) = (
        user(&store, "a1").await,
        user(&store, "b1").await,
        user(&store, "c1").await,
        user(&store, "d1").await,
    );
    let now = coliseum_store::now();
    let first = store
        .direct_room(&a.id, &b.id, "dm:x:y", now)
        .await
        .expect("first");
    let second = store
        .direct_room(&c.id, &d.id, "dm:x:y", now)
        .await
        .expect("second");
    assert_eq!(first.name, "dm:x:y");
    assert_eq!(second.name, "dm:x:y:2");
    assert_eq!(second.kind, RoomKind::Direct);
    let again = store
        .direct_room(&d.id, &c.id, "dm:x:y", now)
        .await
        .expect("again");
    assert_eq!(again.name, "dm:x:y:2");
    let members = store.room_members("dm:x:y:2").await.expect("members");
    let mut ids: Vec<String> = members.into_iter().map(|m| m.user_id).collect();
    ids.sort();
    let mut expected = vec![c.id.clone(), d.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    // The direct room's topic in `rooms` is the other member's name.
    let listed = store.room_list(&c.id, &c.username).await.expect("list");
    let entry = listed
        .iter()
        .find(|r| r.room == "dm:x:y:2")
        .expect("listed");
    assert_eq!(entry.topic, d.username);
    assert!(!listed.iter().any(|r| r.room == "dm:x:y"));
    assert_eq!(
        store.direct_room(&a.id, &a.id, "dm:a1:a1", now).await,
        Err(StoreError::NotFound),
        "a direct room needs two users"
    );
    assert_eq!(store.close().await, Ok(()));
}

/// A username is matched literally in mentions (its `.` is no wildcard);
/// lobby membership is implicit: joining or leaving it changes nothing, and
/// unknown accounts have none.
#[tokio::test]
async fn mentions_are_literal_and_lobby_membership_is_implicit() {
    let Some((store, _guard)) = common::fresh_store().await else {
        return;
    };
    let reader = user(&store, "r.x").await;
    let writer = user(&store, "w1").await;
    say(&store, "lobby", Some("w1"), "hi @R.X").await;
    say(&store, "lobby", Some("w1"), "hi @rax").await;
    let lobby = &store
        .room_list(&reader.id, &reader.username)
        .await
        .expect("list")[0];
    assert_eq!((lobby.unread, lobby.mentions, lobby.members), (2, 1, 2));
    assert!(
        !store
            .join_room("lobby", &reader.id, RoomRole::Member)
            .await
            .expect("join")
    );
    assert!(!store.leave_room("lobby", &reader.id).await.expect("leave"));
    store
        .set_room_role("lobby", &writer.id, RoomRole::Moderator)
        .await
        .expect("lobby role");
    let members = store.room_members("lobby").await.expect("members");
    assert_eq!(members[0].user_id, writer.id, "moderators first");
    let unknown = ObjectId::new().to_hex();
    assert_eq!(store.membership("lobby", &unknown).await, Ok(None));
    assert_eq!(
        store.mark_read("lobby", &unknown, 1).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store
            .set_room_role("lobby", &unknown, RoomRole::Member)
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.close().await, Ok(()));
}
