//! The events and tickets slice: the event list with live seat counts, the
//! user's tickets, and the requests that change them (book, cancel, create,
//! import, export).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use coliseum_protocol::{Event, EventStatus, Ticket};

use super::notices::{NoticeLevel, Notices};
use super::{plural, seats};
use crate::network::{FormError, ImportOutcome, NetCommand, NetEvent};
use crate::transfer::ExportFormat;

/// Events and tickets requests in flight.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventsBusy {
    /// "Create event".
    pub create_event: bool,
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

/// The events and the user's tickets.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventsState {
    /// Events in server order (date, then name).
    pub list: Vec<Event>,
    /// The user's tickets, newest first.
    pub tickets: Vec<Ticket>,
    /// Requests in flight.
    pub busy: EventsBusy,
    /// Last booking failure per event id.
    pub book_errors: HashMap<String, String>,
    /// Last cancellation failure per ticket id.
    pub cancel_errors: HashMap<String, String>,
    /// Last "New event" failure.
    pub create_error: Option<FormError>,
    /// Name of the last event created from the form (the form clears itself).
    pub created: Option<String>,
    /// Result of the last import.
    pub import: Option<ImportOutcome>,
    /// An export dialog closed without a file: offer the Downloads folder
    /// in this format (rfd cannot tell a cancel from a missing dialog).
    pub export_fallback: Option<ExportFormat>,
}

impl EventsState {
    /// Marks a request in flight; `false` when the same one already is (a
    /// second booking of the same event, a second cancel of one ticket).
    pub fn begin(&mut self, command: &NetCommand) -> bool {
        let flag = match command {
            NetCommand::Book { event_id, .. } => {
                self.book_errors.remove(event_id);
                return self.busy.books.insert(event_id.clone());
            }
            NetCommand::CancelTicket { ticket_id, .. } => {
                self.cancel_errors.remove(ticket_id);
                return self.busy.cancels.insert(ticket_id.clone());
            }
            NetCommand::CreateEvent(_) => &mut self.busy.create_event,
            NetCommand::ExportTickets { .. } | NetCommand::ExportTicketsToDownloads { .. } => {
                &mut self.busy.export
            }
            NetCommand::ImportEvents => &mut self.busy.import,
            _ => return true,
        };
        if *flag {
            return false;
        }
        *flag = true;
        match command {
            NetCommand::CreateEvent(_) => {
                self.create_error = None;
                self.created = None;
            }
            NetCommand::ImportEvents => self.import = None,
            NetCommand::ExportTickets { .. } | NetCommand::ExportTicketsToDownloads { .. } => {
                self.export_fallback = None;
            }
            _ => {}
        }
        true
    }

    /// Follows lists, pushes and answers.
    pub fn apply(&mut self, event: &NetEvent, notices: &mut Notices, now: Instant) {
        match event {
            NetEvent::LoggedIn { resumed: false, .. } => self.tickets.clear(),
            NetEvent::LoggedOut | NetEvent::SessionExpired(_) => self.end_session(),
            NetEvent::Disconnected | NetEvent::ServerChanged { .. } => *self = Self::default(),
            NetEvent::Events(events) => self.list.clone_from(events),
            NetEvent::EventChanged(event) | NetEvent::EventUpdated(event) => self.upsert(event),
            NetEvent::PartlyCancelled {
                ticket_id,
                quantity,
            } => {
                self.busy.cancels.remove(ticket_id);
                if let Some(ticket) = self.tickets.iter_mut().find(|t| &t.id == ticket_id) {
                    ticket.quantity = ticket.quantity.saturating_sub(*quantity);
                    notices.notify(
                        NoticeLevel::Info,
                        format!(
                            "Gave back {quantity} {} for {}; you keep {}",
                            seats(*quantity),
                            ticket.event_name,
                            ticket.quantity
                        ),
                        now,
                    );
                }
                self.tickets.retain(|t| t.quantity > 0);
            }
            NetEvent::TicketCancelled {
                ticket_id,
                event_id,
                reason,
            } => {
                let name = self
                    .tickets
                    .iter()
                    .find(|t| &t.id == ticket_id)
                    .map_or_else(|| self.event_name(event_id), |t| t.event_name.clone());
                self.tickets.retain(|t| &t.id != ticket_id);
                notices.notify(
                    NoticeLevel::Error,
                    format!("Your ticket for {name} was cancelled by the organiser: {reason}"),
                    now,
                );
            }
            NetEvent::OfferAccepted { ticket, .. } => {
                self.add_ticket(ticket, " from the waiting list", notices, now);
            }
            NetEvent::EventSeats {
                event_id,
                available,
            } => {
                if let Some(event) = self.list.iter_mut().find(|e| &e.id == event_id) {
                    event.available = (*available).min(event.capacity);
                    // The push carries only the count; the status follows it.
                    event.status = match (event.status, event.available) {
                        (EventStatus::OnSale, 0) => EventStatus::SoldOut,
                        (EventStatus::SoldOut, 1..) => EventStatus::OnSale,
                        (status, _) => status,
                    };
                }
            }
            NetEvent::EventCreated(event) => {
                self.busy.create_event = false;
                notices.notify(
                    NoticeLevel::Info,
                    format!("Event \"{}\" created", event.name),
                    now,
                );
                self.created = Some(event.name.clone());
                self.upsert(event);
            }
            NetEvent::CreateEventFailed(error) => {
                self.busy.create_event = false;
                self.create_error = Some(error.clone());
            }
            NetEvent::Tickets(tickets) => self.tickets.clone_from(tickets),
            NetEvent::Booked { event_id, ticket } => {
                self.busy.books.remove(event_id);
                self.busy.books_waiting.remove(event_id);
                self.add_ticket(ticket, "", notices, now);
            }
            NetEvent::BookRetrying { event_id } => {
                self.busy.books_waiting.insert(event_id.clone());
            }
            NetEvent::BookFailed { event_id, message } => {
                self.busy.books.remove(event_id);
                self.busy.books_waiting.remove(event_id);
                let name = self.event_name(event_id);
                let message = refusal_text(message);
                notices.notify(
                    NoticeLevel::Error,
                    format!("Booking {name} failed: {message}"),
                    now,
                );
                self.book_errors.insert(event_id.clone(), message);
            }
            NetEvent::Cancelled { ticket_id } => {
                self.busy.cancels.remove(ticket_id);
                if let Some(index) = self.tickets.iter().position(|t| &t.id == ticket_id) {
                    let ticket = self.tickets.remove(index);
                    notices.notify(
                        NoticeLevel::Info,
                        format!("Cancelled your ticket for {}", ticket.event_name),
                        now,
                    );
                }
            }
            NetEvent::CancelFailed { ticket_id, message } => {
                self.busy.cancels.remove(ticket_id);
                notices.notify(
                    NoticeLevel::Error,
                    format!("Cancelling failed: {message}"),
                    now,
                );
                self.cancel_errors
                    .insert(ticket_id.clone(), message.clone());
            }
            NetEvent::Exported { path, count } => {
                self.busy.export = false;
                notices.notify(
                    NoticeLevel::Info,
                    format!(
                        "Exported {count} {} to {}",
                        plural(*count, "ticket"),
                        path.display()
                    ),
                    now,
                );
            }
            NetEvent::ExportFailed(message) => {
                self.busy.export = false;
                notices.notify(NoticeLevel::Error, format!("Export failed: {message}"), now);
            }
            NetEvent::DialogCancelled { export } => {
                self.busy.export = false;
                self.export_fallback = *export;
                if std::mem::take(&mut self.busy.import) {
                    // Not silent: the dialog may never have appeared.
                    self.import = Some(ImportOutcome::Unreadable(NO_FILE_CHOSEN.to_owned()));
                }
            }
            NetEvent::Imported(outcome) => {
                self.busy.import = false;
                self.import = Some(outcome.clone());
            }
            _ => {}
        }
    }

    /// A new ticket of the user ("Booked 2 seats for X" + `how`), listed
    /// first unless it already is.
    fn add_ticket(&mut self, ticket: &Ticket, how: &str, notices: &mut Notices, now: Instant) {
        notices.notify(
            NoticeLevel::Info,
            format!(
                "Booked {} {} for {}{how}",
                ticket.quantity,
                seats(ticket.quantity),
                ticket.event_name
            ),
            now,
        );
        if !self.tickets.iter().any(|t| t.id == ticket.id) {
            self.tickets.insert(0, ticket.clone());
        }
    }

    /// Replaces the listed event with the same id, or lists a new one (in
    /// the server's order: date, then name).
    fn upsert(&mut self, event: &Event) {
        if let Some(listed) = self.list.iter_mut().find(|e| e.id == event.id) {
            *listed = event.clone();
        } else {
            self.list.push(event.clone());
            self.list
                .sort_by(|a, b| (a.date, &a.name).cmp(&(b.date, &b.name)));
        }
        // A renamed event: the tickets carry the name too.
        for ticket in self.tickets.iter_mut().filter(|t| t.event_id == event.id) {
            ticket.event_name.clone_from(&event.name);
        }
    }

    /// The event with this id, if listed.
    #[must_use]
    pub fn event(&self, event_id: &str) -> Option<&Event> {
        self.list.iter().find(|e| e.id == event_id)
    }

    /// Seats of `event_id` the user holds (sum of their tickets).
    #[must_use]
    pub fn held(&self, event_id: &str) -> u32 {
        self.tickets
            .iter()
            .filter(|t| t.event_id == event_id)
            .map(|t| t.quantity)
            .sum()
    }

    /// Most seats the user may book now: the seats left, and what the
    /// per-user limit leaves after the tickets they hold.
    #[must_use]
    pub fn bookable(&self, event: &Event) -> u32 {
        event
            .available
            .min(event.max_per_user.saturating_sub(self.held(&event.id)))
    }

    fn end_session(&mut self) {
        self.tickets.clear();
        self.busy.books.clear();
        self.busy.books_waiting.clear();
        self.busy.cancels.clear();
        self.busy.create_event = false;
        self.book_errors.clear();
        self.export_fallback = None;
    }

    fn event_name(&self, event_id: &str) -> String {
        self.event(event_id)
            .map_or_else(|| format!("event {event_id}"), |e| e.name.clone())
    }
}

/// Why an import did nothing when its dialog closed without a file (rfd
/// cannot tell a cancel from a desktop with no file-dialog service).
pub const NO_FILE_CHOSEN: &str = "no file was chosen (if no file dialog appeared, this desktop \
     has no file-dialog service: xdg-desktop-portal or zenity)";

/// A booking refusal for people: the server's message, except that a
/// refusal with no seat left at all reads "sold out" (not "only 0 seats left").
#[must_use]
pub fn refusal_text(message: &str) -> String {
    if message.trim() == "only 0 seats left" {
        "sold out".to_owned()
    } else {
        message.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Utc};

    fn event(available: u32, max_per_user: u32) -> Event {
        Event {
            id: "1".into(),
            name: "Jazz Night".into(),
            date: NaiveDate::from_ymd_opt(2027, 10, 2).expect("date"),
            location: "Blue Room".into(),
            capacity: 80,
            available,
            max_per_user,
            description: String::new(),
            starts_at: coliseum_protocol::validate::evening_of(
                NaiveDate::from_ymd_opt(2027, 10, 2).expect("date"),
            ),
            status: coliseum_protocol::EventStatus::OnSale,
            room: String::new(),
            waitlist: 0,
            held: 0,
        }
    }

    fn ticket(quantity: u32) -> Ticket {
        Ticket {
            id: format!("t{quantity}"),
            event_id: "1".into(),
            event_name: "Jazz Night".into(),
            quantity,
            booked_at: Utc::now(),
            code: String::new(),
            checked_in_at: None,
        }
    }

    #[test]
    fn bookable_is_capped_by_seats_left_and_the_remaining_allowance() {
        let mut state = EventsState::default();
        assert_eq!(state.bookable(&event(80, 4)), 4);
        assert_eq!(state.bookable(&event(2, 4)), 2);
        state.tickets = vec![ticket(1), ticket(2)];
        assert_eq!(state.held("1"), 3);
        assert_eq!(state.bookable(&event(80, 4)), 1);
        state.tickets.push(ticket(1));
        assert_eq!(state.bookable(&event(80, 4)), 0);
        assert_eq!(state.bookable(&event(0, 10)), 0);
    }

    #[test]
    fn an_export_dialog_without_a_file_offers_the_downloads_folder() {
        let mut state = EventsState::default();
        let mut notices = Notices::default();
        let export = NetCommand::ExportTickets {
            format: ExportFormat::Csv,
            tickets: Vec::new(),
        };
        assert!(state.begin(&export));
        assert!(!state.begin(&export), "one export at a time");
        state.apply(
            &NetEvent::DialogCancelled {
                export: Some(ExportFormat::Csv),
            },
            &mut notices,
            Instant::now(),
        );
        assert_eq!(state.export_fallback, Some(ExportFormat::Csv));
        assert!(!state.busy.export);
        assert!(state.begin(&NetCommand::ExportTicketsToDownloads {
            format: ExportFormat::Csv,
            tickets: Vec::new(),
        }));
        assert_eq!(state.export_fallback, None, "the offer goes once taken");
    }

    #[test]
    fn a_booking_caught_by_a_lost_connection_waits_then_settles() {
        let mut state = EventsState::default();
        let mut notices = Notices::default();
        let now = Instant::now();
        state.list = vec![event(80, 4)];
        assert!(state.begin(&NetCommand::Book {
            event_id: "1".into(),
            quantity: 2,
        }));
        state.apply(
            &NetEvent::BookRetrying {
                event_id: "1".into(),
            },
            &mut notices,
            now,
        );
        assert!(state.busy.books_waiting.contains("1"), "shown as waiting");
        state.apply(
            &NetEvent::Booked {
                event_id: "1".into(),
                ticket: ticket(2),
            },
            &mut notices,
            now,
        );
        assert!(state.busy.books.is_empty() && state.busy.books_waiting.is_empty());
        assert_eq!(notices.list[0].text, "Booked 2 seats for Jazz Night");
        assert_eq!(state.held("1"), 2);
    }

    #[test]
    fn a_sold_out_refusal_never_reads_only_0_seats_left() {
        let mut state = EventsState::default();
        let mut notices = Notices::default();
        state.list = vec![event(0, 4)];
        state.apply(
            &NetEvent::BookFailed {
                event_id: "1".into(),
                message: "only 0 seats left".into(),
            },
            &mut notices,
            Instant::now(),
        );
        assert_eq!(state.book_errors["1"], "sold out");
        assert_eq!(notices.list[0].text, "Booking Jazz Night failed: sold out");
        assert_eq!(refusal_text("only 2 seats left"), "only 2 seats left");
    }
}
