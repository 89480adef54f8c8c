//! The network thread's work: a command loop, one connection supervisor per
//! target server, and a task per request so that a slow request never holds
//! up the next command.
//!
//! Shared between them is [`Link`]: the current [`Client`] (none while
//! disconnected), the session token, the newest chat `seq` seen, the ids of
//! known events, and the bookings not yet answered.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::Duration;

use std::path::PathBuf;

use coliseum_client::{Client, ClientError, PinStore, Pushes, TlsError};
use coliseum_protocol::validate::HISTORY_LIMIT_MAX;
use coliseum_protocol::{DEFAULT_ROOM, ErrorCode, Push};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use super::host::HostedServer;
use super::{
    Command, FormError, HostRequest, ImportOutcome, LinkStatus, NetEvent, NewEvent, Security,
    connect, files,
};

/// Messages fetched on login (and the page size of "load older").
const HISTORY_PAGE: u32 = 50;
/// Most pages fetched to fill a chat gap after a reconnect (200 messages
/// each); older missing messages stay reachable through "load older".
const GAP_PAGES: usize = 10;
/// Longest wait between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Interval of the keepalive `online` request. Servers close connections
/// idle for 30 s before login and 5 min after (issue 5), so 20 s keeps both
/// alive; the answer also refreshes the online count.
const KEEPALIVE: Duration = Duration::from_secs(20);

/// Sends events to the UI and wakes it up.
#[derive(Clone)]
pub struct Sink {
    tx: mpsc::Sender<NetEvent>,
    ctx: egui::Context,
}

impl Sink {
    /// A sink sending on `tx` and repainting `ctx`.
    pub fn new(tx: mpsc::Sender<NetEvent>, ctx: egui::Context) -> Self {
        Self { tx, ctx }
    }

    /// Sends `event` (dropped silently when the UI is gone) and requests a repaint.
    pub fn emit(&self, event: NetEvent) {
        let _ = self.tx.send(event);
        self.ctx.request_repaint();
    }
}

/// A booking sent but not yet answered.
#[derive(Debug, Clone)]
struct PendingBook {
    event_id: String,
    quantity: u32,
    /// A request with this key is on the wire right now; do not send another.
    in_flight: bool,
}

/// State shared by the supervisor and the request tasks.
#[derive(Default)]
struct LinkState {
    /// The live connection, `None` while disconnected.
    client: Option<Client>,
    /// Session token of the logged-in user, for `resume` after a reconnect.
    token: Option<String>,
    /// Newest lobby `seq` received, to fill the gap after a reconnect.
    last_seq: Option<u64>,
    /// Ids from the last `list_events`; an `event_update` for another id
    /// means a new event, so the list is read again.
    known_events: HashSet<String>,
    /// Unanswered bookings by request key.
    books: HashMap<String, PendingBook>,
}

/// The shared state behind a mutex that is never held across an `.await`.
#[derive(Default)]
pub(super) struct Link {
    state: Mutex<LinkState>,
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, LinkState> {
        // A panicking task cannot leave the plain data here inconsistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The live connection, or [`ClientError::Closed`] while disconnected.
    pub(super) fn client(&self) -> Result<Client, ClientError> {
        self.lock().client.clone().ok_or(ClientError::Closed)
    }

    fn note_seq(&self, seq: u64) {
        let mut state = self.lock();
        state.last_seq = Some(state.last_seq.map_or(seq, |s| s.max(seq)));
    }

    /// Forgets the session: token, chat position and pending bookings (which
    /// are returned so that the UI can be told they failed).
    fn end_session(&self) -> Vec<PendingBook> {
        let mut state = self.lock();
        state.token = None;
        state.last_seq = None;
        state.books.drain().map(|(_, book)| book).collect()
    }
}

/// True when the request failed because the connection went away, so the
/// same request may be retried on the next connection.
fn connection_lost(error: &ClientError) -> bool {
    matches!(error, ClientError::Io(_) | ClientError::Closed)
}

/// Reconnect back-off: 1 s, 2 s, 4 s, ... capped at 30 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(5)).min(MAX_BACKOFF)
}

/// The command loop; returns after [`Command::Quit`] or when the UI is gone.
pub async fn run(mut commands: UnboundedReceiver<Command>, sink: Sink, pins: Option<PathBuf>) {
    let mut worker = Worker {
        sink,
        pins,
        link: Arc::new(Link::default()),
        supervisor: None,
        host: None,
    };
    while let Some(command) = commands.recv().await {
        if matches!(command, Command::Quit) {
            break;
        }
        worker.handle(command).await;
    }
    worker.stop().await;
}

struct Worker {
    sink: Sink,
    /// The trust-on-first-use pin store file.
    pins: Option<PathBuf>,
    link: Arc<Link>,
    supervisor: Option<JoinHandle<()>>,
    host: Option<HostedServer>,
}

impl Worker {
    async fn handle(&mut self, command: Command) {
        match command {
            Command::Connect { addr, security } => {
                self.stop().await;
                self.supervise(addr, security);
            }
            Command::TrustServer { host, fingerprint } => {
                let event = match self.pin_store().and_then(|s| s.pin(&host, fingerprint)) {
                    Ok(()) => NetEvent::ServerTrusted { host },
                    Err(error) => NetEvent::PinStoreFailed(error.to_string()),
                };
                self.sink.emit(event);
            }
            Command::ForgetServer { host } => {
                let event = match self.pin_store().and_then(|s| s.remove(&host)) {
                    Ok(_) => NetEvent::ServerForgotten { host },
                    Err(error) => NetEvent::PinStoreFailed(error.to_string()),
                };
                self.sink.emit(event);
            }
            Command::PickCaFile => {
                tokio::spawn(files::pick_ca_file(self.sink.clone()));
            }
            Command::Host(request) => self.host(request).await,
            Command::Disconnect => {
                self.stop().await;
                self.sink.emit(NetEvent::Link(LinkStatus::Offline));
                self.sink.emit(NetEvent::Disconnected);
            }
            Command::Register {
                username,
                password,
                email,
            } => self.spawn(move |link, sink| register(link, sink, username, password, email)),
            Command::Login { username, password } => {
                self.spawn(move |link, sink| login(link, sink, username, password));
            }
            Command::Logout => self.spawn(logout),
            Command::RefreshEvents => self.spawn(refresh_events),
            Command::RefreshTickets => self.spawn(refresh_tickets),
            Command::CreateEvent(event) => {
                self.spawn(move |link, sink| create_event(link, sink, event));
            }
            Command::Book { event_id, quantity } => {
                let key = request_key();
                self.link.lock().books.insert(
                    key.clone(),
                    PendingBook {
                        event_id,
                        quantity,
                        in_flight: false,
                    },
                );
                self.spawn(move |link, sink| attempt_book(link, sink, key));
            }
            Command::CancelTicket { ticket_id } => {
                self.spawn(move |link, sink| cancel(link, sink, ticket_id));
            }
            Command::ChatSend { text } => self.spawn(move |link, sink| chat_send(link, sink, text)),
            Command::ChatOlder { before_seq } => {
                self.spawn(move |link, sink| chat_older(link, sink, before_seq));
            }
            Command::ExportTickets { format, tickets } => {
                let sink = self.sink.clone();
                tokio::spawn(files::export_tickets(sink, format, tickets));
            }
            Command::ImportEvents => self.spawn(files::import_events),
            Command::Quit => {}
        }
    }

    /// Runs `job` as its own task.
    fn spawn<F, Fut>(&self, job: F)
    where
        F: FnOnce(Arc<Link>, Sink) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(job(Arc::clone(&self.link), self.sink.clone()));
    }

    fn pin_store(&self) -> Result<PinStore, TlsError> {
        PinStore::open(self.pins.as_ref().ok_or(TlsError::NoConfigDir)?)
    }

    fn supervise(&mut self, addr: String, security: Security) {
        let link = Arc::clone(&self.link);
        let sink = self.sink.clone();
        let pins = self.pins.clone();
        self.supervisor = Some(tokio::spawn(supervise(link, sink, addr, security, pins)));
    }

    async fn host(&mut self, request: HostRequest) {
        self.stop().await;
        match HostedServer::start(&request).await {
            Ok(server) => {
                let addr = server.connect_addr().to_string();
                let fingerprint = server.fingerprint();
                self.sink.emit(NetEvent::HostStarted {
                    addr: server.local_addr(),
                    data_dir: request.data_dir,
                    fingerprint,
                });
                self.host = Some(server);
                // Its own server: the certificate is known, no question.
                self.supervise(addr, Security::Pinned(fingerprint));
            }
            Err(message) => self.sink.emit(NetEvent::HostFailed(message)),
        }
    }

    /// Stops the supervisor, drops the connection and stops a hosted server.
    async fn stop(&mut self) {
        if let Some(supervisor) = self.supervisor.take() {
            supervisor.abort();
            let _ = supervisor.await;
        }
        let dropped = {
            let mut state = self.link.lock();
            state.client = None;
            state.known_events.clear();
            state.token = None;
            state.last_seq = None;
            std::mem::take(&mut state.books)
        };
        for (_, book) in dropped {
            self.sink.emit(NetEvent::BookFailed {
                event_id: book.event_id,
                message: "disconnected before the server answered".into(),
            });
        }
        if let Some(server) = self.host.take() {
            server.stop().await;
        }
    }
}

/// A fresh random booking key (128 bits, hex).
fn request_key() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Keeps one server connected: connects, pumps pushes, and after a loss
/// reconnects with back-off, resumes the session, refills what may have been
/// missed and retries unanswered bookings.
async fn supervise(
    link: Arc<Link>,
    sink: Sink,
    addr: String,
    security: Security,
    pins: Option<PathBuf>,
) {
    let mut connected_once = false;
    let mut failures = 0;
    sink.emit(NetEvent::Link(LinkStatus::Connecting));
    loop {
        match connect(&addr, &security, pins.as_deref()).await {
            Ok((client, pushes)) => {
                failures = 0;
                let known_seq = {
                    let mut state = link.lock();
                    state.client = Some(client.clone());
                    state.last_seq
                };
                sink.emit(NetEvent::Connected {
                    addr: addr.clone(),
                    welcome: client.welcome().clone(),
                });
                sink.emit(NetEvent::Link(LinkStatus::Connected));
                tokio::spawn(after_connect(
                    Arc::clone(&link),
                    sink.clone(),
                    client.clone(),
                    known_seq,
                ));
                connected_once = true;
                tokio::select! {
                    () = pump(&link, &sink, pushes) => {}
                    () = keepalive(&sink, &client) => {}
                }
                link.lock().client = None;
            }
            // The user must decide; retrying cannot help.
            Err(ClientError::Tls(TlsError::UnknownHost { host, fingerprint })) => {
                sink.emit(NetEvent::Link(LinkStatus::Offline));
                sink.emit(NetEvent::UnknownServer { host, fingerprint });
                return;
            }
            Err(ClientError::Tls(TlsError::PinMismatch {
                host,
                expected,
                actual,
                ..
            })) => {
                sink.emit(NetEvent::Link(LinkStatus::Offline));
                sink.emit(NetEvent::ServerChanged {
                    host,
                    expected,
                    actual,
                });
                return;
            }
            Err(error) if !connected_once => {
                sink.emit(NetEvent::Link(LinkStatus::Offline));
                sink.emit(NetEvent::ConnectFailed(error.to_string()));
                return;
            }
            Err(error) => tracing::debug!(%error, "reconnect failed"),
        }
        let delay = backoff(failures);
        failures = failures.saturating_add(1);
        sink.emit(NetEvent::Link(LinkStatus::Reconnecting { delay }));
        tokio::time::sleep(delay).await;
        sink.emit(NetEvent::Link(LinkStatus::Connecting));
    }
}

/// Sends `online` every [`KEEPALIVE`] so that the server does not close the
/// connection as idle, and shows the answer. Runs until cancelled (by the
/// supervisor when the connection closes).
async fn keepalive(sink: &Sink, client: &Client) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match client.online().await {
            Ok(online) => sink.emit(NetEvent::Online(online)),
            Err(error) => tracing::debug!(%error, "keepalive failed"),
        }
    }
}

/// Forwards pushes to the UI until the connection closes.
async fn pump(link: &Arc<Link>, sink: &Sink, mut pushes: Pushes) {
    while let Some(push) = pushes.recv().await {
        match push {
            Push::Chat(message) => {
                if message.room == DEFAULT_ROOM {
                    link.note_seq(message.seq);
                    sink.emit(NetEvent::Chat(message));
                }
            }
            Push::Presence {
                user,
                online,
                count,
            } => sink.emit(NetEvent::Presence {
                user,
                online,
                count,
            }),
            Push::EventUpdate {
                event_id,
                available,
            } => {
                if link.lock().known_events.contains(&event_id) {
                    sink.emit(NetEvent::EventSeats {
                        event_id,
                        available,
                    });
                } else {
                    tokio::spawn(refresh_events(Arc::clone(link), sink.clone()));
                }
            }
            Push::Shutdown { reason } => sink.emit(NetEvent::ServerNotice(reason)),
            Push::Welcome { .. } | Push::ServerFull { .. } => {}
        }
    }
}

/// After every successful connect: resume the session when there is one,
/// otherwise show what an anonymous connection may read.
async fn after_connect(link: Arc<Link>, sink: Sink, client: Client, known_seq: Option<u64>) {
    let token = link.lock().token.clone();
    let Some(token) = token else {
        let (events, online) = tokio::join!(client.list_events(), client.online());
        deliver_events(&link, &sink, events);
        if let Ok(online) = online {
            sink.emit(NetEvent::Online(online));
        }
        return;
    };
    match client.resume(&token).await {
        Ok(session) => {
            sink.emit(NetEvent::LoggedIn {
                session,
                resumed: true,
            });
            refill(&link, &sink, &client, known_seq).await;
            let retry: Vec<String> = link
                .lock()
                .books
                .iter()
                .filter(|(_, book)| !book.in_flight)
                .map(|(key, _)| key.clone())
                .collect();
            for key in retry {
                tokio::spawn(attempt_book(Arc::clone(&link), sink.clone(), key));
            }
        }
        Err(error) if error.code() == Some(ErrorCode::Unauthenticated) => {
            for book in link.end_session() {
                sink.emit(NetEvent::BookFailed {
                    event_id: book.event_id,
                    message: "session expired before the server answered".into(),
                });
            }
            sink.emit(NetEvent::SessionExpired(error.to_string()));
        }
        // The new connection failed too; the supervisor tries again.
        Err(error) => tracing::debug!(%error, "resume failed"),
    }
}

/// Reads everything a logged-in view shows: events, tickets, who is online,
/// and the chat (the newest page, or everything after `known_seq`).
async fn refill(link: &Arc<Link>, sink: &Sink, client: &Client, known_seq: Option<u64>) {
    let (events, tickets, online, chat) = tokio::join!(
        client.list_events(),
        client.my_tickets(),
        client.online(),
        chat_catch_up(client, known_seq),
    );
    deliver_events(link, sink, events);
    match tickets {
        Ok(tickets) => sink.emit(NetEvent::Tickets(tickets)),
        Err(error) => sink.emit(NetEvent::Error(format!("could not load tickets: {error}"))),
    }
    if let Ok(online) = online {
        sink.emit(NetEvent::Online(online));
    }
    match chat {
        Ok((messages, more)) => {
            if let Some(last) = messages.last() {
                link.note_seq(last.seq);
            }
            sink.emit(NetEvent::ChatHistory { messages, more });
        }
        Err(error) => sink.emit(NetEvent::Error(format!("could not load the chat: {error}"))),
    }
}

/// The newest lobby page when nothing is known yet; otherwise every message
/// after `known_seq`, paging backwards (at most [`GAP_PAGES`] pages).
/// Returns the messages oldest first and whether older ones exist.
async fn chat_catch_up(
    client: &Client,
    known_seq: Option<u64>,
) -> Result<(Vec<coliseum_protocol::ChatMessage>, bool), ClientError> {
    let Some(known) = known_seq else {
        let page = client.chat_history(None, None, Some(HISTORY_PAGE)).await?;
        let more = page.first().is_some_and(|m| m.seq > 1);
        return Ok((page, more));
    };
    let mut collected = Vec::new();
    let mut before = None;
    for _ in 0..GAP_PAGES {
        let mut page = client
            .chat_history(None, before, Some(HISTORY_LIMIT_MAX))
            .await?;
        let Some(oldest) = page.first().map(|m| m.seq) else {
            break;
        };
        page.append(&mut collected);
        collected = page;
        if oldest <= known.saturating_add(1) {
            break;
        }
        before = Some(oldest);
    }
    collected.retain(|m| m.seq > known);
    Ok((collected, false))
}

fn deliver_events(
    link: &Arc<Link>,
    sink: &Sink,
    events: Result<Vec<coliseum_protocol::Event>, ClientError>,
) {
    match events {
        Ok(events) => {
            link.lock().known_events = events.iter().map(|e| e.id.clone()).collect();
            sink.emit(NetEvent::Events(events));
        }
        Err(error) => sink.emit(NetEvent::Error(format!("could not load events: {error}"))),
    }
}

async fn register(link: Arc<Link>, sink: Sink, username: String, password: String, email: String) {
    let result = match link.client() {
        Ok(client) => client.register(&username, &password, &email).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(_) => {
            sink.emit(NetEvent::Registered {
                username: username.clone(),
            });
            login(link, sink, username, password).await;
        }
        Err(error) => sink.emit(NetEvent::RegisterFailed(FormError::from(&error))),
    }
}

async fn login(link: Arc<Link>, sink: Sink, username: String, password: String) {
    let client = match link.client() {
        Ok(client) => client,
        Err(error) => return sink.emit(NetEvent::LoginFailed(FormError::from(&error))),
    };
    match client.login(&username, &password).await {
        Ok(session) => {
            link.lock().token = Some(session.token.clone());
            sink.emit(NetEvent::LoggedIn {
                session,
                resumed: false,
            });
            refill(&link, &sink, &client, None).await;
        }
        Err(error) => sink.emit(NetEvent::LoginFailed(FormError::from(&error))),
    }
}

async fn logout(link: Arc<Link>, sink: Sink) {
    if let Ok(client) = link.client()
        && let Err(error) = client.logout().await
    {
        // The session ends locally anyway; an offline logout cannot revoke
        // the token, which then expires on the server by itself.
        tracing::debug!(%error, "logout failed");
    }
    for book in link.end_session() {
        sink.emit(NetEvent::BookFailed {
            event_id: book.event_id,
            message: "logged out before the server answered".into(),
        });
    }
    sink.emit(NetEvent::LoggedOut);
}

async fn refresh_events(link: Arc<Link>, sink: Sink) {
    let events = match link.client() {
        Ok(client) => client.list_events().await,
        Err(error) => Err(error),
    };
    deliver_events(&link, &sink, events);
}

async fn refresh_tickets(link: Arc<Link>, sink: Sink) {
    let tickets = match link.client() {
        Ok(client) => client.my_tickets().await,
        Err(error) => Err(error),
    };
    match tickets {
        Ok(tickets) => sink.emit(NetEvent::Tickets(tickets)),
        Err(error) => sink.emit(NetEvent::Error(format!("could not load tickets: {error}"))),
    }
}

async fn create_event(link: Arc<Link>, sink: Sink, event: NewEvent) {
    let result = match link.client() {
        Ok(client) => {
            client
                .create_event(
                    &event.name,
                    &event.date.format("%Y-%m-%d").to_string(),
                    &event.location,
                    event.capacity,
                    Some(event.max_per_user),
                )
                .await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(event) => {
            link.lock().known_events.insert(event.id.clone());
            sink.emit(NetEvent::EventCreated(event));
        }
        Err(error) => sink.emit(NetEvent::CreateEventFailed(FormError::from(&error))),
    }
}

/// Sends the booking stored under `key` unless a request for it is already on
/// the wire. A lost connection keeps it pending (the supervisor retries it
/// with the same key after `resume`); any other answer settles it.
async fn attempt_book(link: Arc<Link>, sink: Sink, key: String) {
    let (client, event_id, quantity) = {
        let mut state = link.lock();
        let client = state.client.clone();
        let Some(book) = state.books.get_mut(&key) else {
            return;
        };
        if book.in_flight {
            return;
        }
        let Some(client) = client else {
            let event_id = book.event_id.clone();
            drop(state);
            return sink.emit(NetEvent::BookRetrying { event_id });
        };
        book.in_flight = true;
        (client, book.event_id.clone(), book.quantity)
    };
    let result = client.book(&event_id, quantity, Some(&key)).await;
    let mut state = link.lock();
    match result {
        Err(error) if connection_lost(&error) => {
            if let Some(book) = state.books.get_mut(&key) {
                book.in_flight = false;
                drop(state);
                sink.emit(NetEvent::BookRetrying { event_id });
            }
        }
        Ok(ticket) => {
            // Settled only once: a retry racing a late answer finds no entry.
            if state.books.remove(&key).is_some() {
                drop(state);
                sink.emit(NetEvent::Booked { event_id, ticket });
            }
        }
        Err(error) => {
            if state.books.remove(&key).is_some() {
                drop(state);
                sink.emit(NetEvent::BookFailed {
                    event_id,
                    message: error.to_string(),
                });
            }
        }
    }
}

async fn cancel(link: Arc<Link>, sink: Sink, ticket_id: String) {
    let result = match link.client() {
        Ok(client) => client.cancel_ticket(&ticket_id).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => sink.emit(NetEvent::Cancelled { ticket_id }),
        Err(error) => sink.emit(NetEvent::CancelFailed {
            ticket_id,
            message: error.to_string(),
        }),
    }
}

async fn chat_send(link: Arc<Link>, sink: Sink, text: String) {
    let result = match link.client() {
        Ok(client) => client.chat_send(None, &text).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(_) => sink.emit(NetEvent::ChatSent),
        Err(error) => sink.emit(NetEvent::ChatSendFailed {
            text,
            message: error.to_string(),
        }),
    }
}

async fn chat_older(link: Arc<Link>, sink: Sink, before_seq: u64) {
    let result = match link.client() {
        Ok(client) => {
            client
                .chat_history(None, Some(before_seq), Some(HISTORY_PAGE))
                .await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(messages) => {
            let more = messages.first().is_some_and(|m| m.seq > 1);
            sink.emit(NetEvent::ChatHistory { messages, more });
        }
        Err(error) => sink.emit(NetEvent::Error(format!(
            "could not load older messages: {error}"
        ))),
    }
}

/// Creates `events` one by one (they were all validated first), reporting the
/// first refusal.
pub(super) async fn create_all(client: &Client, events: &[NewEvent]) -> ImportOutcome {
    for (index, event) in events.iter().enumerate() {
        let result = client
            .create_event(
                &event.name,
                &event.date.format("%Y-%m-%d").to_string(),
                &event.location,
                event.capacity,
                Some(event.max_per_user),
            )
            .await;
        if let Err(error) = result {
            return ImportOutcome::Interrupted {
                created: index,
                row: index + 1,
                message: error.to_string(),
            };
        }
    }
    ImportOutcome::Imported {
        count: events.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_thirty_seconds() {
        let delays: Vec<u64> = (0..8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn request_keys_are_fresh_and_fit_the_protocol_limit() {
        let a = request_key();
        let b = request_key();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.len() <= 128);
    }
}
