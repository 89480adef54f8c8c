//! Ticketing (issue 14): the waiting list and its offers, event changes
//! and cancellation, check-in and attendees — without transactions.
//!
//! # Where things live
//! The waiting list, open offers included, is an array inside the event
//! document ([`WaitEntry`]), next to `available` and `held`. So every
//! change that moves seats between "for sale", "held for an offer" and the
//! waiting list is **one single-document update**, atomic on every
//! MongoDB deployment.
//!
//! # Two kinds of event updates
//! - *Guarded `$inc`* (bookings, `booking.rs`): `available ≥ q`,
//!   `$inc available −q`. Bookings only ever lower `available` and never
//!   touch the waiting list, so they do not bump the version below.
//! - *Versioned read-modify-write* ([`Inner::versioned_update`]): read the
//!   event, plan the change in Rust (e.g. an [offer round](offer_round)),
//!   then `findOneAndUpdate` filtered on the waiting-list version `wv` as
//!   read, `$set` the new `waitlist`/`held`, `$inc available` by the planned
//!   delta (a concurrent booking may have lowered it meanwhile: a filter
//!   `available ≥ seats taken` keeps it non-negative) and `$inc wv`. Every
//!   update that changes `waitlist` or `held`, or raises `available`, bumps
//!   `wv`, so a plan made from a stale read never lands: it is re-read and
//!   re-planned (bounded retries with jitter).
//!
//! Hence the invariant: for an open event, no waiting entry that was not
//! offered fits in `available` (every raise runs the round in the same
//! update), and `held` is the sum of the open offers' seats.
//!
//! Tickets live in their own collection; how an accepted offer becomes a
//! ticket and how `cancel_event` ends every ticket while bookings race it
//! is described at [`Inner::offer_accept`] and [`Inner::cancel_event`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use coliseum_protocol::{Attendee, Offer, WaitlistEntry};
use coliseum_store::{
    Booking, CheckIn, EventCancellation, EventChange, EventUpdate, NewOffers, OfferGrant,
    OfferPolicy, OfferSweep, RefundedTicket, StoreError, StoreResult,
};
use futures::TryStreamExt as _;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;
use serde::Deserialize;

use crate::booking::{Lease, marker, now as server_now};
use crate::error::map_err;
use crate::model::{
    EventDoc, TicketDoc, TicketStatus, UserDoc, WaitEntry, from_bson_time, holding_id, parse_id,
    to_bson_time, to_u32,
};
use crate::store::Inner;

/// How often a versioned update is planned again after losing a race.
const CAS_ATTEMPTS: u32 = 200;

/// How often a call waits for a ticket that another call is changing
/// (a cancel in flight), and how long between looks.
pub(crate) const SETTLE_POLLS: u32 = 200;
/// See [`SETTLE_POLLS`].
pub(crate) const SETTLE_EVERY: Duration = Duration::from_millis(10);

/// A cancel's claim on its ticket (`cancel.rs`): the ticket is
/// `cancelling` under `worker`. Checked after reading a document and before
/// writing a seat or allowance return to it, so a worker that was taken
/// over never returns seats the new worker already returned (see
/// `Inner::finish_cancel`).
pub(crate) struct Fence<'a> {
    /// The ticket being cancelled.
    pub ticket: ObjectId,
    /// The worker token the claim is for.
    pub worker: &'a str,
}

/// What a plan decided for one versioned update.
pub(crate) enum Planned<T> {
    /// Apply the change; `T` is the caller's result.
    Write(Box<Change>, T),
    /// Nothing to write (e.g. already done); `T` is the caller's result.
    Done(T),
}

/// One planned update of an event document, applied only if the
/// waiting-list version is still the one read (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Change {
    /// Conditions besides `_id` and `wv`.
    pub filter: Document,
    /// `$set`.
    pub set: Document,
    /// `$inc` (`wv` is added).
    pub inc: Document,
    /// `$push`.
    pub push: Document,
    /// `$pull`.
    pub pull: Document,
    /// `$unset`.
    pub unset: Document,
}

impl Change {
    /// The filter and update documents for an event read at version `wv`.
    fn into_update(self, id: ObjectId, wv: i64) -> (Document, Document) {
        let mut filter = self.filter;
        filter.insert("_id", id);
        filter.insert("wv", wv);
        let mut inc = self.inc;
        inc.insert("wv", 1_i64);
        let mut update = doc! { "$inc": inc };
        for (operator, fields) in [
            ("$set", self.set),
            ("$push", self.push),
            ("$pull", self.pull),
            ("$unset", self.unset),
        ] {
            if !fields.is_empty() {
                update.insert(operator, fields);
            }
        }
        (filter, update)
    }

    /// Requires the event to be open at `now` (not cancelled, not started).
    pub(crate) fn require_open(&mut self, now: DateTime<Utc>) {
        self.filter
            .insert("cancelled_at", doc! { "$exists": false });
        self.filter
            .insert("starts_utc", doc! { "$gt": to_bson_time(now) });
    }

    /// Writes the outcome of `round`, which started from `available +
    /// freed` free seats: the new waiting list, `held` as the sum of the
    /// open offers, and `available` moved by `freed − offered` (never below
    /// zero: a concurrent booking may have taken seats since the read).
    pub(crate) fn apply_round(&mut self, round: &Round, freed: i64) -> StoreResult<()> {
        let list = mongodb::bson::to_bson(&round.waitlist)
            .map_err(|e| StoreError::Internal(format!("cannot encode the waiting list: {e}")))?;
        self.set.insert("waitlist", list);
        self.set.insert("held", round.held());
        let delta = freed - round.offered;
        if delta != 0 {
            self.inc.insert("available", delta);
        }
        if delta < 0 {
            self.filter.insert("available", doc! { "$gte": -delta });
        }
        Ok(())
    }
}

/// The outcome of an offer round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Round {
    /// The waiting list afterwards (new offers set on their entries).
    pub waitlist: Vec<WaitEntry>,
    /// Seats newly held.
    pub offered: i64,
    /// The offers made, in join order.
    pub grants: NewOffers,
}

impl Round {
    /// `held` after the round: the seats of every open offer.
    fn held(&self) -> i64 {
        self.waitlist
            .iter()
            .filter(|e| e.offer_id.is_some())
            .map(|e| e.quantity)
            .sum()
    }
}

/// The offer round: with `free` seats, walk `waitlist` (entries not yet
/// offered, in join order) and give each entry that fits an offer
/// expiring at `now + policy.hold`; entries that do not fit keep their
/// place (first fit). Only for events open at `now`; otherwise the list
/// is returned unchanged. `event` names the offers.
pub(crate) fn offer_round(
    event: &EventDoc,
    mut waitlist: Vec<WaitEntry>,
    free: i64,
    now: DateTime<Utc>,
    policy: OfferPolicy,
) -> Round {
    let mut round = Round {
        waitlist: Vec::new(),
        offered: 0,
        grants: Vec::new(),
    };
    if !event.closed_at(now) {
        let expires = to_bson_time(now.checked_add_signed(policy.hold).unwrap_or(now));
        waitlist.sort_by_key(|e| e.seq);
        let mut free = free;
        for entry in &mut waitlist {
            if free <= 0 {
                break;
            }
            if entry.offer_id.is_some() || entry.quantity <= 0 || entry.quantity > free {
                continue;
            }
            entry.offer_id = Some(ObjectId::new());
            entry.expires_at = Some(expires);
            free -= entry.quantity;
            round.offered += entry.quantity;
            if let Some(offer) = entry.offer(event) {
                round.grants.push(OfferGrant {
                    user_id: entry.user_id.to_hex(),
                    offer,
                });
            }
        }
    }
    round.waitlist = waitlist;
    round
}

/// A short random pause before planning again (attempt `n`).
async fn backoff(attempt: u32) {
    let ceiling = 200_u64 << attempt.min(5);
    let micros = rand::random::<u64>() % ceiling;
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

/// Only the `waitlist` of an event (for scans over many events).
#[derive(Debug, Deserialize)]
struct WaitlistOnly {
    /// The entries.
    #[serde(default)]
    waitlist: Vec<WaitEntry>,
}

/// The event `event` with the fields of `update` applied (no seat
/// counts), and the new capacity.
fn updated(event: &EventDoc, update: &EventUpdate) -> EventDoc {
    let mut next = event.clone();
    if let Some(name) = &update.name {
        next.name.clone_from(name);
    }
    if let Some(starts) = update.starts_at {
        next.starts_at = Some(starts.to_rfc3339());
        next.starts_utc = Some(to_bson_time(starts.with_timezone(&Utc)));
        next.date = starts.date_naive();
    }
    if let Some(location) = &update.location {
        next.location.clone_from(location);
    }
    if let Some(description) = &update.description {
        next.description.clone_from(description);
    }
    if let Some(capacity) = update.capacity {
        next.capacity = i64::from(capacity);
    }
    if let Some(max) = update.max_per_user {
        next.max_per_user = i64::from(max);
    }
    next
}

impl Inner {
    /// Remembers the offer hold of `policy` for offers made without one.
    pub(crate) fn remember(&self, policy: OfferPolicy) {
        self.offer_hold_ms
            .store(policy.hold.num_milliseconds(), Ordering::Relaxed);
    }

    /// The last offer policy a call passed in (default until then).
    pub(crate) fn policy(&self) -> OfferPolicy {
        OfferPolicy {
            hold: chrono::Duration::milliseconds(self.offer_hold_ms.load(Ordering::Relaxed)),
        }
    }

    /// A versioned read-modify-write of event `id` (module docs): reads it,
    /// asks `plan` what to write, applies that guarded by the version read,
    /// and starts over when the version moved. Returns the document as it
    /// was just before the write (or as read, for [`Planned::Done`]) and
    /// the plan's result. `Err(NotFound)` for an unknown event; the plan's
    /// errors are returned as they are.
    pub(crate) async fn versioned_update<T>(
        &self,
        id: ObjectId,
        what: &str,
        plan: impl FnMut(&EventDoc) -> StoreResult<Planned<T>>,
    ) -> StoreResult<(EventDoc, T)> {
        self.fenced_update(id, what, None, plan).await
    }

    /// [`Self::versioned_update`] that, when given a `fence`, checks it
    /// after each read and before the write it planned (`cancel.rs`).
    pub(crate) async fn fenced_update<T>(
        &self,
        id: ObjectId,
        what: &str,
        fence: Option<&Fence<'_>>,
        mut plan: impl FnMut(&EventDoc) -> StoreResult<Planned<T>>,
    ) -> StoreResult<(EventDoc, T)> {
        let lease = Lease::start();
        for attempt in 0..CAS_ATTEMPTS {
            lease.check()?;
            let event = self
                .event_for_write(id, what)
                .await?
                .ok_or(StoreError::NotFound)?;
            let (change, out) = match plan(&event)? {
                Planned::Done(out) => return Ok((event, out)),
                Planned::Write(change, out) => (change, out),
            };
            if let Some(fence) = fence {
                self.check_fence(fence).await?;
            }
            let (filter, update) = (*change).into_update(id, event.wv.unwrap_or_default());
            let before = self
                .events
                .find_one_and_update(filter, update)
                .return_document(ReturnDocument::Before)
                .await
                .map_err(|e| map_err(what, &e))?;
            if let Some(before) = before {
                return Ok((before, out));
            }
            backoff(attempt).await;
        }
        Err(StoreError::Unavailable(format!(
            "too much contention on the event during {what}; retry"
        )))
    }

    /// `Ok` while the cancel of `fence.ticket` is still `fence.worker`'s;
    /// `Unavailable` once another worker took it over or it is finished.
    pub(crate) async fn check_fence(&self, fence: &Fence<'_>) -> StoreResult<()> {
        let mine = self
            .tickets
            .find_one(doc! {
                "_id": fence.ticket, "status": "cancelling", "worker": fence.worker,
            })
            .await
            .map_err(|e| map_err("cancel_ticket", &e))?
            .is_some();
        if mine {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "another server instance took this cancel over; retry".to_owned(),
            ))
        }
    }

    /// Gives back the seats that a not-completed ticket took from its event
    /// (its `holds` marker), running the offer round in the same update
    /// (offers made here are not pushed: their users see them in
    /// `my_waitlist`). True when this call undid it; false when there was
    /// no such marker (undone already, or the event is gone or cancelled).
    pub(crate) async fn undo_event_hold(
        &self,
        event: ObjectId,
        ticket: ObjectId,
    ) -> StoreResult<bool> {
        let policy = self.policy();
        let undone = self
            .versioned_update(event, "rollback", |doc| {
                let Some(marker) = doc.holds.iter().find(|m| m.t == ticket) else {
                    return Ok(Planned::Done(false));
                };
                let round = offer_round(
                    doc,
                    doc.waitlist.clone(),
                    doc.available + marker.q,
                    coliseum_store::now(),
                    policy,
                );
                let mut change = Change::default();
                change.filter.insert("holds.t", ticket);
                change.pull.insert("holds", doc! { "t": ticket });
                change.apply_round(&round, marker.q)?;
                Ok(Planned::Write(Box::new(change), true))
            })
            .await;
        match undone {
            Ok((_, undone)) => Ok(undone),
            Err(StoreError::NotFound) => Ok(false),
            Err(other) => Err(other),
        }
    }

    // ----- events -----------------------------------------------------------

    /// See [`coliseum_store::Store::update_event`]: one versioned update;
    /// the capacity is guarded (`capacity` as read, and `available ≥` the
    /// seats removed, so concurrent bookings cannot make it fall below the
    /// seats sold); a raise runs the offer round in the same update.
    pub async fn update_event(
        &self,
        event_id: &str,
        update: EventUpdate,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<EventChange> {
        self.remember(policy);
        let id = parse_id(event_id).ok_or(StoreError::NotFound)?;
        let (before, (next, round, delta)) = self
            .versioned_update(id, "update_event", |event| {
                if event.closed_at(now) {
                    return Err(StoreError::EventClosed);
                }
                let next = updated(event, &update);
                // Seats sold, held, or being booked right now.
                let taken = event.capacity - event.available;
                if next.capacity < taken {
                    return Err(StoreError::Conflict("capacity".to_owned()));
                }
                let delta = next.capacity - event.capacity;
                let round = if delta > 0 {
                    offer_round(
                        &next,
                        event.waitlist.clone(),
                        event.available + delta,
                        now,
                        policy,
                    )
                } else {
                    Round {
                        waitlist: event.waitlist.clone(),
                        offered: 0,
                        grants: Vec::new(),
                    }
                };
                let mut change = Change::default();
                change.require_open(now);
                change.filter.insert("capacity", event.capacity);
                let date = mongodb::bson::to_bson(&next.date)
                    .map_err(|e| StoreError::Internal(format!("cannot encode a date: {e}")))?;
                change.set = doc! {
                    "name": &next.name,
                    "date": date,
                    "starts_at": next.starts_at.clone(),
                    "starts_utc": next.starts_utc,
                    "location": &next.location,
                    "description": &next.description,
                    "capacity": next.capacity,
                    "max_per_user": next.max_per_user,
                };
                change.apply_round(&round, delta)?;
                Ok(Planned::Write(Box::new(change), (next, round, delta)))
            })
            .await?;
        let mut event = next;
        event.available = before.available + delta - round.offered;
        event.held = round.held();
        event.waitlist = round.waitlist;
        Ok(EventChange {
            event: event.into_event()?,
            offers: round.grants,
        })
    }

    /// See [`coliseum_store::Store::cancel_event`].
    ///
    /// 1. **Commit point**, one update of the event (guarded: not
    ///    cancelled, not started): `cancelled_at`, `cancel_reason`,
    ///    `available = held = 0`, the waiting list (open offers included)
    ///    emptied, the `holds` markers of bookings in flight dropped, and
    ///    `sweep` set. From here on every booking's seat reservation and
    ///    every offer acceptance fails its guard (`cancelled_at` must be
    ///    absent): nothing new can be sold.
    /// 2. The sweep ([`Self::sweep_tickets`]): pending tickets of the
    ///    event become `failed` (their bookings, which took seats before
    ///    step 1, can no longer activate and answer `EventClosed`), active
    ///    ones `cancelled` (tagged with this call's id, which lists them),
    ///    and cancels in flight are waited for.
    /// 3. `sweep` is removed. A crash before that leaves `sweep` set, and
    ///    recovery runs the sweep again (it is idempotent).
    pub async fn cancel_event(
        &self,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<EventCancellation> {
        let id = parse_id(event_id).ok_or(StoreError::NotFound)?;
        let (before, ()) = self
            .versioned_update(id, "cancel_event", |event| {
                if event.closed_at(now) {
                    return Err(StoreError::EventClosed);
                }
                let mut change = Change::default();
                change.require_open(now);
                change.set = doc! {
                    "cancelled_at": to_bson_time(now),
                    "cancel_reason": reason,
                    "sweep": server_now(),
                    "available": 0_i64,
                    "held": 0_i64,
                    "waitlist": [],
                    "holds": [],
                };
                Ok(Planned::Write(Box::new(change), ()))
            })
            .await?;
        let offers: Vec<OfferGrant> = before
            .waitlist
            .iter()
            .filter_map(|entry| {
                entry.offer(&before).map(|offer| OfferGrant {
                    user_id: entry.user_id.to_hex(),
                    offer,
                })
            })
            .collect();
        let op = ObjectId::new();
        let complete = self.sweep_tickets(id, op).await?;
        if complete {
            self.events
                .update_one(doc! { "_id": id }, doc! { "$unset": { "sweep": "" } })
                .await
                .map_err(|e| map_err("cancel_event", &e))?;
        }
        let refunded: Vec<TicketDoc> = self
            .tickets
            .find(doc! { "event_id": id, "refund": op })
            .sort(doc! { "_id": 1 })
            .await
            .map_err(|e| map_err("cancel_event", &e))?
            .try_collect()
            .await
            .map_err(|e| map_err("cancel_event", &e))?;
        let tickets = refunded
            .iter()
            .map(|t| {
                Ok(RefundedTicket {
                    user_id: t.user_id.to_hex(),
                    ticket_id: t.id.to_hex(),
                    quantity: to_u32(t.quantity, "quantity")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let mut event = before;
        event.cancelled_at = Some(to_bson_time(now));
        event.cancel_reason = Some(reason.to_owned());
        event.available = 0;
        event.held = 0;
        event.waitlist = Vec::new();
        Ok(EventCancellation {
            event: event.into_event()?,
            tickets,
            offers,
        })
    }

    /// Ends every ticket of the cancelled event `id` (step 2 of
    /// [`Self::cancel_event`]); cancelled tickets are tagged `refund: op`.
    /// Idempotent. True when no cancel of a ticket was still in flight at
    /// the end (else recovery sweeps again later).
    pub(crate) async fn sweep_tickets(&self, id: ObjectId, op: ObjectId) -> StoreResult<bool> {
        let err = |e: mongodb::error::Error| map_err("cancel_event", &e);
        for _ in 0..SETTLE_POLLS {
            // Bookings that took seats before the commit point but are not
            // active yet: they can no longer activate.
            self.tickets
                .update_many(
                    doc! { "event_id": id, "status": "pending" },
                    doc! {
                        "$set": { "status": "failed", "since": server_now() },
                        "$unset": { "request_ref": "" },
                    },
                )
                .await
                .map_err(err)?;
            self.tickets
                .update_many(
                    doc! { "event_id": id, "status": "active" },
                    doc! { "$set": { "status": "cancelled", "since": server_now(), "refund": op } },
                )
                .await
                .map_err(err)?;
            // A cancel in flight finds the event cancelled and puts its
            // ticket back to active (or completes): wait, then look again.
            let busy = self
                .tickets
                .count_documents(doc! { "event_id": id, "status": "cancelling" })
                .await
                .map_err(err)?;
            if busy == 0 {
                return Ok(true);
            }
            tokio::time::sleep(SETTLE_EVERY).await;
        }
        tracing::warn!(event = %id, "cancel_event left tickets being cancelled to recovery");
        Ok(false)
    }

    // ----- waiting list -----------------------------------------------------

    /// See [`coliseum_store::Store::waitlist_join`]: the entry is pushed by
    /// a versioned update guarded by "open" and `available < quantity`.
    /// The per-user limit is checked against the user's holding as read
    /// (it is enforced again, atomically, when an offer is accepted).
    pub async fn waitlist_join(
        &self,
        event_id: &str,
        user_id: &str,
        quantity: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<u32> {
        let id = parse_id(event_id).ok_or(StoreError::NotFound)?;
        let user = parse_id(user_id).ok_or(StoreError::NotFound)?;
        let quantity = i64::from(quantity);
        if quantity <= 0 {
            return Err(StoreError::Conflict("quantity".to_owned()));
        }
        let check = |event: &EventDoc| {
            if event.closed_at(now) {
                return Err(StoreError::EventClosed);
            }
            if event.available >= quantity {
                return Err(StoreError::Conflict("available".to_owned()));
            }
            if event.waitlist.iter().any(|e| e.user_id == user) {
                return Err(StoreError::Conflict("waitlist".to_owned()));
            }
            Ok(())
        };
        let event = self
            .event_for_write(id, "waitlist_join")
            .await?
            .ok_or(StoreError::NotFound)?;
        check(&event)?;
        let held = self.held(&holding_id(user, id)).await?;
        if held + quantity > event.max_per_user {
            return Err(StoreError::LimitExceeded {
                max_per_user: to_u32(event.max_per_user, "max_per_user")?,
                held: u32::try_from(held.max(0)).unwrap_or(u32::MAX),
            });
        }
        let (_, position) = self
            .versioned_update(id, "waitlist_join", |event| {
                check(event)?;
                let entry = WaitEntry {
                    user_id: user,
                    quantity,
                    seq: event.wseq + 1,
                    joined_at: to_bson_time(now),
                    offer_id: None,
                    expires_at: None,
                };
                let entry = mongodb::bson::to_bson(&entry)
                    .map_err(|e| StoreError::Internal(format!("cannot encode an entry: {e}")))?;
                let mut change = Change::default();
                change.require_open(now);
                change.filter.insert("available", doc! { "$lt": quantity });
                change.push.insert("waitlist", entry);
                change.inc.insert("wseq", 1_i64);
                let position = event.waiting().count() + 1;
                Ok(Planned::Write(
                    Box::new(change),
                    u32::try_from(position).unwrap_or(u32::MAX),
                ))
            })
            .await?;
        Ok(position)
    }

    /// Removes the entry of `user` (matching `offer`, when given) from
    /// event `id` in one versioned update; seats its open offer held go
    /// back through the offer round. `NotFound` when there is no such
    /// entry. Returns the offers made.
    async fn remove_entry(
        &self,
        id: ObjectId,
        user: ObjectId,
        offer: Option<ObjectId>,
        now: DateTime<Utc>,
        policy: OfferPolicy,
        what: &str,
    ) -> StoreResult<NewOffers> {
        let (_, grants) = self
            .versioned_update(id, what, |event| {
                let entry = event
                    .waitlist
                    .iter()
                    .find(|e| match offer {
                        Some(offer) => e.offer_id == Some(offer),
                        None => e.user_id == user,
                    })
                    .filter(|e| e.user_id == user)
                    .ok_or(StoreError::NotFound)?;
                let freed = if entry.offer_id.is_some() {
                    entry.quantity
                } else {
                    0
                };
                let rest: Vec<WaitEntry> = event
                    .waitlist
                    .iter()
                    .filter(|e| e.user_id != user)
                    .cloned()
                    .collect();
                let round = offer_round(event, rest, event.available + freed, now, policy);
                let mut change = Change::default();
                change.apply_round(&round, freed)?;
                Ok(Planned::Write(Box::new(change), round.grants))
            })
            .await?;
        Ok(grants)
    }

    /// See [`coliseum_store::Store::waitlist_leave`].
    pub async fn waitlist_leave(
        &self,
        event_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<NewOffers> {
        self.remember(policy);
        let id = parse_id(event_id).ok_or(StoreError::NotFound)?;
        let user = parse_id(user_id).ok_or(StoreError::NotFound)?;
        self.remove_entry(id, user, None, now, policy, "waitlist_leave")
            .await
    }

    /// See [`coliseum_store::Store::offer_decline`].
    pub async fn offer_decline(
        &self,
        offer_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<NewOffers> {
        self.remember(policy);
        let offer = parse_id(offer_id).ok_or(StoreError::NotFound)?;
        let user = parse_id(user_id).ok_or(StoreError::NotFound)?;
        let event = self
            .events
            .find_one(doc! { "waitlist.offer_id": offer })
            .await
            .map_err(|e| map_err("offer_decline", &e))?
            .ok_or(StoreError::NotFound)?;
        self.remove_entry(event.id, user, Some(offer), now, policy, "offer_decline")
            .await
    }

    /// The events on whose waiting list `user` is, by id.
    async fn events_waited_by(&self, user: ObjectId, what: &str) -> StoreResult<Vec<EventDoc>> {
        self.events
            .find(doc! { "waitlist.user_id": user })
            .sort(doc! { "_id": 1 })
            .await
            .map_err(|e| map_err(what, &e))?
            .try_collect()
            .await
            .map_err(|e| map_err(what, &e))
    }

    /// See [`coliseum_store::Store::waitlist_of_user`].
    pub async fn waitlist_of_user(&self, user_id: &str) -> StoreResult<Vec<WaitlistEntry>> {
        let Some(user) = parse_id(user_id) else {
            return Ok(Vec::new());
        };
        let events = self.events_waited_by(user, "waitlist_of_user").await?;
        let mut entries = Vec::new();
        for event in &events {
            let mut position = 0_u32;
            for entry in event.waiting() {
                position = position.saturating_add(1);
                if entry.user_id == user {
                    entries.push(WaitlistEntry {
                        event_id: event.id.to_hex(),
                        quantity: to_u32(entry.quantity, "quantity")?,
                        position,
                    });
                }
            }
        }
        Ok(entries)
    }

    /// See [`coliseum_store::Store::offers_of_user`].
    pub async fn offers_of_user(
        &self,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Offer>> {
        let Some(user) = parse_id(user_id) else {
            return Ok(Vec::new());
        };
        let now = to_bson_time(now);
        let events = self.events_waited_by(user, "offers_of_user").await?;
        let mut offers: Vec<Offer> = events
            .iter()
            .flat_map(|event| {
                event
                    .waitlist
                    .iter()
                    .filter(|e| e.user_id == user && e.expires_at.is_some_and(|at| at > now))
                    .filter_map(|e| e.offer(event))
            })
            .collect();
        offers.sort_by(|a, b| {
            a.expires_at
                .cmp(&b.expires_at)
                .then_with(|| a.offer_id.cmp(&b.offer_id))
        });
        Ok(offers)
    }

    // ----- offers -----------------------------------------------------------

    /// See [`coliseum_store::Store::offer_accept`]. The booking steps of
    /// `booking.rs`, with the offer in place of the seat reservation:
    /// 1. insert the ticket `pending` with its `offer_id`;
    /// 2. reserve the user's allowance on the holding (with a marker);
    /// 3. **commit point**: one update of the event, guarded by the offer
    ///    still being there (open) for this user and the event open:
    ///    `$pull` the entry, `held −q`, `$push holds {t: ticket, q}` (the
    ///    seats go from the offer to the ticket; `available` is unchanged);
    /// 4. `pending → active`; 5. pull the markers.
    ///
    /// A failure before step 3 undoes the allowance (the offer stays
    /// open). A crash after step 3 leaves a pending ticket whose event
    /// carries its marker: recovery activates it (rolls forward) instead
    /// of rolling it back, since the offer is gone.
    pub async fn offer_accept(
        &self,
        offer_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<(Booking, String)> {
        let offer = parse_id(offer_id).ok_or(StoreError::NotFound)?;
        let user = parse_id(user_id).ok_or(StoreError::NotFound)?;
        let event = self
            .events
            .find_one(doc! { "waitlist.offer_id": offer })
            .await
            .map_err(|e| map_err("offer_accept", &e))?
            .ok_or(StoreError::NotFound)?;
        let entry = event
            .waitlist
            .iter()
            .find(|e| e.offer_id == Some(offer) && e.user_id == user)
            .ok_or(StoreError::NotFound)?;
        if event.closed_at(now) {
            return Err(StoreError::EventClosed);
        }
        if entry.expires_at.is_none_or(|at| at <= to_bson_time(now)) {
            return Err(StoreError::Conflict("offer".to_owned()));
        }
        let quantity = entry.quantity;
        let max = event.max_per_user;
        let holding = holding_id(user, event.id);
        let held = self.held(&holding).await?;
        if held + quantity > max {
            return Err(StoreError::LimitExceeded {
                max_per_user: to_u32(max, "max_per_user")?,
                held: u32::try_from(held.max(0)).unwrap_or(u32::MAX),
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
            booked_at: to_bson_time(now),
            status: TicketStatus::Pending,
            since: server_now(),
            request_ref: None,
            worker: None,
            owner: Some(self.owner.clone()),
            lease_until: Some(grant.until),
            cancel_q: None,
            cancel_op: None,
            offer_id: Some(offer),
            refund: None,
            checked_in_at: None,
        };
        self.tickets
            .insert_one(&ticket)
            .await
            .map_err(|e| map_err("offer_accept", &e))?;
        let lease = lease.owning(self.hold(ticket.id, "pending", &grant));
        // 2. The allowance.
        let reserved = match lease.check() {
            Ok(()) => self.reserve_allowance(&holding, &ticket, max).await,
            Err(error) => Err(error),
        };
        if let Err(error) = reserved {
            self.fail_booking(&ticket, &holding).await;
            // A concurrent accept of the same offer reserved first: the
            // offer is gone, which is what matters.
            if matches!(error, StoreError::LimitExceeded { .. })
                && !self.offer_open(event.id, offer).await?
            {
                return Err(StoreError::NotFound);
            }
            return Err(error);
        }
        // 3. Commit point.
        if let Err(error) = lease.check() {
            self.fail_booking(&ticket, &holding).await;
            return Err(error);
        }
        let taken = self
            .events
            .find_one_and_update(
                doc! {
                    "_id": event.id,
                    "waitlist": { "$elemMatch": { "offer_id": offer, "user_id": user } },
                    "cancelled_at": { "$exists": false },
                    "starts_utc": { "$gt": to_bson_time(now) },
                    "holds.t": { "$ne": ticket.id },
                },
                doc! {
                    "$pull": { "waitlist": { "offer_id": offer } },
                    "$inc": { "held": -quantity, "wv": 1_i64 },
                    "$push": { "holds": marker(ticket.id, quantity) },
                },
            )
            .return_document(ReturnDocument::Before)
            .await;
        let available = match taken {
            Ok(Some(before)) => before.available,
            Ok(None) => {
                self.fail_booking(&ticket, &holding).await;
                let current = self.event_doc(event.id, "offer_accept").await?;
                return Err(match current {
                    Some(current) if current.closed_at(now) => StoreError::EventClosed,
                    _ => StoreError::NotFound,
                });
            }
            Err(error) => {
                // Unknown whether it applied: recovery settles the ticket
                // (activates it if the event carries its marker).
                return Err(map_err("offer_accept", &error));
            }
        };
        // 4. Activation.
        self.activate(&ticket, &holding).await?;
        // 5. Cleanup.
        self.pull_markers(ticket.id, event.id, &holding, "holds")
            .await;
        ticket.status = TicketStatus::Active;
        Ok((
            Booking {
                ticket: ticket.to_ticket()?,
                available: to_u32(available.max(0), "available")?,
                replayed: false,
            },
            offer.to_hex(),
        ))
    }

    /// Whether offer `offer` is still on event `event`'s waiting list.
    async fn offer_open(&self, event: ObjectId, offer: ObjectId) -> StoreResult<bool> {
        Ok(self
            .events
            .find_one(doc! { "_id": event, "waitlist.offer_id": offer })
            .await
            .map_err(|e| map_err("offer_accept", &e))?
            .is_some())
    }

    /// Activates a pending ticket whose seats are taken (`pending →
    /// active`). When that fails because someone else settled the ticket:
    /// active already (recovery rolled it forward) is success; failed
    /// (`cancel_event` swept it) undoes what is left and answers
    /// `EventClosed` when the event is closed, else `Unavailable`.
    pub(crate) async fn activate(&self, ticket: &TicketDoc, holding: &str) -> StoreResult<()> {
        let activated = self
            .tickets
            .update_one(
                doc! { "_id": ticket.id, "status": "pending" },
                doc! {
                    "$set": { "status": "active", "since": server_now() },
                    "$unset": { "owner": "", "lease_until": "" },
                },
            )
            .await;
        match activated {
            Ok(result) if result.matched_count == 1 => return Ok(()),
            Ok(_) => {}
            Err(error) => {
                // Unknown whether it applied: `fail_booking` only undoes if
                // it can still claim the pending ticket.
                self.fail_booking(ticket, holding).await;
                return Err(map_err("book", &error));
            }
        }
        let current = self
            .tickets
            .find_one(doc! { "_id": ticket.id })
            .await
            .map_err(|e| map_err("book", &e))?;
        if current.is_some_and(|t| t.status == TicketStatus::Active) {
            return Ok(());
        }
        self.fail_booking(ticket, holding).await;
        let event = self.event_doc(ticket.event_id, "book").await?;
        if event.is_none_or(|e| e.cancelled_at.is_some()) {
            return Err(StoreError::EventClosed);
        }
        Err(StoreError::Unavailable(
            "the booking took too long and was rolled back; retry".to_owned(),
        ))
    }

    /// See [`coliseum_store::Store::expire_offers`]: per event with a lapsed
    /// offer, one versioned update removes every lapsed entry, moves their
    /// seats from `held` back and runs the offer round; the version guard
    /// makes each lapse land (and be reported) once, even with concurrent
    /// sweeps in several processes.
    pub async fn expire_offers(
        &self,
        now: DateTime<Utc>,
        policy: OfferPolicy,
    ) -> StoreResult<OfferSweep> {
        self.remember(policy);
        let at = to_bson_time(now);
        let ids: Vec<ObjectId> = self
            .events
            .clone_with_type::<Document>()
            .find(doc! { "waitlist.expires_at": { "$lte": at } })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(|e| map_err("expire_offers", &e))?
            .try_collect::<Vec<Document>>()
            .await
            .map_err(|e| map_err("expire_offers", &e))?
            .iter()
            .filter_map(|d| d.get_object_id("_id").ok())
            .collect();
        let mut sweep = OfferSweep::default();
        for id in ids {
            let result = self
                .versioned_update(id, "expire_offers", |event| {
                    let (lapsed, rest): (Vec<WaitEntry>, Vec<WaitEntry>) = event
                        .waitlist
                        .iter()
                        .cloned()
                        .partition(|e| e.expires_at.is_some_and(|x| x <= at));
                    if lapsed.is_empty() {
                        return Ok(Planned::Done((Vec::new(), Vec::new())));
                    }
                    let freed: i64 = lapsed.iter().map(|e| e.quantity).sum();
                    let expired: Vec<OfferGrant> = lapsed
                        .iter()
                        .filter_map(|e| {
                            e.offer(event).map(|offer| OfferGrant {
                                user_id: e.user_id.to_hex(),
                                offer,
                            })
                        })
                        .collect();
                    let round = offer_round(event, rest, event.available + freed, now, policy);
                    let mut change = Change::default();
                    change.apply_round(&round, freed)?;
                    Ok(Planned::Write(Box::new(change), (expired, round.grants)))
                })
                .await;
            match result {
                Ok((_, (expired, offered))) => {
                    sweep.expired.extend(expired);
                    sweep.offered.extend(offered);
                }
                Err(StoreError::NotFound) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(sweep)
    }

    /// See [`coliseum_store::Store::next_offer_expiry`].
    pub async fn next_offer_expiry(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let docs: Vec<WaitlistOnly> = self
            .events
            .clone_with_type::<WaitlistOnly>()
            .find(doc! { "waitlist.expires_at": { "$exists": true } })
            .projection(doc! { "waitlist": 1 })
            .await
            .map_err(|e| map_err("next_offer_expiry", &e))?
            .try_collect()
            .await
            .map_err(|e| map_err("next_offer_expiry", &e))?;
        Ok(docs
            .iter()
            .flat_map(|d| d.waitlist.iter().filter_map(|e| e.expires_at))
            .min()
            .map(from_bson_time))
    }

    // ----- the door ---------------------------------------------------------

    /// See [`coliseum_store::Store::check_in`]: one conditional update
    /// (`status: active`, `checked_in_at` absent) decides between
    /// concurrent scans; the losers read the winner's time.
    pub async fn check_in(
        &self,
        ticket_id: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<CheckIn> {
        let ticket_id = parse_id(ticket_id).ok_or(StoreError::NotFound)?;
        let event_id = parse_id(event_id).ok_or(StoreError::NotFound)?;
        let event = self
            .event_doc(event_id, "check_in")
            .await?
            .ok_or(StoreError::NotFound)?;
        for _ in 0..SETTLE_POLLS {
            let current = self
                .tickets
                .find_one(doc! { "_id": ticket_id, "event_id": event_id })
                .await
                .map_err(|e| map_err("check_in", &e))?
                .ok_or(StoreError::NotFound)?;
            if let Some(at) = current.checked_in_at {
                return Err(StoreError::AlreadyCheckedIn {
                    at: from_bson_time(at),
                });
            }
            match current.status {
                TicketStatus::Cancelled => return Err(StoreError::TicketCancelled),
                TicketStatus::Pending | TicketStatus::Failed => return Err(StoreError::NotFound),
                // Part of it is being given back: look again in a moment.
                TicketStatus::Cancelling => {
                    tokio::time::sleep(SETTLE_EVERY).await;
                    continue;
                }
                TicketStatus::Active => {}
            }
            let holder = self
                .users
                .find_one(doc! { "_id": current.user_id })
                .await
                .map_err(|e| map_err("check_in", &e))?
                .map(UserDoc::into_user)
                .ok_or_else(|| StoreError::Internal("a ticket without its user".to_owned()))?;
            let at = to_bson_time(now);
            let before = self
                .tickets
                .find_one_and_update(
                    doc! {
                        "_id": ticket_id,
                        "event_id": event_id,
                        "status": "active",
                        "checked_in_at": { "$exists": false },
                    },
                    doc! { "$set": { "checked_in_at": at } },
                )
                .return_document(ReturnDocument::Before)
                .await
                .map_err(|e| map_err("check_in", &e))?;
            if let Some(mut ticket) = before {
                ticket.checked_in_at = Some(at);
                return Ok(CheckIn {
                    ticket: ticket.to_ticket()?,
                    event: event.into_event()?,
                    user_id: holder.id,
                    holder: holder.username,
                });
            }
            // Lost a race (another scan, or a cancel): look again.
        }
        Err(StoreError::Unavailable(
            "the ticket is being changed by another call; retry".to_owned(),
        ))
    }

    /// See [`coliseum_store::Store::attendees`].
    pub async fn attendees(&self, event_id: &str) -> StoreResult<Vec<Attendee>> {
        let id = parse_id(event_id).ok_or(StoreError::NotFound)?;
        if self.event_doc(id, "attendees").await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let tickets: Vec<TicketDoc> = self
            .tickets
            .find(doc! { "event_id": id, "status": "active" })
            .await
            .map_err(|e| map_err("attendees", &e))?
            .try_collect()
            .await
            .map_err(|e| map_err("attendees", &e))?;
        let mut holders: Vec<ObjectId> = tickets.iter().map(|t| t.user_id).collect();
        holders.sort();
        holders.dedup();
        let users: Vec<UserDoc> = self
            .users
            .find(doc! { "_id": { "$in": holders.iter().copied().map(Bson::ObjectId).collect::<Vec<_>>() } })
            .await
            .map_err(|e| map_err("attendees", &e))?
            .try_collect()
            .await
            .map_err(|e| map_err("attendees", &e))?;
        let mut rows = tickets
            .iter()
            .map(|t| {
                let holder = users
                    .iter()
                    .find(|u| u.id == t.user_id)
                    .map(|u| u.username.clone())
                    .unwrap_or_default();
                Ok(Attendee {
                    ticket_id: t.id.to_hex(),
                    holder,
                    quantity: to_u32(t.quantity, "quantity")?,
                    checked_in_at: t.checked_in_at.map(from_bson_time),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        rows.sort_by(|a, b| {
            a.holder
                .to_lowercase()
                .cmp(&b.holder.to_lowercase())
                .then_with(|| a.ticket_id.cmp(&b.ticket_id))
        });
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(quantity: i64, seq: i64) -> WaitEntry {
        WaitEntry {
            user_id: ObjectId::new(),
            quantity,
            seq,
            joined_at: mongodb::bson::DateTime::from_millis(0),
            offer_id: None,
            expires_at: None,
        }
    }

    fn event(starts_in_days: i64) -> EventDoc {
        let starts = Utc::now() + chrono::Duration::days(starts_in_days);
        EventDoc {
            id: ObjectId::new(),
            name: "Round".to_owned(),
            date: starts.date_naive(),
            location: "Here".to_owned(),
            capacity: 10,
            available: 0,
            max_per_user: 4,
            description: String::new(),
            starts_at: Some(starts.fixed_offset().to_rfc3339()),
            starts_utc: Some(to_bson_time(starts)),
            cancelled_at: None,
            cancel_reason: None,
            sweep: None,
            held: 0,
            waitlist: Vec::new(),
            wseq: 0,
            wv: Some(0),
            holds: Vec::new(),
            releases: Vec::new(),
        }
    }

    #[test]
    fn the_round_is_first_fit_in_join_order() {
        let show = event(30);
        let list = vec![entry(1, 2), entry(3, 1), entry(2, 3), entry(1, 4)];
        let round = offer_round(&show, list, 3, Utc::now(), OfferPolicy::default());
        // seq 1 wants 3: fits; then nothing is left.
        let offered: Vec<i64> = round
            .waitlist
            .iter()
            .filter(|e| e.offer_id.is_some())
            .map(|e| e.seq)
            .collect();
        assert_eq!(offered, [1]);
        assert_eq!((round.offered, round.held(), round.grants.len()), (3, 3, 1));

        let list = vec![entry(3, 1), entry(1, 2), entry(2, 3), entry(1, 4)];
        let round = offer_round(&show, list, 2, Utc::now(), OfferPolicy::default());
        let offered: Vec<i64> = round
            .waitlist
            .iter()
            .filter(|e| e.offer_id.is_some())
            .map(|e| e.seq)
            .collect();
        assert_eq!(offered, [2, 4], "3 does not fit, 2 then 4 do");
        assert_eq!(round.offered, 2);
    }

    #[test]
    fn closed_events_make_no_offers() {
        let past = event(-1);
        let round = offer_round(
            &past,
            vec![entry(1, 1)],
            5,
            Utc::now(),
            OfferPolicy::default(),
        );
        assert_eq!((round.offered, round.grants.len()), (0, 0));
        let mut cancelled = event(3);
        cancelled.cancelled_at = Some(to_bson_time(Utc::now()));
        let round = offer_round(
            &cancelled,
            vec![entry(1, 1)],
            5,
            Utc::now(),
            OfferPolicy::default(),
        );
        assert_eq!(round.offered, 0);
    }

    #[test]
    fn offers_expire_after_the_hold() {
        let show = event(3);
        let now = coliseum_store::now();
        let policy = OfferPolicy {
            hold: chrono::Duration::minutes(3),
        };
        let round = offer_round(&show, vec![entry(2, 1)], 2, now, policy);
        let grant = &round.grants[0];
        assert_eq!(grant.offer.expires_at, now + chrono::Duration::minutes(3));
        assert_eq!(grant.offer.event_name, "Round");
        assert_eq!(grant.offer.quantity, 2);
    }
}
