//! Coalesced `event_update` pushes for bookings and cancellations.
//!
//! During an on-sale surge every booking changes the seat count, and pushing
//! each change to every connected client multiplies into a push storm
//! (measured: 3 million frames for one 1,000-buyer sale, 79% of the server's
//! CPU; docs/performance.md). Instead a booking only marks its event dirty;
//! one flusher task pushes each dirty event's *current* seat count (read
//! from the store at flush time, so the latest value always wins whatever
//! order the handlers finished in), at most once per [`WINDOW`]. The first
//! change after a quiet period is pushed at once; later ones within the
//! window are merged.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use coliseum_protocol::Push;
use coliseum_store::Store;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;

/// Shortest time between two pushes of the same event's seat count.
pub(crate) const WINDOW: Duration = Duration::from_millis(100);

/// Events whose seat count changed since the last flush.
struct Dirty {
    events: Mutex<HashSet<String>>,
    wake: Notify,
}

/// See the module docs.
pub(crate) struct SeatUpdates {
    dirty: Arc<Dirty>,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    shutdown: CancellationToken,
    started: AtomicBool,
}

impl SeatUpdates {
    /// A coalescer pushing through `hub` with counts read from `store`;
    /// its flusher stops after a last flush when `shutdown` is cancelled.
    pub(crate) fn new(store: Arc<dyn Store>, hub: Arc<Hub>, shutdown: CancellationToken) -> Self {
        Self {
            dirty: Arc::new(Dirty {
                events: Mutex::new(HashSet::new()),
                wake: Notify::new(),
            }),
            store,
            hub,
            shutdown,
            started: AtomicBool::new(false),
        }
    }

    /// Records that `event_id`'s seats changed (call after the store
    /// committed the change), here and on the other instances. Must be
    /// called inside a tokio runtime: the first call starts the flusher
    /// task.
    pub(crate) fn changed(&self, event_id: &str) {
        self.changed_here(event_id);
        self.hub.relay(crate::bus::BusMessage::Seats {
            event_id: event_id.to_owned(),
        });
    }

    /// [`SeatUpdates::changed`] on this instance only (told by another).
    pub(crate) fn changed_here(&self, event_id: &str) {
        self.dirty
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(event_id.to_owned());
        if !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(flusher(
                Arc::clone(&self.dirty),
                Arc::clone(&self.store),
                Arc::clone(&self.hub),
                self.shutdown.clone(),
            ));
        }
        self.dirty.wake.notify_one();
    }
}

async fn flusher(
    dirty: Arc<Dirty>,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = dirty.wake.notified() => {}
            () = shutdown.cancelled() => {
                flush(&dirty, &*store, &hub).await;
                return;
            }
        }
        flush(&dirty, &*store, &hub).await;
        tokio::time::sleep(WINDOW).await;
    }
}

async fn flush(dirty: &Dirty, store: &dyn Store, hub: &Hub) {
    let events: Vec<String> =
        std::mem::take(&mut *dirty.events.lock().unwrap_or_else(PoisonError::into_inner))
            .into_iter()
            .collect();
    for event_id in events {
        match store.event(&event_id).await {
            Ok(Some(event)) => hub.broadcast_all(&Push::EventUpdate {
                event_id,
                available: event.available,
            }),
            Ok(None) => {}
            // Clients resynchronise from list_events after reconnecting; a
            // store outage must not stop later updates.
            Err(e) => tracing::warn!(%event_id, error = %e, "cannot read seats for event_update"),
        }
    }
}
