//! Room requests (rooms issue): the room list, opening a room, creating,
//! joining and leaving, direct messages, read markers, edits, typing and
//! moderation. One task per request, as in `requests.rs`.

use std::sync::Arc;

use coliseum_client::ClientError;
use coliseum_protocol::request::{Kick, Mute};
use coliseum_protocol::validate::event_room;

use super::api::{FormError, NetEvent};
use super::link::{Link, Sink};

/// Messages loaded when a room is opened (and per "load older" page).
const PAGE: u32 = 50;

/// `rooms` → [`NetEvent::Rooms`].
pub async fn refresh_rooms(link: Arc<Link>, sink: Sink) {
    let result = async { link.client()?.rooms().await }.await;
    match result {
        Ok(rooms) => sink.emit(NetEvent::Rooms(rooms)),
        Err(error) => sink.emit(NetEvent::Error(format!(
            "could not load the rooms: {error}"
        ))),
    }
}

/// The newest page of `room` and its members.
pub async fn open_room(link: Arc<Link>, sink: Sink, room: String) {
    let client = match link.client() {
        Ok(client) => client,
        Err(error) => return sink.emit(NetEvent::Error(error.to_string())),
    };
    let (history, members) = tokio::join!(
        client.chat_history(Some(&room), None, Some(PAGE)),
        client.room_members(&room)
    );
    match history {
        Ok(messages) => {
            let more = messages.first().is_some_and(|m| m.seq > 1);
            // Shown from now on: a reconnect or a `resync` fills its gap.
            if let Some(last) = messages.last() {
                link.note_seq(&room, last.seq);
            }
            sink.emit(NetEvent::ChatHistory {
                room: room.clone(),
                messages,
                more,
            });
        }
        Err(error) => {
            return sink.emit(NetEvent::Error(format!("could not open {room}: {error}")));
        }
    }
    if let Ok(members) = members {
        sink.emit(NetEvent::RoomMembers { room, members });
    }
}

/// The page of `room` before `before_seq`.
pub async fn older(link: Arc<Link>, sink: Sink, room: String, before_seq: u64) {
    let result = match link.client() {
        Ok(client) => {
            client
                .chat_history(Some(&room), Some(before_seq), Some(PAGE))
                .await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(messages) => {
            let more = messages.first().is_some_and(|m| m.seq > 1);
            sink.emit(NetEvent::ChatHistory {
                room,
                messages,
                more,
            });
        }
        Err(error) => sink.emit(NetEvent::Error(format!(
            "could not load older messages: {error}"
        ))),
    }
}

/// `room_create`, then the room list again.
pub async fn create(link: Arc<Link>, sink: Sink, room: String, topic: String) {
    let result = match link.client() {
        Ok(client) => {
            let topic = (!topic.trim().is_empty()).then_some(topic.trim());
            client.room_create(&room, topic).await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(room) => {
            sink.emit(NetEvent::RoomCreated { room });
            refresh_rooms(link, sink).await;
        }
        Err(error) => sink.emit(NetEvent::RoomCreateFailed(FormError::from(&error))),
    }
}

/// `room_join`, then the room list again.
pub async fn join(link: Arc<Link>, sink: Sink, room: String) {
    match join_room(&link, &room).await {
        Ok(()) => {
            sink.emit(NetEvent::RoomJoined { room });
            refresh_rooms(link, sink).await;
        }
        Err(error) => sink.emit(NetEvent::Error(format!("could not join {room}: {error}"))),
    }
}

async fn join_room(link: &Arc<Link>, room: &str) -> Result<(), ClientError> {
    link.client()?.room_join(room).await
}

/// `room_leave`, then the room list again.
pub async fn leave(link: Arc<Link>, sink: Sink, room: String) {
    let result = async { link.client()?.room_leave(&room).await }.await;
    match result {
        Ok(()) => {
            sink.emit(NetEvent::RoomLeft { room, reason: None });
            refresh_rooms(link, sink).await;
        }
        Err(error) => sink.emit(NetEvent::Error(format!("could not leave {room}: {error}"))),
    }
}

/// "Discuss": joins the event's room and opens it.
pub async fn discuss(link: Arc<Link>, sink: Sink, event_id: String) {
    let room = event_room(&event_id);
    match join_room(&link, &room).await {
        Ok(()) => {
            sink.emit(NetEvent::RoomJoined { room: room.clone() });
            refresh_rooms(Arc::clone(&link), sink.clone()).await;
            open_room(link, sink, room).await;
        }
        Err(error) => sink.emit(NetEvent::Error(format!(
            "could not open the event's room: {error}"
        ))),
    }
}

/// `dm_send`; a failure hands the text back like a failed chat message.
pub async fn direct(link: Arc<Link>, sink: Sink, to: String, text: String) {
    let result = async { link.client()?.dm_send(&to, &text).await }.await;
    match result {
        Ok(sent) => {
            sink.emit(NetEvent::ChatSent);
            sink.emit(NetEvent::DirectSent {
                room: sent.room.clone(),
            });
            refresh_rooms(Arc::clone(&link), sink.clone()).await;
            open_room(link, sink, sent.room).await;
        }
        Err(error) => sink.emit(NetEvent::ChatSendFailed {
            text,
            message: error.to_string(),
        }),
    }
}

/// Runs a request whose answer is `{}`; a failure is shown as an error
/// prefixed with `what`.
async fn simple<F, Fut>(link: Arc<Link>, sink: Sink, what: &str, request: F)
where
    F: FnOnce(coliseum_client::Client) -> Fut,
    Fut: Future<Output = Result<(), ClientError>>,
{
    let result = match link.client() {
        Ok(client) => request(client).await,
        Err(error) => Err(error),
    };
    if let Err(error) = result {
        sink.emit(NetEvent::Error(format!("{what}: {error}")));
    }
}

/// `mark_read` (failures are only logged: the marker is a convenience).
pub async fn mark_read(link: Arc<Link>, room: String, seq: u64) {
    if let Ok(client) = link.client()
        && let Err(error) = client.mark_read(&room, seq).await
    {
        tracing::debug!(%error, room, "mark_read failed");
    }
}

/// `chat_edit`.
pub async fn edit(link: Arc<Link>, sink: Sink, room: String, seq: u64, text: String) {
    simple(
        link,
        sink,
        "could not edit the message",
        |client| async move { client.chat_edit(&room, seq, &text).await },
    )
    .await;
}

/// `chat_delete`.
pub async fn delete(link: Arc<Link>, sink: Sink, room: String, seq: u64) {
    simple(
        link,
        sink,
        "could not delete the message",
        |client| async move { client.chat_delete(&room, seq).await },
    )
    .await;
}

/// `typing` (failures are only logged).
pub async fn typing(link: Arc<Link>, room: String) {
    if let Ok(client) = link.client()
        && let Err(error) = client.typing(&room).await
    {
        tracing::debug!(%error, room, "typing failed");
    }
}

/// `mute`.
pub async fn mute(link: Arc<Link>, sink: Sink, room: String, user: String, minutes: u32) {
    simple(link, sink, "could not mute", |client| async move {
        client
            .send_op(Mute {
                room,
                user,
                minutes,
            })
            .await
    })
    .await;
}

/// `kick`, then the room's members again.
pub async fn kick(link: Arc<Link>, sink: Sink, room: String, user: String) {
    let again = room.clone();
    simple(
        Arc::clone(&link),
        sink.clone(),
        "could not remove",
        |client| async move { client.send_op(Kick { room, user }).await },
    )
    .await;
    if let Ok(client) = link.client()
        && let Ok(members) = client.room_members(&again).await
    {
        sink.emit(NetEvent::RoomMembers {
            room: again,
            members,
        });
    }
}
