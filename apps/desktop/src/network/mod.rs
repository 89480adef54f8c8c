//! The network side of the app: a dedicated thread that owns a tokio runtime,
//! the connection to the server, the in-process server when hosting, and the
//! file dialogs.
//!
//! The UI thread never does I/O. It sends [`Command`]s through an unbounded
//! channel (sending never blocks) and drains [`NetEvent`]s once per frame
//! with [`Network::drain`]; every event sent wakes the UI with
//! `egui::Context::request_repaint`.
//!
//! # Layout
//! - this file: the [`Network`] handle, the command and event vocabularies.
//! - [`worker`]: the command loop, the connection supervisor (reconnect with
//!   back-off, session resume, chat gap filling, booking retries) and the
//!   per-request tasks.
//! - [`host`]: "Host on this computer": the server library on the embedded store.
//! - [`files`]: export of "My tickets" and import of events through rfd's
//!   asynchronous file dialogs.

mod files;
mod host;
mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use chrono::NaiveDate;
use coliseum_client::{
    Client, ClientError, Fingerprint, PinStore, Pushes, TlsError, Transport, Trust, Welcome,
};
use coliseum_protocol::response::{OnlineData, SessionData};
use coliseum_protocol::{ChatMessage, Event, Ticket};

use crate::transfer::{ExportFormat, RowError};

/// How a connection is secured: the connect screen's "Security" choice,
/// resolved (issue 5, "Client trust").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// TLS; the server's certificate fingerprint is pinned on the first
    /// connection (after the user accepted it) in the pin store, and must
    /// match on every later one.
    TrustOnFirstUse,
    /// TLS, trusting the operating system's root certificates.
    SystemCas,
    /// TLS, trusting the CA certificates in this PEM file.
    CaFile(PathBuf),
    /// TLS, accepting exactly this certificate (the app's own hosted server).
    Pinned(Fingerprint),
    /// Unencrypted TCP, for servers run with `--insecure-plaintext`.
    Plaintext,
}

/// Opens a protocol connection to `addr` (`host:port`) secured as
/// `security` says; `pins` is the trust-on-first-use pin store file
/// (`None` when the platform has no configuration directory).
///
/// This is the one place where the app connects and maps [`Security`] to
/// the client's [`Transport`].
///
/// # Errors
/// As [`Client::connect_with`]: I/O errors, `server_full`, a bad handshake,
/// and [`ClientError::Tls`], notably [`TlsError::UnknownHost`] (first
/// connection, ask the user) and [`TlsError::PinMismatch`] (the certificate
/// changed). [`TlsError::NoConfigDir`] when trust on first use is chosen
/// without a pin store.
pub async fn connect(
    addr: &str,
    security: &Security,
    pins: Option<&std::path::Path>,
) -> Result<(Client, Pushes), ClientError> {
    let transport = match security {
        Security::TrustOnFirstUse => {
            let path = pins.ok_or(TlsError::NoConfigDir)?;
            Transport::Tls(Trust::TrustOnFirstUse {
                store: PinStore::open(path)?,
                host: addr.to_owned(),
            })
        }
        Security::SystemCas => Transport::Tls(Trust::Platform),
        Security::CaFile(path) => Transport::Tls(Trust::CaFile(path.clone())),
        Security::Pinned(fingerprint) => Transport::Tls(Trust::Pinned(*fingerprint)),
        Security::Plaintext => Transport::Plaintext,
    };
    Client::connect_with(addr, &transport).await
}

/// What the UI asks the network thread to do.
#[derive(Debug, Clone)]
pub enum Command {
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
    /// [`Command::Connect`].
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
    /// Cancel one of the user's tickets.
    CancelTicket {
        /// The ticket's id.
        ticket_id: String,
    },
    /// Send a chat message to the lobby.
    ChatSend {
        /// Message text (1–2,000 characters).
        text: String,
    },
    /// Load the page of lobby messages just before `before_seq`.
    ChatOlder {
        /// The smallest `seq` the UI already has.
        before_seq: u64,
    },
    /// Ask where to save, then write `tickets` as CSV or JSON.
    ExportTickets {
        /// File format.
        format: ExportFormat,
        /// The rows to write (what the user sees in "My tickets").
        tickets: Vec<Ticket>,
    },
    /// Ask for a CSV or JSON file of events, validate every row, and create
    /// them all, or none when any row is invalid (admins only).
    ImportEvents,
    /// Stop everything; the network thread exits.
    Quit,
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

/// An event to create: the `create_event` arguments, already validated by the
/// form with `coliseum_protocol::validate`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewEvent {
    /// Display name, 1–200 characters.
    pub name: String,
    /// Day of the event.
    pub date: NaiveDate,
    /// Venue, 1–200 characters.
    pub location: String,
    /// Total seats, 1–1,000,000.
    pub capacity: u32,
    /// Seats one user may hold, 1–`capacity`.
    pub max_per_user: u32,
}

/// Connection state shown in the status bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    /// Not connected and not trying to.
    Offline,
    /// A connection attempt is under way.
    Connecting,
    /// Connected (the server's `welcome` was received).
    Connected,
    /// The connection was lost; the next attempt starts after `delay`.
    Reconnecting {
        /// Wait before the next attempt (exponential back-off, 1 s to 30 s).
        delay: Duration,
    },
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

/// What the network thread tells the UI.
#[derive(Debug, Clone)]
pub enum NetEvent {
    /// The connection state changed.
    Link(LinkStatus),
    /// A connection to `addr` is up (first time or after a reconnect).
    Connected {
        /// The address connected to.
        addr: String,
        /// The server's greeting.
        welcome: Welcome,
    },
    /// The first connection attempt failed; nothing will be retried.
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
    /// A pin was stored ([`Command::TrustServer`]).
    ServerTrusted {
        /// `host:port`.
        host: String,
    },
    /// A pin was removed ([`Command::ForgetServer`]).
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
    /// [`Command::Disconnect`] finished.
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
    /// A ticket was cancelled.
    Cancelled {
        /// The ticket.
        ticket_id: String,
    },
    /// Cancelling failed.
    CancelFailed {
        /// The ticket.
        ticket_id: String,
        /// Why.
        message: String,
    },
    /// A chat message (live push).
    Chat(ChatMessage),
    /// A page of lobby history, oldest first.
    ChatHistory {
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
    /// The user closed a file dialog without choosing a file.
    DialogCancelled,
    /// An import finished.
    Imported(ImportOutcome),
    /// A request failed with no better place to show it.
    Error(String),
}

/// Handle to the network thread, owned by the app. Dropping it stops the
/// thread (and a hosted server) and waits for that, at most two seconds.
pub struct Network {
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<NetEvent>,
    thread: Option<std::thread::JoinHandle<()>>,
    stopped: mpsc::Receiver<()>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network").finish_non_exhaustive()
    }
}

impl Network {
    /// Starts the network thread with its own multi-threaded tokio runtime.
    /// Every event it sends calls `ctx.request_repaint()`. `pins` is the
    /// trust-on-first-use pin store file (normally
    /// `PinStore::default_path()`; tests pass a temporary file); with `None`
    /// trust on first use fails with a message.
    ///
    /// # Errors
    /// When the runtime or the thread cannot be created.
    pub fn start(ctx: egui::Context, pins: Option<PathBuf>) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("coliseum-net")
            .enable_all()
            .build()?;
        let (command_tx, command_rx) = tokio::sync::mpsc::unbounded_channel();
        let (event_tx, event_rx) = mpsc::channel();
        let (stopped_tx, stopped_rx) = mpsc::channel();
        let sink = worker::Sink::new(event_tx, ctx);
        let thread = std::thread::Builder::new()
            .name("coliseum-network".into())
            .spawn(move || {
                runtime.block_on(worker::run(command_rx, sink, pins));
                // Tasks still running (e.g. a file dialog) are dropped here.
                runtime.shutdown_timeout(Duration::from_millis(500));
                let _ = stopped_tx.send(());
            })?;
        Ok(Self {
            commands: command_tx,
            events: event_rx,
            thread: Some(thread),
            stopped: stopped_rx,
        })
    }

    /// Queues a command; never blocks. Ignored once the thread has stopped.
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// Every event that arrived since the last call, oldest first.
    pub fn drain(&self) -> impl Iterator<Item = NetEvent> + '_ {
        self.events.try_iter()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Quit);
        if self.stopped.recv_timeout(Duration::from_secs(2)).is_ok()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}
