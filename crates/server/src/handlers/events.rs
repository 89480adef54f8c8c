//! Events and bookings: `list_events`, `create_event`, `book`,
//! `my_tickets`, `cancel_ticket`. Every change of seats (and every new
//! event) is pushed to every connected client as `event_update`.

use coliseum_protocol::request::{Book, CancelTicket, CreateEvent, ListEvents, MyTickets};
use coliseum_protocol::response::{Empty, EventData, EventsData, TicketData, TicketsData};
use coliseum_protocol::validate::{self, CAPACITY_MAX};
use coliseum_protocol::{ErrorBody, ErrorCode, Push};
use coliseum_store::{BookingRequest, NewEvent, StoreError};
use serde_json::json;

use super::{admin_session, session};
use crate::audit;
use crate::context::{ConnState, Shared};
use crate::errors::{from_store, invalid};

/// The arguments of `create_event`, as received.
/// `list_events`: every event with its live seat count. No session needed.
pub(super) async fn list_events(shared: &Shared, _: &ListEvents) -> Result<EventsData, ErrorBody> {
    let events = shared.store.list_events().await.map_err(from_store)?;
    Ok(EventsData { events })
}

/// `create_event` (admins only).
pub(super) async fn create_event(
    shared: &Shared,
    conn: &ConnState,
    form: &CreateEvent,
) -> Result<EventData, ErrorBody> {
    let admin = admin_session(conn)?;
    validate::event_text("name", &form.name).map_err(|m| invalid("name", m))?;
    let starts_at = match (&form.starts_at, form.date.as_str()) {
        (Some(at), _) => validate::starts_at(at).map_err(|m| invalid("starts_at", m))?,
        (None, "") => {
            return Err(invalid(
                "starts_at",
                "starts_at (or date) is required: when does the event start?",
            ));
        }
        (None, date) => {
            validate::evening_of(validate::event_date(date).map_err(|m| invalid("date", m))?)
        }
    };
    let field = if form.starts_at.is_some() {
        "starts_at"
    } else {
        "date"
    };
    validate::starts_at_not_past(starts_at, chrono::Utc::now()).map_err(|m| invalid(field, m))?;
    validate::event_text("location", &form.location).map_err(|m| invalid("location", m))?;
    let description = form.description.clone().unwrap_or_default();
    validate::description(&description).map_err(|m| invalid("description", m))?;
    let max_per_user = form
        .max_per_user
        .unwrap_or_else(|| validate::default_max_per_user(form.capacity));
    validate::capacity(form.capacity, max_per_user).map_err(|m| {
        let field = if (1..=CAPACITY_MAX).contains(&form.capacity) {
            "max_per_user"
        } else {
            "capacity"
        };
        invalid(field, m)
    })?;
    let event = shared
        .store
        .create_event(NewEvent {
            name: form.name.clone(),
            starts_at,
            location: form.location.clone(),
            description,
            capacity: form.capacity,
            max_per_user,
        })
        .await
        .map_err(from_store)?;
    audit::record(
        &*shared.store,
        Some(&admin.username),
        "create_event",
        json!({ "event_id": event.id, "name": event.name, "capacity": event.capacity }),
    )
    .await;
    shared.hub.publish_all(&Push::EventUpdate {
        event_id: event.id.clone(),
        available: event.available,
    });
    shared.news.event_created(&event).await;
    Ok(EventData { event })
}

/// `book`: atomic in the store; a replayed `request_key` returns the
/// original ticket and changes (and pushes) nothing.
pub(super) async fn book(
    shared: &Shared,
    conn: &ConnState,
    request: &Book,
) -> Result<TicketData, ErrorBody> {
    let (event_id, quantity, request_key) = (
        request.event_id.as_str(),
        request.quantity,
        request.request_key.as_deref(),
    );
    let user = session(conn)?;
    validate::quantity(quantity).map_err(|m| invalid("quantity", m))?;
    if let Some(key) = request_key {
        validate::request_key(key).map_err(|m| invalid("request_key", m))?;
    }
    let booking = shared
        .store
        .book(BookingRequest {
            user_id: user.user_id.clone(),
            event_id: event_id.to_owned(),
            quantity,
            request_key: request_key.map(str::to_owned),
            booked_at: coliseum_store::now(),
            // The store writes the audit record in the booking's own
            // transaction: no second write (and commit) per booking.
            audit_actor: Some(user.username.clone()),
        })
        .await
        .map_err(|err| match err {
            StoreError::Conflict(_) => ErrorBody::new(
                ErrorCode::Conflict,
                "this request_key was already used for a booking of another event or \
                 quantity: use a new key for a new booking",
            )
            .with_field("request_key"),
            other => from_store(other),
        })?;
    if booking.replayed {
        tracing::info!(user = %user.username, ticket = %booking.ticket.id, "booking replayed");
    } else {
        if tracing::enabled!(target: "audit", tracing::Level::INFO) {
            // The same record the store wrote.
            let record = coliseum_store::booking_audit(&user.username, &booking.ticket);
            audit::trace(record.actor.as_deref(), &record.action, &record.detail);
        }
        shared.seats.changed(&booking.ticket.event_id);
        shared.news.seats_changed(
            &booking.ticket.event_id,
            booking.available.saturating_add(booking.ticket.quantity),
            booking.available,
        );
    }
    Ok(TicketData {
        ticket: super::ticketing::with_code(shared, booking.ticket),
    })
}

/// `my_tickets`: the caller's active tickets, newest first.
pub(super) async fn my_tickets(
    shared: &Shared,
    conn: &ConnState,
    _: &MyTickets,
) -> Result<TicketsData, ErrorBody> {
    let user = session(conn)?;
    let tickets = shared
        .store
        .tickets_for_user(&user.user_id)
        .await
        .map_err(from_store)?
        .into_iter()
        .map(|ticket| super::ticketing::with_code(shared, ticket))
        .collect();
    Ok(TicketsData { tickets })
}

/// `cancel_ticket`: only the owner's; another user's ticket is `not_found`.
pub(super) async fn cancel_ticket(
    shared: &Shared,
    conn: &ConnState,
    CancelTicket {
        ticket_id,
        quantity,
    }: &CancelTicket,
) -> Result<Empty, ErrorBody> {
    let user = session(conn)?;
    if let Some(quantity) = quantity {
        validate::quantity(*quantity).map_err(|m| invalid("quantity", m))?;
    }
    let cancelled = shared
        .store
        .cancel_ticket(
            &user.user_id,
            ticket_id,
            *quantity,
            coliseum_store::now(),
            shared.config.offers,
        )
        .await
        .map_err(|err| match err {
            StoreError::Conflict(_) => invalid(
                "quantity",
                "you cannot give back more seats than the ticket holds",
            ),
            other => from_store(other),
        })?;
    audit::record(
        &*shared.store,
        Some(&user.username),
        "cancel_ticket",
        json!({
            "event_id": cancelled.event_id,
            "ticket_id": ticket_id,
            "quantity": cancelled.quantity,
            "remaining": cancelled.remaining,
        }),
    )
    .await;
    shared.seats.changed(&cancelled.event_id);
    // Seats offered to the waiting list never were on sale: the news sees
    // the count before the cancellation and after the offers.
    let offered: u32 = cancelled.offers.iter().map(|g| g.offer.quantity).sum();
    let before = (cancelled.available + offered).saturating_sub(cancelled.quantity);
    shared
        .news
        .seats_changed(&cancelled.event_id, before, cancelled.available);
    crate::offers::announce(shared, cancelled.offers).await;
    Ok(Empty {})
}
