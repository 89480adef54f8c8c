//! The hub: every live connection's outbound queue, who is logged in where
//! (presence), and broadcasting.
//!
//! A push is serialized once ([`Frame::push`]) and its bytes appended to
//! each recipient's outbox (`crate::outbox`): no per-recipient JSON work,
//! no per-recipient allocation. Delivery never waits: a full outbox means
//! that client reads too slowly, and it is disconnected (its kill token
//! cancelled) rather than waited for, so one slow reader never delays the
//! broadcaster or anyone else.
//!
//! Presence is counted per user id: a user comes online with their first
//! logged-in connection and goes offline when the last one logs out or
//! disconnects. Transitions are *coalesced* like seat counts (`seats`):
//! a transition only marks its user changed; a flusher task pushes each
//! changed user's *current* state to every logged-in client (latest state
//! wins: a user who came and went within the window is announced once, as
//! offline; never suppressed, since a client may have seen the user online
//! through `online` meanwhile). A change is held for [`PRESENCE_WINDOW`], and while changes
//! keep coming in every window (a storm: 1,000 clients disconnecting at
//! once) for up to [`PRESENCE_MAX_HOLD`], so the storm becomes one flush to
//! the clients still connected at its end instead of one push per
//! departure to every remaining client (issue 12: ~500,000 pushes for
//! 1,000 departures before). One flush announces at most
//! [`PRESENCE_BATCH`] users; more wait for the next window, so an arrival
//! storm (every arrival must reach every member: N² pushes) is paced
//! instead of landing in every outbox at once. Past
//! [`PRESENCE_USERS_MAX`] users online a flush announces only the count
//! (`presence_count`, one frame per client per flush), which makes an
//! arrival storm linear too. A presence push is
//! therefore 100 ms to 1 s late, more during an arrival storm. Flushes happen under the write lock, so every client sees the
//! pushes in the same order.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use coliseum_protocol::response::OnlineData;
use coliseum_protocol::{DEFAULT_ROOM, Push};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::bus::{BusMessage, Outbound, PresentUser};
use crate::outbox::{Frame, Offer, Outbox};

/// After a presence flush, changes are held at least this long.
pub(crate) const PRESENCE_WINDOW: Duration = Duration::from_millis(100);
/// While changes keep arriving in every window, they are held at most this
/// long after the previous flush.
pub(crate) const PRESENCE_MAX_HOLD: Duration = Duration::from_secs(1);
/// Most users announced by one flush; the rest wait for the next window.
/// Each announcement is one frame to every logged-in client, so this
/// bounds what one flush adds to an outbox (64 frames, ~5 KiB, far below
/// the slow-reader bounds) and to the server's memory (members × 64
/// frames), however many users arrive at once.
pub(crate) const PRESENCE_BATCH: usize = 64;

/// While more users than this are online, a presence flush announces only
/// the count (`presence_count`, one frame per client per flush) instead of
/// each user who came or went: with N users arriving, per-user pushes are
/// N² frames (10⁸ for 10,000), which kept a server busy for minutes and
/// slowed a 10,000-buyer sale to a seventh of its speed (issue 12).
pub(crate) const PRESENCE_USERS_MAX: usize = 1_000;

/// Identifies one connection for the server's lifetime.
pub(crate) type ConnId = u64;

/// A user logged in on a connection, as presence sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// Stable account id (presence is counted per account).
    pub user_id: String,
    /// Name shown in `presence` and `online`.
    pub username: String,
}

/// One connection as the hub sees it.
struct Peer {
    /// The connection's bounded outbound buffer.
    outbox: Arc<Outbox>,
    /// Cancelled to disconnect the client at once (slow reader).
    kill: CancellationToken,
    /// `Some` while logged in.
    member: Option<Member>,
}

/// A user with at least one logged-in connection.
struct Online {
    /// Current username.
    username: String,
    /// Logged-in connections of this user.
    sessions: usize,
}

/// A user whose presence changed since the last flush.
struct Changed {
    /// Their name when it changed (used if they are offline by the flush).
    username: String,
}

#[derive(Default)]
struct State {
    peers: HashMap<ConnId, Peer>,
    online: HashMap<String, Online>,
    /// The rooms (other than `lobby`) of each logged-in user, by user id:
    /// who gets a room's `chat` pushes. Loaded at login, kept up to date
    /// by joins, leaves, kicks and new direct rooms, dropped when the
    /// user's last session ends.
    rooms: HashMap<String, HashSet<String>>,
    /// Presence changes not pushed yet, by user id.
    changed: HashMap<String, Changed>,
    /// Presence changes recorded so far (to tell whether a storm goes on).
    changes: u64,
    /// Users logged in on the other instances (`crate::bus`), by instance id.
    remote: HashMap<String, Remote>,
}

/// Another instance's logged-in users, as its last heartbeat listed them.
struct Remote {
    /// Its name, for logs.
    name: String,
    /// When it was last heard from.
    seen: Instant,
    /// Username by user id.
    users: HashMap<String, String>,
}

impl State {
    /// The name of `user_id` if they are logged in here or on another
    /// instance.
    fn online_name(&self, user_id: &str) -> Option<&str> {
        self.online
            .get(user_id)
            .map(|o| o.username.as_str())
            .or_else(|| {
                self.remote
                    .values()
                    .find_map(|r| r.users.get(user_id).map(String::as_str))
            })
    }

    /// Distinct users logged in anywhere: user id → username.
    fn everyone(&self) -> HashMap<&str, &str> {
        let mut all: HashMap<&str, &str> = HashMap::with_capacity(self.online.len());
        for remote in self.remote.values() {
            for (id, name) in &remote.users {
                all.insert(id, name);
            }
        }
        for (id, online) in &self.online {
            all.insert(id, &online.username);
        }
        all
    }

    /// How many distinct users are logged in anywhere.
    fn online_count(&self) -> usize {
        if self.remote.is_empty() {
            self.online.len()
        } else {
            self.everyone().len()
        }
    }
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct Hub {
    state: RwLock<State>,
    next_id: AtomicU64,
    /// This hub, for the presence flusher it starts (empty in unit tests:
    /// they call [`Hub::flush_presence`] themselves).
    me: Weak<Hub>,
    /// Wakes the presence flusher.
    presence_wake: Arc<Notify>,
    /// The presence flusher was started.
    flusher: AtomicBool,
    /// Presence frames queued to clients so far
    /// ([`crate::ServerStats::presence_pushes`]).
    presence_pushes: AtomicU64,
    /// [`PRESENCE_USERS_MAX`] unless a test set another (0: the default).
    presence_users_max: AtomicUsize,
    /// The queue to the other instances, when this server is one of
    /// several (`crate::bus`); unset otherwise.
    bus: OnceLock<Arc<Outbound>>,
}

impl Hub {
    /// A hub that pushes presence through its own flusher task (started on
    /// the first change, inside the tokio runtime; it ends when the hub is
    /// dropped).
    pub(crate) fn new() -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            ..Self::default()
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a connection and queues `welcome(connected)` as its very
    /// first frame (`connected` counts this one too). Returns its id.
    pub(crate) fn join(
        &self,
        outbox: Arc<Outbox>,
        kill: CancellationToken,
        welcome: impl FnOnce(u64) -> Bytes,
    ) -> ConnId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut state = self.write();
        let connected = u64::try_from(state.peers.len() + 1).unwrap_or(u64::MAX);
        // Under the write lock no broadcast can slip in before the welcome;
        // the outbox is new, so there is room.
        if outbox.try_push(&Frame::new(&welcome(connected))) != Offer::Queued {
            kill.cancel();
        }
        state.peers.insert(
            id,
            Peer {
                outbox,
                kill,
                member: None,
            },
        );
        id
    }

    /// Removes a connection (closed or dropped); if it was logged in, its
    /// user may go offline.
    pub(crate) fn leave(&self, id: ConnId) {
        let mut state = self.write();
        if let Some(peer) = state.peers.remove(&id)
            && let Some(member) = peer.member
            && sign_off(&mut state, &member)
        {
            drop(state);
            self.presence_changed();
        }
    }

    /// Sets who is logged in on connection `id` (`None`: nobody), pushing
    /// `presence` when a user's first session starts or last one ends.
    pub(crate) fn set_member(&self, id: ConnId, member: Option<Member>) {
        let mut state = self.write();
        let Some(peer) = state.peers.get_mut(&id) else {
            return;
        };
        if peer.member == member {
            return;
        }
        let old = std::mem::replace(&mut peer.member, member.clone());
        let mut changed = false;
        if let Some(old) = old {
            changed |= sign_off(&mut state, &old);
        }
        if let Some(new) = member {
            changed |= sign_on(&mut state, new);
        }
        drop(state);
        if changed {
            self.presence_changed();
        }
    }

    /// A local user came or went: wakes the flusher and tells the other
    /// instances (through the bus's presence heartbeat).
    fn presence_changed(&self) {
        self.wake_flusher();
        if let Some(bus) = self.bus.get() {
            bus.presence_changed.notify_one();
        }
    }

    /// Wakes the presence flusher (starting it on the first change).
    fn wake_flusher(&self) {
        if !self.flusher.load(Ordering::Acquire)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
            && let Some(hub) = self.me.upgrade()
            && !self.flusher.swap(true, Ordering::AcqRel)
        {
            runtime.spawn(presence_flusher(
                Arc::downgrade(&hub),
                Arc::clone(&self.presence_wake),
            ));
        }
        self.presence_wake.notify_one();
    }

    /// Pushes `presence` with the current state of up to
    /// [`PRESENCE_BATCH`] users whose state changed since they were last
    /// announced. True when more are waiting.
    pub(crate) fn flush_presence(&self) -> bool {
        let mut state = self.write();
        if state.changed.is_empty() {
            return false;
        }
        let online = state.online_count();
        if online > self.presence_users_max() {
            // A large lobby: the count, once per client, for all changes.
            let changes = state.changed.len();
            state.changed.clear();
            let count = u64::try_from(online).unwrap_or(u64::MAX);
            tracing::info!(changes, count, "presence (count only)");
            let frame = Frame::push(&Push::PresenceCount { count });
            let pushed = deliver_to_members(&state, std::slice::from_ref(&frame));
            self.presence_pushes.fetch_add(pushed, Ordering::Relaxed);
            return false;
        }
        let count = u64::try_from(online).unwrap_or(u64::MAX);
        let batch: Vec<String> = state.changed.keys().take(PRESENCE_BATCH).cloned().collect();
        for user_id in batch {
            let Some(change) = state.changed.remove(&user_id) else {
                continue;
            };
            let now = state.online_name(&user_id).map(str::to_owned);
            let online = now.is_some();
            let user = now.unwrap_or(change.username);
            tracing::info!(%user, online, "presence");
            let pushed = announce(&state, user, online, count);
            self.presence_pushes.fetch_add(pushed, Ordering::Relaxed);
        }
        !state.changed.is_empty()
    }

    /// The online count above which presence is announced as a count only.
    fn presence_users_max(&self) -> usize {
        match self.presence_users_max.load(Ordering::Relaxed) {
            0 => PRESENCE_USERS_MAX,
            n => n,
        }
    }

    /// Changes [`PRESENCE_USERS_MAX`] for this hub (tests).
    #[cfg(test)]
    pub(crate) fn set_presence_users_max(&self, max: usize) {
        self.presence_users_max.store(max, Ordering::Relaxed);
    }

    /// Presence frames queued to clients so far.
    pub(crate) fn presence_pushes(&self) -> u64 {
        self.presence_pushes.load(Ordering::Relaxed)
    }

    /// Presence changes recorded so far.
    fn presence_changes(&self) -> u64 {
        self.read().changes
    }

    /// A logged-in user changed their username: presence and `online` show
    /// the new one from now on, on every instance.
    pub(crate) fn rename(&self, user_id: &str, username: &str) {
        self.rename_here(user_id, username);
        self.relay(BusMessage::Rename {
            user_id: user_id.to_owned(),
            username: username.to_owned(),
        });
    }

    /// [`Hub::rename`] on this instance only (told by another).
    pub(crate) fn rename_here(&self, user_id: &str, username: &str) {
        let mut state = self.write();
        if let Some(online) = state.online.get_mut(user_id) {
            username.clone_into(&mut online.username);
        }
        for peer in state.peers.values_mut() {
            if let Some(member) = peer.member.as_mut().filter(|m| m.user_id == user_id) {
                username.clone_into(&mut member.username);
            }
        }
    }

    /// Distinct users logged in here or on another instance, sorted by name.
    pub(crate) fn online(&self) -> OnlineData {
        let state = self.read();
        let mut users: Vec<String> = if state.remote.is_empty() {
            state.online.values().map(|o| o.username.clone()).collect()
        } else {
            state.everyone().into_values().map(str::to_owned).collect()
        };
        users.sort_unstable();
        OnlineData {
            count: u64::try_from(users.len()).unwrap_or(u64::MAX),
            users,
        }
    }

    /// Connected clients, logged in or not.
    pub(crate) fn connected(&self) -> usize {
        self.read().peers.len()
    }

    /// Pushes to every connected client.
    pub(crate) fn broadcast_all(&self, push: &Push) {
        let frame = Frame::push(push);
        let state = self.read();
        for peer in state.peers.values() {
            deliver(peer, std::slice::from_ref(&frame));
        }
    }

    /// Sets the rooms (besides `lobby`) whose pushes `user_id` gets; called
    /// at login, before the connection is attached, so no message of those
    /// rooms is missed in between.
    pub(crate) fn set_rooms(&self, user_id: &str, rooms: impl IntoIterator<Item = String>) {
        let rooms: HashSet<String> = rooms.into_iter().filter(|r| r != DEFAULT_ROOM).collect();
        self.write().rooms.insert(user_id.to_owned(), rooms);
    }

    /// `user_id` joined `room`: their clients get its pushes from now on,
    /// on every instance (no-op where the user is not logged in).
    pub(crate) fn add_room(&self, user_id: &str, room: &str) {
        self.add_room_here(user_id, room);
        self.relay(BusMessage::Joined {
            user_id: user_id.to_owned(),
            room: room.to_owned(),
        });
    }

    /// [`Hub::add_room`] on this instance only (told by another).
    pub(crate) fn add_room_here(&self, user_id: &str, room: &str) {
        let mut state = self.write();
        if state.online.contains_key(user_id)
            && let Some(rooms) = state.rooms.get_mut(user_id)
        {
            rooms.insert(room.to_owned());
        }
    }

    /// `user_id` left (or was removed from) `room`, on every instance.
    pub(crate) fn remove_room(&self, user_id: &str, room: &str) {
        self.remove_room_here(user_id, room);
        self.relay(BusMessage::Left {
            user_id: user_id.to_owned(),
            room: room.to_owned(),
        });
    }

    /// [`Hub::remove_room`] on this instance only (told by another).
    pub(crate) fn remove_room_here(&self, user_id: &str, room: &str) {
        if let Some(rooms) = self.write().rooms.get_mut(user_id) {
            rooms.remove(room);
        }
    }

    /// Pushes to the clients of `room`'s members: every logged-in client
    /// for `lobby`, else the clients of users who are members (as
    /// [`Hub::set_rooms`] / [`Hub::add_room`] recorded). The frame is
    /// encoded once. Returns how many clients it was offered to.
    pub(crate) fn broadcast_room(&self, room: &str, push: &Push) -> u64 {
        self.broadcast_room_all(room, std::slice::from_ref(push))
    }

    /// [`Hub::broadcast_room`] for several pushes to one room, in order:
    /// each recipient is looked up once and its outbox locked once for
    /// the lot ([`Outbox::try_push_all`]). Returns how many clients they
    /// were offered to.
    pub(crate) fn broadcast_room_all(&self, room: &str, pushes: &[Push]) -> u64 {
        let frames: Vec<Frame> = pushes.iter().map(Frame::push).collect();
        let state = self.read();
        if room == DEFAULT_ROOM {
            return deliver_to_members(&state, &frames);
        }
        let mut offered = 0;
        for peer in state.peers.values() {
            if let Some(member) = &peer.member
                && state
                    .rooms
                    .get(&member.user_id)
                    .is_some_and(|rooms| rooms.contains(room))
            {
                deliver(peer, &frames);
                offered += 1;
            }
        }
        offered
    }

    /// Pushes to every client logged in as `user_id`, but `except`.
    pub(crate) fn send_to_user(&self, user_id: &str, push: &Push, except: Option<ConnId>) {
        let frame = Frame::push(push);
        let state = self.read();
        for (id, peer) in &state.peers {
            if Some(*id) != except && peer.member.as_ref().is_some_and(|m| m.user_id == user_id) {
                deliver(peer, std::slice::from_ref(&frame));
            }
        }
    }

    /// Whether the logged-in user `user_id` is a member of `room`, as this
    /// server knows it (`lobby`: always); `None` when the user has no
    /// session here (then ask the store).
    pub(crate) fn in_room(&self, user_id: &str, room: &str) -> Option<bool> {
        if room == DEFAULT_ROOM {
            return Some(true);
        }
        self.read()
            .rooms
            .get(user_id)
            .map(|rooms| rooms.contains(room))
    }

    /// Whether `user_id` is logged in on any connection of this instance.
    pub(crate) fn is_online(&self, user_id: &str) -> bool {
        self.read().online.contains_key(user_id)
    }

    /// Makes this hub one of several instances: what it publishes also goes
    /// to `bus` (set once, at start-up).
    pub(crate) fn set_bus(&self, bus: Arc<Outbound>) {
        // A second call (never made) keeps the first queue.
        let _ = self.bus.set(bus);
    }

    /// The queue to the other instances, if there are any.
    pub(crate) fn bus(&self) -> Option<&Arc<Outbound>> {
        self.bus.get()
    }

    /// Tells the other instances (no-op when there are none).
    pub(crate) fn relay(&self, message: BusMessage) {
        if let Some(bus) = self.bus.get() {
            bus.send(message);
        }
    }

    /// [`Hub::broadcast_room`] here and on every other instance.
    pub(crate) fn publish_room(&self, room: &str, push: &Push) {
        self.publish_room_all(room, std::slice::from_ref(push));
    }

    /// [`Hub::publish_room`] for several pushes to one room, in order
    /// (here: [`Hub::broadcast_room_all`]; to the other instances: one bus
    /// message each, as before).
    pub(crate) fn publish_room_all(&self, room: &str, pushes: &[Push]) {
        self.broadcast_room_all(room, pushes);
        for push in pushes {
            self.relay(BusMessage::Room {
                room: room.to_owned(),
                push: push.clone(),
            });
        }
    }

    /// [`Hub::send_to_user`] here (but `except`) and to every connection of
    /// the user on the other instances.
    pub(crate) fn publish_user(&self, user_id: &str, push: &Push, except: Option<ConnId>) {
        self.send_to_user(user_id, push, except);
        self.relay(BusMessage::User {
            user_id: user_id.to_owned(),
            push: push.clone(),
        });
    }

    /// [`Hub::broadcast_all`] here and on every other instance.
    pub(crate) fn publish_all(&self, push: &Push) {
        self.broadcast_all(push);
        self.relay(BusMessage::All { push: push.clone() });
    }

    /// The users logged in on this instance (for the bus's heartbeat).
    pub(crate) fn local_users(&self) -> Vec<PresentUser> {
        self.read()
            .online
            .iter()
            .map(|(id, online)| PresentUser {
                id: id.clone(),
                name: online.username.clone(),
            })
            .collect()
    }

    /// Another instance (`from`, called `name`) listed its logged-in users:
    /// users who came online or went offline *everywhere* because of it are
    /// announced like local changes.
    pub(crate) fn remote_presence(&self, from: &str, name: &str, users: Vec<PresentUser>) {
        let users: HashMap<String, String> = users.into_iter().map(|u| (u.id, u.name)).collect();
        let mut state = self.write();
        let old = state.remote.remove(from);
        if old.is_none() {
            tracing::info!(instance = name, users = users.len(), "an instance joined");
        }
        let old_users = old.map(|r| r.users).unwrap_or_default();
        // Users only in the old or only in the new list may have changed.
        let mut touched: Vec<(String, String)> = Vec::new();
        for (id, username) in &old_users {
            if !users.contains_key(id) && state.online_name(id).is_none() {
                touched.push((id.clone(), username.clone()));
            }
        }
        for (id, username) in &users {
            if !old_users.contains_key(id) && state.online_name(id).is_none() {
                touched.push((id.clone(), username.clone()));
            }
        }
        state.remote.insert(
            from.to_owned(),
            Remote {
                name: name.to_owned(),
                seen: Instant::now(),
                users,
            },
        );
        let changed = !touched.is_empty();
        for (id, username) in touched {
            // Gone: the name from before; came: the name now.
            record(&mut state, id, username);
        }
        drop(state);
        if changed {
            self.wake_flusher();
        }
    }

    /// Drops the instances not heard from for `expiry` (killed, or cut off):
    /// their users go offline unless logged in elsewhere.
    pub(crate) fn expire_remote(&self, expiry: Duration) {
        let stale: Vec<String> = self
            .read()
            .remote
            .iter()
            .filter(|(_, r)| r.seen.elapsed() > expiry)
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            self.remote_gone(&id);
        }
    }

    /// Instance `from` is gone: its users go offline unless logged in
    /// elsewhere.
    pub(crate) fn remote_gone(&self, from: &str) {
        let mut state = self.write();
        let Some(gone) = state.remote.remove(from) else {
            return;
        };
        tracing::info!(instance = %gone.name, users = gone.users.len(), "an instance is gone: its users are offline");
        let mut changed = false;
        for (id, username) in gone.users {
            if state.online_name(&id).is_none() {
                record(&mut state, id, username);
                changed = true;
            }
        }
        drop(state);
        if changed {
            self.wake_flusher();
        }
    }

    /// Pushes `resync {rooms}` to every logged-in client (the bus came back
    /// after an outage); returns how many clients were told.
    pub(crate) fn resync(&self) -> u64 {
        let state = self.read();
        let mut told = 0;
        for peer in state.peers.values() {
            let Some(member) = &peer.member else {
                continue;
            };
            let mut rooms = vec![DEFAULT_ROOM.to_owned()];
            if let Some(theirs) = state.rooms.get(&member.user_id) {
                let mut theirs: Vec<String> = theirs.iter().cloned().collect();
                theirs.sort_unstable();
                rooms.extend(theirs);
            }
            deliver(peer, &[Frame::push(&Push::Resync { rooms })]);
            told += 1;
        }
        told
    }
}

/// Counts a session of `member`; true when the user came online.
fn sign_on(state: &mut State, member: Member) -> bool {
    let entry = state
        .online
        .entry(member.user_id.clone())
        .or_insert_with(|| Online {
            username: member.username.clone(),
            sessions: 0,
        });
    entry.sessions += 1;
    if entry.sessions == 1 {
        // Logged in on another instance already: no news for anyone.
        if !state
            .remote
            .values()
            .any(|r| r.users.contains_key(&member.user_id))
        {
            record(state, member.user_id, member.username);
        }
        return true;
    }
    false
}

/// Ends a session of `member`; true when the user went offline.
fn sign_off(state: &mut State, member: &Member) -> bool {
    let Some(entry) = state.online.get_mut(&member.user_id) else {
        return false;
    };
    entry.sessions = entry.sessions.saturating_sub(1);
    if entry.sessions == 0 {
        let username = entry.username.clone();
        state.online.remove(&member.user_id);
        state.rooms.remove(&member.user_id);
        if state.online_name(&member.user_id).is_none() {
            record(state, member.user_id.clone(), username);
        }
        return true;
    }
    false
}

/// Notes that `user_id` came online or went offline.
fn record(state: &mut State, user_id: String, username: String) {
    state.changes += 1;
    state
        .changed
        .entry(user_id)
        .and_modify(|c| c.username.clone_from(&username))
        .or_insert(Changed { username });
}

/// Pushes coalesced presence (module docs) until the hub is gone.
async fn presence_flusher(hub: Weak<Hub>, wake: Arc<Notify>) {
    loop {
        // Checked now and then so that the task ends with its server.
        if tokio::time::timeout(PRESENCE_MAX_HOLD, wake.notified())
            .await
            .is_err()
        {
            if hub.strong_count() == 0 {
                return;
            }
            continue;
        }
        let mut held_since = tokio::time::Instant::now();
        let mut seen = match hub.upgrade() {
            Some(strong) => strong.presence_changes(),
            None => return,
        };
        loop {
            tokio::time::sleep(PRESENCE_WINDOW).await;
            let Some(strong) = hub.upgrade() else {
                return;
            };
            let now = strong.presence_changes();
            if now == seen || held_since.elapsed() >= PRESENCE_MAX_HOLD {
                if !strong.flush_presence() {
                    break;
                }
                // More than one batch waits: the next one a window later.
                held_since = tokio::time::Instant::now();
            }
            seen = now;
        }
    }
}

/// Pushes one presence change to every logged-in client; returns how many
/// frames were offered.
fn announce(state: &State, user: String, online: bool, count: u64) -> u64 {
    let frame = Frame::push(&Push::Presence {
        user,
        online,
        count,
    });
    deliver_to_members(state, std::slice::from_ref(&frame))
}

/// Offers `frame` to every logged-in client; returns how many.
fn deliver_to_members(state: &State, frames: &[Frame]) -> u64 {
    let mut offered = 0;
    for peer in state.peers.values().filter(|p| p.member.is_some()) {
        deliver(peer, frames);
        offered += 1;
    }
    offered
}

/// Queues `frames` for `peer`, in order; a peer whose outbox is full is
/// dropped as a slow reader.
fn deliver(peer: &Peer, frames: &[Frame]) {
    match peer.outbox.try_push_all(frames) {
        // Too large: logged by the outbox (pushes are far below the limit).
        Offer::Queued | Offer::Closed | Offer::TooLarge => {}
        Offer::Full => {
            if !peer.kill.is_cancelled() {
                tracing::warn!("outbound queue full: disconnecting a slow reader");
                // Free what it held now, not when its tasks wind down.
                peer.outbox.discard();
                peer.kill.cancel();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coliseum_protocol::decode_server_message;
    use coliseum_protocol::encode_push;
    use coliseum_protocol::response::ServerMessage;

    fn member(id: &str, name: &str) -> Option<Member> {
        Some(Member {
            user_id: id.into(),
            username: name.into(),
        })
    }

    /// Every push waiting in `outbox`, decoded.
    fn drain(outbox: &Outbox) -> Vec<Push> {
        outbox
            .take_frames()
            .iter()
            .map(
                |frame| match decode_server_message(frame).expect("decode") {
                    ServerMessage::Push(push) => push,
                    other => panic!("unexpected {other:?}"),
                },
            )
            .collect()
    }

    fn join(hub: &Hub, capacity: usize) -> (ConnId, Arc<Outbox>, CancellationToken) {
        let rx = Arc::new(Outbox::new(capacity));
        let kill = CancellationToken::new();
        let id = hub.join(Arc::clone(&rx), kill.clone(), |online| {
            encode_push(&Push::Welcome {
                server: "coliseum".into(),
                protocol: 1,
                online,
            })
        });
        (id, rx, kill)
    }

    #[test]
    fn welcome_comes_first_and_counts_connections() {
        let hub = Hub::default();
        let (_, a, _) = join(&hub, 8);
        let (_, b, _) = join(&hub, 8);
        assert!(matches!(drain(&a)[..], [Push::Welcome { online: 1, .. }]));
        assert!(matches!(drain(&b)[..], [Push::Welcome { online: 2, .. }]));
        assert_eq!(hub.connected(), 2);
    }

    #[test]
    fn presence_is_pushed_on_first_session_and_last_leave_only() {
        let hub = Hub::default();
        let (a, ra, _) = join(&hub, 16);
        let (b, rb, _) = join(&hub, 16);
        let (c, rc, _) = join(&hub, 16);
        drain(&ra);
        drain(&rb);
        drain(&rc);
        hub.set_member(a, member("1", "giulia"));
        hub.flush_presence();
        let online = Push::Presence {
            user: "giulia".into(),
            online: true,
            count: 1,
        };
        assert_eq!(drain(&ra), [online]);
        assert!(drain(&rb).is_empty(), "anonymous clients get no presence");
        // Second session of the same user: no push.
        hub.set_member(b, member("1", "giulia"));
        hub.set_member(c, member("2", "marco"));
        hub.flush_presence();
        assert_eq!(drain(&ra).len(), 1);
        assert_eq!(hub.online().users, ["giulia", "marco"]);
        assert_eq!(drain(&rc).len(), 1, "marco's arrival");
        hub.leave(a);
        hub.flush_presence();
        assert!(drain(&rc).is_empty(), "giulia is still online on b");
        hub.set_member(b, None);
        hub.flush_presence();
        assert_eq!(
            drain(&rc),
            [Push::Presence {
                user: "giulia".into(),
                online: false,
                count: 1
            }]
        );
        assert_eq!(hub.online().count, 1);
    }

    #[test]
    fn latest_presence_wins_within_a_flush() {
        let hub = Hub::default();
        let (a, ra, _) = join(&hub, 16);
        let (b, _rb, _) = join(&hub, 16);
        hub.set_member(a, member("1", "giulia"));
        hub.flush_presence();
        drain(&ra);
        // marco comes and goes between two flushes: one push, offline.
        hub.set_member(b, member("2", "marco"));
        hub.set_member(b, None);
        hub.flush_presence();
        assert_eq!(
            drain(&ra),
            [Push::Presence {
                user: "marco".into(),
                online: false,
                count: 1
            }]
        );
        // and back again: announced once, online.
        hub.set_member(b, member("2", "marco"));
        hub.set_member(b, None);
        hub.set_member(b, member("2", "marco"));
        hub.flush_presence();
        assert_eq!(
            drain(&ra),
            [Push::Presence {
                user: "marco".into(),
                online: true,
                count: 2
            }]
        );
    }

    /// An arrival storm is announced [`PRESENCE_BATCH`] users per flush.
    #[test]
    fn one_flush_announces_at_most_a_batch() {
        let hub = Hub::default();
        let n = PRESENCE_BATCH * 2 + 5;
        let (watcher, rx, _) = join(&hub, 4 * n);
        hub.set_member(watcher, member("w", "watcher"));
        let mut ids = Vec::new();
        for i in 0..n {
            let (id, _, _) = join(&hub, 4 * n);
            hub.set_member(id, member(&i.to_string(), &format!("user{i}")));
            ids.push(id);
        }
        drain(&rx);
        let mut flushes = 0;
        let mut announced = 0;
        loop {
            let more = hub.flush_presence();
            let got = drain(&rx).len();
            assert!(got <= PRESENCE_BATCH, "{got} presence frames in one flush");
            announced += got;
            flushes += 1;
            if !more {
                break;
            }
        }
        assert_eq!(announced, n + 1, "everyone, the watcher included");
        assert_eq!(flushes, 3);
    }

    /// Issue 12: N logged-in clients disconnecting at once cause at most
    /// 10 × N presence pushes (before: ~N²/2), at the issue's scale
    /// (N = 1,000). The departures are spread over 300 ms, longer than one
    /// window, with the real flusher; `presence_pushes` counts them all. A
    /// watcher stays and ends up knowing that everyone else left.
    #[tokio::test(start_paused = true)]
    async fn clients_leaving_at_once_cause_linear_presence_pushes() {
        const N: usize = 1000;
        let hub = Hub::new();
        let mut clients = Vec::new();
        for i in 0..N {
            let (id, rx, _) = join(&hub, 4 * N);
            hub.set_member(id, member(&i.to_string(), &format!("user{i}")));
            clients.push((id, rx));
        }
        // Let the arrivals' flushes happen, then forget them.
        tokio::time::sleep(PRESENCE_MAX_HOLD * 3).await;
        for (_, rx) in &clients {
            drain(rx);
        }
        assert_eq!(hub.online().count, N as u64);
        let counted_before = hub.presence_pushes();
        let mut pushes = 0;
        let ((_, watcher), leavers) = clients.split_first().expect("clients");
        let mut watcher_view: std::collections::BTreeSet<String> =
            (1..N).map(|i| format!("user{i}")).collect();
        // Applies the watcher's pushes to its view; returns how many.
        let see = |view: &mut std::collections::BTreeSet<String>, frames: Vec<Push>| {
            let count = frames.len();
            for push in frames {
                if let Push::Presence { user, online, .. } = push {
                    if online {
                        view.insert(user);
                    } else {
                        view.remove(&user);
                    }
                }
            }
            count
        };
        for batch in leavers.chunks(N / 10) {
            for (id, rx) in batch {
                pushes += drain(rx).len();
                hub.leave(*id);
            }
            pushes += see(&mut watcher_view, drain(watcher));
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        tokio::time::sleep(PRESENCE_MAX_HOLD * 3).await;
        pushes += see(&mut watcher_view, drain(watcher));
        for (_, rx) in leavers {
            pushes += drain(rx).len();
        }
        assert!(watcher_view.is_empty(), "{watcher_view:?} still online");
        assert_eq!(hub.online().users, ["user0"]);
        assert_eq!(hub.presence_pushes() - counted_before, pushes as u64);
        assert!(
            pushes <= 10 * N,
            "{pushes} presence pushes for {N} departures"
        );
    }

    #[test]
    fn a_full_queue_disconnects_that_client_only() {
        let hub = Hub::default();
        let (_, _slow_rx, slow_kill) = join(&hub, 1); // the welcome fills it
        let (_, fast_rx, fast_kill) = join(&hub, 8);
        let push = Push::Shutdown {
            reason: "test".into(),
        };
        hub.broadcast_all(&push);
        assert!(slow_kill.is_cancelled());
        assert!(!fast_kill.is_cancelled());
        assert_eq!(drain(&fast_rx).len(), 2);
    }

    /// Issue 12: a member that stops reading while 8 KB chat messages flow
    /// is dropped once its queue would pass the byte bound (long before the
    /// frame bound), and what was queued for it is freed at once; a reader
    /// is not affected.
    #[test]
    fn a_client_that_stops_reading_is_dropped_at_the_byte_bound_and_freed() {
        const BOUND: usize = 1024 * 1024;
        let hub = Hub::default();
        let stalled = Arc::new(Outbox::with_byte_limit(1024, BOUND));
        let stalled_kill = CancellationToken::new();
        let s = hub.join(Arc::clone(&stalled), stalled_kill.clone(), |_| {
            Bytes::from_static(b"{}")
        });
        hub.set_member(s, member("1", "stalled"));
        let (r, reader, reader_kill) = join(&hub, 1024);
        hub.set_member(r, member("2", "reader"));
        hub.flush_presence();
        drain(&reader);
        let text = "x".repeat(8 * 1024);
        let mut pushed = 0;
        while !stalled_kill.is_cancelled() && pushed < 1000 {
            hub.broadcast_room(
                DEFAULT_ROOM,
                &Push::Shutdown {
                    reason: text.clone(),
                },
            );
            pushed += 1;
            assert_eq!(drain(&reader).len(), 1, "the reader gets every push");
        }
        assert!(stalled_kill.is_cancelled(), "never dropped");
        assert!(
            (120..=130).contains(&pushed),
            "dropped after {pushed} pushes of 8 KiB (1 MiB bound)"
        );
        assert!(!reader_kill.is_cancelled());
        assert!(stalled.take_frames().is_empty(), "its queue was freed");
    }

    /// Pipelined `chat_send`s: a run of pushes to one room reaches its
    /// members (and only them) in order, and lobby runs reach every
    /// logged-in client.
    #[test]
    fn a_run_of_room_pushes_arrives_in_order_at_members_only() {
        let hub = Hub::default();
        let (a, ra, _) = join(&hub, 16);
        let (b, rb, _) = join(&hub, 16);
        hub.set_rooms("1", ["jazz".to_owned()]);
        hub.set_member(a, member("1", "ada"));
        hub.set_rooms("2", []);
        hub.set_member(b, member("2", "bob"));
        drain(&ra);
        drain(&rb);
        let run: Vec<Push> = ["one", "two", "three"]
            .into_iter()
            .map(|user| Push::Typing {
                room: "jazz".into(),
                user: user.into(),
            })
            .collect();
        assert_eq!(hub.broadcast_room_all("jazz", &run), 1);
        assert_eq!(drain(&ra), run);
        assert!(drain(&rb).is_empty(), "not a member");
        assert_eq!(hub.broadcast_room_all("lobby", &run), 2);
        assert_eq!(drain(&ra), run);
        assert_eq!(drain(&rb), run);
    }

    /// Rooms issue: a room's pushes reach its members' clients only (all
    /// of a member's connections); lobby reaches every logged-in client;
    /// leaving stops them, and a user's rooms go when they go offline.
    #[test]
    fn room_pushes_reach_members_only() {
        let hub = Hub::default();
        let (a1, ra1, _) = join(&hub, 16);
        let (a2, ra2, _) = join(&hub, 16);
        let (b, rb, _) = join(&hub, 16);
        let (_anon, ranon, _) = join(&hub, 16);
        hub.set_rooms("1", ["lobby".to_owned(), "jazz".to_owned()]);
        hub.set_member(a1, member("1", "ada"));
        hub.set_member(a2, member("1", "ada"));
        hub.set_rooms("2", []);
        hub.set_member(b, member("2", "bob"));
        for rx in [&ra1, &ra2, &rb, &ranon] {
            drain(rx);
        }
        let push = Push::Typing {
            room: "jazz".into(),
            user: "ada".into(),
        };
        assert_eq!(hub.broadcast_room("jazz", &push), 2);
        assert_eq!(drain(&ra1), std::slice::from_ref(&push));
        assert_eq!(drain(&ra2), std::slice::from_ref(&push));
        assert!(drain(&rb).is_empty() && drain(&ranon).is_empty());
        hub.add_room("2", "jazz");
        assert_eq!(hub.broadcast_room("jazz", &push), 3);
        assert_eq!(hub.broadcast_room("lobby", &push), 3, "lobby: every member");
        hub.remove_room("1", "jazz");
        assert_eq!(hub.broadcast_room("jazz", &push), 1);
        hub.set_member(b, None);
        hub.add_room("2", "jazz");
        assert_eq!(
            hub.broadcast_room("jazz", &push),
            0,
            "offline users keep no rooms"
        );
        hub.send_to_user("1", &push, Some(a1));
        assert_eq!(drain(&ra2).last(), Some(&push));
        assert!(hub.is_online("1") && !hub.is_online("2"));
    }

    /// Issue 12: past the online threshold, an arrival storm costs each
    /// client one `presence_count` frame per flush, not one frame per
    /// arrival; below it, users are announced one by one again.
    #[test]
    fn a_large_lobby_gets_counts_not_names() {
        let hub = Hub::default();
        hub.set_presence_users_max(10);
        let (watcher, rx, _) = join(&hub, 1024);
        hub.set_member(watcher, member("w", "watcher"));
        hub.flush_presence();
        drain(&rx);
        let mut ids = Vec::new();
        for i in 0..40 {
            let (id, _, _) = join(&hub, 1024);
            hub.set_member(id, member(&i.to_string(), &format!("user{i}")));
            ids.push(id);
        }
        assert!(!hub.flush_presence(), "everything announced in one flush");
        assert_eq!(drain(&rx), [Push::PresenceCount { count: 41 }]);
        // Back under the threshold: names again (a mass departure is
        // already linear: each remaining client hears each departure once).
        for id in ids.drain(5..) {
            hub.leave(id);
        }
        while hub.flush_presence() {}
        let frames = drain(&rx);
        assert_eq!(frames.len(), 35);
        assert!(frames.iter().all(|p| matches!(
            p,
            Push::Presence {
                online: false,
                count: 6,
                ..
            }
        )));
        hub.leave(ids[0]);
        hub.flush_presence();
        assert_eq!(
            drain(&rx),
            [Push::Presence {
                user: "user0".into(),
                online: false,
                count: 5
            }]
        );
    }

    #[test]
    fn rename_changes_the_online_list() {
        let hub = Hub::default();
        let (a, _ra, _) = join(&hub, 8);
        hub.set_member(a, member("1", "giulia"));
        hub.rename("1", "giulia.r");
        assert_eq!(hub.online().users, ["giulia.r"]);
        hub.set_member(a, None);
        assert_eq!(hub.online().count, 0);
    }

    fn present(id: &str, name: &str) -> PresentUser {
        PresentUser {
            id: id.into(),
            name: name.into(),
        }
    }

    #[test]
    fn users_of_other_instances_are_online_here_until_their_instance_goes() {
        let hub = Hub::default();
        let (a, rx, _) = join(&hub, 64);
        hub.set_member(a, member("1", "giulia"));
        hub.flush_presence();
        drain(&rx);
        // Instance X lists marco, and giulia (logged in here too).
        hub.remote_presence(
            "x",
            "x:7878",
            vec![present("2", "marco"), present("1", "giulia")],
        );
        assert_eq!(hub.online().users, ["giulia", "marco"]);
        assert_eq!(hub.online().count, 2);
        while hub.flush_presence() {}
        assert_eq!(
            drain(&rx),
            [Push::Presence {
                user: "marco".into(),
                online: true,
                count: 2
            }],
            "giulia was online already: only marco is news"
        );
        // giulia leaves here but stays on X: no news.
        let (b, rx_b, _) = join(&hub, 64);
        hub.set_member(b, member("3", "ugo"));
        hub.set_member(a, None);
        while hub.flush_presence() {}
        assert!(
            !drain(&rx_b)
                .iter()
                .any(|p| matches!(p, Push::Presence { user, .. } if user == "giulia"))
        );
        assert_eq!(hub.local_users(), [present("3", "ugo")]);
        // The same list again: nothing changes.
        hub.remote_presence(
            "x",
            "x:7878",
            vec![present("2", "marco"), present("1", "giulia")],
        );
        assert!(!hub.flush_presence());
        assert!(drain(&rx_b).is_empty());
        // X goes silent: past the expiry its users are offline.
        hub.expire_remote(Duration::from_secs(60));
        assert_eq!(hub.online().count, 3, "heard from just now");
        hub.expire_remote(Duration::ZERO);
        assert_eq!(hub.online().users, ["ugo"]);
        while hub.flush_presence() {}
        let mut gone: Vec<String> = drain(&rx_b)
            .into_iter()
            .filter_map(|p| match p {
                Push::Presence {
                    user,
                    online: false,
                    count: 1,
                } => Some(user),
                _ => None,
            })
            .collect();
        gone.sort();
        assert_eq!(gone, ["giulia", "marco"]);
    }

    #[test]
    fn resync_tells_each_logged_in_client_its_rooms() {
        let hub = Hub::default();
        let (a, rx, _) = join(&hub, 64);
        let (_anonymous, rx_anonymous, _) = join(&hub, 64);
        hub.set_member(a, member("1", "giulia"));
        hub.set_rooms("1", ["jazz".to_owned(), "dm:giulia:marco".to_owned()]);
        drain(&rx);
        drain(&rx_anonymous);
        assert_eq!(hub.resync(), 1);
        assert_eq!(
            drain(&rx),
            [Push::Resync {
                rooms: vec!["lobby".into(), "dm:giulia:marco".into(), "jazz".into()]
            }]
        );
        assert!(drain(&rx_anonymous).is_empty());
    }
}
