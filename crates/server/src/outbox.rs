//! A connection's outbound buffer: frames are appended (already framed by
//! the protocol's length-delimited codec) into one contiguous `BytesMut`,
//! and the connection's writer takes everything buffered at once and
//! writes it with one `write` call.
//!
//! Why not a channel of frames: in a broadcast to 1,000 clients, a queue
//! per connection cost a queue push, a semaphore permit, a shared
//! reference count (contended between threads) and, in the writer, a copy
//! through the codec — per recipient (profiled: ~40 % of the server's CPU
//! in a 1,000-client fan-out). Appending under an uncontended lock is one
//! copy of ~150 bytes, and the writer is woken only when the outbox goes
//! from empty to non-empty (or a response arrives).
//!
//! Rules:
//! - Pushes ([`Outbox::try_push`]) never wait: when `limit` frames, or
//!   `limit_bytes` bytes (default 1 MiB, `docs/protocol.md`), are already
//!   waiting, the client reads too slowly and the caller disconnects it
//!   (see `hub`), after [`Outbox::discard`] has freed what it held. The byte
//!   bound is what keeps memory small (issue 12: 300 clients that stopped
//!   reading 8 KB chat messages held 2.3 GB under a frame-only bound).
//! - Responses ([`Outbox::send`]) wait for room (back-pressure on this
//!   connection only) and are *urgent*: the writer sends them without the
//!   coalescing delay.
//! - Coalescing: the writer writes at most once per `coalesce` interval
//!   while pushes keep arriving (see [`Outbox::next_batch`]), so a busy
//!   room costs each connection one write syscall per interval instead of
//!   one per message. A connection that has been quiet for `coalesce`
//!   writes at once, and so does one whose outbox is half full (so that
//!   only a client that really does not read can reach the limit).

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use coliseum_protocol::frame_codec;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::codec::{Encoder as _, LengthDelimitedCodec};

/// Buffers larger than this are not kept for reuse after a write, so a
/// burst does not pin memory on an otherwise idle connection.
const KEEP_CAPACITY: usize = 64 * 1024;
/// Bytes of the length prefix before each frame (`frame_codec`).
const PREFIX_LEN: usize = 4;

/// Outcome of [`Outbox::try_push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Appended.
    Queued,
    /// `limit` frames or `limit_bytes` bytes are already waiting: the
    /// client reads too slowly.
    Full,
    /// The connection is closing; the frame was dropped.
    Closed,
    /// The frame exceeds the protocol's frame limit and cannot be sent.
    TooLarge,
}

/// What is waiting to be written.
struct State {
    /// Length-prefixed frames, in order.
    buf: BytesMut,
    /// Frames in `buf`.
    frames: usize,
    /// A response is in `buf`: write without the coalescing delay.
    urgent: bool,
    /// No more frames will come; the writer finishes what is buffered.
    closed: bool,
    /// The writer sleeps until its coalescing interval ends and will look
    /// then: a push into an empty outbox need not wake it (one wake per
    /// write under a steady flow instead of two).
    timed: bool,
    /// Frames the length prefix; `max_frame_length` = the protocol's limit.
    codec: LengthDelimitedCodec,
}

/// See the module docs. Shared (`Arc`) by the connection's reader, its
/// writer and the hub.
pub(crate) struct Outbox {
    /// The buffer and its flags.
    state: Mutex<State>,
    /// Wakes the writer: data in an empty outbox, an urgent frame, close.
    ready: Notify,
    /// Wakes responders waiting for room (after the writer took a batch).
    room: Notify,
    /// Most frames buffered at once (`ServerConfig::outbound_queue`).
    limit: usize,
    /// Most bytes buffered at once, length prefixes included
    /// (`ServerConfig::outbound_queue_bytes`).
    limit_bytes: usize,
    /// Times [`Outbox::next_batch`] went to sleep (tests count wakes).
    #[cfg(test)]
    waits: std::sync::atomic::AtomicUsize,
}

/// One batch taken by the writer, or the end.
pub(crate) enum Batch {
    /// Write these bytes (every frame buffered when it was taken).
    Write,
    /// Closed and drained: shut the connection's write side down.
    Done,
}

impl Outbox {
    /// An empty outbox holding at most `limit` (≥ 1) frames and
    /// `limit_bytes` bytes (pushes beyond are refused; one response may
    /// exceed it when the outbox was below it).
    pub(crate) fn with_byte_limit(limit: usize, limit_bytes: usize) -> Self {
        Self {
            state: Mutex::new(State {
                buf: BytesMut::new(),
                frames: 0,
                urgent: false,
                closed: false,
                timed: false,
                codec: frame_codec(),
            }),
            ready: Notify::new(),
            room: Notify::new(),
            limit: limit.max(1),
            limit_bytes,
            #[cfg(test)]
            waits: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// An outbox bounded in frames only (tests).
    #[cfg(test)]
    pub(crate) fn new(limit: usize) -> Self {
        Self::with_byte_limit(limit, usize::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends a push frame (`payload` is the JSON; the length prefix is
    /// added here) unless `limit` frames are already waiting or it would
    /// take the buffer past `limit_bytes`. Never waits.
    pub(crate) fn try_push(&self, payload: &[u8]) -> Offer {
        let mut state = self.lock();
        if state.closed {
            return Offer::Closed;
        }
        if state.frames >= self.limit
            || state.buf.len() + PREFIX_LEN + payload.len() > self.limit_bytes
        {
            return Offer::Full;
        }
        let was_empty = state.frames == 0;
        if !append(&mut state, payload) {
            return Offer::TooLarge;
        }
        // Half full: write now rather than wait out the coalescing delay,
        // or a fast reader in a busy room would fill up during the delay
        // and be taken for a slow one.
        let filling = !state.urgent && self.half_full(&state);
        if filling {
            state.urgent = true;
        }
        let wake = (was_empty && !state.timed) || filling;
        drop(state);
        if wake {
            self.ready.notify_one();
        }
        Offer::Queued
    }

    /// Appends a response frame, waiting while `limit` frames are already
    /// waiting; the writer sends it without the coalescing delay. False
    /// when the connection is closing (or the frame exceeds the protocol's
    /// limit: then it is logged and dropped).
    pub(crate) async fn send(&self, payload: &[u8]) -> bool {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            // Registered before the check, so a batch taken in between
            // cannot be missed.
            room.as_mut().enable();
            {
                let mut state = self.lock();
                if state.closed {
                    return false;
                }
                if state.frames < self.limit && state.buf.len() < self.limit_bytes {
                    if !append(&mut state, payload) {
                        return false;
                    }
                    state.urgent = true;
                    drop(state);
                    self.ready.notify_one();
                    return true;
                }
            }
            room.await;
        }
    }

    /// At least half of either bound is used.
    fn half_full(&self, state: &State) -> bool {
        state.frames * 2 >= self.limit || state.buf.len() * 2 >= self.limit_bytes
    }

    /// The client is being dropped (it stopped reading): frees the buffered
    /// frames at once and refuses everything from now on.
    pub(crate) fn discard(&self) {
        let mut state = self.lock();
        state.buf = BytesMut::new();
        state.frames = 0;
        state.closed = true;
        drop(state);
        self.ready.notify_one();
        self.room.notify_waiters();
    }

    /// No more frames: the writer writes what is buffered, then ends.
    /// Responders still waiting for room give up.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
        self.room.notify_waiters();
    }

    /// Waits for the next batch and swaps it into `out` (which must be
    /// empty). With no urgent frame, waits until `coalesce` has passed
    /// since `last_write` (if any), so that pushes arriving meanwhile go out
    /// in the same write; within that interval it sleeps on a timer alone,
    /// and pushes do not wake it (only responses, a half-full outbox and
    /// closing do). Cancel-safe: dropping the future loses nothing.
    pub(crate) async fn next_batch(
        &self,
        out: &mut BytesMut,
        coalesce: Duration,
        last_write: Option<Instant>,
    ) -> Batch {
        let due = last_write.map(|at| at + coalesce);
        loop {
            let ready = self.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            let wait_until = {
                let mut state = self.lock();
                let pending = due.filter(|&due| Instant::now() < due);
                if state.frames == 0 {
                    if state.closed {
                        return Batch::Done;
                    }
                    // Nothing to write yet: within the interval, sleep until
                    // it ends (pushes meanwhile need not wake us), after it
                    // until the next push.
                    state.timed = pending.is_some();
                    pending
                } else {
                    match pending {
                        Some(due) if !state.urgent && !state.closed => {
                            state.timed = true;
                            Some(due)
                        }
                        _ => {
                            std::mem::swap(&mut state.buf, out);
                            state.frames = 0;
                            state.urgent = false;
                            state.timed = false;
                            drop(state);
                            self.room.notify_waiters();
                            return Batch::Write;
                        }
                    }
                }
            };
            #[cfg(test)]
            self.waits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match wait_until {
                None => ready.await,
                Some(due) => {
                    tokio::select! {
                        () = ready => {}
                        () = tokio::time::sleep_until(due) => {}
                    }
                }
            }
        }
    }

    /// Gives a written buffer back for reuse (cleared; dropped when large).
    pub(crate) fn recycle(out: &mut BytesMut) {
        if out.capacity() > KEEP_CAPACITY {
            *out = BytesMut::new();
        } else {
            out.clear();
        }
    }
}

#[cfg(test)]
impl Outbox {
    /// Takes every buffered frame (without its length prefix), as the
    /// client would read them. For tests of the hub and the sessions.
    pub(crate) fn take_frames(&self) -> Vec<bytes::Bytes> {
        use tokio_util::codec::Decoder as _;
        let mut state = self.lock();
        let mut buf = std::mem::take(&mut state.buf);
        state.frames = 0;
        state.urgent = false;
        let mut codec = frame_codec();
        let mut frames = Vec::new();
        while let Ok(Some(frame)) = codec.decode(&mut buf) {
            frames.push(frame.freeze());
        }
        frames
    }
}

/// Appends `payload` with its length prefix. False (nothing appended) when
/// it exceeds the protocol's frame limit.
fn append(state: &mut State, payload: &[u8]) -> bool {
    let State { buf, codec, .. } = state;
    match codec.encode(payload, buf) {
        Ok(()) => {
            state.frames += 1;
            true
        }
        Err(err) => {
            tracing::error!(%err, len = payload.len(), "outbound frame too large: dropped");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::codec::Decoder as _;

    fn frames(buf: &mut BytesMut) -> Vec<Vec<u8>> {
        let mut codec = frame_codec();
        let mut out = Vec::new();
        while let Some(frame) = codec.decode(buf).expect("decode") {
            out.push(frame.to_vec());
        }
        assert!(buf.is_empty(), "only whole frames");
        out
    }

    /// A writer task taking one batch: how long it waited from when it was
    /// spawned, and how many frames it got. `last_write`: `None` = now.
    fn spawn_writer(
        outbox: &std::sync::Arc<Outbox>,
        coalesce: Duration,
        last_write: Option<Instant>,
    ) -> tokio::task::JoinHandle<(Duration, usize)> {
        let outbox = std::sync::Arc::clone(outbox);
        tokio::spawn(async move {
            let mut out = BytesMut::new();
            let started = Instant::now();
            let last = last_write.unwrap_or(started);
            outbox.next_batch(&mut out, coalesce, Some(last)).await;
            (started.elapsed(), frames(&mut out).len())
        })
    }

    #[tokio::test]
    async fn frames_come_out_in_order_with_length_prefixes() {
        let outbox = Outbox::new(8);
        assert_eq!(outbox.try_push(b"{\"a\":1}"), Offer::Queued);
        assert!(outbox.send(b"{\"b\":2}").await);
        assert_eq!(outbox.try_push(b"{\"c\":3}"), Offer::Queued);
        let mut out = BytesMut::new();
        assert!(matches!(
            outbox.next_batch(&mut out, Duration::ZERO, None).await,
            Batch::Write
        ));
        assert_eq!(
            frames(&mut out),
            [&b"{\"a\":1}"[..], b"{\"b\":2}", b"{\"c\":3}"]
        );
    }

    #[tokio::test]
    async fn a_full_outbox_refuses_pushes_and_makes_responses_wait() {
        let outbox = std::sync::Arc::new(Outbox::new(2));
        assert_eq!(outbox.try_push(b"1"), Offer::Queued);
        assert_eq!(outbox.try_push(b"2"), Offer::Queued);
        assert_eq!(outbox.try_push(b"3"), Offer::Full);
        let responder = {
            let outbox = std::sync::Arc::clone(&outbox);
            tokio::spawn(async move { outbox.send(b"response").await })
        };
        tokio::task::yield_now().await;
        assert!(!responder.is_finished(), "waits for room");
        let mut out = BytesMut::new();
        outbox.next_batch(&mut out, Duration::ZERO, None).await;
        assert_eq!(frames(&mut out).len(), 2);
        assert!(responder.await.expect("responder"), "queued once drained");
        Outbox::recycle(&mut out);
        outbox.next_batch(&mut out, Duration::ZERO, None).await;
        assert_eq!(frames(&mut out), [b"response".to_vec()]);
    }

    #[tokio::test(start_paused = true)]
    async fn pushes_wait_for_the_interval_and_responses_do_not() {
        let outbox = Outbox::new(16);
        let coalesce = Duration::from_millis(5);
        let last = Some(Instant::now());
        outbox.try_push(b"push");
        let mut out = BytesMut::new();
        let started = Instant::now();
        outbox.next_batch(&mut out, coalesce, last).await;
        assert_eq!(started.elapsed(), coalesce, "push held until the interval");
        Outbox::recycle(&mut out);

        let last = Some(Instant::now());
        outbox.try_push(b"push");
        assert!(outbox.send(b"response").await);
        let started = Instant::now();
        outbox.next_batch(&mut out, coalesce, last).await;
        assert_eq!(started.elapsed(), Duration::ZERO, "a response goes at once");
        assert_eq!(frames(&mut out).len(), 2, "with the push before it");
    }

    #[tokio::test(start_paused = true)]
    async fn pushes_within_the_interval_do_not_wake_the_writer() {
        use std::sync::atomic::Ordering;
        let outbox = std::sync::Arc::new(Outbox::new(64));
        let coalesce = Duration::from_millis(20);
        let written_at = Instant::now();
        let writer = spawn_writer(&outbox, coalesce, Some(written_at));
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(outbox.try_push(b"push"), Offer::Queued);
        }
        let (waited, n) = writer.await.expect("writer");
        assert_eq!(waited, coalesce, "written when the interval ends");
        assert_eq!(n, 3, "all three in one write");
        assert_eq!(
            outbox.waits.load(Ordering::Relaxed),
            1,
            "one sleep on the timer, not woken by each push"
        );

        // After the interval, the first push into the empty outbox wakes it.
        let writer = spawn_writer(&outbox, coalesce, Some(written_at));
        tokio::time::sleep(Duration::from_millis(7)).await;
        assert_eq!(outbox.try_push(b"late"), Offer::Queued);
        let (waited, n) = writer.await.expect("writer");
        assert_eq!(waited, Duration::from_millis(7), "written at once");
        assert_eq!(n, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_half_full_outbox_is_written_without_the_delay() {
        let outbox = Outbox::new(8);
        let coalesce = Duration::from_millis(50);
        for _ in 0..4 {
            assert_eq!(outbox.try_push(b"push"), Offer::Queued);
        }
        let mut out = BytesMut::new();
        let started = Instant::now();
        outbox
            .next_batch(&mut out, coalesce, Some(Instant::now()))
            .await;
        assert_eq!(started.elapsed(), Duration::ZERO, "4 of 8: written at once");
        assert_eq!(frames(&mut out).len(), 4);
        Outbox::recycle(&mut out);
        // Below half: held for the interval.
        outbox.try_push(b"push");
        let started = Instant::now();
        outbox
            .next_batch(&mut out, coalesce, Some(Instant::now()))
            .await;
        assert_eq!(started.elapsed(), coalesce);
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_arriving_during_the_delay_cuts_it_short() {
        let outbox = std::sync::Arc::new(Outbox::new(16));
        let coalesce = Duration::from_millis(50);
        outbox.try_push(b"push");
        let writer = spawn_writer(&outbox, coalesce, None);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(outbox.send(b"response").await);
        let (waited, n) = writer.await.expect("writer");
        assert_eq!(waited, Duration::from_millis(10));
        assert_eq!(n, 2);
    }

    #[tokio::test]
    async fn close_drains_then_ends_and_refuses_more() {
        let outbox = Outbox::new(4);
        outbox.try_push(b"last");
        outbox.close();
        assert_eq!(outbox.try_push(b"late"), Offer::Closed);
        assert!(!outbox.send(b"late").await);
        let mut out = BytesMut::new();
        assert!(matches!(
            outbox
                .next_batch(&mut out, Duration::from_secs(1), Some(Instant::now()))
                .await,
            Batch::Write
        ));
        assert_eq!(frames(&mut out), [b"last".to_vec()]);
        Outbox::recycle(&mut out);
        assert!(matches!(
            outbox.next_batch(&mut out, Duration::ZERO, None).await,
            Batch::Done
        ));
    }

    #[tokio::test]
    async fn the_byte_bound_refuses_pushes_and_discard_frees_the_buffer() {
        let outbox = Outbox::with_byte_limit(1024, 3 * 1024);
        let chat = vec![b'x'; 1000];
        for _ in 0..3 {
            assert_eq!(outbox.try_push(&chat), Offer::Queued);
        }
        assert_eq!(outbox.try_push(&chat), Offer::Full, "3,012 + 1,004 > 3,072");
        assert_eq!(
            outbox.try_push(b"small"),
            Offer::Queued,
            "60 bytes still fit"
        );
        assert!(outbox.lock().buf.capacity() >= 3_000);
        outbox.discard();
        assert_eq!(outbox.lock().buf.capacity(), 0, "memory given back");
        assert_eq!(outbox.try_push(b"late"), Offer::Closed);
        assert!(!outbox.send(b"late").await);
        let mut out = BytesMut::new();
        assert!(matches!(
            outbox.next_batch(&mut out, Duration::ZERO, None).await,
            Batch::Done
        ));
    }

    #[test]
    fn oversize_frames_are_refused_whole() {
        let outbox = Outbox::new(4);
        let big = vec![b' '; coliseum_protocol::MAX_FRAME_LEN + 1];
        assert_eq!(outbox.try_push(&big), Offer::TooLarge);
        assert_eq!(outbox.lock().frames, 0);
        assert!(outbox.lock().buf.is_empty());
    }
}
