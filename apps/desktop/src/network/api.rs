//! The vocabulary between the UI and the network thread: the [`NetCommand`]s
//! the UI sends and the [`NetEvent`]s it receives, with the small types they
//! carry. Pure data: no I/O here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use coliseum_client::{ClientError, Fingerprint, Welcome};
use coliseum_protocol::request::UpdateEvent;
use coliseum_protocol::response::{CheckInData, OnlineData, SessionData, WaitlistData};
use coliseum_protocol::{Attendee, ChatMessage, Event, Offer, RoomInfo, RoomMember, Ticket};

use super::connect::Security;
use crate::transfer::{ExportFormat, NewEvent, RowError};

/// What the UI asks the network thread to do.
#[derive(Debug, Clone)]
pub enum NetCommand {
    /// Connect to a server at `addr` (`host:port`) and keep the connection
    /// alive (reconnecting with back-off once it has succeeded once).
    Connect {
        /// `host:port`, e.g. `127.0.0.1:7878`.
        addr: String,
        /// TLS or not, and how the server is trusted.
        security: Security,
    },
    /// Pin `fingerprint` for `host` in the pin store (the user accepted it
    /// on the first-connection prompt); connecting again is a separate
    /// [`NetCommand::Connect`].
    TrustServer {
        /// `host:port`, the pin's key.
        host: String,
        /// The certificate fingerprint the server presented.
        fingerprint: Fingerprint,
    },
    /// Remove the pin of `host` (after the user confirmed), so that the next
    /// connection asks again.
    ForgetServer {
        /// `host:port`, the pin's key.
        host: String,
    },
    /// Ask for a CA certificate file (PEM) with the system's file dialog.
    PickCaFile,
    /// Start the server library in this process on the embedded store and
    /// connect to it.
    Host(HostRequest),
    /// Close the connection, stop a hosted server, forget the session.
    Disconnect,
    /// Create an account, then log in with it.
    Register {
        /// Username (rules: `coliseum_protocol::validate::username`).
        username: String,
        /// Password (rules: `coliseum_protocol::validate::password`).
        password: String,
        /// E-mail address.
        email: String,
    },
    /// Log in with a password.
    Login {
        /// Username.
        username: String,
        /// Password.
        password: String,
    },
    /// End the session (revokes its token on the server).
    Logout,
    /// Re-read the event list.
    RefreshEvents,
    /// Create an event (admins only).
    CreateEvent(NewEvent),
    /// Book seats; the network side picks a random `request_key` and reuses it
    /// for retries after a reconnect.
    Book {
        /// The event's id.
        event_id: String,
        /// Seats wanted, ≥ 1.
        quantity: u32,
    },
    /// Re-read "My tickets".
    RefreshTickets,
    /// Cancel one of the user's tickets, or give back part of it.
    CancelTicket {
        /// The ticket's id.
        ticket_id: String,
        /// Seats to give back; `None` cancels the whole ticket.
        quantity: Option<u32>,
    },
    /// `waitlist_join`: wait for `quantity` seats of a sold-out event.
    JoinWaitlist {
        /// The event.
        event_id: String,
        /// Seats wanted, within the per-user limit.
        quantity: u32,
    },
    /// `waitlist_leave`.
    LeaveWaitlist {
        /// The event.
        event_id: String,
    },
    /// Re-read the user's waiting-list places and open offers (`my_waitlist`).
    RefreshWaitlist,
    /// `offer_accept`: book the seats held for the user.
    AcceptOffer {
        /// The offer.
        offer_id: String,
    },
    /// `offer_decline`: pass the seats to the next in line.
    DeclineOffer {
        /// The offer.
        offer_id: String,
    },
    /// `update_event` (admins): the fields set in the request change.
    UpdateEvent(UpdateEvent),
    /// `cancel_event` (admins): refunds every ticket, tells the holders why.
    CancelEvent {
        /// The event.
        event_id: String,
        /// Why, shown to every holder (1–500 characters).
        reason: String,
    },
    /// `attendees` (admins and staff).
    LoadAttendees {
        /// The event.
        event_id: String,
    },
    /// `check_in` (admins and staff): a code typed, pasted or read from a QR image.
    CheckIn {
        /// The ticket code (`C1.…`).
        code: String,
    },
    /// Ask for an image of a ticket's QR code, read it, and check it in.
    CheckInImage,
    /// Read the QR code in this image file (e.g. dropped on the window) and
    /// check it in.
    CheckInImageFile(PathBuf),
    /// Ask where to save, then write a file the UI prepared (a ticket PNG,
    /// a calendar entry, an attendees CSV).
    SaveFile(SaveRequest),
    /// Write a prepared file into the Downloads folder without a dialog
    /// (for desktops with no file-dialog service).
    SaveToDownloads(SaveRequest),
    /// Send a chat message to a room.
    ChatSend {
        /// The room (`lobby`, a public, event or direct room).
        room: String,
        /// Message text (1–2,000 characters).
        text: String,
    },
    /// Load the page of a room's messages just before `before_seq`.
    ChatOlder {
        /// The room.
        room: String,
        /// The smallest `seq` the UI already has.
        before_seq: u64,
    },
    /// Re-read the room list (`rooms`).
    RefreshRooms,
    /// Load a room's newest messages and its members (when it is opened).
    OpenRoom {
        /// The room.
        room: String,
    },
    /// Create a public room (the user becomes its owner).
    CreateRoom {
        /// 2–32 of `a-z 0-9 - _`.
        room: String,
        /// Optional topic.
        topic: String,
    },
    /// Join a public or event room.
    JoinRoom {
        /// The room.
        room: String,
    },
    /// Leave a room.
    LeaveRoom {
        /// The room.
        room: String,
    },
    /// Join an event's room and open it ("Discuss").
    Discuss {
        /// The event.
        event_id: String,
    },
    /// Send a direct message (creates the direct room on first use).
    DirectMessage {
        /// The other user's name.
        to: String,
        /// Message text.
        text: String,
    },
    /// Everything up to `seq` in `room` has been seen.
    MarkRead {
        /// The room.
        room: String,
        /// The newest `seq` seen.
        seq: u64,
    },
    /// Replace the text of one's own message.
    EditMessage {
        /// The room.
        room: String,
        /// The message.
        seq: u64,
        /// New text.
        text: String,
    },
    /// Delete a message (own, or as a moderator).
    DeleteMessage {
        /// The room.
        room: String,
        /// The message.
        seq: u64,
    },
    /// The user is typing in `room` (sent at most every few seconds).
    Typing {
        /// The room.
        room: String,
    },
    /// Moderators: silence `user` in `room` for `minutes` (0 lifts it).
    Mute {
        /// The room.
        room: String,
        /// The member.
        user: String,
        /// Minutes, 0–43,200.
        minutes: u32,
    },
    /// Moderators: remove `user` from `room`.
    Kick {
        /// The room.
        room: String,
        /// The member.
        user: String,
    },
    /// Ask where to save, then write `tickets` as CSV or JSON.
    ExportTickets {
        /// File format.
        format: ExportFormat,
        /// The rows to write (what the user sees in "My tickets").
        tickets: Vec<Ticket>,
    },
    /// Write `tickets` as CSV or JSON into the Downloads folder, without a
    /// dialog (for desktops with no file-dialog service).
    ExportTicketsToDownloads {
        /// File format.
        format: ExportFormat,
        /// The rows to write.
        tickets: Vec<Ticket>,
    },
    /// Ask for a CSV or JSON file of events, validate every row, and create
    /// them all, or none when any row is invalid (admins only).
    ImportEvents,
    /// Stop waiting for the next reconnect attempt and try now.
    ReconnectNow,
    /// `update_account`: change any of username, e-mail and password,
    /// proving the current password. `None` leaves a value as it is.
    UpdateAccount {
        /// The current password.
        current_password: String,
        /// New username.
        new_username: Option<String>,
        /// New e-mail.
        new_email: Option<String>,
        /// New password (the server then ends the user's other sessions).
        new_password: Option<String>,
    },
    /// Stop everything; the network thread exits.
    Quit,
}

/// A file the UI prepared, to be saved where the user chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveRequest {
    /// What it is, for the dialog title and the notice ("Ticket", "Calendar entry").
    pub what: String,
    /// Proposed file name, e.g. `ticket-concerto-rock.png`.
    pub file_name: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

impl SaveRequest {
    /// The proposed name's extension (`png`, `ics`, `csv`), for the dialog's filter.
    #[must_use]
    pub fn extension(&self) -> &str {
        self.file_name.rsplit_once('.').map_or("", |(_, ext)| ext)
    }
}

/// Settings of "Host on this computer".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRequest {
    /// Where the server listens, e.g. `0.0.0.0:7878` so that others on the
    /// network can join, or `127.0.0.1:0` for a private server on any port.
    pub listen: SocketAddr,
    /// Directory of the embedded SQLite store (created when missing).
    pub data_dir: PathBuf,
}

/// Connection state shown in the status bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// Not connected and not trying to.
    Offline,
    /// A connection attempt is under way.
    Connecting,
    /// Connected (the server's `welcome` was received).
    Connected,
    /// The connection was lost; the next attempt starts after `delay`.
    Reconnecting {
        /// Wait before the next attempt (exponential back-off from 0.5 s,
        /// capped at 5 s, with ±20 % jitter).
        delay: Duration,
    },
}

/// One address of the server address list, as the status bar names it
/// (issue 15: several addresses, tried in turn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerChoice {
    /// The address: `host:port` as typed, followed by the socket address
    /// when a name resolved to it, e.g. `venue.example:7878 (10.0.0.2:7878)`.
    pub addr: String,
    /// Its position in the list, from 1.
    pub position: usize,
    /// How many addresses the list (names resolved) has.
    pub total: usize,
}

impl std::fmt::Display for ServerChoice {
    /// `10.0.0.2:7878 (2 of 3)`, or just the address when it is the only one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.total > 1 {
            write!(f, "{} ({} of {})", self.addr, self.position, self.total)
        } else {
            f.write_str(&self.addr)
        }
    }
}

/// A failure to show next to a form: the server's message and, when the
/// server named it, the request field it concerns (`"username"`, `"date"`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError {
    /// The request field the message concerns, when known.
    pub field: Option<String>,
    /// Text for people.
    pub message: String,
}

impl FormError {
    /// An error not tied to one field.
    #[must_use]
    pub fn general(message: impl Into<String>) -> Self {
        Self {
            field: None,
            message: message.into(),
        }
    }

    /// The message when it concerns `field`.
    #[must_use]
    pub fn for_field(&self, field: &str) -> Option<&str> {
        (self.field.as_deref() == Some(field)).then_some(self.message.as_str())
    }
}

impl From<&ClientError> for FormError {
    fn from(error: &ClientError) -> Self {
        match error {
            ClientError::Server(body) => Self {
                field: body.field.clone(),
                message: body.message.clone(),
            },
            other => Self::general(other.to_string()),
        }
    }
}

/// Result of an events import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Some rows broke the rules; nothing was created.
    Invalid(Vec<RowError>),
    /// The file could not be read or parsed as a whole.
    Unreadable(String),
    /// Every row was created.
    Imported {
        /// Events created.
        count: usize,
    },
    /// The server refused a row after earlier ones were created (e.g. the
    /// connection dropped); `created` rows exist, the rest do not.
    Interrupted {
        /// Events created before the failure.
        created: usize,
        /// Row number (1-based, as in the file) that failed.
        row: usize,
        /// Why.
        message: String,
    },
}

/// Why a ticket was not checked in, as the door needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckInRefusal {
    /// Already checked in: the first scan's message (names its time).
    AlreadyIn(String),
    /// The ticket was cancelled or is not valid for entry (`conflict`).
    NotValid(String),
    /// Forged, altered or mistyped (`bad_request`), or the image held no
    /// readable QR code.
    Unreadable(String),
    /// Anything else (not allowed, connection lost).
    Failed(String),
}

impl CheckInRefusal {
    /// The message for people.
    #[must_use]
    pub fn message(&self) -> &str {
        match self {
            Self::AlreadyIn(m) | Self::NotValid(m) | Self::Unreadable(m) | Self::Failed(m) => m,
        }
    }
}

/// What the network thread tells the UI.
#[derive(Debug, Clone)]
pub enum NetEvent {
    /// The connection state changed.
    Status(ConnectionStatus),
    /// A connection to `addr` is up (first time or after a reconnect).
    Connected {
        /// The address connected to.
        addr: String,
        /// The server's greeting.
        welcome: Welcome,
    },
    /// The next connection attempt goes to this address of an address list
    /// (sent before every attempt; `total` is 1 for a single address).
    Trying(ServerChoice),
    /// The first connection attempt failed (with a list: on every
    /// address); nothing will be retried.
    ConnectFailed(String),
    /// Trust on first use: `host` has no pin yet; show `fingerprint` and
    /// ask whether to trust it. Nothing is retried.
    UnknownServer {
        /// `host:port`.
        host: String,
        /// The certificate fingerprint the server presented.
        fingerprint: Fingerprint,
    },
    /// Trust on first use: the certificate of `host` differs from its pin.
    /// Nothing is retried.
    ServerChanged {
        /// `host:port`.
        host: String,
        /// The pinned fingerprint.
        expected: Fingerprint,
        /// The fingerprint the server presented.
        actual: Fingerprint,
    },
    /// A pin was stored ([`NetCommand::TrustServer`]).
    ServerTrusted {
        /// `host:port`.
        host: String,
    },
    /// A pin was removed ([`NetCommand::ForgetServer`]).
    ServerForgotten {
        /// `host:port`.
        host: String,
    },
    /// The pin store could not be read or written.
    PinStoreFailed(String),
    /// The user chose a CA certificate file.
    CaFilePicked(PathBuf),
    /// The in-process server is listening.
    HostStarted {
        /// Where it listens (the real port when `:0` was asked for).
        addr: SocketAddr,
        /// Its data directory.
        data_dir: PathBuf,
        /// SHA-256 fingerprint of its TLS certificate, for joining members
        /// to compare.
        fingerprint: Fingerprint,
    },
    /// The in-process server could not start.
    HostFailed(String),
    /// [`NetCommand::Disconnect`] finished.
    Disconnected,
    /// Registration succeeded; a login follows.
    Registered {
        /// The new account's username.
        username: String,
    },
    /// Registration failed.
    RegisterFailed(FormError),
    /// Logged in (by password, or by resuming after a reconnect).
    LoggedIn {
        /// The session.
        session: SessionData,
        /// `true` when the session was resumed after a reconnect.
        resumed: bool,
    },
    /// The login failed.
    LoginFailed(FormError),
    /// The session could not be resumed after a reconnect; log in again.
    SessionExpired(String),
    /// Logged out.
    LoggedOut,
    /// The account was changed (`update_account`).
    AccountUpdated {
        /// Username after the change.
        username: String,
        /// E-mail after the change.
        email: String,
        /// A password was changed (other sessions were ended by the server).
        password_changed: bool,
    },
    /// `update_account` was refused; `field` names the request field
    /// (`current_password`, `new_username`, `new_email`, `new_password`).
    AccountUpdateFailed(FormError),
    /// The full event list.
    Events(Vec<Event>),
    /// Live seat count of one event (`event_update` push).
    EventSeats {
        /// The event.
        event_id: String,
        /// Seats now available.
        available: u32,
    },
    /// An event this user created.
    EventCreated(Event),
    /// Creating an event failed.
    CreateEventFailed(FormError),
    /// The user's tickets, newest first.
    Tickets(Vec<Ticket>),
    /// A booking succeeded.
    Booked {
        /// The event booked.
        event_id: String,
        /// The ticket.
        ticket: Ticket,
    },
    /// The connection dropped while booking; the booking will be retried with
    /// the same request key once the session is resumed.
    BookRetrying {
        /// The event being booked.
        event_id: String,
    },
    /// A booking failed (e.g. `sold_out`).
    BookFailed {
        /// The event.
        event_id: String,
        /// The server's message.
        message: String,
    },
    /// A ticket was cancelled (all of it).
    Cancelled {
        /// The ticket.
        ticket_id: String,
    },
    /// Part of a ticket was given back; the ticket keeps the rest.
    PartlyCancelled {
        /// The ticket.
        ticket_id: String,
        /// Seats given back.
        quantity: u32,
    },
    /// An event's details changed (`event_changed` push).
    EventChanged(Event),
    /// This admin's `update_event` succeeded.
    EventUpdated(Event),
    /// `update_event` was refused.
    UpdateEventFailed {
        /// The event.
        event_id: String,
        /// Why, with the field when the server named one.
        error: FormError,
    },
    /// This admin cancelled an event.
    EventCancelled {
        /// The event.
        event_id: String,
        /// Tickets refunded.
        refunded: u64,
    },
    /// `cancel_event` was refused.
    CancelEventFailed {
        /// The event.
        event_id: String,
        /// Why.
        message: String,
    },
    /// A ticket of this user was cancelled by the venue (`ticket_cancelled` push).
    TicketCancelled {
        /// The ticket.
        ticket_id: String,
        /// Its event.
        event_id: String,
        /// The organiser's reason.
        reason: String,
    },
    /// Seats were offered to this user from a waiting list (`offer` push).
    Offer(Offer),
    /// The user's waiting-list places and open offers.
    Waitlist(WaitlistData),
    /// The user joined an event's waiting list.
    WaitlistJoined {
        /// The event.
        event_id: String,
        /// Seats waited for.
        quantity: u32,
        /// Place in line, 1 = next.
        position: u32,
    },
    /// The user left an event's waiting list.
    WaitlistLeft {
        /// The event.
        event_id: String,
    },
    /// `waitlist_join` or `waitlist_leave` was refused.
    WaitlistFailed {
        /// The event.
        event_id: String,
        /// Why.
        message: String,
    },
    /// An offer was accepted: the ticket is the user's.
    OfferAccepted {
        /// The offer.
        offer_id: String,
        /// The new ticket.
        ticket: Ticket,
    },
    /// An offer was declined.
    OfferDeclined {
        /// The offer.
        offer_id: String,
    },
    /// Accepting or declining failed (e.g. the offer lapsed).
    OfferFailed {
        /// The offer.
        offer_id: String,
        /// Why.
        message: String,
    },
    /// An event's attendees (admins and staff).
    Attendees {
        /// The event.
        event_id: String,
        /// One row per active ticket.
        attendees: Vec<Attendee>,
    },
    /// `attendees` was refused.
    AttendeesFailed {
        /// The event.
        event_id: String,
        /// Why.
        message: String,
    },
    /// A ticket was checked in.
    CheckedIn(CheckInData),
    /// A check-in was refused or a code could not be read.
    CheckInRefused(CheckInRefusal),
    /// The QR image dialog closed without a file (cancelled, or no
    /// file-dialog service): nothing was checked in, the last answer stays.
    CheckInImageNotChosen,
    /// A prepared file was written.
    Saved {
        /// What it was ("Ticket", "Calendar entry", ...).
        what: String,
        /// Where.
        path: PathBuf,
    },
    /// A prepared file could not be written.
    SaveFailed(String),
    /// A save dialog closed without a file (cancelled, or no dialog
    /// service); the UI offers the Downloads folder for this request.
    SaveCancelled(SaveRequest),
    /// Cancelling failed.
    CancelFailed {
        /// The ticket.
        ticket_id: String,
        /// Why.
        message: String,
    },
    /// A chat message (live push).
    Chat(ChatMessage),
    /// A page of a room's history, oldest first.
    ChatHistory {
        /// The room.
        room: String,
        /// The messages.
        messages: Vec<ChatMessage>,
        /// `true` when older messages than these may exist.
        more: bool,
    },
    /// A chat message was stored.
    ChatSent,
    /// A chat message could not be sent; `text` is handed back.
    ChatSendFailed {
        /// The unsent text.
        text: String,
        /// Why.
        message: String,
    },
    /// The room list (`rooms`).
    Rooms(Vec<RoomInfo>),
    /// A room's members (when it was opened).
    RoomMembers {
        /// The room.
        room: String,
        /// Its members.
        members: Vec<RoomMember>,
    },
    /// A room was created by this user.
    RoomCreated {
        /// Its name.
        room: String,
    },
    /// Creating a room failed.
    RoomCreateFailed(FormError),
    /// This user joined `room`.
    RoomJoined {
        /// The room.
        room: String,
    },
    /// This user is no longer in `room` (left, or removed by a moderator).
    RoomLeft {
        /// The room.
        room: String,
        /// Why, when someone else decided it.
        reason: Option<String>,
    },
    /// A direct message was stored in `room`.
    DirectSent {
        /// The direct room.
        room: String,
    },
    /// A message was edited or deleted (`chat_update` push).
    ChatUpdate {
        /// The room.
        room: String,
        /// The message.
        seq: u64,
        /// New text (empty when deleted).
        text: String,
        /// When.
        edited_at: DateTime<Utc>,
        /// Deleted.
        deleted: bool,
    },
    /// This user's read marker moved on another device (`read` push).
    Read {
        /// The room.
        room: String,
        /// The marker.
        seq: u64,
    },
    /// Someone is typing (`typing` push).
    Typing {
        /// The room.
        room: String,
        /// Who.
        user: String,
    },
    /// A user came online or went offline.
    Presence {
        /// The username.
        user: String,
        /// `true` when they came online.
        online: bool,
        /// Distinct users online after the change.
        count: u64,
    },
    /// Who is online (answer to `online`).
    Online(OnlineData),
    /// How many are online (`presence_count`: a large lobby, where the
    /// server no longer names each arrival).
    OnlineCount(u64),
    /// The server said something (e.g. it is shutting down).
    ServerNotice(String),
    /// "My tickets" were written to `path`.
    Exported {
        /// The file written.
        path: PathBuf,
        /// Rows written.
        count: usize,
    },
    /// Exporting failed.
    ExportFailed(String),
    /// A file dialog closed without a file: the user cancelled it, or the
    /// desktop has no file-dialog service (xdg-desktop-portal, zenity), which
    /// rfd cannot tell apart.
    DialogCancelled {
        /// The dialog was the export's (the UI offers the Downloads folder).
        export: Option<ExportFormat>,
    },
    /// An import finished.
    Imported(ImportOutcome),
    /// A request failed with no better place to show it.
    Error(String),
}
