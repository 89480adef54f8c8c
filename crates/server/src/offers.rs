//! Waiting-list offers (ticketing issue): telling people about the seats
//! held for them, and lapsing offers on time.
//!
//! The store makes offers inside the same atomic step that frees seats
//! (`coliseum_store::NewOffers`), so nobody can book those seats in
//! between; this module only *announces* them: an `offer` push to the
//! member's connections and a system message in their direct room with
//! themselves (`dm:<u>:<u>`, their notices), which survives being offline.
//!
//! One sweeper task sleeps until the earliest `expires_at` any open offer
//! has (asking the store, so offers made before a restart lapse on time
//! too: expiry is enforced after a restart), or until a new offer wakes
//! it, or at most [`MAX_SLEEP`]; then it lets the store lapse what is due
//! and announces what that set in motion.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use coliseum_protocol::{Push, validate};
use coliseum_store::{NewOffers, OfferGrant};
use tokio::sync::Notify;

use crate::context::Shared;
use crate::news::store_and_push;

/// Longest sleep of the sweeper (it also wakes for every new offer).
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Wakes the sweeper when a new offer may expire sooner than what it
/// sleeps for.
#[derive(Debug, Default)]
pub(crate) struct OfferClock {
    wake: Notify,
}

impl OfferClock {
    /// A new offer exists: recompute the next expiry.
    pub(crate) fn offered(&self) {
        self.wake.notify_one();
    }
}

/// Announces offers the store just made: `offer` push, a notice in the
/// member's own direct room, a seat-count refresh, and wakes the sweeper.
pub(crate) async fn announce(shared: &Shared, offers: NewOffers) {
    if offers.is_empty() {
        return;
    }
    for grant in &offers {
        shared
            .hub
            .publish_user(&grant.user_id, &Push::Offer(grant.offer.clone()), None);
        shared.seats.changed(&grant.offer.event_id);
        let seats = seats(grant.offer.quantity);
        let text = format!(
            "Seats came back for {}: {seats} held for you until {}. Accept or decline the offer \
             in My tickets; after that they go to the next person waiting.",
            grant.offer.event_name,
            clock(grant.offer.expires_at),
        );
        notify(shared, &grant.user_id, text).await;
    }
    shared.offer_clock.offered();
}

/// Tells the member their offer lapsed (they left the waiting list).
async fn announce_lapsed(shared: &Shared, grant: &OfferGrant) {
    shared.seats.changed(&grant.offer.event_id);
    let text = format!(
        "Your offer of {} for {} lapsed at {} and went to the next person waiting. Join the \
         waiting list again if you still want seats.",
        seats(grant.offer.quantity),
        grant.offer.event_name,
        clock(grant.offer.expires_at),
    );
    notify(shared, &grant.user_id, text).await;
}

/// Writes `text` as a system message into the user's direct room with
/// themselves (created on first use) and pushes it to them. Failures are
/// logged: the offer exists regardless, and `my_waitlist` lists it.
pub(crate) async fn notify(shared: &Shared, user_id: &str, text: String) {
    let user = match shared.store.user_by_id(user_id).await {
        Ok(Some(user)) => user,
        Ok(None) => return,
        Err(err) => {
            tracing::warn!(%err, user_id, "notice skipped: user look-up failed");
            return;
        }
    };
    let name = validate::direct_room(&user.username, &user.username);
    let room = match shared
        .store
        .direct_room(user_id, user_id, &name, coliseum_store::now())
        .await
    {
        Ok(room) => room,
        Err(err) => {
            tracing::warn!(%err, user_id, "notice skipped: no notices room");
            return;
        }
    };
    shared.hub.add_room(user_id, &room.name);
    if let Err(err) = store_and_push(&*shared.store, &shared.hub, &room.name, None, text).await {
        tracing::warn!(%err, user_id, "could not write a notice");
    }
}

/// The sweeper task (module docs). Runs until the server shuts down.
pub(crate) async fn sweeper(shared: Arc<Shared>) {
    loop {
        let now = coliseum_store::now();
        match shared.store.expire_offers(now, shared.config.offers).await {
            Ok(sweep) => {
                for grant in &sweep.expired {
                    tracing::info!(user = %grant.user_id, offer = %grant.offer.offer_id, "offer lapsed");
                    crate::audit::record(
                        &*shared.store,
                        None,
                        "offer_lapsed",
                        serde_json::json!({
                            "offer_id": grant.offer.offer_id,
                            "event_id": grant.offer.event_id,
                            "user_id": grant.user_id,
                            "quantity": grant.offer.quantity,
                        }),
                    )
                    .await;
                    announce_lapsed(&shared, grant).await;
                }
                announce(&shared, sweep.offered).await;
            }
            Err(err) => tracing::warn!(%err, "offer sweep failed; retrying"),
        }
        let sleep = match shared.store.next_offer_expiry().await {
            Ok(Some(at)) => until(at).min(MAX_SLEEP),
            Ok(None) => MAX_SLEEP,
            Err(_) => Duration::from_secs(5),
        };
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            () = shared.offer_clock.wake.notified() => {}
            () = shared.shutdown.cancelled() => return,
        }
    }
}

/// Time from now until `at` (zero when past), plus a millisecond so the
/// store sees `expires_at ≤ now` when the sweeper wakes.
fn until(at: DateTime<Utc>) -> Duration {
    (at - Utc::now())
        .to_std()
        .unwrap_or_default()
        .saturating_add(Duration::from_millis(1))
}

/// "1 seat" / "3 seats".
fn seats(quantity: u32) -> String {
    if quantity == 1 {
        "1 seat".to_owned()
    } else {
        format!("{quantity} seats")
    }
}

/// An instant for people: `2027-06-12 20:15 UTC`.
fn clock(at: DateTime<Utc>) -> String {
    let text = at.to_rfc3339_opts(SecondsFormat::Secs, true);
    format!(
        "{} UTC",
        text.replace('T', " ")
            .trim_end_matches('Z')
            .get(..16)
            .unwrap_or(&text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_seats_read_well() {
        let at = DateTime::parse_from_rfc3339("2027-06-12T20:15:42Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(clock(at), "2027-06-12 20:15 UTC");
        assert_eq!(seats(1), "1 seat");
        assert_eq!(seats(4), "4 seats");
    }
}
