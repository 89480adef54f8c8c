//! One client connection: a reader loop that answers requests one at a
//! time, in order, and a writer task that drains the connection's bounded
//! outbound queue.
//!
//! Generic over any `AsyncRead + AsyncWrite` byte stream, so TLS streams and
//! in-memory duplexes work the same as TCP.
//!
//! - The writer `feed`s every frame already queued (up to [`MAX_BATCH`])
//!   and flushes once, so a burst of pushes costs one write syscall.
//! - Responses wait for room in the queue (`send().await`: back-pressure on
//!   this connection only); pushes never wait (see `hub`).
//! - A frame announcing more than 1 MiB gets `frame_too_large` (id `null`)
//!   and the connection closes; an unreadable request gets `bad_request`
//!   and the connection stays usable.
//! - Graceful shutdown: the reader stops taking requests (the one being
//!   handled finishes), then the writer flushes what is queued (the
//!   `shutdown` push, the last response) and closes. The kill token drops
//!   the connection at once (slow reader, or the grace period ran out).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use coliseum_protocol::codec::is_frame_too_large;
use coliseum_protocol::{
    ErrorBody, ErrorCode, MAX_FRAME_LEN, PROTOCOL_VERSION, Push, SERVER_NAME, encode_error,
    encode_push, frame_codec, parse_request,
};
use futures::{Sink, SinkExt as _, Stream, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::context::{ConnState, Shared};
use crate::handlers;

/// Most frames written between two flushes.
const MAX_BATCH: usize = 256;

/// Serves one accepted client until it leaves, is dropped, or the server
/// stops. `permit` is the connection-cap slot, released when the socket is
/// closed.
pub(crate) async fn serve<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    permit: OwnedSemaphorePermit,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, frames) = Framed::new(stream, frame_codec()).split();
    let (tx, rx) = mpsc::channel::<Bytes>(shared.config.outbound_queue.max(1));
    let kill = shared.abort.child_token();
    let id = shared.hub.join(tx.clone(), kill.clone(), |online| {
        encode_push(&Push::Welcome {
            server: SERVER_NAME.to_owned(),
            protocol: PROTOCOL_VERSION,
            online,
        })
    });
    tracing::info!(conn = id, %peer, "client connected");
    let writer = tokio::spawn(write_loop(sink, rx, kill.clone()));

    let mut state = ConnState {
        id,
        peer,
        session: None,
    };
    read_loop(frames, &tx, &kill, &shared, &mut state).await;

    shared.hub.leave(id);
    drop(tx);
    // The writer ends once the queue is drained (every sender is gone) or
    // the kill token fires.
    if let Err(err) = writer.await {
        tracing::error!(conn = id, %err, "connection writer panicked");
    }
    drop(permit);
    tracing::info!(
        conn = id,
        %peer,
        user = state.session.as_ref().map_or("-", |s| s.username.as_str()),
        "client disconnected"
    );
}

async fn read_loop<R>(
    mut frames: R,
    tx: &mpsc::Sender<Bytes>,
    kill: &CancellationToken,
    shared: &Shared,
    state: &mut ConnState,
) where
    R: Stream<Item = std::io::Result<bytes::BytesMut>> + Unpin,
{
    loop {
        let next = tokio::select! {
            biased;
            () = kill.cancelled() => return,
            () = shared.shutdown.cancelled() => return,
            next = frames.next() => next,
        };
        let response = match next {
            None => return,
            Some(Err(err)) if is_frame_too_large(&err) => {
                tracing::info!(conn = state.id, "frame too large: closing");
                let body = ErrorBody::new(
                    ErrorCode::FrameTooLarge,
                    format!("frames are limited to {MAX_FRAME_LEN} bytes"),
                );
                send(tx, kill, encode_error(None, &body)).await;
                return;
            }
            Some(Err(err)) => {
                tracing::debug!(conn = state.id, %err, "read failed");
                return;
            }
            // Not raced against shutdown: a request once read is answered.
            Some(Ok(frame)) => match parse_request(&frame) {
                Ok(request) => handlers::dispatch(shared, state, request).await,
                Err(err) => encode_error(err.id, &err.error),
            },
        };
        if !send(tx, kill, response).await {
            return;
        }
    }
}

/// Queues a response, waiting for room unless the connection is killed.
/// False when the connection is gone.
async fn send(tx: &mpsc::Sender<Bytes>, kill: &CancellationToken, frame: Bytes) -> bool {
    tokio::select! {
        biased;
        () = kill.cancelled() => false,
        sent = tx.send(frame) => sent.is_ok(),
    }
}

async fn write_loop<W>(mut sink: W, mut rx: mpsc::Receiver<Bytes>, kill: CancellationToken)
where
    W: Sink<Bytes, Error = std::io::Error> + Unpin,
{
    loop {
        let first = tokio::select! {
            biased;
            () = kill.cancelled() => return,
            first = rx.recv() => first,
        };
        let Some(first) = first else { break };
        let batch = async {
            sink.feed(first).await?;
            for _ in 1..MAX_BATCH {
                let Ok(frame) = rx.try_recv() else { break };
                sink.feed(frame).await?;
            }
            sink.flush().await
        };
        let written = tokio::select! {
            biased;
            () = kill.cancelled() => return,
            written = batch => written,
        };
        if let Err(err) = written {
            tracing::debug!(%err, "write failed");
            // Nobody can receive any more: stop the reader too.
            kill.cancel();
            return;
        }
    }
    tokio::select! {
        () = kill.cancelled() => {}
        _ = sink.close() => {}
    }
}
