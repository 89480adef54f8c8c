//! Resource bounds seen from outside (issue 12): a client that stops
//! reading is dropped once 1 MiB waits for it, and many clients leaving at
//! once cause presence pushes linear in the clients, not quadratic.

use std::collections::BTreeSet;

use coliseum_protocol::Push;
use coliseum_server::ServerConfig;
use coliseum_tests::flood::{flood_until_dropped, slow_reader};
use coliseum_tests::{Options, expect_push, start_server, start_server_with};
use serde_json::json;

/// Chat text of 2,000 four-byte characters: an ~8 KB push, the size of the
/// issue's measurement.
fn big_text() -> String {
    "🏟".repeat(2000)
}

#[tokio::test]
async fn a_reader_that_stops_is_dropped_once_its_queue_passes_a_mebibyte() {
    assert_eq!(ServerConfig::default().outbound_queue_bytes, 1024 * 1024);
    let server = start_server_with(Options {
        // So many frames that only the byte bound can trip.
        outbound_queue: 1_000_000,
        // The writer floods the chat on purpose.
        tune: |c| c.chat_rate = 0,
        ..Options::default()
    })
    .await;
    let (writer, _writer_pushes, _) = server.user("writer").await;
    let (fast, mut fast_pushes, _) = server.user("fast").await;
    let mut slow = slow_reader(&server, "slow").await;

    // ~8 KB chat pushes until the server drops the slow client (the others
    // learn it from a presence push), while the fast client gets every
    // message in order. The socket buffers take a few MiB; past them 1 MiB
    // of queue, so the drop comes long before 2,000 messages (16 MB),
    // whereas the frame bound alone would allow 8 GB.
    let flood = flood_until_dropped(&writer, &mut fast_pushes, &big_text(), "slow", 2000).await;
    assert!(flood.dropped, "not dropped after {} messages", flood.sent);
    let sent = flood.sent;
    assert!(!writer.is_closed() && !fast.is_closed());
    assert_eq!(
        fast.online().await.expect("online").users,
        ["fast", "writer"]
    );
    // The slow socket really was closed, with messages it never got.
    let chats_received = slow
        .frames_until_closed()
        .await
        .iter()
        .filter(|frame| frame["push"] == json!("chat"))
        .count();
    assert!(
        u64::try_from(chats_received).is_ok_and(|received| received < sent),
        "{chats_received} of {sent} messages reached the slow client"
    );
}

/// Applies a presence push to `view` (the users online as a client sees
/// them); other pushes are ignored.
fn apply(view: &mut BTreeSet<String>, push: &Push) {
    if let Push::Presence { user, online, .. } = push {
        if *online {
            view.insert(user.clone());
        } else {
            view.remove(user);
        }
    }
}

#[tokio::test]
async fn clients_leaving_at_once_cause_few_presence_pushes_and_a_right_view() {
    const N: usize = 50;
    let server = start_server().await;
    let (watcher, mut watcher_pushes, _) = server.user("watcher").await;
    let names: Vec<String> = (0..N).map(|i| format!("leaver{i:02}")).collect();
    let leavers = futures::future::join_all(names.iter().map(|name| server.user(name))).await;

    // The watcher's view, built from presence pushes only, reaches everyone.
    let mut view = BTreeSet::from(["watcher".to_owned()]);
    while view.len() < N + 1 {
        let push = expect_push(&mut watcher_pushes, |p| matches!(p, Push::Presence { .. })).await;
        apply(&mut view, &push);
    }
    let before = server.stats().presence_pushes;

    drop(leavers);
    let last = loop {
        let push = expect_push(&mut watcher_pushes, |p| matches!(p, Push::Presence { .. })).await;
        apply(&mut view, &push);
        if view.len() == 1 {
            break push;
        }
    };
    assert_eq!(view, BTreeSet::from(["watcher".to_owned()]));
    assert!(matches!(last, Push::Presence { count: 1, .. }), "{last:?}");
    let online = watcher.online().await.expect("online");
    assert_eq!(
        (online.count, online.users),
        (1, vec!["watcher".to_owned()])
    );

    // One push per departure per remaining client would be up to
    // N × (N − 1) / 2 = 1,225; merged, the target is ≤ 10 per client.
    let pushes = server.stats().presence_pushes - before;
    assert!(
        pushes <= 10 * (N as u64 + 1),
        "{pushes} presence pushes for {N} clients leaving"
    );
}
