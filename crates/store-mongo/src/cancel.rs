//! Cancelling a ticket on every deployment, with the same guarded
//! single-document updates as booking (`booking.rs`).
//!
//! `active → cancelling` (guarded by owner and status; the
//! commit point), then `$inc` the seats back on the event and the holding,
//! each guarded by the absence of a `releases` marker that the same update
//! pushes, then `cancelling → cancelled`, then `$pull` the markers.
//! Recovery finishes stale `cancelling` tickets.
//!
//! Every step stops once the call has run for `booking::LEASE`.

use coliseum_store::{Cancellation, StoreError, StoreResult};
use mongodb::bson::doc;
use mongodb::options::ReturnDocument;

use crate::booking::{Lease, marker, now};
use crate::error::map_err;
use crate::model::{TicketDoc, holding_id, parse_id, to_u32};
use crate::store::Inner;

impl Inner {
    /// See [`coliseum_store::Store::cancel_ticket`] and the module docs.
    pub async fn cancel_ticket(&self, user_id: &str, ticket_id: &str) -> StoreResult<Cancellation> {
        let user = parse_id(user_id).ok_or(StoreError::NotFound)?;
        let ticket_id = parse_id(ticket_id).ok_or(StoreError::NotFound)?;
        let worker = format!("{:016x}", rand::random::<u64>());
        // The commit point: only the owner's active ticket, only once.
        let ticket = self
            .tickets
            .find_one_and_update(
                doc! { "_id": ticket_id, "user_id": user, "status": "active" },
                doc! { "$set": { "status": "cancelling", "since": now(), "worker": &worker } },
            )
            .return_document(ReturnDocument::Before)
            .await
            .map_err(|e| map_err("cancel_ticket", &e))?
            .ok_or(StoreError::NotFound)?;
        self.finish_cancel(&ticket, &worker, &Lease::start()).await
    }

    /// The steps after the commit point of a cancel, by `worker` (the owner
    /// or recovery after taking the ticket over).
    async fn finish_cancel(
        &self,
        ticket: &TicketDoc,
        worker: &str,
        lease: &Lease,
    ) -> StoreResult<Cancellation> {
        let quantity = ticket.quantity;
        let holding = holding_id(ticket.user_id, ticket.event_id);
        lease.check()?;
        let returned = self
            .events
            .find_one_and_update(
                doc! { "_id": ticket.event_id, "releases.t": { "$ne": ticket.id } },
                doc! {
                    "$inc": { "available": quantity },
                    "$push": { "releases": marker(ticket.id, quantity) },
                },
            )
            .return_document(ReturnDocument::Before)
            .await
            .map_err(|e| map_err("cancel_ticket", &e))?;
        let available = match returned {
            Some(before) => before.available + quantity,
            // Already given back by an earlier attempt.
            None => self
                .event_doc(ticket.event_id, "cancel_ticket")
                .await?
                .map_or(0, |e| e.available),
        };
        lease.check()?;
        self.holdings
            .update_one(
                doc! { "_id": &holding, "releases.t": { "$ne": ticket.id } },
                doc! {
                    "$inc": { "held": -quantity },
                    "$push": { "releases": marker(ticket.id, quantity) },
                },
            )
            .await
            .map_err(|e| map_err("cancel_ticket", &e))?;
        lease.check()?;
        let done = self
            .tickets
            .update_one(
                doc! { "_id": ticket.id, "status": "cancelling", "worker": worker },
                doc! { "$set": { "status": "cancelled", "since": now() }, "$unset": { "worker": "" } },
            )
            .await
            .map_err(|e| map_err("cancel_ticket", &e))?;
        // Only whoever completed the cancel may drop the markers (they keep
        // the seat return idempotent until then).
        if done.matched_count == 1 {
            self.pull_markers(ticket.id, ticket.event_id, &holding, "releases")
                .await;
        }
        Ok(Cancellation {
            event_id: ticket.event_id.to_hex(),
            quantity: to_u32(quantity, "quantity")?,
            available: to_u32(available.max(0), "available")?,
            remaining: 0,
            offers: Vec::new(),
        })
    }

    /// Recovery's entry to [`Self::finish_cancel`] for a ticket it took over.
    pub(crate) async fn resume_cancel(&self, ticket: &TicketDoc, worker: &str) -> StoreResult<()> {
        self.finish_cancel(ticket, worker, &Lease::start())
            .await
            .map(|_| ())
    }
}
