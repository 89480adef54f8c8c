//! Cancelling a ticket, whole or in part, on every deployment, with the
//! same guarded single-document updates as booking (`booking.rs`).
//!
//! 1. **Commit point**: `active → cancelling` (guarded by owner, status,
//!    the quantity as read and "not checked in"), recording the seats to
//!    give back (`cancel_q`), a fresh operation id (`cancel_op`), a
//!    worker token and this instance's lease (`owner`, `lease_until`,
//!    renewed while the cancel runs: `lease.rs`).
//! 2. The seats go back to the event in one versioned update
//!    (`ticketing.rs`) that also runs the offer round and pushes a
//!    `releases` marker `{t, q, c: op}`; it is guarded by the marker's
//!    absence, so it happens at most once. If the event is cancelled or
//!    has started by then, the ticket goes back to `active` (worker
//!    guard) and the answer is `EventClosed`.
//! 3. The allowance goes back to the holding, with the same marker guard
//!    and a release version `rv` (as read, bumped by the update).
//!
//! **Fence.** A cancel can have two workers: its owner and, after a
//! takeover (`recovery.rs`, once the owner's lease ran out), recovery. The
//! marker guards alone would not stop a stale owner whose write arrives
//! after the new worker finished and pulled the markers. So steps 2 and 3
//! read the document, then check that the ticket is still `cancelling`
//! under their worker token, then write guarded on the version read (`wv`
//! on the event, `rv` on the holding). The markers are pulled only after
//! the ticket left that state, hence after any such check that could still
//! pass; and a return by the other worker after the read bumps the
//! version. Either way the stale write matches nothing: seats and
//! allowance go back at most once, whatever the timing.
//! 4. `cancelling → cancelled` (whole ticket) or `→ active` with the
//!    remaining seats (part of it); then the markers are pulled.
//!
//! Recovery finishes `cancelling` tickets whose lease ran out from step 2
//! on, under a lease of its own. Every step stops once the call has run
//! for `booking::LEASE` or its lease is lost or not renewed in time.

use chrono::{DateTime, Utc};
use coliseum_store::{Cancellation, NewOffers, OfferPolicy, StoreError, StoreResult};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};

use crate::booking::{Lease, now};
use crate::error::map_err;
use crate::lease::FaultPoint;
use crate::model::{MarkersDoc, TicketDoc, TicketStatus, holding_id, parse_id, to_u32};
use crate::store::Inner;
use crate::ticketing::{Change, Fence, Planned, SETTLE_EVERY, SETTLE_POLLS, offer_round};

/// A `releases` marker of cancel operation `op` (`None`: a cancel started
/// before partial cancels existed, whose markers carry no operation).
fn release_marker(ticket: ObjectId, quantity: i64, op: Option<ObjectId>) -> Bson {
    let mut marker = doc! { "t": ticket, "q": quantity };
    if let Some(op) = op {
        marker.insert("c", op);
    }
    Bson::Document(marker)
}

/// The filter "this operation's `releases` marker is not there yet".
fn release_absent(ticket: ObjectId, op: Option<ObjectId>) -> Document {
    match op {
        Some(op) => doc! { "releases.c": { "$ne": op } },
        None => doc! { "releases.t": { "$ne": ticket } },
    }
}

/// What the cancel's seat return did.
struct Returned {
    /// Seats for sale right after it.
    available: i64,
    /// Offers it made.
    offers: NewOffers,
}

impl Inner {
    /// See [`coliseum_store::Store::cancel_ticket`] and the module docs.
    pub async fn cancel_ticket(
        &self,
        user_id: &str,
        ticket_id: &str,
        quantity: Option<u32>,
        at: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<Cancellation> {
        self.remember(policy);
        let user = parse_id(user_id).ok_or(StoreError::NotFound)?;
        let ticket_id = parse_id(ticket_id).ok_or(StoreError::NotFound)?;
        let worker = format!("{:016x}", rand::random::<u64>());
        for _ in 0..SETTLE_POLLS {
            let mut ticket = self
                .tickets
                .find_one(doc! { "_id": ticket_id, "user_id": user })
                .await
                .map_err(|e| map_err("cancel_ticket", &e))?
                .ok_or(StoreError::NotFound)?;
            match ticket.status {
                TicketStatus::Active => {}
                // Another cancel of part of it is in flight.
                TicketStatus::Cancelling => {
                    tokio::time::sleep(SETTLE_EVERY).await;
                    continue;
                }
                _ => return Err(StoreError::NotFound),
            }
            if let Some(checked) = ticket.checked_in_at {
                return Err(StoreError::AlreadyCheckedIn {
                    at: crate::model::from_bson_time(checked),
                });
            }
            let event = self.event_doc(ticket.event_id, "cancel_ticket").await?;
            if event.is_none_or(|e| e.closed_at(at)) {
                return Err(StoreError::EventClosed);
            }
            let returned = quantity.map_or(ticket.quantity, i64::from);
            if returned <= 0 || returned > ticket.quantity {
                return Err(StoreError::Conflict("quantity".to_owned()));
            }
            let op = ObjectId::new();
            let grant = self.grant();
            // 1. The commit point.
            let claimed = self
                .tickets
                .update_one(
                    doc! {
                        "_id": ticket_id,
                        "user_id": user,
                        "status": "active",
                        "quantity": ticket.quantity,
                        "checked_in_at": { "$exists": false },
                    },
                    doc! { "$set": {
                        "status": "cancelling",
                        "since": now(),
                        "worker": &worker,
                        "cancel_q": returned,
                        "cancel_op": op,
                        "owner": &self.owner,
                        "lease_until": grant.until,
                    } },
                )
                .await
                .map_err(|e| map_err("cancel_ticket", &e))?;
            if claimed.matched_count == 0 {
                // Changed meanwhile (checked in, cancelled, cut): look again.
                continue;
            }
            ticket.status = TicketStatus::Cancelling;
            ticket.cancel_q = Some(returned);
            ticket.cancel_op = Some(op);
            let lease = Lease::start().owning(self.hold(ticket_id, "cancelling", &grant));
            return self
                .finish_cancel(&ticket, &worker, at, policy, &lease)
                .await;
        }
        Err(StoreError::Unavailable(
            "the ticket is being changed by another call; retry".to_owned(),
        ))
    }

    /// The steps after the commit point of a cancel, by `worker` (the owner
    /// or recovery after taking the ticket over); `at` is when the event
    /// must still be open.
    async fn finish_cancel(
        &self,
        ticket: &TicketDoc,
        worker: &str,
        at: DateTime<Utc>,
        policy: OfferPolicy,
        lease: &Lease,
    ) -> StoreResult<Cancellation> {
        let quantity = ticket.cancel_q.unwrap_or(ticket.quantity);
        let op = ticket.cancel_op;
        let holding = holding_id(ticket.user_id, ticket.event_id);
        lease.check()?;
        self.fault_point(FaultPoint::CancelBeforeSeats).await?;
        // 2. The seats, with the offer round.
        let returned = match self
            .return_seats(ticket, worker, quantity, at, policy)
            .await
        {
            Ok(returned) => returned,
            Err(StoreError::EventClosed) => {
                self.tickets
                    .update_one(
                        doc! { "_id": ticket.id, "status": "cancelling", "worker": worker },
                        doc! {
                            "$set": { "status": "active", "since": now() },
                            "$unset": {
                                "worker": "", "cancel_q": "", "cancel_op": "",
                                "owner": "", "lease_until": "",
                            },
                        },
                    )
                    .await
                    .map_err(|e| map_err("cancel_ticket", &e))?;
                return Err(StoreError::EventClosed);
            }
            Err(other) => return Err(other),
        };
        lease.check()?;
        // 3. The allowance.
        let fence = Fence {
            ticket: ticket.id,
            worker,
        };
        self.release_allowance(&holding, ticket.id, quantity, op, &fence)
            .await?;
        lease.check()?;
        // 4. Done: cancelled, or active with the seats that remain.
        let remaining = ticket.quantity - quantity;
        let set = if remaining > 0 {
            doc! { "status": "active", "quantity": remaining, "since": now() }
        } else {
            doc! { "status": "cancelled", "since": now() }
        };
        let done = self
            .tickets
            .update_one(
                doc! { "_id": ticket.id, "status": "cancelling", "worker": worker },
                doc! {
                    "$set": set,
                    "$unset": {
                        "worker": "", "cancel_q": "", "cancel_op": "",
                        "owner": "", "lease_until": "",
                    },
                },
            )
            .await
            .map_err(|e| map_err("cancel_ticket", &e))?;
        // Only whoever completed the cancel may drop the markers (they keep
        // the seat return idempotent until then).
        if done.matched_count == 1 {
            self.pull_releases(ticket.id, op, ticket.event_id, &holding)
                .await;
        }
        Ok(Cancellation {
            event_id: ticket.event_id.to_hex(),
            quantity: to_u32(quantity, "quantity")?,
            available: to_u32(returned.available.max(0), "available")?,
            remaining: to_u32(remaining.max(0), "quantity")?,
            offers: returned.offers,
        })
    }

    /// Step 2: gives `quantity` seats of `ticket` back to its event and
    /// runs the offer round, in one versioned update carrying the
    /// operation's `releases` marker (nothing happens when the marker is
    /// there already). `EventClosed` when the event is cancelled or has
    /// started at `at` and the seats were not given back yet.
    async fn return_seats(
        &self,
        ticket: &TicketDoc,
        worker: &str,
        quantity: i64,
        at: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<Returned> {
        let op = ticket.cancel_op;
        let fence = Fence {
            ticket: ticket.id,
            worker,
        };
        let (before, planned) = self
            .fenced_update(ticket.event_id, "cancel_ticket", Some(&fence), |event| {
                let applied = event.releases.iter().any(|m| m.t == ticket.id && m.c == op);
                if applied {
                    return Ok(Planned::Done(None));
                }
                if event.closed_at(at) {
                    return Err(StoreError::EventClosed);
                }
                let round = offer_round(
                    event,
                    event.waitlist.clone(),
                    event.available + quantity,
                    at,
                    policy,
                );
                let mut change = Change {
                    filter: release_absent(ticket.id, op),
                    ..Change::default()
                };
                change
                    .filter
                    .insert("cancelled_at", doc! { "$exists": false });
                change
                    .filter
                    .insert("starts_utc", doc! { "$gt": crate::model::to_bson_time(at) });
                change
                    .push
                    .insert("releases", release_marker(ticket.id, quantity, op));
                change.apply_round(&round, quantity)?;
                Ok(Planned::Write(Box::new(change), Some(round)))
            })
            .await?;
        Ok(match planned {
            Some(round) => Returned {
                available: before.available + quantity - round.offered,
                offers: round.grants,
            },
            // Given back by an earlier attempt (recovery).
            None => Returned {
                available: before.available,
                offers: Vec::new(),
            },
        })
    }

    /// Step 3: gives `quantity` seats of allowance back to the holding
    /// `holding`, pushing the operation's `releases` marker, once: guarded
    /// by the marker's absence and the release version `rv` as read, after
    /// checking `fence` (module docs). Nothing when the holding is missing
    /// or carries the marker already.
    async fn release_allowance(
        &self,
        holding: &str,
        ticket: ObjectId,
        quantity: i64,
        op: Option<ObjectId>,
        fence: &Fence<'_>,
    ) -> StoreResult<()> {
        let err = |e: mongodb::error::Error| map_err("cancel_ticket", &e);
        let holdings = self.holdings.clone_with_type::<MarkersDoc>();
        for _ in 0..SETTLE_POLLS {
            let Some(current) = holdings
                .find_one(doc! { "_id": holding })
                .await
                .map_err(err)?
            else {
                return Ok(());
            };
            let applied = current
                .releases
                .iter()
                .any(|m| m.t == ticket && (op.is_none() || m.c == op));
            if applied {
                return Ok(());
            }
            self.check_fence(fence).await?;
            let mut filter = release_absent(ticket, op);
            filter.insert("_id", holding);
            filter.insert(
                "rv",
                current
                    .rv
                    .map_or(Bson::Document(doc! { "$exists": false }), Bson::Int64),
            );
            let released = self
                .holdings
                .update_one(
                    filter,
                    doc! {
                        "$inc": { "held": -quantity, "rv": 1_i64 },
                        "$push": { "releases": release_marker(ticket, quantity, op) },
                    },
                )
                .await
                .map_err(err)?;
            if released.matched_count == 1 {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(
            "too much contention on the per-user limit; retry".to_owned(),
        ))
    }

    /// Removes the `releases` markers of a completed cancel from the event
    /// and the holding (failures are logged: recovery pulls them later).
    async fn pull_releases(
        &self,
        ticket: ObjectId,
        op: Option<ObjectId>,
        event: ObjectId,
        holding: &str,
    ) {
        let Some(op) = op else {
            self.pull_markers(ticket, event, holding, "releases").await;
            return;
        };
        let pull = doc! { "$pull": { "releases": { "c": op } } };
        if let Err(error) = self
            .events
            .update_one(doc! { "_id": event }, pull.clone())
            .await
        {
            tracing::warn!(%ticket, "marker cleanup left to recovery: {error}");
        }
        if let Err(error) = self
            .holdings
            .update_one(doc! { "_id": holding }, pull)
            .await
        {
            tracing::warn!(%ticket, "marker cleanup left to recovery: {error}");
        }
    }

    /// Recovery's entry to [`Self::finish_cancel`] for a ticket it took
    /// over under `lease`. A cancel that finds its event closed puts the
    /// ticket back to active (a cancelled event's sweep then cancels it).
    pub(crate) async fn resume_cancel(
        &self,
        ticket: &TicketDoc,
        worker: &str,
        lease: &Lease,
    ) -> StoreResult<()> {
        match self
            .finish_cancel(ticket, worker, coliseum_store::now(), self.policy(), lease)
            .await
        {
            Ok(_) | Err(StoreError::EventClosed) => Ok(()),
            Err(other) => Err(other),
        }
    }
}
