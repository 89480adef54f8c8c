//! One task per request, so that a slow request never holds up the next
//! command. Each reads the live client from the [`Link`] and reports its
//! outcome to the UI through the [`Sink`].

use std::sync::Arc;

use coliseum_client::{Client, ClientError};
use coliseum_protocol::request::{Op, UpdateAccount};
use coliseum_protocol::validate::HISTORY_LIMIT_MAX;
use coliseum_protocol::{ChatMessage, DEFAULT_ROOM, ErrorCode, Event};

use super::api::{FormError, NetEvent};
use super::link::{Gap, Link, Sink};
use crate::transfer::NewEvent;

/// Messages fetched on login (and the page size of "load older").
const HISTORY_PAGE: u32 = 50;
/// Most pages fetched to fill a chat gap after a reconnect (200 messages
/// each); older missing messages stay reachable through "load older".
const GAP_PAGES: usize = 10;

/// True when the request failed because the connection went away, so the
/// same request may be retried on the next connection.
pub fn connection_lost(error: &ClientError) -> bool {
    matches!(error, ClientError::Io(_) | ClientError::Closed)
}

/// A fresh random booking key (128 bits, hex).
pub fn request_key() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Reads everything a logged-in view shows: events, tickets, waiting-list
/// places and open offers, the rooms, who is online, and the chat of each
/// room in `gaps` (its newest page, or everything after its known `seq`).
/// After a login, a reconnect and a `resync` push alike.
pub async fn refill(link: &Arc<Link>, sink: &Sink, client: &Client, gaps: Vec<Gap>) {
    tokio::join!(
        refresh_views(link, sink, client),
        fill_gaps(link, sink, client, gaps)
    );
}

/// Events, tickets, waiting-list places and open offers, the rooms and who
/// is online, read again.
async fn refresh_views(link: &Arc<Link>, sink: &Sink, client: &Client) {
    let (events, tickets, online, rooms, waitlist) = tokio::join!(
        client.list_events(),
        client.my_tickets(),
        client.online(),
        client.rooms(),
        client.my_waitlist(),
    );
    match waitlist {
        Ok(waitlist) => sink.emit(NetEvent::Waitlist(waitlist)),
        Err(error) => tracing::debug!(%error, "no waiting lists (an older server?)"),
    }
    if let Ok(rooms) = rooms {
        sink.emit(NetEvent::Rooms(rooms));
    }
    deliver_events(link, sink, events);
    match tickets {
        Ok(tickets) => sink.emit(NetEvent::Tickets(tickets)),
        Err(error) => sink.emit(NetEvent::Error(format!("could not load tickets: {error}"))),
    }
    if let Ok(online) = online {
        sink.emit(NetEvent::Online(online));
    }
}

/// What an anonymous connection may read: the events and who is online.
pub async fn refresh_anonymous(link: &Arc<Link>, sink: &Sink, client: &Client) {
    let (events, online) = tokio::join!(client.list_events(), client.online());
    deliver_events(link, sink, events);
    if let Ok(online) = online {
        sink.emit(NetEvent::Online(online));
    }
}

/// Fills each room's chat gap (see [`chat_catch_up`]) and hands the
/// messages to the UI, which merges them by `seq`: a message it already has
/// is not shown twice. A room where nothing was missed sends nothing (an
/// empty page would tell the log that nothing older exists).
async fn fill_gaps(link: &Arc<Link>, sink: &Sink, client: &Client, gaps: Vec<Gap>) {
    for (room, known) in gaps {
        match chat_catch_up(client, &room, known).await {
            Ok((messages, more)) => {
                if let Some(last) = messages.last() {
                    link.note_seq(&room, last.seq);
                }
                if known.is_some() && messages.is_empty() {
                    continue;
                }
                sink.emit(NetEvent::ChatHistory {
                    room,
                    messages,
                    more,
                });
            }
            Err(error) if room == DEFAULT_ROOM => {
                sink.emit(NetEvent::Error(format!("could not load the chat: {error}")));
            }
            // A room left or closed meanwhile; the room list says so.
            Err(error) => tracing::debug!(%error, %room, "chat gap not filled"),
        }
    }
}

/// After a `resync` push (issue 15: pushes from other server instances
/// were missed): everything [`refill`] reads, with the chat gaps of the
/// rooms in `gaps`; only events and who is online when not logged in.
pub async fn resync(link: Arc<Link>, sink: Sink, gaps: Vec<Gap>) {
    // Disconnected meanwhile: the reconnect refills everything anyway.
    let Ok(client) = link.client() else { return };
    if link.lock().token.is_some() {
        refill(&link, &sink, &client, gaps).await;
    } else {
        refresh_anonymous(&link, &sink, &client).await;
    }
}

/// The newest page of `room` when nothing is known yet; otherwise every
/// message after `known_seq`, paging backwards (at most [`GAP_PAGES`] pages).
/// Returns the messages oldest first and whether older ones exist.
pub async fn chat_catch_up(
    client: &Client,
    room: &str,
    known_seq: Option<u64>,
) -> Result<(Vec<ChatMessage>, bool), ClientError> {
    let Some(known) = known_seq else {
        let page = client
            .chat_history(Some(room), None, Some(HISTORY_PAGE))
            .await?;
        let more = page.first().is_some_and(|m| m.seq > 1);
        return Ok((page, more));
    };
    let mut collected = Vec::new();
    let mut before = None;
    for _ in 0..GAP_PAGES {
        let mut page = client
            .chat_history(Some(room), before, Some(HISTORY_LIMIT_MAX))
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

/// Hands an event list (or why it could not be read) to the UI and
/// remembers its ids.
pub fn deliver_events(link: &Arc<Link>, sink: &Sink, events: Result<Vec<Event>, ClientError>) {
    match events {
        Ok(events) => {
            link.lock().known_events = events.iter().map(|e| e.id.clone()).collect();
            sink.emit(NetEvent::Events(events));
        }
        Err(error) => sink.emit(NetEvent::Error(format!("could not load events: {error}"))),
    }
}

/// `register`, then a login with the same credentials.
pub async fn register(
    link: Arc<Link>,
    sink: Sink,
    username: String,
    password: String,
    email: String,
) {
    let result = async { link.client()?.register(&username, &password, &email).await }.await;
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

/// `login`; on success the token is kept for `resume` and the views are filled.
pub async fn login(link: Arc<Link>, sink: Sink, username: String, password: String) {
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
            refill(&link, &sink, &client, vec![(DEFAULT_ROOM.to_owned(), None)]).await;
        }
        Err(error) => sink.emit(NetEvent::LoginFailed(FormError::from(&error))),
    }
}

/// `logout`; the session ends locally whatever the server answers.
pub async fn logout(link: Arc<Link>, sink: Sink) {
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

/// Re-reads the event list.
pub async fn refresh_events(link: Arc<Link>, sink: Sink) {
    let events = async { link.client()?.list_events().await }.await;
    deliver_events(&link, &sink, events);
}

/// Re-reads "My tickets".
pub async fn refresh_tickets(link: Arc<Link>, sink: Sink) {
    let tickets = async { link.client()?.my_tickets().await }.await;
    match tickets {
        Ok(tickets) => sink.emit(NetEvent::Tickets(tickets)),
        Err(error) => sink.emit(NetEvent::Error(format!("could not load tickets: {error}"))),
    }
}

/// `create_event` from the admin form.
pub async fn create_event(link: Arc<Link>, sink: Sink, event: NewEvent) {
    let result = match link.client() {
        Ok(client) => send_create_event(&client, &event).await,
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

/// Sends `create_event` for `event`.
///
/// # Errors
/// As [`Client::create_event`]: `forbidden`, `bad_request`, a lost connection.
pub async fn send_create_event(client: &Client, event: &NewEvent) -> Result<Event, ClientError> {
    client
        .create_event_with(coliseum_protocol::request::CreateEvent {
            name: event.name.clone(),
            date: event.date.format("%Y-%m-%d").to_string(),
            starts_at: event.starts_at.map(|at| at.to_rfc3339()),
            location: event.location.clone(),
            description: (!event.description.is_empty()).then(|| event.description.clone()),
            capacity: event.capacity,
            max_per_user: Some(event.max_per_user),
        })
        .await
}

/// Sends the booking stored under `key` unless a request for it is already on
/// the wire. A lost connection keeps it pending (the supervisor retries it
/// with the same key after `resume`); an `unavailable` answer ("outcome
/// unknown") is retried with the same key up to [`UNAVAILABLE_RETRIES`]
/// times, 0.5–4 s apart; any other answer settles it.
pub async fn attempt_book(link: Arc<Link>, sink: Sink, key: String) {
    let mut unavailable = 0_u32;
    loop {
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
        // `unavailable` on a write means "outcome unknown" (docs/storage.md):
        // the booking may have been made. Retrying with the same key is
        // safe: the server answers with the first ticket if there is one.
        let outcome_unknown = matches!(&result, Err(e) if e.code() == Some(ErrorCode::Unavailable));
        if outcome_unknown && unavailable < UNAVAILABLE_RETRIES {
            let still_pending = match link.lock().books.get_mut(&key) {
                Some(book) => {
                    book.in_flight = false;
                    true
                }
                None => false,
            };
            if !still_pending {
                return;
            }
            unavailable += 1;
            sink.emit(NetEvent::BookRetrying {
                event_id: event_id.clone(),
            });
            tokio::time::sleep(unavailable_backoff(unavailable)).await;
            continue;
        }
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
                    let message = if error.code() == Some(ErrorCode::Unavailable) {
                        "the server could not confirm this booking (its database is \
                     unavailable); check My tickets before booking again"
                            .to_owned()
                    } else {
                        error.to_string()
                    };
                    sink.emit(NetEvent::BookFailed { event_id, message });
                }
            }
        }
        return;
    }
}

/// How often a booking answered `unavailable` is retried with its key.
const UNAVAILABLE_RETRIES: u32 = 4;

/// The wait before the `attempt`-th retry of a booking answered
/// `unavailable`: 0.5 s, doubling (0.5, 1, 2, 4 s).
fn unavailable_backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(250) * 2_u32.saturating_pow(attempt.min(8))
}

/// `chat_send` to `room`; a failure hands the text back.
pub async fn chat_send(link: Arc<Link>, sink: Sink, room: String, text: String) {
    let result = async { link.client()?.chat_send(Some(&room), &text).await }.await;
    match result {
        Ok(_) => sink.emit(NetEvent::ChatSent),
        Err(error) => sink.emit(NetEvent::ChatSendFailed {
            text,
            message: error.to_string(),
        }),
    }
}

/// The fields of an `update_account` request.
#[derive(Debug, Clone)]
pub struct AccountChange {
    /// The current password.
    pub current_password: String,
    /// New username, if changing it.
    pub new_username: Option<String>,
    /// New e-mail, if changing it.
    pub new_email: Option<String>,
    /// New password, if changing it.
    pub new_password: Option<String>,
}

/// The `update_account` answer as this app reads it: the account's name and
/// e-mail, and a fresh session token when the server rotated it (servers
/// that do so after a password change send it as `token`).
#[derive(Debug, serde::Deserialize)]
struct AccountAnswer {
    username: String,
    email: String,
    #[serde(default)]
    token: Option<String>,
}

/// `update_account`; a rotated token replaces the one kept for `resume`.
pub async fn update_account(link: Arc<Link>, sink: Sink, change: AccountChange) {
    let password_changed = change.new_password.is_some();
    let op = Op::UpdateAccount(UpdateAccount {
        current_password: change.current_password,
        new_username: change.new_username,
        new_password: change.new_password,
        new_email: change.new_email,
    });
    let result = async {
        link.client()?.request(op).await.and_then(|data| {
            serde_json::from_value::<AccountAnswer>(data).map_err(|e| {
                ClientError::Protocol(format!("unexpected update_account answer: {e}"))
            })
        })
    }
    .await;
    match result {
        Ok(answer) => {
            if let Some(token) = answer.token {
                link.lock().token = Some(token);
            }
            sink.emit(NetEvent::AccountUpdated {
                username: answer.username,
                email: answer.email,
                password_changed,
            });
        }
        Err(error) => sink.emit(NetEvent::AccountUpdateFailed(FormError::from(&error))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_answer_may_carry_a_rotated_token() {
        let plain: AccountAnswer =
            serde_json::from_str(r#"{"username":"carla","email":"c@example.com"}"#)
                .expect("answer without token");
        assert_eq!((plain.username.as_str(), plain.token), ("carla", None));
        let rotated: AccountAnswer =
            serde_json::from_str(r#"{"username":"carla","email":"c@example.com","token":"fresh"}"#)
                .expect("answer with token");
        assert_eq!(rotated.email, "c@example.com");
        assert_eq!(rotated.token.as_deref(), Some("fresh"));
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
