//! [`Inner`]: the collections and the straightforward operations (accounts,
//! bans, sessions, events, chat with edits and deletions, audit). Booking
//! and cancelling are in `booking.rs`, crash recovery in `recovery.rs`,
//! rooms and memberships in `rooms.rs`.
//!
//! Every method here runs inside a task spawned by `MongoStore::run`, so it
//! may await driver calls freely: it is never dropped half-way.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::time::Duration;

use chrono::{DateTime, Utc};
use coliseum_protocol::{ChatMessage, Event};
use coliseum_store::{
    AuditEntry, NewEvent, NewMessage, NewUser, SessionRecord, SessionUser, StoreError, StoreResult,
    User, UserUpdate,
};
use futures::TryStreamExt as _;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Client, Collection, Database};

use crate::error::{duplicate_key_index, map_err};
use crate::model::{
    AuditDoc, CounterDoc, EventDoc, HoldingDoc, MembershipDoc, MessageDoc, MuteDoc, RoomDoc,
    SessionDoc, TicketDoc, UserDoc, from_bson_time, names, parse_id, to_bson_time, to_i64,
};

/// The client, the database and its typed collections, shared by every task.
pub(crate) struct Inner {
    /// One client for the whole store (it pools connections and reconnects).
    pub client: Client,
    /// The Coliseum database.
    pub db: Database,
    /// `users`.
    pub users: Collection<UserDoc>,
    /// `sessions`.
    pub sessions: Collection<SessionDoc>,
    /// `events`.
    pub events: Collection<EventDoc>,
    /// `holdings`.
    pub holdings: Collection<HoldingDoc>,
    /// `tickets`.
    pub tickets: Collection<TicketDoc>,
    /// `messages`.
    pub messages: Collection<MessageDoc>,
    /// `counters`.
    pub counters: Collection<CounterDoc>,
    /// `audit`.
    pub audit: Collection<AuditDoc>,
    /// `rooms`.
    pub rooms: Collection<RoomDoc>,
    /// `memberships`.
    pub memberships: Collection<MembershipDoc>,
    /// `mutes`.
    pub mutes: Collection<MuteDoc>,
    /// The configured timeout (bounds polling inside an operation too).
    pub timeout: Duration,
    /// The offer hold (milliseconds) of the last [`coliseum_store::OfferPolicy`]
    /// a call passed in (10 minutes until then), for offers made where no
    /// policy is at hand: rolling back a booking, recovery.
    pub offer_hold_ms: AtomicI64,
    /// This store open's instance id, written as `owner` on the tickets
    /// whose operation it runs (`lease.rs`).
    pub owner: String,
    /// Lease timing (`lease.rs`; tests shorten it).
    pub lease_timing: Mutex<crate::lease::LeaseTiming>,
    /// The fault a test armed at the booking seam, if any (`lease.rs`).
    pub fault: Mutex<Option<(crate::lease::FaultPoint, crate::lease::Fault)>>,
    /// Whether `fault` holds one (so bookings skip the lock otherwise).
    pub fault_armed: AtomicBool,
}

/// Which unique field a duplicate-key error on `users` is about.
fn user_conflict(error: &mongodb::error::Error, what: &str) -> StoreError {
    match duplicate_key_index(error).as_deref() {
        Some(names::USERNAME_INDEX) => StoreError::Conflict("username".to_owned()),
        Some(names::EMAIL_INDEX) => StoreError::Conflict("email".to_owned()),
        _ => map_err(what, error),
    }
}

impl Inner {
    /// Opens the typed collections of `db`.
    pub fn new(client: Client, db: Database, timeout: Duration) -> Self {
        Self {
            users: db.collection(names::USERS),
            sessions: db.collection(names::SESSIONS),
            events: db.collection(names::EVENTS),
            holdings: db.collection(names::HOLDINGS),
            tickets: db.collection(names::TICKETS),
            messages: db.collection(names::MESSAGES),
            counters: db.collection(names::COUNTERS),
            audit: db.collection(names::AUDIT),
            rooms: db.collection(names::ROOMS),
            memberships: db.collection(names::MEMBERSHIPS),
            mutes: db.collection(names::MUTES),
            client,
            db,
            timeout,
            offer_hold_ms: AtomicI64::new(
                coliseum_store::OfferPolicy::default()
                    .hold
                    .num_milliseconds(),
            ),
            owner: crate::lease::instance_id(),
            lease_timing: Mutex::new(crate::lease::LeaseTiming::default()),
            fault: Mutex::new(None),
            fault_armed: AtomicBool::new(false),
        }
    }

    // ----- accounts ---------------------------------------------------------

    /// See [`coliseum_store::Store::create_user`].
    pub async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let doc = UserDoc {
            id: ObjectId::new(),
            username_lc: user.username.to_lowercase(),
            username: user.username,
            email_lc: user.email.to_lowercase(),
            email: user.email,
            password_hash: user.password_hash,
            role: user.role,
            created_at: to_bson_time(user.created_at),
            banned_until: None,
        };
        match self.users.insert_one(&doc).await {
            Ok(_) => Ok(doc.into_user()),
            Err(error) => Err(user_conflict(&error, "create_user")),
        }
    }

    /// See [`coliseum_store::Store::user_by_username`].
    pub async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let found = self
            .users
            .find_one(doc! { "username_lc": username.to_lowercase() })
            .await
            .map_err(|e| map_err("user_by_username", &e))?;
        Ok(found.map(UserDoc::into_user))
    }

    /// See [`coliseum_store::Store::user_by_id`].
    pub async fn user_by_id(&self, user_id: &str) -> StoreResult<Option<User>> {
        let Some(id) = parse_id(user_id) else {
            return Ok(None);
        };
        let found = self
            .users
            .find_one(doc! { "_id": id })
            .await
            .map_err(|e| map_err("user_by_id", &e))?;
        Ok(found.map(UserDoc::into_user))
    }

    /// See [`coliseum_store::Store::update_user`]. One `findOneAndUpdate`,
    /// so a refused update (duplicate key) changes nothing.
    pub async fn update_user(&self, user_id: &str, update: UserUpdate) -> StoreResult<User> {
        let id = parse_id(user_id).ok_or(StoreError::NotFound)?;
        let mut set = Document::new();
        if let Some(username) = update.username {
            set.insert("username_lc", username.to_lowercase());
            set.insert("username", username);
        }
        if let Some(email) = update.email {
            set.insert("email_lc", email.to_lowercase());
            set.insert("email", email);
        }
        if let Some(hash) = update.password_hash {
            set.insert("password_hash", hash);
        }
        if let Some(role) = update.role {
            set.insert("role", role.as_str());
        }
        let found = if set.is_empty() {
            self.users
                .find_one(doc! { "_id": id })
                .await
                .map_err(|e| map_err("update_user", &e))?
        } else {
            self.users
                .find_one_and_update(doc! { "_id": id }, doc! { "$set": set })
                .return_document(ReturnDocument::After)
                .await
                .map_err(|e| user_conflict(&e, "update_user"))?
        };
        found.map(UserDoc::into_user).ok_or(StoreError::NotFound)
    }

    /// See [`coliseum_store::Store::set_ban`]: `$set` or `$unset` of
    /// `banned_until` on the account.
    pub async fn set_ban(&self, user_id: &str, until: Option<DateTime<Utc>>) -> StoreResult<()> {
        let id = parse_id(user_id).ok_or(StoreError::NotFound)?;
        let update = match until {
            Some(until) => doc! { "$set": { "banned_until": to_bson_time(until) } },
            None => doc! { "$unset": { "banned_until": "" } },
        };
        let result = self
            .users
            .update_one(doc! { "_id": id }, update)
            .await
            .map_err(|e| map_err("set_ban", &e))?;
        if result.matched_count == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    // ----- sessions ---------------------------------------------------------

    /// See [`coliseum_store::Store::create_session`].
    pub async fn create_session(&self, session: SessionRecord) -> StoreResult<()> {
        let user_id = parse_id(&session.user_id).ok_or(StoreError::NotFound)?;
        let doc = SessionDoc {
            token_hash: session.token_hash,
            user_id,
            expires_at: to_bson_time(session.expires_at),
        };
        match self.sessions.insert_one(&doc).await {
            Ok(_) => Ok(()),
            Err(error) if duplicate_key_index(&error).is_some() => {
                Err(StoreError::Conflict("session".to_owned()))
            }
            Err(error) => Err(map_err("create_session", &error)),
        }
    }

    /// See [`coliseum_store::Store::session`].
    pub async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionUser>> {
        let session = self
            .sessions
            .find_one(doc! { "_id": token_hash, "expires_at": { "$gt": to_bson_time(now) } })
            .await
            .map_err(|e| map_err("session", &e))?;
        let Some(session) = session else {
            return Ok(None);
        };
        let user = self
            .users
            .find_one(doc! { "_id": session.user_id })
            .await
            .map_err(|e| map_err("session", &e))?;
        Ok(user.map(|user| SessionUser {
            user: user.into_user(),
            expires_at: from_bson_time(session.expires_at),
        }))
    }

    /// See [`coliseum_store::Store::delete_session`].
    pub async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        self.sessions
            .delete_one(doc! { "_id": token_hash })
            .await
            .map_err(|e| map_err("delete_session", &e))?;
        Ok(())
    }

    /// See [`coliseum_store::Store::delete_user_sessions`].
    pub async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<u64> {
        let Some(id) = parse_id(user_id) else {
            return Ok(0);
        };
        let result = self
            .sessions
            .delete_many(doc! { "user_id": id })
            .await
            .map_err(|e| map_err("delete_user_sessions", &e))?;
        Ok(result.deleted_count)
    }

    // ----- events -----------------------------------------------------------

    /// See [`coliseum_store::Store::list_events`].
    pub async fn list_events(&self) -> StoreResult<Vec<Event>> {
        let docs: Vec<EventDoc> = self
            .events
            .find(doc! {})
            .sort(doc! { "date": 1, "name": 1, "_id": 1 })
            .await
            .map_err(|e| map_err("list_events", &e))?
            .try_collect()
            .await
            .map_err(|e| map_err("list_events", &e))?;
        docs.into_iter().map(EventDoc::into_event).collect()
    }

    /// See [`coliseum_store::Store::event`].
    pub async fn event(&self, event_id: &str) -> StoreResult<Option<Event>> {
        let Some(id) = parse_id(event_id) else {
            return Ok(None);
        };
        self.event_doc(id, "event")
            .await?
            .map(EventDoc::into_event)
            .transpose()
    }

    /// The stored event `id`.
    pub async fn event_doc(&self, id: ObjectId, what: &str) -> StoreResult<Option<EventDoc>> {
        self.events
            .find_one(doc! { "_id": id })
            .await
            .map_err(|e| map_err(what, &e))
    }

    /// The stored event `id` for a write path: a document from before the
    /// ticketing issue (no `wv`) is completed first — start at 20:00
    /// local time on its date, nothing held, nobody waiting — with one
    /// update guarded by `wv` still being absent (so it happens once).
    pub async fn event_for_write(&self, id: ObjectId, what: &str) -> StoreResult<Option<EventDoc>> {
        let Some(event) = self.event_doc(id, what).await? else {
            return Ok(None);
        };
        if event.wv.is_some() {
            return Ok(Some(event));
        }
        let starts = event.starts();
        self.events
            .update_one(
                doc! { "_id": id, "wv": { "$exists": false } },
                doc! { "$set": {
                    "starts_at": starts.to_rfc3339(),
                    "starts_utc": to_bson_time(starts.with_timezone(&Utc)),
                    "description": &event.description,
                    "held": 0_i64,
                    "waitlist": [],
                    "wseq": 0_i64,
                    "wv": 0_i64,
                } },
            )
            .await
            .map_err(|e| map_err(what, &e))?;
        self.event_doc(id, what).await
    }

    /// The document for a new event (`available = capacity`).
    fn new_event_doc(event: NewEvent) -> EventDoc {
        EventDoc {
            id: ObjectId::new(),
            name: event.name,
            date: event.starts_at.date_naive(),
            location: event.location,
            capacity: i64::from(event.capacity),
            available: i64::from(event.capacity),
            max_per_user: i64::from(event.max_per_user),
            description: event.description,
            starts_at: Some(event.starts_at.to_rfc3339()),
            starts_utc: Some(to_bson_time(event.starts_at.with_timezone(&Utc))),
            cancelled_at: None,
            cancel_reason: None,
            sweep: None,
            held: 0,
            waitlist: Vec::new(),
            wseq: 0,
            wv: Some(0),
            holds: Vec::new(),
            releases: Vec::new(),
        }
    }

    /// See [`coliseum_store::Store::create_event`].
    pub async fn create_event(&self, event: NewEvent) -> StoreResult<Event> {
        let doc = Self::new_event_doc(event);
        self.events
            .insert_one(&doc)
            .await
            .map_err(|e| map_err("create_event", &e))?;
        doc.into_event()
    }

    /// See [`coliseum_store::Store::seed_events`]. Only one process seeds:
    /// after checking that no event exists it claims the `seed` marker in
    /// `counters` (a duplicate `_id` means another process seeded), then
    /// inserts the events.
    pub async fn seed_events(&self, events: Vec<NewEvent>) -> StoreResult<usize> {
        let existing = self
            .events
            .find_one(doc! {})
            .await
            .map_err(|e| map_err("seed_events", &e))?;
        if existing.is_some() || events.is_empty() {
            return Ok(0);
        }
        let marker = CounterDoc {
            id: "seed".to_owned(),
            seq: 1,
        };
        match self.counters.insert_one(&marker).await {
            Ok(_) => {}
            Err(error) if duplicate_key_index(&error).is_some() => return Ok(0),
            Err(error) => return Err(map_err("seed_events", &error)),
        }
        let docs: Vec<EventDoc> = events.into_iter().map(Self::new_event_doc).collect();
        let count = docs.len();
        self.events
            .insert_many(docs)
            .await
            .map_err(|e| map_err("seed_events", &e))?;
        Ok(count)
    }

    // ----- chat -------------------------------------------------------------

    /// See [`coliseum_store::Store::append_message`]: the room's counter is
    /// incremented atomically (`findOneAndUpdate` + `$inc`, upserted for a
    /// new room), then the message is stored with that `seq`. A crash (or
    /// an unreachable server) between the two leaves a number unused; it is
    /// never given out twice.
    pub async fn append_message(&self, message: NewMessage) -> StoreResult<ChatMessage> {
        let counter_id = format!("room:{}", message.room);
        let filter = doc! { "_id": &counter_id };
        let seq = loop_upsert_counter(&self.counters, filter).await?;
        let doc = message_doc(message, seq);
        self.messages
            .insert_one(&doc)
            .await
            .map_err(|e| map_err("append_message", &e))?;
        Ok(doc.into_message())
    }

    /// See [`coliseum_store::Store::append_messages`]: each room's counter
    /// is incremented once by its number of messages, which reserves their
    /// `seq`s in list order, then one ordered `insertMany` stores them all.
    /// If it fails at message *i*, the messages before *i* are stored and
    /// answered, *i* gets the error, and the ones after it are stored one by
    /// one with new numbers (the reserved ones stay unused, as after a crash
    /// in [`Inner::append_message`]). When the driver cannot say where it
    /// failed (e.g. the connection was lost), every message of the insert
    /// is answered with the error, as `append_message` would answer.
    pub async fn append_messages(
        &self,
        messages: Vec<NewMessage>,
    ) -> Vec<StoreResult<ChatMessage>> {
        let mut counts: Vec<(&str, i64)> = Vec::new();
        for message in &messages {
            match counts.iter_mut().find(|(room, _)| *room == message.room) {
                Some((_, count)) => *count += 1,
                None => counts.push((&message.room, 1)),
            }
        }
        // The next number of each room, or why none could be reserved.
        let mut next: Vec<(String, StoreResult<i64>)> = Vec::with_capacity(counts.len());
        for (room, count) in counts {
            let filter = doc! { "_id": format!("room:{room}") };
            let first = reserve_counter(&self.counters, filter, count).await;
            next.push((room.to_owned(), first));
        }
        let mut docs = Vec::with_capacity(messages.len());
        let mut results: Vec<StoreResult<usize>> = Vec::with_capacity(messages.len());
        for message in messages {
            let Some((_, reserved)) = next.iter_mut().find(|(room, _)| *room == message.room)
            else {
                results.push(Err(StoreError::Internal("room not counted".to_owned())));
                continue;
            };
            match reserved {
                Ok(seq) => {
                    results.push(Ok(docs.len()));
                    docs.push(message_doc(message, *seq));
                    *seq += 1;
                }
                Err(error) => results.push(Err(error.clone())),
            }
        }
        // Documents stored: all, or those before the first failure; and
        // the failure, with whether the driver said where it happened.
        let (stored, failure) = if docs.is_empty() {
            (0, None)
        } else {
            match self.messages.insert_many(&docs).ordered(true).await {
                Ok(_) => (docs.len(), None),
                Err(error) => {
                    let at = first_failed_insert(&error);
                    (
                        at.unwrap_or(0),
                        Some((at.is_some(), map_err("append_messages", &error))),
                    )
                }
            }
        };
        let mut docs: Vec<Option<MessageDoc>> = docs.into_iter().map(Some).collect();
        let mut answers = Vec::with_capacity(results.len());
        for result in results {
            let answer = match result {
                Err(error) => Err(error),
                Ok(index) => {
                    let doc = docs.get_mut(index).and_then(Option::take);
                    match (doc, &failure) {
                        (None, _) => Err(StoreError::Internal("message answered twice".to_owned())),
                        (Some(doc), _) if index < stored => Ok(doc.into_message()),
                        (Some(doc), None) => Ok(doc.into_message()),
                        // After the failed one: not attempted, so stored now
                        // one by one (with new numbers, still in order).
                        (Some(doc), Some((true, _))) if index > stored => {
                            self.append_message(NewMessage {
                                room: doc.room,
                                from: doc.from,
                                text: doc.text,
                                sent_at: from_bson_time(doc.sent_at),
                            })
                            .await
                        }
                        (Some(_), Some((_, error))) => Err(error.clone()),
                    }
                }
            };
            answers.push(answer);
        }
        answers
    }

    /// See [`coliseum_store::Store::chat_history`].
    pub async fn chat_history(
        &self,
        room: &str,
        before_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<Vec<ChatMessage>> {
        // Mongo reads `limit(0)` as "no limit".
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut filter = doc! { "room": room };
        if let Some(before) = before_seq.and_then(|b| i64::try_from(b).ok()) {
            filter.insert("seq", doc! { "$lt": before });
        }
        let mut docs: Vec<MessageDoc> = self
            .messages
            .find(filter)
            .sort(doc! { "seq": -1 })
            .limit(i64::from(limit))
            .await
            .map_err(|e| map_err("chat_history", &e))?
            .try_collect()
            .await
            .map_err(|e| map_err("chat_history", &e))?;
        docs.reverse();
        Ok(docs.into_iter().map(MessageDoc::into_message).collect())
    }

    /// See [`coliseum_store::Store::message`].
    pub async fn message(&self, room: &str, seq: u64) -> StoreResult<Option<ChatMessage>> {
        let found = self
            .messages
            .find_one(doc! { "room": room, "seq": to_i64(seq) })
            .await
            .map_err(|e| map_err("message", &e))?;
        Ok(found.map(MessageDoc::into_message))
    }

    /// See [`coliseum_store::Store::edit_message`]: one `findOneAndUpdate`
    /// guarded by `deleted != true`.
    pub async fn edit_message(
        &self,
        room: &str,
        seq: u64,
        text: String,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatMessage> {
        let at = to_bson_time(at);
        let update = doc! { "$set": { "text": &text, "edited_at": at } };
        let mut before = self
            .change_message("edit_message", room, seq, update)
            .await?;
        before.text = text;
        before.edited_at = Some(at);
        Ok(before.into_message())
    }

    /// See [`coliseum_store::Store::delete_message`]: one
    /// `findOneAndUpdate` guarded by `deleted != true` that empties the
    /// text, sets `deleted` and stamps `edited_at`.
    pub async fn delete_message(
        &self,
        room: &str,
        seq: u64,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatMessage> {
        let at = to_bson_time(at);
        let update = doc! { "$set": { "text": "", "deleted": true, "edited_at": at } };
        let mut before = self
            .change_message("delete_message", room, seq, update)
            .await?;
        before.text = String::new();
        before.deleted = true;
        before.edited_at = Some(at);
        Ok(before.into_message())
    }

    /// Applies `update` to the message `(room, seq)` unless it is deleted
    /// and returns it as it was before (the caller applies the change to
    /// that copy: see `loop_upsert_counter` for why not
    /// `ReturnDocument::After`). `NotFound` when missing or deleted.
    async fn change_message(
        &self,
        what: &str,
        room: &str,
        seq: u64,
        update: Document,
    ) -> StoreResult<MessageDoc> {
        self.messages
            .find_one_and_update(
                doc! { "room": room, "seq": to_i64(seq), "deleted": { "$ne": true } },
                update,
            )
            .return_document(ReturnDocument::Before)
            .await
            .map_err(|e| map_err(what, &e))?
            .ok_or(StoreError::NotFound)
    }

    // ----- audit ------------------------------------------------------------

    /// See [`coliseum_store::Store::append_audit`].
    pub async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        let doc = AuditDoc {
            id: ObjectId::new(),
            at: to_bson_time(entry.at),
            actor: entry.actor,
            action: entry.action,
            detail: entry.detail,
        };
        self.audit
            .insert_one(&doc)
            .await
            .map_err(|e| map_err("append_audit", &e))?;
        Ok(())
    }

    /// See [`coliseum_store::Store::recent_audit`]: newest by `at`, then by
    /// `_id` (ObjectIds made by one process increase), oldest first.
    pub async fn recent_audit(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut docs: Vec<AuditDoc> = self
            .audit
            .find(doc! {})
            .sort(doc! { "at": -1, "_id": -1 })
            .limit(i64::from(limit))
            .await
            .map_err(|e| map_err("recent_audit", &e))?
            .try_collect()
            .await
            .map_err(|e| map_err("recent_audit", &e))?;
        docs.reverse();
        Ok(docs.into_iter().map(AuditDoc::into_entry).collect())
    }
}

/// How often an upsert that lost a race on a new `_id` is tried again.
pub(crate) const UPSERT_ATTEMPTS: usize = 8;

/// The document of a new message numbered `seq`.
fn message_doc(message: NewMessage, seq: i64) -> MessageDoc {
    MessageDoc {
        id: ObjectId::new(),
        room: message.room,
        seq,
        system: message.from.is_none(),
        from: message.from,
        text: message.text,
        sent_at: to_bson_time(message.sent_at),
        edited_at: None,
        deleted: false,
    }
}

/// Where an ordered `insertMany` stopped: the index of its first failed
/// document (those before it were stored), if the error says.
fn first_failed_insert(error: &mongodb::error::Error) -> Option<usize> {
    match error.kind.as_ref() {
        mongodb::error::ErrorKind::InsertMany(failure) => failure
            .write_errors
            .as_ref()
            .and_then(|errors| errors.iter().map(|e| e.index).min()),
        _ => None,
    }
}

/// `$inc` the counter `filter` names by one (creating it at 1) and return
/// the new value. Two first upserts of the same `_id` can race; the loser
/// gets a duplicate-key error and simply tries again (the document exists
/// by then).
///
/// The new value is computed from the document *before* the update
/// (`ReturnDocument::Before`; `None` when the upsert created it): the same
/// on every server, and it sidesteps a mongo-java-server (1.47.0) race
/// where `ReturnDocument::After` can return a document that a concurrent
/// update has already changed again (it serializes the live document after
/// releasing its lock).
async fn loop_upsert_counter(
    counters: &Collection<CounterDoc>,
    filter: Document,
) -> StoreResult<i64> {
    reserve_counter(counters, filter, 1).await
}

/// [`loop_upsert_counter`] for `count` (≥ 1) numbers at once: adds `count`
/// and returns the first of the numbers reserved (`first..first + count`).
async fn reserve_counter(
    counters: &Collection<CounterDoc>,
    filter: Document,
    count: i64,
) -> StoreResult<i64> {
    let mut last = None;
    for _ in 0..UPSERT_ATTEMPTS {
        match counters
            .find_one_and_update(filter.clone(), doc! { "$inc": { "seq": count } })
            .upsert(true)
            .return_document(ReturnDocument::Before)
            .await
        {
            Ok(before) => return Ok(before.map_or(1, |counter| counter.seq + 1)),
            Err(error) if duplicate_key_index(&error).is_some() => last = Some(error),
            Err(error) => return Err(map_err("append_message", &error)),
        }
    }
    Err(last.map_or_else(
        || StoreError::Internal("counter upsert failed".to_owned()),
        |e| map_err("append_message", &e),
    ))
}
