//! Passwords, password hashes and session tokens never reach the server's
//! logs (security issue: "never logged"). This binary installs a global
//! tracing subscriber at TRACE level that writes into memory, runs a session
//! touching every account op and the failure paths, and scans the text.
//! (Its own test binary: the subscriber is process-wide.)

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use coliseum_tests::{PASSWORD, start_server};

/// Log output kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("first subscriber");

    let server = start_server().await;
    let new_password = "fresh secret password";
    let (client, _pushes, session) = server.user("logged").await;
    let old_phc = server
        .store()
        .user_by_username("logged")
        .await
        .expect("lookup")
        .expect("user")
        .password_hash;
    let (other, _other_pushes) = server.connect().await;
    let _ = other.login("logged", "not-the-password-1").await;
    let _ = other.login("nobody-here", "not-the-password-2").await;
    let second = other.login("logged", PASSWORD).await.expect("login");
    other.resume(&session.token).await.expect("resume");
    let _ = client
        .update_account("not-the-password-3", None, None, None)
        .await;
    client
        .update_account(PASSWORD, None, Some(new_password), None)
        .await
        .expect("change password");
    client.chat_send(None, "hi").await.expect("chat");
    client.logout().await.expect("logout");
    let (third, _third_pushes) = server.connect().await;
    let _ = third.resume(&second.token).await;
    let phc = server
        .store()
        .user_by_username("logged")
        .await
        .expect("lookup")
        .expect("user")
        .password_hash;
    drop((client, other, third));
    let mut server = server;
    server.stop().await;

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(PoisonError::into_inner))
        .into_owned();
    assert!(
        logs.contains("login_failed"),
        "the session was logged:\n{logs}"
    );
    for secret in [
        PASSWORD,
        new_password,
        "not-the-password-1",
        "not-the-password-2",
        "not-the-password-3",
        session.token.as_str(),
        second.token.as_str(),
        phc.as_str(),
        old_phc.as_str(),
        "$argon2",
    ] {
        assert!(!logs.contains(secret), "{secret:?} logged:\n{logs}");
    }
}
