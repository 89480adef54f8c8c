//! What `chat_send` needs to know about a room and its sender, kept in
//! memory so that a message costs no store read (rooms issue): the room's
//! settings (kind, slow mode) and each poster's mute. Membership itself
//! comes from the hub, which holds the rooms of every logged-in user.
//!
//! Write-through: the handlers that change these facts (`room_create`,
//! `slow_mode`, `mute`) update the cache after the store, and a miss is
//! filled from the store. With several instances on one MongoDB, slow
//! mode and mutes also cross the bus (`crate::bus`) and update every
//! instance's cache; a new room is a miss elsewhere, read from the store.
//!
//! Bounded: past [`MAX_ENTRIES`] entries a map is emptied and refilled on
//! demand.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use chrono::{DateTime, Utc};
use coliseum_store::Room;

/// Entries per map before it is emptied.
const MAX_ENTRIES: usize = 100_000;

/// (room, user id) → the end of the user's mute there (`None`: not muted).
type Mutes = HashMap<(String, String), Option<DateTime<Utc>>>;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct RoomCache {
    /// Rooms by name.
    rooms: RwLock<HashMap<String, Room>>,
    /// Known mutes.
    mutes: RwLock<Mutes>,
}

impl RoomCache {
    /// A cached room.
    pub(crate) fn room(&self, name: &str) -> Option<Room> {
        self.rooms
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Caches `room` (after reading or changing it in the store).
    pub(crate) fn put_room(&self, room: Room) {
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        if rooms.len() >= MAX_ENTRIES {
            rooms.clear();
        }
        rooms.insert(room.name.clone(), room);
    }

    /// A room's slow mode changed.
    pub(crate) fn set_slow_mode(&self, name: &str, seconds: u32) {
        if let Some(room) = self
            .rooms
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(name)
        {
            room.slow_mode_seconds = seconds;
        }
    }

    /// The cached mute of `user_id` in `room`: `Some(None)` when known not
    /// to be muted, `None` when unknown.
    pub(crate) fn mute(&self, room: &str, user_id: &str) -> Option<Option<DateTime<Utc>>> {
        self.mutes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(room.to_owned(), user_id.to_owned()))
            .copied()
    }

    /// Caches the mute of `user_id` in `room`.
    pub(crate) fn put_mute(&self, room: &str, user_id: &str, until: Option<DateTime<Utc>>) {
        let mut mutes = self.mutes.write().unwrap_or_else(PoisonError::into_inner);
        if mutes.len() >= MAX_ENTRIES {
            mutes.clear();
        }
        mutes.insert((room.to_owned(), user_id.to_owned()), until);
    }
}
