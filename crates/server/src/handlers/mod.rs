//! Turning a parsed request into its response frame. One file per domain;
//! this file dispatches and holds the session checks they share.

mod accounts;
mod chat;
mod events;
mod rooms;
mod ticketing;

use bytes::Bytes;
use chrono::Utc;
use coliseum_protocol::request::ChatSend;
use coliseum_protocol::{
    ErrorBody, ErrorCode, Op, Push, Request, Role, encode_error, encode_ok, encode_push,
};
use serde::Serialize;

use crate::context::{ConnState, Session, Shared};

/// Runs `request` on behalf of the connection and encodes its response.
/// The session is checked first ([`check_session`]).
pub(crate) async fn dispatch(shared: &Shared, conn: &mut ConnState, request: Request) -> Bytes {
    check_session(shared, conn);
    let id = request.id;
    match &request.op {
        Op::Register(r) => reply(id, accounts::register(shared, conn, r).await),
        Op::Login(r) => reply(id, accounts::login(shared, conn, r).await),
        Op::Resume(r) => reply(id, accounts::resume(shared, conn, r).await),
        Op::Logout(r) => reply(id, accounts::logout(shared, conn, r).await),
        Op::UpdateAccount(r) => reply(id, accounts::update_account(shared, conn, r).await),
        Op::ListEvents(r) => reply(id, events::list_events(shared, r).await),
        Op::CreateEvent(r) => reply(id, events::create_event(shared, conn, r).await),
        Op::Book(r) => reply(id, events::book(shared, conn, r).await),
        Op::MyTickets(r) => reply(id, events::my_tickets(shared, conn, r).await),
        Op::CancelTicket(r) => reply(id, events::cancel_ticket(shared, conn, r).await),
        Op::ChatSend(r) => reply(id, chat::send(shared, conn, r).await),
        Op::ChatHistory(r) => reply(id, chat::history(shared, conn, r).await),
        Op::Online(_) => reply(id, Ok(shared.hub.online())),
        Op::Rooms(r) => reply(id, rooms::rooms(shared, conn, r).await),
        Op::RoomCreate(r) => reply(id, rooms::create(shared, conn, r).await),
        Op::RoomJoin(r) => reply(id, rooms::join(shared, conn, r).await),
        Op::RoomLeave(r) => reply(id, rooms::leave(shared, conn, r).await),
        Op::RoomMembers(r) => reply(id, rooms::members(shared, conn, r).await),
        Op::DmSend(r) => reply(id, rooms::dm_send(shared, conn, r).await),
        Op::MarkRead(r) => reply(id, rooms::mark_read(shared, conn, r).await),
        Op::ChatEdit(r) => reply(id, rooms::edit(shared, conn, r).await),
        Op::ChatDelete(r) => reply(id, rooms::delete(shared, conn, r).await),
        Op::Typing(r) => reply(id, rooms::typing(shared, conn, r).await),
        Op::RoomModerator(r) => reply(id, rooms::moderator(shared, conn, r).await),
        Op::Mute(r) => reply(id, rooms::mute(shared, conn, r).await),
        Op::Kick(r) => reply(id, rooms::kick(shared, conn, r).await),
        Op::SlowMode(r) => reply(id, rooms::slow_mode(shared, conn, r).await),
        Op::Ban(r) => reply(id, rooms::ban(shared, conn, r).await),
        Op::Unban(r) => reply(id, rooms::unban(shared, conn, r).await),
        Op::UpdateEvent(r) => reply(id, ticketing::update_event(shared, conn, r).await),
        Op::CancelEvent(r) => reply(id, ticketing::cancel_event(shared, conn, r).await),
        Op::WaitlistJoin(r) => reply(id, ticketing::waitlist_join(shared, conn, r).await),
        Op::WaitlistLeave(r) => reply(id, ticketing::waitlist_leave(shared, conn, r).await),
        Op::MyWaitlist(r) => reply(id, ticketing::my_waitlist(shared, conn, r).await),
        Op::OfferAccept(r) => reply(id, ticketing::offer_accept(shared, conn, r).await),
        Op::OfferDecline(r) => reply(id, ticketing::offer_decline(shared, conn, r).await),
        Op::ServerInfo(r) => reply(id, ticketing::server_info(shared, r)),
        Op::CheckIn(r) => reply(id, ticketing::check_in(shared, conn, r).await),
        Op::Attendees(r) => reply(id, ticketing::attendees(shared, conn, r).await),
    }
}

/// Before a request runs: a session whose token was revoked elsewhere
/// (`crate::sessions`) is dropped, and so is one that has expired (with a
/// `session_expired` push before the response), so the request runs as
/// anonymous.
fn check_session(shared: &Shared, conn: &mut ConnState) {
    if conn.session.is_some() && shared.live.take_revoked(conn.id) {
        tracing::info!(conn = conn.id, "session revoked elsewhere: now anonymous");
        conn.session = None;
    }
    if let Some(session) = &conn.session
        && session.expires_at <= Utc::now()
    {
        tracing::info!(conn = conn.id, user = %session.username, "session expired: now anonymous");
        conn.session = None;
        shared.live.detach(&shared.hub, conn.id);
        conn.push_before_reply = Some(encode_push(&Push::SessionExpired {
            reason: "your session has expired: log in again".to_owned(),
        }));
    }
}

/// A request sorted for the read loop (see [`sort`]).
pub(crate) enum Sorted {
    /// A `chat_send` with its id: [`dispatch_pipelined`] takes these.
    ChatSend(u64, ChatSend),
    /// Any other op: [`dispatch`] takes it.
    Other(Request),
}

/// Sorts `request` into what [`dispatch_pipelined`] takes (a `chat_send`)
/// and everything else.
pub(crate) fn sort(request: Request) -> Sorted {
    match request.op {
        Op::ChatSend(send) => Sorted::ChatSend(request.id, send),
        op => Sorted::Other(Request { op, ..request }),
    }
}

/// Runs `chat_send`s read together from one connection (a client that
/// pipelines; see [`sort`]) and encodes one response per request, in
/// order: the answers [`dispatch`] would give one after another, but their
/// messages are stored together (see `chat::send_pipelined`).
pub(crate) async fn dispatch_pipelined(
    shared: &Shared,
    conn: &mut ConnState,
    sends: &[(u64, ChatSend)],
) -> Vec<Bytes> {
    check_session(shared, conn);
    chat::send_pipelined(shared, conn, sends).await
}

fn reply<T: Serialize>(id: u64, result: Result<T, ErrorBody>) -> Bytes {
    match result {
        Ok(data) => encode_ok(id, &data),
        Err(error) => encode_error(Some(id), &error),
    }
}

/// The connection's session, or `unauthenticated`.
fn session(conn: &ConnState) -> Result<&Session, ErrorBody> {
    conn.session.as_ref().ok_or_else(|| {
        ErrorBody::new(
            ErrorCode::Unauthenticated,
            "log in first: this operation needs a session",
        )
    })
}

/// The connection's session if its role is admin; `unauthenticated` or
/// `forbidden` otherwise.
fn admin_session(conn: &ConnState) -> Result<&Session, ErrorBody> {
    let session = session(conn)?;
    if session.role == Role::Admin {
        Ok(session)
    } else {
        Err(ErrorBody::new(
            ErrorCode::Forbidden,
            "only administrators may do this",
        ))
    }
}
