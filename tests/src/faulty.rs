//! A [`Store`] that forwards to a real one until told to fail: every
//! operation then returns the chosen [`StoreError`] (only `close` and
//! `append_audit` still go through). Lets the tests reach the `unavailable`
//! and `internal` error codes and check the server survives them.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coliseum_protocol::{
    Attendee, ChatMessage, Event, Offer, RoomInfo, RoomRole, Ticket, WaitlistEntry,
};
use coliseum_store::{
    AuditEntry, Booking, BookingRequest, Cancellation, CheckIn, EventCancellation, EventChange,
    EventUpdate, LoginFailures, Membership, NewEvent, NewMessage, NewOffers, NewRoom, NewUser,
    OfferPolicy, OfferSweep, Room, SessionRecord, SessionUser, Store, StoreError, StoreResult,
    User, UserUpdate,
};

/// See the module docs.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    fault: Mutex<Option<StoreError>>,
}

impl FaultyStore {
    /// Wraps `inner`, healthy.
    #[must_use]
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            fault: Mutex::new(None),
        }
    }

    /// From now on every operation fails with `fault` (`None`: healthy again).
    pub fn set(&self, fault: Option<StoreError>) {
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner) = fault;
    }

    fn check(&self) -> StoreResult<()> {
        self.fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .map_or(Ok(()), Err)
    }
}

#[async_trait]
impl Store for FaultyStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        self.check()?;
        self.inner.create_user(user).await
    }
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        self.check()?;
        self.inner.user_by_username(username).await
    }
    async fn user_by_id(&self, user_id: &str) -> StoreResult<Option<User>> {
        self.check()?;
        self.inner.user_by_id(user_id).await
    }
    async fn update_user(&self, user_id: &str, update: UserUpdate) -> StoreResult<User> {
        self.check()?;
        self.inner.update_user(user_id, update).await
    }
    async fn create_session(&self, session: SessionRecord) -> StoreResult<()> {
        self.check()?;
        self.inner.create_session(session).await
    }
    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionUser>> {
        self.check()?;
        self.inner.session(token_hash, now).await
    }
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        self.check()?;
        self.inner.delete_session(token_hash).await
    }
    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<u64> {
        self.check()?;
        self.inner.delete_user_sessions(user_id).await
    }
    async fn record_login_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: std::time::Duration,
    ) -> StoreResult<LoginFailures> {
        self.check()?;
        self.inner.record_login_failure(key, now, window).await
    }
    async fn login_failures(&self, keys: &[String]) -> StoreResult<Vec<(String, LoginFailures)>> {
        self.check()?;
        self.inner.login_failures(keys).await
    }
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        self.check()?;
        self.inner.clear_login_failures(key).await
    }
    async fn list_events(&self) -> StoreResult<Vec<Event>> {
        self.check()?;
        self.inner.list_events().await
    }
    async fn event(&self, event_id: &str) -> StoreResult<Option<Event>> {
        self.check()?;
        self.inner.event(event_id).await
    }
    async fn create_event(&self, event: NewEvent) -> StoreResult<Event> {
        self.check()?;
        self.inner.create_event(event).await
    }
    async fn seed_events(&self, events: Vec<NewEvent>) -> StoreResult<usize> {
        self.check()?;
        self.inner.seed_events(events).await
    }
    async fn book(&self, request: BookingRequest) -> StoreResult<Booking> {
        self.check()?;
        self.inner.book(request).await
    }
    async fn tickets_for_user(&self, user_id: &str) -> StoreResult<Vec<Ticket>> {
        self.check()?;
        self.inner.tickets_for_user(user_id).await
    }
    async fn cancel_ticket(
        &self,
        user_id: &str,
        ticket_id: &str,
        quantity: Option<u32>,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<Cancellation> {
        self.check()?;
        self.inner
            .cancel_ticket(user_id, ticket_id, quantity, now, policy)
            .await
    }
    async fn update_event(
        &self,
        event_id: &str,
        update: EventUpdate,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<EventChange> {
        self.check()?;
        self.inner.update_event(event_id, update, now, policy).await
    }
    async fn cancel_event(
        &self,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<EventCancellation> {
        self.check()?;
        self.inner.cancel_event(event_id, reason, now).await
    }
    async fn waitlist_join(
        &self,
        event_id: &str,
        user_id: &str,
        quantity: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<u32> {
        self.check()?;
        self.inner
            .waitlist_join(event_id, user_id, quantity, now)
            .await
    }
    async fn waitlist_leave(
        &self,
        event_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<NewOffers> {
        self.check()?;
        self.inner
            .waitlist_leave(event_id, user_id, now, policy)
            .await
    }
    async fn waitlist_of_user(&self, user_id: &str) -> StoreResult<Vec<WaitlistEntry>> {
        self.check()?;
        self.inner.waitlist_of_user(user_id).await
    }
    async fn offers_of_user(&self, user_id: &str, now: DateTime<Utc>) -> StoreResult<Vec<Offer>> {
        self.check()?;
        self.inner.offers_of_user(user_id, now).await
    }
    async fn offer_accept(
        &self,
        offer_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
        audit_actor: Option<&str>,
    ) -> StoreResult<Booking> {
        self.check()?;
        self.inner
            .offer_accept(offer_id, user_id, now, audit_actor)
            .await
    }
    async fn offer_decline(
        &self,
        offer_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<NewOffers> {
        self.check()?;
        self.inner
            .offer_decline(offer_id, user_id, now, policy)
            .await
    }
    async fn expire_offers(
        &self,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<OfferSweep> {
        self.check()?;
        self.inner.expire_offers(now, policy).await
    }
    async fn next_offer_expiry(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.check()?;
        self.inner.next_offer_expiry().await
    }
    async fn check_in(
        &self,
        ticket_id: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<CheckIn> {
        self.check()?;
        self.inner.check_in(ticket_id, event_id, now).await
    }
    async fn attendees(&self, event_id: &str) -> StoreResult<Vec<Attendee>> {
        self.check()?;
        self.inner.attendees(event_id).await
    }
    async fn append_message(&self, message: NewMessage) -> StoreResult<ChatMessage> {
        self.check()?;
        self.inner.append_message(message).await
    }
    async fn chat_history(
        &self,
        room: &str,
        before_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<Vec<ChatMessage>> {
        self.check()?;
        self.inner.chat_history(room, before_seq, limit).await
    }
    async fn set_ban(&self, user_id: &str, until: Option<DateTime<Utc>>) -> StoreResult<()> {
        self.check()?;
        self.inner.set_ban(user_id, until).await
    }
    async fn room(&self, name: &str) -> StoreResult<Option<Room>> {
        self.check()?;
        self.inner.room(name).await
    }
    async fn create_room(&self, room: NewRoom) -> StoreResult<Room> {
        self.check()?;
        self.inner.create_room(room).await
    }
    async fn direct_room(
        &self,
        user_a: &str,
        user_b: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Room> {
        self.check()?;
        self.inner.direct_room(user_a, user_b, name, now).await
    }
    async fn set_slow_mode(&self, room: &str, seconds: u32) -> StoreResult<()> {
        self.check()?;
        self.inner.set_slow_mode(room, seconds).await
    }
    async fn membership(&self, room: &str, user_id: &str) -> StoreResult<Option<Membership>> {
        self.check()?;
        self.inner.membership(room, user_id).await
    }
    async fn join_room(&self, room: &str, user_id: &str, role: RoomRole) -> StoreResult<bool> {
        self.check()?;
        self.inner.join_room(room, user_id, role).await
    }
    async fn leave_room(&self, room: &str, user_id: &str) -> StoreResult<bool> {
        self.check()?;
        self.inner.leave_room(room, user_id).await
    }
    async fn set_room_role(&self, room: &str, user_id: &str, role: RoomRole) -> StoreResult<()> {
        self.check()?;
        self.inner.set_room_role(room, user_id, role).await
    }
    async fn set_mute(
        &self,
        room: &str,
        user_id: &str,
        until: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        self.check()?;
        self.inner.set_mute(room, user_id, until).await
    }
    async fn mark_read(&self, room: &str, user_id: &str, seq: u64) -> StoreResult<u64> {
        self.check()?;
        self.inner.mark_read(room, user_id, seq).await
    }
    async fn room_members(&self, room: &str) -> StoreResult<Vec<Membership>> {
        self.check()?;
        self.inner.room_members(room).await
    }
    async fn rooms_of_user(&self, user_id: &str) -> StoreResult<Vec<String>> {
        self.check()?;
        self.inner.rooms_of_user(user_id).await
    }
    async fn room_list(&self, user_id: &str, username: &str) -> StoreResult<Vec<RoomInfo>> {
        self.check()?;
        self.inner.room_list(user_id, username).await
    }
    async fn message(&self, room: &str, seq: u64) -> StoreResult<Option<ChatMessage>> {
        self.check()?;
        self.inner.message(room, seq).await
    }
    async fn edit_message(
        &self,
        room: &str,
        seq: u64,
        text: String,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatMessage> {
        self.check()?;
        self.inner.edit_message(room, seq, text, at).await
    }
    async fn delete_message(
        &self,
        room: &str,
        seq: u64,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatMessage> {
        self.check()?;
        self.inner.delete_message(room, seq, at).await
    }
    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        self.inner.append_audit(entry).await
    }
    async fn recent_audit(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        self.check()?;
        self.inner.recent_audit(limit).await
    }
    async fn close(&self) -> StoreResult<()> {
        self.inner.close().await
    }
}
