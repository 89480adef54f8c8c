//! Chat: `chat_send` and `chat_history`. Messages are stored with a per-room
//! sequence number and pushed as `chat` to the room's members (every
//! logged-in client for `lobby`), the sender included; who may post and
//! read is in `rooms.rs`. Two messages sent at the same moment from different
//! connections may be pushed in either order; clients order by `seq`.
//!
//! Flood control: each user may post `chat_rate` messages per second with
//! bursts of `chat_burst`, across all their connections (token bucket,
//! `crate::limits::ChatLimiter`); a message over it is not stored and gets
//! `rate_limited` with `retry_after_ms` (the connection stays open).

use coliseum_protocol::request::{ChatHistory, ChatSend};
use coliseum_protocol::response::{ChatSendData, MessagesData};
use coliseum_protocol::validate::{self, HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX};
use coliseum_protocol::{DEFAULT_ROOM, ErrorBody};

use bytes::Bytes;
use coliseum_store::{NewMessage, StoreError};

use super::{reply, rooms, session};
use crate::context::{ConnState, Shared};
use crate::errors::{from_store, invalid};
use crate::news::store_and_push_many;

/// `chat_send`: store, then push to the room's members (every logged-in
/// client for `lobby`). Needs membership; a muted member is `forbidden`,
/// slow mode and the chat rate answer `rate_limited`.
pub(super) async fn send(
    shared: &Shared,
    conn: &ConnState,
    request: &ChatSend,
) -> Result<ChatSendData, ErrorBody> {
    let user = session(conn)?;
    let room = rooms::resolve(shared, request.room.as_deref().unwrap_or(DEFAULT_ROOM)).await?;
    validate::chat_text(&request.text).map_err(|m| invalid("text", m))?;
    rooms::check_may_post(shared, &room, user).await?;
    rooms::chat_rate(shared, user)?;
    let message = rooms::post(shared, &room.name, user, &request.text).await?;
    Ok(ChatSendData { seq: message.seq })
}

/// `chat_send` for several requests read together from one connection (a
/// client that pipelines), answered as [`send`] would answer them one after
/// another: each is checked in order (session, room, text, membership,
/// mute, slow mode, rate), then every accepted message is stored in one
/// call ([`crate::news::store_and_push_many`]: one commit on the embedded
/// store instead of one each) and pushed. One response frame per request,
/// in order.
pub(super) async fn send_pipelined(
    shared: &Shared,
    conn: &ConnState,
    requests: &[(u64, ChatSend)],
) -> Vec<Bytes> {
    let mut checked = Vec::with_capacity(requests.len());
    let mut accepted = Vec::with_capacity(requests.len());
    for (_, request) in requests {
        let check = async {
            let user = session(conn)?;
            let room =
                rooms::resolve(shared, request.room.as_deref().unwrap_or(DEFAULT_ROOM)).await?;
            validate::chat_text(&request.text).map_err(|m| invalid("text", m))?;
            rooms::check_may_post(shared, &room, user).await?;
            rooms::chat_rate(shared, user)?;
            Ok(NewMessage {
                room: room.name,
                from: Some(user.username.clone()),
                text: request.text.clone(),
                sent_at: coliseum_store::now(),
            })
        };
        match check.await {
            Ok(message) => {
                accepted.push(message);
                checked.push(Ok(()));
            }
            Err(error) => checked.push(Err(error)),
        }
    }
    let mut stored = store_and_push_many(&*shared.store, &shared.hub, accepted)
        .await
        .into_iter();
    requests
        .iter()
        .zip(checked)
        .map(|(&(id, _), check)| {
            let result = check.and_then(|()| match stored.next() {
                Some(Ok(message)) => Ok(ChatSendData { seq: message.seq }),
                Some(Err(error)) => Err(from_store(error)),
                None => Err(from_store(StoreError::Internal(
                    "the store answered fewer messages than it was given".to_owned(),
                ))),
            });
            reply(id, result)
        })
        .collect()
}

/// `chat_history`: up to `limit` (default 50, 1–200) messages with
/// `seq < before_seq`, oldest first; `forbidden` for someone else's
/// direct room.
pub(super) async fn history(
    shared: &Shared,
    conn: &ConnState,
    request: &ChatHistory,
) -> Result<MessagesData, ErrorBody> {
    let user = session(conn)?;
    let limit = request.limit.unwrap_or(HISTORY_LIMIT_DEFAULT);
    if !(1..=HISTORY_LIMIT_MAX).contains(&limit) {
        return Err(invalid(
            "limit",
            format!("limit must be between 1 and {HISTORY_LIMIT_MAX}"),
        ));
    }
    let room = rooms::resolve(shared, request.room.as_deref().unwrap_or(DEFAULT_ROOM)).await?;
    rooms::require_readable(shared, &room, user).await?;
    let messages = shared
        .store
        .chat_history(&room.name, request.before_seq, limit)
        .await
        .map_err(from_store)?;
    Ok(MessagesData { messages })
}
