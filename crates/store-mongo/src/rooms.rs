//! Rooms, memberships, read markers and mutes (rooms issue), as methods of
//! [`Inner`].
//!
//! There are no transactions: every step is one single-document write, each
//! safe to repeat, so a call interrupted half-way leaves a state the next
//! call completes.
//!
//! - `lobby` and the event rooms (`event-<id>`) exist without a `rooms`
//!   document; [`Inner::room`] makes them up (lobby always, an event room
//!   while its event exists) and folds in whatever settings were stored
//!   for them since (`set_slow_mode` upserts a document).
//! - Every account is a member of `lobby` without a `memberships`
//!   document; one is upserted when a lobby role or read marker is stored.
//! - A direct room is found by its `direct_key` (the pair's ids, sorted);
//!   the unique sparse index on it makes concurrent first calls create one
//!   room: a loser's insert fails with a duplicate key and reads the
//!   winner's room back. Every call then upserts both memberships.
//! - Read markers only move forward (`$max`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use coliseum_protocol::{RoomInfo, RoomKind, RoomRole, validate};
use coliseum_store::{Membership, NewRoom, Room, StoreError, StoreResult};
use futures::TryStreamExt as _;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;
use serde::Deserialize;

use crate::error::{duplicate_key_index, map_err};
use crate::model::{
    MembershipDoc, RoomDoc, direct_key, from_bson_time, names, parse_id, to_bson_time, to_i64,
    to_u64,
};
use crate::store::{Inner, UPSERT_ATTEMPTS};

/// The room every account belongs to.
const LOBBY: &str = "lobby";

/// The name of a room's `seq` counter in `counters`.
fn counter_id(room: &str) -> String {
    format!("room:{room}")
}

/// What a room's name says about it before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    /// `lobby`: always exists.
    Lobby,
    /// `event-<id>`: exists while the event does (`None`: an id that
    /// cannot be one, so the room never exists).
    Event(Option<ObjectId>),
    /// Anything else: exists once created.
    Other,
}

/// Classifies `name`.
fn builtin(name: &str) -> Builtin {
    if name == LOBBY {
        Builtin::Lobby
    } else if let Some(id) = validate::event_of_room(name) {
        Builtin::Event(parse_id(id))
    } else {
        Builtin::Other
    }
}

/// A room role as stored (the protocol's lowercase name).
const fn role_str(role: RoomRole) -> &'static str {
    match role {
        RoomRole::Owner => "owner",
        RoomRole::Moderator => "moderator",
        RoomRole::Member => "member",
    }
}

/// A room kind as stored (the protocol's lowercase name).
const fn kind_str(kind: RoomKind) -> &'static str {
    match kind {
        RoomKind::Public => "public",
        RoomKind::Event => "event",
        RoomKind::Direct => "direct",
    }
}

/// Owners first, then moderators, then members.
const fn role_rank(role: RoomRole) -> u8 {
    match role {
        RoomRole::Owner => 0,
        RoomRole::Moderator => 1,
        RoomRole::Member => 2,
    }
}

/// `Conflict("room")`.
fn room_taken() -> StoreError {
    StoreError::Conflict("room".to_owned())
}

/// `text` with every regular-expression metacharacter escaped, so that it
/// matches itself literally in a `$regex`.
fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if "\\.^$|?*+()[]{}-/#&~ ".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// A user's id and username, without the rest of the account.
#[derive(Debug, Clone, Deserialize)]
struct UserName {
    /// The id.
    #[serde(rename = "_id")]
    id: ObjectId,
    /// The current username.
    username: String,
}

/// A room's name only (projection of `memberships`).
#[derive(Debug, Clone, Deserialize)]
struct RoomOnly {
    /// The room's name.
    room: String,
}

/// One row of the member-count aggregation.
#[derive(Debug, Clone, Deserialize)]
struct RoomCount {
    /// The room's name.
    #[serde(rename = "_id")]
    room: String,
    /// Its memberships.
    n: i64,
}

/// One `rooms` entry before the counts are known.
struct Listed {
    /// The room's name.
    name: String,
    /// Its kind.
    kind: RoomKind,
    /// What `rooms` shows as its topic.
    topic: String,
}

impl Inner {
    // ----- rooms ------------------------------------------------------------

    /// See [`coliseum_store::Store::room`].
    pub async fn room(&self, name: &str) -> StoreResult<Option<Room>> {
        let kind = builtin(name);
        let event = match kind {
            Builtin::Event(None) => return Ok(None),
            Builtin::Event(Some(id)) => match self.event_doc(id, "room").await? {
                Some(event) => Some(event),
                None => return Ok(None),
            },
            Builtin::Lobby | Builtin::Other => None,
        };
        let stored = self
            .rooms
            .find_one(doc! { "_id": name })
            .await
            .map_err(|e| map_err("room", &e))?;
        let slow_mode_seconds = stored.as_ref().map_or(0, RoomDoc::slow_mode);
        Ok(match (kind, event) {
            (Builtin::Other, _) => stored.map(RoomDoc::into_room),
            (_, Some(event)) => Some(Room {
                name: name.to_owned(),
                kind: RoomKind::Event,
                topic: event.name,
                owner_id: None,
                slow_mode_seconds,
                direct: None,
            }),
            _ => Some(Room {
                name: LOBBY.to_owned(),
                kind: RoomKind::Public,
                topic: stored.map(|room| room.topic).unwrap_or_default(),
                owner_id: None,
                slow_mode_seconds,
                direct: None,
            }),
        })
    }

    /// See [`coliseum_store::Store::create_room`]: the `rooms` document
    /// (its `_id` is the name, so a taken name is a duplicate key), then
    /// the owner's membership.
    pub async fn create_room(&self, room: NewRoom) -> StoreResult<Room> {
        let owner = parse_id(&room.owner_id).ok_or(StoreError::NotFound)?;
        match builtin(&room.name) {
            Builtin::Lobby => return Err(room_taken()),
            Builtin::Event(Some(id)) if self.event_doc(id, "create_room").await?.is_some() => {
                return Err(room_taken());
            }
            Builtin::Event(_) | Builtin::Other => {}
        }
        let doc = RoomDoc {
            name: room.name,
            kind: RoomKind::Public,
            topic: room.topic,
            owner_id: Some(owner),
            slow_mode_seconds: 0,
            direct_key: None,
            created_at: to_bson_time(room.created_at),
        };
        match self.rooms.insert_one(&doc).await {
            Ok(_) => {}
            Err(error) if duplicate_key_index(&error).is_some() => return Err(room_taken()),
            Err(error) => return Err(map_err("create_room", &error)),
        }
        self.add_member(&doc.name, owner, RoomRole::Owner, "create_room")
            .await?;
        Ok(doc.into_room())
    }

    /// See [`coliseum_store::Store::direct_room`]. `NotFound` for a
    /// malformed id or twice the same user.
    pub async fn direct_room(
        &self,
        user_a: &str,
        user_b: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Room> {
        let a = parse_id(user_a).ok_or(StoreError::NotFound)?;
        let b = parse_id(user_b).ok_or(StoreError::NotFound)?;
        if a == b {
            return Err(StoreError::NotFound);
        }
        let room = self
            .find_or_create_direct(&direct_key(a, b), name, now)
            .await?;
        for user in [a, b] {
            self.add_member(&room.name, user, RoomRole::Member, "direct_room")
                .await?;
        }
        Ok(room.into_room())
    }

    /// The direct room of the pair `key`, inserted under `name` when there
    /// is none. A duplicate `direct_key` means a concurrent call created it:
    /// it is read back. A duplicate name without a room for the pair means
    /// another pair's room holds the name (one of them was renamed since):
    /// then `<name>:2`, `<name>:3`, ... are tried.
    async fn find_or_create_direct(
        &self,
        key: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<RoomDoc> {
        let mut candidate = name.to_owned();
        let mut suffix = 1;
        let mut name_taken = false;
        for _ in 0..UPSERT_ATTEMPTS {
            let found = self
                .rooms
                .find_one(doc! { "direct_key": key })
                .await
                .map_err(|e| map_err("direct_room", &e))?;
            if let Some(found) = found {
                return Ok(found);
            }
            if name_taken {
                suffix += 1;
                candidate = format!("{name}:{suffix}");
            }
            let doc = RoomDoc {
                name: candidate.clone(),
                kind: RoomKind::Direct,
                topic: String::new(),
                owner_id: None,
                slow_mode_seconds: 0,
                direct_key: Some(key.to_owned()),
                created_at: to_bson_time(now),
            };
            match self.rooms.insert_one(&doc).await {
                Ok(_) => return Ok(doc),
                Err(error) => match duplicate_key_index(&error) {
                    // Either index may be reported when both are taken;
                    // the next lookup by key tells.
                    Some(index) => name_taken = index != names::DIRECT_INDEX,
                    None => return Err(map_err("direct_room", &error)),
                },
            }
        }
        Err(StoreError::Internal(
            "direct_room: no free name for the direct room".to_owned(),
        ))
    }

    /// See [`coliseum_store::Store::set_slow_mode`]. Created rooms are
    /// updated in place; `lobby` and event rooms get their settings
    /// document upserted (with their kind and topic).
    pub async fn set_slow_mode(&self, room: &str, seconds: u32) -> StoreResult<()> {
        let seconds = i64::from(seconds);
        let (kind, topic) = match builtin(room) {
            Builtin::Lobby => (RoomKind::Public, String::new()),
            Builtin::Event(None) => return Err(StoreError::NotFound),
            Builtin::Event(Some(id)) => {
                let event = self
                    .event_doc(id, "set_slow_mode")
                    .await?
                    .ok_or(StoreError::NotFound)?;
                (RoomKind::Event, event.name)
            }
            Builtin::Other => {
                let result = self
                    .rooms
                    .update_one(
                        doc! { "_id": room },
                        doc! { "$set": { "slow_mode_seconds": seconds } },
                    )
                    .await
                    .map_err(|e| map_err("set_slow_mode", &e))?;
                return if result.matched_count == 0 {
                    Err(StoreError::NotFound)
                } else {
                    Ok(())
                };
            }
        };
        let update = doc! {
            "$set": { "slow_mode_seconds": seconds },
            "$setOnInsert": {
                "kind": kind_str(kind),
                "topic": topic,
                "created_at": to_bson_time(coliseum_store::now()),
            },
        };
        self.upsert(
            &self.rooms.clone_with_type::<Document>(),
            &doc! { "_id": room },
            &update,
            "set_slow_mode",
        )
        .await
        .map(drop)
    }

    // ----- memberships ------------------------------------------------------

    /// See [`coliseum_store::Store::membership`].
    pub async fn membership(&self, room: &str, user_id: &str) -> StoreResult<Option<Membership>> {
        let Some(user) = parse_id(user_id) else {
            return Ok(None);
        };
        let stored = self
            .memberships
            .find_one(doc! { "room": room, "user_id": user })
            .await
            .map_err(|e| map_err("membership", &e))?;
        let stored = match stored {
            Some(stored) => stored,
            None if room == LOBBY => MembershipDoc {
                room: LOBBY.to_owned(),
                user_id: user,
                role: RoomRole::Member,
                read_seq: 0,
            },
            None => return Ok(None),
        };
        let Some(name) = self.username(user, "membership").await? else {
            return Ok(None);
        };
        let muted_until = self
            .mutes
            .find_one(doc! { "room": room, "user_id": user })
            .await
            .map_err(|e| map_err("membership", &e))?
            .map(|mute| from_bson_time(mute.until));
        Ok(Some(Membership {
            room: stored.room,
            user_id: user.to_hex(),
            username: name,
            role: stored.role,
            read_seq: to_u64(stored.read_seq),
            muted_until,
        }))
    }

    /// See [`coliseum_store::Store::join_room`]. Joining `lobby` changes
    /// nothing (every account is a member): false.
    pub async fn join_room(&self, room: &str, user_id: &str, role: RoomRole) -> StoreResult<bool> {
        let user = parse_id(user_id).ok_or(StoreError::NotFound)?;
        if room == LOBBY {
            return Ok(false);
        }
        self.add_member(room, user, role, "join_room").await
    }

    /// See [`coliseum_store::Store::leave_room`]. Nobody leaves `lobby`:
    /// false, nothing changes.
    pub async fn leave_room(&self, room: &str, user_id: &str) -> StoreResult<bool> {
        let Some(user) = parse_id(user_id) else {
            return Ok(false);
        };
        if room == LOBBY {
            return Ok(false);
        }
        let result = self
            .memberships
            .delete_one(doc! { "room": room, "user_id": user })
            .await
            .map_err(|e| map_err("leave_room", &e))?;
        Ok(result.deleted_count > 0)
    }

    /// See [`coliseum_store::Store::set_room_role`]. In `lobby` the
    /// membership is upserted (for an existing account).
    pub async fn set_room_role(
        &self,
        room: &str,
        user_id: &str,
        role: RoomRole,
    ) -> StoreResult<()> {
        let user = parse_id(user_id).ok_or(StoreError::NotFound)?;
        let filter = doc! { "room": room, "user_id": user };
        if room == LOBBY {
            self.require_user(user, "set_room_role").await?;
            let update = doc! {
                "$set": { "role": role_str(role) },
                "$setOnInsert": { "read_seq": 0_i64 },
            };
            return self
                .upsert(
                    &self.memberships.clone_with_type::<Document>(),
                    &filter,
                    &update,
                    "set_room_role",
                )
                .await
                .map(drop);
        }
        let result = self
            .memberships
            .update_one(filter, doc! { "$set": { "role": role_str(role) } })
            .await
            .map_err(|e| map_err("set_room_role", &e))?;
        if result.matched_count == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// See [`coliseum_store::Store::set_mute`]: upserts or deletes the
    /// `mutes` document. `NotFound` for a malformed id.
    pub async fn set_mute(
        &self,
        room: &str,
        user_id: &str,
        until: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        let user = parse_id(user_id).ok_or(StoreError::NotFound)?;
        let filter = doc! { "room": room, "user_id": user };
        match until {
            Some(until) => self
                .upsert(
                    &self.mutes.clone_with_type::<Document>(),
                    &filter,
                    &doc! { "$set": { "until": to_bson_time(until) } },
                    "set_mute",
                )
                .await
                .map(drop),
            None => self
                .mutes
                .delete_one(filter)
                .await
                .map(drop)
                .map_err(|e| map_err("set_mute", &e)),
        }
    }

    /// See [`coliseum_store::Store::mark_read`]: `$max` on the marker (upserted
    /// in `lobby`); the result is computed from the document before the
    /// update (see `store::loop_upsert_counter` for why not `After`).
    pub async fn mark_read(&self, room: &str, user_id: &str, seq: u64) -> StoreResult<u64> {
        let user = parse_id(user_id).ok_or(StoreError::NotFound)?;
        let filter = doc! { "room": room, "user_id": user };
        let value = to_i64(seq);
        if room != LOBBY {
            let before = self
                .memberships
                .find_one_and_update(filter, doc! { "$max": { "read_seq": value } })
                .return_document(ReturnDocument::Before)
                .await
                .map_err(|e| map_err("mark_read", &e))?
                .ok_or(StoreError::NotFound)?;
            return Ok(to_u64(before.read_seq.max(value)));
        }
        self.require_user(user, "mark_read").await?;
        let update = doc! {
            "$max": { "read_seq": value },
            "$setOnInsert": { "role": role_str(RoomRole::Member) },
        };
        let mut last = None;
        for _ in 0..UPSERT_ATTEMPTS {
            match self
                .memberships
                .find_one_and_update(filter.clone(), update.clone())
                .upsert(true)
                .return_document(ReturnDocument::Before)
                .await
            {
                Ok(before) => {
                    let current = before.map_or(value, |m| m.read_seq.max(value));
                    return Ok(to_u64(current));
                }
                Err(error) if duplicate_key_index(&error).is_some() => last = Some(error),
                Err(error) => return Err(map_err("mark_read", &error)),
            }
        }
        Err(last.map_or_else(
            || StoreError::Internal("mark_read upsert failed".to_owned()),
            |e| map_err("mark_read", &e),
        ))
    }

    /// See [`coliseum_store::Store::room_members`].
    pub async fn room_members(&self, room: &str) -> StoreResult<Vec<Membership>> {
        let stored: Vec<MembershipDoc> = self
            .memberships
            .find(doc! { "room": room })
            .await
            .map_err(|e| map_err("room_members", &e))?
            .try_collect()
            .await
            .map_err(|e| map_err("room_members", &e))?;
        let users = if room == LOBBY {
            self.usernames(doc! {}, "room_members").await?
        } else {
            let ids: Vec<ObjectId> = stored.iter().map(|m| m.user_id).collect();
            self.usernames(doc! { "_id": { "$in": ids } }, "room_members")
                .await?
        };
        let mutes: HashMap<ObjectId, DateTime<Utc>> = self
            .mutes
            .find(doc! { "room": room })
            .await
            .map_err(|e| map_err("room_members", &e))?
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| map_err("room_members", &e))?
            .into_iter()
            .map(|mute| (mute.user_id, from_bson_time(mute.until)))
            .collect();
        let mut stored: HashMap<ObjectId, MembershipDoc> =
            stored.into_iter().map(|m| (m.user_id, m)).collect();
        let mut members: Vec<Membership> = users
            .into_iter()
            .filter_map(|user| {
                let membership = stored.remove(&user.id).or_else(|| {
                    (room == LOBBY).then(|| MembershipDoc {
                        room: LOBBY.to_owned(),
                        user_id: user.id,
                        role: RoomRole::Member,
                        read_seq: 0,
                    })
                })?;
                Some(Membership {
                    room: room.to_owned(),
                    user_id: user.id.to_hex(),
                    username: user.username,
                    role: membership.role,
                    read_seq: to_u64(membership.read_seq),
                    muted_until: mutes.get(&user.id).copied(),
                })
            })
            .collect();
        members.sort_by(|a, b| {
            (role_rank(a.role), a.username.to_lowercase(), &a.username).cmp(&(
                role_rank(b.role),
                b.username.to_lowercase(),
                &b.username,
            ))
        });
        Ok(members)
    }

    /// See [`coliseum_store::Store::rooms_of_user`]. Empty for an unknown
    /// account.
    pub async fn rooms_of_user(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let Some(user) = parse_id(user_id) else {
            return Ok(Vec::new());
        };
        if self.username(user, "rooms_of_user").await?.is_none() {
            return Ok(Vec::new());
        }
        let mut rooms = self.joined_rooms(user, "rooms_of_user").await?;
        rooms.retain(|room| room != LOBBY);
        rooms.sort();
        rooms.dedup();
        rooms.insert(0, LOBBY.to_owned());
        Ok(rooms)
    }

    /// See [`coliseum_store::Store::room_list`]: the rooms, then their
    /// member counts (one aggregation), `last_seq` (the rooms' counters)
    /// and, for joined rooms with something new, two counts of messages.
    pub async fn room_list(&self, user_id: &str, username: &str) -> StoreResult<Vec<RoomInfo>> {
        const WHAT: &str = "room_list";
        let user = parse_id(user_id);
        // The caller's read markers, by room (lobby: every account is in).
        let mut markers: HashMap<String, i64> = HashMap::new();
        if let Some(user) = user {
            markers.insert(LOBBY.to_owned(), 0);
            let stored: Vec<MembershipDoc> = self
                .memberships
                .find(doc! { "user_id": user })
                .await
                .map_err(|e| map_err(WHAT, &e))?
                .try_collect()
                .await
                .map_err(|e| map_err(WHAT, &e))?;
            markers.extend(stored.into_iter().map(|m| (m.room, m.read_seq)));
        }

        let lobby = self.room(LOBBY).await?;
        let mut listed = vec![Listed {
            name: LOBBY.to_owned(),
            kind: RoomKind::Public,
            topic: lobby.map(|room| room.topic).unwrap_or_default(),
        }];
        let public: Vec<RoomDoc> = self
            .rooms
            .find(doc! { "kind": kind_str(RoomKind::Public), "_id": { "$ne": LOBBY } })
            .sort(doc! { "_id": 1 })
            .await
            .map_err(|e| map_err(WHAT, &e))?
            .try_collect()
            .await
            .map_err(|e| map_err(WHAT, &e))?;
        listed.extend(public.into_iter().map(|room| Listed {
            name: room.name,
            kind: RoomKind::Public,
            topic: room.topic,
        }));
        listed.extend(self.list_events().await?.into_iter().map(|event| Listed {
            name: validate::event_room(&event.id),
            kind: RoomKind::Event,
            topic: event.name,
        }));
        let direct_names: Vec<&String> = markers
            .keys()
            .filter(|room| validate::is_direct_room(room))
            .collect();
        if let (Some(user), false) = (user, direct_names.is_empty()) {
            let direct: Vec<RoomDoc> = self
                .rooms
                .find(doc! {
                    "_id": { "$in": direct_names },
                    "kind": kind_str(RoomKind::Direct),
                })
                .sort(doc! { "_id": 1 })
                .await
                .map_err(|e| map_err(WHAT, &e))?
                .try_collect()
                .await
                .map_err(|e| map_err(WHAT, &e))?;
            // The topic of a direct room is the other member's name.
            let me = user.to_hex();
            let others: Vec<ObjectId> = direct
                .iter()
                .filter_map(|room| room.direct_key.as_deref())
                .flat_map(|key| key.split(':'))
                .filter(|id| *id != me)
                .filter_map(parse_id)
                .collect();
            let names: HashMap<String, String> = self
                .usernames(doc! { "_id": { "$in": others } }, WHAT)
                .await?
                .into_iter()
                .map(|u| (u.id.to_hex(), u.username))
                .collect();
            listed.extend(direct.into_iter().map(|room| {
                let topic = room
                    .direct_key
                    .as_deref()
                    .and_then(|key| key.split(':').find(|id| *id != me))
                    .and_then(|other| names.get(other).cloned())
                    .unwrap_or_default();
                Listed {
                    name: room.name,
                    kind: RoomKind::Direct,
                    topic,
                }
            }));
        }

        let counts = self.member_counts(&listed, WHAT).await?;
        let last_seqs = self.last_seqs(&listed, WHAT).await?;
        let mention = doc! {
            "$regex": format!("@{}", regex_escape(username)),
            "$options": "i",
        };
        let mut rooms = Vec::with_capacity(listed.len());
        for room in listed {
            let last_seq = last_seqs.get(&room.name).copied().unwrap_or(0);
            let marker = markers.get(&room.name).copied();
            let (unread, mentions) = match marker {
                Some(read) if last_seq > read => {
                    let mut filter = doc! {
                        "room": &room.name,
                        "seq": { "$gt": read },
                        "deleted": { "$ne": true },
                        "from": { "$ne": username },
                    };
                    let unread = self.count_messages(filter.clone(), WHAT).await?;
                    let mentions = if unread == 0 {
                        0
                    } else {
                        filter.insert("text", mention.clone());
                        self.count_messages(filter, WHAT).await?
                    };
                    (unread, mentions)
                }
                _ => (0, 0),
            };
            rooms.push(RoomInfo {
                members: counts.get(&room.name).copied().unwrap_or(0),
                joined: marker.is_some(),
                unread,
                mentions,
                last_seq: to_u64(last_seq),
                room: room.name,
                kind: room.kind,
                topic: room.topic,
            });
        }
        Ok(rooms)
    }

    /// How many members each listed room has (`lobby`: every account).
    async fn member_counts(
        &self,
        rooms: &[Listed],
        what: &str,
    ) -> StoreResult<HashMap<String, u64>> {
        let names: Vec<&str> = rooms
            .iter()
            .map(|room| room.name.as_str())
            .filter(|name| *name != LOBBY)
            .collect();
        let pipeline = [
            doc! { "$match": { "room": { "$in": names } } },
            doc! { "$group": { "_id": "$room", "n": { "$sum": 1_i64 } } },
        ];
        let rows: Vec<Document> = self
            .memberships
            .aggregate(pipeline)
            .await
            .map_err(|e| map_err(what, &e))?
            .try_collect()
            .await
            .map_err(|e| map_err(what, &e))?;
        let mut counts = HashMap::with_capacity(rows.len() + 1);
        for row in rows {
            let row: RoomCount = mongodb::bson::from_document(row)
                .map_err(|e| StoreError::Internal(format!("{what}: bad member count: {e}")))?;
            counts.insert(row.room, to_u64(row.n));
        }
        let everyone = self
            .users
            .count_documents(doc! {})
            .await
            .map_err(|e| map_err(what, &e))?;
        counts.insert(LOBBY.to_owned(), everyone);
        Ok(counts)
    }

    /// The last `seq` given out in each listed room (from its counter).
    async fn last_seqs(&self, rooms: &[Listed], what: &str) -> StoreResult<HashMap<String, i64>> {
        let wanted: HashMap<String, &str> = rooms
            .iter()
            .map(|room| (counter_id(&room.name), room.name.as_str()))
            .collect();
        let ids: Vec<&String> = wanted.keys().collect();
        let counters: Vec<_> = self
            .counters
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(|e| map_err(what, &e))?
            .try_collect()
            .await
            .map_err(|e| map_err(what, &e))?;
        Ok(counters
            .into_iter()
            .filter_map(|counter| {
                wanted
                    .get(&counter.id)
                    .map(|room| ((*room).to_owned(), counter.seq))
            })
            .collect())
    }

    /// How many messages match `filter`.
    async fn count_messages(&self, filter: Document, what: &str) -> StoreResult<u64> {
        self.messages
            .count_documents(filter)
            .await
            .map_err(|e| map_err(what, &e))
    }

    // ----- helpers ----------------------------------------------------------

    /// Adds `user` to `room` with `role` unless already a member (then
    /// nothing changes); true when added.
    async fn add_member(
        &self,
        room: &str,
        user: ObjectId,
        role: RoomRole,
        what: &str,
    ) -> StoreResult<bool> {
        let update = doc! {
            "$setOnInsert": { "role": role_str(role), "read_seq": 0_i64 },
        };
        self.upsert(
            &self.memberships.clone_with_type::<Document>(),
            &doc! { "room": room, "user_id": user },
            &update,
            what,
        )
        .await
    }

    /// An upsert that retries when it loses a race with another upsert of
    /// the same unique key (the loser's insert fails with a duplicate key;
    /// the retry then updates the winner's document). True when this call
    /// inserted the document.
    async fn upsert(
        &self,
        collection: &mongodb::Collection<Document>,
        filter: &Document,
        update: &Document,
        what: &str,
    ) -> StoreResult<bool> {
        let mut last = None;
        for _ in 0..UPSERT_ATTEMPTS {
            match collection
                .update_one(filter.clone(), update.clone())
                .upsert(true)
                .await
            {
                Ok(result) => return Ok(result.upserted_id.is_some()),
                Err(error) if duplicate_key_index(&error).is_some() => last = Some(error),
                Err(error) => return Err(map_err(what, &error)),
            }
        }
        Err(last.map_or_else(
            || StoreError::Internal(format!("{what}: upsert failed")),
            |e| map_err(what, &e),
        ))
    }

    /// The names of the rooms `user` has a `memberships` document for.
    async fn joined_rooms(&self, user: ObjectId, what: &str) -> StoreResult<Vec<String>> {
        let rooms: Vec<RoomOnly> = self
            .memberships
            .clone_with_type::<RoomOnly>()
            .find(doc! { "user_id": user })
            .projection(doc! { "_id": 0, "room": 1 })
            .await
            .map_err(|e| map_err(what, &e))?
            .try_collect()
            .await
            .map_err(|e| map_err(what, &e))?;
        Ok(rooms.into_iter().map(|r| r.room).collect())
    }

    /// Ids and usernames of the accounts matching `filter`.
    async fn usernames(&self, filter: Document, what: &str) -> StoreResult<Vec<UserName>> {
        self.users
            .clone_with_type::<UserName>()
            .find(filter)
            .projection(doc! { "username": 1 })
            .await
            .map_err(|e| map_err(what, &e))?
            .try_collect()
            .await
            .map_err(|e| map_err(what, &e))
    }

    /// The current username of `user`, `None` for an unknown account.
    async fn username(&self, user: ObjectId, what: &str) -> StoreResult<Option<String>> {
        Ok(self
            .usernames(doc! { "_id": user }, what)
            .await?
            .into_iter()
            .next()
            .map(|u| u.username))
    }

    /// `NotFound` unless the account `user` exists.
    async fn require_user(&self, user: ObjectId, what: &str) -> StoreResult<()> {
        match self.username(user, what).await? {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified() {
        assert_eq!(builtin("lobby"), Builtin::Lobby);
        assert_eq!(builtin("event-"), Builtin::Other);
        assert_eq!(builtin("event-12"), Builtin::Event(None));
        let id = ObjectId::new();
        assert_eq!(
            builtin(&validate::event_room(&id.to_hex())),
            Builtin::Event(Some(id))
        );
        assert_eq!(builtin("dm:ada:bob"), Builtin::Other);
    }

    #[test]
    fn regex_escape_makes_names_literal() {
        assert_eq!(regex_escape("ada"), "ada");
        assert_eq!(regex_escape("a.b-c"), "a\\.b\\-c");
        assert_eq!(regex_escape("x+y*"), "x\\+y\\*");
    }
}
