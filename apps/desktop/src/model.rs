//! What the UI knows: a mirror of the server's state for this user, kept up
//! to date by [`Model::apply`] from the network events, plus which requests
//! are in flight ([`Busy`], so buttons show a spinner and cannot be pressed
//! twice) and the messages to show.
//!
//! No I/O and no egui here, so every rule is unit-tested.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use coliseum_client::Fingerprint;
use coliseum_protocol::{ChatMessage, Event, Role, Ticket};

use crate::network::{Command, FormError, ImportOutcome, LinkStatus, NetEvent, Security};

/// How long an information notice stays on screen.
pub const INFO_NOTICE_TTL: Duration = Duration::from_secs(6);
/// Most notices kept; older ones are dropped first.
pub const MAX_NOTICES: usize = 4;

/// The logged-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Account id.
    pub user_id: String,
    /// Username.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// `user` or `admin`.
    pub role: Role,
}

/// Requests in flight, one flag (or id set) per kind of button.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Busy {
    /// Connecting or starting the hosted server.
    pub connect: bool,
    /// Login (also the login after a registration).
    pub login: bool,
    /// Registration.
    pub register: bool,
    /// Logout.
    pub logout: bool,
    /// "Create event".
    pub create_event: bool,
    /// Chat "Send".
    pub chat_send: bool,
    /// "Load older messages".
    pub chat_older: bool,
    /// Export dialog or write.
    pub export: bool,
    /// Import dialog, validation or creation.
    pub import: bool,
    /// Events with a booking in flight.
    pub books: HashSet<String>,
    /// Events whose booking waits for the connection to come back.
    pub books_waiting: HashSet<String>,
    /// Tickets with a cancellation in flight.
    pub cancels: HashSet<String>,
}

/// How serious a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLevel {
    /// Good news; disappears after [`INFO_NOTICE_TTL`].
    Info,
    /// Something failed; stays until dismissed.
    Error,
}

/// A message in the banner above the main view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Severity.
    pub level: NoticeLevel,
    /// Text for people.
    pub text: String,
    /// When it was raised (for expiry).
    pub at: Instant,
}

/// Who is online.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Online {
    /// Distinct users online (the server's count).
    pub count: u64,
    /// Their names, sorted.
    pub users: BTreeSet<String>,
}

/// One line of the chat window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatLine<'a> {
    /// A message.
    Message(&'a ChatMessage),
    /// A join/leave notice: when, and the text.
    Notice(DateTime<Utc>, &'a str),
}

/// The lobby as seen by this client: messages by `seq` (so history pages and
/// live pushes merge without duplicates, in order) and join/leave notices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatLog {
    /// Messages by sequence number.
    pub messages: BTreeMap<u64, ChatMessage>,
    /// Join/leave notices, in arrival order.
    pub notices: Vec<(DateTime<Utc>, String)>,
    /// Older messages exist on the server than the oldest held here.
    pub more_before: bool,
}

impl ChatLog {
    /// Adds (or replaces) messages, keyed by `seq`.
    pub fn insert(&mut self, messages: impl IntoIterator<Item = ChatMessage>) {
        for message in messages {
            self.messages.insert(message.seq, message);
        }
    }

    /// Smallest `seq` held.
    #[must_use]
    pub fn oldest_seq(&self) -> Option<u64> {
        self.messages.keys().next().copied()
    }

    /// Messages and notices merged by time (a notice goes after messages sent
    /// at the same instant).
    #[must_use]
    pub fn lines(&self) -> Vec<ChatLine<'_>> {
        let mut lines = Vec::with_capacity(self.messages.len() + self.notices.len());
        let mut notices = self.notices.iter().peekable();
        for message in self.messages.values() {
            while let Some((at, text)) = notices.next_if(|(at, _)| *at < message.sent_at) {
                lines.push(ChatLine::Notice(*at, text));
            }
            lines.push(ChatLine::Message(message));
        }
        lines.extend(notices.map(|(at, text)| ChatLine::Notice(*at, text)));
        lines
    }
}

/// The "Host on this computer" server, once it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosting {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// SHA-256 fingerprint of its TLS certificate.
    pub fingerprint: Fingerprint,
}

/// What trust on first use needs the user to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityPrompt {
    /// First connection to `host`: trust `fingerprint`?
    Unknown {
        /// `host:port`.
        host: String,
        /// The certificate fingerprint the server presented.
        fingerprint: Fingerprint,
    },
    /// The certificate of `host` is not the pinned one.
    Changed {
        /// `host:port`.
        host: String,
        /// The pinned fingerprint.
        expected: Fingerprint,
        /// The fingerprint the server presented.
        actual: Fingerprint,
    },
}

/// Everything the views read.
#[derive(Debug, Default)]
pub struct Model {
    /// Connection state.
    pub link: Link,
    /// Address of the server connected to (or being connected to).
    pub server: Option<String>,
    /// The hosted server, when this app runs one.
    pub hosting: Option<Hosting>,
    /// Why the last connect (or host) attempt failed.
    pub connect_error: Option<String>,
    /// The last server joined and how it was secured, to connect again
    /// after the user trusted its certificate.
    pub last_connect: Option<(String, Security)>,
    /// A trust-on-first-use question or warning to show on the connect screen.
    pub security_prompt: Option<SecurityPrompt>,
    /// The logged-in user.
    pub session: Option<Session>,
    /// Shown on the login screen (e.g. "session expired").
    pub login_message: Option<String>,
    /// Events in server order (date, then name).
    pub events: Vec<Event>,
    /// The user's tickets, newest first.
    pub tickets: Vec<Ticket>,
    /// The lobby.
    pub chat: ChatLog,
    /// Who is online.
    pub online: Online,
    /// Requests in flight.
    pub busy: Busy,
    /// Last login failure.
    pub login_error: Option<FormError>,
    /// Last registration failure.
    pub register_error: Option<FormError>,
    /// Username of a registration that succeeded (the form clears itself).
    pub registered: Option<String>,
    /// Last "New event" failure.
    pub create_event_error: Option<FormError>,
    /// Name of the last event created from the form (the form clears itself).
    pub created_event: Option<String>,
    /// Last booking failure per event id.
    pub book_errors: HashMap<String, String>,
    /// Last cancellation failure per ticket id.
    pub cancel_errors: HashMap<String, String>,
    /// Text of a chat message that could not be sent, to put back in the input.
    pub unsent_chat: Option<String>,
    /// Result of the last import.
    pub import: Option<ImportOutcome>,
    /// Banner messages, oldest first.
    pub notices: Vec<Notice>,
}

/// Connection state with the reconnect deadline resolved to an instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Link {
    /// Not connected.
    #[default]
    Offline,
    /// Attempting to connect.
    Connecting,
    /// Connected.
    Connected,
    /// Lost; the next attempt is at `at`.
    Reconnecting {
        /// When the next attempt starts.
        at: Instant,
    },
}

impl Model {
    /// True for an admin session.
    #[must_use]
    pub fn is_admin(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.role == Role::Admin)
    }

    /// Marks the request `command` stands for as in flight. Returns `false`
    /// (and the command must not be sent) when the same request is already
    /// in flight — this is what makes double submission impossible.
    pub fn begin(&mut self, command: &Command) -> bool {
        let busy = &mut self.busy;
        let flag = match command {
            Command::Connect { .. } | Command::Host(_) => &mut busy.connect,
            Command::Register { .. } => &mut busy.register,
            Command::Login { .. } => &mut busy.login,
            Command::Logout => &mut busy.logout,
            Command::CreateEvent(_) => &mut busy.create_event,
            Command::ChatSend { .. } => &mut busy.chat_send,
            Command::ChatOlder { .. } => &mut busy.chat_older,
            Command::ExportTickets { .. } => &mut busy.export,
            Command::ImportEvents => &mut busy.import,
            Command::Book { event_id, .. } => {
                self.book_errors.remove(event_id);
                return busy.books.insert(event_id.clone());
            }
            Command::CancelTicket { ticket_id } => {
                self.cancel_errors.remove(ticket_id);
                return busy.cancels.insert(ticket_id.clone());
            }
            Command::Disconnect
            | Command::TrustServer { .. }
            | Command::ForgetServer { .. }
            | Command::PickCaFile
            | Command::RefreshEvents
            | Command::RefreshTickets
            | Command::Quit => return true,
        };
        if *flag {
            return false;
        }
        *flag = true;
        match command {
            Command::Connect { addr, security } => {
                self.connect_error = None;
                self.security_prompt = None;
                self.server = Some(addr.clone());
                self.last_connect = Some((addr.clone(), security.clone()));
            }
            Command::Host(_) => self.connect_error = None,
            Command::Login { .. } => self.login_error = None,
            Command::Register { .. } => {
                self.register_error = None;
                self.registered = None;
            }
            Command::CreateEvent(_) => {
                self.create_event_error = None;
                self.created_event = None;
            }
            Command::ImportEvents => self.import = None,
            _ => {}
        }
        true
    }

    /// Applies one network event at time `now`.
    pub fn apply(&mut self, event: NetEvent, now: Instant) {
        match event {
            NetEvent::Link(status) => {
                self.link = match status {
                    LinkStatus::Offline => Link::Offline,
                    LinkStatus::Connecting => Link::Connecting,
                    LinkStatus::Connected => Link::Connected,
                    LinkStatus::Reconnecting { delay } => Link::Reconnecting { at: now + delay },
                };
                if matches!(status, LinkStatus::Reconnecting { .. }) {
                    // Whatever was in flight on the lost connection is
                    // answered by the network side (bookings are retried).
                    self.busy.login = false;
                    self.busy.register = false;
                    self.busy.logout = false;
                }
            }
            NetEvent::Connected { addr, .. } => {
                self.busy.connect = false;
                self.server = Some(addr);
                self.connect_error = None;
            }
            NetEvent::ConnectFailed(message) => {
                self.busy.connect = false;
                self.server = None;
                self.hosting = None;
                self.connect_error = Some(message);
            }
            NetEvent::UnknownServer { host, fingerprint } => {
                self.busy.connect = false;
                self.server = None;
                self.security_prompt = Some(SecurityPrompt::Unknown { host, fingerprint });
            }
            NetEvent::ServerChanged {
                host,
                expected,
                actual,
            } => {
                // The connection is refused for good (possibly after a
                // reconnect): back to the connect screen, where the warning is.
                let notices = std::mem::take(&mut self.notices);
                let last_connect = self.last_connect.take();
                *self = Self {
                    notices,
                    last_connect,
                    security_prompt: Some(SecurityPrompt::Changed {
                        host,
                        expected,
                        actual,
                    }),
                    ..Self::default()
                };
            }
            NetEvent::ServerTrusted { .. } | NetEvent::CaFilePicked(_) => {}
            NetEvent::ServerForgotten { host } => {
                self.security_prompt = None;
                self.connect_error = Some(format!(
                    "Forgot the certificate of {host}. Connect again to check its new fingerprint."
                ));
            }
            NetEvent::PinStoreFailed(message) => {
                self.busy.connect = false;
                self.connect_error = Some(message);
            }
            NetEvent::HostStarted {
                addr,
                data_dir,
                fingerprint,
            } => {
                self.hosting = Some(Hosting {
                    addr,
                    data_dir,
                    fingerprint,
                });
            }
            NetEvent::HostFailed(message) => {
                self.busy.connect = false;
                self.connect_error = Some(message);
            }
            NetEvent::Disconnected => {
                let notices = std::mem::take(&mut self.notices);
                *self = Self {
                    notices,
                    ..Self::default()
                };
            }
            NetEvent::Registered { username } => {
                self.busy.register = false;
                self.busy.login = true;
                self.registered = Some(username);
            }
            NetEvent::RegisterFailed(error) => {
                self.busy.register = false;
                self.register_error = Some(error);
            }
            NetEvent::LoggedIn { session, resumed } => {
                self.busy.login = false;
                self.login_error = None;
                self.login_message = None;
                if !resumed {
                    self.chat = ChatLog::default();
                    self.tickets.clear();
                }
                self.session = Some(Session {
                    user_id: session.user_id,
                    username: session.username,
                    email: session.email,
                    role: session.role,
                });
            }
            NetEvent::LoginFailed(error) => {
                self.busy.login = false;
                self.login_error = Some(error);
            }
            NetEvent::SessionExpired(message) => {
                self.end_session();
                self.login_message = Some(format!(
                    "Your session ended ({message}). Please log in again."
                ));
            }
            NetEvent::LoggedOut => {
                self.end_session();
                self.busy.logout = false;
            }
            NetEvent::Events(events) => self.events = events,
            NetEvent::EventSeats {
                event_id,
                available,
            } => {
                if let Some(event) = self.events.iter_mut().find(|e| e.id == event_id) {
                    event.available = available.min(event.capacity);
                }
            }
            NetEvent::EventCreated(event) => {
                self.busy.create_event = false;
                self.notify(
                    NoticeLevel::Info,
                    format!("Event \"{}\" created", event.name),
                    now,
                );
                self.created_event = Some(event.name.clone());
                if !self.events.iter().any(|e| e.id == event.id) {
                    self.events.push(event);
                    self.events
                        .sort_by(|a, b| (a.date, &a.name).cmp(&(b.date, &b.name)));
                }
            }
            NetEvent::CreateEventFailed(error) => {
                self.busy.create_event = false;
                self.create_event_error = Some(error);
            }
            NetEvent::Tickets(tickets) => self.tickets = tickets,
            NetEvent::Booked { event_id, ticket } => {
                self.busy.books.remove(&event_id);
                self.busy.books_waiting.remove(&event_id);
                self.notify(
                    NoticeLevel::Info,
                    format!(
                        "Booked {} {} for {}",
                        ticket.quantity,
                        seats(ticket.quantity),
                        ticket.event_name
                    ),
                    now,
                );
                if !self.tickets.iter().any(|t| t.id == ticket.id) {
                    self.tickets.insert(0, ticket);
                }
            }
            NetEvent::BookRetrying { event_id } => {
                self.busy.books_waiting.insert(event_id);
            }
            NetEvent::BookFailed { event_id, message } => {
                self.busy.books.remove(&event_id);
                self.busy.books_waiting.remove(&event_id);
                let name = self.event_name(&event_id);
                self.notify(
                    NoticeLevel::Error,
                    format!("Booking {name} failed: {message}"),
                    now,
                );
                self.book_errors.insert(event_id, message);
            }
            NetEvent::Cancelled { ticket_id } => {
                self.busy.cancels.remove(&ticket_id);
                if let Some(index) = self.tickets.iter().position(|t| t.id == ticket_id) {
                    let ticket = self.tickets.remove(index);
                    self.notify(
                        NoticeLevel::Info,
                        format!("Cancelled your ticket for {}", ticket.event_name),
                        now,
                    );
                }
            }
            NetEvent::CancelFailed { ticket_id, message } => {
                self.busy.cancels.remove(&ticket_id);
                self.notify(
                    NoticeLevel::Error,
                    format!("Cancelling failed: {message}"),
                    now,
                );
                self.cancel_errors.insert(ticket_id, message);
            }
            NetEvent::Chat(message) => self.chat.insert([message]),
            NetEvent::ChatHistory { messages, more } => {
                self.busy.chat_older = false;
                let extends_back = match (messages.first(), self.chat.oldest_seq()) {
                    (Some(first), Some(oldest)) => first.seq < oldest,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if extends_back || messages.is_empty() {
                    self.chat.more_before = more;
                }
                self.chat.insert(messages);
            }
            NetEvent::ChatSent => self.busy.chat_send = false,
            NetEvent::ChatSendFailed { text, message } => {
                self.busy.chat_send = false;
                self.unsent_chat = Some(text);
                self.notify(
                    NoticeLevel::Error,
                    format!("Message not sent: {message}"),
                    now,
                );
            }
            NetEvent::Presence {
                user,
                online,
                count,
            } => {
                self.online.count = count;
                let verb = if online {
                    self.online.users.insert(user.clone());
                    "joined"
                } else {
                    self.online.users.remove(&user);
                    "left"
                };
                self.chat
                    .notices
                    .push((Utc::now(), format!("{user} {verb}")));
            }
            NetEvent::Online(data) => {
                self.online = Online {
                    count: data.count,
                    users: data.users.into_iter().collect(),
                };
            }
            NetEvent::ServerNotice(text) => {
                self.notify(NoticeLevel::Error, format!("Server: {text}"), now);
            }
            NetEvent::Exported { path, count } => {
                self.busy.export = false;
                self.notify(
                    NoticeLevel::Info,
                    format!(
                        "Exported {count} {} to {}",
                        plural(count, "ticket"),
                        path.display()
                    ),
                    now,
                );
            }
            NetEvent::ExportFailed(message) => {
                self.busy.export = false;
                self.notify(NoticeLevel::Error, format!("Export failed: {message}"), now);
            }
            NetEvent::DialogCancelled => {
                self.busy.export = false;
                self.busy.import = false;
            }
            NetEvent::Imported(outcome) => {
                self.busy.import = false;
                self.import = Some(outcome);
            }
            NetEvent::Error(message) => self.notify(NoticeLevel::Error, message, now),
        }
    }

    /// Drops information notices older than [`INFO_NOTICE_TTL`]; returns how
    /// long until the next one expires, so the UI can repaint then.
    pub fn expire_notices(&mut self, now: Instant) -> Option<Duration> {
        self.notices.retain(|n| {
            n.level == NoticeLevel::Error || now.duration_since(n.at) < INFO_NOTICE_TTL
        });
        self.notices
            .iter()
            .filter(|n| n.level == NoticeLevel::Info)
            .map(|n| INFO_NOTICE_TTL.saturating_sub(now.duration_since(n.at)))
            .min()
    }

    /// Adds a banner notice, keeping at most [`MAX_NOTICES`].
    pub fn notify(&mut self, level: NoticeLevel, text: String, now: Instant) {
        self.notices.push(Notice {
            level,
            text,
            at: now,
        });
        if self.notices.len() > MAX_NOTICES {
            self.notices.remove(0);
        }
    }

    fn end_session(&mut self) {
        self.session = None;
        self.tickets.clear();
        self.chat = ChatLog::default();
        self.busy.books.clear();
        self.busy.books_waiting.clear();
        self.busy.cancels.clear();
        self.busy.chat_send = false;
        self.busy.create_event = false;
        self.book_errors.clear();
    }

    fn event_name(&self, event_id: &str) -> String {
        self.events
            .iter()
            .find(|e| e.id == event_id)
            .map_or_else(|| format!("event {event_id}"), |e| e.name.clone())
    }
}

/// "seat" or "seats".
#[must_use]
pub fn seats(n: u32) -> &'static str {
    if n == 1 { "seat" } else { "seats" }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone as _};
    use coliseum_protocol::response::SessionData;

    fn event(id: &str, available: u32) -> Event {
        Event {
            id: id.into(),
            name: format!("Event {id}"),
            date: NaiveDate::from_ymd_opt(2027, 6, 12).expect("date"),
            location: "Hall".into(),
            capacity: 150,
            available,
            max_per_user: 10,
        }
    }

    fn message(seq: u64, second: u32) -> ChatMessage {
        ChatMessage {
            room: "lobby".into(),
            seq,
            from: "giulia".into(),
            text: format!("m{seq}"),
            sent_at: Utc
                .with_ymd_and_hms(2026, 1, 1, 12, 0, second)
                .single()
                .expect("time"),
        }
    }

    fn ticket(id: &str) -> Ticket {
        Ticket {
            id: id.into(),
            event_id: "1".into(),
            event_name: "Event 1".into(),
            quantity: 2,
            booked_at: Utc::now(),
        }
    }

    #[test]
    fn a_second_identical_request_is_refused_while_the_first_is_in_flight() {
        let mut model = Model::default();
        let book = Command::Book {
            event_id: "1".into(),
            quantity: 2,
        };
        assert!(model.begin(&book));
        assert!(!model.begin(&book), "double submit must be refused");
        assert!(model.begin(&Command::Book {
            event_id: "2".into(),
            quantity: 1
        }));
        let login = Command::Login {
            username: "a".into(),
            password: "b".into(),
        };
        assert!(model.begin(&login));
        assert!(!model.begin(&login));
        model.apply(
            NetEvent::LoginFailed(FormError::general("wrong username or password")),
            Instant::now(),
        );
        assert!(model.begin(&login), "allowed again after the answer");
    }

    #[test]
    fn seat_counts_follow_pushes_and_bookings_settle() {
        let now = Instant::now();
        let mut model = Model::default();
        model.apply(NetEvent::Events(vec![event("1", 150), event("2", 5)]), now);
        model.begin(&Command::Book {
            event_id: "1".into(),
            quantity: 2,
        });
        model.apply(
            NetEvent::EventSeats {
                event_id: "1".into(),
                available: 148,
            },
            now,
        );
        model.apply(
            NetEvent::Booked {
                event_id: "1".into(),
                ticket: ticket("7"),
            },
            now,
        );
        assert_eq!(model.events[0].available, 148);
        assert!(model.busy.books.is_empty());
        assert_eq!(model.tickets.len(), 1);
        // A push for an unknown event changes nothing.
        model.apply(
            NetEvent::EventSeats {
                event_id: "9".into(),
                available: 1,
            },
            now,
        );
        assert_eq!(model.events.len(), 2);
    }

    #[test]
    fn a_failed_booking_is_reported_on_its_row_and_in_a_notice() {
        let now = Instant::now();
        let mut model = Model::default();
        model.apply(NetEvent::Events(vec![event("2", 1)]), now);
        model.begin(&Command::Book {
            event_id: "2".into(),
            quantity: 2,
        });
        model.apply(
            NetEvent::BookFailed {
                event_id: "2".into(),
                message: "only 1 seats left".into(),
            },
            now,
        );
        assert_eq!(model.book_errors["2"], "only 1 seats left");
        assert_eq!(model.notices.len(), 1);
        assert!(model.notices[0].text.contains("Event 2"));
        assert_eq!(model.notices[0].level, NoticeLevel::Error);
        assert!(model.busy.books.is_empty());
    }

    #[test]
    fn chat_history_and_pushes_merge_by_seq_without_duplicates() {
        let mut log = ChatLog::default();
        log.insert([message(5, 5), message(6, 6)]);
        log.insert([message(3, 3), message(4, 4), message(5, 5)]);
        assert_eq!(
            log.messages.keys().copied().collect::<Vec<_>>(),
            [3, 4, 5, 6]
        );
        log.notices.push((
            Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 4)
                .single()
                .expect("t"),
            "marco joined".into(),
        ));
        let lines = log.lines();
        assert_eq!(lines.len(), 5);
        assert!(matches!(lines[1], ChatLine::Message(m) if m.seq == 4));
        assert!(matches!(lines[2], ChatLine::Notice(_, "marco joined")));
        assert!(matches!(lines[3], ChatLine::Message(m) if m.seq == 5));
    }

    #[test]
    fn presence_updates_users_and_adds_a_notice() {
        let now = Instant::now();
        let mut model = Model::default();
        model.apply(
            NetEvent::Online(coliseum_protocol::response::OnlineData {
                count: 1,
                users: vec!["giulia".into()],
            }),
            now,
        );
        model.apply(
            NetEvent::Presence {
                user: "marco".into(),
                online: true,
                count: 2,
            },
            now,
        );
        assert_eq!(model.online.count, 2);
        assert!(model.online.users.contains("marco"));
        model.apply(
            NetEvent::Presence {
                user: "giulia".into(),
                online: false,
                count: 1,
            },
            now,
        );
        assert_eq!(model.online.users.iter().collect::<Vec<_>>(), ["marco"]);
        let texts: Vec<_> = model.chat.notices.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, ["marco joined", "giulia left"]);
    }

    #[test]
    fn a_resumed_session_keeps_the_chat_and_a_new_login_clears_it() {
        let now = Instant::now();
        let mut model = Model::default();
        let session = SessionData {
            user_id: "1".into(),
            username: "giulia".into(),
            email: "g@example.com".into(),
            role: Role::User,
            token: "t".into(),
        };
        model.chat.insert([message(1, 1)]);
        model.apply(
            NetEvent::LoggedIn {
                session: session.clone(),
                resumed: true,
            },
            now,
        );
        assert_eq!(model.chat.messages.len(), 1);
        model.apply(
            NetEvent::LoggedIn {
                session,
                resumed: false,
            },
            now,
        );
        assert!(model.chat.messages.is_empty());
        assert!(!model.is_admin());
    }

    #[test]
    fn info_notices_expire_and_errors_stay() {
        let start = Instant::now();
        let mut model = Model::default();
        model.notify(NoticeLevel::Info, "ok".into(), start);
        model.notify(NoticeLevel::Error, "bad".into(), start);
        assert_eq!(model.expire_notices(start), Some(INFO_NOTICE_TTL));
        assert_eq!(model.expire_notices(start + INFO_NOTICE_TTL), None);
        assert_eq!(model.notices.len(), 1);
        assert_eq!(model.notices[0].text, "bad");
        for n in 0..10 {
            model.notify(NoticeLevel::Error, format!("e{n}"), start);
        }
        assert_eq!(model.notices.len(), MAX_NOTICES);
    }

    #[test]
    fn reconnecting_sets_a_deadline() {
        let now = Instant::now();
        let mut model = Model::default();
        model.apply(
            NetEvent::Link(LinkStatus::Reconnecting {
                delay: Duration::from_secs(4),
            }),
            now,
        );
        assert_eq!(
            model.link,
            Link::Reconnecting {
                at: now + Duration::from_secs(4)
            }
        );
    }

    #[test]
    fn a_changed_certificate_ends_the_session_and_keeps_the_warning() {
        let now = Instant::now();
        let mut model = Model::default();
        let connect = Command::Connect {
            addr: "example.org:7878".into(),
            security: Security::TrustOnFirstUse,
        };
        assert!(model.begin(&connect));
        assert!(!model.begin(&connect), "no double connect");
        let fingerprint = Fingerprint::from_bytes([7; 32]);
        model.apply(
            NetEvent::UnknownServer {
                host: "example.org:7878".into(),
                fingerprint,
            },
            now,
        );
        assert!(!model.busy.connect);
        assert_eq!(model.server, None);
        assert!(matches!(
            &model.security_prompt,
            Some(SecurityPrompt::Unknown { fingerprint: f, .. }) if *f == fingerprint
        ));
        // Connecting again (after "Trust") clears the question.
        assert!(model.begin(&connect));
        assert_eq!(model.security_prompt, None);
        assert_eq!(model.server.as_deref(), Some("example.org:7878"));
        model.apply(
            NetEvent::ServerChanged {
                host: "example.org:7878".into(),
                expected: fingerprint,
                actual: Fingerprint::from_bytes([8; 32]),
            },
            now,
        );
        assert_eq!(model.server, None);
        assert!(model.session.is_none());
        assert!(matches!(
            model.security_prompt,
            Some(SecurityPrompt::Changed { .. })
        ));
        assert_eq!(
            model.last_connect,
            Some(("example.org:7878".into(), Security::TrustOnFirstUse))
        );
    }
}
