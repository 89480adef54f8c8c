//! The SQL of the ticketing issue: event changes and cancellation, the
//! waiting list and its offers, check-in and attendees. Same rules as
//! `sql.rs`: writes run on the single writer inside their own savepoint
//! (so a refused call changes nothing), reads on a pooled read-only
//! connection.
//!
//! Every write that frees seats (a cancelled ticket or part of one, a raised
//! capacity, an offer declined or lapsed, someone leaving the line with an
//! offer) runs [`offer_round`] before it returns, in the same savepoint: the
//! freed seats are held for the people waiting before any booking can see
//! them, so no seat is ever both on sale and offered.

use chrono::{DateTime, Utc};
use coliseum_protocol::{Attendee, Offer, WaitlistEntry};
use rusqlite::{Connection, OptionalExtension as _, params};

use super::convert::{map_err, opt_time_col, parse_id, render_id, time_col, to_millis};
use super::sql::{HELD_SQL, event_by_rowid, ticket_by_rowid};
use crate::{
    Booking, Cancellation, CheckIn, EventCancellation, EventChange, EventUpdate, NewOffers,
    OfferGrant, OfferPolicy, OfferSweep, RefundedTicket, StoreError, StoreResult,
};

/// The seat state of an event as the ticketing writes need it (the raw
/// columns, not the derived wire record).
struct Seats {
    /// Display name (offers carry it).
    name: String,
    /// Total seats.
    capacity: u32,
    /// Seats for sale.
    available: u32,
    /// Seats held for open offers.
    held: u32,
    /// Per-user limit.
    max_per_user: u32,
    /// Start, unix milliseconds.
    starts_ms: i64,
    /// Set once cancelled.
    cancelled: bool,
}

impl Seats {
    /// Whether the event is cancelled or has started at `now`.
    fn closed(&self, now: DateTime<Utc>) -> bool {
        self.cancelled || self.starts_ms <= to_millis(now)
    }

    /// Seats of active tickets.
    fn sold(&self) -> u32 {
        self.capacity
            .saturating_sub(self.available)
            .saturating_sub(self.held)
    }
}

/// Reads an event's [`Seats`]; `NotFound` when there is no such event.
fn seats(conn: &Connection, event_id: i64) -> StoreResult<Seats> {
    conn.prepare_cached(
        "SELECT name, capacity, available, held, max_per_user, starts_ms, cancelled_at \
         FROM events WHERE id = ?1",
    )
    .and_then(|mut stmt| {
        stmt.query_row([event_id], |row| {
            Ok(Seats {
                name: row.get(0)?,
                capacity: row.get(1)?,
                available: row.get(2)?,
                held: row.get(3)?,
                max_per_user: row.get(4)?,
                starts_ms: row.get(5)?,
                cancelled: row.get::<_, Option<i64>>(6)?.is_some(),
            })
        })
        .optional()
    })
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)
}

/// An event's row id, `NotFound` for a malformed id.
fn key(id: &str) -> StoreResult<i64> {
    parse_id(id).ok_or(StoreError::NotFound)
}

/// Seats `user_id` holds on active tickets of `event_id`.
fn seats_held_by(conn: &Connection, user_id: i64, event_id: i64) -> StoreResult<u32> {
    let held: i64 = conn
        .prepare_cached(HELD_SQL)
        .and_then(|mut stmt| stmt.query_row([user_id, event_id], |row| row.get(0)))
        .map_err(map_err)?;
    Ok(u32::try_from(held).unwrap_or(u32::MAX))
}

/// Adds `delta` to an event's `available` and `held` (either may be
/// negative); the table's `CHECK`s refuse a count out of range.
fn move_seats(conn: &Connection, event_id: i64, available: i64, held: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE events SET available = available + ?2, held = held + ?3 WHERE id = ?1",
    )
    .and_then(|mut stmt| stmt.execute(params![event_id, available, held]))
    .map_err(map_err)
    .map(|_| ())
}

/// Offers an open event's free seats to the people waiting, in the order
/// they joined: each one whose `quantity` fits what is still free gets an
/// offer holding those seats until `now + policy.hold` (first fit; people
/// whose request does not fit keep their place). Moves the seats from
/// `available` to `held` and returns the offers made. A closed event offers
/// nothing.
pub(super) fn offer_round(
    conn: &Connection,
    event_id: i64,
    now: DateTime<Utc>,
    policy: OfferPolicy,
) -> StoreResult<NewOffers> {
    let event = seats(conn, event_id)?;
    if event.closed(now) || event.available == 0 {
        return Ok(Vec::new());
    }
    let waiting: Vec<(i64, i64, u32)> = conn
        .prepare_cached(
            "SELECT id, user_id, quantity FROM waitlist \
             WHERE event_id = ?1 AND offer_id IS NULL ORDER BY id",
        )
        .and_then(|mut stmt| {
            stmt.query_map([event_id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect()
        })
        .map_err(map_err)?;
    let expires_at = now + policy.hold;
    let expires_ms = to_millis(expires_at);
    let mut free = event.available;
    let mut offers = Vec::new();
    for (entry, user_id, quantity) in waiting {
        if free == 0 {
            break;
        }
        if quantity > free {
            continue;
        }
        let offer_id: i64 = conn
            .prepare_cached(
                "INSERT INTO offers (event_id, user_id, quantity, offered_at, expires_at, state) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'open') RETURNING id",
            )
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![event_id, user_id, quantity, to_millis(now), expires_ms],
                    |row| row.get(0),
                )
            })
            .map_err(map_err)?;
        conn.prepare_cached("UPDATE waitlist SET offer_id = ?2 WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute([entry, offer_id]))
            .map_err(map_err)?;
        free -= quantity;
        offers.push(OfferGrant {
            user_id: render_id(user_id),
            offer: Offer {
                offer_id: render_id(offer_id),
                event_id: render_id(event_id),
                event_name: event.name.clone(),
                quantity,
                expires_at: DateTime::from_timestamp_millis(expires_ms).unwrap_or(expires_at),
            },
        });
    }
    let offered = i64::from(event.available - free);
    if offered > 0 {
        move_seats(conn, event_id, -offered, offered)?;
    }
    Ok(offers)
}

/// Cancels a ticket or `quantity` seats of it and offers the seats to the
/// waiting list (see [`crate::Store::cancel_ticket`]).
pub(super) fn cancel_ticket(
    conn: &Connection,
    user_id: &str,
    ticket_id: &str,
    quantity: Option<u32>,
    now: DateTime<Utc>,
    policy: OfferPolicy,
) -> StoreResult<Cancellation> {
    let user_id = key(user_id)?;
    let ticket_id = key(ticket_id)?;
    let (event_id, seats_on_ticket, checked_in_at): (i64, u32, Option<DateTime<Utc>>) = conn
        .prepare_cached(
            "SELECT event_id, quantity, checked_in_at FROM tickets \
             WHERE id = ?1 AND user_id = ?2 AND cancelled_at IS NULL",
        )
        .and_then(|mut stmt| {
            stmt.query_row([ticket_id, user_id], |row| {
                Ok((row.get(0)?, row.get(1)?, opt_time_col(row, 2)?))
            })
            .optional()
        })
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    if let Some(at) = checked_in_at {
        return Err(StoreError::AlreadyCheckedIn { at });
    }
    if seats(conn, event_id)?.closed(now) {
        return Err(StoreError::EventClosed);
    }
    let returned = quantity.unwrap_or(seats_on_ticket);
    if returned == 0 || returned > seats_on_ticket {
        return Err(StoreError::Conflict("quantity".to_owned()));
    }
    let remaining = seats_on_ticket - returned;
    if remaining == 0 {
        conn.prepare_cached("UPDATE tickets SET cancelled_at = ?2 WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute([ticket_id, to_millis(now)]))
    } else {
        conn.prepare_cached("UPDATE tickets SET quantity = ?2 WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute(params![ticket_id, remaining]))
    }
    .map_err(map_err)?;
    move_seats(conn, event_id, i64::from(returned), 0)?;
    let offers = offer_round(conn, event_id, now, policy)?;
    Ok(Cancellation {
        event_id: render_id(event_id),
        quantity: returned,
        available: seats(conn, event_id)?.available,
        remaining,
        offers,
    })
}

/// Applies an [`EventUpdate`] (see [`crate::Store::update_event`]).
pub(super) fn update_event(
    conn: &Connection,
    event_id: &str,
    update: &EventUpdate,
    now: DateTime<Utc>,
    policy: OfferPolicy,
) -> StoreResult<EventChange> {
    let id = key(event_id)?;
    let before = seats(conn, id)?;
    if before.closed(now) {
        return Err(StoreError::EventClosed);
    }
    let capacity = update.capacity.unwrap_or(before.capacity);
    let taken = before.sold() + before.held;
    if capacity < taken {
        return Err(StoreError::Conflict("capacity".to_owned()));
    }
    let available = capacity - taken;
    conn.prepare_cached(
        "UPDATE events SET name = COALESCE(?2, name), \
             starts_at = COALESCE(?3, starts_at), starts_ms = COALESCE(?4, starts_ms), \
             date = COALESCE(?5, date), location = COALESCE(?6, location), \
             description = COALESCE(?7, description), capacity = ?8, available = ?9, \
             max_per_user = COALESCE(?10, max_per_user) \
         WHERE id = ?1",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            id,
            update.name,
            update.starts_at.map(|at| at.to_rfc3339()),
            update.starts_at.map(|at| at.timestamp_millis()),
            update.starts_at.map(|at| at.date_naive().to_string()),
            update.location,
            update.description,
            capacity,
            available,
            update.max_per_user,
        ])
    })
    .map_err(map_err)?;
    let offers = if available > before.available {
        offer_round(conn, id, now, policy)?
    } else {
        Vec::new()
    };
    let event = event_by_rowid(conn, id)?.ok_or(StoreError::NotFound)?;
    Ok(EventChange { event, offers })
}

/// Cancels an event with every active ticket and open offer (see
/// [`crate::Store::cancel_event`]).
pub(super) fn cancel_event(
    conn: &Connection,
    event_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> StoreResult<EventCancellation> {
    let id = key(event_id)?;
    let event = seats(conn, id)?;
    if event.closed(now) {
        return Err(StoreError::EventClosed);
    }
    let at = to_millis(now);
    let tickets: Vec<RefundedTicket> = conn
        .prepare_cached(
            "UPDATE tickets SET cancelled_at = ?2 WHERE event_id = ?1 AND cancelled_at IS NULL \
             RETURNING user_id, id, quantity",
        )
        .and_then(|mut stmt| {
            stmt.query_map([id, at], |row| {
                Ok(RefundedTicket {
                    user_id: render_id(row.get(0)?),
                    ticket_id: render_id(row.get(1)?),
                    quantity: row.get(2)?,
                })
            })?
            .collect()
        })
        .map_err(map_err)?;
    let offers = end_offers(conn, "event_id = ?1", id, "withdrawn", &event.name)?;
    conn.prepare_cached("DELETE FROM waitlist WHERE event_id = ?1")
        .and_then(|mut stmt| stmt.execute([id]))
        .map_err(map_err)?;
    conn.prepare_cached(
        "UPDATE events SET cancelled_at = ?2, cancel_reason = ?3, available = 0, held = 0 \
         WHERE id = ?1",
    )
    .and_then(|mut stmt| stmt.execute(params![id, at, reason]))
    .map_err(map_err)?;
    let mut tickets = tickets;
    tickets.sort_by_key(|t| parse_id(&t.ticket_id));
    let event = event_by_rowid(conn, id)?.ok_or(StoreError::NotFound)?;
    Ok(EventCancellation {
        event,
        tickets,
        offers,
    })
}

/// Moves the open offers matching `filter` (an SQL condition on `offers`
/// with `?1` bound to `arg`) to `state`, returning them. Seat counts and
/// waiting-list entries are the caller's business.
fn end_offers(
    conn: &Connection,
    filter: &str,
    arg: i64,
    state: &str,
    event_name: &str,
) -> StoreResult<Vec<OfferGrant>> {
    let sql = format!(
        "UPDATE offers SET state = '{state}' WHERE state = 'open' AND {filter} \
         RETURNING id, user_id, event_id, quantity, expires_at"
    );
    let mut offers: Vec<OfferGrant> = conn
        .prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_map([arg], |row| {
                Ok(OfferGrant {
                    user_id: render_id(row.get(1)?),
                    offer: Offer {
                        offer_id: render_id(row.get(0)?),
                        event_id: render_id(row.get(2)?),
                        event_name: event_name.to_owned(),
                        quantity: row.get(3)?,
                        expires_at: time_col(row, 4)?,
                    },
                })
            })?
            .collect()
        })
        .map_err(map_err)?;
    offers.sort_by_key(|o| parse_id(&o.offer.offer_id));
    Ok(offers)
}

/// Puts a user on an event's waiting list (see
/// [`crate::Store::waitlist_join`]); returns their position.
pub(super) fn waitlist_join(
    conn: &Connection,
    event_id: &str,
    user_id: &str,
    quantity: u32,
    now: DateTime<Utc>,
) -> StoreResult<u32> {
    let event_id = key(event_id)?;
    let user_id = key(user_id)?;
    let event = seats(conn, event_id)?;
    if event.closed(now) {
        return Err(StoreError::EventClosed);
    }
    if event.available >= quantity {
        return Err(StoreError::Conflict("available".to_owned()));
    }
    let waiting = conn
        .prepare_cached("SELECT 1 FROM waitlist WHERE event_id = ?1 AND user_id = ?2")
        .and_then(|mut stmt| stmt.exists([event_id, user_id]))
        .map_err(map_err)?;
    if waiting {
        return Err(StoreError::Conflict("waitlist".to_owned()));
    }
    let held = seats_held_by(conn, user_id, event_id)?;
    if u64::from(held) + u64::from(quantity) > u64::from(event.max_per_user) {
        return Err(StoreError::LimitExceeded {
            max_per_user: event.max_per_user,
            held,
        });
    }
    let entry: i64 = conn
        .prepare_cached(
            "INSERT INTO waitlist (event_id, user_id, quantity, joined_at) \
             VALUES (?1, ?2, ?3, ?4) RETURNING id",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                params![event_id, user_id, quantity, to_millis(now)],
                |row| row.get(0),
            )
        })
        .map_err(map_err)?;
    position(conn, event_id, entry)
}

/// 1-based place of waiting-list entry `entry` among the event's entries
/// not yet offered seats.
fn position(conn: &Connection, event_id: i64, entry: i64) -> StoreResult<u32> {
    conn.prepare_cached(
        "SELECT COUNT(*) FROM waitlist WHERE event_id = ?1 AND offer_id IS NULL AND id <= ?2",
    )
    .and_then(|mut stmt| stmt.query_row([event_id, entry], |row| row.get(0)))
    .map_err(map_err)
}

/// Takes a user off an event's waiting list, declining their open offer
/// if they had one (see [`crate::Store::waitlist_leave`]).
pub(super) fn waitlist_leave(
    conn: &Connection,
    event_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
    policy: OfferPolicy,
) -> StoreResult<NewOffers> {
    let event_id = key(event_id)?;
    let user_id = key(user_id)?;
    let offer_id: Option<i64> = conn
        .prepare_cached(
            "DELETE FROM waitlist WHERE event_id = ?1 AND user_id = ?2 RETURNING offer_id",
        )
        .and_then(|mut stmt| {
            stmt.query_row([event_id, user_id], |row| row.get(0))
                .optional()
        })
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    match offer_id {
        Some(offer_id) => give_back(conn, offer_id, "declined", now, policy),
        None => Ok(Vec::new()),
    }
}

/// Ends offer `offer_id` with `state` if it is still open: its seats go
/// back on sale and to the next in line (returned). The caller removes the
/// waiting-list entry.
fn give_back(
    conn: &Connection,
    offer_id: i64,
    state: &str,
    now: DateTime<Utc>,
    policy: OfferPolicy,
) -> StoreResult<NewOffers> {
    let ended = end_offers(conn, "id = ?1", offer_id, state, "")?;
    let Some(ended) = ended.first() else {
        return Ok(Vec::new());
    };
    let event_id = key(&ended.offer.event_id)?;
    let quantity = i64::from(ended.offer.quantity);
    move_seats(conn, event_id, quantity, -quantity)?;
    offer_round(conn, event_id, now, policy)
}

/// A user's waiting-list entries not yet offered, by event.
pub(super) fn waitlist_of_user(
    conn: &Connection,
    user_id: &str,
) -> StoreResult<Vec<WaitlistEntry>> {
    let Some(user_id) = parse_id(user_id) else {
        return Ok(Vec::new());
    };
    conn.prepare_cached(
        "SELECT w.event_id, w.quantity, \
             (SELECT COUNT(*) FROM waitlist v \
              WHERE v.event_id = w.event_id AND v.offer_id IS NULL AND v.id <= w.id) \
         FROM waitlist w WHERE w.user_id = ?1 AND w.offer_id IS NULL ORDER BY w.event_id",
    )
    .and_then(|mut stmt| {
        stmt.query_map([user_id], |row| {
            Ok(WaitlistEntry {
                event_id: render_id(row.get(0)?),
                quantity: row.get(1)?,
                position: row.get(2)?,
            })
        })?
        .collect()
    })
    .map_err(map_err)
}

/// A user's open offers not lapsed at `now`, soonest expiry first.
pub(super) fn offers_of_user(
    conn: &Connection,
    user_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Offer>> {
    let Some(user_id) = parse_id(user_id) else {
        return Ok(Vec::new());
    };
    conn.prepare_cached(
        "SELECT o.id, o.event_id, e.name, o.quantity, o.expires_at \
         FROM offers o JOIN events e ON e.id = o.event_id \
         WHERE o.user_id = ?1 AND o.state = 'open' AND o.expires_at > ?2 \
         ORDER BY o.expires_at, o.id",
    )
    .and_then(|mut stmt| {
        stmt.query_map([user_id, to_millis(now)], |row| {
            Ok(Offer {
                offer_id: render_id(row.get(0)?),
                event_id: render_id(row.get(1)?),
                event_name: row.get(2)?,
                quantity: row.get(3)?,
                expires_at: time_col(row, 4)?,
            })
        })?
        .collect()
    })
    .map_err(map_err)
}

/// An open offer of `user_id`: (event id, seats, expiry). `NotFound` when
/// the offer is unknown, someone else's or no longer open.
fn open_offer(
    conn: &Connection,
    offer_id: i64,
    user_id: i64,
) -> StoreResult<(i64, u32, DateTime<Utc>)> {
    conn.prepare_cached(
        "SELECT event_id, quantity, expires_at FROM offers \
         WHERE id = ?1 AND user_id = ?2 AND state = 'open'",
    )
    .and_then(|mut stmt| {
        stmt.query_row([offer_id, user_id], |row| {
            Ok((row.get(0)?, row.get(1)?, time_col(row, 2)?))
        })
        .optional()
    })
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)
}

/// Turns an open offer into a ticket (see [`crate::Store::offer_accept`]).
pub(super) fn offer_accept(
    conn: &Connection,
    offer_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
    audit_actor: Option<&str>,
) -> StoreResult<Booking> {
    let offer_key = key(offer_id)?;
    let user_key = key(user_id)?;
    let (event_id, quantity, expires_at) = open_offer(conn, offer_key, user_key)?;
    let event = seats(conn, event_id)?;
    if event.closed(now) {
        return Err(StoreError::EventClosed);
    }
    if expires_at <= now {
        return Err(StoreError::Conflict("offer".to_owned()));
    }
    let held = seats_held_by(conn, user_key, event_id)?;
    if u64::from(held) + u64::from(quantity) > u64::from(event.max_per_user) {
        return Err(StoreError::LimitExceeded {
            max_per_user: event.max_per_user,
            held,
        });
    }
    let ticket_id: i64 = conn
        .prepare_cached(
            "INSERT INTO tickets (user_id, event_id, event_name, quantity, booked_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                params![user_key, event_id, event.name, quantity, to_millis(now)],
                |row| row.get(0),
            )
        })
        .map_err(map_err)?;
    conn.prepare_cached("UPDATE offers SET state = 'accepted', ticket_id = ?2 WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute([offer_key, ticket_id]))
        .map_err(map_err)?;
    conn.prepare_cached("DELETE FROM waitlist WHERE offer_id = ?1")
        .and_then(|mut stmt| stmt.execute([offer_key]))
        .map_err(map_err)?;
    move_seats(conn, event_id, 0, -i64::from(quantity))?;
    let ticket = ticket_by_rowid(conn, ticket_id)?.ok_or(StoreError::NotFound)?;
    if let Some(actor) = audit_actor {
        super::sql::append_audit(conn, &crate::offer_booking_audit(actor, &ticket, offer_id))?;
    }
    Ok(Booking {
        ticket,
        available: event.available,
        replayed: false,
    })
}

/// Gives an open offer up (see [`crate::Store::offer_decline`]).
pub(super) fn offer_decline(
    conn: &Connection,
    offer_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
    policy: OfferPolicy,
) -> StoreResult<NewOffers> {
    let offer_key = key(offer_id)?;
    open_offer(conn, offer_key, key(user_id)?)?;
    conn.prepare_cached("DELETE FROM waitlist WHERE offer_id = ?1")
        .and_then(|mut stmt| stmt.execute([offer_key]))
        .map_err(map_err)?;
    give_back(conn, offer_key, "declined", now, policy)
}

/// Ends every offer lapsed at `now` and passes the seats on (see
/// [`crate::Store::expire_offers`]).
pub(super) fn expire_offers(
    conn: &Connection,
    now: DateTime<Utc>,
    policy: OfferPolicy,
) -> StoreResult<OfferSweep> {
    let lapsed: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT id, event_id FROM offers WHERE state = 'open' AND expires_at <= ?1 \
             ORDER BY expires_at, id",
        )
        .and_then(|mut stmt| {
            stmt.query_map([to_millis(now)], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(map_err)?;
    let mut sweep = OfferSweep::default();
    for (offer_id, event_id) in lapsed {
        let name = seats(conn, event_id)?.name;
        let mut ended = end_offers(conn, "id = ?1", offer_id, "lapsed", &name)?;
        let Some(grant) = ended.pop() else {
            continue;
        };
        conn.prepare_cached("DELETE FROM waitlist WHERE offer_id = ?1")
            .and_then(|mut stmt| stmt.execute([offer_id]))
            .map_err(map_err)?;
        let quantity = i64::from(grant.offer.quantity);
        move_seats(conn, event_id, quantity, -quantity)?;
        sweep.expired.push(grant);
        sweep
            .offered
            .extend(offer_round(conn, event_id, now, policy)?);
    }
    Ok(sweep)
}

/// The soonest expiry of any open offer.
pub(super) fn next_offer_expiry(conn: &Connection) -> StoreResult<Option<DateTime<Utc>>> {
    conn.prepare_cached("SELECT MIN(expires_at) FROM offers WHERE state = 'open'")
        .and_then(|mut stmt| stmt.query_row([], |row| opt_time_col(row, 0)))
        .map_err(map_err)
}

/// Checks a ticket in (see [`crate::Store::check_in`]).
pub(super) fn check_in(
    conn: &Connection,
    ticket_id: &str,
    event_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<CheckIn> {
    let ticket_key = key(ticket_id)?;
    let event_key = key(event_id)?;
    let (user_id, holder, cancelled, checked_in_at): (i64, String, bool, Option<DateTime<Utc>>) =
        conn.prepare_cached(
            "SELECT t.user_id, u.username, t.cancelled_at IS NOT NULL, t.checked_in_at \
             FROM tickets t JOIN users u ON u.id = t.user_id \
             WHERE t.id = ?1 AND t.event_id = ?2",
        )
        .and_then(|mut stmt| {
            stmt.query_row([ticket_key, event_key], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, opt_time_col(row, 3)?))
            })
            .optional()
        })
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    if let Some(at) = checked_in_at {
        return Err(StoreError::AlreadyCheckedIn { at });
    }
    if cancelled {
        return Err(StoreError::TicketCancelled);
    }
    conn.prepare_cached(
        "UPDATE tickets SET checked_in_at = ?2 WHERE id = ?1 AND checked_in_at IS NULL",
    )
    .and_then(|mut stmt| stmt.execute([ticket_key, to_millis(now)]))
    .map_err(map_err)?;
    let ticket = ticket_by_rowid(conn, ticket_key)?.ok_or(StoreError::NotFound)?;
    let event = event_by_rowid(conn, event_key)?.ok_or(StoreError::NotFound)?;
    Ok(CheckIn {
        ticket,
        event,
        user_id: render_id(user_id),
        holder,
    })
}

/// An event's active tickets with their holders (see
/// [`crate::Store::attendees`]).
pub(super) fn attendees(conn: &Connection, event_id: &str) -> StoreResult<Vec<Attendee>> {
    let id = key(event_id)?;
    seats(conn, id)?;
    conn.prepare_cached(
        "SELECT t.id, u.username, t.quantity, t.checked_in_at \
         FROM tickets t JOIN users u ON u.id = t.user_id \
         WHERE t.event_id = ?1 AND t.cancelled_at IS NULL \
         ORDER BY lower(u.username), t.id",
    )
    .and_then(|mut stmt| {
        stmt.query_map([id], |row| {
            Ok(Attendee {
                ticket_id: render_id(row.get(0)?),
                holder: row.get(1)?,
                quantity: row.get(2)?,
                checked_in_at: opt_time_col(row, 3)?,
            })
        })?
        .collect()
    })
    .map_err(map_err)
}
