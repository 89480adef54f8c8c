//! Getting clients ready: unique account names per run, creating accounts
//! (argon2 makes this the slow part), and opening many logged-in
//! connections with bounded concurrency.
//!
//! Logging in costs one argon2 verification (~tens of ms of server CPU), so
//! scenarios that need many *connections* but not many *accounts* (fan-out,
//! idle) log each account in once and attach the other connections with
//! `resume` and the account's session token: every connection is still a
//! logged-in session, at a fraction of the set-up time.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use coliseum_client::{Client, Pushes};
use futures::StreamExt as _;

use crate::error::{BenchError, Result};

/// Password of every account the bench creates (a run's names are unique,
/// so a shared password is no risk on a throw-away or test server).
pub const PASSWORD: &str = "bench-password-0";

/// How long one connect (TCP + welcome) may take before the run fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Unique names for one run: `b<6 hex>-<index>` (≤ 32 characters, the
/// username rule), e-mail `<name>@bench.invalid`.
#[derive(Debug, Clone)]
pub struct RunNames {
    tag: String,
}

impl RunNames {
    /// A fresh random tag, e.g. `b3f09a1`.
    #[must_use]
    pub fn random() -> Self {
        Self::with_tag(format!("b{:06x}", rand::random::<u32>() & 0x00ff_ffff))
    }

    /// Names built on `tag` (for tests).
    #[must_use]
    pub fn with_tag(tag: String) -> Self {
        Self { tag }
    }

    /// The run's tag (also the prefix of fan-out message texts).
    #[must_use]
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Username of account `index`.
    #[must_use]
    pub fn username(&self, index: usize) -> String {
        format!("{}-{index}", self.tag)
    }

    /// E-mail address of account `index`.
    #[must_use]
    pub fn email(&self, index: usize) -> String {
        format!("{}@bench.invalid", self.username(index))
    }
}

/// An account the bench created, with a session token when logged in.
#[derive(Debug, Clone)]
pub struct Account {
    /// Its username.
    pub username: String,
    /// A session token from `login`, for `resume`.
    pub token: Option<String>,
}

impl Account {
    /// Its session token.
    ///
    /// # Errors
    /// [`BenchError::Setup`] when it was created without logging in.
    pub fn token(&self) -> Result<&str> {
        self.token
            .as_deref()
            .ok_or_else(|| BenchError::Setup(format!("{} has no session token", self.username)))
    }
}

/// The address connection `i` uses among `addrs`: round-robin, so that
/// clients are spread evenly over the instances (`addrs` is never empty:
/// the command line has one address or launches a server).
#[must_use]
pub fn spread(addrs: &[SocketAddr], i: usize) -> SocketAddr {
    addrs
        .get(i % addrs.len().max(1))
        .copied()
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// Connections opened per address during this run, for the per-instance
/// report (`server.instances[].connections`).
static OPENED: Mutex<Vec<(SocketAddr, u64)>> = Mutex::new(Vec::new());

/// Counts one connection opened to `addr`.
pub fn tally(addr: SocketAddr) {
    let mut opened = OPENED.lock().unwrap_or_else(PoisonError::into_inner);
    match opened.iter_mut().find(|(a, _)| *a == addr) {
        Some((_, n)) => *n += 1,
        None => opened.push((addr, 1)),
    }
}

/// How many connections this run opened to `addr` (counted by [`tally`]).
#[must_use]
pub fn opened(addr: SocketAddr) -> u64 {
    OPENED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|(a, _)| *a == addr)
        .map_or(0, |(_, n)| *n)
}

/// Opens one connection (TCP + welcome) within [`CONNECT_TIMEOUT`].
///
/// # Errors
/// [`BenchError::Setup`] on timeout, [`BenchError::Client`] otherwise.
pub async fn connect(addr: SocketAddr) -> Result<(Client, Pushes)> {
    tally(addr);
    match tokio::time::timeout(CONNECT_TIMEOUT, Client::connect(addr)).await {
        Ok(Ok(pair)) => Ok(pair),
        Ok(Err(e)) => Err(BenchError::client(format!("connecting to {addr}"), e)),
        Err(_) => Err(BenchError::Setup(format!(
            "connecting to {addr} took more than {CONNECT_TIMEOUT:?}"
        ))),
    }
}

/// Runs `make(i)` for `i in 0..n` with at most `concurrency` at once and
/// returns the results in index order; the first error wins.
///
/// # Errors
/// The first error any `make(i)` returned.
pub async fn bounded<T, F, Fut>(n: usize, concurrency: usize, make: F) -> Result<Vec<T>>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut out = Vec::with_capacity(n);
    let mut stream = futures::stream::iter(0..n)
        .map(make)
        .buffered(concurrency.max(1));
    while let Some(item) = stream.next().await {
        out.push(item?);
    }
    Ok(out)
}

/// Registers accounts `0..n` of `names` (and logs each in once when
/// `login`, to get its session token), over `concurrency` temporary
/// connections spread over `addrs` that are closed afterwards.
///
/// # Errors
/// The first failed connect, `register` or `login`.
pub async fn create_accounts(
    addrs: &[SocketAddr],
    names: &RunNames,
    n: usize,
    concurrency: usize,
    login: bool,
) -> Result<Vec<Account>> {
    let workers = concurrency.clamp(1, n.max(1));
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let names = names.clone();
        let addr = spread(addrs, worker);
        tasks.spawn(async move {
            let (client, _pushes) = connect(addr).await?;
            let mut made = Vec::new();
            for i in (worker..n).step_by(workers) {
                let username = names.username(i);
                client
                    .register(&username, PASSWORD, &names.email(i))
                    .await
                    .map_err(|e| BenchError::client(format!("register {username}"), e))?;
                let token = if login {
                    let session = client
                        .login(&username, PASSWORD)
                        .await
                        .map_err(|e| BenchError::client(format!("login {username}"), e))?;
                    Some(session.token)
                } else {
                    None
                };
                made.push((i, Account { username, token }));
            }
            Ok::<_, BenchError>(made)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(joined) = tasks.join_next().await {
        let made = joined.map_err(|e| BenchError::Setup(format!("set-up task failed: {e}")))??;
        all.extend(made);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, account)| account).collect())
}

/// Opens `n` connections, connection `i` to `spread(addrs, first + i)`
/// and resumed as account `(first + i) % accounts.len()`, with at most
/// `concurrency` connecting at once.
///
/// # Errors
/// The first failed connect or `resume`; [`BenchError::Setup`] if an
/// account has no token or there are no accounts.
pub async fn connect_resumed(
    addrs: &[SocketAddr],
    accounts: &[Account],
    first: usize,
    n: usize,
    concurrency: usize,
) -> Result<Vec<(Client, Pushes)>> {
    if accounts.is_empty() && n > 0 {
        return Err(BenchError::Setup("no accounts to log in with".into()));
    }
    bounded(n, concurrency, |i| {
        let account = &accounts[(first + i) % accounts.len()];
        let addr = spread(addrs, first + i);
        async move {
            let token = account.token()?;
            let (client, pushes) = connect(addr).await?;
            client
                .resume(token)
                .await
                .map_err(|e| BenchError::client(format!("resume {}", account.username), e))?;
            Ok((client, pushes))
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_username_rule_and_are_unique_per_index() {
        let names = RunNames::random();
        let longest = names.username(99_999_999);
        assert!(
            coliseum_protocol::validate::username(&longest).is_ok(),
            "{longest}"
        );
        assert!(coliseum_protocol::validate::email(&names.email(3)).is_ok());
        assert_ne!(names.username(1), names.username(10));
        assert!(names.username(1).starts_with(names.tag()));
    }

    #[test]
    fn connections_are_spread_round_robin() {
        let a = SocketAddr::from(([127, 0, 0, 1], 1));
        let b = SocketAddr::from(([127, 0, 0, 1], 2));
        let picked: Vec<_> = (0..5).map(|i| spread(&[a, b], i)).collect();
        assert_eq!(picked, vec![a, b, a, b, a]);
        assert_eq!(spread(&[a], 7), a);
    }

    #[tokio::test]
    async fn bounded_keeps_order_and_limits_concurrency() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let out = bounded(20, 3, |i| {
            let running = Arc::clone(&running);
            let peak = Arc::clone(&peak);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(i * 2)
            }
        })
        .await
        .expect("no errors");
        assert_eq!(out, (0..20).map(|i| i * 2).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 3);
        let failed = bounded(5, 2, |i| async move {
            if i == 3 {
                Err(BenchError::Setup("boom".into()))
            } else {
                Ok(i)
            }
        })
        .await;
        assert!(matches!(failed, Err(BenchError::Setup(m)) if m == "boom"));
    }
}
