//! Rooms (rooms issue): `rooms`, `room_create`, `room_join`,
//! `room_leave`, `room_members`, `dm_send`, `mark_read`, `chat_edit`,
//! `chat_delete`, `typing`, and the moderation ops `room_moderator`,
//! `mute`, `kick`, `slow_mode`, `ban`, `unban`.
//!
//! Who may do what (the authorization matrix in `docs/protocol.md`):
//! - every op needs a session (`unauthenticated` otherwise);
//! - reading (`chat_history`, `room_members`): any member for public and
//!   event rooms, anyone logged in too; direct rooms: their two users and
//!   admins (`forbidden` for others);
//! - writing (`chat_send`, `typing`, `mark_read`): members only
//!   (`forbidden`; everyone is a member of `lobby`); a muted member's
//!   `chat_send` is `forbidden` with the time left; slow mode refuses a
//!   faster member's message with `rate_limited` (owners, moderators and
//!   admins are exempt);
//! - `chat_edit`: the author; `chat_delete`: the author, the room's owner
//!   and moderators, admins;
//! - `room_moderator`: the room's owner and admins; `mute`, `kick`,
//!   `slow_mode`: its owner, moderators and admins (a moderator cannot
//!   act on the owner or another moderator); `ban`, `unban`: admins.
//!
//! Every moderation action is written to the audit log and, as a system
//! message, into the room (`lobby` for bans).

use std::time::{Duration, Instant};

use chrono::Utc;
use coliseum_protocol::request::{
    Ban, ChatDelete, ChatEdit, DmSend, Kick, MarkRead, Mute, RoomCreate, RoomJoin, RoomLeave,
    RoomMembers, RoomModerator, Rooms, SlowMode, Typing, Unban,
};
use coliseum_protocol::response::{DirectSendData, Empty, MembersData, RoomData, RoomsData};
use coliseum_protocol::validate::{self, BAN_MINUTES_MAX, MUTE_MINUTES_MAX, SLOW_MODE_MAX};
use coliseum_protocol::{
    ChatMessage, DEFAULT_ROOM, ErrorBody, ErrorCode, Push, Role, RoomKind, RoomMember, RoomRole,
};
use coliseum_store::{Membership, NewRoom, Room, User};
use serde_json::json;

use super::session;
use crate::audit;
use crate::bus::BusMessage;
use crate::context::{ConnState, Session, Shared};
use crate::errors::{from_store, invalid, rate_limited};
use crate::pacing::TYPING_INTERVAL;
use crate::stats::bump;

fn forbidden(message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::Forbidden, message)
}

fn not_found(message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::NotFound, message)
}

/// The room a request names (validated, lowercased), or `not_found`.
pub(super) async fn resolve(shared: &Shared, name: &str) -> Result<Room, ErrorBody> {
    validate::room(name).map_err(|m| invalid("room", m))?;
    let key = validate::room_key(name);
    if let Some(room) = shared.room_cache.room(&key) {
        return Ok(room);
    }
    let room = shared
        .store
        .room(&key)
        .await
        .map_err(from_store)?
        .ok_or_else(|| not_found(format!("no room named \"{key}\"")))?;
    shared.room_cache.put_room(room.clone());
    Ok(room)
}

/// The caller's membership of `room`, if any.
async fn membership(
    shared: &Shared,
    room: &Room,
    user: &Session,
) -> Result<Option<Membership>, ErrorBody> {
    shared
        .store
        .membership(&room.name, &user.user_id)
        .await
        .map_err(from_store)
}

/// The caller's membership, or `forbidden`.
async fn require_member(
    shared: &Shared,
    room: &Room,
    user: &Session,
) -> Result<Membership, ErrorBody> {
    membership(shared, room, user).await?.ok_or_else(|| {
        forbidden(format!(
            "you are not a member of \"{}\": join it first",
            room.name
        ))
    })
}

/// `forbidden` unless the caller may read `room`: anyone logged in for
/// public and event rooms; the two users and admins for direct rooms.
pub(super) async fn require_readable(
    shared: &Shared,
    room: &Room,
    user: &Session,
) -> Result<(), ErrorBody> {
    if room.kind != RoomKind::Direct || user.role == Role::Admin {
        return Ok(());
    }
    require_member(shared, room, user).await.map(drop)
}

/// The caller may moderate `room` (owner, moderator, admin): their
/// membership (if any), or `forbidden`.
async fn require_moderator(
    shared: &Shared,
    room: &Room,
    user: &Session,
) -> Result<Option<Membership>, ErrorBody> {
    let member = membership(shared, room, user).await?;
    let moderates = member.as_ref().is_some_and(|m| m.role.moderates());
    if moderates || user.role == Role::Admin {
        Ok(member)
    } else {
        Err(forbidden(format!(
            "only the owner and moderators of \"{}\" (or an admin) may do this",
            room.name
        )))
    }
}

/// The account called `username`, or `not_found`.
async fn account(shared: &Shared, username: &str) -> Result<User, ErrorBody> {
    let found = if validate::username(username).is_ok() {
        shared
            .store
            .user_by_username(username)
            .await
            .map_err(from_store)?
    } else {
        None
    };
    found.ok_or_else(|| not_found(format!("no user named \"{username}\"")).with_field("user"))
}

/// `target`'s membership of `room` as a moderator may act on it:
/// `not_found` when not a member; `forbidden` when the actor is a mere
/// moderator and the target is the owner or a moderator.
async fn moderation_target(
    shared: &Shared,
    room: &Room,
    actor: &Session,
    actor_member: Option<&Membership>,
    target: &User,
) -> Result<Membership, ErrorBody> {
    let member = shared
        .store
        .membership(&room.name, &target.id)
        .await
        .map_err(from_store)?
        .ok_or_else(|| {
            not_found(format!(
                "{} is not a member of \"{}\"",
                target.username, room.name
            ))
            .with_field("user")
        })?;
    let outranked = actor.role != Role::Admin
        && actor_member.is_some_and(|m| m.role == RoomRole::Moderator)
        && member.role.moderates();
    if outranked {
        return Err(forbidden(
            "moderators cannot act on the room's owner or other moderators",
        ));
    }
    Ok(member)
}

/// Writes a moderation action to the audit log and into the room.
async fn moderation_record(
    shared: &Shared,
    actor: &Session,
    action: &str,
    room: &str,
    detail: serde_json::Value,
    text: String,
) {
    audit::record(&*shared.store, Some(&actor.username), action, detail).await;
    shared.news.post(room, text).await;
}

/// `rooms`: what the caller sees in the room list.
pub(super) async fn rooms(
    shared: &Shared,
    conn: &ConnState,
    _: &Rooms,
) -> Result<RoomsData, ErrorBody> {
    let user = session(conn)?;
    let rooms = shared
        .store
        .room_list(&user.user_id, &user.username)
        .await
        .map_err(from_store)?;
    Ok(RoomsData { rooms })
}

/// `room_create`: a public room owned by the caller.
pub(super) async fn create(
    shared: &Shared,
    conn: &ConnState,
    request: &RoomCreate,
) -> Result<RoomData, ErrorBody> {
    let user = session(conn)?;
    validate::public_room(&request.room).map_err(|m| invalid("room", m))?;
    let topic = request.topic.clone().unwrap_or_default();
    validate::topic(&topic).map_err(|m| invalid("topic", m))?;
    let room = shared
        .store
        .create_room(NewRoom {
            name: request.room.clone(),
            topic,
            owner_id: user.user_id.clone(),
            created_at: coliseum_store::now(),
        })
        .await
        .map_err(|err| match err {
            coliseum_store::StoreError::Conflict(_) => ErrorBody::new(
                ErrorCode::Conflict,
                format!("a room named \"{}\" already exists", request.room),
            )
            .with_field("room"),
            other => from_store(other),
        })?;
    shared.hub.add_room(&user.user_id, &room.name);
    shared.room_cache.put_room(room.clone());
    audit::record(
        &*shared.store,
        Some(&user.username),
        "room_create",
        json!({ "room": room.name }),
    )
    .await;
    Ok(RoomData { room: room.name })
}

/// `room_join`: public and event rooms (direct rooms: `forbidden`).
pub(super) async fn join(
    shared: &Shared,
    conn: &ConnState,
    request: &RoomJoin,
) -> Result<Empty, ErrorBody> {
    let user = session(conn)?;
    let room = resolve(shared, &request.room).await?;
    if room.kind == RoomKind::Direct {
        return Err(forbidden("direct rooms cannot be joined"));
    }
    let joined = shared
        .store
        .join_room(&room.name, &user.user_id, RoomRole::Member)
        .await
        .map_err(from_store)?;
    shared.hub.add_room(&user.user_id, &room.name);
    if joined {
        audit::record(
            &*shared.store,
            Some(&user.username),
            "room_join",
            json!({ "room": room.name }),
        )
        .await;
    }
    Ok(Empty {})
}

/// `room_leave`: not `lobby` nor a direct room (`bad_request`).
pub(super) async fn leave(
    shared: &Shared,
    conn: &ConnState,
    request: &RoomLeave,
) -> Result<Empty, ErrorBody> {
    let user = session(conn)?;
    let room = resolve(shared, &request.room).await?;
    if room.name == DEFAULT_ROOM || room.kind == RoomKind::Direct {
        return Err(invalid("room", "lobby and direct rooms cannot be left"));
    }
    if membership(shared, &room, user)
        .await?
        .is_some_and(|m| m.role == RoomRole::Owner)
    {
        return Err(invalid(
            "room",
            "the owner cannot leave their room (it would have nobody to run it)",
        ));
    }
    let left = shared
        .store
        .leave_room(&room.name, &user.user_id)
        .await
        .map_err(from_store)?;
    if !left {
        return Err(not_found(format!(
            "you are not a member of \"{}\"",
            room.name
        )));
    }
    shared.hub.remove_room(&user.user_id, &room.name);
    shared.hub.publish_user(
        &user.user_id,
        &Push::RoomLeft {
            room: room.name.clone(),
            reason: "you left the room on another device".to_owned(),
        },
        Some(conn.id),
    );
    audit::record(
        &*shared.store,
        Some(&user.username),
        "room_leave",
        json!({ "room": room.name }),
    )
    .await;
    Ok(Empty {})
}

/// `room_members`: who is in the room and online.
pub(super) async fn members(
    shared: &Shared,
    conn: &ConnState,
    request: &RoomMembers,
) -> Result<MembersData, ErrorBody> {
    let user = session(conn)?;
    let room = resolve(shared, &request.room).await?;
    require_readable(shared, &room, user).await?;
    let members = shared
        .store
        .room_members(&room.name)
        .await
        .map_err(from_store)?
        .into_iter()
        .map(|m| RoomMember {
            online: shared.hub.is_online(&m.user_id),
            user: m.username,
            role: m.role,
        })
        .collect();
    Ok(MembersData { members })
}

/// Takes a chat-rate token for the user, or `rate_limited`.
pub(super) fn chat_rate(shared: &Shared, user: &Session) -> Result<(), ErrorBody> {
    if let Err(wait) = shared.chat.try_take(&user.user_id, Instant::now()) {
        bump(&shared.counters.chats_rate_limited);
        let (rate, burst) = shared.chat.rule();
        return Err(rate_limited(
            format!("too many messages: at most {rate} per second (bursts of {burst})"),
            wait,
        ));
    }
    Ok(())
}

/// The checks of `chat_send` in `room`: membership, mute, slow mode.
/// Membership comes from the hub and mutes from the room cache, so a
/// message in a room without slow mode needs no store read once the
/// sender's mute state is known (`crate::roomcache`).
pub(super) async fn check_may_post(
    shared: &Shared,
    room: &Room,
    user: &Session,
) -> Result<(), ErrorBody> {
    let mut member = None;
    let is_member = match shared.hub.in_room(&user.user_id, &room.name) {
        Some(known) => known,
        None => {
            member = membership(shared, room, user).await?;
            member.is_some()
        }
    };
    if !is_member {
        return Err(forbidden(format!(
            "you are not a member of \"{}\": join it first",
            room.name
        )));
    }
    let muted_until = match shared.room_cache.mute(&room.name, &user.user_id) {
        Some(until) => until,
        None => {
            if member.is_none() {
                member = membership(shared, room, user).await?;
            }
            let until = member.as_ref().and_then(|m| m.muted_until);
            shared.room_cache.put_mute(&room.name, &user.user_id, until);
            until
        }
    };
    let now = Utc::now();
    if let Some(until) = muted_until.filter(|until| now < *until) {
        let minutes = (until - now).num_minutes() + 1;
        return Err(forbidden(format!(
            "you are muted in \"{}\" for {minutes} more minute{}",
            room.name,
            if minutes == 1 { "" } else { "s" }
        )));
    }
    if room.slow_mode_seconds > 0 && user.role != Role::Admin {
        if member.is_none() {
            member = membership(shared, room, user).await?;
        }
        let exempt = member.as_ref().is_some_and(|m| m.role.moderates());
        let interval = Duration::from_secs(u64::from(room.slow_mode_seconds));
        if !exempt
            && let Err(wait) =
                shared
                    .slow_mode
                    .take(&room.name, &user.user_id, interval, Instant::now())
        {
            return Err(rate_limited(
                format!(
                    "slow mode: one message every {} seconds in \"{}\"",
                    room.slow_mode_seconds, room.name
                ),
                wait,
            ));
        }
    }
    Ok(())
}

/// Stores a member's message and pushes it to the room.
pub(super) async fn post(
    shared: &Shared,
    room: &str,
    user: &Session,
    text: &str,
) -> Result<ChatMessage, ErrorBody> {
    crate::news::store_and_push(
        &*shared.store,
        &shared.hub,
        room,
        Some(user.username.clone()),
        text.to_owned(),
    )
    .await
    .map_err(from_store)
}

/// `dm_send`: a direct message; the room is created on first use.
pub(super) async fn dm_send(
    shared: &Shared,
    conn: &ConnState,
    request: &DmSend,
) -> Result<DirectSendData, ErrorBody> {
    let user = session(conn)?;
    validate::chat_text(&request.text).map_err(|m| invalid("text", m))?;
    let to = account(shared, &request.to)
        .await
        .map_err(|e| e.with_field("to"))?;
    if to.id == user.user_id {
        return Err(invalid(
            "to",
            "you cannot send a direct message to yourself",
        ));
    }
    chat_rate(shared, user)?;
    let name = validate::direct_room(&user.username, &to.username);
    let room = shared
        .store
        .direct_room(&user.user_id, &to.id, &name, coliseum_store::now())
        .await
        .map_err(from_store)?;
    shared.hub.add_room(&user.user_id, &room.name);
    shared.hub.add_room(&to.id, &room.name);
    let message = post(shared, &room.name, user, &request.text).await?;
    Ok(DirectSendData {
        room: room.name,
        seq: message.seq,
    })
}

/// `mark_read`: moves the caller's marker; their other connections hear.
pub(super) async fn mark_read(
    shared: &Shared,
    conn: &ConnState,
    request: &MarkRead,
) -> Result<Empty, ErrorBody> {
    let user = session(conn)?;
    let room = resolve(shared, &request.room).await?;
    let seq = match shared
        .store
        .mark_read(&room.name, &user.user_id, request.seq)
        .await
    {
        Ok(seq) => seq,
        Err(coliseum_store::StoreError::NotFound) => {
            return Err(forbidden(format!(
                "you are not a member of \"{}\"",
                room.name
            )));
        }
        Err(err) => return Err(from_store(err)),
    };
    shared.hub.publish_user(
        &user.user_id,
        &Push::Read {
            room: room.name,
            seq,
        },
        Some(conn.id),
    );
    Ok(Empty {})
}

/// The message a request names, or `not_found`.
async fn message(shared: &Shared, room: &Room, seq: u64) -> Result<ChatMessage, ErrorBody> {
    shared
        .store
        .message(&room.name, seq)
        .await
        .map_err(from_store)?
        .filter(|m| !m.deleted)
        .ok_or_else(|| not_found(format!("no message {seq} in \"{}\"", room.name)))
}

/// Pushes an edit or deletion to the room.
fn push_update(shared: &Shared, message: &ChatMessage) {
    shared.hub.publish_room(
        &message.room,
        &Push::ChatUpdate {
            room: message.room.clone(),
            seq: message.seq,
            text: message.text.clone(),
            edited_at: message.edited_at.unwrap_or(message.sent_at),
            deleted: message.deleted,
        },
    );
}

/// `chat_edit`: the author only.
pub(super) async fn edit(
    shared: &Shared,
    conn: &ConnState,
    request: &ChatEdit,
) -> Result<Empty, ErrorBody> {
    let user = session(conn)?;
    validate::chat_text(&request.text).map_err(|m| invalid("text", m))?;
    let room = resolve(shared, &request.room).await?;
    require_readable(shared, &room, user).await?;
    let original = message(shared, &room, request.seq).await?;
    if !coliseum_store::may_edit(&original, &user.username) {
        return Err(forbidden("only its author may edit a message"));
    }
    let edited = shared
        .store
        .edit_message(
            &room.name,
            request.seq,
            request.text.clone(),
            coliseum_store::now(),
        )
        .await
        .map_err(from_store)?;
    push_update(shared, &edited);
    audit::record(
        &*shared.store,
        Some(&user.username),
        "chat_edit",
        json!({ "room": room.name, "seq": request.seq }),
    )
    .await;
    Ok(Empty {})
}

/// `chat_delete`: the author, the room's owner or moderators, admins.
pub(super) async fn delete(
    shared: &Shared,
    conn: &ConnState,
    request: &ChatDelete,
) -> Result<Empty, ErrorBody> {
    let user = session(conn)?;
    let room = resolve(shared, &request.room).await?;
    require_readable(shared, &room, user).await?;
    let original = message(shared, &room, request.seq).await?;
    let member = membership(shared, &room, user).await?;
    if !coliseum_store::may_delete(&original, &user.username, user.role, member.as_ref()) {
        return Err(forbidden(
            "only its author, the room's owner and moderators, and admins may delete a message",
        ));
    }
    let deleted = shared
        .store
        .delete_message(&room.name, request.seq, coliseum_store::now())
        .await
        .map_err(from_store)?;
    push_update(shared, &deleted);
    audit::record(
        &*shared.store,
        Some(&user.username),
        "chat_delete",
        json!({ "room": room.name, "seq": request.seq, "author": original.from }),
    )
    .await;
    Ok(Empty {})
}

/// `typing`: members only; pushed at most once per 3 s per user and room
/// (more often is answered `{}` and not pushed).
pub(super) async fn typing(
    shared: &Shared,
    conn: &ConnState,
    request: &Typing,
) -> Result<Empty, ErrorBody> {
    let user = session(conn)?;
    let room = resolve(shared, &request.room).await?;
    require_member(shared, &room, user).await?;
    if shared
        .typing
        .take(&room.name, &user.user_id, TYPING_INTERVAL, Instant::now())
        .is_ok()
    {
        shared.hub.publish_room(
            &room.name,
            &Push::Typing {
                room: room.name.clone(),
                user: user.username.clone(),
            },
        );
    }
    Ok(Empty {})
}

/// `room_moderator`: the owner or an admin grants or takes back rights.
pub(super) async fn moderator(
    shared: &Shared,
    conn: &ConnState,
    request: &RoomModerator,
) -> Result<Empty, ErrorBody> {
    let user = session(conn)?;
    let room = resolve(shared, &request.room).await?;
    let member = membership(shared, &room, user).await?;
    let owner = member.as_ref().is_some_and(|m| m.role == RoomRole::Owner);
    if !owner && user.role != Role::Admin {
        return Err(forbidden(format!(
            "only the owner of \"{}\" (or an admin) may appoint moderators",
            room.name
        )));
    }
    if room.kind == RoomKind::Direct {
        return Err(invalid("room", "direct rooms have no moderators"));
    }
    let target = account(shared, &request.user).await?;
    let current = moderation_target(shared, &room, user, member.as_ref(), &target).await?;
    if current.role == RoomRole::Owner {
        return Err(invalid("user", "the owner's role cannot change"));
    }
    let role = if request.on {
        RoomRole::Moderator
    } else {
        RoomRole::Member
    };
    shared
        .store
        .set_room_role(&room.name, &target.id, role)
        .await
        .map_err(from_store)?;
    let text = if request.on {
        format!(
            "{} is now a moderator (by {}).",
            target.username, user.username
        )
    } else {
        format!(
            "{} is no longer a moderator (by {}).",
            target.username, user.username
        )
    };
    moderation_record(
        shared,
        user,
        "room_moderator",
        &room.name,
        json!({ "room": room.name, "user": target.username, "on": request.on }),
        text,
    )
    .await;
    Ok(Empty {})
}

/// `mute`: silence a member for `minutes` (0 lifts the mute).
pub(super) async fn mute(
    shared: &Shared,
    conn: &ConnState,
    request: &Mute,
) -> Result<Empty, ErrorBody> {
    let user = session(conn)?;
    if request.minutes > MUTE_MINUTES_MAX {
        return Err(invalid(
            "minutes",
            format!("minutes must be between 0 and {MUTE_MINUTES_MAX}"),
        ));
    }
    let room = resolve(shared, &request.room).await?;
    let member = require_moderator(shared, &room, user).await?;
    let target = account(shared, &request.user).await?;
    moderation_target(shared, &room, user, member.as_ref(), &target).await?;
    let until = (request.minutes > 0)
        .then(|| coliseum_store::now() + chrono::Duration::minutes(i64::from(request.minutes)));
    shared
        .store
        .set_mute(&room.name, &target.id, until)
        .await
        .map_err(from_store)?;
    shared.room_cache.put_mute(&room.name, &target.id, until);
    shared.hub.relay(BusMessage::Mute {
        room: room.name.clone(),
        user_id: target.id.clone(),
        until,
    });
    let text = match request.minutes {
        0 => format!(
            "{} may speak again (by {}).",
            target.username, user.username
        ),
        1 => format!(
            "{} was muted for 1 minute by {}.",
            target.username, user.username
        ),
        n => format!(
            "{} was muted for {n} minutes by {}.",
            target.username, user.username
        ),
    };
    moderation_record(
        shared,
        user,
        "mute",
        &room.name,
        json!({ "room": room.name, "user": target.username, "minutes": request.minutes }),
        text,
    )
    .await;
    Ok(Empty {})
}

/// `kick`: remove a member of a public or event room.
pub(super) async fn kick(
    shared: &Shared,
    conn: &ConnState,
    request: &Kick,
) -> Result<Empty, ErrorBody> {
    let user = session(conn)?;
    let room = resolve(shared, &request.room).await?;
    let member = require_moderator(shared, &room, user).await?;
    if room.name == DEFAULT_ROOM || room.kind == RoomKind::Direct {
        return Err(invalid(
            "room",
            "nobody can be removed from lobby or a direct room (use mute or ban)",
        ));
    }
    let target = account(shared, &request.user).await?;
    let current = moderation_target(shared, &room, user, member.as_ref(), &target).await?;
    if current.role == RoomRole::Owner {
        return Err(invalid(
            "user",
            "the owner cannot be removed from their room",
        ));
    }
    // The room hears it first, the removed member included.
    moderation_record(
        shared,
        user,
        "kick",
        &room.name,
        json!({ "room": room.name, "user": target.username }),
        format!("{} was removed by {}.", target.username, user.username),
    )
    .await;
    shared
        .store
        .leave_room(&room.name, &target.id)
        .await
        .map_err(from_store)?;
    shared.hub.remove_room(&target.id, &room.name);
    shared.hub.publish_user(
        &target.id,
        &Push::RoomLeft {
            room: room.name.clone(),
            reason: format!("you were removed by {}", user.username),
        },
        None,
    );
    Ok(Empty {})
}

/// `slow_mode`: at most one message per `seconds` per member.
pub(super) async fn slow_mode(
    shared: &Shared,
    conn: &ConnState,
    request: &SlowMode,
) -> Result<Empty, ErrorBody> {
    let user = session(conn)?;
    if request.seconds > SLOW_MODE_MAX {
        return Err(invalid(
            "seconds",
            format!("seconds must be between 0 and {SLOW_MODE_MAX}"),
        ));
    }
    let room = resolve(shared, &request.room).await?;
    require_moderator(shared, &room, user).await?;
    if room.kind == RoomKind::Direct {
        return Err(invalid("room", "direct rooms have no slow mode"));
    }
    shared
        .store
        .set_slow_mode(&room.name, request.seconds)
        .await
        .map_err(from_store)?;
    shared.room_cache.set_slow_mode(&room.name, request.seconds);
    shared.hub.relay(BusMessage::SlowMode {
        room: room.name.clone(),
        seconds: request.seconds,
    });
    let text = match request.seconds {
        0 => format!("Slow mode is off (by {}).", user.username),
        n => format!(
            "Slow mode: one message every {n} seconds per member (by {}).",
            user.username
        ),
    };
    moderation_record(
        shared,
        user,
        "slow_mode",
        &room.name,
        json!({ "room": room.name, "seconds": request.seconds }),
        text,
    )
    .await;
    Ok(Empty {})
}

/// The caller's session if they are an admin, else `forbidden`.
fn admin(conn: &ConnState) -> Result<&Session, ErrorBody> {
    super::admin_session(conn)
}

/// `ban`: ends the user's sessions at once and refuses their logins until
/// the ban lapses (or `unban`).
pub(super) async fn ban(
    shared: &Shared,
    conn: &ConnState,
    request: &Ban,
) -> Result<Empty, ErrorBody> {
    let user = admin(conn)?;
    if let Some(minutes) = request.minutes
        && !(1..=BAN_MINUTES_MAX).contains(&minutes)
    {
        return Err(invalid(
            "minutes",
            format!("minutes must be between 1 and {BAN_MINUTES_MAX} (omit it for no end)"),
        ));
    }
    let target = account(shared, &request.user).await?;
    if target.id == user.user_id {
        return Err(invalid("user", "you cannot ban yourself"));
    }
    let until = request.minutes.map_or(coliseum_store::BAN_FOREVER, |m| {
        coliseum_store::now() + chrono::Duration::minutes(i64::from(m))
    });
    shared
        .store
        .set_ban(&target.id, Some(until))
        .await
        .map_err(from_store)?;
    shared
        .store
        .delete_user_sessions(&target.id)
        .await
        .map_err(from_store)?;
    shared.hub.publish_user(
        &target.id,
        &Push::SessionExpired {
            reason: "your account has been banned".to_owned(),
        },
        None,
    );
    shared
        .live
        .revoke_user_everywhere(&shared.hub, &target.id, "");
    let text = match request.minutes {
        Some(m) => format!(
            "{} was banned for {m} minutes by {}.",
            target.username, user.username
        ),
        None => format!("{} was banned by {}.", target.username, user.username),
    };
    moderation_record(
        shared,
        user,
        "ban",
        DEFAULT_ROOM,
        json!({ "user": target.username, "minutes": request.minutes }),
        text,
    )
    .await;
    Ok(Empty {})
}

/// `unban`: lifts a ban.
pub(super) async fn unban(
    shared: &Shared,
    conn: &ConnState,
    request: &Unban,
) -> Result<Empty, ErrorBody> {
    let user = admin(conn)?;
    let target = account(shared, &request.user).await?;
    shared
        .store
        .set_ban(&target.id, None)
        .await
        .map_err(from_store)?;
    moderation_record(
        shared,
        user,
        "unban",
        DEFAULT_ROOM,
        json!({ "user": target.username }),
        format!("{}'s ban was lifted by {}.", target.username, user.username),
    )
    .await;
    Ok(Empty {})
}
