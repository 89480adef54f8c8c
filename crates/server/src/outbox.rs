//! A connection's outbound queue: frames waiting to be written, each a
//! length prefix and a shared payload, and the connection's writer takes
//! everything waiting at once and writes it with as few `writev` calls as
//! it can.
//!
//! Why shared payloads: a push is serialized once and the same bytes go to
//! every recipient ([`bytes::Bytes`], reference-counted), so a broadcast to
//! N clients costs N reference increments and N queue slots, not N copies.
//! Copying each ~200-byte payload into each recipient's own buffer was the
//! largest single cost of a fan-out (profiled: `try_push` 26 % of the
//! server's CPU in the 100-client closed loop, nearly all of it waiting for
//! the stores of the copy to reach buffers another core had written out
//! last); the kernel now copies straight from the shared payloads, which
//! stay in cache. (Before that, a channel of frames per connection — queue
//! push, semaphore permit, a copy through the codec in the writer — cost
//! ~40 % in a 1,000-client fan-out; the queue here is a `VecDeque` under an
//! uncontended lock.)
//!
//! Rules:
//! - Pushes ([`Outbox::try_push`]) never wait: when `limit` frames, or
//!   `limit_bytes` bytes (default 1 MiB, `docs/protocol.md`), are already
//!   waiting, the client reads too slowly and the caller disconnects it
//!   (see `hub`), after [`Outbox::discard`] has freed what it held. The byte
//!   bound is what keeps memory small (issue 12: 300 clients that stopped
//!   reading 8 KB chat messages held 2.3 GB under a frame-only bound); it
//!   counts every frame's bytes in full, shared or not.
//! - Responses ([`Outbox::send`]) wait for room (back-pressure on this
//!   connection only) and are *urgent*: the writer sends them without the
//!   coalescing delay.
//! - Coalescing: the writer writes at most once per `coalesce` interval
//!   while pushes keep arriving (see [`Outbox::next_batch`]), so a busy
//!   room costs each connection one write per interval instead of one per
//!   message. A connection that has been quiet for `coalesce` writes at
//!   once, and so does one whose outbox is half full (so that only a client
//!   that really does not read can reach the limit).

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};
use coliseum_protocol::{MAX_FRAME_LEN, Push, encode_push};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Queues with room for more frames than this are not kept for reuse after
/// a write, so a burst does not pin memory on an otherwise idle connection.
const KEEP_FRAMES: usize = 1024;
/// Bytes of the length prefix before each frame (`frame_codec`: a
/// big-endian `u32`).
const PREFIX_LEN: usize = 4;
/// Most slices handed to one `writev` (Linux refuses more than 1,024).
const MAX_SLICES: usize = 1024;

/// One frame ready for the wire: the length prefix and the payload (the
/// JSON) in one buffer, shared by every recipient of the same push (one
/// slice per frame in a `writev`).
#[derive(Clone)]
pub(crate) struct Frame(Bytes);

impl Frame {
    /// `payload` with its length prefix (`frame_codec`: a big-endian
    /// `u32`). A payload over the protocol's limit is refused when queued.
    pub(crate) fn new(payload: &[u8]) -> Self {
        let mut buf = BytesMut::with_capacity(PREFIX_LEN + payload.len());
        buf.put_u32(u32::try_from(payload.len()).unwrap_or(u32::MAX));
        buf.put_slice(payload);
        Self(buf.freeze())
    }

    /// The frame of `push`.
    pub(crate) fn push(push: &Push) -> Self {
        Self::new(&encode_push(push))
    }

    /// Bytes on the wire, prefix included.
    fn wire_len(&self) -> usize {
        self.0.len()
    }

    /// The payload, without the prefix.
    #[cfg(test)]
    pub(crate) fn payload(&self) -> Bytes {
        self.0.slice(PREFIX_LEN..)
    }
}

/// Outcome of [`Outbox::try_push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Queued.
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
    /// The frames, in order.
    frames: VecDeque<Frame>,
    /// Their bytes on the wire, prefixes included.
    bytes: usize,
    /// A response is in `buf`: write without the coalescing delay.
    urgent: bool,
    /// No more frames will come; the writer finishes what is buffered.
    closed: bool,
    /// The writer sleeps until its coalescing interval ends and will look
    /// then: a push into an empty outbox need not wake it (one wake per
    /// write under a steady flow instead of two).
    timed: bool,
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
    /// Write the frames taken ([`write_frames`]: every frame waiting when
    /// they were taken).
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
                frames: VecDeque::new(),
                bytes: 0,
                urgent: false,
                closed: false,
                timed: false,
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

    /// Queues a push (shared with its other recipients) unless `limit`
    /// frames are already waiting or it would take the queue past
    /// `limit_bytes`. Never waits.
    pub(crate) fn try_push(&self, frame: &Frame) -> Offer {
        self.try_push_all(std::slice::from_ref(frame))
    }

    /// Queues `frames` in order under one lock, each as [`Outbox::try_push`]
    /// would (one lock and one wake decision per run of pushes instead of
    /// per push: pipelined `chat_send`s are broadcast this way). Stops at
    /// the first frame refused as `Full` or `Closed` and returns that (the
    /// frames before it stay queued); a frame over the protocol's limit is
    /// skipped (`TooLarge` when it was the only one). Never waits.
    pub(crate) fn try_push_all(&self, frames: &[Frame]) -> Offer {
        let mut state = self.lock();
        let was_empty = state.frames.is_empty();
        let mut outcome = Offer::Queued;
        let mut queued = false;
        for frame in frames {
            if state.closed {
                outcome = Offer::Closed;
                break;
            }
            if state.frames.len() >= self.limit || state.bytes + frame.wire_len() > self.limit_bytes
            {
                outcome = Offer::Full;
                break;
            }
            if append(&mut state, frame.clone()) {
                queued = true;
            } else if frames.len() == 1 {
                outcome = Offer::TooLarge;
            }
        }
        if !queued {
            return outcome;
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
        outcome
    }

    /// Queues a response frame, waiting while `limit` frames are already
    /// waiting; the writer sends it without the coalescing delay. False
    /// when the connection is closing (or the frame exceeds the protocol's
    /// limit: then it is logged and dropped).
    pub(crate) async fn send(&self, payload: Bytes) -> bool {
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
                if state.frames.len() < self.limit && state.bytes < self.limit_bytes {
                    if !append(&mut state, Frame::new(&payload)) {
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
        state.frames.len() * 2 >= self.limit || state.bytes * 2 >= self.limit_bytes
    }

    /// The client is being dropped (it stopped reading): frees the buffered
    /// frames at once and refuses everything from now on.
    pub(crate) fn discard(&self) {
        let mut state = self.lock();
        state.frames = VecDeque::new();
        state.bytes = 0;
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

    /// Waits for the next batch and swaps its frames into `out` (which
    /// must be empty). With no urgent frame, waits until `coalesce` has passed
    /// since `last_write` (if any), so that pushes arriving meanwhile go out
    /// in the same write; within that interval it sleeps on a timer alone,
    /// and pushes do not wake it (only responses, a half-full outbox and
    /// closing do). Cancel-safe: dropping the future loses nothing.
    pub(crate) async fn next_batch(
        &self,
        out: &mut VecDeque<Frame>,
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
                if state.frames.is_empty() {
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
                            std::mem::swap(&mut state.frames, out);
                            state.bytes = 0;
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

    /// Gives a written queue back for reuse (cleared; dropped when large).
    pub(crate) fn recycle(out: &mut VecDeque<Frame>) {
        if out.capacity() > KEEP_FRAMES {
            *out = VecDeque::new();
        } else {
            out.clear();
        }
    }
}

#[cfg(test)]
impl Outbox {
    /// Takes every queued frame's payload, as the client would read them.
    /// For tests of the hub and the sessions.
    pub(crate) fn take_frames(&self) -> Vec<Bytes> {
        let mut state = self.lock();
        state.bytes = 0;
        state.urgent = false;
        state
            .frames
            .drain(..)
            .map(|frame| frame.payload())
            .collect()
    }
}

/// Queues `frame`. False (nothing queued) when it exceeds the protocol's
/// frame limit.
fn append(state: &mut State, frame: Frame) -> bool {
    let len = frame.wire_len() - PREFIX_LEN;
    if len > MAX_FRAME_LEN {
        tracing::error!(len, "outbound frame too large: dropped");
        return false;
    }
    state.bytes += frame.wire_len();
    state.frames.push_back(frame);
    true
}

/// Writes every frame of `frames` (leaving it empty) and flushes: with
/// `writev` straight from the shared payloads when `writer` supports
/// vectored writes (TCP, TLS), else copied into `scratch` and written in
/// one piece.
///
/// # Errors
/// The first failed write (`WriteZero` when the peer takes nothing).
pub(crate) async fn write_frames<W>(
    writer: &mut W,
    frames: &mut VecDeque<Frame>,
    scratch: &mut BytesMut,
) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    if !writer.is_write_vectored() {
        for frame in frames.drain(..) {
            scratch.put_slice(&frame.0);
        }
        let written = writer.write_all(scratch).await;
        scratch.clear();
        written?;
        return writer.flush().await;
    }
    // Bytes of the first frame already written by an earlier, partial write.
    let mut done = 0;
    while !frames.is_empty() {
        let written = {
            let slices: Vec<IoSlice<'_>> = frames
                .iter()
                .take(MAX_SLICES)
                .enumerate()
                .map(|(i, frame)| IoSlice::new(&frame.0[if i == 0 { done } else { 0 }..]))
                .collect();
            writer.write_vectored(&slices).await?
        };
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let mut left = written;
        while let Some(front) = frames.front() {
            let rest = front.wire_len() - done;
            if left < rest {
                done += left;
                break;
            }
            left -= rest;
            done = 0;
            frames.pop_front();
        }
    }
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use coliseum_protocol::frame_codec;
    use tokio_util::codec::Decoder as _;

    /// The frames of a batch as the client decodes them from the wire.
    fn frames(batch: &mut VecDeque<Frame>) -> Vec<Vec<u8>> {
        let mut wire = BytesMut::new();
        for frame in batch.drain(..) {
            wire.put_slice(&frame.0);
        }
        let mut codec = frame_codec();
        let mut out = Vec::new();
        while let Some(frame) = codec.decode(&mut wire).expect("decode") {
            out.push(frame.to_vec());
        }
        assert!(wire.is_empty(), "only whole frames");
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
            let mut out = VecDeque::new();
            let started = Instant::now();
            let last = last_write.unwrap_or(started);
            outbox.next_batch(&mut out, coalesce, Some(last)).await;
            (started.elapsed(), frames(&mut out).len())
        })
    }

    #[tokio::test]
    async fn frames_come_out_in_order_with_length_prefixes() {
        let outbox = Outbox::new(8);
        assert_eq!(outbox.try_push(&Frame::new(b"{\"a\":1}")), Offer::Queued);
        assert!(outbox.send(Bytes::from_static(b"{\"b\":2}")).await);
        assert_eq!(outbox.try_push(&Frame::new(b"{\"c\":3}")), Offer::Queued);
        let mut out = VecDeque::new();
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
    async fn a_run_of_pushes_is_queued_in_order_up_to_the_bound() {
        let outbox = Outbox::new(4);
        assert_eq!(outbox.try_push(&Frame::new(b"0")), Offer::Queued);
        let run: Vec<Frame> = [&b"1"[..], b"2", b"3", b"4", b"5"]
            .into_iter()
            .map(Frame::new)
            .collect();
        assert_eq!(outbox.try_push_all(&run), Offer::Full, "4 frames at most");
        assert_eq!(
            outbox.lock().bytes,
            4 * 5,
            "the frames before the refusal stay"
        );
        assert!(outbox.lock().urgent, "full: written without the delay");
        let mut out = VecDeque::new();
        outbox.next_batch(&mut out, Duration::ZERO, None).await;
        assert_eq!(frames(&mut out), [&b"0"[..], b"1", b"2", b"3"]);
        Outbox::recycle(&mut out);
        assert_eq!(outbox.try_push_all(&run[..2]), Offer::Queued);
        outbox.close();
        assert_eq!(outbox.try_push_all(&run[2..]), Offer::Closed);
        outbox.next_batch(&mut out, Duration::ZERO, None).await;
        assert_eq!(frames(&mut out), [&b"1"[..], b"2"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_of_pushes_wakes_the_writer_once() {
        let outbox = std::sync::Arc::new(Outbox::new(64));
        let writer = spawn_writer(&outbox, Duration::ZERO, None);
        tokio::task::yield_now().await;
        let run: Vec<Frame> = (0..5u8).map(|i| Frame::new(&[b'0' + i])).collect();
        assert_eq!(outbox.try_push_all(&run), Offer::Queued);
        let (_, n) = writer.await.expect("writer");
        assert_eq!(n, 5, "the whole run in one batch");
        assert_eq!(
            outbox.waits.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "one sleep, one wake"
        );
    }

    #[tokio::test]
    async fn a_full_outbox_refuses_pushes_and_makes_responses_wait() {
        let outbox = std::sync::Arc::new(Outbox::new(2));
        assert_eq!(outbox.try_push(&Frame::new(b"1")), Offer::Queued);
        assert_eq!(outbox.try_push(&Frame::new(b"2")), Offer::Queued);
        assert_eq!(outbox.try_push(&Frame::new(b"3")), Offer::Full);
        let responder = {
            let outbox = std::sync::Arc::clone(&outbox);
            tokio::spawn(async move { outbox.send(Bytes::from_static(b"response")).await })
        };
        tokio::task::yield_now().await;
        assert!(!responder.is_finished(), "waits for room");
        let mut out = VecDeque::new();
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
        outbox.try_push(&Frame::new(b"push"));
        let mut out = VecDeque::new();
        let started = Instant::now();
        outbox.next_batch(&mut out, coalesce, last).await;
        assert_eq!(started.elapsed(), coalesce, "push held until the interval");
        Outbox::recycle(&mut out);

        let last = Some(Instant::now());
        outbox.try_push(&Frame::new(b"push"));
        assert!(outbox.send(Bytes::from_static(b"response")).await);
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
            assert_eq!(outbox.try_push(&Frame::new(b"push")), Offer::Queued);
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
        assert_eq!(outbox.try_push(&Frame::new(b"late")), Offer::Queued);
        let (waited, n) = writer.await.expect("writer");
        assert_eq!(waited, Duration::from_millis(7), "written at once");
        assert_eq!(n, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_half_full_outbox_is_written_without_the_delay() {
        let outbox = Outbox::new(8);
        let coalesce = Duration::from_millis(50);
        for _ in 0..4 {
            assert_eq!(outbox.try_push(&Frame::new(b"push")), Offer::Queued);
        }
        let mut out = VecDeque::new();
        let started = Instant::now();
        outbox
            .next_batch(&mut out, coalesce, Some(Instant::now()))
            .await;
        assert_eq!(started.elapsed(), Duration::ZERO, "4 of 8: written at once");
        assert_eq!(frames(&mut out).len(), 4);
        Outbox::recycle(&mut out);
        // Below half: held for the interval.
        outbox.try_push(&Frame::new(b"push"));
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
        outbox.try_push(&Frame::new(b"push"));
        let writer = spawn_writer(&outbox, coalesce, None);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(outbox.send(Bytes::from_static(b"response")).await);
        let (waited, n) = writer.await.expect("writer");
        assert_eq!(waited, Duration::from_millis(10));
        assert_eq!(n, 2);
    }

    #[tokio::test]
    async fn close_drains_then_ends_and_refuses_more() {
        let outbox = Outbox::new(4);
        outbox.try_push(&Frame::new(b"last"));
        outbox.close();
        assert_eq!(outbox.try_push(&Frame::new(b"late")), Offer::Closed);
        assert!(!outbox.send(Bytes::from_static(b"late")).await);
        let mut out = VecDeque::new();
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
        let chat = Frame::new(&[b'x'; 1000]);
        for _ in 0..3 {
            assert_eq!(outbox.try_push(&chat), Offer::Queued);
        }
        assert_eq!(outbox.try_push(&chat), Offer::Full, "3,012 + 1,004 > 3,072");
        assert_eq!(
            outbox.try_push(&Frame::new(b"small")),
            Offer::Queued,
            "60 bytes still fit"
        );
        assert_eq!(outbox.lock().bytes, 3 * 1004 + 9);
        let shared = chat;
        outbox.discard();
        assert_eq!(outbox.lock().frames.capacity(), 0, "queue given back");
        assert!(shared.0.is_unique(), "and every reference to the frame");
        assert_eq!(outbox.try_push(&Frame::new(b"late")), Offer::Closed);
        assert!(!outbox.send(Bytes::from_static(b"late")).await);
        let mut out = VecDeque::new();
        assert!(matches!(
            outbox.next_batch(&mut out, Duration::ZERO, None).await,
            Batch::Done
        ));
    }

    #[test]
    fn oversize_frames_are_refused_whole() {
        let outbox = Outbox::new(4);
        let big = vec![b' '; coliseum_protocol::MAX_FRAME_LEN + 1];
        assert_eq!(outbox.try_push(&Frame::new(&big)), Offer::TooLarge);
        assert!(outbox.lock().frames.is_empty());
        assert_eq!(outbox.lock().bytes, 0);
    }

    /// A writer that takes at most `max` bytes per call, vectored or not.
    struct Trickle {
        wire: Vec<u8>,
        max: usize,
        vectored: bool,
        calls: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let n = buf.len().min(self.max);
            self.wire.extend_from_slice(&buf[..n]);
            self.calls += 1;
            std::task::Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let mut n = 0;
            for buf in bufs {
                let take = buf.len().min(self.max - n);
                self.wire.extend_from_slice(&buf[..take]);
                n += take;
                if n == self.max {
                    break;
                }
            }
            self.calls += 1;
            std::task::Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            self.vectored
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// Whatever each write call takes (down to 1 byte, splitting prefixes
    /// and payloads), vectored or not, the frames reach the wire whole and
    /// in order, and the queue ends empty. More frames than one `writev`
    /// may carry take several calls.
    #[tokio::test]
    async fn write_frames_survives_partial_writes() {
        let payloads: Vec<Bytes> = (0..1500_usize)
            .map(|n| Bytes::from(vec![b'a' + u8::try_from(n % 26).expect("letter"); n % 7]))
            .collect();
        for (max, vectored) in [
            (1, true),
            (3, true),
            (5, false),
            (4096, true),
            (usize::MAX, true),
        ] {
            let outbox = Outbox::new(2000);
            for payload in &payloads {
                assert_eq!(outbox.try_push(&Frame::new(payload)), Offer::Queued);
            }
            let mut batch = VecDeque::new();
            outbox.next_batch(&mut batch, Duration::ZERO, None).await;
            let mut writer = Trickle {
                wire: Vec::new(),
                max,
                vectored,
                calls: 0,
            };
            let mut scratch = BytesMut::new();
            write_frames(&mut writer, &mut batch, &mut scratch)
                .await
                .expect("written");
            assert!(batch.is_empty(), "all taken");
            if max == usize::MAX {
                assert_eq!(writer.calls, 2, "1,500 frames: 1,024 slices per writev");
            }
            let mut wire = BytesMut::from(&writer.wire[..]);
            let mut codec = frame_codec();
            let mut got = Vec::new();
            while let Some(frame) = codec.decode(&mut wire).expect("decode") {
                got.push(frame.freeze());
            }
            assert!(wire.is_empty(), "only whole frames (max {max})");
            assert_eq!(got, payloads, "in order (max {max}, vectored {vectored})");
        }
    }
}
