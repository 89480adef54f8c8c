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

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use coliseum_protocol::codec::is_frame_too_large;
use coliseum_protocol::request::ChatSend;
use coliseum_protocol::{
    ErrorBody, ErrorCode, MAX_FRAME_LEN, Op, PROTOCOL_VERSION, Push, SERVER_NAME, encode_error,
    encode_push, frame_codec, parse_request,
};
use futures::{FutureExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::io::{AsyncReadExt as _, ReadHalf};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::context::{ConnState, Shared};
use crate::handlers::{self, Sorted};
use crate::outbox::{Batch, Outbox, write_frames};
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
    let mut frames = FramedRead::with_capacity(reader, frame_codec(), READ_BUFFER);
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
    // What ended a run of pipelined `chat_send`s (see `gather_pipelined`):
    // handled next, before anything else is read.
    let mut held: Option<Option<std::io::Result<BytesMut>>> = None;
    loop {
        let next = match held.take() {
            Some(next) => next,
            None => {
                let (timeout, from) = if state.session.is_some() {
                    (shared.config.idle_timeout, Instant::now())
                } else {
                    (shared.config.handshake_timeout, anonymous_since)
                };
                let armed = !timeout.is_zero();
                if armed {
                    timer.as_mut().reset(from + timeout);
                }
                tokio::select! {
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
                }
            }
        };
        match handle(
            next,
            frames,
            outbox,
            killed.as_mut(),
            shared,
            state,
            &mut held,
        )
        .await
        {
            Handled::Go { signed_in } => {
                if signed_in {
                    anonymous_since = Instant::now();
                }
            }
            Handled::End(ending) => return ending,
        }
    }
}

/// Initial capacity of a connection's read buffer, bytes. Requests are a
/// few hundred bytes; the buffer grows for a larger frame (up to the
/// protocol's limit) when one comes. tokio-util's default, 8 KiB, was about
/// half of an idle connection's memory.
const READ_BUFFER: usize = 1024;

/// What [`handle`] leaves the read loop to do.
enum Handled {
    /// Read on. `signed_in`: the request was `register`, `login` or
    /// `resume`, or it ended the session (the anonymous clock restarts).
    Go { signed_in: bool },
    /// Close the connection this way.
    End(Ending),
}

/// Handles what the read loop read: a frame (answered, and with any
/// `chat_send`s pipelined behind it, see [`gather_pipelined`]), a read
/// error, or the end of the stream.
async fn handle<R>(
    next: Option<std::io::Result<BytesMut>>,
    frames: &mut FramedRead<R, LengthDelimitedCodec>,
    outbox: &Outbox,
    mut killed: Pin<&mut WaitForCancellationFuture<'_>>,
    shared: &Shared,
    state: &mut ConnState,
    held: &mut Option<Option<std::io::Result<BytesMut>>>,
) -> Handled
where
    R: AsyncRead + Unpin,
{
    let was_logged_in = state.session.is_some();
    let mut signs_in = false;
    let responses = match next {
        None => return Handled::End(Ending::Closed),
        Some(Err(err)) if is_frame_too_large(&err) => {
            tracing::info!(conn = state.id, "frame too large: closing");
            let body = ErrorBody::new(
                ErrorCode::FrameTooLarge,
                format!("frames are limited to {MAX_FRAME_LEN} bytes"),
            );
            send(outbox, killed.as_mut(), encode_error(None, &body)).await;
            return Handled::End(Ending::FrameTooLarge);
        }
        Some(Err(err)) => {
            tracing::debug!(conn = state.id, %err, "read failed");
            return Handled::End(Ending::Closed);
        }
        // Not raced against shutdown: a request once read is answered.
        Some(Ok(frame)) => match parse_request(&frame).map(handlers::sort) {
            Ok(Sorted::ChatSend(id, send)) => {
                let sends = gather_pipelined(frames, (id, send), held);
                Box::pin(handlers::dispatch_pipelined(shared, state, &sends)).await
            }
            Ok(Sorted::Other(request)) => {
                signs_in = matches!(request.op, Op::Register(_) | Op::Login(_) | Op::Resume(_));
                // Boxed: the state of the largest op (~1.7 KiB) would
                // otherwise be part of every connection's task, idle or not.
                vec![Box::pin(handlers::dispatch(shared, state, request)).await]
            }
            Err(err) => vec![encode_error(err.id, &err.error)],
        },
    };
    if let Some(push) = state.push_before_reply.take()
        && !send(outbox, killed.as_mut(), push).await
    {
        return Handled::End(Ending::Closed);
    }
    for response in responses {
        if !send(outbox, killed.as_mut(), response).await {
            return Handled::End(Ending::Closed);
        }
    }
    if state.close_after_reply {
        return Handled::End(Ending::LastReply);
    }
    Handled::Go {
        signed_in: signs_in || (was_logged_in && state.session.is_none()),
    }
}

/// Most `chat_send`s answered together (see [`gather_pipelined`]).
const MAX_PIPELINED: usize = 64;

/// `first` and the `chat_send`s already read behind it (in the codec's
/// buffer or ready on the socket; this never waits), up to
/// [`MAX_PIPELINED`], so that their messages are stored together. Whatever
/// ends the run (another op, a bad frame, a read error, the end of the
/// stream) is left in `held`, to be handled next and in order.
fn gather_pipelined<R>(
    frames: &mut FramedRead<R, LengthDelimitedCodec>,
    first: (u64, ChatSend),
    held: &mut Option<Option<std::io::Result<BytesMut>>>,
) -> Vec<(u64, ChatSend)>
where
    R: AsyncRead + Unpin,
{
    let mut sends = vec![first];
    while sends.len() < MAX_PIPELINED {
        let Some(next) = frames.next().now_or_never() else {
            break;
        };
        match next {
            Some(Ok(frame)) => match parse_request(&frame).map(handlers::sort) {
                Ok(Sorted::ChatSend(id, send)) => sends.push((id, send)),
                Ok(Sorted::Other(_)) | Err(_) => {
                    *held = Some(Some(Ok(frame)));
                    break;
                }
            },
            other => {
                *held = Some(other);
                break;
            }
        }
    }
    sends
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
        sent = outbox.send(frame) => sent,
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
    let mut frames = VecDeque::new();
    let mut scratch = BytesMut::new();
    let mut last_write = None;
    loop {
        let batch = tokio::select! {
            biased;
            () = &mut killed => return,
            batch = outbox.next_batch(&mut frames, coalesce, last_write) => batch,
        };
        if let Batch::Done = batch {
            break;
        }
        let written = tokio::select! {
            biased;
            () = &mut killed => return,
            written = write_frames(&mut writer, &mut frames, &mut scratch) => written,
        };
        if let Err(err) = written {
            tracing::debug!(%err, "write failed");
            // Nobody can receive any more: stop the reader too.
            kill.cancel();
            return;
        }
        Outbox::recycle(&mut frames);
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

    /// Bytes of one frame holding `body`.
    fn frame(body: &str) -> Vec<u8> {
        let len = u32::try_from(body.len()).expect("small frame");
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(body.as_bytes());
        bytes
    }

    /// `gather_pipelined` takes the `chat_send`s already read behind the
    /// first, stops at the first other frame (kept in `held`, not lost),
    /// never takes more than `MAX_PIPELINED`, and keeps the end of the
    /// stream for the read loop.
    #[tokio::test]
    async fn pipelined_chat_sends_are_gathered_up_to_the_first_other_frame() {
        let send = |id: u64| frame(&format!(r#"{{"id":{id},"op":"chat_send","text":"t{id}"}}"#));
        let first = (
            1,
            ChatSend {
                room: None,
                text: "t1".to_owned(),
            },
        );

        let mut bytes = Vec::new();
        for id in 2..=4 {
            bytes.extend(send(id));
        }
        bytes.extend(frame(r#"{"id":5,"op":"online"}"#));
        bytes.extend(send(6));
        let mut frames = FramedRead::new(&bytes[..], frame_codec());
        let mut held = None;
        let sends = gather_pipelined(&mut frames, first.clone(), &mut held);
        let ids: Vec<u64> = sends.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
        assert_eq!(sends[3].1.text, "t4");
        let Some(Some(Ok(other))) = held else {
            panic!("the other frame is held: {held:?}")
        };
        assert_eq!(&other[..], br#"{"id":5,"op":"online"}"#);
        let rest = frames.next().await.expect("a frame").expect("read");
        assert_eq!(
            parse_request(&rest).expect("parse").id,
            6,
            "nothing skipped"
        );

        // A bad frame ends the run too, and is held as it was read.
        let mut bytes = send(2);
        bytes.extend(frame("{not json"));
        let mut frames = FramedRead::new(&bytes[..], frame_codec());
        let mut held = None;
        assert_eq!(
            gather_pipelined(&mut frames, first.clone(), &mut held).len(),
            2
        );
        assert!(matches!(&held, Some(Some(Ok(f))) if &f[..] == b"{not json"));

        // At most MAX_PIPELINED; then the end of the stream is held.
        let mut bytes = Vec::new();
        for id in 2..=100 {
            bytes.extend(send(id));
        }
        let mut frames = FramedRead::new(&bytes[..], frame_codec());
        let mut held = None;
        let sends = gather_pipelined(&mut frames, first.clone(), &mut held);
        assert_eq!(sends.len(), MAX_PIPELINED);
        assert!(held.is_none(), "nothing held when the limit stops the run");
        let mut rest = 0;
        while let Some(next) = frames.next().await {
            next.expect("read");
            rest += 1;
        }
        assert_eq!(MAX_PIPELINED + rest, 100, "the rest is left to read");
        let mut held = None;
        let mut empty = FramedRead::new(&b""[..], frame_codec());
        assert_eq!(gather_pipelined(&mut empty, first, &mut held).len(), 1);
        assert!(matches!(held, Some(None)), "the end of the stream is held");
    }
}
