//! Booking and cancelling: never oversell, never exceed the per-user limit,
//! and survive a crash between steps.
//!
//! # One algorithm on every deployment
//! Standalone server, replica set, sharded cluster or mongo-java-server:
//! booking is the same sequence of single-document atomic updates, each
//! guarded by a filter, with reconciliation (`recovery.rs`) finishing or
//! undoing what a crash left. (A multi-document transaction path for
//! replica sets existed but was run by no test or CI job; untested code
//! does not ship, so it was removed: issue 11.) The ticket is written
//! first as `pending`:
//!   1. insert the ticket `{status: "pending"}` (the unique `request_ref`
//!      index makes a request key usable once per user);
//!   2. reserve the user's allowance on the holding
//!      `{_id: "<user>:<event>"}`: filter `held ≤ max − q`, `$inc held +q`,
//!      `$push holds {t: ticket, q}` (upsert; a lost upsert race is a
//!      duplicate key, then re-read and retry);
//!   3. reserve the seats on the event: filter `available ≥ q`,
//!      `$inc available −q`, `$push holds {t: ticket, q}`
//!      (`findOneAndUpdate`; `available` after = before − q, see
//!      `store::loop_upsert_counter` for why not `ReturnDocument::After`);
//!   4. activate: `pending → active` (guarded by `status: "pending"`):
//!      **this is the commit point**;
//!   5. `$pull` the two markers (cleanup only).
//!
//!   On failure the booking claims its ticket `pending → failed` (which also
//!   frees its request key), undoes each marker that is still there
//!   (`$inc` back and `$pull` in one update filtered on the marker, so an
//!   undo happens at most once) and deletes the ticket. Because every seat
//!   move carries its ticket's marker in the same atomic update, a crash at
//!   any point leaves enough to finish or undo it; `recovery.rs` does that.
//!
//!   Cancelling: see `cancel.rs`.
//!
//! Every multi-step call stops issuing writes once it has run for [`LEASE`]
//! (it then answers `Unavailable`). A booking's or cancel's ticket also
//! carries its owner's lease (`owner`, `lease_until`, renewed while the call
//! runs, see `lease.rs`): the call stops writing when it can no longer renew
//! it, and recovery (in this or another instance) takes a ticket over only
//! once its lease has run out by a margin for clock skew.

use std::time::{Duration, Instant};

use coliseum_store::{Booking, BookingRequest, StoreError, StoreResult};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, doc};
use mongodb::options::ReturnDocument;

use crate::error::{duplicate_key_index, map_err};
use crate::lease::{FaultPoint, Owned};
use crate::model::{
    EventDoc, TicketDoc, TicketStatus, holding_id, names, parse_id, request_ref, to_bson_time,
    to_u32,
};
use crate::store::{Inner, UPSERT_ATTEMPTS};

/// Longest a booking or cancel keeps issuing writes.
pub(crate) const LEASE: Duration = Duration::from_secs(60);

/// How often a seat reservation is retried when it failed although the
/// re-read shows enough seats (seats came back meanwhile).
const SEAT_ATTEMPTS: usize = 8;

/// How often a replay waits for a concurrent booking with the same request
/// key to finish, and how long between looks.
const REPLAY_POLLS: u32 = 100;
/// See [`REPLAY_POLLS`].
const REPLAY_POLL_EVERY: Duration = Duration::from_millis(20);

/// The start of a multi-step call (see [`LEASE`]) and, once it has a
/// ticket in flight, its ownership lease on it (`lease.rs`).
pub(crate) struct Lease {
    /// When the call started.
    started: Instant,
    /// The lease on the call's ticket, renewed until this is dropped.
    owned: Option<Owned>,
}

impl Lease {
    /// A call starting now, owning no ticket yet.
    pub(crate) fn start() -> Self {
        Self {
            started: Instant::now(),
            owned: None,
        }
    }

    /// The same call, now also bound by its lease on a ticket.
    pub(crate) fn owning(self, owned: Owned) -> Self {
        Self {
            owned: Some(owned),
            ..self
        }
    }

    /// `Err(Unavailable)` once the call ran for [`LEASE`], or its ticket's
    /// lease was lost or could not be renewed in time.
    pub(crate) fn check(&self) -> StoreResult<()> {
        if self.started.elapsed() > LEASE {
            return Err(StoreError::Unavailable(format!(
                "the operation ran longer than {} s; recovery will finish or undo it",
                LEASE.as_secs()
            )));
        }
        self.owned.as_ref().map_or(Ok(()), Owned::check)
    }
}

/// The current time as a BSON date.
pub(crate) fn now() -> mongodb::bson::DateTime {
    to_bson_time(coliseum_store::now())
}

/// A marker value `{t, q}` for `$push`.
pub(crate) fn marker(ticket: ObjectId, quantity: i64) -> Bson {
    Bson::Document(doc! { "t": ticket, "q": quantity })
}

impl Inner {
    /// See [`coliseum_store::Store::book`] and the module docs.
    pub async fn book(&self, request: BookingRequest) -> StoreResult<Booking> {
        let user = parse_id(&request.user_id).ok_or(StoreError::NotFound)?;
        let event_id = parse_id(&request.event_id).ok_or(StoreError::NotFound)?;
        if request.quantity == 0 {
            return Err(StoreError::Internal(
                "a booking needs at least one seat".to_owned(),
            ));
        }
        let event = self
            .event_for_write(event_id, "book")
            .await?
            .ok_or(StoreError::NotFound)?;
        let key = request.request_key.as_deref().map(|k| request_ref(user, k));
        if let Some(key) = &key
            && let Some(replay) = self.replay(key, &request).await?
        {
            return Ok(replay);
        }
        if event.closed_at(request.booked_at) {
            return Err(StoreError::EventClosed);
        }
        self.book_with_markers(&event, user, &request, key).await
    }

    /// The original booking for `request_ref`, if any. Waits (bounded) while
    /// a concurrent booking with the same key is still `pending`.
    async fn replay(
        &self,
        request_ref: &str,
        request: &BookingRequest,
    ) -> StoreResult<Option<Booking>> {
        for _ in 0..REPLAY_POLLS {
            let found = self
                .tickets
                .find_one(doc! { "request_ref": request_ref })
                .await
                .map_err(|e| map_err("book", &e))?;
            let Some(ticket) = found else {
                return Ok(None);
            };
            match ticket.status {
                TicketStatus::Active | TicketStatus::Cancelling | TicketStatus::Cancelled => {
                    let available = self
                        .event_doc(ticket.event_id, "book")
                        .await?
                        .map_or(0, |e| e.available);
                    let ticket = ticket.to_ticket()?;
                    coliseum_store::check_replay(&ticket, request)?;
                    return Ok(Some(Booking {
                        ticket,
                        available: to_u32(available.max(0), "available")?,
                        replayed: true,
                    }));
                }
                // A failed booking gives its key up in the same update.
                TicketStatus::Failed => return Ok(None),
                TicketStatus::Pending => tokio::time::sleep(REPLAY_POLL_EVERY).await,
            }
        }
        Err(StoreError::Unavailable(
            "a booking with this request key is still in progress; retry".to_owned(),
        ))
    }

    /// The seats the holding `id` counts (0 when it does not exist).
    pub(crate) async fn held(&self, id: &str) -> StoreResult<i64> {
        Ok(self
            .holdings
            .find_one(doc! { "_id": id })
            .await
            .map_err(|e| map_err("book", &e))?
            .map_or(0, |h| h.held))
    }

    /// The marker path (module docs, steps 1–5).
    async fn book_with_markers(
        &self,
        event: &EventDoc,
        user: ObjectId,
        request: &BookingRequest,
        key: Option<String>,
    ) -> StoreResult<Booking> {
        let quantity = i64::from(request.quantity);
        let max = event.max_per_user;
        let holding = holding_id(user, event.id);
        let limit_exceeded = |held: i64| StoreError::LimitExceeded {
            max_per_user: to_u32(max, "max_per_user").unwrap_or(u32::MAX),
            held: u32::try_from(held.max(0)).unwrap_or(u32::MAX),
        };

        // Answers that need no write (plain reads; the guarded updates
        // below decide for real).
        let held = self.held(&holding).await?;
        if held + quantity > max {
            return Err(limit_exceeded(held));
        }
        if event.available < quantity {
            return Err(StoreError::SoldOut {
                available: to_u32(event.available.max(0), "available")?,
            });
        }

        let lease = Lease::start();
        let grant = self.grant();
        // 1. The pending ticket, with its owner's lease.
        let mut ticket = TicketDoc {
            id: ObjectId::new(),
            user_id: user,
            event_id: event.id,
            event_name: event.name.clone(),
            quantity,
            booked_at: to_bson_time(request.booked_at),
            status: TicketStatus::Pending,
            since: now(),
            request_ref: key,
            worker: None,
            owner: Some(self.owner.clone()),
            lease_until: Some(grant.until),
            cancel_q: None,
            cancel_op: None,
            offer_id: None,
            refund: None,
            checked_in_at: None,
        };
        let mut inserted = false;
        for _ in 0..UPSERT_ATTEMPTS {
            match self.tickets.insert_one(&ticket).await {
                Ok(_) => {
                    inserted = true;
                    break;
                }
                Err(error)
                    if duplicate_key_index(&error).as_deref() == Some(names::REQUEST_INDEX) =>
                {
                    if let Some(key) = &ticket.request_ref
                        && let Some(replay) = self.replay(key, request).await?
                    {
                        return Ok(replay);
                    }
                    // The other booking failed and gave the key up: try again.
                    ticket.since = now();
                }
                Err(error) => return Err(map_err("book", &error)),
            }
        }
        if !inserted {
            return Err(StoreError::Unavailable(
                "a booking with this request key keeps failing; retry".to_owned(),
            ));
        }

        let lease = lease.owning(self.hold(ticket.id, "pending", &grant));
        // 2. The user's allowance.
        let reserved = match lease.check() {
            Ok(()) => self.reserve_allowance(&holding, &ticket, max).await,
            Err(error) => Err(error),
        };
        if let Err(error) = reserved {
            self.fail_booking(&ticket, &holding).await;
            return Err(error);
        }
        // 3. The seats.
        let available = match lease.check() {
            Ok(()) => self.reserve_seats(&ticket, request).await,
            Err(error) => Err(error),
        };
        let available = match available {
            Ok(available) => available,
            Err(error) => {
                self.fail_booking(&ticket, &holding).await;
                return Err(error);
            }
        };
        // The test seam (`lease::Fault`); an injected crash undoes nothing.
        self.fault_point(FaultPoint::BookingBeforeCommit).await?;
        // 4. Commit point.
        if let Err(error) = lease.check() {
            self.fail_booking(&ticket, &holding).await;
            return Err(error);
        }
        self.activate(&ticket, &holding).await?;
        // 5. Cleanup; recovery pulls markers of active tickets if this fails.
        self.pull_markers(ticket.id, event.id, &holding, "holds")
            .await;
        ticket.status = TicketStatus::Active;
        Ok(Booking {
            ticket: ticket.to_ticket()?,
            available: to_u32(available.max(0), "available")?,
            replayed: false,
        })
    }

    /// Step 2: `$inc` the holding by the ticket's seats while the user stays
    /// within `max`, pushing the ticket's marker; upserts the holding.
    pub(crate) async fn reserve_allowance(
        &self,
        holding: &str,
        ticket: &TicketDoc,
        max: i64,
    ) -> StoreResult<()> {
        let quantity = ticket.quantity;
        for _ in 0..UPSERT_ATTEMPTS {
            let reserved = self
                .holdings
                .update_one(
                    doc! {
                        "_id": holding,
                        "held": { "$lte": max - quantity },
                        "holds.t": { "$ne": ticket.id },
                    },
                    doc! {
                        "$inc": { "held": quantity },
                        "$push": { "holds": marker(ticket.id, quantity) },
                    },
                )
                .upsert(true)
                .await;
            match reserved {
                Ok(result) if result.matched_count == 1 || result.upserted_id.is_some() => {
                    return Ok(());
                }
                Ok(_) => {
                    return Err(StoreError::Internal(
                        "holding upsert changed nothing".to_owned(),
                    ));
                }
                // The filter did not match an existing holding (the user
                // holds too many), or a concurrent first booking created it.
                Err(error) if duplicate_key_index(&error).is_some() => {
                    let held = self.held(holding).await?;
                    if held + quantity > max {
                        return Err(StoreError::LimitExceeded {
                            max_per_user: to_u32(max, "max_per_user")?,
                            held: u32::try_from(held.max(0)).unwrap_or(u32::MAX),
                        });
                    }
                }
                Err(error) => return Err(map_err("book", &error)),
            }
        }
        Err(StoreError::Unavailable(
            "too much contention on the per-user limit; retry".to_owned(),
        ))
    }

    /// Step 3: take the seats if enough remain and the event is open at
    /// the booking time; returns `available` after.
    async fn reserve_seats(
        &self,
        ticket: &TicketDoc,
        request: &BookingRequest,
    ) -> StoreResult<i64> {
        let quantity = ticket.quantity;
        for _ in 0..SEAT_ATTEMPTS {
            let taken = self
                .events
                .find_one_and_update(
                    doc! {
                        "_id": ticket.event_id,
                        "available": { "$gte": quantity },
                        "holds.t": { "$ne": ticket.id },
                        "cancelled_at": { "$exists": false },
                        "starts_utc": { "$gt": to_bson_time(request.booked_at) },
                    },
                    doc! {
                        "$inc": { "available": -quantity },
                        "$push": { "holds": marker(ticket.id, quantity) },
                    },
                )
                .return_document(ReturnDocument::Before)
                .await
                .map_err(|e| map_err("book", &e))?;
            if let Some(before) = taken {
                return Ok(before.available - quantity);
            }
            let current = self
                .event_doc(ticket.event_id, "book")
                .await?
                .ok_or(StoreError::NotFound)?;
            if current.closed_at(request.booked_at) {
                return Err(StoreError::EventClosed);
            }
            if current.available < quantity {
                return Err(StoreError::SoldOut {
                    available: to_u32(current.available.max(0), "available")?,
                });
            }
        }
        Err(StoreError::Unavailable(
            "too much contention on the event; retry".to_owned(),
        ))
    }

    /// Undoes a booking that will not complete: claims the ticket
    /// `pending → failed` (freeing its request key), undoes the markers that
    /// are still there, deletes the ticket. If the claim fails because the
    /// ticket is active, nothing is undone. Errors are logged: recovery
    /// finishes the job.
    pub(crate) async fn fail_booking(&self, ticket: &TicketDoc, holding: &str) {
        let claimed = self
            .tickets
            .update_one(
                doc! { "_id": ticket.id, "status": "pending" },
                doc! {
                    "$set": { "status": "failed", "since": now() },
                    "$unset": { "request_ref": "", "owner": "", "lease_until": "" },
                },
            )
            .await;
        match claimed {
            Ok(result) if result.matched_count == 1 => {}
            Ok(_) => match self.tickets.find_one(doc! { "_id": ticket.id }).await {
                // Failed already (recovery claimed it) or gone: undoing the
                // remaining markers is safe (each undo happens once).
                Ok(None) => {}
                Ok(Some(current)) if current.status == TicketStatus::Failed => {}
                Ok(Some(_)) => return,
                Err(error) => {
                    tracing::warn!(ticket = %ticket.id, "booking rollback: {error}");
                    return;
                }
            },
            Err(error) => {
                tracing::warn!(ticket = %ticket.id, "booking rollback left to recovery: {error}");
                return;
            }
        }
        if let Err(error) = self.undo_holds(ticket.id, ticket.event_id, holding).await {
            tracing::warn!(ticket = %ticket.id, "booking rollback left to recovery: {error}");
            return;
        }
        if let Err(error) = self
            .tickets
            .delete_one(doc! { "_id": ticket.id, "status": "failed" })
            .await
        {
            tracing::warn!(ticket = %ticket.id, "failed ticket left to recovery: {error}");
        }
    }

    /// Gives back the seats and the allowance that ticket `ticket` took, if
    /// its `holds` markers are still there (each undo at most once). The
    /// seats go back through the offer round (`ticketing.rs`).
    pub(crate) async fn undo_holds(
        &self,
        ticket: ObjectId,
        event: ObjectId,
        holding: &str,
    ) -> StoreResult<()> {
        // Seats go back to the event (+q); the allowance is released (−q).
        self.undo_event_hold(event, ticket).await?;
        self.undo_marker(
            names::HOLDINGS,
            Bson::String(holding.to_owned()),
            ticket,
            "held",
            -1,
        )
        .await
        .map_err(|e| map_err("rollback", &e))?;
        Ok(())
    }

    /// `$inc counter` by `sign × q` and `$pull` the `holds` marker of
    /// `ticket` from document `id` of `collection`, in one update filtered on
    /// the marker (so it happens at most once). `q` comes from the marker.
    pub(crate) async fn undo_marker(
        &self,
        collection: &str,
        id: Bson,
        ticket: ObjectId,
        counter: &str,
        sign: i64,
    ) -> mongodb::error::Result<bool> {
        let coll = self.db.collection::<crate::model::MarkersDoc>(collection);
        let Some(doc) = coll
            .find_one(doc! { "_id": id.clone(), "holds.t": ticket })
            .await?
        else {
            return Ok(false);
        };
        let Some(found) = doc.holds.iter().find(|m| m.t == ticket) else {
            return Ok(false);
        };
        let result = coll
            .update_one(
                doc! { "_id": id, "holds.t": ticket },
                doc! { "$inc": { counter: sign * found.q }, "$pull": { "holds": { "t": ticket } } },
            )
            .await?;
        Ok(result.modified_count == 1)
    }

    /// Removes the `array` markers of `ticket` from the event and the
    /// holding (cleanup after a commit point; failures are logged only).
    pub(crate) async fn pull_markers(
        &self,
        ticket: ObjectId,
        event: ObjectId,
        holding: &str,
        array: &str,
    ) {
        let pull = doc! { "$pull": { array: { "t": ticket } } };
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
}
