//! A lean receive-only connection for `fanout --receivers lean`.
//!
//! `coliseum_client` decodes every frame fully (into a `serde_json::Value`,
//! then into a typed `Push` with its `DateTime`): about 1.5 µs of CPU per
//! chat push on our 2-core machines, which at a million deliveries a second
//! would make the bench, not the server, the bottleneck. A lean receiver
//! speaks the same protocol with the same types (`coliseum_protocol`'s
//! frame codec, `Request`, `decode_server_message` for the handshake) but
//! reads chat pushes by borrowing just `push` and `text` out of the frame,
//! allocating nothing. It can only receive: it never sends after `resume`.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use coliseum_protocol::{
    Op, Push, Request, ServerMessage, decode_server_message, frame_codec, request,
};
use futures::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use crate::error::{BenchError, Result};

/// A connected, logged-in, receive-only connection: the raw frames.
pub type LeanConnection = Framed<TcpStream, LengthDelimitedCodec>;

/// How long the handshake (welcome + resume) may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Only the fields the bench needs; everything else is skipped unparsed.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    push: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

/// The text of a `chat` push frame (borrowed unless it has escapes);
/// `None` for any other frame, or one that is not a JSON object.
#[must_use]
pub fn chat_text(frame: &[u8]) -> Option<Cow<'_, str>> {
    let peek: Peek<'_> = serde_json::from_slice(frame).ok()?;
    if peek.push.as_deref() == Some("chat") {
        peek.text
    } else {
        None
    }
}

/// Connects, checks the welcome, and attaches the session of `token`
/// with `resume` (request id 1), skipping any push that arrives first.
///
/// # Errors
/// [`BenchError::Setup`] on a connect or protocol failure, a refused
/// `resume`, or a handshake longer than [`HANDSHAKE_TIMEOUT`].
pub async fn connect_resumed(addr: SocketAddr, token: &str) -> Result<LeanConnection> {
    crate::setup::tally(addr);
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(addr, token))
        .await
        .map_err(|_| BenchError::Setup(format!("lean handshake with {addr} timed out")))?
}

async fn handshake(addr: SocketAddr, token: &str) -> Result<LeanConnection> {
    let setup = |what: &str, e: &dyn std::fmt::Display| {
        BenchError::Setup(format!("lean connection: {what}: {e}"))
    };
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| setup("connect", &e))?;
    stream.set_nodelay(true).map_err(|e| setup("nodelay", &e))?;
    let mut framed = Framed::new(stream, frame_codec());
    match next_message(&mut framed).await? {
        ServerMessage::Push(Push::Welcome { .. }) => {}
        other => return Err(setup("expected welcome", &format!("{other:?}"))),
    }
    let request = Request {
        id: 1,
        op: Op::Resume(request::Resume {
            token: token.to_owned(),
        }),
    };
    let frame = serde_json::to_vec(&request).map_err(|e| setup("encode", &e))?;
    framed
        .send(Bytes::from(frame))
        .await
        .map_err(|e| setup("send", &e))?;
    loop {
        match next_message(&mut framed).await? {
            ServerMessage::Response {
                id: Some(1),
                result: Ok(_),
            } => return Ok(framed),
            ServerMessage::Response {
                result: Err(body), ..
            } => return Err(setup("resume refused", &body)),
            _ => {}
        }
    }
}

async fn next_message(framed: &mut LeanConnection) -> Result<ServerMessage> {
    let frame = framed
        .next()
        .await
        .ok_or_else(|| BenchError::Setup("lean connection closed during the handshake".into()))?
        .map_err(|e| BenchError::Setup(format!("lean connection: read: {e}")))?;
    decode_server_message(&frame).map_err(|e| BenchError::Setup(format!("lean connection: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use coliseum_protocol::{ChatMessage, encode_push};

    #[test]
    fn chat_text_reads_only_chat_pushes() {
        let chat = encode_push(&Push::Chat(ChatMessage {
            room: "lobby".into(),
            seq: 7,
            from: Some("giulia".into()),
            text: "bk1 0 1 42".into(),
            sent_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("valid"),
            system: false,
            edited_at: None,
            deleted: false,
        }));
        assert_eq!(chat_text(&chat).as_deref(), Some("bk1 0 1 42"));
        let presence = encode_push(&Push::Presence {
            user: "text".into(),
            online: true,
            count: 1,
        });
        assert_eq!(chat_text(&presence), None);
        assert_eq!(
            chat_text(br#"{"id":3,"ok":true,"data":{"text":"x"}}"#),
            None
        );
        assert_eq!(chat_text(b"not json"), None);
        // Escaped text is unescaped (owned), not lost.
        assert_eq!(
            chat_text(br#"{"push":"chat","text":"a \"b\""}"#).as_deref(),
            Some("a \"b\"")
        );
    }
}
