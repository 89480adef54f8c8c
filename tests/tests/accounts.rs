//! Accounts and sessions end to end: register, login, resume, logout,
//! update_account — success paths and every error code they return.

use coliseum_client::ClientError;
use coliseum_protocol::{ErrorCode, Push, Role};
use coliseum_tests::{ADMIN, ADMIN_PASSWORD, PASSWORD, code, expect_push, field, start_server};

#[tokio::test]
async fn register_login_resume_logout() {
    let server = start_server().await;
    let (client, _pushes) = server.connect().await;
    assert_eq!(client.welcome().server, "coliseum");
    assert_eq!(client.welcome().protocol, 1);

    let registered = client
        .register("giulia", PASSWORD, "giulia@example.com")
        .await
        .expect("register");
    assert!(!registered.user_id.is_empty());
    // Registering does not log in.
    assert_eq!(code(client.my_tickets().await), ErrorCode::Unauthenticated);

    // Usernames match case-insensitively.
    let session = client.login("GIULIA", PASSWORD).await.expect("login");
    assert_eq!(session.user_id, registered.user_id);
    assert_eq!(session.username, "giulia");
    assert_eq!(session.email, "giulia@example.com");
    assert_eq!(session.role, Role::User);
    assert_eq!(session.token.len(), 64);
    assert!(client.my_tickets().await.expect("logged in").is_empty());

    // The token re-attaches the session on another connection.
    let (other, _other_pushes) = server.connect().await;
    let resumed = other.resume(&session.token).await.expect("resume");
    assert_eq!(resumed.user_id, session.user_id);
    assert_eq!(resumed.token, session.token);
    assert!(other.my_tickets().await.is_ok());

    // Logout revokes the token and leaves the connection open, anonymous.
    client.logout().await.expect("logout");
    assert_eq!(code(client.my_tickets().await), ErrorCode::Unauthenticated);
    assert_eq!(code(client.logout().await), ErrorCode::Unauthenticated);
    let (third, _third_pushes) = server.connect().await;
    assert_eq!(
        code(third.resume(&session.token).await),
        ErrorCode::Unauthenticated
    );
    assert!(
        client.list_events().await.is_ok(),
        "connection still usable"
    );
}

#[tokio::test]
async fn register_rejects_invalid_fields_naming_them() {
    let server = start_server().await;
    let (client, _pushes) = server.connect().await;
    let cases = [
        ("ab", PASSWORD, "ab@example.com", "username"),
        ("bob smith", PASSWORD, "bob@example.com", "username"),
        ("bob", "short", "bob@example.com", "password"),
        ("bob", PASSWORD, "not-an-email", "email"),
    ];
    for (username, password, email, which) in cases {
        let result = client.register(username, password, email).await;
        assert_eq!(field(result), Some(which.to_owned()), "{username}/{email}");
        let result = client.register(username, password, email).await;
        assert_eq!(code(result), ErrorCode::BadRequest);
    }
}

#[tokio::test]
async fn taken_username_or_email_is_a_conflict_naming_the_field() {
    let server = start_server().await;
    let (client, _pushes) = server.connect().await;
    client
        .register("marco", PASSWORD, "marco@example.com")
        .await
        .expect("register");
    let again = client
        .register("MARCO", PASSWORD, "other@example.com")
        .await;
    assert_eq!(field(again), Some("username".to_owned()));
    let again = client
        .register("marco2", PASSWORD, "Marco@Example.com")
        .await;
    assert!(matches!(
        &again,
        Err(ClientError::Server(body)) if body.code == ErrorCode::Conflict
    ));
    assert_eq!(field(again), Some("email".to_owned()));
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let server = start_server().await;
    let (client, _pushes) = server.connect().await;
    client
        .register("anna", PASSWORD, "anna@example.com")
        .await
        .expect("register");
    let wrong = client.login("anna", "not the password").await;
    let unknown = client.login("nobody-here", "not the password").await;
    // A connection's 3rd failure closes it: try the last one on another.
    let (other, _other_pushes) = server.connect().await;
    let invalid = other.login("x", "y").await;
    let message = |r: Result<_, ClientError>| match r {
        Err(ClientError::Server(body)) => (body.code, body.message),
        other => panic!("expected an error, got {other:?}"),
    };
    let wrong = message(wrong);
    assert_eq!(wrong.0, ErrorCode::Unauthenticated);
    assert_eq!(wrong, message(unknown));
    assert_eq!(wrong, message(invalid));
    assert_eq!(wrong.1, "wrong username or password");
    assert_eq!(
        code(client.resume("0123456789abcdef").await),
        ErrorCode::Unauthenticated
    );
}

#[tokio::test]
async fn update_account_changes_name_and_email() {
    let server = start_server().await;
    let (client, _pushes, _) = server.user("luca").await;
    let updated = client
        .update_account(PASSWORD, Some("luca.b"), None, Some("lb@example.com"))
        .await
        .expect("update");
    assert_eq!(updated.username, "luca.b");
    assert_eq!(updated.email, "lb@example.com");
    assert_eq!(client.online().await.expect("online").users, ["luca.b"]);
    client.chat_send(None, "renamed").await.expect("send");
    let history = client
        .chat_history(None, None, None)
        .await
        .expect("history");
    assert_eq!(
        history.last().expect("message").from.as_deref(),
        Some("luca.b")
    );
    // The new name logs in; the old one no longer exists.
    let (other, _other_pushes) = server.connect().await;
    other.login("luca.b", PASSWORD).await.expect("new name");
    assert_eq!(
        code(other.login("luca", PASSWORD).await),
        ErrorCode::Unauthenticated
    );
}

#[tokio::test]
async fn update_account_errors() {
    let server = start_server().await;
    let (anon, _anon_pushes) = server.connect().await;
    assert_eq!(
        code(anon.update_account(PASSWORD, Some("zzz"), None, None).await),
        ErrorCode::Unauthenticated
    );
    let (client, _pushes, _) = server.user("sara").await;
    server.user("taken").await;
    let wrong = client
        .update_account("wrong password", Some("sara2"), None, None)
        .await;
    assert_eq!(field(wrong), Some("current_password".to_owned()));
    assert_eq!(
        code(
            client
                .update_account("wrong password", None, None, None)
                .await
        ),
        ErrorCode::Unauthenticated
    );
    for (name, pw, email, which) in [
        (Some("x"), None, None, "new_username"),
        (None, Some("short"), None, "new_password"),
        (None, None, Some("nope"), "new_email"),
    ] {
        let result = client.update_account(PASSWORD, name, pw, email).await;
        assert_eq!(field(result), Some(which.to_owned()));
    }
    let taken = client
        .update_account(PASSWORD, Some("TAKEN"), None, None)
        .await;
    assert!(matches!(&taken, Err(e) if e.code() == Some(ErrorCode::Conflict)));
    assert_eq!(field(taken), Some("new_username".to_owned()));
    let taken = client
        .update_account(PASSWORD, None, None, Some("taken@example.com"))
        .await;
    assert_eq!(code(taken), ErrorCode::Conflict);
}

#[tokio::test]
async fn a_new_password_revokes_every_token_and_gives_this_connection_a_fresh_one() {
    let server = start_server().await;
    let (client, _pushes, first) = server.user("paolo").await;
    // Someone else holds this connection's token (say, stolen) ...
    let (thief, _thief_pushes) = server.connect().await;
    thief.resume(&first.token).await.expect("resume");
    let (_second_client, _second_pushes) = server.connect().await;
    let second = _second_client
        .login("paolo", PASSWORD)
        .await
        .expect("login");
    let changed = client
        .update_account(PASSWORD, None, Some("a brand new password"), None)
        .await
        .expect("change password");
    let rotated = changed.token.expect("a new token after a password change");
    assert_ne!(rotated, first.token);
    assert!(client.my_tickets().await.is_ok(), "still logged in here");
    // ... and loses access, live and on resume.
    assert_eq!(code(thief.my_tickets().await), ErrorCode::Unauthenticated);

    let (fresh, _fresh_pushes) = server.connect().await;
    for revoked in [&second.token, &first.token] {
        assert_eq!(
            code(fresh.resume(revoked).await),
            ErrorCode::Unauthenticated
        );
    }
    fresh.resume(&rotated).await.expect("the new token resumes");
    // A change without a new password keeps the token.
    let renamed = client
        .update_account(
            "a brand new password",
            None,
            None,
            Some("paolo@example.org"),
        )
        .await
        .expect("change e-mail");
    assert_eq!(renamed.token, None);
    assert_eq!(
        code(fresh.login("paolo", PASSWORD).await),
        ErrorCode::Unauthenticated
    );
    fresh
        .login("paolo", "a brand new password")
        .await
        .expect("new password");
}

#[tokio::test]
async fn admin_logs_in_with_the_admin_role() {
    let server = start_server().await;
    let (client, _pushes) = server.connect().await;
    let session = client.login(ADMIN, ADMIN_PASSWORD).await.expect("login");
    assert_eq!(session.role, Role::Admin);
}

#[tokio::test]
async fn presence_is_pushed_when_users_come_and_go() {
    let server = start_server().await;
    let (watcher, mut watcher_pushes, _) = server.user("watcher").await;
    let is_presence = |p: &Push| matches!(p, Push::Presence { user, .. } if user != "watcher");

    let (anna, _anna_pushes, _) = server.user("anna").await;
    assert_eq!(
        expect_push(&mut watcher_pushes, is_presence).await,
        Push::Presence {
            user: "anna".into(),
            online: true,
            count: 2
        }
    );
    let online = watcher.online().await.expect("online");
    assert_eq!(online.count, 2);
    assert_eq!(online.users, ["anna", "watcher"]);

    // A second session of anna announces nothing; her logout then leaves
    // her online; only closing the last one does.
    let (anna2, _anna2_pushes) = server.connect().await;
    anna2.login("anna", PASSWORD).await.expect("login");
    anna.logout().await.expect("logout");
    assert_eq!(watcher.online().await.expect("online").count, 2);
    drop(anna2);
    assert_eq!(
        expect_push(&mut watcher_pushes, is_presence).await,
        Push::Presence {
            user: "anna".into(),
            online: false,
            count: 1
        }
    );
    assert_eq!(watcher.online().await.expect("online").users, ["watcher"]);
}
