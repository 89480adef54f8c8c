//! Chat rooms and the audit log.

use coliseum_protocol::ChatMessage;
use coliseum_store::{AuditEntry, NewMessage};

use crate::TestStore;
use crate::support::{at, finish, unique};

/// A message for `room` with a text naming `n`.
fn message(room: &str, n: i64) -> NewMessage {
    NewMessage {
        room: room.to_owned(),
        from: Some("chatter".to_owned()),
        text: format!("message {n}"),
        sent_at: at(n),
    }
}

/// Appends `count` messages to `room` one after another.
async fn append_n(store: &dyn coliseum_store::Store, room: &str, count: i64) -> Vec<ChatMessage> {
    let mut stored = Vec::new();
    for n in 1..=count {
        stored.push(
            store
                .append_message(message(room, n))
                .await
                .expect("append_message"),
        );
    }
    stored
}

/// Each room numbers its messages 1, 2, 3, ... on its own; the stored
/// message carries every field as given.
pub async fn chat_sequence_numbers_per_room(test: TestStore) {
    let store = test.store.as_ref();
    let lobby = unique("lobby-");
    let side = unique("side-");
    let mut lobby_seqs = Vec::new();
    let mut side_seqs = Vec::new();
    for n in 1..=3 {
        let input = message(&lobby, n);
        let stored = store
            .append_message(input.clone())
            .await
            .expect("append lobby");
        assert_eq!(stored.room, input.room);
        assert_eq!(stored.from, input.from);
        assert_eq!(stored.text, input.text);
        assert_eq!(stored.sent_at, input.sent_at, "sent_at round-trips");
        lobby_seqs.push(stored.seq);
        if n <= 2 {
            side_seqs.push(
                store
                    .append_message(message(&side, n))
                    .await
                    .expect("append side")
                    .seq,
            );
        }
    }
    assert_eq!(lobby_seqs, [1, 2, 3]);
    assert_eq!(side_seqs, [1, 2], "rooms are numbered independently");
    finish(test).await;
}

/// `chat_history` returns up to `limit` messages before `before_seq` (all
/// when `None`): the newest such, oldest first, only of the room asked.
pub async fn chat_history_pages_oldest_first(test: TestStore) {
    let store = test.store.as_ref();
    let room = unique("hist-");
    let noise = unique("noise-");
    let stored = append_n(store, &room, 10).await;
    append_n(store, &noise, 3).await;

    let seqs = |page: &[ChatMessage]| page.iter().map(|m| m.seq).collect::<Vec<_>>();
    let newest = store.chat_history(&room, None, 4).await.expect("history");
    assert_eq!(seqs(&newest), [7, 8, 9, 10]);
    assert_eq!(newest, stored[6..].to_vec(), "full records, oldest first");
    let page = store.chat_history(&room, Some(7), 4).await.expect("page 2");
    assert_eq!(seqs(&page), [3, 4, 5, 6]);
    let page = store.chat_history(&room, Some(3), 4).await.expect("page 3");
    assert_eq!(seqs(&page), [1, 2]);
    let page = store.chat_history(&room, Some(1), 4).await.expect("page 4");
    assert_eq!(page, Vec::new(), "nothing before seq 1");
    let all = store.chat_history(&room, None, 200).await.expect("all");
    assert_eq!(all, stored);
    let none = store.chat_history(&room, None, 0).await.expect("limit 0");
    assert_eq!(none, Vec::new());
    let beyond = store
        .chat_history(&room, Some(u64::MAX), 2)
        .await
        .expect("huge before_seq");
    assert_eq!(seqs(&beyond), [9, 10]);
    let empty = store
        .chat_history(&unique("empty-"), None, 50)
        .await
        .expect("unknown room");
    assert_eq!(empty, Vec::new());
    finish(test).await;
}

/// `recent_audit(limit)` returns the newest `limit` entries, oldest first,
/// every field as appended.
pub async fn audit_append_and_recent_order(test: TestStore) {
    let store = test.store.as_ref();
    let tag = unique("audit-");
    let entries: Vec<AuditEntry> = (0..3)
        .map(|i| AuditEntry {
            at: at(i * 10),
            actor: (i != 1).then(|| format!("{tag}-actor{i}")),
            action: if i == 0 { "register" } else { "book" }.to_owned(),
            detail: format!("{{\"tag\":\"{tag}\",\"n\":{i}}}"),
        })
        .collect();
    for entry in &entries {
        store
            .append_audit(entry.clone())
            .await
            .expect("append_audit");
    }
    let recent = store.recent_audit(50).await.expect("recent_audit");
    let mine: Vec<_> = recent
        .iter()
        .filter(|e| e.detail.contains(&tag))
        .cloned()
        .collect();
    assert_eq!(mine, entries, "all fields round-trip, oldest first");
    assert_eq!(recent.last(), entries.last(), "the newest entry is last");
    assert_eq!(
        store.recent_audit(2).await,
        Ok(entries[1..].to_vec()),
        "the newest two, oldest first"
    );
    assert_eq!(store.recent_audit(0).await, Ok(Vec::new()));
    finish(test).await;
}
