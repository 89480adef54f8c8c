//! The ticketing slice: the user's waiting-list places and the offers made
//! to them, event management in flight (edit, cancel), attendees and the
//! door's last check-in, and files being saved (ticket PNG, calendar entry,
//! attendees CSV).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use coliseum_protocol::response::CheckInData;
use coliseum_protocol::{Attendee, Offer, WaitlistEntry};

use super::notices::{NoticeLevel, Notices};
use super::seats;
use crate::network::{CheckInRefusal, FormError, NetCommand, NetEvent, SaveRequest};

/// The hint when the QR image dialog closed without a file.
pub const NO_IMAGE_CHOSEN: &str = "No image was chosen. If no file dialog appeared, this desktop \
     has no file-dialog service: drop the image on the window instead.";

/// Ticketing requests in flight.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TicketingBusy {
    /// Events with a `waitlist_join` or `waitlist_leave` in flight.
    pub waitlist: HashSet<String>,
    /// Offers being accepted or declined.
    pub offers: HashSet<String>,
    /// Events with an `update_event` in flight.
    pub updates: HashSet<String>,
    /// Events with a `cancel_event` in flight.
    pub cancels: HashSet<String>,
    /// Events whose attendees are loading.
    pub attendees: HashSet<String>,
    /// A check-in (typed code or image) is in flight.
    pub check_in: bool,
    /// A save dialog or write is under way.
    pub save: bool,
}

/// What the door saw at the last check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckInOutcome {
    /// Admitted.
    Admitted(Box<CheckInData>),
    /// Refused, and why.
    Refused(CheckInRefusal),
}

/// Waiting lists, offers, event management, door.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TicketingState {
    /// The user's places in line, one per event.
    pub waitlist: Vec<WaitlistEntry>,
    /// Seats held for the user, oldest first; an offer past `expires_at`
    /// is no longer shown (the server passes it on).
    pub offers: Vec<Offer>,
    /// Requests in flight.
    pub busy: TicketingBusy,
    /// Last waiting-list refusal per event id.
    pub waitlist_errors: HashMap<String, String>,
    /// Last refusal of an edit, per event id.
    pub update_errors: HashMap<String, FormError>,
    /// Last refusal of a cancellation, per event id.
    pub cancel_errors: HashMap<String, String>,
    /// Counts successful edits, so the edit form knows when to close.
    pub updated: u32,
    /// Attendees per event id, as last loaded (check-ins update them).
    pub attendees: HashMap<String, Vec<Attendee>>,
    /// Why the attendees of an event could not be loaded.
    pub attendees_errors: HashMap<String, String>,
    /// The last check-in and when it came back (for its colour fade).
    pub check_in: Option<(CheckInOutcome, Instant)>,
    /// A save dialog closed without a file: offer the Downloads folder for
    /// this file (rfd cannot tell a cancel from a missing dialog).
    pub save_fallback: Option<SaveRequest>,
}

impl TicketingState {
    /// Marks a request in flight; `false` when the same one already is.
    pub fn begin(&mut self, command: &NetCommand) -> bool {
        match command {
            NetCommand::JoinWaitlist { event_id, .. } | NetCommand::LeaveWaitlist { event_id } => {
                self.waitlist_errors.remove(event_id);
                self.busy.waitlist.insert(event_id.clone())
            }
            NetCommand::AcceptOffer { offer_id } | NetCommand::DeclineOffer { offer_id } => {
                self.busy.offers.insert(offer_id.clone())
            }
            NetCommand::UpdateEvent(update) => {
                self.update_errors.remove(&update.event_id);
                self.busy.updates.insert(update.event_id.clone())
            }
            NetCommand::CancelEvent { event_id, .. } => {
                self.cancel_errors.remove(event_id);
                self.busy.cancels.insert(event_id.clone())
            }
            NetCommand::LoadAttendees { event_id } => {
                self.attendees_errors.remove(event_id);
                self.busy.attendees.insert(event_id.clone())
            }
            NetCommand::CheckIn { .. }
            | NetCommand::CheckInImage
            | NetCommand::CheckInImageFile(_) => !std::mem::replace(&mut self.busy.check_in, true),
            NetCommand::SaveFile(_) | NetCommand::SaveToDownloads(_) => {
                self.save_fallback = None;
                !std::mem::replace(&mut self.busy.save, true)
            }
            _ => true,
        }
    }

    /// Follows pushes and answers.
    pub fn apply(&mut self, event: &NetEvent, notices: &mut Notices, now: Instant) {
        match event {
            NetEvent::LoggedIn { resumed: false, .. }
            | NetEvent::LoggedOut
            | NetEvent::SessionExpired(_)
            | NetEvent::Disconnected
            | NetEvent::ServerChanged { .. } => *self = Self::default(),
            NetEvent::Waitlist(data) => {
                self.waitlist.clone_from(&data.entries);
                self.offers.clone_from(&data.offers);
            }
            NetEvent::WaitlistJoined {
                event_id,
                quantity,
                position,
            } => {
                self.busy.waitlist.remove(event_id);
                self.waitlist.retain(|e| &e.event_id != event_id);
                self.waitlist.push(WaitlistEntry {
                    event_id: event_id.clone(),
                    quantity: *quantity,
                    position: *position,
                });
                notices.notify(
                    NoticeLevel::Info,
                    format!(
                        "You are number {position} in line for {quantity} {}",
                        seats(*quantity)
                    ),
                    now,
                );
            }
            NetEvent::WaitlistLeft { event_id } => {
                self.busy.waitlist.remove(event_id);
                self.waitlist.retain(|e| &e.event_id != event_id);
            }
            NetEvent::WaitlistFailed { event_id, message } => {
                self.busy.waitlist.remove(event_id);
                notices.notify(NoticeLevel::Error, format!("Waiting list: {message}"), now);
                self.waitlist_errors
                    .insert(event_id.clone(), message.clone());
            }
            NetEvent::Offer(offer) => {
                // The place in line became this offer.
                self.waitlist.retain(|e| e.event_id != offer.event_id);
                self.offers.retain(|o| o.offer_id != offer.offer_id);
                self.offers.push(offer.clone());
                notices.notify(
                    NoticeLevel::Info,
                    format!(
                        "{}: accept before {}",
                        held_for_you(offer.quantity, Some(&offer_name(offer))),
                        offer
                            .expires_at
                            .with_timezone(&chrono::Local)
                            .format("%H:%M")
                    ),
                    now,
                );
            }
            NetEvent::OfferAccepted { offer_id, .. } | NetEvent::OfferDeclined { offer_id } => {
                self.busy.offers.remove(offer_id);
                self.offers.retain(|o| &o.offer_id != offer_id);
            }
            NetEvent::OfferFailed { offer_id, message } => {
                self.busy.offers.remove(offer_id);
                // Lapsed or passed on: nothing left to act on.
                self.offers.retain(|o| &o.offer_id != offer_id);
                notices.notify(NoticeLevel::Error, format!("Offer: {message}"), now);
            }
            NetEvent::EventChanged(event)
                if event.status == coliseum_protocol::EventStatus::Cancelled =>
            {
                self.waitlist.retain(|e| e.event_id != event.id);
                self.offers.retain(|o| o.event_id != event.id);
            }
            NetEvent::EventUpdated(event) => {
                self.busy.updates.remove(&event.id);
                self.updated = self.updated.wrapping_add(1);
                notices.notify(
                    NoticeLevel::Info,
                    format!("Saved the changes to {}", event.name),
                    now,
                );
            }
            NetEvent::UpdateEventFailed { event_id, error } => {
                self.busy.updates.remove(event_id);
                self.update_errors.insert(event_id.clone(), error.clone());
            }
            NetEvent::EventCancelled { event_id, refunded } => {
                self.busy.cancels.remove(event_id);
                notices.notify(
                    NoticeLevel::Info,
                    format!(
                        "Event cancelled; {refunded} {} refunded",
                        super::plural(usize::try_from(*refunded).unwrap_or(usize::MAX), "ticket")
                    ),
                    now,
                );
            }
            NetEvent::CancelEventFailed { event_id, message } => {
                self.busy.cancels.remove(event_id);
                self.cancel_errors.insert(event_id.clone(), message.clone());
            }
            NetEvent::Attendees {
                event_id,
                attendees,
            } => {
                self.busy.attendees.remove(event_id);
                self.attendees.insert(event_id.clone(), attendees.clone());
            }
            NetEvent::AttendeesFailed { event_id, message } => {
                self.busy.attendees.remove(event_id);
                self.attendees_errors
                    .insert(event_id.clone(), message.clone());
            }
            NetEvent::CheckedIn(data) => {
                self.busy.check_in = false;
                if let Some(row) = self
                    .attendees
                    .get_mut(&data.event.id)
                    .and_then(|rows| rows.iter_mut().find(|a| a.ticket_id == data.ticket.id))
                {
                    row.checked_in_at = Some(data.checked_in_at);
                }
                self.check_in = Some((CheckInOutcome::Admitted(Box::new(data.clone())), now));
            }
            NetEvent::CheckInRefused(refusal) => {
                self.busy.check_in = false;
                self.check_in = Some((CheckInOutcome::Refused(refusal.clone()), now));
            }
            NetEvent::CheckInImageNotChosen => {
                self.busy.check_in = false;
                // Not a refusal: the door's last answer stays on screen.
                notices.notify(NoticeLevel::Info, NO_IMAGE_CHOSEN.to_owned(), now);
            }
            NetEvent::Saved { what, path } => {
                self.busy.save = false;
                notices.notify(
                    NoticeLevel::Info,
                    format!("{what} saved to {}", path.display()),
                    now,
                );
            }
            NetEvent::SaveFailed(message) => {
                self.busy.save = false;
                notices.notify(NoticeLevel::Error, format!("Saving failed: {message}"), now);
            }
            NetEvent::SaveCancelled(request) => {
                self.busy.save = false;
                self.save_fallback = Some(request.clone());
            }
            _ => {}
        }
    }

    /// The user's place in line for `event_id`.
    #[must_use]
    pub fn place(&self, event_id: &str) -> Option<&WaitlistEntry> {
        self.waitlist.iter().find(|e| e.event_id == event_id)
    }

    /// Offers still open at `now`, oldest first.
    pub fn open_offers(&self, now: DateTime<Utc>) -> impl Iterator<Item = &Offer> {
        self.offers.iter().filter(move |o| o.expires_at > now)
    }
}

/// The offer's event name, or its id when the server sent none.
#[must_use]
pub fn offer_name(offer: &Offer) -> String {
    if offer.event_name.is_empty() {
        format!("event {}", offer.event_id)
    } else {
        offer.event_name.clone()
    }
}

/// "1 seat for Jazz Night is held for you" or "3 seats are held for you"
/// (without `event`).
#[must_use]
pub fn held_for_you(quantity: u32, event: Option<&str>) -> String {
    let event = event.map_or_else(String::new, |name| format!(" for {name}"));
    if quantity == 1 {
        format!("1 seat{event} is held for you")
    } else {
        format!("{quantity} seats{event} are held for you")
    }
}

/// "9:41" (minutes:seconds) until `expires_at`, or "0:00" once past.
#[must_use]
pub fn countdown(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let left = (expires_at - now).num_seconds().max(0);
    format!("{}:{:02}", left / 60, left % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn offer(id: &str, expires_at: DateTime<Utc>) -> Offer {
        Offer {
            offer_id: id.into(),
            event_id: "1".into(),
            event_name: "Jazz Night".into(),
            quantity: 2,
            expires_at,
        }
    }

    #[test]
    fn an_offer_replaces_the_place_in_line_and_goes_when_answered() {
        let now = Instant::now();
        let t0 = Utc
            .with_ymd_and_hms(2027, 1, 1, 20, 0, 0)
            .single()
            .expect("t");
        let mut state = TicketingState::default();
        let mut notices = Notices::default();
        let join = NetCommand::JoinWaitlist {
            event_id: "1".into(),
            quantity: 2,
        };
        assert!(state.begin(&join));
        assert!(!state.begin(&join), "no double join");
        state.apply(
            &NetEvent::WaitlistJoined {
                event_id: "1".into(),
                quantity: 2,
                position: 3,
            },
            &mut notices,
            now,
        );
        assert_eq!(state.place("1").map(|e| e.position), Some(3));
        assert_eq!(notices.list[0].text, "You are number 3 in line for 2 seats");
        let expires = t0 + chrono::Duration::minutes(10);
        state.apply(&NetEvent::Offer(offer("o1", expires)), &mut notices, now);
        assert!(state.place("1").is_none(), "the place became the offer");
        assert_eq!(state.open_offers(t0).count(), 1);
        assert_eq!(
            state.open_offers(expires).count(),
            0,
            "a lapsed offer is hidden"
        );
        assert_eq!(
            countdown(expires, t0 + chrono::Duration::seconds(21)),
            "9:39"
        );
        assert_eq!(
            countdown(expires, expires + chrono::Duration::seconds(5)),
            "0:00"
        );
        let accept = NetCommand::AcceptOffer {
            offer_id: "o1".into(),
        };
        assert!(state.begin(&accept));
        assert!(!state.begin(&NetCommand::DeclineOffer {
            offer_id: "o1".into()
        }));
        state.apply(
            &NetEvent::OfferFailed {
                offer_id: "o1".into(),
                message: "this offer has lapsed".into(),
            },
            &mut notices,
            now,
        );
        assert!(state.offers.is_empty() && state.busy.offers.is_empty());
    }

    #[test]
    fn no_image_chosen_is_a_hint_not_a_refusal() {
        let now = Instant::now();
        let mut state = TicketingState::default();
        let mut notices = Notices::default();
        state.check_in = Some((
            CheckInOutcome::Refused(CheckInRefusal::NotValid("cancelled".into())),
            now,
        ));
        assert!(state.begin(&NetCommand::CheckInImage));
        state.apply(&NetEvent::CheckInImageNotChosen, &mut notices, now);
        assert!(!state.busy.check_in, "the door can try again");
        assert!(
            matches!(
                state.check_in,
                Some((CheckInOutcome::Refused(CheckInRefusal::NotValid(_)), _))
            ),
            "the last answer stays"
        );
        assert_eq!(notices.list.len(), 1);
        assert_eq!(notices.list[0].level, NoticeLevel::Info);
        assert!(notices.list[0].text.contains("drop the image"));
    }

    #[test]
    fn a_check_in_updates_the_loaded_attendees_row() {
        let now = Instant::now();
        let mut state = TicketingState::default();
        let mut notices = Notices::default();
        state.attendees.insert(
            "1".into(),
            vec![Attendee {
                ticket_id: "7".into(),
                holder: "giulia".into(),
                quantity: 2,
                checked_in_at: None,
            }],
        );
        let at = Utc
            .with_ymd_and_hms(2027, 1, 1, 19, 30, 0)
            .single()
            .expect("t");
        let event = coliseum_protocol::Event {
            id: "1".into(),
            name: "Jazz Night".into(),
            date: at.date_naive(),
            location: "Blue Room".into(),
            capacity: 10,
            available: 8,
            max_per_user: 4,
            description: String::new(),
            starts_at: at.fixed_offset(),
            status: coliseum_protocol::EventStatus::OnSale,
            room: String::new(),
            waitlist: 0,
            held: 0,
        };
        let ticket = coliseum_protocol::Ticket {
            id: "7".into(),
            event_id: "1".into(),
            event_name: "Jazz Night".into(),
            quantity: 2,
            booked_at: at,
            code: "C1.x".into(),
            checked_in_at: Some(at),
        };
        assert!(state.begin(&NetCommand::CheckIn {
            code: "C1.x".into()
        }));
        assert!(
            !state.begin(&NetCommand::CheckInImage),
            "one check-in at a time"
        );
        state.apply(
            &NetEvent::CheckedIn(CheckInData {
                ticket,
                event,
                holder: "giulia".into(),
                checked_in_at: at,
            }),
            &mut notices,
            now,
        );
        assert_eq!(state.attendees["1"][0].checked_in_at, Some(at));
        assert!(matches!(
            state.check_in,
            Some((CheckInOutcome::Admitted(_), _))
        ));
        assert!(!state.busy.check_in);
    }
}
