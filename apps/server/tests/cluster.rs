//! Several `coliseum-server` processes on one MongoDB and one NATS (issue
//! 15): pushes, presence and rules cross instances; an on-sale spread over
//! three instances sells exactly the capacity, also when one is killed;
//! NATS going away and coming back.
//!
//! Needs `COLISEUM_TEST_MONGODB_URI` (the MongoDB-wire test server) and
//! `nats-server` on the PATH (or `COLISEUM_TEST_NATS_SERVER`); both are
//! there in CI (`.ci/run`). Without them the tests are skipped with a
//! message, except under `CI=true`, where they must run.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use coliseum_client::{Client, ClientError, Pushes};
use coliseum_protocol::request::{Ban, Op, UpdateEvent};
use coliseum_protocol::{ErrorCode, Push};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};

mod common;
use common::WAIT;

const BIN: &str = env!("CARGO_BIN_EXE_coliseum-server");
const PASSWORD: &str = "correct horse battery";
const ADMIN_PASSWORD: &str = "boss-password-1";

/// The MongoDB server and NATS binary the tests use, or `None` (skip).
fn prerequisites() -> Option<(String, String)> {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let uri = std::env::var("COLISEUM_TEST_MONGODB_URI")
        .ok()
        .filter(|u| !u.trim().is_empty());
    let nats = std::env::var("COLISEUM_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
    let nats_runs = std::process::Command::new(&nats)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    match (uri, nats_runs) {
        (Some(uri), true) => Some((uri, nats)),
        (uri, _) => {
            assert!(
                !ci,
                "CI=true but the cluster tests cannot run: COLISEUM_TEST_MONGODB_URI set: {}, \
                 {nats} runs: {nats_runs}",
                uri.is_some()
            );
            eprintln!(
                "skipping the cluster test: needs COLISEUM_TEST_MONGODB_URI and nats-server \
                 (apt install nats-server)"
            );
            None
        }
    }
}

/// A free port on 127.0.0.1 (bound and released; NATS takes it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `nats-server` process of one test.
struct Nats {
    binary: String,
    port: u16,
    child: Option<Child>,
}

impl Nats {
    async fn start(binary: &str) -> Self {
        let mut nats = Self {
            binary: binary.to_owned(),
            port: free_port(),
            child: None,
        };
        nats.restart().await;
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it (again, on the same port) and waits until it accepts.
    async fn restart(&mut self) {
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "nats-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("stop nats-server");
        }
    }
}

/// One deployment: a database, a NATS, a shared ticket key, instances.
struct Deployment {
    uri: String,
    db: String,
    nats: Nats,
    dir: TempDir,
}

/// One `coliseum-server` process.
struct Instance {
    child: Child,
    addr: String,
}

impl Deployment {
    async fn new(uri: String, nats: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let deployment = Self {
            uri,
            db: format!("coliseum_cluster_{}_{nanos}", std::process::id()),
            nats: Nats::start(nats).await,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        deployment.admin_add().await;
        deployment
    }

    fn command(&self, data_dir: &Path) -> Command {
        let mut command = Command::new(BIN);
        command
            .env_remove("RUST_LOG")
            .env_remove("COLISEUM_LISTEN")
            .env_remove("COLISEUM_DATA_DIR")
            .env_remove("COLISEUM_NATS_URL")
            .env_remove("COLISEUM_INSTANCE_NAME")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--mongodb-uri", &self.uri, "--mongodb-db", &self.db])
            .args(["--log", "warn"])
            .kill_on_drop(true);
        command
    }

    /// `admin add boss` on the deployment's database.
    async fn admin_add(&self) {
        let mut child = self
            .command(&self.dir.path().join("admin"))
            .args(["admin", "add", "boss"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn admin add");
        let mut input = child.stdin.take().expect("stdin");
        input
            .write_all(format!("{ADMIN_PASSWORD}\n").as_bytes())
            .await
            .expect("password");
        drop(input);
        let status = tokio::time::timeout(WAIT, child.wait())
            .await
            .expect("admin add finishes")
            .expect("status");
        assert!(status.success());
    }

    /// Starts instance `name` (its own data directory, the shared ticket
    /// key) and reads its address from the line it prints.
    async fn instance(&self, name: &str) -> Instance {
        self.instance_on(name, &self.nats.url()).await
    }

    /// [`Deployment::instance`] on the NATS server at `nats_url`.
    async fn instance_on(&self, name: &str, nats_url: &str) -> Instance {
        let data_dir: PathBuf = self.dir.path().join(name);
        let key = self.dir.path().join("ticket-signing.key");
        let mut child = self
            .command(&data_dir)
            .args(["--listen", "127.0.0.1:0", "--insecure-plaintext"])
            .args(["--nats-url", nats_url, "--instance-name", name])
            .arg("--ticket-key")
            .arg(&key)
            .args(["--chat-rate", "0", "--register-rate", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn coliseum-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = common::listening_addr(&common::next_line(&mut lines, "its address").await);
        let second = common::next_line(&mut lines, "the instance line").await;
        assert!(
            second.starts_with(&format!("instance {name} of several")),
            "{second}"
        );
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Instance { child, addr }
    }
}

impl Instance {
    async fn connect(&self) -> (Client, Pushes) {
        Client::connect(self.addr.as_str()).await.expect("connect")
    }

    /// Registers `name` here and logs in on a new connection.
    async fn user(&self, name: &str) -> (Client, Pushes, String) {
        let (client, pushes) = self.connect().await;
        client
            .register(name, PASSWORD, &format!("{name}@example.com"))
            .await
            .expect("register");
        let session = client.login(name, PASSWORD).await.expect("login");
        (client, pushes, session.token)
    }

    async fn admin(&self) -> (Client, Pushes) {
        let (client, pushes) = self.connect().await;
        client.login("boss", ADMIN_PASSWORD).await.expect("login");
        (client, pushes)
    }
}

/// Waits (bounded) for the next push matching `want`.
async fn expect_push(pushes: &mut Pushes, want: impl Fn(&Push) -> bool) -> Push {
    tokio::time::timeout(WAIT, async {
        while let Some(push) = pushes.recv().await {
            if want(&push) {
                return push;
            }
        }
        panic!("connection closed before the push arrived");
    })
    .await
    .expect("timed out waiting for a push")
}

/// Asks `online` until it lists exactly `want` (bounded by [`WAIT`]).
async fn until_online(client: &Client, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| (*s).to_owned()).collect();
    let deadline = Instant::now() + WAIT;
    loop {
        let online = client.online().await.expect("online");
        let users: BTreeSet<String> = online.users.into_iter().collect();
        if users == want {
            assert_eq!(online.count, want.len() as u64);
            return;
        }
        assert!(
            Instant::now() < deadline,
            "online is {users:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `tries` wrong-password logins as `user` on a new connection to
/// `instance` (at most 2: the third closes the connection).
async fn fail_logins(instance: &Instance, user: &str, tries: usize) {
    let (client, _) = instance.connect().await;
    for _ in 0..tries {
        assert_eq!(
            code(client.login(user, "wrong password!").await),
            ErrorCode::Unauthenticated
        );
    }
}

fn code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    result
        .expect_err("expected an error")
        .code()
        .expect("a server error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_presence_and_rules_cross_three_instances() {
    let Some((uri, nats)) = prerequisites() else {
        return;
    };
    let deployment = Deployment::new(uri, &nats).await;
    let a = deployment.instance("a").await;
    let b = deployment.instance("b").await;
    let c = deployment.instance("c").await;

    let (ana, mut ana_pushes, _) = a.user("ana").await;
    let (bob, mut bob_pushes, bob_token) = b.user("bob").await;
    // `online` is global.
    until_online(&ana, &["ana", "bob"]).await;
    until_online(&bob, &["ana", "bob"]).await;
    // A login on C is announced on A and B.
    let (cid, cid_pushes, _) = c.user("cid").await;
    for pushes in [&mut ana_pushes, &mut bob_pushes] {
        expect_push(
            pushes,
            |p| matches!(p, Push::Presence { user, online: true, .. } if user == "cid"),
        )
        .await;
    }
    until_online(&cid, &["ana", "bob", "cid"]).await;

    // 1,000 chat messages sent on A reach B and C, all of them. The
    // receivers run while the messages are sent.
    let receivers: Vec<_> = [("bob", bob_pushes), ("cid", cid_pushes)]
        .into_iter()
        .map(|(who, mut pushes)| {
            tokio::spawn(async move {
                let mut arrived = HashMap::new();
                while arrived.len() < 1_000 {
                    let push = expect_push(
                        &mut pushes,
                        |p| matches!(p, Push::Chat(m) if m.from.as_deref() == Some("ana")),
                    )
                    .await;
                    if let Push::Chat(message) = push {
                        arrived.insert(message.seq, Instant::now());
                    }
                }
                (who, pushes, arrived)
            })
        })
        .collect();
    let mut sent_at = HashMap::new();
    for i in 0..1_000 {
        let before = Instant::now();
        let seq = ana
            .chat_send(None, &format!("message {i}"))
            .await
            .expect("send");
        sent_at.insert(seq, before);
    }
    let mut back = Vec::new();
    for receiver in receivers {
        let (who, pushes, arrived) = receiver.await.expect("receiver");
        let mut latencies: Vec<Duration> = sent_at
            .iter()
            .map(|(seq, at)| {
                arrived
                    .get(seq)
                    .unwrap_or_else(|| panic!("{who} missed {seq}"))
                    .saturating_duration_since(*at)
            })
            .collect();
        latencies.sort();
        let p99 = latencies[latencies.len() * 99 / 100 - 1];
        eprintln!(
            "{who}: all 1,000 messages sent on another instance arrived; p99 {p99:?} from send \
             to receipt (debug build)"
        );
        back.push(pushes);
    }
    let (Some(mut cid_pushes), Some(mut bob_pushes)) = (back.pop(), back.pop()) else {
        unreachable!()
    };

    // Seat counts and event changes cross.
    let (boss, _boss_pushes) = a.admin().await;
    let event = boss
        .create_event("Jazz night", "2027-06-01", "Main Hall", 10, Some(4))
        .await
        .expect("create");
    for pushes in [&mut bob_pushes, &mut cid_pushes] {
        expect_push(
            pushes,
            |p| matches!(p, Push::EventUpdate { event_id, available: 10 } if *event_id == event.id),
        )
        .await;
    }
    bob.book(&event.id, 3, Some("bob-1"))
        .await
        .expect("book on B");
    for pushes in [&mut ana_pushes, &mut cid_pushes] {
        expect_push(
            pushes,
            |p| matches!(p, Push::EventUpdate { event_id, available: 7 } if *event_id == event.id),
        )
        .await;
    }
    boss.update_event(UpdateEvent {
        event_id: event.id.clone(),
        name: Some("Jazz night (late)".into()),
        ..UpdateEvent::default()
    })
    .await
    .expect("update");
    expect_push(
        &mut cid_pushes,
        |p| matches!(p, Push::EventChanged { event: e } if e.name == "Jazz night (late)"),
    )
    .await;

    // A ticket booked on B is checked in on C: one signing key.
    let ticket = bob.my_tickets().await.expect("tickets").remove(0);

    // A password change on B ends bob's session on C at once.
    let (bob_on_c, _bob_on_c_pushes) = c.connect().await;
    bob_on_c.resume(&bob_token).await.expect("resume on C");
    assert_eq!(bob_on_c.my_tickets().await.expect("tickets").len(), 1);
    let code_text = ticket.code.clone();
    bob.update_account(PASSWORD, None, Some("a brand new password"), None)
        .await
        .expect("new password");
    // The revocation crossed before any later message of B's: wait for
    // one (a chat from bob reaching cid on C), then C must refuse.
    let seq = bob.chat_send(None, "new password").await.expect("send");
    expect_push(
        &mut cid_pushes,
        |p| matches!(p, Push::Chat(m) if m.seq == seq),
    )
    .await;
    assert_eq!(
        code(bob_on_c.my_tickets().await),
        ErrorCode::Unauthenticated
    );

    // A ban on A ends cid's session on C.
    boss.request(Op::Ban(Ban {
        user: "cid".into(),
        minutes: None,
    }))
    .await
    .expect("ban");
    expect_push(&mut cid_pushes, |p| {
        matches!(p, Push::SessionExpired { .. })
    })
    .await;
    assert_eq!(code(cid.my_tickets().await), ErrorCode::Unauthenticated);

    // Login back-off counts the failures of every instance: 3 wrong
    // passwords for ana on A, then 2 on B (the back-off starts at 5), at
    // most 2 per connection (the third would close it). Each instance's
    // messages cross in order, so a later chat from it seen elsewhere
    // means its failures were counted there.
    // Instance D shares the database but not the bus (its own NATS): it
    // can only learn the failures from the store.
    let other_nats = Nats::start(&nats).await;
    let d = deployment.instance_on("d", &other_nats.url()).await;
    let (dan, mut dan_pushes, _) = c.user("dan").await;
    let mut bob_pushes_for_barrier = bob_pushes;
    for (instance, tries) in [(&a, 2), (&a, 1)] {
        fail_logins(instance, "ana", tries).await;
    }
    let from_a = ana.chat_send(None, "after 3 failures").await.expect("send");
    expect_push(
        &mut bob_pushes_for_barrier,
        |p| matches!(p, Push::Chat(m) if m.seq == from_a),
    )
    .await;
    fail_logins(&b, "ana", 2).await;
    let from_b = bob.chat_send(None, "after 2 more").await.expect("send");
    for seq in [from_a, from_b] {
        expect_push(
            &mut dan_pushes,
            |p| matches!(p, Push::Chat(m) if m.seq == seq),
        )
        .await;
    }
    // C saw none of the failures and holds the account back; so does D,
    // which heard of none of them on its bus.
    for instance in [&c, &d] {
        let (fresh, _) = instance.connect().await;
        assert_eq!(
            code(fresh.login("ana", PASSWORD).await),
            ErrorCode::RateLimited
        );
    }
    drop(dan);

    // Check-in on C of the ticket booked on B.
    let (door, _) = c.admin().await;
    let admitted = door.check_in(&code_text).await.expect("check in on C");
    assert_eq!(admitted.ticket.id, ticket.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_sale_over_three_instances_sells_exactly_the_capacity_and_survives_a_kill() {
    let Some((uri, nats)) = prerequisites() else {
        return;
    };
    const CAPACITY: u32 = 20;
    const BUYERS_PER_INSTANCE: usize = 10;
    let deployment = Deployment::new(uri, &nats).await;
    let a = deployment.instance("a").await;
    let b = deployment.instance("b").await;
    let mut c = deployment.instance("c").await;
    let (boss, _) = a.admin().await;
    let event = boss
        .create_event("Opening", "2027-07-01", "Arena", CAPACITY, Some(1))
        .await
        .expect("create");

    let mut buyers = Vec::new();
    for (i, instance) in [&a, &b, &c].into_iter().enumerate() {
        for n in 0..BUYERS_PER_INSTANCE {
            let name = format!("buyer{i}x{n}");
            let (client, pushes, token) = instance.user(&name).await;
            buyers.push((name, i, client, pushes, token));
        }
    }
    // C's buyers book first, then C is killed (-9) while A's and B's
    // buyers are booking.
    let mut acknowledged: Vec<(String, String)> = Vec::new();
    for (name, _, client, _, _) in buyers.iter().filter(|b| b.1 == 2) {
        match client.book(&event.id, 1, Some(&format!("{name}-1"))).await {
            Ok(ticket) => acknowledged.push((name.clone(), ticket.id)),
            Err(err) => panic!("{name}: {err}"),
        }
    }
    let mut sale = tokio::task::JoinSet::new();
    for (name, _, client, _, _) in buyers.iter().filter(|b| b.1 != 2) {
        let (name, client) = (name.clone(), client.clone());
        let event_id = event.id.clone();
        sale.spawn(async move {
            let result = client.book(&event_id, 1, Some(&format!("{name}-1"))).await;
            (name, result)
        });
    }
    c.child.start_kill().expect("kill -9");
    let killed = Instant::now();
    c.child.wait().await.expect("killed");
    let mut sold_out = 0;
    while let Some(joined) = sale.join_next().await {
        let (name, result) = joined.expect("buyer task");
        match result {
            Ok(ticket) => acknowledged.push((name, ticket.id)),
            Err(err) if err.code() == Some(ErrorCode::SoldOut) => sold_out += 1,
            Err(err) => panic!("{name}: {err}"),
        }
    }
    assert_eq!(
        acknowledged.len(),
        CAPACITY as usize,
        "sold exactly the capacity"
    );
    assert_eq!(
        sold_out,
        2 * BUYERS_PER_INSTANCE - (CAPACITY as usize - BUYERS_PER_INSTANCE)
    );
    let events = boss.list_events().await.expect("events");
    let now = events.iter().find(|e| e.id == event.id).expect("event");
    assert_eq!(now.available, 0);

    // C's buyers but the first resume on A and find their tickets; the
    // first stays away: C's death takes them out of `online` in 15 s.
    for (name, _, _, _, token) in buyers.iter().filter(|b| b.1 == 2).skip(1) {
        let (client, _) = a.connect().await;
        let session = client
            .resume(token)
            .await
            .expect("resume on another instance");
        assert_eq!(&session.username, name);
        let tickets = client.my_tickets().await.expect("tickets");
        let want = acknowledged.iter().find(|(n, _)| n == name).expect("acked");
        assert_eq!(tickets.len(), 1);
        assert_eq!(tickets[0].id, want.1, "no acknowledged booking lost");
    }
    let gone = "buyer2x0";
    let deadline = Instant::now() + WAIT;
    loop {
        let online = boss.online().await.expect("online");
        if !online.users.iter().any(|u| u == gone) {
            break;
        }
        assert!(Instant::now() < deadline, "{gone} still online");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = killed.elapsed();
    eprintln!("the killed instance's users left `online` {took:?} after the kill");
    assert!(
        took <= Duration::from_secs(17),
        "15 s expiry (plus a sweep and a presence window), took {took:?}"
    );
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_nats_each_instance_serves_its_own_and_clients_resync_after() {
    let Some((uri, nats)) = prerequisites() else {
        return;
    };
    let mut deployment = Deployment::new(uri, &nats).await;
    let a = deployment.instance("a").await;
    let b = deployment.instance("b").await;
    let (ana, _ana_pushes, _) = a.user("ana").await;
    let (_ada, mut ada_pushes, _) = a.user("ada").await;
    let (bob, mut bob_pushes, _) = b.user("bob").await;
    until_online(&bob, &["ada", "ana", "bob"]).await;

    deployment.nats.stop().await;
    // Local delivery goes on.
    let missed = ana
        .chat_send(None, "while NATS is down")
        .await
        .expect("send");
    expect_push(
        &mut ada_pushes,
        |p| matches!(p, Push::Chat(m) if m.seq == missed),
    )
    .await;

    deployment.nats.restart().await;
    // Both instances tell their clients to fill their gaps.
    let push = expect_push(&mut bob_pushes, |p| matches!(p, Push::Resync { .. })).await;
    let Push::Resync { rooms } = push else {
        unreachable!()
    };
    assert!(rooms.iter().any(|r| r == "lobby"), "{rooms:?}");
    expect_push(&mut ada_pushes, |p| matches!(p, Push::Resync { .. })).await;
    let history = bob
        .chat_history(Some("lobby"), None, Some(50))
        .await
        .expect("history");
    assert!(
        history.iter().any(|m| m.seq == missed),
        "the gap is filled from chat_history"
    );
    // And live delivery across instances resumes.
    let seq = ana.chat_send(None, "NATS is back").await.expect("send");
    expect_push(
        &mut bob_pushes,
        |p| matches!(p, Push::Chat(m) if m.seq == seq),
    )
    .await;
}
