//! Chat: `chat_send` and `chat_history`. Messages are stored with a per-room
//! sequence number and pushed as `chat` to every logged-in client, the
//! sender included. Two messages sent at the same moment from different
//! connections may be pushed in either order; clients order by `seq`.
//!
//! Flood control: each user may post `chat_rate` messages per second with
//! bursts of `chat_burst`, across all their connections (token bucket,
//! `crate::limits::ChatLimiter`); a message over it is not stored and gets
//! `rate_limited` with `retry_after_ms` (the connection stays open).

use coliseum_protocol::request::{ChatHistory, ChatSend};
use coliseum_protocol::response::{ChatSendData, MessagesData};
use coliseum_protocol::validate::{self, HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX};
use coliseum_protocol::{DEFAULT_ROOM, ErrorBody, Push};
use coliseum_store::NewMessage;
use std::time::Instant;

use super::session;
use crate::context::{ConnState, Shared};
use crate::errors::{from_store, invalid, rate_limited};
use crate::stats::bump;

fn room(room: Option<&str>) -> Result<&str, ErrorBody> {
    let room = room.unwrap_or(DEFAULT_ROOM);
    validate::room(room).map_err(|m| invalid("room", m))?;
    Ok(room)
}

/// `chat_send`: store, then push to every logged-in client.
pub(super) async fn send(
    shared: &Shared,
    conn: &ConnState,
    request: &ChatSend,
) -> Result<ChatSendData, ErrorBody> {
    let (room_name, text) = (request.room.as_deref(), request.text.as_str());
    let user = session(conn)?;
    let room = room(room_name)?;
    validate::chat_text(text).map_err(|m| invalid("text", m))?;
    if let Err(wait) = shared.chat.try_take(&user.user_id, Instant::now()) {
        bump(&shared.counters.chats_rate_limited);
        let (rate, burst) = shared.chat.rule();
        return Err(rate_limited(
            format!("too many messages: at most {rate} per second (bursts of {burst})"),
            wait,
        ));
    }
    let message = shared
        .store
        .append_message(NewMessage {
            room: room.to_owned(),
            from: Some(user.username.clone()),
            text: text.to_owned(),
            sent_at: coliseum_store::now(),
        })
        .await
        .map_err(from_store)?;
    let seq = message.seq;
    shared.hub.broadcast_members(&Push::Chat(message));
    Ok(ChatSendData { seq })
}

/// `chat_history`: up to `limit` (default 50, 1–200) messages with
/// `seq < before_seq`, oldest first.
pub(super) async fn history(
    shared: &Shared,
    conn: &ConnState,
    request: &ChatHistory,
) -> Result<MessagesData, ErrorBody> {
    let ChatHistory {
        room: room_name,
        before_seq,
        limit,
    } = request;
    let (room_name, before_seq, limit) = (room_name.as_deref(), *before_seq, *limit);
    session(conn)?;
    let room = room(room_name)?;
    let limit = limit.unwrap_or(HISTORY_LIMIT_DEFAULT);
    if !(1..=HISTORY_LIMIT_MAX).contains(&limit) {
        return Err(invalid(
            "limit",
            format!("limit must be between 1 and {HISTORY_LIMIT_MAX}"),
        ));
    }
    let messages = shared
        .store
        .chat_history(room, before_seq, limit)
        .await
        .map_err(from_store)?;
    Ok(MessagesData { messages })
}
