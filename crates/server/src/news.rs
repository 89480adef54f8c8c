//! System messages: what the server itself says in rooms (rooms issue).
//!
//! A system message is stored like any chat message, with no sender and
//! `system: true`, and pushed as `chat` to the room's members. The server
//! writes one into an event's room *and* `lobby` when the event is
//! created, when a booking leaves 10 % or fewer of its seats (once, on the
//! crossing), when it sells out, and when seats come back after a sell-out;
//! and into a room for each moderation action (`crate::handlers`).
//!
//! Seat news never delays the booking that caused it: the crossing is
//! decided from the booking's own result (each booking's `available` is
//! the exact state right after it, so exactly one booking sees a
//! crossing), and the messages are written by a spawned task. The event's
//! capacity and name are cached after the first look-up and refreshed
//! when an admin changes the event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use coliseum_protocol::validate::event_room;
use coliseum_protocol::{ChatMessage, DEFAULT_ROOM, Event, Push};
use coliseum_store::{NewMessage, Store, StoreError};

use crate::hub::Hub;

/// What the server says about an event's seats, decided from one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SeatNews {
    /// A booking left 10 % or fewer of the seats (and some remain).
    Low(u32),
    /// A booking took the last seats.
    SoldOut,
    /// A cancellation brought seats back after a sell-out.
    Back(u32),
}

/// Which news, if any, a change of `before` → `after` available seats of an
/// event with `capacity` seats makes.
#[must_use]
pub(crate) fn seat_news(capacity: u32, before: u32, after: u32) -> Option<SeatNews> {
    let low = |seats: u32| u64::from(seats) * 10 <= u64::from(capacity);
    if after == 0 && before > 0 {
        Some(SeatNews::SoldOut)
    } else if before == 0 && after > 0 {
        Some(SeatNews::Back(after))
    } else if after > 0 && after < before && low(after) && !low(before) {
        Some(SeatNews::Low(after))
    } else {
        None
    }
}

/// See the module docs.
pub(crate) struct News {
    /// Where system messages are stored.
    store: Arc<dyn Store>,
    /// Who gets them.
    hub: Arc<Hub>,
    /// Event id → (capacity, name).
    events: Mutex<HashMap<String, (u32, String)>>,
}

impl News {
    /// News written to `store` and pushed through `hub`.
    pub(crate) fn new(store: Arc<dyn Store>, hub: Arc<Hub>) -> Self {
        Self {
            store,
            hub,
            events: Mutex::new(HashMap::new()),
        }
    }

    /// Stores a system message in `room` and pushes it to the room's
    /// members. A store failure is logged and `None` returned: the change
    /// the message reports has happened regardless.
    pub(crate) async fn post(&self, room: &str, text: String) -> Option<ChatMessage> {
        post(&*self.store, &self.hub, room, text).await
    }

    /// A new event: announced in its room and in `lobby`.
    pub(crate) async fn event_created(&self, event: &Event) {
        self.remember(event);
        let text = format!(
            "New event: {} on {} at {}. {} {} on sale.",
            event.name,
            event.date,
            event.location,
            event.capacity,
            if event.capacity == 1 { "seat" } else { "seats" }
        );
        self.post(&event_room(&event.id), text.clone()).await;
        self.post(DEFAULT_ROOM, text).await;
    }

    /// Seats of `event_id` went from `before` to `after` (a booking or a
    /// cancellation): writes the news it makes, if any, from a spawned task.
    pub(crate) fn seats_changed(self: &Arc<Self>, event_id: &str, before: u32, after: u32) {
        let known = self.lookup(event_id);
        // Only a change that can cross a threshold needs the capacity.
        if let Some((capacity, _)) = &known
            && seat_news(*capacity, before, after).is_none()
        {
            return;
        }
        let (news, event_id) = (Arc::clone(self), event_id.to_owned());
        tokio::spawn(async move {
            let (capacity, name) = match known {
                Some(known) => known,
                None => match news.store.event(&event_id).await {
                    Ok(Some(event)) => {
                        news.remember(&event);
                        (event.capacity, event.name)
                    }
                    Ok(None) => return,
                    Err(err) => {
                        tracing::warn!(%err, event_id, "seat news skipped: event look-up failed");
                        return;
                    }
                },
            };
            let text = match seat_news(capacity, before, after) {
                None => return,
                Some(SeatNews::Low(left)) => {
                    let seats = if left == 1 { "seat" } else { "seats" };
                    format!("{name}: only {left} {seats} left.")
                }
                Some(SeatNews::SoldOut) => format!("{name} is sold out."),
                Some(SeatNews::Back(left)) => {
                    format!("{name}: seats are available again ({left} left).")
                }
            };
            news.post(&event_room(&event_id), text.clone()).await;
            news.post(DEFAULT_ROOM, text).await;
        });
    }

    /// An admin changed the event (`update_event`): `changes` lists what,
    /// for people ("starts 2027-06-12 21:00 +02:00; capacity 200"). Said in
    /// the event's room, whose members include every ticket holder.
    pub(crate) async fn event_changed(&self, event: &Event, changes: &str) {
        self.remember(event);
        let text = format!("{} was changed: {changes}.", event.name);
        self.post(&event_room(&event.id), text).await;
    }

    /// An admin cancelled the event: said in its room and in `lobby`.
    pub(crate) async fn event_cancelled(&self, event: &Event, reason: &str, refunded: usize) {
        self.remember(event);
        let tickets = if refunded == 1 { "ticket" } else { "tickets" };
        let text = format!(
            "{} on {} is cancelled: {reason}. All {refunded} {tickets} were refunded.",
            event.name, event.date
        );
        self.post(&event_room(&event.id), text.clone()).await;
        self.post(DEFAULT_ROOM, text).await;
    }

    fn lookup(&self, event_id: &str) -> Option<(u32, String)> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(event_id)
            .cloned()
    }

    fn remember(&self, event: &Event) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(event.id.clone(), (event.capacity, event.name.clone()));
    }
}

/// Stores a message (`from: None`: a system message) with the room's next
/// `seq` and pushes it as `chat` to the room's members. The one way a
/// message enters a room, for members' messages and the server's alike.
///
/// # Errors
/// The store's, when the message could not be stored (nothing is pushed).
pub(crate) async fn store_and_push(
    store: &dyn Store,
    hub: &Hub,
    room: &str,
    from: Option<String>,
    text: String,
) -> Result<ChatMessage, StoreError> {
    let message = store
        .append_message(NewMessage {
            room: room.to_owned(),
            from,
            text,
            sent_at: coliseum_store::now(),
        })
        .await?;
    hub.publish_room(room, &Push::Chat(message.clone()));
    Ok(message)
}

/// [`store_and_push`] for several members' messages at once, in order
/// (pipelined `chat_send`s of one connection): stored with
/// [`Store::append_messages`], so that the embedded store commits them
/// together, then each stored one is pushed to its room, in order. One
/// result per message; a message that could not be stored is not pushed.
pub(crate) async fn store_and_push_many(
    store: &dyn Store,
    hub: &Hub,
    messages: Vec<NewMessage>,
) -> Vec<Result<ChatMessage, StoreError>> {
    let results = store.append_messages(messages).await;
    // Runs of stored messages to one room go out together (one lock per
    // recipient per run); runs are published in store order.
    let mut run: Vec<Push> = Vec::new();
    let mut room = "";
    for message in results.iter().flatten() {
        if !run.is_empty() && room != message.room {
            hub.publish_room_all(room, &run);
            run.clear();
        }
        room = &message.room;
        run.push(Push::Chat(message.clone()));
    }
    if !run.is_empty() {
        hub.publish_room_all(room, &run);
    }
    results
}

/// Stores a system message in `room` and pushes it (see [`News::post`]).
async fn post(store: &dyn Store, hub: &Hub, room: &str, text: String) -> Option<ChatMessage> {
    store_and_push(store, hub, room, None, text)
        .await
        .inspect_err(|err| tracing::warn!(%err, room, "could not write a system message"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_news_is_made_once_on_each_crossing() {
        // 100 seats: 10 % is 10 seats.
        assert_eq!(seat_news(100, 12, 11), None);
        assert_eq!(seat_news(100, 11, 10), Some(SeatNews::Low(10)));
        assert_eq!(seat_news(100, 10, 9), None, "already announced");
        assert_eq!(seat_news(100, 15, 3), Some(SeatNews::Low(3)));
        assert_eq!(seat_news(100, 3, 0), Some(SeatNews::SoldOut));
        assert_eq!(seat_news(100, 50, 0), Some(SeatNews::SoldOut));
        assert_eq!(seat_news(100, 0, 2), Some(SeatNews::Back(2)));
        assert_eq!(seat_news(100, 2, 4), None, "more seats back: no news");
        assert_eq!(seat_news(100, 9, 12), None);
        // Tiny events: one seat of three is not 10 %.
        assert_eq!(seat_news(3, 2, 1), None);
        assert_eq!(seat_news(10, 2, 1), Some(SeatNews::Low(1)));
    }
}
