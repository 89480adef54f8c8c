//! Login throttling, session tokens and secrets on the wire, end to end
//! (security issue). Each test runs its own server on 127.0.0.1:0.
//!
//! - The 3rd failed password check on a connection is answered
//!   `too_many_attempts` and the connection closes (the brief: three
//!   tries); nothing after it is evaluated.
//! - Before login only `register`/`login`/`resume` extend the pre-login
//!   timeout; `register` is rate-limited per address.
//! - A session that expires on a live connection ends there too, with a
//!   `session_expired` push.
//! - Accounts and addresses back off exponentially across connections
//!   (`rate_limited` + `retry_after_ms`); a success resets the account.
//! - Tokens: 256 random bits, only their SHA-256 stored, 7-day default
//!   expiry, a tiny TTL really expires; logout and a password change end
//!   the revoked tokens on live connections too.
//! - No frame the server sends ever holds a password or a password hash.

use std::time::Duration;

use chrono::Utc;
use coliseum_client::Pushes;
use coliseum_protocol::{ErrorCode, Push};
use coliseum_tests::raw::RawConn;
use coliseum_tests::{Options, PASSWORD, WAIT, code, expect_push, start_server, start_server_with};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

fn login(id: u64, username: &str, password: &str) -> Value {
    json!({"id": id, "op": "login", "username": username, "password": password})
}

fn error_code(response: &Value) -> &str {
    assert_eq!(response["ok"], json!(false), "{response}");
    response["error"]["code"].as_str().expect("code")
}

/// `retry_after_ms` of a `rate_limited` response.
fn retry_after(response: &Value) -> Duration {
    assert_eq!(error_code(response), "rate_limited", "{response}");
    let ms = response["error"]["retry_after_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("no retry_after_ms: {response}"));
    Duration::from_millis(ms)
}

async fn register(conn: &mut RawConn, username: &str, password: &str) {
    conn.send_json(&json!({
        "id": 0, "op": "register", "username": username, "password": password,
        "email": format!("{username}@example.com"),
    }))
    .await;
    assert_eq!(conn.response().await["ok"], json!(true));
}

#[tokio::test]
async fn the_third_failed_login_on_a_connection_answers_too_many_attempts_and_closes_it() {
    let server = start_server().await;
    let (mut setup, _) = RawConn::connect(server.addr()).await;
    register(&mut setup, "anna", PASSWORD).await;

    let (mut conn, _) = RawConn::connect(server.addr()).await;
    let before = server.stats().password_verifications;
    // Unknown usernames cost a verification too (dummy hash): same time.
    for (id, name) in [(1, "anna"), (2, "nobody-at-all")] {
        conn.send_json(&login(id, name, "guess-that-fails")).await;
        let response = conn.response().await;
        assert_eq!(response["id"], json!(id));
        assert_eq!(error_code(&response), "unauthenticated");
    }
    // The 3rd failure — pipelined with more requests, the right password
    // among them — is answered too_many_attempts, and nothing after it is
    // evaluated or answered.
    conn.send_json(&login(3, "anna", "guess-that-fails")).await;
    conn.send_json(&login(4, "anna", PASSWORD)).await;
    conn.send_json(&json!({"id": 5, "op": "online"})).await;
    let response = conn.response().await;
    assert_eq!(response["id"], json!(3));
    assert_eq!(error_code(&response), "too_many_attempts");
    assert_eq!(conn.recv().await, None, "closed after too_many_attempts");
    let stats = server.stats();
    assert_eq!(
        stats.password_verifications,
        before + 3,
        "the 4th never evaluated"
    );
    assert_eq!(stats.too_many_attempts, 1);

    // 3 failures are below the account's back-off: a new connection logs in.
    let (client, _pushes) = server.connect().await;
    client.login("anna", PASSWORD).await.expect("login");
}

#[tokio::test]
async fn wrong_current_passwords_count_as_failed_checks_too() {
    let server = start_server().await;
    let (client, _pushes, _) = server.user("marco").await;
    for _ in 0..2 {
        let wrong = client
            .update_account("not my password", Some("marco2"), None, None)
            .await;
        assert_eq!(code(wrong), ErrorCode::Unauthenticated);
    }
    let refused = client
        .update_account("not my password", Some("marco2"), None, None)
        .await;
    assert_eq!(code(refused), ErrorCode::TooManyAttempts);
    assert!(client.online().await.is_err(), "the connection is closed");
    let (other, _other_pushes) = server.connect().await;
    other
        .login("marco", PASSWORD)
        .await
        .expect("name unchanged");
}

#[tokio::test]
async fn an_account_backs_off_exponentially_across_connections_until_a_success() {
    // Production settings: 5 failures, then 1 s doubling.
    let server = start_server().await;
    let (mut setup, _) = RawConn::connect(server.addr()).await;
    register(&mut setup, "giulia", PASSWORD).await;
    register(&mut setup, "bystander", PASSWORD).await;

    // Five failures for giulia, over three connections (2 + 2 + 1: a
    // connection closes at its 3rd).
    let (mut first, _) = RawConn::connect(server.addr()).await;
    for id in 1..=2 {
        first.send_json(&login(id, "GIULIA", "guess")).await;
        assert_eq!(error_code(&first.response().await), "unauthenticated");
    }
    let (mut fifth, _) = RawConn::connect(server.addr()).await;
    fifth.send_json(&login(3, "giulia", "guess")).await;
    assert_eq!(error_code(&fifth.response().await), "unauthenticated");
    let (mut second, _) = RawConn::connect(server.addr()).await;
    for id in 4..=5 {
        second.send_json(&login(id, "giulia", "guess")).await;
        assert_eq!(error_code(&second.response().await), "unauthenticated");
    }
    let verified = server.stats().password_verifications;

    // Now even the right password waits, unevaluated, and the refusal does
    // not use up the connection's attempts.
    second.send_json(&login(6, "giulia", PASSWORD)).await;
    let wait = retry_after(&second.response().await);
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(1),
        "{wait:?}"
    );
    assert_eq!(server.stats().password_verifications, verified);
    assert_eq!(server.stats().logins_rate_limited, 1);
    // Other accounts from the same address are not affected.
    fifth.send_json(&login(7, "bystander", "guess")).await;
    assert_eq!(error_code(&fifth.response().await), "unauthenticated");

    // After the wait, one more failure doubles the back-off.
    tokio::time::sleep(wait).await;
    let (mut third, _) = RawConn::connect(server.addr()).await;
    third.send_json(&login(8, "giulia", "guess")).await;
    assert_eq!(error_code(&third.response().await), "unauthenticated");
    third.send_json(&login(9, "giulia", PASSWORD)).await;
    let wait = retry_after(&third.response().await);
    assert!(
        wait > Duration::from_secs(1) && wait <= Duration::from_secs(2),
        "{wait:?}"
    );

    // A success resets the account: the next failure is plain again.
    tokio::time::sleep(wait).await;
    third.send_json(&login(10, "giulia", PASSWORD)).await;
    assert_eq!(third.response().await["ok"], json!(true));
    let (mut fourth, _) = RawConn::connect(server.addr()).await;
    fourth.send_json(&login(11, "giulia", "guess")).await;
    assert_eq!(error_code(&fourth.response().await), "unauthenticated");
}

#[tokio::test]
async fn an_address_backs_off_across_accounts_and_a_success_does_not_clear_it() {
    let server = start_server_with(Options {
        tune: |c| {
            c.login_throttle.account_threshold = 100;
            c.login_throttle.address_threshold = 4;
            c.login_throttle.backoff_base = Duration::from_millis(100);
        },
        ..Options::default()
    })
    .await;
    let (mut setup, _) = RawConn::connect(server.addr()).await;
    register(&mut setup, "mine", PASSWORD).await;
    let (mut a, _) = RawConn::connect(server.addr()).await;
    let (mut b, _) = RawConn::connect(server.addr()).await;
    let (mut c, _) = RawConn::connect(server.addr()).await;
    for (id, name) in [(1, "alpha"), (2, "beta")] {
        a.send_json(&login(id, name, "guess")).await;
        assert_eq!(error_code(&a.response().await), "unauthenticated");
    }
    c.send_json(&login(3, "gamma", "guess")).await;
    assert_eq!(error_code(&c.response().await), "unauthenticated");
    // A valid login in between does not clear the address.
    b.send_json(&login(4, "mine", PASSWORD)).await;
    assert_eq!(b.response().await["ok"], json!(true));
    b.send_json(&login(5, "delta", "guess")).await;
    assert_eq!(error_code(&b.response().await), "unauthenticated");
    // Four failures from 127.0.0.1: any account now waits.
    b.send_json(&login(6, "mine", PASSWORD)).await;
    let wait = retry_after(&b.response().await);
    assert!(wait <= Duration::from_millis(100), "{wait:?}");
    b.send_json(&login(7, "x", "y")).await;
    retry_after(&b.response().await);
    tokio::time::sleep(wait).await;
    b.send_json(&login(8, "mine", PASSWORD)).await;
    assert_eq!(b.response().await["ok"], json!(true));
}

fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[tokio::test]
async fn tokens_are_random_256_bit_stored_hashed_and_expire_after_seven_days() {
    let server = start_server().await;
    let (client, _pushes, first) = server.user("tina").await;
    let second = client.login("tina", PASSWORD).await.expect("login again");
    for token in [&first.token, &second.token] {
        assert_eq!(token.len(), 64, "32 bytes, hex");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_ne!(first.token, second.token);

    let store = server.store();
    let now = Utc::now();
    assert!(
        store
            .session_user(&first.token, now)
            .await
            .expect("lookup")
            .is_none(),
        "the token itself is not what the store keeps"
    );
    let hash = sha256_hex(&first.token);
    let user = store.session_user(&hash, now).await.expect("lookup");
    assert_eq!(user.map(|u| u.username), Some("tina".to_owned()));
    let week = chrono::Duration::days(7);
    let minute = chrono::Duration::minutes(1);
    assert!(
        store
            .session_user(&hash, now + week - minute)
            .await
            .expect("lookup")
            .is_some()
    );
    assert!(
        store
            .session_user(&hash, now + week + minute)
            .await
            .expect("lookup")
            .is_none(),
        "expired after 7 days"
    );
}

#[tokio::test]
async fn a_short_session_ttl_really_expires_tokens() {
    let server = start_server_with(Options {
        tune: |c| c.session_ttl = Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let before_login = Utc::now();
    let (_client, _pushes, session) = server.user("brief").await;
    let hash = sha256_hex(&session.token);
    let stored = server
        .store()
        .session_user(&hash, before_login)
        .await
        .expect("lookup");
    assert!(stored.is_some(), "valid for a second from the login");
    // Wait, bounded, until resume says unauthenticated.
    tokio::time::timeout(WAIT, async {
        loop {
            let (other, _other_pushes) = server.connect().await;
            match other.resume(&session.token).await {
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(err) => {
                    assert_eq!(err.code(), Some(ErrorCode::Unauthenticated));
                    return;
                }
            }
        }
    })
    .await
    .expect("the token expires");
}

/// The pushes up to the next `event_update`: proof of what arrived before.
async fn pushes_until_event_update(pushes: &mut Pushes) -> Vec<Push> {
    let mut seen = Vec::new();
    loop {
        let push = expect_push(pushes, |_| true).await;
        if matches!(push, Push::EventUpdate { .. }) {
            return seen;
        }
        seen.push(push);
    }
}

#[tokio::test]
async fn revoked_tokens_are_signed_off_on_live_connections_too() {
    let server = start_server().await;
    let (a, _a_pushes, session) = server.user("rita").await;
    // b resumed a's token; c logged in on its own token.
    let (b, mut b_pushes) = server.connect().await;
    b.resume(&session.token).await.expect("resume");
    let (c, mut c_pushes) = server.connect().await;
    c.login("rita", PASSWORD).await.expect("login");
    let (watcher, mut watcher_pushes, _) = server.user("watcher").await;

    // A new password kills every token of the account, a's included: b
    // (on a's old token) and c are signed off at once; a moves to a new
    // token.
    let changed = a
        .update_account(PASSWORD, None, Some("rita's new password"), None)
        .await
        .expect("change password");
    assert_eq!(code(c.my_tickets().await), ErrorCode::Unauthenticated);
    assert_eq!(code(b.my_tickets().await), ErrorCode::Unauthenticated);
    assert!(a.my_tickets().await.is_ok());
    // b resumes a's new token.
    b.resume(&changed.token.expect("rotated token"))
        .await
        .expect("resume the new token");

    // Logout on a revokes the shared token: b is signed off too, and rita
    // goes offline.
    a.logout().await.expect("logout");
    assert_eq!(code(b.my_tickets().await), ErrorCode::Unauthenticated);
    let offline = expect_push(
        &mut watcher_pushes,
        |p| matches!(p, Push::Presence { user, online: false, .. } if user == "rita"),
    )
    .await;
    assert_eq!(
        offline,
        Push::Presence {
            user: "rita".into(),
            online: false,
            count: 1
        }
    );
    assert_eq!(watcher.online().await.expect("online").users, ["watcher"]);

    // The signed-off connections get no more chat (an event_update, which
    // everyone gets, marks the end of what to look at).
    watcher.chat_send(None, "not for rita").await.expect("chat");
    let event = watcher.list_events().await.expect("list").remove(0);
    watcher.book(&event.id, 1, None).await.expect("book");
    for pushes in [&mut b_pushes, &mut c_pushes] {
        let seen = pushes_until_event_update(pushes).await;
        assert!(
            !seen
                .iter()
                .any(|p| matches!(p, Push::Chat(m) if m.text == "not for rita")),
            "{seen:?}"
        );
    }
    // Both connections stay open and can log in again.
    b.login("rita", "rita's new password")
        .await
        .expect("login again");
}

#[tokio::test]
async fn no_frame_ever_carries_a_password_or_its_hash() {
    let server = start_server().await;
    let new_password = "a brand new secret password";
    let (mut watcher, first) = RawConn::connect(server.addr()).await;
    let (mut conn, welcome) = RawConn::connect(server.addr()).await;
    let mut seen = vec![first, welcome];
    register(&mut watcher, "watcher", "watcher password").await;
    watcher
        .send_json(&login(1, "watcher", "watcher password"))
        .await;
    seen.push(watcher.response().await);

    let requests = [
        json!({"id": 1, "op": "register", "username": "secretive", "password": PASSWORD, "email": "s@example.com"}),
        json!({"id": 2, "op": "register", "username": "secretive", "password": PASSWORD, "email": "s@example.com"}),
        json!({"id": 3, "op": "register", "username": "x", "password": PASSWORD, "email": "s2@example.com"}),
        login(4, "secretive", "guess-that-fails"),
        login(5, "secretive", PASSWORD),
        json!({"id": 6, "op": "update_account", "current_password": "guess-that-fails"}),
        json!({"id": 7, "op": "update_account", "current_password": PASSWORD, "new_password": new_password}),
        json!({"id": 8, "op": "update_account", "current_password": new_password, "new_password": "short"}),
        json!({"id": 9, "op": "chat_send", "text": "hello"}),
        json!({"id": 10, "op": "online"}),
        json!({"id": 11, "op": "logout"}),
        login(12, "secretive", new_password),
    ];
    for request in &requests {
        conn.send_json(request).await;
        seen.push(conn.response().await);
    }
    // Presence is merged and sent up to a second later: wait for the
    // watcher's first one.
    loop {
        let frame = watcher.recv().await.expect("open");
        let presence = frame["push"] == json!("presence");
        seen.push(frame);
        if presence {
            break;
        }
    }
    // Collect the pushes both connections got meanwhile.
    for raw in [&mut conn, &mut watcher] {
        raw.send_json(&json!({"id": 99, "op": "online"})).await;
        loop {
            let frame = raw.recv().await.expect("open");
            let done = frame["id"] == json!(99);
            seen.push(frame);
            if done {
                break;
            }
        }
    }
    let phc = server
        .store()
        .user_by_username("secretive")
        .await
        .expect("lookup")
        .expect("user")
        .password_hash;
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    let text: Vec<String> = seen.iter().map(Value::to_string).collect();
    assert!(
        text.iter().any(|t| t.contains("\"presence\"")),
        "pushes were seen"
    );
    for frame in &text {
        for secret in [
            PASSWORD,
            new_password,
            "watcher password",
            "guess-that-fails",
        ] {
            assert!(!frame.contains(secret), "{secret:?} sent back in {frame}");
        }
        assert!(!frame.contains(&phc), "password hash in {frame}");
        assert!(!frame.contains("$argon2"), "password hash in {frame}");
    }
}

/// Hardening issue: with `--session-ttl 3` a live connection kept working
/// after the token expired. Now the first request after the expiry gets a
/// `session_expired` push and runs anonymous (`unauthenticated`).
#[tokio::test]
async fn a_session_that_expires_ends_on_the_live_connection_too() {
    const TTL: Duration = Duration::from_secs(2);
    let server = start_server_with(Options {
        tune: |c| c.session_ttl = TTL,
        ..Options::default()
    })
    .await;
    let (client, mut pushes, session) = server.user("brief").await;
    let expiry = Utc::now() + chrono::Duration::from_std(TTL).expect("ttl");
    assert!(client.my_tickets().await.is_ok(), "valid before the expiry");
    // Wait for the clock, not for an event: the expiry is a time.
    let left = (expiry - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(100)).await;

    assert_eq!(code(client.my_tickets().await), ErrorCode::Unauthenticated);
    let push = expect_push(&mut pushes, |p| matches!(p, Push::SessionExpired { .. })).await;
    assert!(matches!(push, Push::SessionExpired { reason } if reason.contains("expired")));
    assert_eq!(
        code(client.chat_send(None, "still here?").await),
        ErrorCode::Unauthenticated
    );
    let (other, _other_pushes) = server.connect().await;
    assert_eq!(
        code(other.resume(&session.token).await),
        ErrorCode::Unauthenticated
    );
    client.login("brief", PASSWORD).await.expect("log in again");
    assert!(client.my_tickets().await.is_ok());
}

/// Hardening issue: an anonymous connection could stay forever by sending
/// `online` every few seconds. Only `register`/`login`/`resume` extend the
/// pre-login timeout now.
#[tokio::test]
async fn an_anonymous_connection_cannot_stay_by_sending_other_requests() {
    let server = start_server_with(Options {
        tune: |c| c.handshake_timeout = Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let (mut conn, _) = RawConn::connect(server.addr()).await;
    let started = tokio::time::Instant::now();
    let mut answered = 0_u64;
    let closed = loop {
        assert!(started.elapsed() < WAIT, "never closed");
        conn.send_json(&json!({"id": answered, "op": "online"}))
            .await;
        match conn.recv().await {
            Some(frame) if frame.get("push").is_some() => continue,
            Some(_) => answered += 1,
            None => break started.elapsed(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(answered >= 2, "it was served meanwhile ({answered})");
    assert!(closed >= Duration::from_secs(1), "{closed:?}");
    assert!(server.stats().connections_timed_out >= 1);
}

/// Hardening issue ("registration flood"): `register` is limited per
/// address; the refusal says when to retry, and nothing is hashed.
#[tokio::test]
async fn registrations_are_rate_limited_per_address() {
    let server = start_server_with(Options {
        tune: |c| {
            c.register_per_hour = 60;
            c.register_burst = 3;
        },
        ..Options::default()
    })
    .await;
    let (mut conn, _) = RawConn::connect(server.addr()).await;
    for name in ["reg-one", "reg-two", "reg-three"] {
        register(&mut conn, name, PASSWORD).await;
    }
    conn.send_json(&json!({
        "id": 9, "op": "register", "username": "reg-four", "password": PASSWORD,
        "email": "reg-four@example.com",
    }))
    .await;
    let response = conn.response().await;
    let wait = retry_after(&response);
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(60),
        "one more per minute: {wait:?}"
    );
    assert_eq!(server.stats().registrations_rate_limited, 1);
    // Nothing was created: the name is free for a later attempt.
    assert!(
        server
            .store()
            .user_by_username("reg-four")
            .await
            .expect("lookup")
            .is_none()
    );
    // Logins are not affected.
    conn.send_json(&login(10, "reg-one", PASSWORD)).await;
    assert_eq!(conn.response().await["ok"], json!(true));
}
