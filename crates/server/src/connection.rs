//! One client connection: a reader loop that answers requests one at a
//! time, in order, and a writer task that writes what the connection's
//! bounded outbox (`crate::outbox`) holds.
//!
//! Generic over any `AsyncRead + AsyncWrite` byte stream, so TLS streams and
//! in-memory duplexes work the same as TCP.
//!
//! - The writer takes every frame already in the outbox and writes them
//!   with one `write_all` + `flush`, so a burst of pushes costs one write
//!   syscall; while pushes keep coming it writes at most once per
//!   `ServerConfig::write_coalesce` (responses go at once).
//! - Responses wait for room in the outbox (back-pressure on this
//!   connection only); pushes never wait (see `hub`).
//! - A frame announcing more than 1 MiB gets `frame_too_large` (id `null`)
//!   and the connection closes (after our side is flushed and shut down,
//!   the rest of the oversize frame is read and discarded for a moment, so
//!   the close is not a reset that could destroy the error in flight); an
//!   unreadable request gets `bad_request` and the connection stays usable.
//! - Timeouts: a logged-in connection gets `idle_timeout` after each
//!   request to complete the next frame; an anonymous one gets
//!   `handshake_timeout` from when it connected, or from its last
//!   `register`/`login`/`resume` (or from the end of its session) — other
//!   requests extend nothing. Past it the connection is closed without a
//!   word (whatever is already queued is still flushed). Sending nothing
//!   and trickling a frame that never completes are treated alike.
//! - A handler may mark its response as the last one
//!   (`ConnState::close_after_reply`, e.g. `too_many_attempts`): the
//!   reader queues it and stops; requests pipelined after it are dropped.
//! - Graceful shutdown: the reader stops taking requests (the one being
//!   handled finishes); every further request already sent — buffered, or
//!   waiting in the socket — is answered `unavailable` ("not executed"),
//!   then the writer flushes what is queued (the `shutdown` push, the last
//!   responses) and closes. The kill token drops
//!   the connection at once (slow reader, or the grace period ran out).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use coliseum_protocol::codec::is_frame_too_large;
use coliseum_protocol::{
    ErrorBody, ErrorCode, MAX_FRAME_LEN, Op, PROTOCOL_VERSION, Push, SERVER_NAME, encode_error,
    encode_push, frame_codec, parse_request,
};
use futures::StreamExt as _;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::io::{AsyncReadExt as _, ReadHalf};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::context::{ConnState, Shared};
use crate::handlers;
use crate::outbox::{Batch, Outbox};
use crate::server::Slot;
use crate::stats::bump;

/// After `frame_too_large` or another last reply, how long what the client
/// still sends is read and discarded so that closing does not reset the
/// connection (which could destroy the error before the client reads it) ...
const LINGER: Duration = Duration::from_secs(2);
/// ... and at most how many bytes.
const LINGER_BYTES: u64 = 4 * MAX_FRAME_LEN as u64;

/// Why the reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The client closed, a read failed, or the connection was killed.
    Closed,
    /// The client announced an oversize frame (answered `frame_too_large`).
    FrameTooLarge,
    /// A handler's response was the last (`ConnState::close_after_reply`).
    LastReply,
    /// The server is stopping; requests already sent were answered.
    Stopped,
}

/// Serves one accepted client until it leaves, is dropped, or the server
/// stops. `slot` is its place under the connection caps, released when the
/// socket is closed.
pub(crate) async fn serve<S>(stream: S, peer: SocketAddr, shared: Arc<Shared>, slot: Slot)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (reader, writer) = tokio::io::split(stream);
    let mut frames = FramedRead::new(reader, frame_codec());
    let outbox = Arc::new(Outbox::with_byte_limit(
        shared.config.outbound_queue,
        shared.config.outbound_queue_bytes,
    ));
    let kill = shared.abort.child_token();
    let id = shared
        .hub
        .join(Arc::clone(&outbox), kill.clone(), |online| {
            encode_push(&Push::Welcome {
                server: SERVER_NAME.to_owned(),
                protocol: PROTOCOL_VERSION,
                online,
            })
        });
    tracing::info!(conn = id, %peer, "client connected");
    let writer = tokio::spawn(write_loop(
        writer,
        Arc::clone(&outbox),
        kill.clone(),
        shared.config.write_coalesce,
    ));

    let mut state = ConnState::new(id, peer);
    let ending = read_loop(&mut frames, &outbox, &kill, &shared, &mut state).await;

    shared.live.detach(&shared.hub, id);
    shared.hub.leave(id);
    outbox.close();
    // The writer ends once the outbox is drained (nothing more can come) or
    // the kill token fires.
    if let Err(err) = writer.await {
        tracing::error!(conn = id, %err, "connection writer panicked");
    }
    // Unread input (the rest of an oversize frame, requests pipelined after
    // the last reply) would turn our close into a reset, which may destroy
    // the error frame before the client reads it.
    if ending != Ending::Closed && !kill.is_cancelled() {
        linger(frames.into_inner()).await;
    }
    drop(slot);
    tracing::info!(
        conn = id,
        %peer,
        user = state.session.as_ref().map_or("-", |s| s.username.as_str()),
        "client disconnected"
    );
}

async fn read_loop<R>(
    frames: &mut FramedRead<R, LengthDelimitedCodec>,
    outbox: &Outbox,
    kill: &CancellationToken,
    shared: &Shared,
    state: &mut ConnState,
) -> Ending
where
    R: AsyncRead + Unpin,
{
    // Registered once per connection, not once per request (each
    // registration and timer was measurable per booking in a profile).
    let killed = kill.cancelled();
    tokio::pin!(killed);
    let stopping = shared.shutdown.cancelled();
    tokio::pin!(stopping);
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);
    // Since when the connection is anonymous without having tried to log
    // in: only `register`, `login` and `resume` restart this clock, so an
    // anonymous connection cannot stay by sending e.g. `online` now and then.
    let mut anonymous_since = Instant::now();
    loop {
        let (timeout, from) = if state.session.is_some() {
            (shared.config.idle_timeout, Instant::now())
        } else {
            (shared.config.handshake_timeout, anonymous_since)
        };
        let armed = !timeout.is_zero();
        if armed {
            timer.as_mut().reset(from + timeout);
        }
        let next = tokio::select! {
            biased;
            () = &mut killed => return Ending::Closed,
            () = &mut stopping => {
                refuse_read_requests(frames, outbox, killed.as_mut(), state.id).await;
                return Ending::Stopped;
            }
            next = frames.next() => next,
            () = &mut timer, if armed => {
                tracing::info!(
                    conn = state.id,
                    logged_in = state.session.is_some(),
                    ?timeout,
                    "no complete request in time: closing"
                );
                bump(&shared.counters.connections_timed_out);
                return Ending::Closed;
            }
        };
        let response = match next {
            None => return Ending::Closed,
            Some(Err(err)) if is_frame_too_large(&err) => {
                tracing::info!(conn = state.id, "frame too large: closing");
                let body = ErrorBody::new(
                    ErrorCode::FrameTooLarge,
                    format!("frames are limited to {MAX_FRAME_LEN} bytes"),
                );
                send(outbox, killed.as_mut(), encode_error(None, &body)).await;
                return Ending::FrameTooLarge;
            }
            Some(Err(err)) => {
                tracing::debug!(conn = state.id, %err, "read failed");
                return Ending::Closed;
            }
            // Not raced against shutdown: a request once read is answered.
            Some(Ok(frame)) => match parse_request(&frame) {
                Ok(request) => {
                    let was_logged_in = state.session.is_some();
                    let signs_in =
                        matches!(request.op, Op::Register(_) | Op::Login(_) | Op::Resume(_));
                    let response = handlers::dispatch(shared, state, request).await;
                    if signs_in || (was_logged_in && state.session.is_none()) {
                        anonymous_since = Instant::now();
                    }
                    response
                }
                Err(err) => encode_error(err.id, &err.error),
            },
        };
        if let Some(push) = state.push_before_reply.take()
            && !send(outbox, killed.as_mut(), push).await
        {
            return Ending::Closed;
        }
        if !send(outbox, killed.as_mut(), response).await {
            return Ending::Closed;
        }
        if state.close_after_reply {
            return Ending::LastReply;
        }
    }
}

/// Requests refused at shutdown on one connection, at most: a client that
/// keeps pipelining cannot hold the shutdown up.
const SHUTDOWN_REFUSALS: usize = 4_096;
/// At shutdown, how long a connection may be quiet before it is taken to
/// have sent everything it had sent before the `shutdown` push.
const SHUTDOWN_QUIET: Duration = Duration::from_millis(100);

/// At shutdown: answers every request already read or already waiting in
/// the socket, until the client is quiet for [`SHUTDOWN_QUIET`] — with `unavailable` ("not
/// executed"), so that none is dropped silently and the client knows it may
/// retry elsewhere or later (hardening issue, SIGTERM). Unreadable frames
/// get their usual `bad_request`. At most [`SHUTDOWN_REFUSALS`].
async fn refuse_read_requests<R>(
    frames: &mut FramedRead<R, LengthDelimitedCodec>,
    outbox: &Outbox,
    mut killed: std::pin::Pin<&mut WaitForCancellationFuture<'_>>,
    conn: u64,
) where
    R: AsyncRead + Unpin,
{
    let body = ErrorBody::new(
        ErrorCode::Unavailable,
        "the server is shutting down: this request was not executed; retry after reconnecting",
    );
    let mut refused = 0_usize;
    while refused < SHUTDOWN_REFUSALS {
        // What is buffered or already on its way; a client quiet for
        // SHUTDOWN_QUIET has sent everything it had before the `shutdown`.
        let Ok(Some(Ok(frame))) = tokio::time::timeout(SHUTDOWN_QUIET, frames.next()).await else {
            break;
        };
        let response = match parse_request(&frame) {
            Ok(request) => encode_error(Some(request.id), &body),
            Err(err) => encode_error(err.id, &err.error),
        };
        if !send(outbox, killed.as_mut(), response).await {
            return;
        }
        refused += 1;
    }
    if refused > 0 {
        tracing::info!(
            conn,
            refused,
            "shutting down: refused requests already sent"
        );
    }
}

/// Reads and discards what the client still sends (bounded in time and
/// bytes), after our side has finished writing and shut down.
async fn linger<R: AsyncRead + Unpin>(reader: ReadHalf<R>) {
    let mut rest = reader.take(LINGER_BYTES);
    let _ = tokio::time::timeout(LINGER, tokio::io::copy(&mut rest, &mut tokio::io::sink())).await;
}

/// Queues a response, waiting for room unless the connection is killed.
/// False when the connection is gone.
async fn send(
    outbox: &Outbox,
    mut killed: std::pin::Pin<&mut WaitForCancellationFuture<'_>>,
    frame: Bytes,
) -> bool {
    tokio::select! {
        biased;
        () = &mut killed => false,
        sent = outbox.send(&frame) => sent,
    }
}

/// Writes batches from `outbox` until it is closed and drained, then shuts
/// the write side down. A failed write, or the kill token, ends it at once
/// (a failed write also cancels the token, which stops the reader).
async fn write_loop<W>(
    mut writer: W,
    outbox: Arc<Outbox>,
    kill: CancellationToken,
    coalesce: Duration,
) where
    W: AsyncWrite + Unpin,
{
    // One registration for the connection's lifetime, not one per batch.
    let killed = kill.cancelled();
    tokio::pin!(killed);
    let mut buf = BytesMut::new();
    let mut last_write = None;
    loop {
        let batch = tokio::select! {
            biased;
            () = &mut killed => return,
            batch = outbox.next_batch(&mut buf, coalesce, last_write) => batch,
        };
        if let Batch::Done = batch {
            break;
        }
        let written = tokio::select! {
            biased;
            () = &mut killed => return,
            written = async {
                writer.write_all(&buf).await?;
                writer.flush().await
            } => written,
        };
        if let Err(err) = written {
            tracing::debug!(%err, "write failed");
            // Nobody can receive any more: stop the reader too.
            kill.cancel();
            return;
        }
        Outbox::recycle(&mut buf);
        last_write = Some(Instant::now());
    }
    tokio::select! {
        () = &mut killed => {}
        _ = writer.shutdown() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;
    use coliseum_protocol::response::ServerMessage;
    use coliseum_protocol::{decode_server_message, frame_codec};
    use futures::SinkExt as _;
    use tokio::sync::Semaphore;
    use tokio_util::codec::Framed;

    /// The connection runs over any byte stream: here an in-memory duplex,
    /// as TLS streams will.
    #[tokio::test]
    async fn serves_an_in_memory_stream_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = crate::open_embedded_store(dir.path()).await.expect("store");
        let shared = Arc::new(Shared::new(ServerConfig::default(), store));
        let permit = Arc::new(Semaphore::new(1))
            .try_acquire_owned()
            .expect("permit");
        let per_ip = crate::limits::ConnectionsPerIp::new(0)
            .try_acquire(std::net::Ipv4Addr::LOCALHOST.into())
            .expect("no cap");
        let slot = Slot::new(permit, per_ip);
        let (client_end, server_end) = tokio::io::duplex(64 * 1024);
        let peer = SocketAddr::from(([127, 0, 0, 1], 9));
        let task = tokio::spawn(serve(server_end, peer, Arc::clone(&shared), slot));
        let mut client = Framed::new(client_end, frame_codec());

        let frame = client.next().await.expect("frame").expect("read");
        assert!(matches!(
            decode_server_message(&frame).expect("decode"),
            ServerMessage::Push(Push::Welcome { online: 1, .. })
        ));
        client
            .send(Bytes::from_static(br#"{"id":1,"op":"list_events"}"#))
            .await
            .expect("send");
        let frame = client.next().await.expect("frame").expect("read");
        let ServerMessage::Response { id, result } = decode_server_message(&frame).expect("decode")
        else {
            panic!("not a response")
        };
        assert_eq!(id, Some(1));
        assert_eq!(
            result.expect("ok")["events"].as_array().map(Vec::len),
            Some(3)
        );

        shared.shutdown.cancel();
        assert!(client.next().await.is_none(), "closed after shutdown");
        task.await.expect("connection task");
        assert_eq!(shared.hub.connected(), 0);
    }
}
