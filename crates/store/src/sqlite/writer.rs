//! The single writer thread and its group commit (see the module docs of
//! [`crate::sqlite`] for why).
//!
//! Protocol of one round:
//! 1. block until a command arrives, then take whatever else is already
//!    queued, up to [`MAX_BATCH`] operations;
//! 2. `BEGIN IMMEDIATE`; for each operation `SAVEPOINT op`, run it, then
//!    `RELEASE op` if it succeeded or `ROLLBACK TO op; RELEASE op` if it
//!    failed (sold out, limit, conflict, error), so a failure undoes only
//!    its own changes. Bookings are the exception, for speed: they check
//!    every rule before writing anything (a refused booking has nothing to
//!    undo), keep the seat counts of the batch in a [`SeatLedger`] written
//!    back once, and need no savepoint; a write failing after a booking's
//!    checks passed fails the whole batch (step 4);
//! 3. write the ledger's seat counts back, then `COMMIT` (durable:
//!    `synchronous = FULL` fsyncs the WAL);
//! 4. only then send every reply. If anything in 2–3 fails at the
//!    transaction level, the whole batch is rolled back and every operation
//!    of it is answered `Internal` — or `Unavailable` when the disk is full
//!    (`SQLITE_FULL`): nothing is acknowledged that is not on disk, and the
//!    writer goes on with the next batch, so writes recover by themselves
//!    once space is freed. A panic outside the operations is caught the
//!    same way: the thread never dies.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::sql::{self, SeatLedger};
use crate::{Booking, BookingRequest, StoreError, StoreResult};

/// Most operations committed by one transaction. Bounds the latency a batch
/// adds to its first operation and the work lost to a failed commit.
const MAX_BATCH: usize = 512;

/// Commands that may wait in the queue; when it is full, callers wait
/// (asynchronously) for room, which is the store's back-pressure.
const QUEUE_CAPACITY: usize = 4096;

/// One queued write whose reply is sent only after its batch committed.
trait Job: Send {
    /// Runs the operation inside the batch's transaction, keeping its
    /// result for [`Job::finish`].
    ///
    /// # Errors
    /// A message when the transaction can no longer be trusted (a
    /// savepoint failed, a booking's write failed after its checks): the
    /// whole batch is then rolled back.
    fn execute(&mut self, conn: &Connection, seats: &mut SeatLedger) -> Result<(), String>;
    /// Sends the reply: the operation's own result, or `failure` when the
    /// batch could not be committed (then nothing of it was kept).
    fn finish(self: Box<Self>, failure: Option<&StoreError>);
}

/// A [`Job`] built from a closure and the caller's reply channel.
struct Pending<T, F> {
    /// The operation; taken when it runs.
    op: Option<F>,
    /// Its result, held until the batch commits.
    result: Option<StoreResult<T>>,
    /// Where the caller awaits the result.
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> StoreResult<T> + Send,
{
    fn execute(&mut self, conn: &Connection, seats: &mut SeatLedger) -> Result<(), String> {
        // Any write may read or change seat counts: it must see the true
        // ones, and bookings after it must read them again.
        seats.settle(conn)?;
        exec(conn, "SAVEPOINT op").map_err(|e| format!("savepoint failed: {e}"))?;
        let result = match self.op.take() {
            // A panic in an operation must not take the writer (and so the
            // whole store) down: it becomes this operation's error and its
            // savepoint is rolled back.
            Some(op) => catch_unwind(AssertUnwindSafe(|| op(conn))).unwrap_or_else(|_| {
                Err(StoreError::Internal(
                    "sqlite write operation panicked".to_owned(),
                ))
            }),
            None => Err(StoreError::Internal(
                "sqlite write operation ran twice".to_owned(),
            )),
        };
        // Some errors (disk full, I/O) make SQLite roll back the whole
        // transaction, savepoints included: the batch is lost, say why.
        if conn.is_autocommit() {
            let why = result
                .err()
                .map_or_else(String::new, |e| format!(" after: {e}"));
            return Err(format!("the transaction was rolled back by sqlite{why}"));
        }
        if result.is_ok() {
            exec(conn, "RELEASE op")
        } else {
            exec(conn, "ROLLBACK TO op").and_then(|()| exec(conn, "RELEASE op"))
        }
        .map_err(|e| format!("savepoint release failed: {e}"))?;
        self.result = Some(result);
        Ok(())
    }

    fn finish(self: Box<Self>, failure: Option<&StoreError>) {
        answer(self.reply, self.result, failure);
    }
}

/// A booking (see [`sql::book`]): no savepoint, seat counts in the ledger.
struct BookJob {
    /// What to book.
    request: BookingRequest,
    /// Its answer, held until the batch commits.
    result: Option<StoreResult<Booking>>,
    /// Where the caller awaits the answer.
    reply: oneshot::Sender<StoreResult<Booking>>,
}

impl Job for BookJob {
    fn execute(&mut self, conn: &Connection, seats: &mut SeatLedger) -> Result<(), String> {
        // A panic part-way could leave a half-written booking behind, and a
        // booking has no savepoint: roll the whole batch back.
        let outcome = catch_unwind(AssertUnwindSafe(|| sql::book(conn, seats, &self.request)))
            .unwrap_or_else(|_| Err("booking panicked".to_owned()))?;
        self.result = Some(outcome);
        Ok(())
    }

    fn finish(self: Box<Self>, failure: Option<&StoreError>) {
        answer(self.reply, self.result, failure);
    }
}

/// Sends a job's answer once its batch is over: `failure` when the batch
/// could not be committed (nothing of it was kept), else its own result.
fn answer<T>(
    reply: oneshot::Sender<StoreResult<T>>,
    result: Option<StoreResult<T>>,
    failure: Option<&StoreError>,
) {
    let result = match (failure, result) {
        (Some(err), _) => Err(err.clone()),
        (None, Some(result)) => result,
        (None, None) => Err(StoreError::Internal(
            "sqlite write operation never ran".to_owned(),
        )),
    };
    // The caller may have given up (its future was dropped); the write is
    // committed either way.
    let _ = reply.send(result);
}

/// What the writer thread receives.
enum Command {
    /// A write operation.
    Write(Box<dyn Job>),
    /// Stop taking commands, finish the queued ones, checkpoint, close, then
    /// answer.
    Shutdown(oneshot::Sender<StoreResult<()>>),
}

/// Counters of the writer's work since the store was opened, to measure
/// how well group commit groups (see [`crate::SqliteStore::write_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Transactions committed (each one fsync of the WAL).
    pub batches: u64,
    /// Write operations in those transactions, successful or not (an
    /// operation refused with e.g. `SoldOut` still counts).
    pub operations: u64,
    /// Batches that failed to commit (every operation in them was answered
    /// `Internal`); not included in `batches` nor `operations`.
    pub failed_batches: u64,
}

/// The live counters behind [`WriteStats`].
#[derive(Debug, Default)]
struct Counters {
    /// See [`WriteStats::batches`].
    batches: AtomicU64,
    /// See [`WriteStats::operations`].
    operations: AtomicU64,
    /// See [`WriteStats::failed_batches`].
    failed_batches: AtomicU64,
}

/// Handle to the writer thread. Dropping it (and so the queue's sender) also
/// stops the thread after it has run every queued command.
pub(super) struct Writer {
    /// The queue into the thread.
    queue: mpsc::Sender<Command>,
    /// The thread, kept so that it is named in debuggers and could be joined.
    _thread: JoinHandle<()>,
    /// Work done so far.
    counters: Arc<Counters>,
}

impl Writer {
    /// Starts the writer thread, which owns `conn` from now on.
    ///
    /// # Errors
    /// `Internal` if the OS refuses to start a thread.
    pub(super) fn start(conn: Connection) -> StoreResult<Self> {
        let (queue, commands) = mpsc::channel(QUEUE_CAPACITY);
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("coliseum-sqlite-writer".to_owned())
            .spawn(move || run(conn, commands, &thread_counters))
            .map_err(|e| StoreError::Internal(format!("cannot start the sqlite writer: {e}")))?;
        Ok(Self {
            queue,
            _thread: thread,
            counters,
        })
    }

    /// A snapshot of the counters.
    pub(super) fn stats(&self) -> WriteStats {
        WriteStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            operations: self.counters.operations.load(Ordering::Relaxed),
            failed_batches: self.counters.failed_batches.load(Ordering::Relaxed),
        }
    }

    /// Queues `op` to run on the writer connection inside its own savepoint
    /// and waits (asynchronously) until its batch is durably committed.
    ///
    /// # Errors
    /// The operation's own error; `Internal` when its batch failed to
    /// commit; `Unavailable` once the writer is shut down.
    pub(super) async fn run<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (job, answer) = pending(op);
        self.submit(job, answer).await
    }

    /// Queues every op of `ops`, in order, before awaiting any answer (so
    /// that they usually share one batch and its commit), then waits for
    /// each as [`Writer::run`] does. One result per op, in order.
    pub(super) async fn run_all<T, F>(
        &self,
        ops: impl IntoIterator<Item = F>,
    ) -> Vec<StoreResult<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let mut answers = Vec::new();
        for op in ops {
            let (job, answer) = pending(op);
            answers.push(self.enqueue(job).await.map(|()| answer));
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(match answer {
                Ok(answer) => answered(answer).await,
                Err(error) => Err(error),
            });
        }
        results
    }

    /// Queues a booking ([`sql::book`]: checked one after another on this
    /// thread, seat counts kept per batch) and waits until its batch is
    /// durably committed.
    ///
    /// # Errors
    /// As [`Writer::run`].
    pub(super) async fn book(&self, request: BookingRequest) -> StoreResult<Booking> {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(BookJob {
            request,
            result: None,
            reply,
        });
        self.submit(job, answer).await
    }

    /// Queues `job` and awaits its answer.
    async fn submit<T>(
        &self,
        job: Box<dyn Job>,
        answer: oneshot::Receiver<StoreResult<T>>,
    ) -> StoreResult<T> {
        self.enqueue(job).await?;
        answered(answer).await
    }

    /// Queues `job`; `Unavailable` once the writer is shut down.
    async fn enqueue(&self, job: Box<dyn Job>) -> StoreResult<()> {
        self.queue
            .send(Command::Write(job))
            .await
            .map_err(|_| closed())
    }

    /// Asks the writer to finish every queued command, checkpoint the WAL
    /// into the database file and close the connection; returns when done.
    /// Idempotent: later calls return `Ok` at once.
    ///
    /// # Errors
    /// `Internal` when the final checkpoint or close failed (every committed
    /// write is still safe in the WAL).
    pub(super) async fn shutdown(&self) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        if self.queue.send(Command::Shutdown(reply)).await.is_err() {
            return Ok(());
        }
        answer.await.unwrap_or(Ok(()))
    }
}

/// The error of calls made after shutdown.
pub(super) fn closed() -> StoreError {
    StoreError::Unavailable("the sqlite store is closed".to_owned())
}

/// A job running `op` in its own savepoint, and where its answer comes.
fn pending<T, F>(op: F) -> (Box<dyn Job>, oneshot::Receiver<StoreResult<T>>)
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    let job = Box::new(Pending {
        op: Some(op),
        result: None,
        reply,
    });
    (job, answer)
}

/// The answer of a queued job; `Internal` when the writer dropped it
/// unanswered (only when the writer thread itself went away).
async fn answered<T>(answer: oneshot::Receiver<StoreResult<T>>) -> StoreResult<T> {
    answer.await.map_err(|_| {
        StoreError::Internal("the sqlite writer dropped a request unanswered".to_owned())
    })?
}

/// The writer thread's loop.
fn run(conn: Connection, mut commands: mpsc::Receiver<Command>, counters: &Counters) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    let mut shutdown_replies = Vec::new();
    // `blocking_recv` returns `None` once the queue is closed (shutdown) or
    // every sender is dropped, *and* it is empty: queued work always runs.
    while let Some(first) = commands.blocking_recv() {
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Write(job) => batch.push(job),
                Command::Shutdown(reply) => {
                    commands.close();
                    shutdown_replies.push(reply);
                }
            }
            if batch.len() < MAX_BATCH {
                next = commands.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            commit_batch_or_recover(&conn, &mut batch, counters);
        }
    }
    let closed = close(conn);
    for reply in shutdown_replies {
        let _ = reply.send(closed.clone());
    }
}

/// Runs `batch` in one transaction, one savepoint per job, then answers
/// every job (after the commit). Leaves `batch` empty.
fn commit_batch(conn: &Connection, batch: &mut Vec<Box<dyn Job>>, counters: &Counters) {
    let outcome = execute_all(conn, batch);
    let failure = match outcome {
        Ok(()) => exec(conn, "COMMIT")
            .err()
            .map(|e| format!("commit failed: {e}")),
        Err(message) => Some(message),
    };
    let failure = failure.map(|message| {
        tracing::error!(batch = batch.len(), %message, "sqlite batch rolled back");
        roll_back(conn);
        batch_error(&message)
    });
    if failure.is_some() {
        counters.failed_batches.fetch_add(1, Ordering::Relaxed);
    } else {
        tracing::trace!(operations = batch.len(), "sqlite batch committed");
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .operations
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
    for job in batch.drain(..) {
        job.finish(failure.as_ref());
    }
}

/// Rolls back the open transaction, if any (SQLite may already have).
fn roll_back(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = exec(conn, "ROLLBACK")
    {
        tracing::error!(error = %e, "sqlite rollback failed");
    }
}

/// Found in a batch's failure text when the disk was full: in SQLite's
/// message for `SQLITE_FULL` ("database or disk is full") and in
/// [`super::convert::DISK_FULL`] (batch-level failures travel as text, see
/// [`Job::execute`]).
const DISK_FULL_MARK: &str = "disk is full";

/// The answer of every operation of a batch that could not be committed:
/// `Unavailable` when the disk is full (nothing was kept; the writer goes
/// on, and the same write succeeds once space is freed), else `Internal`.
fn batch_error(message: &str) -> StoreError {
    if message.contains(DISK_FULL_MARK) {
        StoreError::Unavailable(super::convert::DISK_FULL.to_owned())
    } else {
        StoreError::Internal(format!("sqlite: {message}"))
    }
}

/// Commits `batch` ([`commit_batch`]); a panic on the way (a bug: every
/// operation already runs under `catch_unwind`) rolls the transaction back
/// and answers what is left of the batch `Internal`, and the writer goes
/// on: the thread never dies leaving a store that hangs or refuses forever.
fn commit_batch_or_recover(conn: &Connection, batch: &mut Vec<Box<dyn Job>>, counters: &Counters) {
    if catch_unwind(AssertUnwindSafe(|| commit_batch(conn, batch, counters))).is_ok() {
        return;
    }
    tracing::error!(
        left = batch.len(),
        "sqlite writer panicked in a batch: rolled back"
    );
    roll_back(conn);
    counters.failed_batches.fetch_add(1, Ordering::Relaxed);
    let failure = StoreError::Internal("sqlite writer failed; nothing was saved".to_owned());
    for job in batch.drain(..) {
        let _ = catch_unwind(AssertUnwindSafe(|| job.finish(Some(&failure))));
    }
}

/// Opens the transaction, runs every job (each write in its savepoint,
/// bookings against the seat ledger) and writes the ledger back.
///
/// # Errors
/// A message when the transaction itself failed (it may have been rolled
/// back by SQLite); the batch must not be committed then.
fn execute_all(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), String> {
    exec(conn, "BEGIN IMMEDIATE").map_err(|e| format!("begin failed: {e}"))?;
    let mut seats = SeatLedger::default();
    for job in batch.iter_mut() {
        job.execute(conn, &mut seats)?;
        // Some errors (I/O, disk full) make SQLite roll the whole
        // transaction back on its own: the batch is lost, report it.
        if conn.is_autocommit() {
            return Err("the transaction was rolled back by sqlite".to_owned());
        }
    }
    seats.settle(conn)
}

/// Runs one statement without parameters or results through the statement
/// cache.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Checkpoints the WAL into the main file (truncating it) and closes.
fn close(conn: Connection) -> StoreResult<()> {
    let checkpoint = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            row.get::<_, i64>(0)
        })
        .map_err(|e| StoreError::Internal(format!("sqlite checkpoint failed: {e}")));
    if let Ok(busy) = checkpoint
        && busy != 0
    {
        tracing::warn!("sqlite checkpoint could not finish (a reader was active)");
    }
    let closed = conn
        .close()
        .map_err(|(_, e)| StoreError::Internal(format!("sqlite close failed: {e}")));
    checkpoint.and(closed)
}
