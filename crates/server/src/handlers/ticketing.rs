//! Ticketing (ticketing issue): `update_event`, `cancel_event`, the waiting
//! list and its offers, `server_info`, `check_in` and `attendees`.
//!
//! Rules (docs/protocol.md, "Ticketing"): admins change and cancel events;
//! admins and staff check tickets in and list attendees; any member joins
//! a waiting list and answers the offers made to them. Every change goes
//! into the audit log; seat changes are pushed as `event_update`
//! (coalesced), detail changes as `event_changed` to every client.

use coliseum_protocol::request::{
    Attendees, CancelEvent, CheckIn, MyWaitlist, OfferAccept, OfferDecline, ServerInfo,
    UpdateEvent, WaitlistJoin, WaitlistLeave,
};
use coliseum_protocol::response::{
    AttendeesData, CancelEventData, CheckInData, Empty, EventData, PositionData, ServerInfoData,
    TicketData, WaitlistData,
};
use coliseum_protocol::validate::{self, CAPACITY_MAX};
use coliseum_protocol::{ErrorBody, ErrorCode, Event, Push, Ticket};
use coliseum_store::{EventUpdate, StoreError};
use serde_json::json;

use super::{admin_session, session};
use crate::audit;
use crate::context::{ConnState, Session, Shared};
use crate::errors::{from_store, invalid};
use crate::offers;

/// Fills in a ticket's signed code (stores leave it empty).
pub(super) fn with_code(shared: &Shared, mut ticket: Ticket) -> Ticket {
    ticket.code = shared.config.ticket_key.code(&ticket.id, &ticket.event_id);
    ticket
}

/// The session if its role may check tickets in (admin, staff).
fn door_session(conn: &ConnState) -> Result<&Session, ErrorBody> {
    let session = session(conn)?;
    if session.role.checks_in() {
        Ok(session)
    } else {
        Err(ErrorBody::new(
            ErrorCode::Forbidden,
            "only administrators and door staff may do this",
        ))
    }
}

/// `update_event` (admins only).
pub(super) async fn update_event(
    shared: &Shared,
    conn: &ConnState,
    request: &UpdateEvent,
) -> Result<EventData, ErrorBody> {
    let admin = admin_session(conn)?;
    let update = validated_update(request)?;
    if update == EventUpdate::default() {
        return Err(invalid(
            "event_id",
            "nothing to change: give at least one field",
        ));
    }
    let current = shared
        .store
        .event(&request.event_id)
        .await
        .map_err(from_store)?
        .ok_or_else(|| from_store(StoreError::NotFound))?;
    // max_per_user is checked against the capacity the event will have.
    if let Some(max) = update.max_per_user {
        let capacity = update.capacity.unwrap_or(current.capacity);
        validate::capacity(capacity, max).map_err(|m| invalid("max_per_user", m))?;
    }
    let change = shared
        .store
        .update_event(
            &request.event_id,
            update.clone(),
            coliseum_store::now(),
            shared.config.offers,
        )
        .await
        .map_err(|err| match err {
            StoreError::Conflict(_) => ErrorBody::new(
                ErrorCode::Conflict,
                "the capacity cannot go below the seats already sold plus the seats held for \
                 waiting-list offers",
            )
            .with_field("capacity"),
            other => from_store(other),
        })?;
    let event = change.event;
    let changes = describe_changes(&current, &event);
    audit::record(
        &*shared.store,
        Some(&admin.username),
        "update_event",
        json!({ "event_id": event.id, "changes": changes }),
    )
    .await;
    shared.hub.publish_all(&Push::EventChanged {
        event: event.clone(),
    });
    shared.seats.changed(&event.id);
    offers::announce(shared, change.offers).await;
    let holders = holder_ids(shared, &event.id).await;
    join_event_room(shared, &event, &holders).await;
    shared.news.event_changed(&event, &changes).await;
    // A raised capacity can bring a sold-out event back on sale.
    shared
        .news
        .seats_changed(&event.id, current.available, event.available);
    Ok(EventData { event })
}

/// The store update `request` asks for, each field validated.
fn validated_update(request: &UpdateEvent) -> Result<EventUpdate, ErrorBody> {
    if let Some(name) = &request.name {
        validate::event_text("name", name).map_err(|m| invalid("name", m))?;
    }
    if let Some(location) = &request.location {
        validate::event_text("location", location).map_err(|m| invalid("location", m))?;
    }
    if let Some(description) = &request.description {
        validate::description(description).map_err(|m| invalid("description", m))?;
    }
    let starts_at = match &request.starts_at {
        Some(at) => {
            let at = validate::starts_at(at).map_err(|m| invalid("starts_at", m))?;
            validate::starts_at_not_past(at, chrono::Utc::now())
                .map_err(|m| invalid("starts_at", m))?;
            Some(at)
        }
        None => None,
    };
    if let Some(capacity) = request.capacity
        && !(1..=CAPACITY_MAX).contains(&capacity)
    {
        return Err(invalid(
            "capacity",
            format!("capacity must be between 1 and {CAPACITY_MAX}"),
        ));
    }
    if request.max_per_user == Some(0) {
        return Err(invalid("max_per_user", "max per user must be at least 1"));
    }
    Ok(EventUpdate {
        name: request.name.clone(),
        starts_at,
        location: request.location.clone(),
        description: request.description.clone(),
        capacity: request.capacity,
        max_per_user: request.max_per_user,
    })
}

/// What changed between `before` and `after`, for people.
fn describe_changes(before: &Event, after: &Event) -> String {
    let mut changes = Vec::new();
    if before.name != after.name {
        changes.push(format!("now called {}", after.name));
    }
    if before.starts_at != after.starts_at {
        changes.push(format!(
            "now starts {}",
            after.starts_at.format("%Y-%m-%d %H:%M %:z")
        ));
    }
    if before.location != after.location {
        changes.push(format!("now at {}", after.location));
    }
    if before.description != after.description {
        changes.push("new description".to_owned());
    }
    if before.capacity != after.capacity {
        changes.push(format!("capacity {}", after.capacity));
    }
    if before.max_per_user != after.max_per_user {
        changes.push(format!("at most {} seats per member", after.max_per_user));
    }
    if changes.is_empty() {
        "nothing visible".to_owned()
    } else {
        changes.join("; ")
    }
}

/// The user ids of the event's ticket holders (each once).
async fn holder_ids(shared: &Shared, event_id: &str) -> Vec<String> {
    let attendees = match shared.store.attendees(event_id).await {
        Ok(attendees) => attendees,
        Err(err) => {
            tracing::warn!(%err, event_id, "holders not told: attendee look-up failed");
            return Vec::new();
        }
    };
    let mut names: Vec<String> = attendees.into_iter().map(|a| a.holder).collect();
    names.sort_unstable_by_key(|n| n.to_lowercase());
    names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        if let Ok(Some(user)) = shared.store.user_by_username(&name).await {
            ids.push(user.id);
        }
    }
    ids
}

/// Makes every holder a member of the event's room (so its system
/// messages reach them, with an unread badge, even if they never joined).
async fn join_event_room(shared: &Shared, event: &Event, user_ids: &[String]) {
    let room = validate::event_room(&event.id);
    for user_id in user_ids {
        match shared
            .store
            .join_room(&room, user_id, coliseum_protocol::RoomRole::Member)
            .await
        {
            Ok(_) => shared.hub.add_room(user_id, &room),
            Err(err) => tracing::warn!(%err, user_id, room, "holder not added to the event room"),
        }
    }
}

/// `cancel_event` (admins only): refunds every ticket at once.
pub(super) async fn cancel_event(
    shared: &Shared,
    conn: &ConnState,
    request: &CancelEvent,
) -> Result<CancelEventData, ErrorBody> {
    let admin = admin_session(conn)?;
    validate::event_text("reason", &request.reason).map_err(|m| invalid("reason", m))?;
    let cancelled = shared
        .store
        .cancel_event(&request.event_id, &request.reason, coliseum_store::now())
        .await
        .map_err(from_store)?;
    let event = cancelled.event;
    audit::record(
        &*shared.store,
        Some(&admin.username),
        "cancel_event",
        json!({
            "event_id": event.id,
            "reason": request.reason,
            "refunded_tickets": cancelled.tickets.len(),
            "refunded_seats": cancelled.tickets.iter().map(|t| u64::from(t.quantity)).sum::<u64>(),
            "withdrawn_offers": cancelled.offers.len(),
        }),
    )
    .await;
    shared.hub.publish_all(&Push::EventChanged {
        event: event.clone(),
    });
    for ticket in &cancelled.tickets {
        shared.hub.publish_user(
            &ticket.user_id,
            &Push::TicketCancelled {
                ticket_id: ticket.ticket_id.clone(),
                event_id: event.id.clone(),
                reason: request.reason.clone(),
            },
            None,
        );
    }
    for grant in &cancelled.offers {
        let text = format!(
            "The seats held for you for {} are withdrawn: the event is cancelled ({}).",
            event.name, request.reason
        );
        offers::notify(shared, &grant.user_id, text).await;
    }
    let mut holders: Vec<String> = cancelled
        .tickets
        .iter()
        .map(|t| t.user_id.clone())
        .collect();
    holders.sort_unstable();
    holders.dedup();
    join_event_room(shared, &event, &holders).await;
    shared
        .news
        .event_cancelled(&event, &request.reason, cancelled.tickets.len())
        .await;
    Ok(CancelEventData {
        refunded_tickets: cancelled.tickets.len() as u64,
    })
}

/// `waitlist_join`: only while fewer seats than wanted are free.
pub(super) async fn waitlist_join(
    shared: &Shared,
    conn: &ConnState,
    request: &WaitlistJoin,
) -> Result<PositionData, ErrorBody> {
    let user = session(conn)?;
    validate::quantity(request.quantity).map_err(|m| invalid("quantity", m))?;
    let position = shared
        .store
        .waitlist_join(
            &request.event_id,
            &user.user_id,
            request.quantity,
            coliseum_store::now(),
        )
        .await
        .map_err(|err| match err {
            StoreError::Conflict(what) if what == "available" => ErrorBody::new(
                ErrorCode::Conflict,
                "enough seats are on sale right now: book them instead",
            )
            .with_field("quantity"),
            StoreError::Conflict(_) => ErrorBody::new(
                ErrorCode::Conflict,
                "you are already on this event's waiting list (or hold an offer for it)",
            ),
            other => from_store(other),
        })?;
    audit::record(
        &*shared.store,
        Some(&user.username),
        "waitlist_join",
        json!({ "event_id": request.event_id, "quantity": request.quantity, "position": position }),
    )
    .await;
    Ok(PositionData { position })
}

/// `waitlist_leave`: people behind may be offered seats now.
pub(super) async fn waitlist_leave(
    shared: &Shared,
    conn: &ConnState,
    request: &WaitlistLeave,
) -> Result<Empty, ErrorBody> {
    let user = session(conn)?;
    let offers = shared
        .store
        .waitlist_leave(
            &request.event_id,
            &user.user_id,
            coliseum_store::now(),
            shared.config.offers,
        )
        .await
        .map_err(|err| match err {
            StoreError::NotFound => ErrorBody::new(
                ErrorCode::NotFound,
                "you are not on this event's waiting list",
            ),
            other => from_store(other),
        })?;
    audit::record(
        &*shared.store,
        Some(&user.username),
        "waitlist_leave",
        json!({ "event_id": request.event_id }),
    )
    .await;
    offers::announce(shared, offers).await;
    Ok(Empty {})
}

/// `my_waitlist`: entries still waiting, and open offers.
pub(super) async fn my_waitlist(
    shared: &Shared,
    conn: &ConnState,
    _: &MyWaitlist,
) -> Result<WaitlistData, ErrorBody> {
    let user = session(conn)?;
    let entries = shared
        .store
        .waitlist_of_user(&user.user_id)
        .await
        .map_err(from_store)?;
    let offers = shared
        .store
        .offers_of_user(&user.user_id, coliseum_store::now())
        .await
        .map_err(from_store)?;
    Ok(WaitlistData { entries, offers })
}

/// `offer_accept`: the held seats become a ticket.
pub(super) async fn offer_accept(
    shared: &Shared,
    conn: &ConnState,
    request: &OfferAccept,
) -> Result<TicketData, ErrorBody> {
    let user = session(conn)?;
    let booking = shared
        .store
        .offer_accept(
            &request.offer_id,
            &user.user_id,
            coliseum_store::now(),
            Some(&user.username),
        )
        .await
        .map_err(|err| match err {
            StoreError::Conflict(_) => ErrorBody::new(
                ErrorCode::Conflict,
                "this offer has lapsed: the seats went to the next person waiting",
            ),
            StoreError::NotFound => ErrorBody::new(
                ErrorCode::NotFound,
                "no open offer with this id for you (accepted, declined or withdrawn already?)",
            ),
            other => from_store(other),
        })?;
    audit::trace(
        Some(&user.username),
        "book",
        &json!({
            "event_id": booking.ticket.event_id,
            "ticket_id": booking.ticket.id,
            "quantity": booking.ticket.quantity,
            "offer_id": request.offer_id,
        })
        .to_string(),
    );
    shared.seats.changed(&booking.ticket.event_id);
    Ok(TicketData {
        ticket: with_code(shared, booking.ticket),
    })
}

/// `offer_decline`: the seats go to the next in line.
pub(super) async fn offer_decline(
    shared: &Shared,
    conn: &ConnState,
    request: &OfferDecline,
) -> Result<Empty, ErrorBody> {
    let user = session(conn)?;
    let offers = shared
        .store
        .offer_decline(
            &request.offer_id,
            &user.user_id,
            coliseum_store::now(),
            shared.config.offers,
        )
        .await
        .map_err(from_store)?;
    audit::record(
        &*shared.store,
        Some(&user.username),
        "offer_decline",
        json!({ "offer_id": request.offer_id }),
    )
    .await;
    offers::announce(shared, offers).await;
    Ok(Empty {})
}

/// `server_info`: no session needed.
pub(super) fn server_info(shared: &Shared, _: &ServerInfo) -> Result<ServerInfoData, ErrorBody> {
    Ok(ServerInfoData {
        server: coliseum_protocol::SERVER_NAME.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        protocol: coliseum_protocol::PROTOCOL_VERSION,
        public_key: shared.config.ticket_key.public_key(),
        store: shared.store.backend().to_owned(),
    })
}

/// `check_in` (admins and staff): the code's signature first, then the
/// store's atomic check-in.
pub(super) async fn check_in(
    shared: &Shared,
    conn: &ConnState,
    request: &CheckIn,
) -> Result<CheckInData, ErrorBody> {
    let door = door_session(conn)?;
    let (ticket_id, event_id) = shared
        .config
        .ticket_key
        .verify(&request.code)
        .map_err(|m| invalid("code", m))?;
    let now = coliseum_store::now();
    let checked = shared
        .store
        .check_in(ticket_id, event_id, now)
        .await
        .map_err(|err| {
            let body = from_store(err);
            if body.code == ErrorCode::NotFound {
                ErrorBody::new(
                    ErrorCode::NotFound,
                    "no such ticket: the code is genuine but its ticket is gone",
                )
            } else {
                body
            }
        })?;
    audit::record(
        &*shared.store,
        Some(&door.username),
        "check_in",
        json!({
            "ticket_id": checked.ticket.id,
            "event_id": checked.event.id,
            "holder": checked.holder,
            "quantity": checked.ticket.quantity,
        }),
    )
    .await;
    let checked_in_at = checked.ticket.checked_in_at.unwrap_or(now);
    Ok(CheckInData {
        ticket: with_code(shared, checked.ticket),
        event: checked.event,
        holder: checked.holder,
        checked_in_at,
    })
}

/// `attendees` (admins and staff).
pub(super) async fn attendees(
    shared: &Shared,
    conn: &ConnState,
    request: &Attendees,
) -> Result<AttendeesData, ErrorBody> {
    door_session(conn)?;
    let attendees = shared
        .store
        .attendees(&request.event_id)
        .await
        .map_err(from_store)?;
    Ok(AttendeesData { attendees })
}
