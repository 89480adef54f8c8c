//! What the supervisor and the request tasks share: the [`Link`] (the
//! current [`Client`], none while disconnected, the session token, the newest
//! chat `seq` seen per room, the ids of known events and the bookings not yet
//! answered) and the [`Sink`] that carries events to the UI.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError, mpsc};
use std::time::Duration;

use coliseum_client::{Client, ClientError};
use coliseum_protocol::DEFAULT_ROOM;
use tokio::sync::Notify;

use super::api::NetEvent;

/// How long after an event arrives the UI draws it: short enough to be
/// instant for people, long enough to draw events arriving in quick
/// succession (a burst read in several pieces) in one frame.
pub const WAKE_DELAY: Duration = Duration::from_millis(5);

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
        self.send(event);
        self.wake();
    }

    /// Queues `event` without waking the UI; a [`Sink::wake`] must follow
    /// (used to deliver a batch of pushes with one repaint).
    pub fn send(&self, event: NetEvent) {
        let _ = self.tx.send(event);
    }

    /// Asks the UI to draw one frame, [`WAKE_DELAY`] from now (egui merges
    /// the requests made before it runs).
    ///
    /// Not `request_repaint()`: egui answers each zero-delay request with
    /// *two* frames ("to give some things time to settle"), which doubled
    /// the cost of every chat message (measured: 2.0 frames per message at
    /// 10 messages/s); a request with a delay gets exactly one.
    pub fn wake(&self) {
        self.ctx.request_repaint_after(WAKE_DELAY);
    }
}

/// A room whose chat gap is to be filled, with the newest `seq` known of
/// it (`None`: nothing known, fetch its newest page).
pub type Gap = (String, Option<u64>);

/// A booking sent but not yet answered.
#[derive(Debug, Clone)]
pub struct PendingBook {
    /// The event booked.
    pub event_id: String,
    /// Seats asked for.
    pub quantity: u32,
    /// A request with this key is on the wire right now; do not send another.
    pub in_flight: bool,
}

/// The fields behind [`Link`]'s mutex.
#[derive(Default)]
pub struct Shared {
    /// The live connection, `None` while disconnected.
    pub client: Option<Client>,
    /// Session token of the logged-in user, for `resume` after a reconnect.
    pub token: Option<String>,
    /// Newest `seq` received per room (the lobby's from the first page on,
    /// another room's once it was opened or a message of it arrived), to
    /// fill the gaps after a reconnect or a `resync` push.
    pub seen: HashMap<String, u64>,
    /// Ids from the last `list_events`; an `event_update` for another id
    /// means a new event, so the list is read again.
    pub known_events: HashSet<String>,
    /// Unanswered bookings by request key.
    pub books: HashMap<String, PendingBook>,
}

/// The link to the current server, shared by the supervisor and the request
/// tasks: plain data behind a mutex that is never held across an `.await`.
#[derive(Default)]
pub struct Link {
    state: Mutex<Shared>,
    /// Wakes the supervisor from its wait between reconnect attempts
    /// ("Reconnect now").
    pub wake: Notify,
}

impl Link {
    /// Locks the shared fields.
    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panicking task cannot leave the plain data here inconsistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The live connection, or [`ClientError::Closed`] while disconnected.
    pub fn client(&self) -> Result<Client, ClientError> {
        self.lock().client.clone().ok_or(ClientError::Closed)
    }

    /// Remembers `seq` as seen in `room` when it is the newest.
    pub fn note_seq(&self, room: &str, seq: u64) {
        let mut state = self.lock();
        match state.seen.get_mut(room) {
            Some(newest) => *newest = (*newest).max(seq),
            None => {
                state.seen.insert(room.to_owned(), seq);
            }
        }
    }

    /// The chat gaps to fill: with `listed` (a `resync` push's rooms), the
    /// lobby when listed and each listed room already seen; without (a
    /// reconnect), the lobby and every room seen. Each with the newest
    /// `seq` seen there, taken now: pushes arriving later do not move it.
    pub fn gaps(&self, listed: Option<&[String]>) -> Vec<Gap> {
        let state = self.lock();
        let lobby = (
            DEFAULT_ROOM.to_owned(),
            state.seen.get(DEFAULT_ROOM).copied(),
        );
        let Some(listed) = listed else {
            let others = state
                .seen
                .iter()
                .filter(|(room, _)| room.as_str() != DEFAULT_ROOM)
                .map(|(room, &seq)| (room.clone(), Some(seq)));
            return std::iter::once(lobby).chain(others).collect();
        };
        let mut gaps: Vec<Gap> = Vec::new();
        for room in listed {
            if gaps.iter().any(|(r, _)| r == room) {
                continue;
            }
            if room == DEFAULT_ROOM {
                gaps.push(lobby.clone());
            } else if let Some(&seq) = state.seen.get(room) {
                gaps.push((room.clone(), Some(seq)));
            }
        }
        gaps
    }

    /// Forgets the session: token, chat position and pending bookings (which
    /// are returned so that the UI can be told they failed).
    pub fn end_session(&self) -> Vec<PendingBook> {
        let mut state = self.lock();
        state.token = None;
        state.seen.clear();
        state.books.drain().map(|(_, book)| book).collect()
    }

    /// Drops the connection and everything tied to the server; returns the
    /// bookings that were still waiting for an answer.
    pub fn clear(&self) -> Vec<PendingBook> {
        let mut state = self.lock();
        state.client = None;
        state.known_events.clear();
        state.token = None;
        state.seen.clear();
        state.books.drain().map(|(_, book)| book).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_cover_the_rooms_seen_with_their_newest_seq() {
        let link = Link::default();
        assert_eq!(
            link.gaps(None),
            [(DEFAULT_ROOM.to_owned(), None)],
            "nothing seen yet: the lobby's newest page"
        );
        link.note_seq(DEFAULT_ROOM, 7);
        link.note_seq(DEFAULT_ROOM, 5);
        link.note_seq("jazz", 3);
        let mut all = link.gaps(None);
        all.sort();
        assert_eq!(
            all,
            [
                ("jazz".to_owned(), Some(3)),
                (DEFAULT_ROOM.to_owned(), Some(7)),
            ]
        );
        // A resync lists rooms: only those this app shows, each once.
        let listed = ["jazz", "dm:a:b", "lobby", "jazz"].map(str::to_owned);
        assert_eq!(
            link.gaps(Some(&listed)),
            [
                ("jazz".to_owned(), Some(3)),
                (DEFAULT_ROOM.to_owned(), Some(7)),
            ]
        );
        link.end_session();
        assert_eq!(link.gaps(None), [(DEFAULT_ROOM.to_owned(), None)]);
    }
}
