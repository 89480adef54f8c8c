//! Hostile input at the server level (security issue): a property test that
//! sends arbitrary frames — random bytes, random JSON, and request objects
//! with real or random op names and well- or badly-typed fields — to a real
//! server over one connection, anonymous, as a user or as an admin, and
//! checks after every case that:
//!
//! - every frame got exactly one response, in order, whose `id` is the
//!   frame's `id` when readable and `null` otherwise;
//! - every failure carries a known code a client may get for its own
//!   mistakes (never `internal`, `unavailable` or an unknown code);
//! - the connection still answers (`online`), and new connections too (the
//!   server did not panic or stop);
//! - no partial writes: every event has `0 ≤ available ≤ capacity`, its
//!   booked seats (the active tickets of every account that can book) add
//!   up to `capacity − available`, and the lobby's `seq` numbers have no gap.
//!
//! The frame decoder and request parser alone are fuzzed in
//! `crates/protocol/tests`; this is the whole server path. 300 cases, a
//! fixed corpus of known-nasty frames first. The server runs with the
//! per-address cap and login throttling lifted (random logins would
//! otherwise trip them; they have their own tests in `security.rs` and
//! `flood.rs`) and without idle timeouts.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use coliseum_protocol::request::OP_NAMES;
use coliseum_tests::raw::RawConn;
use coliseum_tests::{ADMIN, ADMIN_PASSWORD, Options, PASSWORD, TestServer, start_server_with};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

const CASES: u32 = 300;
/// The id of the `online` request that follows each case's frames.
const SENTINEL: u64 = u64::MAX - 7;
const FUZZER: &str = "fuzzer";

/// Codes a client may get for anything it sends.
const CLIENT_CODES: &[&str] = &[
    "bad_request",
    "unauthenticated",
    "forbidden",
    "not_found",
    "conflict",
    "sold_out",
    "limit_exceeded",
    "rate_limited",
];

/// Field names of every op, so random objects often hit real arguments.
const FIELDS: &[&str] = &[
    "id",
    "op",
    "username",
    "password",
    "email",
    "token",
    "current_password",
    "new_username",
    "new_password",
    "new_email",
    "name",
    "date",
    "location",
    "capacity",
    "max_per_user",
    "event_id",
    "quantity",
    "request_key",
    "ticket_id",
    "room",
    "text",
    "before_seq",
    "limit",
];

#[derive(Debug, Clone, Copy)]
enum Role {
    Anonymous,
    User,
    Admin,
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Values that are often valid for some field, so handlers run deep.
fn plausible_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0_u64..25).prop_map(Value::from),
        (1_u64..12).prop_map(|n| Value::from(n.to_string())),
        select(vec![
            "2027-01-31",
            "2027-02-30",
            "1999-12-31",
            "lobby",
            "jazz-fans",
            FUZZER,
            ADMIN,
            "x",
            "",
            "   ",
            "Main Hall",
            "someone@example.com",
            "not-an-email",
        ])
        .prop_map(Value::from),
        "[A-Za-z0-9 _.-]{1,12}".prop_map(Value::from),
        "[a-z]{3,8}".prop_map(Value::from),
    ]
}

fn request_object() -> impl Strategy<Value = Value> {
    let id = prop_oneof![8 => any::<u64>().prop_map(Value::from), 1 => json_value()];
    let op = prop_oneof![
        8 => select(OP_NAMES.to_vec()).prop_map(Value::from),
        1 => json_value(),
    ];
    let field =
        prop_oneof![4 => select(FIELDS.to_vec()).prop_map(str::to_owned), 1 => "[a-z_]{1,8}"];
    let value = prop_oneof![3 => plausible_value(), 1 => json_value()];
    (id, op, btree_map(field, value, 0..6)).prop_map(|(id, op, fields)| {
        let mut object: serde_json::Map<String, Value> = fields.into_iter().collect();
        object.insert("id".into(), id);
        object.insert("op".into(), op);
        Value::Object(object)
    })
}

/// A well-formed request of a real op with plausible arguments, so that
/// handlers and the store really run (bookings, new events, messages).
fn well_formed_op() -> impl Strategy<Value = Value> {
    let word = || "[a-z]{2,8}";
    let secret = || "[a-z]{6,12}";
    let text = || "[A-Za-z0-9 ]{0,16}";
    let room = || proptest::option::of(select(vec!["lobby", "jazz-fans", "bad room!"]));
    let dates = || select(vec!["2027-01-31", "2027-06-12", "2028-02-29", "2027-02-30"]);
    let name = || "[A-Za-z][A-Za-z0-9 ]{0,15}";
    prop_oneof![
        2 => (word(), secret(), word())
            .prop_map(|(u, p, e)| json!({"op": "register", "username": u, "password": p, "email": format!("{e}@example.com")}))
            .boxed(),
        2 => (select(vec![FUZZER, ADMIN, "ghost"]), secret())
            .prop_map(|(u, p)| json!({"op": "login", "username": u, "password": p}))
            .boxed(),
        1 => "[0-9a-f]{0,64}".prop_map(|t| json!({"op": "resume", "token": t})).boxed(),
        1 => Just(json!({"op": "logout"})).boxed(),
        1 => (secret(), proptest::option::of(word()), proptest::option::of(secret()))
            .prop_map(|(c, u, p)| json!({"op": "update_account", "current_password": c, "new_username": u, "new_password": p}))
            .boxed(),
        1 => Just(json!({"op": "list_events"})).boxed(),
        4 => (name(), dates(), name(), 0_u32..200, proptest::option::of(0_u32..12))
            .prop_map(|(n, d, l, c, m)| json!({"op": "create_event", "name": n, "date": d, "location": l, "capacity": c, "max_per_user": m}))
            .boxed(),
        8 => (1_u32..7, 0_u32..12, proptest::option::of("[a-z0-9]{0,3}"))
            .prop_map(|(e, q, k)| json!({"op": "book", "event_id": e.to_string(), "quantity": q, "request_key": k}))
            .boxed(),
        1 => Just(json!({"op": "my_tickets"})).boxed(),
        5 => (1_u32..30).prop_map(|t| json!({"op": "cancel_ticket", "ticket_id": t.to_string()})).boxed(),
        3 => (room(), text())
            .prop_map(|(r, t)| json!({"op": "chat_send", "room": r, "text": t}))
            .boxed(),
        2 => (room(), proptest::option::of(0_u64..50), proptest::option::of(0_u32..250))
            .prop_map(|(r, b, l)| json!({"op": "chat_history", "room": r, "before_seq": b, "limit": l}))
            .boxed(),
        1 => Just(json!({"op": "online"})).boxed(),
    ]
}

/// A well-formed op with an id, sometimes with one argument replaced by
/// an arbitrary JSON value.
fn mutated_op() -> impl Strategy<Value = Value> {
    let mutation = proptest::option::weighted(0.3, (any::<prop::sample::Index>(), json_value()));
    (well_formed_op(), any::<u64>(), mutation).prop_map(|(mut request, id, mutation)| {
        if let (Some((index, value)), Value::Object(object)) = (mutation, &mut request) {
            let keys: Vec<String> = object.keys().filter(|k| *k != "op").cloned().collect();
            if !keys.is_empty() {
                object.insert(keys[index.index(keys.len())].clone(), value);
            }
        }
        request["id"] = json!(id);
        request
    })
}

fn frame() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => vec(any::<u8>(), 0..48),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        2 => request_object().prop_map(|v| v.to_string().into_bytes()),
        5 => mutated_op().prop_map(|v| v.to_string().into_bytes()),
    ]
}

fn case() -> impl Strategy<Value = (Role, Vec<Vec<u8>>)> {
    let role =
        prop_oneof![1 => Just(Role::Anonymous), 2 => Just(Role::User), 2 => Just(Role::Admin)];
    (role, vec(frame(), 1..8))
}

/// Known-nasty frames, run before the random ones (regression corpus).
fn corpus() -> Vec<Vec<u8>> {
    let texts: &[&str] = &[
        "",
        " ",
        "null",
        "0",
        "-1",
        "1e999",
        "[]",
        "{}",
        "\"\"",
        "{\"id\":null}",
        "{\"id\":1.0,\"op\":\"online\"}",
        "{\"id\":18446744073709551616,\"op\":\"online\"}",
        "{\"id\":1,\"op\":\"online\",\"id\":2}",
        "{\"id\":3,\"op\":\"ONLINE\"}",
        "{\"id\":4,\"op\":\"online\\u0000\"}",
        "{\"id\":5,\"op\":\"book\",\"event_id\":\"1\",\"quantity\":4294967296}",
        "{\"id\":6,\"op\":\"book\",\"event_id\":\"1\",\"quantity\":0}",
        "{\"id\":7,\"op\":\"book\",\"event_id\":\"\",\"quantity\":1,\"request_key\":\"\"}",
        "{\"id\":8,\"op\":\"create_event\",\"name\":\"x\",\"date\":\"2027-13-01\",\"location\":\"y\",\"capacity\":0}",
        "{\"id\":9,\"op\":\"chat_history\",\"limit\":0,\"before_seq\":0}",
        "{\"id\":10,\"op\":\"chat_send\",\"room\":\"../etc\",\"text\":\"\\ud800\"}",
        "{\"id\":11,\"op\":\"login\",\"username\":{\"$ne\":null},\"password\":{\"$gt\":\"\"}}",
        "{\"id\":12,\"op\":\"resume\",\"token\":\"' OR 1=1 --\"}",
        "{\"id\":13,\"op\":\"cancel_ticket\",\"ticket_id\":\"1; DROP TABLE tickets\"}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    ];
    let mut frames: Vec<Vec<u8>> = texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    frames.push(vec![0xff, 0xfe, 0xfd]);
    frames.push(b"{\"id\":14,\"op\":\"online\"".to_vec());
    frames.push("[".repeat(10_000).into_bytes());
    frames.push(
        format!(
            "{{\"id\":15,\"op\":\"chat_send\",\"text\":\"{}\"}}",
            "é".repeat(2001)
        )
        .into_bytes(),
    );
    frames
}

struct Fixture {
    server: TestServer,
    /// Session tokens of the user and the admin (refreshed when a random
    /// `logout` revoked one).
    tokens: Mutex<HashMap<&'static str, String>>,
    /// Responses seen, by `op:outcome`, to show what the cases reached.
    outcomes: Mutex<HashMap<String, u64>>,
}

fn expected_id(frame: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(frame) {
        Ok(Value::Object(object)) => object
            .get("id")
            .and_then(Value::as_u64)
            .map_or(Value::Null, Value::from),
        _ => Value::Null,
    }
}

async fn call(conn: &mut RawConn, request: Value) -> Value {
    conn.send_json(&request).await;
    conn.response().await
}

impl Fixture {
    /// Puts `conn` in `role`'s session: resume (cheap), or log in again if
    /// a random `logout` revoked the token.
    async fn enter(&self, conn: &mut RawConn, role: Role) {
        let (name, password) = match role {
            Role::Anonymous => return,
            Role::User => (FUZZER, PASSWORD),
            Role::Admin => (ADMIN, ADMIN_PASSWORD),
        };
        let token = self
            .tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned();
        if let Some(token) = token {
            let response = call(conn, json!({"id": 0, "op": "resume", "token": token})).await;
            if response["ok"] == json!(true) {
                return;
            }
        }
        let response = call(
            conn,
            json!({"id": 0, "op": "login", "username": name, "password": password}),
        )
        .await;
        assert_eq!(response["ok"], json!(true), "{response}");
        let token = response["data"]["token"]
            .as_str()
            .expect("token")
            .to_owned();
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, token);
    }

    async fn run(&self, role: Role, frames: &[Vec<u8>]) -> Result<(), TestCaseError> {
        let (mut conn, welcome) = RawConn::connect(self.server.addr()).await;
        prop_assert_eq!(&welcome["push"], &json!("welcome"));
        self.enter(&mut conn, role).await;
        for frame in frames {
            conn.send_bytes(frame).await;
        }
        conn.send_json(&json!({"id": SENTINEL, "op": "online"}))
            .await;
        for frame in frames {
            let response = conn.response().await;
            let shown = String::from_utf8_lossy(frame);
            let op = serde_json::from_slice::<Value>(frame)
                .ok()
                .and_then(|v| v.get("op").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| "-".to_owned());
            let outcome = response["error"]["code"].as_str().unwrap_or("ok");
            *self
                .outcomes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(format!("{op}:{outcome}"))
                .or_default() += 1;
            prop_assert_eq!(
                &response["id"],
                &expected_id(frame),
                "{} -> {}",
                shown,
                response
            );
            match &response["ok"] {
                Value::Bool(true) => prop_assert!(response.get("data").is_some(), "{}", response),
                Value::Bool(false) => {
                    let code = response["error"]["code"].as_str().unwrap_or("(none)");
                    prop_assert!(CLIENT_CODES.contains(&code), "{} -> {}", shown, response);
                    prop_assert!(
                        response["error"]["message"]
                            .as_str()
                            .is_some_and(|m| !m.is_empty()),
                        "{}",
                        response
                    );
                }
                _ => prop_assert!(false, "no ok flag: {}", response),
            }
        }
        let last = conn.response().await;
        prop_assert_eq!(
            &last["id"],
            &json!(SENTINEL),
            "exactly one response per frame: {}",
            last
        );
        prop_assert_eq!(&last["ok"], &json!(true));
        self.check_invariants().await
    }

    /// No partial writes: seats, tickets and chat sequence numbers agree.
    async fn check_invariants(&self) -> Result<(), TestCaseError> {
        let (mut anon, _) = RawConn::connect(self.server.addr()).await;
        let events = call(&mut anon, json!({"id": 1, "op": "list_events"})).await;
        let events = events["data"]["events"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        prop_assert!(events.len() >= 3);
        let mut booked: HashMap<String, u64> = HashMap::new();
        for role in [Role::User, Role::Admin] {
            let (mut conn, _) = RawConn::connect(self.server.addr()).await;
            self.enter(&mut conn, role).await;
            let tickets = call(&mut conn, json!({"id": 2, "op": "my_tickets"})).await;
            for ticket in tickets["data"]["tickets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let event = ticket["event_id"].as_str().unwrap_or_default().to_owned();
                *booked.entry(event).or_default() += ticket["quantity"].as_u64().unwrap_or(0);
            }
        }
        for event in &events {
            let capacity = event["capacity"].as_u64().unwrap_or(0);
            let available = event["available"].as_u64().unwrap_or(u64::MAX);
            prop_assert!(available <= capacity, "{}", event);
            let id = event["id"].as_str().unwrap_or_default();
            let held = booked.get(id).copied().unwrap_or(0);
            prop_assert_eq!(held, capacity - available, "seats of {}", event);
        }
        let (mut conn, _) = RawConn::connect(self.server.addr()).await;
        self.enter(&mut conn, Role::User).await;
        let history = call(
            &mut conn,
            json!({"id": 3, "op": "chat_history", "limit": 200}),
        )
        .await;
        let seqs: Vec<u64> = history["data"]["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|m| m["seq"].as_u64())
            .collect();
        prop_assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "gap in {:?}",
            seqs
        );
        Ok(())
    }
}

#[test]
fn arbitrary_frames_get_one_answer_each_and_leave_no_partial_writes() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(start_server_with(Options {
        tune: |c| {
            c.max_connections_per_ip = 0;
            c.handshake_timeout = std::time::Duration::ZERO;
            c.idle_timeout = std::time::Duration::ZERO;
            c.login_throttle.per_connection = u32::MAX;
            c.login_throttle.account_threshold = u32::MAX;
            c.login_throttle.address_threshold = u32::MAX;
        },
        ..Options::default()
    }));
    let fixture = Fixture {
        server,
        tokens: Mutex::new(HashMap::new()),
        outcomes: Mutex::new(HashMap::new()),
    };
    runtime.block_on(async {
        let (mut conn, _) = RawConn::connect(fixture.server.addr()).await;
        let response = call(
            &mut conn,
            json!({"id": 1, "op": "register", "username": FUZZER, "password": PASSWORD, "email": "fuzzer@example.com"}),
        )
        .await;
        assert_eq!(response["ok"], json!(true));
    });

    // The corpus, as every role.
    for role in [Role::Anonymous, Role::User, Role::Admin] {
        runtime
            .block_on(fixture.run(role, &corpus()))
            .unwrap_or_else(|e| panic!("corpus as {role:?}: {e}"));
    }

    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 64,
        max_shrink_time: 60_000,
        ..Config::default()
    });
    let result = runner.run(&case(), |(role, frames)| {
        runtime.block_on(fixture.run(role, &frames))
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }

    // The cases reached deep into the handlers, not only the parser.
    let outcomes = fixture
        .outcomes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut shown: Vec<_> = outcomes.iter().collect();
    shown.sort();
    println!("outcomes: {shown:?}");
    for reached in [
        "book:ok",
        "create_event:ok",
        "cancel_ticket:ok",
        "chat_send:ok",
        "register:ok",
        "login:unauthenticated",
        "-:bad_request",
    ] {
        assert!(outcomes.contains_key(reached), "no {reached} in {shown:?}");
    }

    // The server still takes new connections and answers.
    runtime.block_on(async {
        let (mut conn, _) = RawConn::connect(fixture.server.addr()).await;
        let response = call(&mut conn, json!({"id": 1, "op": "online"})).await;
        assert_eq!(response["ok"], json!(true));
    });
}
