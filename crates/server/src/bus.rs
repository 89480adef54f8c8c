//! The message bus between server instances (issue 15: several
//! `coliseum-server` processes on one MongoDB behind one address).
//!
//! The database stays the truth; the bus only carries what an instance
//! tells its own clients live. After each commit the instance that made
//! the change delivers the push to its own clients (the hub) and publishes
//! it once on NATS ([`BusMessage`], one subject per kind, see [`Kind`]);
//! every other instance delivers it to its own clients under the same
//! rules (room membership, direct rooms, coalescing of seat counts and
//! presence).
//!
//! - **Never blocks a request.** Handlers only put a message in a bounded
//!   queue ([`OUTBOUND_QUEUE`]); a publisher task sends it. A full queue
//!   drops the message and counts it ([`crate::ServerStats::bus_dropped`]).
//! - **Presence.** Each instance publishes the full list of its logged-in
//!   users every [`ClusterConfig::heartbeat`] (5 s) and ~100 ms after a
//!   local change; an instance not heard from for
//!   [`ClusterConfig::expiry`] (15 s) has its users dropped, so an instance
//!   killed without a goodbye leaves `online` within 15 s. A graceful stop
//!   says goodbye at once.
//! - **Rules.** Bans, revocations (logout, password change), mutes, slow
//!   mode, renames, room joins and leaves, and login failures cross too, so
//!   they take effect on every instance at once and the login back-off
//!   counts the failures of every instance (kept in memory on each).
//! - **Gaps.** While NATS is down each instance goes on serving its own
//!   clients; messages published meanwhile are dropped (counted). When the
//!   connection comes back, every logged-in client gets `resync {rooms}`
//!   and fills its gaps from `chat_history` by `seq`.
//!
//! The wire format on NATS is JSON ([`Envelope`]): small, and readable
//! with `nats sub 'coliseum.>'` when something goes wrong.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use coliseum_protocol::Push;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::context::Shared;
use crate::hub::Member;

/// Messages waiting to be published before new ones are dropped.
pub(crate) const OUTBOUND_QUEUE: usize = 8_192;

/// Most users in one presence message: a heartbeat of a large instance is
/// split in parts (~60 bytes a user: ~120 KB a part), far below NATS's
/// default 1 MiB payload limit however many users an instance holds.
pub(crate) const PRESENCE_PART: usize = 2_000;

/// After a local presence change, how long the instance waits for more
/// before it publishes its list (a login storm becomes one message).
const PRESENCE_SETTLE: Duration = Duration::from_millis(100);

/// How an instance joins the others (`coliseum-server --nats-url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// NATS server(s), e.g. `nats://127.0.0.1:4222`; several separated by
    /// commas (a NATS cluster).
    pub nats_url: String,
    /// This instance's name in logs and on the bus (`--instance-name`).
    /// Empty: the host name and the port actually bound
    /// ([`ClusterConfig::default_instance_name`]). Two instances may share
    /// a name: each also has a random id.
    pub instance_name: String,
    /// Subject prefix: every subject is `<prefix>.<kind>`, so several
    /// deployments can share one NATS.
    pub subject_prefix: String,
    /// How often the list of logged-in users is published.
    pub heartbeat: Duration,
    /// An instance not heard from for this long is taken as gone: its
    /// users go offline everywhere.
    pub expiry: Duration,
}

impl ClusterConfig {
    /// Joins the NATS at `nats_url` as `instance_name` (empty: named after
    /// the host and port), with the default
    /// prefix (`coliseum`), a 5 s heartbeat and a 15 s expiry.
    #[must_use]
    pub fn new(nats_url: impl Into<String>, instance_name: impl Into<String>) -> Self {
        Self {
            nats_url: nats_url.into(),
            instance_name: instance_name.into(),
            subject_prefix: "coliseum".to_owned(),
            heartbeat: Duration::from_secs(5),
            expiry: Duration::from_secs(15),
        }
    }

    /// The default instance name: this host's name and the listening port,
    /// e.g. `venue-db1:7878`.
    #[must_use]
    pub fn default_instance_name(port: u16) -> String {
        let host = gethostname::gethostname();
        format!("{}:{port}", host.to_string_lossy())
    }
}

/// A logged-in user, as presence on the bus carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PresentUser {
    /// The account id.
    pub id: String,
    /// The username.
    pub name: String,
}

impl From<&Member> for PresentUser {
    fn from(member: &Member) -> Self {
        Self {
            id: member.user_id.clone(),
            name: member.username.clone(),
        }
    }
}

/// What one instance tells the others. Each variant says what the
/// receiving instance does with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum BusMessage {
    /// Push to the clients of `room`'s members (`chat`, `chat_update`,
    /// `typing`).
    Room { room: String, push: Push },
    /// Push to every client of `user_id` (`room_left`, `read`, `offer`,
    /// `ticket_cancelled`, `session_expired`).
    User { user_id: String, push: Push },
    /// Push to every client (`event_update` of a new event,
    /// `event_changed`).
    All { push: Push },
    /// An event's seats changed: the receiver pushes its coalesced count,
    /// read from the database.
    Seats { event_id: String },
    /// `user_id` joined `room` (or a direct room was made for them).
    Joined { user_id: String, room: String },
    /// `user_id` left or was removed from `room`.
    Left { user_id: String, room: String },
    /// A mute changed (`until`: `None` when lifted).
    Mute {
        room: String,
        user_id: String,
        until: Option<DateTime<Utc>>,
    },
    /// A room's slow mode changed.
    SlowMode { room: String, seconds: u32 },
    /// Every session of `user_id` but `keep_token_hash` ended (password
    /// change, ban).
    RevokeUser {
        user_id: String,
        keep_token_hash: String,
    },
    /// One session token ended (`logout`).
    RevokeToken { token_hash: String },
    /// A user changed their username.
    Rename { user_id: String, username: String },
    /// A password check failed (login back-off).
    LoginFailed {
        address: IpAddr,
        account: Option<String>,
    },
    /// A login succeeded: the account's back-off ends.
    LoginSucceeded { account: String },
    /// Part `part` (from 0) of `parts` of the full list of the sender's
    /// logged-in users, heartbeat number `epoch` (at most
    /// [`PRESENCE_PART`] users per part). The receiver applies the list
    /// once it holds every part of one epoch.
    Presence {
        epoch: u64,
        part: u32,
        parts: u32,
        users: Vec<PresentUser>,
    },
    /// The sender is stopping: its users are gone.
    Goodbye,
}

/// The NATS subject kinds (`<prefix>.<kind>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Room chat: messages, edits, typing.
    Chat,
    /// Room membership.
    Rooms,
    /// Seat counts.
    Seats,
    /// Who is online.
    Presence,
    /// Mutes, slow mode, pushes to one user (kicks, bans, offers).
    Moderation,
    /// Event changes.
    Events,
    /// Session revocations, renames, login back-off.
    Sessions,
}

impl Kind {
    /// The subject's last part.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Rooms => "rooms",
            Self::Seats => "seats",
            Self::Presence => "presence",
            Self::Moderation => "moderation",
            Self::Events => "events",
            Self::Sessions => "sessions",
        }
    }
}

impl BusMessage {
    /// The subject kind this message is published under.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Self::Room { .. } => Kind::Chat,
            Self::Joined { .. } | Self::Left { .. } => Kind::Rooms,
            Self::Seats { .. } => Kind::Seats,
            Self::Presence { .. } | Self::Goodbye => Kind::Presence,
            Self::User { .. } | Self::Mute { .. } | Self::SlowMode { .. } => Kind::Moderation,
            Self::All { .. } => Kind::Events,
            Self::RevokeUser { .. }
            | Self::RevokeToken { .. }
            | Self::Rename { .. }
            | Self::LoginFailed { .. }
            | Self::LoginSucceeded { .. } => Kind::Sessions,
        }
    }
}

/// One message on NATS: who sent it, and what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    /// The sender's random instance id (a receiver ignores its own).
    pub from: String,
    /// The sender's name, for logs.
    pub name: String,
    /// The message.
    #[serde(flatten)]
    pub message: BusMessage,
}

/// The sending side, held by the hub: a bounded queue to the publisher.
#[derive(Debug)]
pub(crate) struct Outbound {
    queue: mpsc::Sender<BusMessage>,
    /// Messages put in the queue.
    pub queued: AtomicU64,
    /// Messages dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Messages received from other instances and applied.
    pub received: AtomicU64,
    /// Wakes the presence publisher after a local presence change.
    pub presence_changed: Notify,
}

impl Outbound {
    /// Queues `message` for publishing; never waits (a full queue drops it
    /// and counts the drop).
    pub(crate) fn send(&self, message: BusMessage) {
        match self.queue.try_send(message) {
            Ok(()) => {
                self.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(message)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        dropped,
                        kind = message.kind().name(),
                        "bus queue full: messages to other instances dropped"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// This instance on the bus, made by [`start`].
pub(crate) struct Bus {
    config: ClusterConfig,
    /// Random id of this process (with the name in every envelope).
    id: String,
    client: async_nats::Client,
}

/// Connects to NATS (in the background: a NATS that is down delays
/// nothing; the client keeps retrying), gives the hub its [`Outbound`], and
/// spawns the publisher, the subscriber, the presence heartbeat and the
/// connection watcher on `tracker`. They end when `stop` is cancelled,
/// after a goodbye.
///
/// # Errors
/// A malformed NATS URL.
pub(crate) async fn start(
    shared: &Arc<Shared>,
    config: ClusterConfig,
    tracker: &TaskTracker,
    stop: CancellationToken,
) -> Result<(), String> {
    let (queue, queued) = mpsc::channel(OUTBOUND_QUEUE);
    let outbound = Arc::new(Outbound {
        queue,
        queued: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        received: AtomicU64::new(0),
        presence_changed: Notify::new(),
    });
    let (events_tx, events) = mpsc::unbounded_channel();
    let client = async_nats::ConnectOptions::new()
        .name(&config.instance_name)
        .no_echo()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis(250_u64.saturating_mul(attempts.min(8) as u64))
        })
        .event_callback(move |event| {
            let events_tx = events_tx.clone();
            async move {
                // The watcher may be gone at shutdown: nothing to tell.
                let _ = events_tx.send(event);
            }
        })
        .connect(config.nats_url.as_str())
        .await
        .map_err(|e| {
            format!(
                "cannot use NATS at {}: {e}",
                without_credentials(&config.nats_url)
            )
        })?;
    let bus = Arc::new(Bus {
        id: format!("{:016x}", rand::random::<u64>()),
        config,
        client,
    });
    shared.hub.set_bus(Arc::clone(&outbound));
    tracing::info!(
        instance = %bus.config.instance_name,
        id = %bus.id,
        nats = %without_credentials(&bus.config.nats_url),
        "joining the other instances over NATS"
    );
    let subscriber = bus
        .client
        .subscribe(format!("{}.>", bus.config.subject_prefix))
        .await
        .map_err(|e| format!("cannot subscribe on NATS: {e}"))?;
    tracker.spawn(publisher(Arc::clone(&bus), queued, stop.clone()));
    tracker.spawn(receiver(
        Arc::clone(&bus),
        Arc::clone(shared),
        subscriber,
        stop.clone(),
    ));
    tracker.spawn(presence(
        Arc::clone(&bus),
        Arc::clone(shared),
        Arc::clone(&outbound),
        stop.clone(),
    ));
    tracker.spawn(watcher(Arc::clone(shared), events, stop));
    Ok(())
}

/// `url` with any `user:password@` parts replaced by `***@`, for logs (a
/// NATS URL may carry credentials; several URLs may be given).
pub(crate) fn without_credentials(url: &str) -> String {
    url.split(',')
        .map(|one| match (one.find("://"), one.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}***{}", &one[..scheme + 3], &one[at..])
            }
            (None, Some(at)) => format!("***{}", &one[at..]),
            _ => one.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl Bus {
    fn envelope(&self, message: BusMessage) -> Envelope {
        Envelope {
            from: self.id.clone(),
            name: self.config.instance_name.clone(),
            message,
        }
    }

    async fn publish(&self, message: BusMessage) {
        let subject = format!("{}.{}", self.config.subject_prefix, message.kind().name());
        let payload = match serde_json::to_vec(&self.envelope(message)) {
            Ok(payload) => Bytes::from(payload),
            Err(err) => {
                tracing::error!(%err, "cannot encode a bus message");
                return;
            }
        };
        if let Err(err) = self.client.publish(subject, payload).await {
            tracing::warn!(%err, "cannot publish to NATS");
        }
    }
}

/// Publishes queued messages in order until `stop`; then says goodbye and
/// flushes (bounded: a NATS that is down does not hold the shutdown).
async fn publisher(bus: Arc<Bus>, mut queued: mpsc::Receiver<BusMessage>, stop: CancellationToken) {
    loop {
        tokio::select! {
            message = queued.recv() => match message {
                Some(message) => bus.publish(message).await,
                None => break,
            },
            () = stop.cancelled() => break,
        }
    }
    while let Ok(message) = queued.try_recv() {
        bus.publish(message).await;
    }
    bus.publish(BusMessage::Goodbye).await;
    if tokio::time::timeout(Duration::from_secs(2), bus.client.flush())
        .await
        .is_err()
    {
        tracing::warn!("NATS did not take the last messages before the shutdown");
    }
}

/// Applies what the other instances publish until `stop`.
async fn receiver(
    bus: Arc<Bus>,
    shared: Arc<Shared>,
    mut subscriber: async_nats::Subscriber,
    stop: CancellationToken,
) {
    let mut lists = Lists::default();
    loop {
        let message = tokio::select! {
            message = subscriber.next() => match message {
                Some(message) => message,
                None => return,
            },
            () = stop.cancelled() => return,
        };
        let envelope: Envelope = match serde_json::from_slice(&message.payload) {
            Ok(envelope) => envelope,
            Err(err) => {
                tracing::warn!(%err, subject = %message.subject, "ignoring a malformed bus message");
                continue;
            }
        };
        if envelope.from == bus.id {
            continue;
        }
        if let Some(outbound) = shared.hub.bus() {
            outbound.received.fetch_add(1, Ordering::Relaxed);
        }
        if let BusMessage::Presence {
            epoch,
            part,
            parts,
            users,
        } = envelope.message
        {
            if let Some(users) = lists.add(&envelope.from, epoch, part, parts, users) {
                shared
                    .hub
                    .remote_presence(&envelope.from, &envelope.name, users);
            }
            continue;
        }
        apply(&shared, envelope);
    }
}

/// Presence lists arriving in parts, by sending instance.
#[derive(Default)]
struct Lists {
    /// Instance id → (epoch, parts received, users so far).
    partial: std::collections::HashMap<String, (u64, u32, Vec<PresentUser>)>,
}

impl Lists {
    /// Adds one part; returns the whole list once every part of `epoch`
    /// arrived. A part of a newer epoch drops an unfinished older one
    /// (NATS delivers one publisher's messages in order, so a missing
    /// part means it was lost, and the next heartbeat repeats it all).
    fn add(
        &mut self,
        from: &str,
        epoch: u64,
        part: u32,
        parts: u32,
        users: Vec<PresentUser>,
    ) -> Option<Vec<PresentUser>> {
        if parts <= 1 {
            self.partial.remove(from);
            return Some(users);
        }
        let entry = self
            .partial
            .entry(from.to_owned())
            .or_insert_with(|| (epoch, 0, Vec::new()));
        if entry.0 != epoch || part != entry.1 {
            *entry = (epoch, 0, Vec::new());
            if part != 0 {
                return None;
            }
        }
        entry.1 += 1;
        entry.2.extend(users);
        if entry.1 == parts {
            return self.partial.remove(from).map(|(_, _, users)| users);
        }
        None
    }
}

/// Does what another instance's message asks of this one.
fn apply(shared: &Shared, envelope: Envelope) {
    let Envelope {
        from,
        name,
        message,
    } = envelope;
    let hub = &shared.hub;
    match message {
        BusMessage::Room { room, push } => {
            hub.broadcast_room(&room, &push);
        }
        BusMessage::User { user_id, push } => hub.send_to_user(&user_id, &push, None),
        BusMessage::All { push } => hub.broadcast_all(&push),
        BusMessage::Seats { event_id } => shared.seats.changed_here(&event_id),
        BusMessage::Joined { user_id, room } => hub.add_room_here(&user_id, &room),
        BusMessage::Left { user_id, room } => hub.remove_room_here(&user_id, &room),
        BusMessage::Mute {
            room,
            user_id,
            until,
        } => shared.room_cache.put_mute(&room, &user_id, until),
        BusMessage::SlowMode { room, seconds } => shared.room_cache.set_slow_mode(&room, seconds),
        BusMessage::RevokeUser {
            user_id,
            keep_token_hash,
        } => {
            shared.live.revoke_user(hub, &user_id, &keep_token_hash);
        }
        BusMessage::RevokeToken { token_hash } => {
            shared
                .live
                .revoke_token(hub, &token_hash, crate::hub::ConnId::MAX);
        }
        BusMessage::Rename { user_id, username } => hub.rename_here(&user_id, &username),
        BusMessage::LoginFailed { address, account } => {
            shared
                .throttle
                .failed(address, account.as_deref(), std::time::Instant::now());
        }
        BusMessage::LoginSucceeded { account } => shared.throttle.succeeded(&account),
        BusMessage::Presence { users, .. } => {
            // Parts are put together by the receiver; a whole list here.
            hub.remote_presence(&from, &name, users);
        }
        BusMessage::Goodbye => {
            tracing::info!(instance = %name, "an instance left");
            hub.remote_gone(&from);
        }
    }
}

/// Publishes this instance's logged-in users every heartbeat and shortly
/// after each local change; drops instances not heard from for the expiry.
async fn presence(
    bus: Arc<Bus>,
    shared: Arc<Shared>,
    outbound: Arc<Outbound>,
    stop: CancellationToken,
) {
    let check = (bus.config.expiry / 5).clamp(Duration::from_millis(100), Duration::from_secs(1));
    let mut heartbeat = tokio::time::interval(bus.config.heartbeat);
    let mut sweep = tokio::time::interval(check);
    let mut epoch = 0_u64;
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {}
            () = outbound.presence_changed.notified() => {
                tokio::time::sleep(PRESENCE_SETTLE).await;
            }
            _ = sweep.tick() => {
                shared.hub.expire_remote(bus.config.expiry);
                continue;
            }
            () = stop.cancelled() => return,
        }
        epoch += 1;
        let users = shared.hub.local_users();
        let parts = users.len().div_ceil(PRESENCE_PART).max(1);
        let parts = u32::try_from(parts).unwrap_or(u32::MAX);
        let mut users = users.into_iter();
        for part in 0..parts {
            outbound.send(BusMessage::Presence {
                epoch,
                part,
                parts,
                users: users.by_ref().take(PRESENCE_PART).collect(),
            });
        }
    }
}

/// Follows the NATS connection: after it comes back, tells every client to
/// fill its gaps (`resync`) and republishes presence at once.
async fn watcher(
    shared: Arc<Shared>,
    mut events: mpsc::UnboundedReceiver<async_nats::Event>,
    stop: CancellationToken,
) {
    let mut lost = false;
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                None => return,
            },
            () = stop.cancelled() => return,
        };
        match event {
            async_nats::Event::Disconnected => {
                lost = true;
                tracing::warn!("lost NATS: serving this instance's clients only until it is back");
            }
            async_nats::Event::Connected => {
                if lost {
                    lost = false;
                    let clients = shared.hub.resync();
                    tracing::info!(clients, "NATS is back: clients told to resync");
                } else {
                    tracing::info!("connected to NATS");
                }
                if let Some(outbound) = shared.hub.bus() {
                    outbound.presence_changed.notify_one();
                }
            }
            // Failed reconnects repeat every few seconds while NATS is
            // down; async-nats logs them too.
            async_nats::Event::ClientError(err) => tracing::debug!(%err, "NATS"),
            other => tracing::info!(event = %other, "NATS"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_as_json_with_a_kind() {
        let envelope = Envelope {
            from: "00ff".into(),
            name: "a:7878".into(),
            message: BusMessage::Room {
                room: "jazz".into(),
                push: Push::Typing {
                    room: "jazz".into(),
                    user: "giulia".into(),
                },
            },
        };
        let json = serde_json::to_string(&envelope).expect("encode");
        assert!(json.contains(r#""kind":"room""#), "{json}");
        assert!(json.contains(r#""push":"typing""#), "{json}");
        let back: Envelope = serde_json::from_str(&json).expect("decode");
        assert_eq!(back, envelope);
    }

    #[test]
    fn each_kind_of_change_has_its_subject() {
        let push = Push::Shutdown { reason: "x".into() };
        let cases = [
            (
                BusMessage::Room {
                    room: "lobby".into(),
                    push: push.clone(),
                },
                "chat",
            ),
            (
                BusMessage::Joined {
                    user_id: "1".into(),
                    room: "jazz".into(),
                },
                "rooms",
            ),
            (
                BusMessage::Seats {
                    event_id: "1".into(),
                },
                "seats",
            ),
            (BusMessage::Goodbye, "presence"),
            (
                BusMessage::SlowMode {
                    room: "jazz".into(),
                    seconds: 5,
                },
                "moderation",
            ),
            (BusMessage::All { push }, "events"),
            (
                BusMessage::RevokeToken {
                    token_hash: "ab".into(),
                },
                "sessions",
            ),
        ];
        for (message, subject) in cases {
            assert_eq!(message.kind().name(), subject, "{message:?}");
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (queue, _kept) = mpsc::channel(2);
        let outbound = Outbound {
            queue,
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            received: AtomicU64::new(0),
            presence_changed: Notify::new(),
        };
        for _ in 0..5 {
            outbound.send(BusMessage::Goodbye);
        }
        assert_eq!(outbound.queued.load(Ordering::Relaxed), 2);
        assert_eq!(outbound.dropped.load(Ordering::Relaxed), 3);
    }

    fn users(range: std::ops::Range<u32>) -> Vec<PresentUser> {
        range
            .map(|i| PresentUser {
                id: i.to_string(),
                name: format!("user{i}"),
            })
            .collect()
    }

    #[test]
    fn credentials_never_reach_the_log() {
        assert_eq!(
            without_credentials("nats://app:s3cret@bus1:4222, nats://bus2:4222"),
            "nats://***@bus1:4222, nats://bus2:4222"
        );
        assert_eq!(without_credentials("tok@bus:4222"), "***@bus:4222");
        assert_eq!(without_credentials("nats://bus:4222"), "nats://bus:4222");
    }

    #[test]
    fn a_list_in_parts_is_applied_once_whole() {
        let mut lists = Lists::default();
        assert_eq!(lists.add("x", 1, 0, 1, users(0..3)), Some(users(0..3)));
        assert_eq!(lists.add("x", 2, 0, 3, users(0..2)), None);
        assert_eq!(lists.add("x", 2, 1, 3, users(2..4)), None);
        assert_eq!(lists.add("x", 2, 2, 3, users(4..5)), Some(users(0..5)));
        // A lost part: that epoch is never applied; the next one is.
        assert_eq!(lists.add("x", 3, 0, 2, users(0..2)), None);
        assert_eq!(lists.add("x", 4, 1, 2, users(2..4)), None);
        assert_eq!(lists.add("x", 5, 0, 2, users(0..2)), None);
        assert_eq!(lists.add("x", 5, 1, 2, users(2..3)), Some(users(0..3)));
        // Instances are assembled apart.
        assert_eq!(lists.add("x", 6, 0, 2, users(0..1)), None);
        assert_eq!(lists.add("y", 1, 0, 1, users(7..8)), Some(users(7..8)));
        assert_eq!(lists.add("x", 6, 1, 2, users(1..2)), Some(users(0..2)));
    }
}
