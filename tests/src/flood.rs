//! Slow readers: a client that logs in and then never reads, and a writer
//! flooding the chat until the server drops it (`wire.rs`, `resources.rs`).

use coliseum_client::{Client, Pushes};
use coliseum_protocol::Push;
use serde_json::json;

use crate::raw::RawConn;
use crate::{TestServer, WAIT, expect_push};

/// Registers and logs in `name` (password `slow-password`) over a raw
/// connection whose receive buffer is ~4 KiB; the test then never reads it.
///
/// # Panics
/// If a step fails.
pub async fn slow_reader(server: &TestServer, name: &str) -> RawConn {
    let (mut slow, _) = RawConn::connect_with_recv_buffer(server.addr(), 4096).await;
    slow.send_json(&json!({"id":1,"op":"register","username":name,"password":"slow-password","email":format!("{name}@example.com")}))
        .await;
    assert_eq!(slow.response().await["ok"], json!(true), "register {name}");
    slow.send_json(&json!({"id":2,"op":"login","username":name,"password":"slow-password"}))
        .await;
    assert_eq!(slow.response().await["ok"], json!(true), "login {name}");
    slow
}

/// What [`flood_until_dropped`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flood {
    /// Chat messages sent (and received by the reader, in order).
    pub sent: u64,
    /// The reader was told (`presence`, offline) that the slow user left.
    pub dropped: bool,
}

/// `writer` sends `text` to the lobby in rounds of 20 until `reader`'s
/// pushes say that `slow_user` went offline, or `max_messages` are sent;
/// then waits until `reader` got every message, and (at most [`WAIT`]) for
/// that presence push if it has not come yet.
///
/// # Panics
/// If a send fails, or `reader` misses a message or gets one out of order.
pub async fn flood_until_dropped(
    writer: &Client,
    reader: &mut Pushes,
    text: &str,
    slow_user: &str,
    max_messages: u64,
) -> Flood {
    let mut flood = Flood {
        sent: 0,
        dropped: false,
    };
    let mut seen = 0_u64;
    let check = |push: Push, flood: &mut Flood, seen: &mut u64| match push {
        Push::Chat(message) => {
            assert_eq!(message.seq, *seen + 1, "in order, none missing");
            *seen = message.seq;
        }
        Push::Presence {
            user,
            online: false,
            ..
        } if user == slow_user => flood.dropped = true,
        _ => {}
    };
    while !flood.dropped && flood.sent < max_messages {
        let sends: Vec<_> = (0..20).map(|_| writer.chat_send(None, text)).collect();
        for result in futures::future::join_all(sends).await {
            result.expect("the writer is never held up");
            flood.sent += 1;
        }
        while let Ok(push) = reader.try_recv() {
            check(push, &mut flood, &mut seen);
        }
    }
    while seen < flood.sent {
        let push = expect_push(reader, |_| true).await;
        check(push, &mut flood, &mut seen);
    }
    if !flood.dropped {
        let gone =
            |p: &Push| matches!(p, Push::Presence { user, online: false, .. } if user == slow_user);
        flood.dropped = tokio::time::timeout(WAIT, async {
            while let Some(push) = reader.recv().await {
                if gone(&push) {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
    }
    flood
}
