//! The password hashing pool: a fixed set of worker threads, each owning its
//! argon2 working memory, fed from one queue in which verifications (logins
//! of existing users) go ahead of new hashes (registrations, password
//! changes).
//!
//! Why a pool of our own (issue 12): argon2id with m = 19,456 KiB needs a
//! 19 MiB block of working memory per hash. Hashing on tokio's blocking pool
//! allocated and freed that block on whichever blocking thread ran it; glibc
//! then kept the freed blocks in per-thread arenas, so the server's RSS grew
//! with every hash and was never given back (measured: 2.7 GiB during 1,000
//! registrations; `docs/performance.md`). Here each of the `workers` threads
//! allocates its block once, on its first job, and reuses it for every hash
//! (argon2's `hash_password_into_with_memory`), so hashing holds at most
//! `workers × 19 MiB`, whatever the load. A worker that has had nothing to
//! do for [`IDLE_RELEASE`] gives its block back, so a server past a burst
//! of logins does not keep 19 MiB per worker for chat and bookings. The
//! next job allocates it again, which is not free: faulting in and zeroing
//! 19 MiB of fresh pages took 8.9–10.9 ms on our 2-core VM (issue 12,
//! session 5), paid by the first hash after each idle spell, never within a
//! burst; hence a release after seconds, not at once. The block is allocated with a capacity of [`MAPPED_BYTES`]
//! (only the 19 MiB used are ever touched, so only they are resident): above
//! glibc's largest dynamic mmap threshold (32 MiB), an allocation is always
//! its own mapping, so freeing it unmaps it and the memory is back with the
//! OS at once. (A 19 MiB block would be mapped only the first time; glibc
//! then raises its threshold and later blocks come from the thread's arena,
//! which keeps them.)
//!
//! Order (issue 11, point 9): a registration flood must not slow down the
//! logins of existing users. Jobs wait in two FIFO queues; a free worker
//! always takes a verification (`login`, `update_account`'s
//! `current_password`) before a hash (`register`, a new password). Within a
//! queue, first come first served.
//!
//! Results come back over a oneshot channel; a job whose requester has gone
//! (the connection closed) is skipped without hashing. Dropping the pool
//! stops the workers once their current job is done; jobs still queued are
//! dropped, so their requesters get `internal`.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::TryRngCore as _;
use rand::rngs::OsRng;
use tokio::sync::oneshot;

/// argon2 memory cost, KiB.
pub(crate) const M_COST_KIB: u32 = 19_456;
/// argon2 passes.
pub(crate) const T_COST: u32 = 2;
/// argon2 lanes.
pub(crate) const P_COST: u32 = 1;
/// Length of the hash in the PHC string, bytes (argon2's default).
const OUTPUT_LEN: usize = Params::DEFAULT_OUTPUT_LEN;
/// Length of a new salt, bytes (the PHC recommendation).
const SALT_LEN: usize = 16;
/// A stored hash whose memory cost exceeds ours by more than this factor is
/// not verified (it never matches): stored hashes are our own, and one
/// forged into the store must not make a worker allocate gigabytes.
const MAX_FOREIGN_COST_FACTOR: usize = 4;

/// The production parameters (m = 19,456 KiB, t = 2, p = 1: the OWASP
/// minimum for argon2id).
pub(crate) fn params() -> Params {
    Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN)).unwrap_or_default()
}

/// One worker's argon2 working memory, grown on first use and then reused.
#[derive(Default)]
pub(crate) struct Memory {
    blocks: Vec<Block>,
}

/// Capacity of a worker's block allocation, bytes: above glibc's largest
/// dynamic mmap threshold (`DEFAULT_MMAP_THRESHOLD_MAX`, 32 MiB on 64-bit),
/// so the allocation is always a mapping of its own and is unmapped when
/// freed. Address space only: the pages beyond the blocks used are never
/// touched.
pub(crate) const MAPPED_BYTES: usize = 33 * 1024 * 1024;

/// How long a worker keeps its argon2 memory with nothing to do.
pub(crate) const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(2);

impl Memory {
    /// True when no block is held.
    fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Frees the blocks (the allocation itself, not only its length).
    fn release(&mut self) {
        self.blocks = Vec::new();
    }

    /// At least `count` blocks (their contents are overwritten by argon2).
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.blocks.capacity() == 0 {
            self.blocks =
                Vec::with_capacity(count.max(MAPPED_BYTES / std::mem::size_of::<Block>()));
        }
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::new());
        }
        &mut self.blocks[..count]
    }
}

/// Hashes `password` with a fresh salt into a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), using `memory` as
/// argon2's working memory. Blocking: tens of ms of CPU.
///
/// # Errors
/// A message if the OS random source or argon2 fails (e.g. a password
/// longer than argon2 accepts, 2³² − 1 bytes).
pub(crate) fn hash_with(memory: &mut Memory, password: &[u8]) -> Result<String, String> {
    let mut salt = [0u8; SALT_LEN];
    OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| format!("OS random source: {e}"))?;
    let params = params();
    let mut out = [0u8; OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password,
            &salt,
            &mut out,
            memory.blocks(params.block_count()),
        )
        .map_err(|e| format!("argon2: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| format!("salt: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| format!("params: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| format!("output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// True when `password` matches the PHC string `phc`, computed with the
/// parameters `phc` names, in `memory`; the comparison is constant-time
/// (`password_hash::Output`'s equality). A malformed `phc`, another
/// algorithm than argon2, or a memory cost above
/// [`MAX_FOREIGN_COST_FACTOR`] × ours never matches. Blocking.
pub(crate) fn verify_with(memory: &mut Memory, password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    if params.block_count() > MAX_FOREIGN_COST_FACTOR * params_block_count() {
        return false;
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = [0u8; Output::MAX_LENGTH];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let hashed = if blocks <= params_block_count() {
        argon2.hash_password_into_with_memory(password, salt, out, memory.blocks(blocks))
    } else {
        // More than our own cost: memory for this hash only, given back
        // afterwards, so the reused block set never grows past ours.
        argon2.hash_password_into_with_memory(password, salt, out, Memory::default().blocks(blocks))
    };
    hashed.is_ok() && Output::new(out).is_ok_and(|computed| computed == expected)
}

fn params_block_count() -> usize {
    params().block_count()
}

/// What a worker is asked to do.
enum Job {
    /// Hash a new password; the PHC string (or why not) goes back.
    Hash {
        password: String,
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// Check a password against a PHC string.
    Verify {
        password: String,
        phc: String,
        reply: oneshot::Sender<bool>,
    },
    /// Tests: holds its worker until the sender side is used or dropped
    /// (queued with the verifications).
    #[cfg(test)]
    Gate(std::sync::mpsc::Receiver<()>),
}

impl Job {
    /// The requester is gone: nobody would read the result.
    fn abandoned(&self) -> bool {
        match self {
            Self::Hash { reply, .. } => reply.is_closed(),
            Self::Verify { reply, .. } => reply.is_closed(),
            #[cfg(test)]
            Self::Gate(_) => false,
        }
    }

    fn run(self, memory: &mut Memory) {
        // A send fails only when the requester left meanwhile: nothing to do.
        match self {
            Self::Hash { password, reply } => {
                let _ = reply.send(hash_with(memory, password.as_bytes()));
            }
            Self::Verify {
                password,
                phc,
                reply,
            } => {
                let _ = reply.send(verify_with(memory, password.as_bytes(), &phc));
            }
            #[cfg(test)]
            Self::Gate(release) => {
                let _ = release.recv();
            }
        }
    }
}

/// The jobs waiting for a worker.
#[derive(Default)]
struct Queue {
    /// Verifications: taken first.
    verifications: VecDeque<Job>,
    /// New hashes: taken when no verification waits.
    hashes: VecDeque<Job>,
    /// The pool was dropped: workers stop.
    closed: bool,
}

impl Queue {
    /// True when no job waits.
    fn next_is_none(&self) -> bool {
        self.verifications.is_empty() && self.hashes.is_empty()
    }

    fn next(&mut self) -> Option<Job> {
        self.verifications
            .pop_front()
            .or_else(|| self.hashes.pop_front())
    }
}

/// The queue and the condition variable the idle workers wait on.
struct Inner {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// How long an idle worker keeps its memory ([`IDLE_RELEASE`]).
    idle_release: std::time::Duration,
    /// Blocks given back by idle workers (a figure for tests and logs).
    released: std::sync::atomic::AtomicU64,
    /// Tests: the password of every job run, in the order run.
    #[cfg(test)]
    ran: Mutex<Vec<String>>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// See the module docs.
pub(crate) struct HashPool {
    inner: Arc<Inner>,
}

/// The pool's workers stopped (or could not start): the job was not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolGone;

impl std::fmt::Display for PoolGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the password hashing workers are not running")
    }
}

impl HashPool {
    /// Starts `workers` (at least 1) threads named `coliseum-hash-<i>`.
    /// Each allocates its working memory on its first job. A thread the OS
    /// refuses is logged and the pool runs smaller; with none at all, every
    /// job is answered [`PoolGone`] (the server then answers `internal`).
    pub(crate) fn new(workers: usize) -> Self {
        Self::with_idle_release(workers, IDLE_RELEASE)
    }

    /// As [`HashPool::new`], with idle workers freeing their memory after
    /// `idle_release` (tests use a short one).
    pub(crate) fn with_idle_release(workers: usize, idle_release: std::time::Duration) -> Self {
        let inner = Arc::new(Inner {
            queue: Mutex::default(),
            ready: Condvar::new(),
            idle_release,
            released: std::sync::atomic::AtomicU64::new(0),
            #[cfg(test)]
            ran: Mutex::default(),
        });
        let mut started = 0;
        for i in 0..workers.max(1) {
            let shared = Arc::clone(&inner);
            match std::thread::Builder::new()
                .name(format!("coliseum-hash-{i}"))
                .spawn(move || work(&shared))
            {
                Ok(_) => started += 1,
                Err(err) => {
                    tracing::error!(%err, worker = i, "cannot start a password hashing worker");
                }
            }
        }
        if started == 0 {
            inner.lock().closed = true;
        }
        Self { inner }
    }

    /// Queues `job`; with the pool closed it is dropped (its requester
    /// sees [`PoolGone`]).
    fn submit(&self, job: Job) {
        let mut queue = self.inner.lock();
        if queue.closed {
            return;
        }
        match job {
            Job::Verify { .. } => queue.verifications.push_back(job),
            #[cfg(test)]
            Job::Gate(_) => queue.verifications.push_back(job),
            Job::Hash { .. } => queue.hashes.push_back(job),
        }
        drop(queue);
        self.inner.ready.notify_one();
    }

    /// Hashes a new password (queued behind every waiting verification).
    ///
    /// # Errors
    /// `Err(message)` if argon2 or the OS random source failed, or the pool
    /// has stopped.
    pub(crate) async fn hash(&self, password: String) -> Result<String, String> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash { password, reply });
        answer.await.map_err(|_| PoolGone.to_string())?
    }

    /// Checks `password` against the PHC string `phc` (queued ahead of every
    /// waiting hash).
    ///
    /// # Errors
    /// [`PoolGone`] if the pool has stopped.
    pub(crate) async fn verify(&self, password: String, phc: String) -> Result<bool, PoolGone> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify {
            password,
            phc,
            reply,
        });
        answer.await.map_err(|_| PoolGone)
    }
}

impl Drop for HashPool {
    fn drop(&mut self) {
        self.inner.lock().closed = true;
        self.inner.ready.notify_all();
    }
}

/// A worker: takes jobs (verifications first) until the pool is dropped.
fn work(inner: &Inner) {
    let mut memory = Memory::default();
    loop {
        let job = {
            let mut queue = inner.lock();
            loop {
                if queue.closed {
                    return;
                }
                if let Some(job) = queue.next() {
                    break job;
                }
                if memory.is_empty() {
                    queue = inner
                        .ready
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                } else {
                    let (next, waited) = inner
                        .ready
                        .wait_timeout(queue, inner.idle_release)
                        .unwrap_or_else(PoisonError::into_inner);
                    queue = next;
                    if waited.timed_out() && queue.next_is_none() {
                        memory.release();
                        inner
                            .released
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        };
        if !job.abandoned() {
            #[cfg(test)]
            if let Job::Hash { password, .. } | Job::Verify { password, .. } = &job {
                inner
                    .ran
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(password.clone());
            }
            job.run(&mut memory);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    #[test]
    fn hashes_are_argon2id_with_the_documented_parameters_and_match_the_crate() {
        let mut memory = Memory::default();
        let phc = hash_with(&mut memory, b"correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_with(&mut memory, b"correct horse", &phc));
        assert!(!verify_with(&mut memory, b"wrong horse", &phc));
        assert!(!verify_with(
            &mut memory,
            b"correct horse",
            "not a phc string"
        ));
        // argon2's own verifier accepts our strings, and we accept its.
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        let parsed = PasswordHash::new(&phc).expect("PHC");
        assert!(argon2.verify_password(b"correct horse", &parsed).is_ok());
        let salt = SaltString::encode_b64(b"sixteen byte salt").expect("salt");
        let theirs = argon2
            .hash_password(b"battery staple", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_with(&mut memory, b"battery staple", &theirs));
        assert!(!verify_with(&mut memory, b"battery stapler", &theirs));
        assert_eq!(
            memory.blocks.len(),
            params().block_count(),
            "one block set, reused"
        );
    }

    #[test]
    fn other_parameters_are_verified_with_their_own_cost_and_huge_ones_refused() {
        let mut memory = Memory::default();
        let small = Params::new(1024, 1, 1, None).expect("params");
        let salt = SaltString::encode_b64(b"sixteen byte salt").expect("salt");
        let phc = Argon2::new(Algorithm::Argon2i, Version::V0x10, small)
            .hash_password(b"pw", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_with(&mut memory, b"pw", &phc));
        assert!(!verify_with(&mut memory, b"px", &phc));
        // Twice our memory cost: verified, in memory given back afterwards.
        let bigger = Params::new(2 * M_COST_KIB, 1, 1, None).expect("params");
        let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, bigger)
            .hash_password(b"pw", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_with(&mut memory, b"pw", &phc));
        let huge = "$argon2id$v=19$m=4000000,t=2,p=1$c29tZXNhbHRmb3JkdW1teQ$IS4XY0PsSe1Sr4mDlJ8XMwqxPfLf2rlXhNXRBgnEOeo";
        assert!(!verify_with(&mut memory, b"pw", huge));
        assert!(
            memory.blocks.len() <= params().block_count(),
            "never grown past our own cost"
        );
    }

    /// Issue 11, point 9, through the real pool: its one worker is busy
    /// while registrations and then logins queue; once it is free, the
    /// logins are served first, each kind in arrival order.
    #[tokio::test]
    async fn logins_are_served_before_queued_registrations() {
        let pool = HashPool::new(1);
        let (release, gate) = std::sync::mpsc::channel();
        pool.submit(Job::Gate(gate));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !pool.inner.lock().verifications.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the worker never took the gate"
            );
            tokio::task::yield_now().await;
        }
        let phc = hash_with(&mut Memory::default(), b"login-1").expect("hash");
        let mut registrations = Vec::new();
        for password in ["register-1", "register-2"] {
            let (reply, answer) = oneshot::channel();
            pool.submit(Job::Hash {
                password: password.into(),
                reply,
            });
            registrations.push(answer);
        }
        let mut logins = Vec::new();
        for password in ["login-1", "login-2"] {
            let (reply, answer) = oneshot::channel();
            pool.submit(Job::Verify {
                password: password.into(),
                phc: phc.clone(),
                reply,
            });
            logins.push(answer);
        }
        drop(release);
        let matched: Vec<bool> = futures::future::join_all(logins)
            .await
            .into_iter()
            .map(|answer| answer.expect("answered"))
            .collect();
        assert_eq!(matched, [true, false]);
        for answer in registrations {
            let hashed = answer.await.expect("answered").expect("hash");
            assert!(hashed.starts_with("$argon2id$"), "{hashed}");
        }
        let ran = pool
            .inner
            .ran
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        assert_eq!(ran, ["login-1", "login-2", "register-1", "register-2"]);
    }

    /// Issue 12: a worker with nothing to do gives its 19 MiB back, and
    /// the next job allocates it again.
    #[tokio::test]
    async fn an_idle_worker_frees_its_memory_and_hashes_again_afterwards() {
        let pool = HashPool::with_idle_release(1, std::time::Duration::from_millis(50));
        let released = || {
            pool.inner
                .released
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        let phc = pool.hash("first password".into()).await.expect("hash");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while released() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the idle worker never released its memory"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(released(), 1, "released once, not again while empty");
        assert!(
            pool.verify("first password".into(), phc)
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn the_pool_hashes_and_verifies() {
        let pool = HashPool::new(2);
        let phc = pool.hash("12345678".into()).await.expect("hash");
        assert!(
            pool.verify("12345678".into(), phc.clone())
                .await
                .expect("verify")
        );
        assert!(!pool.verify("12345679".into(), phc).await.expect("verify"));
    }

    #[tokio::test]
    async fn abandoned_jobs_are_skipped_and_a_dropped_pool_answers_gone() {
        let pool = HashPool::new(1);
        let (reply, answer) = oneshot::channel();
        drop(answer);
        pool.submit(Job::Verify {
            password: "pw".into(),
            phc: "x".into(),
            reply,
        });
        assert!(!pool.verify("pw".into(), "x".into()).await.expect("runs"));
        let inner = Arc::clone(&pool.inner);
        drop(pool);
        assert!(inner.lock().closed);
    }
}
