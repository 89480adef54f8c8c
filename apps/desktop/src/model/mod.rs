//! What the UI knows: a mirror of the server's state for this user, kept up
//! to date from the network events, plus which requests are in flight (so
//! buttons show a spinner and cannot be pressed twice) and the notices.
//!
//! [`Model`] only composes slices; each slice owns its state and its
//! `begin` (a command is about to be sent) and `apply` (an event arrived).
//! A new feature adds its slice and one line in each of [`Model::begin`]
//! and [`Model::apply`].
//!
//! No I/O and no egui here, so every rule is unit-tested.
//!
//! # Layout
//! - [`connection`]: connection status, the hosted server, trust prompts.
//! - [`session`]: the logged-in user; login, registration.
//! - [`events`]: events with live seats, tickets, bookings, import/export.
//! - [`chat`]: the lobby and who is online.
//! - [`ticketing`]: waiting lists, offers, event management, the door.
//! - [`notices`]: messages for the user.

pub mod chat;
pub mod connection;
pub mod events;
pub mod notices;
pub mod session;
pub mod ticketing;

use std::time::Instant;

pub use chat::{ChatLine, ChatLog, ChatState, Online, RoomChat, TYPING_SHOWN, Typist};
pub use connection::{ConnectionState, Hosting, SecurityPrompt};
pub use events::{EventsBusy, EventsState};
pub use notices::{INFO_NOTICE_TTL, MAX_NOTICES, Notice, NoticeLevel, Notices};
pub use session::{Session, SessionBusy, SessionState};
pub use ticketing::{CheckInOutcome, TicketingBusy, TicketingState};

use crate::network::{NetCommand, NetEvent};

/// Everything the views read: one slice per area.
#[derive(Debug, Default)]
pub struct Model {
    /// Connection and trust.
    pub connection: ConnectionState,
    /// The logged-in user and the login forms.
    pub session: SessionState,
    /// Events and tickets.
    pub events: EventsState,
    /// The lobby.
    pub chat: ChatState,
    /// Waiting lists, offers, event management, check-in.
    pub ticketing: TicketingState,
    /// Messages for the user.
    pub notices: Notices,
}

impl Model {
    /// Marks the request `command` stands for as in flight. Returns `false`
    /// (and the command must not be sent) when the same request is already
    /// in flight — this is what makes double submission impossible.
    pub fn begin(&mut self, command: &NetCommand) -> bool {
        self.connection.begin(command)
            && self.session.begin(command)
            && self.events.begin(command)
            && self.chat.begin(command)
            && self.ticketing.begin(command)
    }

    /// Applies one network event at time `now`: every slice sees it and
    /// takes what concerns it.
    pub fn apply(&mut self, event: &NetEvent, now: Instant) {
        self.connection.apply(event, now);
        self.session.apply(event);
        self.events.apply(event, &mut self.notices, now);
        self.chat.apply(event, &mut self.notices, now);
        self.ticketing.apply(event, &mut self.notices, now);
        self.notices.apply(event, now);
    }
}

/// "seat" or "seats".
#[must_use]
pub fn seats(n: u32) -> &'static str {
    if n == 1 { "seat" } else { "seats" }
}

/// `word` with an "s" unless `n` is 1.
#[must_use]
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{FormError, Security};
    use chrono::Utc;
    use chrono::{NaiveDate, TimeZone as _};
    use coliseum_client::Fingerprint;
    use coliseum_protocol::response::SessionData;
    use coliseum_protocol::{ChatMessage, Event, Role, Ticket};

    fn event(id: &str, available: u32) -> Event {
        Event {
            id: id.into(),
            name: format!("Event {id}"),
            date: NaiveDate::from_ymd_opt(2027, 6, 12).expect("date"),
            location: "Hall".into(),
            capacity: 150,
            available,
            max_per_user: 10,
            description: String::new(),
            starts_at: coliseum_protocol::validate::evening_of(
                NaiveDate::from_ymd_opt(2027, 6, 12).expect("date"),
            ),
            status: coliseum_protocol::EventStatus::OnSale,
            room: String::new(),
            waitlist: 0,
            held: 0,
        }
    }

    fn message(seq: u64, second: u32) -> ChatMessage {
        ChatMessage {
            room: "lobby".into(),
            seq,
            from: Some("giulia".into()),
            text: format!("m{seq}"),
            sent_at: Utc
                .with_ymd_and_hms(2026, 1, 1, 12, 0, second)
                .single()
                .expect("time"),
            system: false,
            edited_at: None,
            deleted: false,
        }
    }

    fn ticket(id: &str) -> Ticket {
        Ticket {
            id: id.into(),
            event_id: "1".into(),
            event_name: "Event 1".into(),
            quantity: 2,
            booked_at: Utc::now(),
            code: String::new(),
            checked_in_at: None,
        }
    }

    #[test]
    fn a_second_identical_request_is_refused_while_the_first_is_in_flight() {
        let mut model = Model::default();
        let book = NetCommand::Book {
            event_id: "1".into(),
            quantity: 2,
        };
        assert!(model.begin(&book));
        assert!(!model.begin(&book), "double submit must be refused");
        assert!(model.begin(&NetCommand::Book {
            event_id: "2".into(),
            quantity: 1
        }));
        let login = NetCommand::Login {
            username: "a".into(),
            password: "b".into(),
        };
        assert!(model.begin(&login));
        assert!(!model.begin(&login));
        model.apply(
            &NetEvent::LoginFailed(FormError::general("wrong username or password")),
            Instant::now(),
        );
        assert!(model.begin(&login), "allowed again after the answer");
    }

    #[test]
    fn seat_counts_follow_pushes_and_bookings_settle() {
        let now = Instant::now();
        let mut model = Model::default();
        model.apply(&NetEvent::Events(vec![event("1", 150), event("2", 5)]), now);
        model.begin(&NetCommand::Book {
            event_id: "1".into(),
            quantity: 2,
        });
        model.apply(
            &NetEvent::EventSeats {
                event_id: "1".into(),
                available: 148,
            },
            now,
        );
        model.apply(
            &NetEvent::Booked {
                event_id: "1".into(),
                ticket: ticket("7"),
            },
            now,
        );
        assert_eq!(model.events.list[0].available, 148);
        assert!(model.events.busy.books.is_empty());
        assert_eq!(model.events.tickets.len(), 1);
        // A push for an unknown event changes nothing.
        model.apply(
            &NetEvent::EventSeats {
                event_id: "9".into(),
                available: 1,
            },
            now,
        );
        assert_eq!(model.events.list.len(), 2);
    }

    #[test]
    fn a_failed_booking_is_reported_on_its_row_and_in_a_notice() {
        let now = Instant::now();
        let mut model = Model::default();
        model.apply(&NetEvent::Events(vec![event("2", 1)]), now);
        model.begin(&NetCommand::Book {
            event_id: "2".into(),
            quantity: 2,
        });
        model.apply(
            &NetEvent::BookFailed {
                event_id: "2".into(),
                message: "only 1 seats left".into(),
            },
            now,
        );
        assert_eq!(model.events.book_errors["2"], "only 1 seats left");
        assert_eq!(model.notices.list.len(), 1);
        assert!(model.notices.list[0].text.contains("Event 2"));
        assert_eq!(model.notices.list[0].level, NoticeLevel::Error);
        assert!(model.events.busy.books.is_empty());
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
            &NetEvent::Online(coliseum_protocol::response::OnlineData {
                count: 1,
                users: vec!["giulia".into()],
            }),
            now,
        );
        model.apply(
            &NetEvent::Presence {
                user: "marco".into(),
                online: true,
                count: 2,
            },
            now,
        );
        assert_eq!(model.chat.online.count, 2);
        assert!(model.chat.online.users.contains("marco"));
        model.apply(
            &NetEvent::Presence {
                user: "giulia".into(),
                online: false,
                count: 1,
            },
            now,
        );
        assert_eq!(
            model.chat.online.users.iter().collect::<Vec<_>>(),
            ["marco"]
        );
        let texts: Vec<_> = model
            .chat
            .lobby()
            .notices
            .iter()
            .map(|(_, t)| t.as_str())
            .collect();
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
        model
            .chat
            .rooms
            .get_mut("lobby")
            .expect("lobby")
            .log
            .insert([message(1, 1)]);
        model.apply(
            &NetEvent::LoggedIn {
                session: session.clone(),
                resumed: true,
            },
            now,
        );
        assert_eq!(model.chat.log().messages.len(), 1);
        model.apply(
            &NetEvent::LoggedIn {
                session,
                resumed: false,
            },
            now,
        );
        assert!(model.chat.log().messages.is_empty());
        assert!(!model.session.is_admin());
    }

    #[test]
    fn a_changed_certificate_ends_the_session_and_keeps_the_warning() {
        let now = Instant::now();
        let mut model = Model::default();
        let connect = NetCommand::Connect {
            addr: "example.org:7878".into(),
            security: Security::TrustOnFirstUse,
        };
        assert!(model.begin(&connect));
        assert!(!model.begin(&connect), "no double connect");
        let fingerprint = Fingerprint::from_bytes([7; 32]);
        model.apply(
            &NetEvent::UnknownServer {
                host: "example.org:7878".into(),
                fingerprint,
            },
            now,
        );
        assert!(!model.connection.busy);
        assert_eq!(model.connection.server, None);
        assert!(matches!(
            &model.connection.security_prompt,
            Some(SecurityPrompt::Unknown { fingerprint: f, .. }) if *f == fingerprint
        ));
        // Connecting again (after "Trust") clears the question.
        assert!(model.begin(&connect));
        assert_eq!(model.connection.security_prompt, None);
        assert_eq!(model.connection.server.as_deref(), Some("example.org:7878"));
        model.apply(
            &NetEvent::ServerChanged {
                host: "example.org:7878".into(),
                expected: fingerprint,
                actual: Fingerprint::from_bytes([8; 32]),
            },
            now,
        );
        assert_eq!(model.connection.server, None);
        assert!(model.session.user.is_none());
        assert!(matches!(
            model.connection.security_prompt,
            Some(SecurityPrompt::Changed { .. })
        ));
        assert_eq!(
            model.connection.last_connect,
            Some(("example.org:7878".into(), Security::TrustOnFirstUse))
        );
    }
}
