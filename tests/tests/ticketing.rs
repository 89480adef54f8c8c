//! Ticketing end to end (ticketing issue): event details, `update_event`,
//! `cancel_event`, the waiting list and its offers, signed ticket codes,
//! check-in and attendees, over the wire against a real server.
//!
//! Offer expiry is tested with a short `offers.hold` and by waiting for the
//! push the expiry causes (bounded by `WAIT`), never by sleeping.

use base64::Engine as _;
use coliseum_client::{Client, Pushes};
use coliseum_protocol::request::{CreateEvent, UpdateEvent};
use coliseum_protocol::validate::event_room;
use coliseum_protocol::{ChatMessage, ErrorCode, Event, EventStatus, Offer, Push, Role};
use coliseum_tests::{
    Options, TestServer, code, expect_push, field, start_server, start_server_with,
};

/// A start a year from now, in Rome's summer offset.
fn next_year() -> String {
    let at = chrono::Utc::now() + chrono::Duration::days(365);
    format!("{}T21:00:00+02:00", at.format("%Y-%m-%d"))
}

/// An event with `capacity` seats (max_per_user = capacity) created by the
/// admin.
async fn event(server: &TestServer, name: &str, capacity: u32) -> Event {
    let (admin, _, _) = server.admin().await;
    admin
        .create_event_with(CreateEvent {
            name: name.to_owned(),
            starts_at: Some(next_year()),
            location: "Arena".to_owned(),
            description: Some(format!("All about {name}.")),
            capacity,
            max_per_user: Some(capacity),
            ..CreateEvent::default()
        })
        .await
        .expect("create event")
}

/// The next `offer` push.
async fn next_offer(pushes: &mut Pushes) -> Offer {
    match expect_push(pushes, |p| matches!(p, Push::Offer(_))).await {
        Push::Offer(offer) => offer,
        _ => unreachable!(),
    }
}

/// The next `chat` push in `room`.
async fn next_chat_in(pushes: &mut Pushes, room: &str) -> ChatMessage {
    match expect_push(pushes, |p| matches!(p, Push::Chat(m) if m.room == room)).await {
        Push::Chat(message) => message,
        _ => unreachable!(),
    }
}

async fn listed(client: &Client, event_id: &str) -> Event {
    client
        .list_events()
        .await
        .expect("list")
        .into_iter()
        .find(|e| e.id == event_id)
        .expect("listed")
}

#[tokio::test]
async fn events_carry_details_start_time_status_and_room() {
    let server = start_server().await;
    let (admin, _, _) = server.admin().await;
    let created = event(&server, "Opera", 40).await;
    assert_eq!(created.description, "All about Opera.");
    assert_eq!(
        created.starts_at.offset().local_minus_utc(),
        2 * 3600,
        "offset kept"
    );
    assert_eq!(created.date, created.starts_at.date_naive());
    assert_eq!(created.status, EventStatus::OnSale);
    assert_eq!(created.room, event_room(&created.id));
    assert_eq!((created.waitlist, created.held), (0, 0));
    assert_eq!(listed(&admin, &created.id).await, created);

    // `date` alone: 20:00 on that day in the server's time zone.
    let dated = admin
        .create_event("Dated", "2031-05-04", "Hall", 10, None)
        .await
        .expect("date only");
    assert_eq!(dated.date.to_string(), "2031-05-04");
    assert_eq!(dated.starts_at.format("%H:%M").to_string(), "20:00");

    for (form, field_name) in [
        (
            CreateEvent {
                starts_at: Some("2001-01-01T20:00:00Z".to_owned()),
                ..base_form()
            },
            "starts_at",
        ),
        (
            CreateEvent {
                starts_at: Some("next friday".to_owned()),
                ..base_form()
            },
            "starts_at",
        ),
        (
            CreateEvent {
                starts_at: Some("2031-05-04T20:00:00".to_owned()),
                ..base_form()
            },
            "starts_at",
        ),
        (CreateEvent { ..base_form() }, "starts_at"),
        (
            CreateEvent {
                starts_at: Some(next_year()),
                description: Some("x".repeat(2_001)),
                ..base_form()
            },
            "description",
        ),
    ] {
        let result = admin.create_event_with(form.clone()).await;
        assert_eq!(field(result), Some(field_name.to_owned()), "{form:?}");
    }
    assert_eq!(
        admin.list_events().await.expect("list").len(),
        3 + 2,
        "nothing created"
    );
}

fn base_form() -> CreateEvent {
    CreateEvent {
        name: "Bad".to_owned(),
        location: "Nowhere".to_owned(),
        capacity: 10,
        ..CreateEvent::default()
    }
}

#[tokio::test]
async fn an_update_reaches_everyone_and_tells_holders_in_the_event_room() {
    let server = start_server().await;
    let concert = event(&server, "Concert", 10).await;
    let (ada, mut ada_pushes, _) = server.user("ada").await;
    let (bob, mut bob_pushes, _) = server.user("bob").await;
    ada.book(&concert.id, 3, None).await.expect("book");
    let (admin, _, _) = server.admin().await;

    let update = UpdateEvent {
        event_id: concert.id.clone(),
        name: Some("Concert (new venue)".to_owned()),
        location: Some("Stadium".to_owned()),
        capacity: Some(20),
        ..UpdateEvent::default()
    };
    assert_eq!(
        code(bob.update_event(update.clone()).await),
        ErrorCode::Forbidden
    );
    let changed = admin.update_event(update).await.expect("update");
    assert_eq!(changed.name, "Concert (new venue)");
    assert_eq!((changed.capacity, changed.available), (20, 17));
    for pushes in [&mut ada_pushes, &mut bob_pushes] {
        let push = expect_push(pushes, |p| matches!(p, Push::EventChanged { .. })).await;
        assert_eq!(
            push,
            Push::EventChanged {
                event: changed.clone()
            }
        );
    }
    // The holder was made a member of the event's room and hears why.
    let notice = next_chat_in(&mut ada_pushes, &event_room(&concert.id)).await;
    assert!(notice.system, "{notice:?}");
    assert!(notice.text.contains("now at Stadium"), "{}", notice.text);
    assert!(notice.text.contains("capacity 20"), "{}", notice.text);

    // Below the seats sold: conflict, nothing changes.
    let too_small = admin
        .update_event(UpdateEvent {
            event_id: concert.id.clone(),
            capacity: Some(2),
            ..UpdateEvent::default()
        })
        .await;
    assert_eq!(field(too_small), Some("capacity".to_owned()));
    assert_eq!(listed(&admin, &concert.id).await.capacity, 20);
    let nothing = admin
        .update_event(UpdateEvent {
            event_id: concert.id.clone(),
            ..UpdateEvent::default()
        })
        .await;
    assert_eq!(code(nothing), ErrorCode::BadRequest);
    let past = admin
        .update_event(UpdateEvent {
            event_id: concert.id.clone(),
            starts_at: Some("2020-01-01T20:00:00Z".to_owned()),
            ..UpdateEvent::default()
        })
        .await;
    assert_eq!(field(past), Some("starts_at".to_owned()));
}

#[tokio::test]
async fn cancelling_an_event_refunds_every_ticket_and_closes_it() {
    let server = start_server().await;
    let gala = event(&server, "Gala", 10).await;
    let (ada, mut ada_pushes, _) = server.user("ada").await;
    let (bob, _, _) = server.user("bob").await;
    let first = ada.book(&gala.id, 2, None).await.expect("book");
    ada.book(&gala.id, 1, None).await.expect("book");
    bob.book(&gala.id, 4, None).await.expect("book");
    let (admin, _, _) = server.admin().await;

    assert_eq!(
        code(ada.cancel_event(&gala.id, "storm").await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(admin.cancel_event(&gala.id, "").await),
        ErrorCode::BadRequest
    );
    assert_eq!(
        admin
            .cancel_event(&gala.id, "storm warning")
            .await
            .expect("cancel"),
        3
    );

    let push = expect_push(&mut ada_pushes, |p| {
        matches!(p, Push::TicketCancelled { .. })
    })
    .await;
    let Push::TicketCancelled {
        event_id, reason, ..
    } = push
    else {
        unreachable!()
    };
    assert_eq!(
        (event_id.as_str(), reason.as_str()),
        (gala.id.as_str(), "storm warning")
    );
    let notice = next_chat_in(&mut ada_pushes, &event_room(&gala.id)).await;
    assert!(notice.text.contains("storm warning"), "{}", notice.text);

    assert!(ada.my_tickets().await.expect("tickets").is_empty());
    assert!(bob.my_tickets().await.expect("tickets").is_empty());
    let closed = listed(&ada, &gala.id).await;
    assert_eq!(closed.status, EventStatus::Cancelled);
    assert_eq!(
        code(bob.book(&gala.id, 1, None).await),
        ErrorCode::EventClosed
    );
    assert_eq!(
        code(bob.waitlist_join(&gala.id, 1).await),
        ErrorCode::EventClosed
    );
    assert_eq!(
        code(admin.cancel_event(&gala.id, "again").await),
        ErrorCode::EventClosed
    );
    let update = admin
        .update_event(UpdateEvent {
            event_id: gala.id.clone(),
            capacity: Some(50),
            ..UpdateEvent::default()
        })
        .await;
    assert_eq!(code(update), ErrorCode::EventClosed);
    assert_eq!(
        code(ada.cancel_ticket(&first.id).await),
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn freed_seats_are_offered_in_line_and_never_sold_twice() {
    let server = start_server().await;
    let show = event(&server, "Show", 3).await;
    let (ada, _, _) = server.user("ada").await;
    let (bob, mut bob_pushes, _) = server.user("bob").await;
    let (carl, mut carl_pushes, _) = server.user("carl").await;
    let (dina, _, _) = server.user("dina").await;
    let ticket = ada.book(&show.id, 3, None).await.expect("sell out");

    assert_eq!(bob.waitlist_join(&show.id, 1).await.expect("join"), 1);
    assert_eq!(carl.waitlist_join(&show.id, 2).await.expect("join"), 2);
    assert_eq!(
        code(bob.waitlist_join(&show.id, 1).await),
        ErrorCode::Conflict
    );
    assert_eq!(
        code(dina.waitlist_join(&show.id, 4).await),
        ErrorCode::LimitExceeded
    );
    assert_eq!(listed(&dina, &show.id).await.waitlist, 2);
    let mine = carl.my_waitlist().await.expect("mine");
    assert_eq!((mine.entries.len(), mine.entries[0].position), (1, 2));

    // One seat back: the first in line gets it, held for them only.
    ada.cancel_seats(&ticket.id, 1)
        .await
        .expect("give one back");
    let offer = next_offer(&mut bob_pushes).await;
    assert_eq!(
        (offer.event_id.as_str(), offer.quantity),
        (show.id.as_str(), 1)
    );
    let notice = next_chat_in(&mut bob_pushes, "dm:bob:bob").await;
    assert!(
        notice.system && notice.text.contains("held for you"),
        "{notice:?}"
    );
    let now = listed(&dina, &show.id).await;
    assert_eq!(
        (now.available, now.held, now.status),
        (0, 1, EventStatus::SoldOut)
    );
    assert_eq!(code(dina.book(&show.id, 1, None).await), ErrorCode::SoldOut);
    assert_eq!(
        code(carl.offer_accept(&offer.offer_id).await),
        ErrorCode::NotFound
    );

    let bought = bob.offer_accept(&offer.offer_id).await.expect("accept");
    assert_eq!(bought.quantity, 1);
    assert!(
        bought.code.starts_with(&format!("C1.{}.", bought.id)),
        "{}",
        bought.code
    );
    assert_eq!(
        code(bob.offer_accept(&offer.offer_id).await),
        ErrorCode::NotFound
    );
    assert_eq!(
        ada.my_tickets().await.expect("ada")[0].quantity,
        2,
        "partial cancel kept 2"
    );

    // Two seats back one at a time: carl (wants 2) is offered once both are free.
    ada.cancel_seats(&ticket.id, 1).await.expect("one more");
    assert_eq!(
        listed(&dina, &show.id).await.available,
        1,
        "1 seat: carl does not fit yet"
    );
    ada.cancel_ticket(&ticket.id).await.expect("the rest");
    let offer = next_offer(&mut carl_pushes).await;
    assert_eq!(offer.quantity, 2);
    // Decline: the seats go back on sale (nobody else waits).
    carl.offer_decline(&offer.offer_id).await.expect("decline");
    let after = listed(&dina, &show.id).await;
    assert_eq!((after.available, after.held, after.waitlist), (2, 0, 0));
    assert!(carl.my_waitlist().await.expect("mine").entries.is_empty());
    assert_eq!(
        code(carl.waitlist_join(&show.id, 2).await),
        ErrorCode::Conflict,
        "seats are on sale"
    );
}

#[tokio::test]
async fn a_lapsed_offer_goes_to_the_next_in_line() {
    let server = start_server_with(Options {
        tune: |c| c.offers.hold = chrono::Duration::milliseconds(300),
        ..Options::default()
    })
    .await;
    let show = event(&server, "Late show", 1).await;
    let (ada, _, _) = server.user("ada").await;
    let (bob, mut bob_pushes, _) = server.user("bob").await;
    let (carl, mut carl_pushes, _) = server.user("carl").await;
    let ticket = ada.book(&show.id, 1, None).await.expect("sell out");
    bob.waitlist_join(&show.id, 1).await.expect("bob waits");
    carl.waitlist_join(&show.id, 1).await.expect("carl waits");
    ada.cancel_ticket(&ticket.id).await.expect("seat back");
    let bobs = next_offer(&mut bob_pushes).await;
    // Bob does nothing: the sweeper lapses the offer, carl is next.
    let carls = next_offer(&mut carl_pushes).await;
    assert!(carls.expires_at > bobs.expires_at);
    let lapsed = next_chat_in(&mut bob_pushes, "dm:bob:bob").await;
    let lapsed = if lapsed.text.contains("lapsed") {
        lapsed
    } else {
        next_chat_in(&mut bob_pushes, "dm:bob:bob").await
    };
    assert!(lapsed.text.contains("lapsed"), "{}", lapsed.text);
    assert_eq!(
        code(bob.offer_accept(&bobs.offer_id).await),
        ErrorCode::NotFound
    );
    assert!(
        bob.my_waitlist().await.expect("bob").entries.is_empty(),
        "left the line"
    );
    assert_eq!(
        carl.offer_accept(&carls.offer_id)
            .await
            .expect("carl buys")
            .quantity,
        1
    );
}

#[tokio::test]
async fn an_offer_made_before_a_restart_lapses_after_it() {
    let server = start_server_with(Options {
        tune: |c| c.offers.hold = chrono::Duration::seconds(2),
        ..Options::default()
    })
    .await;
    let show = event(&server, "Restart show", 1).await;
    let (ada, _, _) = server.user("ada").await;
    let (bob, mut bob_pushes, _) = server.user("bob").await;
    let (carl, _, _) = server.user("carl").await;
    let ticket = ada.book(&show.id, 1, None).await.expect("sell out");
    bob.waitlist_join(&show.id, 1).await.expect("bob waits");
    carl.waitlist_join(&show.id, 1).await.expect("carl waits");
    ada.cancel_ticket(&ticket.id).await.expect("seat back");
    next_offer(&mut bob_pushes).await;

    let server = server.restart().await;
    let (carl, mut carl_pushes) = server.connect().await;
    carl.login("carl", coliseum_tests::PASSWORD)
        .await
        .expect("login");
    // Either the sweep already ran (the offer is listed) or its push comes.
    let mine = carl.my_waitlist().await.expect("mine");
    let offer = match mine.offers.first() {
        Some(offer) => offer.clone(),
        None => next_offer(&mut carl_pushes).await,
    };
    assert_eq!(
        carl.offer_accept(&offer.offer_id)
            .await
            .expect("accept")
            .quantity,
        1
    );
    let shown = listed(&carl, &show.id).await;
    assert_eq!((shown.available, shown.held, shown.waitlist), (0, 0, 0));
}

#[tokio::test]
async fn staff_check_tickets_in_once_and_refuse_forgeries() {
    let server = start_server().await;
    let match_day = event(&server, "Match", 10).await;
    let (ada, _, _) = server.user("ada").await;
    let (staff, _, session) = server.staff("doorkeeper").await;
    assert_eq!(session.role, Role::Staff);
    let ticket = ada.book(&match_day.id, 2, None).await.expect("book");
    let listed_code = ada.my_tickets().await.expect("tickets")[0].code.clone();
    assert_eq!(listed_code, ticket.code, "the code is stable");

    // A door app verifies offline with the published key.
    let info = ada.server_info().await.expect("info");
    let key_bytes: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&info.public_key)
        .expect("base64url")
        .try_into()
        .expect("32 bytes");
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key_bytes).expect("key");
    assert_eq!(
        coliseum_server::signing::verify_with(&key, &ticket.code),
        Ok((ticket.id.as_str(), match_day.id.as_str()))
    );

    assert_eq!(code(ada.check_in(&ticket.code).await), ErrorCode::Forbidden);
    assert_eq!(
        code(ada.attendees(&match_day.id).await),
        ErrorCode::Forbidden
    );
    let checked = staff.check_in(&ticket.code).await.expect("check in");
    assert_eq!(checked.holder, "ada");
    assert_eq!(
        (checked.ticket.id.as_str(), checked.event.id.as_str()),
        (ticket.id.as_str(), match_day.id.as_str())
    );
    assert_eq!(checked.ticket.checked_in_at, Some(checked.checked_in_at));
    let again = staff.check_in(&ticket.code).await.expect_err("second scan");
    assert_eq!(again.code(), Some(ErrorCode::Conflict));
    assert!(
        again.to_string().contains("already checked in at"),
        "{again}"
    );

    let forged = ticket
        .code
        .replacen(&format!("C1.{}.", ticket.id), "C1.999.", 1);
    assert_eq!(
        field(staff.check_in(&forged).await),
        Some("code".to_owned())
    );
    assert_eq!(
        code(staff.check_in("not a code").await),
        ErrorCode::BadRequest
    );

    // Checked in: no refund; the attendee list shows it.
    assert_eq!(
        code(ada.cancel_ticket(&ticket.id).await),
        ErrorCode::Conflict
    );
    let other = ada.book(&match_day.id, 1, None).await.expect("book");
    ada.cancel_ticket(&other.id).await.expect("cancel");
    assert_eq!(
        code(staff.check_in(&other.code).await),
        ErrorCode::Conflict,
        "cancelled"
    );
    let attendees = staff.attendees(&match_day.id).await.expect("attendees");
    assert_eq!(attendees.len(), 1);
    assert_eq!(
        (attendees[0].holder.as_str(), attendees[0].quantity),
        ("ada", 2)
    );
    assert_eq!(attendees[0].checked_in_at, Some(checked.checked_in_at));

    // The key is in the data directory: codes verify after a restart.
    let server = server.restart().await;
    let (admin, _, _) = server.admin().await;
    let again = admin
        .check_in(&ticket.code)
        .await
        .expect_err("still checked in");
    assert!(again.to_string().contains("already checked in"), "{again}");
}

#[tokio::test]
async fn add_staff_needs_an_existing_account() {
    let server = start_server().await;
    let err = coliseum_server::admin::add_staff(server.store(), "nobody")
        .await
        .expect_err("unknown");
    assert!(err.contains("no account named nobody"), "{err}");
    assert_eq!(
        coliseum_server::admin::add_staff(server.store(), coliseum_tests::ADMIN).await,
        Ok(coliseum_server::admin::StaffOutcome::AlreadyAdmin)
    );
}
