//! Accounts and sessions: `register`, `login`, `resume`, `logout`,
//! `update_account`.
//!
//! Password checks (`login`, and `update_account`'s `current_password`) are
//! throttled (`crate::config::LoginThrottleConfig`): the check that makes
//! this connection's `per_connection`-th failure (the brief: three tries)
//! is answered `too_many_attempts` and the connection closes; before argon2
//! runs, [`admit_password_check`] refuses the check with `rate_limited`
//! while the account or the address is backing off. Refused checks are
//! never evaluated. `register` is limited per address
//! (`ServerConfig::register_per_hour`) before any hashing.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use coliseum_protocol::request::{Login, Logout, Register, Resume, UpdateAccount};
use coliseum_protocol::response::{AccountData, Empty, RegisterData, SessionData};
use coliseum_protocol::{ErrorBody, ErrorCode, Role, validate};
use coliseum_store::{NewUser, SessionRecord, SessionUser, StoreError, User, UserUpdate};
use serde_json::json;

use super::session;
use crate::audit;
use crate::auth::{new_token, token_hash};
use crate::bus::BusMessage;
use crate::context::{ConnState, Session, Shared};
use crate::errors::{from_store, internal, invalid, rate_limited, unauthenticated};
use crate::hub::Member;
use crate::stats::bump;
use crate::throttle::address_key;

/// The one message for a failed login, whichever part was wrong.
const WRONG_CREDENTIALS: &str = "wrong username or password";

/// `register`: validates, takes one of the address's registrations
/// (`rate_limited` + `retry_after_ms` when none is left), hashes the
/// password, creates a `user` account. Does not log in.
pub(super) async fn register(
    shared: &Shared,
    conn: &ConnState,
    request: &Register,
) -> Result<RegisterData, ErrorBody> {
    let Register {
        username,
        password,
        email,
    } = request;
    validate::username(username).map_err(|m| invalid("username", m))?;
    validate::password(password).map_err(|m| invalid("password", m))?;
    validate::email(email).map_err(|m| invalid("email", m))?;
    let address = address_key(conn.peer.ip()).to_string();
    if let Err(wait) = shared.registrations.try_take(&address, Instant::now()) {
        bump(&shared.counters.registrations_rate_limited);
        let (per_hour, burst) = shared.registrations.rule();
        return Err(rate_limited(
            format!(
                "too many new accounts from your address: at most {per_hour} per hour \
                 (bursts of {burst}); wait and try again"
            ),
            wait,
        ));
    }
    let password_hash = shared.passwords.hash(password).await?;
    let user = shared
        .store
        .create_user(NewUser {
            username: username.to_owned(),
            email: email.to_owned(),
            password_hash,
            role: Role::User,
            created_at: coliseum_store::now(),
        })
        .await
        .map_err(from_store)?;
    audit::record(
        &*shared.store,
        Some(&user.username),
        "register",
        json!({ "user_id": user.id }),
    )
    .await;
    Ok(RegisterData { user_id: user.id })
}

/// `login`: verifies the password (an unknown username costs the same and
/// answers the same), stores a new session and attaches it.
pub(super) async fn login(
    shared: &Shared,
    conn: &mut ConnState,
    request: &Login,
) -> Result<SessionData, ErrorBody> {
    let Login { username, password } = request;
    // A name that breaks the rules cannot exist: skip the lookup, keep the
    // cost, and key the back-off by address only.
    let account = validate::username(username)
        .is_ok()
        .then(|| username.to_ascii_lowercase());
    admit_password_check(shared, conn, account.as_deref()).await?;
    let user = if account.is_some() {
        shared
            .store
            .user_by_username(username)
            .await
            .map_err(from_store)?
    } else {
        None
    };
    let password_ok = validate::password(password).is_ok();
    let phc = user.as_ref().map(|u| u.password_hash.as_str());
    let matched = shared.passwords.verify(password, phc).await? && password_ok;
    let Some(user) = user.filter(|_| matched) else {
        tracing::info!(target: "audit", action = "login_failed", peer = %conn.peer);
        password_check_failed(shared, conn, account.as_deref()).await?;
        return Err(unauthenticated(WRONG_CREDENTIALS));
    };
    if let Some(account) = &account {
        shared.throttle.succeeded(account);
        shared.hub.relay(BusMessage::LoginSucceeded {
            account: account.clone(),
        });
        if let Some(failures) = shared.failures.as_ref() {
            let (failures, account) = (Arc::clone(failures), account.clone());
            tokio::spawn(async move { failures.succeeded(&account).await });
        }
    }
    refuse_banned(&user)?;
    load_rooms(shared, &user).await?;
    let (token, token_hash) = new_token()?;
    let expires_at = store_session(shared, &user.id, &token_hash).await?;
    attach(shared, conn, &user, token_hash, expires_at);
    audit::record(
        &*shared.store,
        Some(&user.username),
        "login",
        json!({ "user_id": user.id, "peer": conn.peer.to_string() }),
    )
    .await;
    Ok(session_data(user, token))
}

/// `resume`: re-attaches the session of `token` to this connection.
pub(super) async fn resume(
    shared: &Shared,
    conn: &mut ConnState,
    Resume { token }: &Resume,
) -> Result<SessionData, ErrorBody> {
    let token_hash = token_hash(token);
    let SessionUser { user, expires_at } = shared
        .store
        .session(&token_hash, Utc::now())
        .await
        .map_err(from_store)?
        .ok_or_else(|| unauthenticated("session expired or revoked: log in again"))?;
    refuse_banned(&user)?;
    load_rooms(shared, &user).await?;
    attach(shared, conn, &user, token_hash, expires_at);
    tracing::info!(user = %user.username, peer = %conn.peer, "session resumed");
    Ok(session_data(user, token.to_owned()))
}

/// `logout`: deletes the session (its token stops working) and detaches it;
/// the connection stays open, anonymous. Other live connections that
/// resumed the same token are signed off too (`crate::sessions`).
pub(super) async fn logout(
    shared: &Shared,
    conn: &mut ConnState,
    _: &Logout,
) -> Result<Empty, ErrorBody> {
    let current = session(conn)?;
    shared
        .store
        .delete_session(&current.token_hash)
        .await
        .map_err(from_store)?;
    let username = current.username.clone();
    let signed_off = shared
        .live
        .revoke_token_everywhere(&shared.hub, &current.token_hash, conn.id);
    if signed_off > 0 {
        tracing::info!(user = %username, signed_off, "logout: other connections on the token signed off");
    }
    conn.session = None;
    shared.live.detach(&shared.hub, conn.id);
    audit::record(&*shared.store, Some(&username), "logout", json!({})).await;
    Ok(Empty {})
}

/// `update_account`: needs the current password. A new password revokes
/// every session of the account, this connection's token included (whoever
/// stole it loses access); this connection moves to a fresh token, returned
/// in the answer's `token`, so it stays logged in and can `resume` with the
/// new token, while live connections on any other token are signed off.
pub(super) async fn update_account(
    shared: &Shared,
    conn: &mut ConnState,
    request: &UpdateAccount,
) -> Result<AccountData, ErrorBody> {
    let current_password = request.current_password.as_str();
    let new_username = request.new_username.as_deref();
    let new_password = request.new_password.as_deref();
    let new_email = request.new_email.as_deref();
    let current = session(conn)?.clone();
    if let Some(name) = new_username {
        validate::username(name).map_err(|m| invalid("new_username", m))?;
    }
    if let Some(password) = new_password {
        validate::password(password).map_err(|m| invalid("new_password", m))?;
    }
    if let Some(email) = new_email {
        validate::email(email).map_err(|m| invalid("new_email", m))?;
    }
    let user = shared
        .store
        .user_by_id(&current.user_id)
        .await
        .map_err(from_store)?
        .ok_or_else(|| unauthenticated("this account no longer exists"))?;
    let account = user.username.to_ascii_lowercase();
    admit_password_check(shared, conn, Some(&account)).await?;
    if !shared
        .passwords
        .verify(current_password, Some(&user.password_hash))
        .await?
    {
        password_check_failed(shared, conn, Some(&account)).await?;
        return Err(unauthenticated("wrong current password").with_field("current_password"));
    }
    let password_hash = match new_password {
        Some(password) => Some(shared.passwords.hash(password).await?),
        None => None,
    };
    let password_changed = password_hash.is_some();
    let updated = shared
        .store
        .update_user(
            &user.id,
            UserUpdate {
                username: new_username.map(str::to_owned),
                email: new_email.map(str::to_owned),
                password_hash,
                role: None,
            },
        )
        .await
        .map_err(|err| match err {
            // Name the request's field, as for validation errors.
            StoreError::Conflict(field) => {
                from_store(StoreError::Conflict(field.clone())).with_field(format!("new_{field}"))
            }
            other => from_store(other),
        })?;
    let rotated = if password_changed {
        let revoked = shared
            .store
            .delete_user_sessions(&user.id)
            .await
            .map_err(from_store)?;
        let (token, token_hash) = new_token()?;
        let expires_at = store_session(shared, &user.id, &token_hash).await?;
        // This connection moves to the new token first, so that signing
        // off every other token of the account (the old one included)
        // spares it.
        let member = Member {
            user_id: user.id.clone(),
            username: current.username.clone(),
        };
        shared
            .live
            .attach(&shared.hub, conn.id, member, &token_hash);
        let signed_off = shared
            .live
            .revoke_user_everywhere(&shared.hub, &user.id, &token_hash);
        if let Some(session) = conn.session.as_mut() {
            session.token_hash = token_hash;
            session.expires_at = expires_at;
        }
        tracing::info!(user = %updated.username, revoked, signed_off, "password changed: every session revoked, this connection on a new token");
        Some(token)
    } else {
        None
    };
    if updated.username != current.username {
        shared.hub.rename(&user.id, &updated.username);
    }
    if let Some(session) = conn.session.as_mut() {
        session.username.clone_from(&updated.username);
        session.email.clone_from(&updated.email);
    }
    audit::record(
        &*shared.store,
        Some(&updated.username),
        "update_account",
        json!({
            "user_id": user.id,
            "username_changed": updated.username != user.username,
            "email_changed": updated.email != user.email,
            "password_changed": password_changed,
        }),
    )
    .await;
    Ok(AccountData {
        username: updated.username,
        email: updated.email,
        token: rotated,
    })
}

/// `too_many_attempts` when this connection has failed `per_connection`
/// password checks (the brief: three tries); the connection closes after
/// this reply.
fn strike_out(shared: &Shared, conn: &mut ConnState) -> Result<(), ErrorBody> {
    let limit = shared.config.login_throttle.per_connection.max(1);
    if conn.failed_password_checks < limit {
        return Ok(());
    }
    conn.close_after_reply = true;
    bump(&shared.counters.too_many_attempts);
    tracing::info!(target: "audit", action = "too_many_attempts", peer = %conn.peer);
    Err(ErrorBody::new(
        ErrorCode::TooManyAttempts,
        format!("{limit} failed attempts on this connection: it is closed; reconnect to try again"),
    ))
}

/// Refuses a password check before it is evaluated: `too_many_attempts`
/// if the connection has already struck out ([`strike_out`]; it is closed
/// after that reply, so this is a safety net); `rate_limited` with
/// `retry_after_ms` while `account` (lower-cased username, `None` if it
/// cannot exist) or the peer's address is backing off.
async fn admit_password_check(
    shared: &Shared,
    conn: &mut ConnState,
    account: Option<&str>,
) -> Result<(), ErrorBody> {
    strike_out(shared, conn)?;
    let mut wait = shared
        .throttle
        .wait(conn.peer.ip(), account, Instant::now());
    // Several instances: the failures every instance counted (bounded wait).
    if let Some(failures) = shared.failures.as_ref() {
        wait = wait.max(failures.wait(conn.peer.ip(), account).await);
    }
    if !wait.is_zero() {
        bump(&shared.counters.logins_rate_limited);
        // Refusals are cheap to provoke: debug only, so they cannot flood
        // the log (they are counted in ServerStats).
        tracing::debug!(target: "audit", action = "login_rate_limited", peer = %conn.peer, ?wait);
        return Err(rate_limited(
            "too many failed logins for this account or from this address: wait and try again",
            wait,
        ));
    }
    Ok(())
}

/// Counts a failed password check on the connection, the account and the
/// address; `Err(too_many_attempts)` when it was the connection's last
/// allowed one ([`strike_out`]). With several instances the failure is
/// also counted in the store before the reply (`crate::failures`).
async fn password_check_failed(
    shared: &Shared,
    conn: &mut ConnState,
    account: Option<&str>,
) -> Result<(), ErrorBody> {
    conn.failed_password_checks = conn.failed_password_checks.saturating_add(1);
    shared
        .throttle
        .failed(conn.peer.ip(), account, Instant::now());
    shared.hub.relay(BusMessage::LoginFailed {
        address: conn.peer.ip(),
        account: account.map(str::to_owned),
    });
    if let Some(failures) = shared.failures.as_ref() {
        failures.failed(conn.peer.ip(), account).await;
    }
    strike_out(shared, conn)
}

/// Stores a session of `user_id` valid for `session_ttl` from now;
/// returns its expiry.
async fn store_session(
    shared: &Shared,
    user_id: &str,
    token_hash: &str,
) -> Result<DateTime<Utc>, ErrorBody> {
    let ttl = chrono::Duration::from_std(shared.config.session_ttl)
        .map_err(|e| internal("session expiry", e))?;
    let expires_at = coliseum_store::now() + ttl;
    shared
        .store
        .create_session(SessionRecord {
            token_hash: token_hash.to_owned(),
            user_id: user_id.to_owned(),
            expires_at,
        })
        .await
        .map_err(from_store)?;
    Ok(expires_at)
}

/// `forbidden` while the account is banned (rooms issue: `ban`), saying
/// until when. Checked only after the password matched, so a ban tells
/// nothing to someone guessing passwords.
fn refuse_banned(user: &User) -> Result<(), ErrorBody> {
    let now = Utc::now();
    match user.banned_until {
        Some(until) if user.banned_at(now) => {
            let message = if until == coliseum_store::BAN_FOREVER {
                "this account is banned".to_owned()
            } else {
                format!(
                    "this account is banned until {}",
                    until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )
            };
            Err(ErrorBody::new(ErrorCode::Forbidden, message))
        }
        _ => Ok(()),
    }
}

/// Loads the user's rooms into the hub before the session is attached, so
/// that the connection gets their pushes from its first moment.
async fn load_rooms(shared: &Shared, user: &User) -> Result<(), ErrorBody> {
    let rooms = shared
        .store
        .rooms_of_user(&user.id)
        .await
        .map_err(from_store)?;
    shared.hub.set_rooms(&user.id, rooms);
    Ok(())
}

/// Makes `user` this connection's session (replacing any other) and tells
/// the hub, which announces the user if this is their first session, and
/// the live-session registry, so that revoking the token ends it here.
fn attach(
    shared: &Shared,
    conn: &mut ConnState,
    user: &User,
    token_hash: String,
    expires_at: DateTime<Utc>,
) {
    let member = Member {
        user_id: user.id.clone(),
        username: user.username.clone(),
    };
    shared
        .live
        .attach(&shared.hub, conn.id, member, &token_hash);
    conn.session = Some(Session {
        user_id: user.id.clone(),
        username: user.username.clone(),
        email: user.email.clone(),
        role: user.role,
        token_hash,
        expires_at,
    });
}

fn session_data(user: User, token: String) -> SessionData {
    SessionData {
        user_id: user.id,
        username: user.username,
        email: user.email,
        role: user.role,
        token,
    }
}
