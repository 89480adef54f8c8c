//! Async client for the Coliseum wire protocol, used by the desktop app, the
//! end-to-end tests and the load generator.
//!
//! A [`Client`] owns one connection. Requests may be issued concurrently from
//! many tasks (the handle is `Clone`); each gets a fresh `id`, and a reader
//! task routes every response to its waiting caller by `id`. Pushes go to the
//! [`Pushes`] receiver returned by [`Client::connect`], which ends (`None`)
//! when the connection closes.
//!
//! # Layout
//! - [`connection`]: framing, the reader and writer tasks, request routing.
//! - [`error`]: the [`ClientError`] type.
//! - this file: the typed per-op methods.

pub mod connection;
pub mod error;

use coliseum_protocol::response::{
    AccountData, AttendeesData, CancelEventData, ChatSendData, CheckInData, DirectSendData,
    EventData, EventsData, MembersData, MessagesData, OnlineData, PositionData, RegisterData,
    RoomData, RoomsData, ServerInfoData, SessionData, TicketData, TicketsData, WaitlistData,
};
use coliseum_protocol::{Attendee, ChatMessage, Event, Op, RoomInfo, RoomMember, Ticket, request};

pub use coliseum_tls::{Fingerprint, PinStore, TlsError, Trust};
pub use connection::{Client, Pushes, Transport, Welcome};
pub use error::ClientError;

impl Client {
    /// `register` → the new account's id.
    ///
    /// # Errors
    /// `bad_request` (rules broken; `field` names which), `conflict` (taken).
    pub async fn register(
        &self,
        username: &str,
        password: &str,
        email: &str,
    ) -> Result<RegisterData, ClientError> {
        self.call(Op::Register(request::Register {
            username: username.to_owned(),
            password: password.to_owned(),
            email: email.to_owned(),
        }))
        .await
    }

    /// `login` → the session (with its token for [`Client::resume`]).
    ///
    /// # Errors
    /// `unauthenticated` for a wrong username or password.
    pub async fn login(&self, username: &str, password: &str) -> Result<SessionData, ClientError> {
        self.call(Op::Login(request::Login {
            username: username.to_owned(),
            password: password.to_owned(),
        }))
        .await
    }

    /// `resume` → re-attach the session of `token` to this connection.
    ///
    /// # Errors
    /// `unauthenticated` for an unknown, revoked or expired token.
    pub async fn resume(&self, token: &str) -> Result<SessionData, ClientError> {
        self.call(Op::Resume(request::Resume {
            token: token.to_owned(),
        }))
        .await
    }

    /// `logout`: ends the session and revokes its token.
    ///
    /// # Errors
    /// `unauthenticated` when not logged in.
    pub async fn logout(&self) -> Result<(), ClientError> {
        self.request(Op::Logout(request::Logout {})).await.map(drop)
    }

    /// `update_account`: change any of username, password, e-mail.
    ///
    /// # Errors
    /// `unauthenticated` (not logged in or wrong current password),
    /// `bad_request`, `conflict`.
    pub async fn update_account(
        &self,
        current_password: &str,
        new_username: Option<&str>,
        new_password: Option<&str>,
        new_email: Option<&str>,
    ) -> Result<AccountData, ClientError> {
        self.call(Op::UpdateAccount(request::UpdateAccount {
            current_password: current_password.to_owned(),
            new_username: new_username.map(str::to_owned),
            new_password: new_password.map(str::to_owned),
            new_email: new_email.map(str::to_owned),
        }))
        .await
    }

    /// `list_events` → every event with its live seat count.
    ///
    /// # Errors
    /// `unavailable` when the server's store is down.
    pub async fn list_events(&self) -> Result<Vec<Event>, ClientError> {
        self.call::<EventsData>(Op::ListEvents(request::ListEvents {}))
            .await
            .map(|d| d.events)
    }

    /// `create_event` (admins only) → the new event. `date` is `YYYY-MM-DD`.
    ///
    /// # Errors
    /// `forbidden` for non-admins, `bad_request` for invalid fields.
    pub async fn create_event(
        &self,
        name: &str,
        date: &str,
        location: &str,
        capacity: u32,
        max_per_user: Option<u32>,
    ) -> Result<Event, ClientError> {
        self.call::<EventData>(Op::CreateEvent(request::CreateEvent {
            name: name.to_owned(),
            date: date.to_owned(),
            location: location.to_owned(),
            capacity,
            max_per_user,
            ..request::CreateEvent::default()
        }))
        .await
        .map(|d| d.event)
    }

    /// `book` → the ticket. Reuse the same `request_key` when retrying after a
    /// reconnect: the server then returns the original ticket.
    ///
    /// # Errors
    /// `sold_out`, `limit_exceeded`, `not_found`, `unauthenticated`.
    pub async fn book(
        &self,
        event_id: &str,
        quantity: u32,
        request_key: Option<&str>,
    ) -> Result<Ticket, ClientError> {
        self.call::<TicketData>(Op::Book(request::Book {
            event_id: event_id.to_owned(),
            quantity,
            request_key: request_key.map(str::to_owned),
        }))
        .await
        .map(|d| d.ticket)
    }

    /// `my_tickets` → the caller's active tickets, newest first.
    ///
    /// # Errors
    /// `unauthenticated`.
    pub async fn my_tickets(&self) -> Result<Vec<Ticket>, ClientError> {
        self.call::<TicketsData>(Op::MyTickets(request::MyTickets {}))
            .await
            .map(|d| d.tickets)
    }

    /// `cancel_ticket`: the seats go back to the event.
    ///
    /// # Errors
    /// `not_found` (unknown, already cancelled, or someone else's ticket).
    pub async fn cancel_ticket(&self, ticket_id: &str) -> Result<(), ClientError> {
        self.request(Op::CancelTicket(request::CancelTicket {
            ticket_id: ticket_id.to_owned(),
            quantity: None,
        }))
        .await
        .map(drop)
    }

    /// `chat_send` → the stored message's `seq`. `room` defaults to `lobby`.
    ///
    /// # Errors
    /// `bad_request` (empty or > 2,000 characters), `unauthenticated`.
    pub async fn chat_send(&self, room: Option<&str>, text: &str) -> Result<u64, ClientError> {
        self.call::<ChatSendData>(Op::ChatSend(request::ChatSend {
            room: room.map(str::to_owned),
            text: text.to_owned(),
        }))
        .await
        .map(|d| d.seq)
    }

    /// `chat_history` → up to `limit` messages before `before_seq`, oldest first.
    ///
    /// # Errors
    /// `bad_request`, `unauthenticated`.
    pub async fn chat_history(
        &self,
        room: Option<&str>,
        before_seq: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Vec<ChatMessage>, ClientError> {
        self.call::<MessagesData>(Op::ChatHistory(request::ChatHistory {
            room: room.map(str::to_owned),
            before_seq,
            limit,
        }))
        .await
        .map(|d| d.messages)
    }

    /// `online` → distinct logged-in users and their names.
    ///
    /// # Errors
    /// Only transport errors.
    pub async fn online(&self) -> Result<OnlineData, ClientError> {
        self.call(Op::Online(request::Online {})).await
    }

    /// `rooms` → every public and event room and the caller's direct rooms,
    /// with unread and mention counts.
    ///
    /// # Errors
    /// `unauthenticated`.
    pub async fn rooms(&self) -> Result<Vec<RoomInfo>, ClientError> {
        self.call::<RoomsData>(Op::Rooms(request::Rooms {}))
            .await
            .map(|d| d.rooms)
    }

    /// `room_create` → the new public room's name; the caller owns it.
    ///
    /// # Errors
    /// `bad_request` (name rules), `conflict` (name taken), `unauthenticated`.
    pub async fn room_create(
        &self,
        room: &str,
        topic: Option<&str>,
    ) -> Result<String, ClientError> {
        self.call::<RoomData>(Op::RoomCreate(request::RoomCreate {
            room: room.to_owned(),
            topic: topic.map(str::to_owned),
        }))
        .await
        .map(|d| d.room)
    }

    /// `room_join`: become a member of a public or event room.
    ///
    /// # Errors
    /// `not_found`, `forbidden` (direct rooms), `unauthenticated`.
    pub async fn room_join(&self, room: &str) -> Result<(), ClientError> {
        self.request(Op::RoomJoin(request::RoomJoin {
            room: room.to_owned(),
        }))
        .await
        .map(drop)
    }

    /// `room_leave`: stop being a member.
    ///
    /// # Errors
    /// `bad_request` (`lobby`, direct rooms), `not_found`, `unauthenticated`.
    pub async fn room_leave(&self, room: &str) -> Result<(), ClientError> {
        self.request(Op::RoomLeave(request::RoomLeave {
            room: room.to_owned(),
        }))
        .await
        .map(drop)
    }

    /// `room_members` → the room's members, roles and presence.
    ///
    /// # Errors
    /// `not_found`, `forbidden` (someone else's direct room), `unauthenticated`.
    pub async fn room_members(&self, room: &str) -> Result<Vec<RoomMember>, ClientError> {
        self.call::<MembersData>(Op::RoomMembers(request::RoomMembers {
            room: room.to_owned(),
        }))
        .await
        .map(|d| d.members)
    }

    /// `dm_send` → the direct room and the message's `seq`.
    ///
    /// # Errors
    /// `not_found` (unknown user), `bad_request`, `unauthenticated`.
    pub async fn dm_send(&self, to: &str, text: &str) -> Result<DirectSendData, ClientError> {
        self.call(Op::DmSend(request::DmSend {
            to: to.to_owned(),
            text: text.to_owned(),
        }))
        .await
    }

    /// `mark_read`: everything up to `seq` in `room` is read.
    ///
    /// # Errors
    /// `forbidden` (not a member), `not_found`, `unauthenticated`.
    pub async fn mark_read(&self, room: &str, seq: u64) -> Result<(), ClientError> {
        self.request(Op::MarkRead(request::MarkRead {
            room: room.to_owned(),
            seq,
        }))
        .await
        .map(drop)
    }

    /// `chat_edit`: new text for one's own message.
    ///
    /// # Errors
    /// `forbidden` (not the author), `not_found`, `bad_request`.
    pub async fn chat_edit(&self, room: &str, seq: u64, text: &str) -> Result<(), ClientError> {
        self.request(Op::ChatEdit(request::ChatEdit {
            room: room.to_owned(),
            seq,
            text: text.to_owned(),
        }))
        .await
        .map(drop)
    }

    /// `chat_delete`: delete a message (author, owner/moderator, admin).
    ///
    /// # Errors
    /// `forbidden`, `not_found`.
    pub async fn chat_delete(&self, room: &str, seq: u64) -> Result<(), ClientError> {
        self.request(Op::ChatDelete(request::ChatDelete {
            room: room.to_owned(),
            seq,
        }))
        .await
        .map(drop)
    }

    /// `typing`: tell the room's members the caller is typing.
    ///
    /// # Errors
    /// `forbidden` (not a member), `unauthenticated`.
    pub async fn typing(&self, room: &str) -> Result<(), ClientError> {
        self.request(Op::Typing(request::Typing {
            room: room.to_owned(),
        }))
        .await
        .map(drop)
    }

    /// `create_event` with every field (`starts_at`, `description`) → the
    /// new event.
    ///
    /// # Errors
    /// `forbidden` for non-admins, `bad_request` for invalid fields.
    pub async fn create_event_with(
        &self,
        form: request::CreateEvent,
    ) -> Result<Event, ClientError> {
        self.call::<EventData>(Op::CreateEvent(form))
            .await
            .map(|d| d.event)
    }

    /// `update_event` (admins) → the event as changed.
    ///
    /// # Errors
    /// `forbidden`, `not_found`, `event_closed`, `conflict` (capacity below
    /// seats sold and held), `bad_request`.
    pub async fn update_event(&self, update: request::UpdateEvent) -> Result<Event, ClientError> {
        self.call::<EventData>(Op::UpdateEvent(update))
            .await
            .map(|d| d.event)
    }

    /// `cancel_event` (admins) → how many tickets were refunded.
    ///
    /// # Errors
    /// `forbidden`, `not_found`, `event_closed`, `bad_request`.
    pub async fn cancel_event(&self, event_id: &str, reason: &str) -> Result<u64, ClientError> {
        self.call::<CancelEventData>(Op::CancelEvent(request::CancelEvent {
            event_id: event_id.to_owned(),
            reason: reason.to_owned(),
        }))
        .await
        .map(|d| d.refunded_tickets)
    }

    /// `cancel_ticket` for part of a ticket: gives `quantity` seats back.
    ///
    /// # Errors
    /// `not_found`, `bad_request` (more seats than the ticket has),
    /// `conflict` (checked in), `event_closed`.
    pub async fn cancel_seats(&self, ticket_id: &str, quantity: u32) -> Result<(), ClientError> {
        self.request(Op::CancelTicket(request::CancelTicket {
            ticket_id: ticket_id.to_owned(),
            quantity: Some(quantity),
        }))
        .await
        .map(drop)
    }

    /// `waitlist_join` → the caller's 1-based position.
    ///
    /// # Errors
    /// `conflict` (seats are available, or already waiting),
    /// `limit_exceeded`, `event_closed`, `not_found`.
    pub async fn waitlist_join(&self, event_id: &str, quantity: u32) -> Result<u32, ClientError> {
        self.call::<PositionData>(Op::WaitlistJoin(request::WaitlistJoin {
            event_id: event_id.to_owned(),
            quantity,
        }))
        .await
        .map(|d| d.position)
    }

    /// `waitlist_leave`.
    ///
    /// # Errors
    /// `not_found` when not waiting.
    pub async fn waitlist_leave(&self, event_id: &str) -> Result<(), ClientError> {
        self.request(Op::WaitlistLeave(request::WaitlistLeave {
            event_id: event_id.to_owned(),
        }))
        .await
        .map(drop)
    }

    /// `my_waitlist` → entries and open offers.
    ///
    /// # Errors
    /// `unauthenticated`.
    pub async fn my_waitlist(&self) -> Result<WaitlistData, ClientError> {
        self.call::<WaitlistData>(Op::MyWaitlist(request::MyWaitlist {}))
            .await
    }

    /// `offer_accept` → the ticket.
    ///
    /// # Errors
    /// `not_found`, `conflict` (lapsed), `limit_exceeded`, `event_closed`.
    pub async fn offer_accept(&self, offer_id: &str) -> Result<Ticket, ClientError> {
        self.call::<TicketData>(Op::OfferAccept(request::OfferAccept {
            offer_id: offer_id.to_owned(),
        }))
        .await
        .map(|d| d.ticket)
    }

    /// `offer_decline`.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn offer_decline(&self, offer_id: &str) -> Result<(), ClientError> {
        self.request(Op::OfferDecline(request::OfferDecline {
            offer_id: offer_id.to_owned(),
        }))
        .await
        .map(drop)
    }

    /// `server_info` → version and ticket-signing public key.
    ///
    /// # Errors
    /// Transport errors only.
    pub async fn server_info(&self) -> Result<ServerInfoData, ClientError> {
        self.call::<ServerInfoData>(Op::ServerInfo(request::ServerInfo {}))
            .await
    }

    /// `check_in` (admins, staff) → the ticket, event and holder.
    ///
    /// # Errors
    /// `bad_request` (not a valid code), `conflict` (checked in already,
    /// naming when; or cancelled), `forbidden`.
    pub async fn check_in(&self, code: &str) -> Result<CheckInData, ClientError> {
        self.call::<CheckInData>(Op::CheckIn(request::CheckIn {
            code: code.to_owned(),
        }))
        .await
    }

    /// `attendees` (admins, staff) → the event's active tickets.
    ///
    /// # Errors
    /// `forbidden`, `not_found`.
    pub async fn attendees(&self, event_id: &str) -> Result<Vec<Attendee>, ClientError> {
        self.call::<AttendeesData>(Op::Attendees(request::Attendees {
            event_id: event_id.to_owned(),
        }))
        .await
        .map(|d| d.attendees)
    }

    /// Any op answered `{}` (moderation ops and the like): sends it and
    /// discards the empty data.
    ///
    /// # Errors
    /// The op's error.
    pub async fn send_op(&self, op: impl Into<Op>) -> Result<(), ClientError> {
        self.request(op.into()).await.map(drop)
    }
}
