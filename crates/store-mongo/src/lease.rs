//! Ownership leases on tickets in flight, so that several Coliseum
//! instances can share one database (issue 15): recovery in one instance
//! must never undo a booking, or take over a cancel, that another instance
//! is still running.
//!
//! # The rule
//! - Every store open has an **instance id** (`<16 random hex digits>@<host
//!   name>`: unique per open, readable by people).
//! - A `pending` ticket (a booking or an offer acceptance in flight) and a
//!   `cancelling` ticket (a cancel in flight) carry `owner` (that id) and
//!   `lease_until` (the owner's clock + [`LEASE_TTL`]), written in the same
//!   insert or update that enters the state.
//! - While the operation runs, its owner renews `lease_until` every
//!   [`LEASE_RENEW_EVERY`] (an update filtered on `_id`, `status` and
//!   `owner`) and issues no write once its own deadline has passed: the
//!   time it sent its last successful renewal (or the insert) plus
//!   [`LEASE_TTL`], on the monotonic clock (immune to clock steps) *and* on
//!   the wall clock (the monotonic one does not count a host's suspend).
//!   A renewal that finds the ticket no longer its own (taken over) stops
//!   the operation at its next step too.
//! - Recovery takes over a leased ticket only when `lease_until` is older
//!   than its own clock minus [`CLOCK_SKEW_MARGIN`], whatever the cut-off it
//!   was called with, and claims it with one update filtered on the
//!   `lease_until` it read: a renewal landing in between makes the claim
//!   match nothing, and of two recovering instances only one claim matches.
//! - Tickets written before leases existed (no `lease_until`) are taken over
//!   by the old rule: their state is older than the cut-off
//!   (`recovery::STALE_AFTER` in the background).
//!
//! # Why it is safe
//! A live owner keeps `lease_until` at least `LEASE_TTL − LEASE_RENEW_EVERY`
//! (20 s) ahead of its own clock, so recovery on another host takes it over
//! only if that host's clock is more than 20 s + [`CLOCK_SKEW_MARGIN`]
//! (80 s in all) ahead. An owner that stopped renewing (it died, was
//! paused, or lost MongoDB) has stopped writing by its deadline, which is
//! no later than `lease_until` on its own clock; takeover comes at least
//! `CLOCK_SKEW_MARGIN − skew` later, so a write the owner sent just before
//! its deadline has that long to reach MongoDB. Even when these bounds are
//! broken, a booking is never half-done: its commit point and recovery's
//! claim are both guarded on `status: "pending"` (one wins), and a seat
//! move that lands late carries its marker, which the next pass undoes;
//! and a stale cancel worker's seat or allowance return is fenced off
//! (`cancel.rs`): it checks, between its read and its versioned write,
//! that the ticket is still cancelling under its worker token.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use coliseum_store::{StoreError, StoreResult};
use mongodb::bson::doc;
use mongodb::bson::oid::ObjectId;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::model::to_bson_time;
use crate::store::Inner;

/// How far ahead of its owner's clock a lease runs out.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// How often the owner of an operation still running renews its lease.
pub const LEASE_RENEW_EVERY: Duration = Duration::from_secs(10);

/// How long after `lease_until` (on its own clock) recovery waits before
/// taking a ticket over: the clock skew between hosts it tolerates, and the
/// time a write sent just before the owner's deadline has to land.
pub const CLOCK_SKEW_MARGIN: Duration = Duration::from_secs(60);

/// The lease timing of one store (tests shorten it; production uses the
/// defaults, [`LEASE_TTL`], [`LEASE_RENEW_EVERY`], [`CLOCK_SKEW_MARGIN`]).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// How far ahead of the owner's clock a lease runs out.
    pub ttl: Duration,
    /// How often a running operation renews its lease; below `ttl`.
    pub renew_every: Duration,
    /// How long after a lease ran out this store's recovery waits.
    pub skew_margin: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        Self {
            ttl: LEASE_TTL,
            renew_every: LEASE_RENEW_EVERY,
            skew_margin: CLOCK_SKEW_MARGIN,
        }
    }
}

/// Where a test fault is injected (tests of several instances).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// In a booking, after its seats are reserved, before its commit point.
    BookingBeforeCommit,
    /// In a cancel (or a taken-over one), after its commit point and its
    /// lease check, before the seats go back.
    CancelBeforeSeats,
}

/// A fault to inject at a [`FaultPoint`].
#[doc(hidden)]
#[derive(Debug)]
pub enum Fault {
    /// Stop there (still renewing the lease, as a slow but live owner):
    /// send on `reached`, then wait until `resume` fires or is dropped.
    Hold {
        /// Told when the booking reached the seam.
        reached: oneshot::Sender<()>,
        /// The booking goes on when this fires or its sender is dropped.
        resume: oneshot::Receiver<()>,
    },
    /// Answer `Internal` at once without undoing anything, as a process
    /// that died there: the lease is no longer renewed.
    Crash,
}

/// This store open's instance id: `<16 random hex digits>@<host name>`.
pub(crate) fn instance_id() -> String {
    format!("{:016x}@{}", rand::random::<u64>(), host_name())
}

/// The host name (for people reading `owner`), `unknown-host` if unknown.
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// `now + ahead` as a BSON date (saturating).
pub(crate) fn bson_after(ahead: Duration) -> mongodb::bson::DateTime {
    let now = to_bson_time(coliseum_store::now()).timestamp_millis();
    let ahead = i64::try_from(ahead.as_millis()).unwrap_or(i64::MAX);
    mongodb::bson::DateTime::from_millis(now.saturating_add(ahead))
}

/// `now − behind` as a BSON date (saturating).
pub(crate) fn bson_before(behind: Duration) -> mongodb::bson::DateTime {
    let now = to_bson_time(coliseum_store::now()).timestamp_millis();
    let behind = i64::try_from(behind.as_millis()).unwrap_or(i64::MAX);
    mongodb::bson::DateTime::from_millis(now.saturating_sub(behind))
}

/// A lease about to be written: `lease_until` for the document and the
/// owner's local deadline, taken at the same moment (before the write).
pub(crate) struct Grant {
    /// The stored `lease_until` (owner's clock + ttl).
    pub until: mongodb::bson::DateTime,
    /// The owner stops writing at this monotonic instant.
    deadline: Instant,
}

/// What the owner and its renewal task share.
struct Shared {
    /// The local deadline, moved on by every successful renewal.
    deadline: Mutex<Instant>,
    /// The stored `lease_until` (unix milliseconds, this host's clock):
    /// the same deadline on the wall clock, which keeps running while the
    /// host is suspended.
    until_ms: AtomicI64,
    /// Set when a renewal found the ticket no longer this owner's.
    lost: AtomicBool,
}

/// The lease an operation holds on its ticket while it runs; renewed in the
/// background until dropped.
pub(crate) struct Owned {
    /// Shared with the renewal task.
    shared: Arc<Shared>,
    /// Stops the renewal task (on drop).
    stop: CancellationToken,
}

impl Owned {
    /// `Err(Unavailable)` once the lease is lost or its deadline passed:
    /// the operation must not write any more.
    pub(crate) fn check(&self) -> StoreResult<()> {
        if self.shared.lost.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(
                "another server instance took this operation over; retry".to_owned(),
            ));
        }
        let deadline = *self
            .shared
            .deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let until_ms = self.shared.until_ms.load(Ordering::Acquire);
        let now_ms = to_bson_time(coliseum_store::now()).timestamp_millis();
        if Instant::now() >= deadline || now_ms >= until_ms {
            return Err(StoreError::Unavailable(
                "the operation could not renew its lease; recovery will finish or undo it"
                    .to_owned(),
            ));
        }
        Ok(())
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Inner {
    /// This store's lease timing.
    pub(crate) fn lease_timing(&self) -> LeaseTiming {
        *self
            .lease_timing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A new lease for a ticket about to enter `pending` or `cancelling`.
    pub(crate) fn grant(&self) -> Grant {
        let ttl = self.lease_timing().ttl;
        Grant {
            deadline: Instant::now() + ttl,
            until: bson_after(ttl),
        }
    }

    /// Holds the lease `grant` on `ticket` (written with `status` and this
    /// store's `owner`): renews it every `renew_every` until the returned
    /// value is dropped. Only the sleep races the stop signal, never a
    /// driver call.
    pub(crate) fn hold(&self, ticket: ObjectId, status: &'static str, grant: &Grant) -> Owned {
        let timing = self.lease_timing();
        let shared = Arc::new(Shared {
            deadline: Mutex::new(grant.deadline),
            until_ms: AtomicI64::new(grant.until.timestamp_millis()),
            lost: AtomicBool::new(false),
        });
        let stop = CancellationToken::new();
        let (tickets, owner) = (self.tickets.clone(), self.owner.clone());
        let (task_shared, task_stop) = (Arc::clone(&shared), stop.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = task_stop.cancelled() => return,
                    () = tokio::time::sleep(timing.renew_every) => {}
                }
                let (sent, until) = (Instant::now(), bson_after(timing.ttl));
                let renewed = tickets
                    .update_one(
                        doc! { "_id": ticket, "status": status, "owner": &owner },
                        doc! { "$set": { "lease_until": until } },
                    )
                    .await;
                match renewed {
                    Ok(result) if result.matched_count == 1 => {
                        *task_shared
                            .deadline
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner) = sent + timing.ttl;
                        task_shared
                            .until_ms
                            .store(until.timestamp_millis(), Ordering::Release);
                    }
                    // Settled by the operation itself, or taken over.
                    Ok(_) => {
                        task_shared.lost.store(true, Ordering::Release);
                        return;
                    }
                    // The deadline stays where it was: the owner stops there.
                    Err(error) => tracing::warn!(%ticket, "lease renewal failed: {error}"),
                }
            }
        });
        Owned { shared, stop }
    }

    /// The test seam `point` (see [`Fault`]); nothing unless a test armed
    /// a fault there.
    pub(crate) async fn fault_point(&self, point: FaultPoint) -> StoreResult<()> {
        if !self.fault_armed.load(Ordering::Acquire) {
            return Ok(());
        }
        let fault = {
            let mut armed = self.fault.lock().unwrap_or_else(PoisonError::into_inner);
            match armed.take() {
                Some((at, fault)) if at == point => {
                    self.fault_armed.store(false, Ordering::Release);
                    Some(fault)
                }
                other => {
                    *armed = other;
                    None
                }
            }
        };
        match fault {
            None => Ok(()),
            Some(Fault::Hold { reached, resume }) => {
                // The test may have stopped listening; going on is right.
                let _ = reached.send(());
                let _ = resume.await;
                Ok(())
            }
            Some(Fault::Crash) => Err(StoreError::Internal(format!("injected crash at {point:?}"))),
        }
    }
}
