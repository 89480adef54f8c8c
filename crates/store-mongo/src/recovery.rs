//! Crash recovery for the marker path of `booking.rs` (deployments without
//! transactions). Runs at start-up and then every [`RECONCILE_EVERY`] in
//! the background; [`crate::MongoStore::reconcile`] runs it on demand.
//!
//! # Several instances on one database: leases
//! Recovery runs in every instance, and an instance that starts must never
//! undo a booking (or take over a cancel) that another instance is still
//! completing. A cut-off on the ticket's age cannot promise that: `since`
//! is written by the *booking* host's clock and compared with the
//! *recovering* host's clock (a skew of a minute makes a fresh ticket look
//! old), and a call can outlive any fixed age while it is alive (retries
//! under contention, a process paused between two steps, a MongoDB freeze
//! holding a write back). So every `pending` and `cancelling` ticket
//! carries its owner's lease (`owner` = instance id, `lease_until`), renewed
//! while the call runs, and recovery takes such a ticket over only when
//! `lease_until` is older than its own clock minus
//! [`crate::CLOCK_SKEW_MARGIN`] — whatever cut-off it was called with, zero
//! included — claiming it with one update filtered on the `lease_until` it
//! read (a renewal meanwhile, or another recovering instance, makes the
//! claim match nothing). `lease.rs` gives the rule and the reasoning.
//! Tickets written before leases existed (no `lease_until`) and `failed`
//! tickets go by the cut-off on `since`, as before.
//!
//! # What a crash can leave, and what recovery does
//! 1. a `pending` ticket whose lease ran out (the booking died before its
//!    commit point): claim it `pending → failed`, undo its `holds` markers
//!    (seats and allowance come back), delete it;
//!    A pending ticket made from a waiting-list offer whose event already
//!    carries its `holds` marker passed its commit point (the offer is
//!    gone, its seats are the ticket's): it is activated instead;
//! 2. a `failed` ticket older than the cut-off (died while rolling back):
//!    undo its markers, delete it;
//! 3. a `cancelling` ticket whose lease ran out (died after the cancel's
//!    commit point): take it over (new worker token, this instance's
//!    lease, renewed while it works) and finish the cancel (or put it back
//!    to active if its event closed meanwhile);
//! 4. a cancelled event whose ticket sweep is older than the cut-off
//!    (`cancel_event` died half-way): sweep again, then clear the flag;
//! 5. markers whose ticket is settled: a `holds` marker of an active,
//!    cancelling or cancelled ticket is pulled (the seats stay sold); of a
//!    failed or missing ticket it is undone (on an event: through the
//!    offer round); a `releases` marker is pulled unless its ticket is
//!    still `cancelling` under the marker's operation. Markers of pending
//!    tickets are left to step 1.
//!
//! Every undo is a single update filtered on the marker, so running
//! recovery twice, or concurrently in two processes, or concurrently with
//! the owner's own rollback, gives seats back at most once.

use std::time::Duration;

use futures::TryStreamExt as _;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};

use coliseum_store::StoreResult;

use crate::booking::Lease;
use crate::error::map_err;
use crate::lease::bson_before;
use crate::model::{MarkersDoc, TicketDoc, TicketStatus, holding_id, names, to_bson_time};
use crate::store::Inner;

/// The cut-off of the background passes: age after which a `failed`
/// ticket, an interrupted event-cancel sweep, or a `pending`/`cancelling`
/// ticket written before leases existed is taken over. Longer than
/// `booking::LEASE`, so the original call has stopped writing by then.
/// Tickets with a lease go by the lease instead (module docs).
pub const STALE_AFTER: Duration = Duration::from_secs(120);

/// How often the background task runs recovery.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(60);

/// What one recovery pass did (all zero on a healthy store).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Unfinished bookings rolled back (pending or failed tickets removed).
    pub bookings_rolled_back: u64,
    /// Offer acceptances past their commit point that were activated.
    pub accepts_finished: u64,
    /// Interrupted `cancel_event` ticket sweeps completed.
    pub event_cancels_finished: u64,
    /// Unfinished cancels completed.
    pub cancels_finished: u64,
    /// Markers undone (seats or allowance given back).
    pub markers_undone: u64,
    /// Markers of settled tickets removed (nothing given back).
    pub markers_cleared: u64,
}

/// Upper bound on the documents one pass looks at per step, so a pass stays
/// bounded; the next pass continues.
const BATCH: i64 = 1_000;

impl Inner {
    /// One recovery pass: leased tickets whose lease ran out (by this
    /// store's skew margin), and everything else whose state is older than
    /// `older_than`.
    pub async fn reconcile(&self, older_than: Duration) -> StoreResult<RecoveryReport> {
        let mut report = RecoveryReport::default();
        let cutoff = bson_before(older_than);
        let lease_cutoff = bson_before(self.lease_timing().skew_margin);
        let err = |e: mongodb::error::Error| map_err("recovery", &e);

        // 1 and 2: unfinished bookings.
        let [leased, legacy] = expired("pending", cutoff, lease_cutoff);
        let filter = doc! { "$or": [
            leased,
            legacy,
            { "status": "failed", "since": { "$lt": cutoff } },
        ] };
        let stale = self.stale_tickets(filter).await.map_err(err)?;
        for ticket in stale {
            if ticket.status == TicketStatus::Pending
                && ticket.offer_id.is_some()
                && self.roll_forward(&ticket).await?
            {
                report.accepts_finished += 1;
                continue;
            }
            if ticket.status == TicketStatus::Pending {
                let claimed = self
                    .tickets
                    .update_one(
                        claim_filter(&ticket, "pending"),
                        doc! {
                            "$set": { "status": "failed", "since": to_bson_time(coliseum_store::now()) },
                            "$unset": { "request_ref": "", "owner": "", "lease_until": "" },
                        },
                    )
                    .await
                    .map_err(err)?;
                if claimed.matched_count == 0 {
                    continue;
                }
            }
            report.markers_undone += self.undo_ticket_holds(&ticket).await?;
            self.tickets
                .delete_one(doc! { "_id": ticket.id, "status": "failed" })
                .await
                .map_err(err)?;
            report.bookings_rolled_back += 1;
        }

        // 3: unfinished cancels.
        let [leased, legacy] = expired("cancelling", cutoff, lease_cutoff);
        let stale = self
            .stale_tickets(doc! { "$or": [leased, legacy] })
            .await
            .map_err(err)?;
        for ticket in stale {
            let worker = format!("{:016x}", rand::random::<u64>());
            let grant = self.grant();
            let taken = self
                .tickets
                .update_one(
                    claim_filter(&ticket, "cancelling"),
                    doc! { "$set": {
                        "worker": &worker,
                        "since": to_bson_time(coliseum_store::now()),
                        "owner": &self.owner,
                        "lease_until": grant.until,
                    } },
                )
                .await
                .map_err(err)?;
            if taken.matched_count == 1 {
                let lease = Lease::start().owning(self.hold(ticket.id, "cancelling", &grant));
                self.resume_cancel(&ticket, &worker, &lease).await?;
                report.cancels_finished += 1;
            }
        }

        // 4: interrupted event cancellations.
        let sweeps: Vec<Document> = self
            .events
            .clone_with_type::<Document>()
            .find(doc! { "sweep": { "$lt": cutoff } })
            .projection(doc! { "_id": 1, "sweep": 1 })
            .limit(BATCH)
            .await
            .map_err(err)?
            .try_collect()
            .await
            .map_err(err)?;
        for event in sweeps {
            let (Ok(id), Ok(since)) = (event.get_object_id("_id"), event.get_datetime("sweep"))
            else {
                continue;
            };
            if self.sweep_tickets(id, ObjectId::new()).await? {
                self.events
                    .update_one(
                        doc! { "_id": id, "sweep": since },
                        doc! { "$unset": { "sweep": "" } },
                    )
                    .await
                    .map_err(err)?;
                report.event_cancels_finished += 1;
            }
        }

        // 5: markers of settled tickets.
        for collection in [names::EVENTS, names::HOLDINGS] {
            let (undone, cleared) = self.settle_markers(collection).await?;
            report.markers_undone += undone;
            report.markers_cleared += cleared;
        }
        if report != RecoveryReport::default() {
            tracing::info!(
                ?report,
                "MongoDB store recovery repaired interrupted operations"
            );
        }
        Ok(report)
    }

    /// At most [`BATCH`] tickets matching `filter`.
    async fn stale_tickets(&self, filter: Document) -> mongodb::error::Result<Vec<TicketDoc>> {
        self.tickets
            .find(filter)
            .limit(BATCH)
            .await?
            .try_collect()
            .await
    }

    /// Activates a stale pending ticket made from an offer when its event
    /// carries the ticket's `holds` marker (the acceptance passed its
    /// commit point); pulls the markers. False when there is no marker.
    async fn roll_forward(&self, ticket: &TicketDoc) -> StoreResult<bool> {
        let err = |e: mongodb::error::Error| map_err("recovery", &e);
        let marked = self
            .events
            .find_one(doc! { "_id": ticket.event_id, "holds.t": ticket.id })
            .await
            .map_err(err)?
            .is_some();
        if !marked {
            return Ok(false);
        }
        let activated = self
            .tickets
            .update_one(
                claim_filter(ticket, "pending"),
                doc! {
                    "$set": { "status": "active", "since": to_bson_time(coliseum_store::now()) },
                    "$unset": { "owner": "", "lease_until": "" },
                },
            )
            .await
            .map_err(err)?;
        if activated.matched_count == 1 {
            let holding = holding_id(ticket.user_id, ticket.event_id);
            self.pull_markers(ticket.id, ticket.event_id, &holding, "holds")
                .await;
        }
        Ok(activated.matched_count == 1)
    }

    /// Undoes the `holds` markers of a failed ticket; returns how many.
    async fn undo_ticket_holds(&self, ticket: &TicketDoc) -> StoreResult<u64> {
        let holding = holding_id(ticket.user_id, ticket.event_id);
        let seats = self.undo_event_hold(ticket.event_id, ticket.id).await?;
        let allowance = self
            .undo_marker(
                names::HOLDINGS,
                Bson::String(holding),
                ticket.id,
                "held",
                -1,
            )
            .await
            .map_err(|e| map_err("recovery", &e))?;
        Ok(u64::from(seats) + u64::from(allowance))
    }

    /// Step 5 for one collection (`events` or `holdings`); returns (undone,
    /// cleared).
    async fn settle_markers(&self, collection: &str) -> StoreResult<(u64, u64)> {
        let err = |e: mongodb::error::Error| map_err("recovery", &e);
        let coll = self.db.collection::<MarkersDoc>(collection);
        // Served by the sparse `holds.t` / `releases.t` indexes: documents
        // without markers are not even looked at.
        let filter = doc! { "$or": [
            { "holds.t": { "$exists": true } },
            { "releases.t": { "$exists": true } },
        ] };
        let docs: Vec<MarkersDoc> = coll
            .find(filter)
            .limit(BATCH)
            .await
            .map_err(err)?
            .try_collect()
            .await
            .map_err(err)?;
        let events = collection == names::EVENTS;
        let (mut undone, mut cleared) = (0, 0);
        for doc in docs {
            for marker in &doc.holds {
                let status = self.ticket(marker.t).await.map_err(err)?.map(|t| t.status);
                match status {
                    None | Some(TicketStatus::Failed) => {
                        let done = match (&doc.id, events) {
                            (Bson::ObjectId(event), true) => {
                                self.undo_event_hold(*event, marker.t).await?
                            }
                            _ => self
                                .undo_marker(collection, doc.id.clone(), marker.t, "held", -1)
                                .await
                                .map_err(err)?,
                        };
                        if done {
                            undone += 1;
                        }
                    }
                    Some(TicketStatus::Pending) => {}
                    Some(
                        TicketStatus::Active | TicketStatus::Cancelling | TicketStatus::Cancelled,
                    ) => {
                        cleared += pull(&coll, &doc.id, "holds", marker.t).await.map_err(err)?;
                    }
                }
            }
            for marker in &doc.releases {
                let ticket = self.ticket(marker.t).await.map_err(err)?;
                let in_use = ticket.is_some_and(|t| {
                    t.status == TicketStatus::Cancelling && t.cancel_op == marker.c
                });
                if !in_use {
                    let removed = match marker.c {
                        Some(op) => pull_op(&coll, &doc.id, op).await,
                        None => pull(&coll, &doc.id, "releases", marker.t).await,
                    };
                    cleared += removed.map_err(err)?;
                }
            }
        }
        Ok((undone, cleared))
    }

    /// Ticket `id`, `None` when it does not exist.
    async fn ticket(&self, id: ObjectId) -> mongodb::error::Result<Option<TicketDoc>> {
        self.tickets.find_one(doc! { "_id": id }).await
    }
}

/// The two `$or` branches of "tickets in `status` recovery may take
/// over": the lease ran out before `lease_cutoff`; or there is no lease
/// (written before leases existed) and the state is older than `cutoff`.
/// (Flat branches: mongo-java-server does not match an `$or` nested in
/// another one's branch.)
fn expired(
    status: &str,
    cutoff: mongodb::bson::DateTime,
    lease_cutoff: mongodb::bson::DateTime,
) -> [Document; 2] {
    [
        doc! { "status": status, "lease_until": { "$lt": lease_cutoff } },
        doc! { "status": status, "lease_until": { "$exists": false }, "since": { "$lt": cutoff } },
    ]
}

/// The claim of `ticket` as read, in `status`: matches only while its
/// state and lease are exactly as read, so a renewal by a live owner, the
/// owner's own commit point, or another recovering instance's claim makes
/// it match nothing.
fn claim_filter(ticket: &TicketDoc, status: &str) -> Document {
    let lease = ticket
        .lease_until
        .map_or(Bson::Document(doc! { "$exists": false }), Bson::DateTime);
    doc! { "_id": ticket.id, "status": status, "since": ticket.since, "lease_until": lease }
}

/// `$pull`s the `array` marker of `ticket` from document `id`; 1 if removed.
async fn pull(
    coll: &mongodb::Collection<MarkersDoc>,
    id: &Bson,
    array: &str,
    ticket: ObjectId,
) -> mongodb::error::Result<u64> {
    let update: Document = doc! { "$pull": { array: { "t": ticket } } };
    let result = coll.update_one(doc! { "_id": id.clone() }, update).await?;
    Ok(result.modified_count)
}

/// `$pull`s the `releases` marker of cancel operation `op` from document
/// `id`; 1 if removed.
async fn pull_op(
    coll: &mongodb::Collection<MarkersDoc>,
    id: &Bson,
    op: ObjectId,
) -> mongodb::error::Result<u64> {
    let update: Document = doc! { "$pull": { "releases": { "c": op } } };
    let result = coll.update_one(doc! { "_id": id.clone() }, update).await?;
    Ok(result.modified_count)
}
