//! Keeps one server connected: connects, pumps pushes to the UI, keeps the
//! connection alive, and after a loss reconnects with back-off, resumes the
//! session, refills what may have been missed and retries unanswered
//! bookings.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use coliseum_client::{Client, ClientError, Pushes, TlsError};
use coliseum_protocol::{ErrorCode, Push};

use super::addresses::{Rotation, parse_servers};
use super::api::{ConnectionStatus, NetEvent, ServerChoice};
use super::connect::{Security, connect_target};
use super::link::{Gap, Link, Sink};
use super::requests::{attempt_book, refill, refresh_anonymous, refresh_events, resync};

/// First wait after a connection is lost.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between reconnect attempts (before jitter).
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Interval of the keepalive `online` request. Servers close connections
/// idle for 30 s before login and 5 min after (issue 5), so 20 s keeps both
/// alive; the answer also refreshes the online count.
const KEEPALIVE: Duration = Duration::from_secs(20);

/// Reconnect back-off: 0.5 s, 1 s, 2 s, 4 s, then 5 s, each scaled by
/// `jitter` (0.8–1.2, random in use) so that many clients losing one server
/// do not all come back in the same instant.
fn backoff(failures: u32, jitter: f64) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1u32 << failures.min(4))
        .min(MAX_BACKOFF);
    base.mul_f64(jitter.clamp(0.8, 1.2))
}

/// A random factor in 0.8..1.2 for [`backoff`].
fn jitter() -> f64 {
    rand::random_range(0.8..1.2)
}

/// Keeps one server connected: connects, pumps pushes, and after a loss
/// reconnects with back-off, resumes the session, refills what may have been
/// missed and retries unanswered bookings.
///
/// `addr` is an address list (issue 15): `host:port` entries separated by
/// commas, each name standing for every address it resolves to. The first
/// connection tries them in order until one answers; after a loss (or a
/// failed attempt) the next attempt goes to the next one, round robin,
/// with the usual back-off between attempts. Sessions live in the shared
/// store, so the session resumes on whichever instance answers.
pub async fn supervise(
    link: Arc<Link>,
    sink: Sink,
    addr: String,
    security: Security,
    pins: Option<PathBuf>,
) {
    let entries = match parse_servers(&addr) {
        Ok(entries) => entries,
        Err(error) => {
            sink.emit(NetEvent::Status(ConnectionStatus::Offline));
            sink.emit(NetEvent::ConnectFailed(error.to_string()));
            return;
        }
    };
    let mut rotation = Rotation::new(entries);
    let mut connected_once = false;
    let mut failures = 0;
    // Failures of the first connection, one per target, to report if all fail.
    let mut first_errors: Vec<String> = Vec::new();
    // Targets skipped during reconnects because their certificate is not pinned yet.
    let mut untrusted: HashSet<String> = HashSet::new();
    sink.emit(NetEvent::Status(ConnectionStatus::Connecting));
    loop {
        let (target, position, total) = match rotation.next().await {
            Ok(next) => next,
            Err(error) if !connected_once => {
                sink.emit(NetEvent::Status(ConnectionStatus::Offline));
                sink.emit(NetEvent::ConnectFailed(error));
                return;
            }
            Err(error) => {
                tracing::debug!(%error, "no address resolved");
                wait_before_retry(&link, &sink, &mut failures).await;
                continue;
            }
        };
        sink.emit(NetEvent::Trying(ServerChoice {
            addr: target.label(),
            position,
            total,
        }));
        match connect_target(&target, &security, pins.as_deref()).await {
            Ok((client, pushes)) => {
                failures = 0;
                first_errors.clear();
                link.lock().client = Some(client.clone());
                // Taken before the pump starts: no push has moved them yet.
                let gaps = link.gaps(None);
                sink.emit(NetEvent::Connected {
                    addr: target.label(),
                    welcome: client.welcome().clone(),
                });
                sink.emit(NetEvent::Status(ConnectionStatus::Connected));
                tokio::spawn(after_connect(
                    Arc::clone(&link),
                    sink.clone(),
                    client.clone(),
                    gaps,
                ));
                connected_once = true;
                tokio::select! {
                    () = pump(&link, &sink, pushes) => {}
                    () = keepalive(&sink, &client) => {}
                }
                link.lock().client = None;
            }
            // The user must decide; retrying cannot help. During a
            // reconnect the question cannot be asked without ending the
            // session: that address is skipped while others may answer.
            Err(ClientError::Tls(TlsError::UnknownHost { host, fingerprint }))
                if !connected_once || total == 1 =>
            {
                sink.emit(NetEvent::Status(ConnectionStatus::Offline));
                sink.emit(NetEvent::UnknownServer { host, fingerprint });
                return;
            }
            Err(ClientError::Tls(TlsError::UnknownHost { host, .. })) => {
                if untrusted.insert(host.clone()) {
                    tracing::warn!(%host, "skipped: its certificate is not trusted yet");
                    sink.emit(NetEvent::Error(format!(
                        "{host} was skipped: its certificate is not trusted yet \
                         (connect to it alone once to compare its fingerprint)"
                    )));
                }
            }
            Err(ClientError::Tls(TlsError::PinMismatch {
                host,
                expected,
                actual,
                ..
            })) => {
                sink.emit(NetEvent::Status(ConnectionStatus::Offline));
                sink.emit(NetEvent::ServerChanged {
                    host,
                    expected,
                    actual,
                });
                return;
            }
            Err(error) if !connected_once => {
                first_errors.push(if total == 1 && rotation.unresolved().is_empty() {
                    error.to_string()
                } else {
                    format!("{}: {error}", target.label())
                });
                // Every address failed once: nothing answers.
                if position == total {
                    // Names that resolved to nothing are failures too.
                    first_errors.extend_from_slice(rotation.unresolved());
                    sink.emit(NetEvent::Status(ConnectionStatus::Offline));
                    sink.emit(NetEvent::ConnectFailed(if first_errors.len() == 1 {
                        first_errors.concat()
                    } else {
                        format!("no server address answered: {}", first_errors.join("; "))
                    }));
                    return;
                }
                // The next address, at once.
                continue;
            }
            Err(error) => tracing::debug!(%error, target = %target.label(), "reconnect failed"),
        }
        // Say where the next attempt goes before the countdown starts.
        if let Some((addr, position, total)) = rotation.peek().filter(|(_, _, total)| *total > 1) {
            sink.emit(NetEvent::Trying(ServerChoice {
                addr,
                position,
                total,
            }));
        }
        wait_before_retry(&link, &sink, &mut failures).await;
    }
}

/// Waits the back-off for the `failures` so far (counting this one), or
/// until "Reconnect now".
async fn wait_before_retry(link: &Link, sink: &Sink, failures: &mut u32) {
    let delay = backoff(*failures, jitter());
    *failures = failures.saturating_add(1);
    sink.emit(NetEvent::Status(ConnectionStatus::Reconnecting { delay }));
    // A "Reconnect now" given before this wait began is kept by the
    // Notify's permit, so it is not lost.
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = link.wake.notified() => {}
    }
    sink.emit(NetEvent::Status(ConnectionStatus::Connecting));
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

/// Most pushes forwarded before the UI is woken once.
const BATCH_MAX: usize = 256;

/// Forwards pushes to the UI until the connection closes. Pushes that
/// arrived together (already queued when the first is read) are forwarded
/// as one batch and wake the UI once, so a burst costs one frame.
async fn pump(link: &Arc<Link>, sink: &Sink, mut pushes: Pushes) {
    while let Some(push) = pushes.recv().await {
        forward(link, sink, push);
        for _ in 1..BATCH_MAX {
            let Ok(push) = pushes.try_recv() else { break };
            forward(link, sink, push);
        }
        sink.wake();
    }
}

/// Hands one push to the UI (without waking it).
fn forward(link: &Arc<Link>, sink: &Sink, push: Push) {
    match push {
        Push::Chat(message) => {
            link.note_seq(&message.room, message.seq);
            sink.send(NetEvent::Chat(message));
        }
        Push::ChatUpdate {
            room,
            seq,
            text,
            edited_at,
            deleted,
        } => sink.send(NetEvent::ChatUpdate {
            room,
            seq,
            text,
            edited_at,
            deleted,
        }),
        Push::Read { room, seq } => sink.send(NetEvent::Read { room, seq }),
        Push::Typing { room, user } => sink.send(NetEvent::Typing { room, user }),
        Push::RoomLeft { room, reason } => sink.send(NetEvent::RoomLeft {
            room,
            reason: Some(reason),
        }),
        // A large lobby: only the count is pushed; the names come with the
        // keepalive's `online` (every 20 s).
        Push::PresenceCount { count } => sink.send(NetEvent::OnlineCount(count)),
        Push::Presence {
            user,
            online,
            count,
        } => sink.send(NetEvent::Presence {
            user,
            online,
            count,
        }),
        Push::EventUpdate {
            event_id,
            available,
        } => {
            if link.lock().known_events.contains(&event_id) {
                sink.send(NetEvent::EventSeats {
                    event_id,
                    available,
                });
            } else {
                tokio::spawn(refresh_events(Arc::clone(link), sink.clone()));
            }
        }
        Push::Shutdown { reason } => sink.send(NetEvent::ServerNotice(reason)),
        Push::EventChanged { event } => {
            link.lock().known_events.insert(event.id.clone());
            sink.send(NetEvent::EventChanged(event));
        }
        Push::TicketCancelled {
            ticket_id,
            event_id,
            reason,
        } => sink.send(NetEvent::TicketCancelled {
            ticket_id,
            event_id,
            reason,
        }),
        Push::Offer(offer) => sink.send(NetEvent::Offer(offer)),
        // The server ended the session on this live connection: back to
        // the login form, as when a resume fails.
        // The token no longer resumes; requests in flight get their own
        // (`unauthenticated`) answers.
        Push::SessionExpired { reason } => {
            link.lock().token = None;
            sink.send(NetEvent::SessionExpired(reason));
        }
        // Pushes from other server instances were missed (issue 15): as
        // after a reconnect, fill the gaps of the listed rooms this app
        // shows (known from here on, before later pushes move them) and
        // read the rest again.
        Push::Resync { rooms } => {
            let gaps = link.gaps(Some(&rooms));
            tokio::spawn(resync(Arc::clone(link), sink.clone(), gaps));
        }
        Push::Welcome { .. } | Push::ServerFull { .. } => {}
    }
}

/// After every successful connect: resume the session when there is one
/// (then refill, filling the chat `gaps` taken at connect time), otherwise
/// show what an anonymous connection may read.
async fn after_connect(link: Arc<Link>, sink: Sink, client: Client, gaps: Vec<Gap>) {
    let token = link.lock().token.clone();
    let Some(token) = token else {
        refresh_anonymous(&link, &sink, &client).await;
        return;
    };
    match client.resume(&token).await {
        Ok(session) => {
            sink.emit(NetEvent::LoggedIn {
                session,
                resumed: true,
            });
            refill(&link, &sink, &client, gaps).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_seconds_with_jitter() {
        let delays: Vec<u128> = (0..7).map(|n| backoff(n, 1.0).as_millis()).collect();
        assert_eq!(delays, [500, 1_000, 2_000, 4_000, 5_000, 5_000, 5_000]);
        assert_eq!(backoff(u32::MAX, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(10, 1.2), Duration::from_secs(6));
        assert_eq!(
            backoff(0, 0.5),
            Duration::from_millis(400),
            "jitter is clamped"
        );
        for _ in 0..100 {
            let j = jitter();
            assert!((0.8..1.2).contains(&j));
        }
    }
}
