//! Decode cost per push, as every client (the desktop app, the bench's
//! full-decode receivers) pays it: `decode_server_message` on a typical
//! `chat` push and an `event_update` push.
//!
//! `cargo run --release -p coliseum-protocol --example decode_bench [N]`
//! (N frames of each kind, default 1,000,000). Prints ns per frame.

use std::time::Instant;

use coliseum_protocol::{ChatMessage, Push, decode_server_message, encode_push};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let chat = encode_push(&Push::Chat(ChatMessage {
        room: "lobby".to_owned(),
        seq: 123_456,
        from: Some("giulia.rossi".to_owned()),
        text: "bk 3 17 1764712345123456 who is going to the concert tonight?".to_owned(),
        sent_at: chrono::DateTime::from_timestamp_millis(1_764_712_345_123).unwrap_or_default(),
        system: false,
        edited_at: None,
        deleted: false,
    }));
    let update = encode_push(&Push::EventUpdate {
        event_id: "65a1f0c2e4b0a1b2c3d4e5f6".to_owned(),
        available: 1234,
    });
    for (name, frame) in [("chat", &chat), ("event_update", &update)] {
        let start = Instant::now();
        let mut ok = 0u32;
        for _ in 0..n {
            if decode_server_message(std::hint::black_box(frame)).is_ok() {
                ok += 1;
            }
        }
        let per = start.elapsed().as_nanos() as f64 / f64::from(n);
        println!(
            "{name}: {per:.0} ns per frame ({} bytes, {ok} decoded)",
            frame.len()
        );
    }
}
