//! A [`Store`] that forwards to a real one until told to fail: every
//! operation then returns the chosen [`StoreError`] (only `close` and
//! `append_audit` still go through). Lets the tests reach the `unavailable`
//! and `internal` error codes and check the server survives them.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coliseum_protocol::{ChatMessage, Event, Ticket};
use coliseum_store::{
    AuditEntry, Booking, BookingRequest, Cancellation, NewEvent, NewMessage, NewUser,
    SessionRecord, SessionUser, Store, StoreError, StoreResult, User, UserUpdate,
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
    async fn cancel_ticket(&self, user_id: &str, ticket_id: &str) -> StoreResult<Cancellation> {
        self.check()?;
        self.inner.cancel_ticket(user_id, ticket_id).await
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
