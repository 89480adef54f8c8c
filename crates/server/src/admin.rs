//! `coliseum-server admin add`: the only way an account becomes an admin
//! (issue: "No account becomes admin any other way").

use coliseum_protocol::{Role, validate};
use coliseum_store::{NewUser, Store, UserUpdate};
use serde_json::json;

use crate::{audit, auth};

/// What [`add_admin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminOutcome {
    /// A new account was created with role `admin`.
    Created,
    /// An existing account was made `admin` and given the new password.
    Promoted,
}

/// E-mail given to a new admin account created without `--email`: the
/// `.invalid` top-level domain is reserved and never delivers.
#[must_use]
pub fn placeholder_email(username: &str) -> String {
    format!("{username}@coliseum.invalid")
}

/// Creates `username` as an admin, or promotes the existing account (and
/// sets `password`, and `email` when given). Inputs follow the same rules as
/// `register` (`coliseum_protocol::validate`); a new account without
/// `email` gets [`placeholder_email`]. Writes an `admin_add` audit entry.
///
/// # Errors
/// A sentence for people: which rule is broken, or what the store said.
pub async fn add_admin(
    store: &dyn Store,
    username: &str,
    password: &str,
    email: Option<&str>,
) -> Result<AdminOutcome, String> {
    validate::username(username)?;
    validate::password(password)?;
    if let Some(email) = email {
        validate::email(email)?;
    }
    let owned = password.to_owned();
    let password_hash = tokio::task::spawn_blocking(move || auth::hash_blocking(&owned))
        .await
        .map_err(|e| format!("password hashing failed: {e}"))??;
    let existing = store
        .user_by_username(username)
        .await
        .map_err(|e| e.to_string())?;
    let (user, outcome) = match existing {
        Some(user) => {
            let user = store
                .update_user(
                    &user.id,
                    UserUpdate {
                        username: None,
                        email: email.map(str::to_owned),
                        password_hash: Some(password_hash),
                        role: Some(Role::Admin),
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            (user, AdminOutcome::Promoted)
        }
        None => {
            let user = store
                .create_user(NewUser {
                    username: username.to_owned(),
                    email: email.map_or_else(|| placeholder_email(username), str::to_owned),
                    password_hash,
                    role: Role::Admin,
                    created_at: coliseum_store::now(),
                })
                .await
                .map_err(|e| e.to_string())?;
            (user, AdminOutcome::Created)
        }
    };
    let what = match outcome {
        AdminOutcome::Created => "created",
        AdminOutcome::Promoted => "promoted",
    };
    audit::record(
        store,
        None,
        "admin_add",
        json!({ "user_id": user.id, "username": user.username, "outcome": what }),
    )
    .await;
    Ok(outcome)
}

/// Makes the existing account `username` door staff (ticketing issue:
/// `coliseum-server admin add-staff`): it may then `check_in` tickets and
/// list `attendees`. An admin stays admin (admins can do both already).
/// Writes an `admin_add_staff` audit entry.
///
/// # Errors
/// A sentence for people: no such account, or what the store said.
pub async fn add_staff(store: &dyn Store, username: &str) -> Result<StaffOutcome, String> {
    validate::username(username)?;
    let user = store
        .user_by_username(username)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "no account named {username}: the member registers first, then you make them staff"
            )
        })?;
    let outcome = match user.role {
        Role::Admin => return Ok(StaffOutcome::AlreadyAdmin),
        Role::Staff => StaffOutcome::AlreadyStaff,
        Role::User => {
            store
                .update_user(
                    &user.id,
                    UserUpdate {
                        role: Some(Role::Staff),
                        ..UserUpdate::default()
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            StaffOutcome::Granted
        }
    };
    audit::record(
        store,
        None,
        "admin_add_staff",
        json!({ "user_id": user.id, "username": user.username }),
    )
    .await;
    Ok(outcome)
}

/// What [`add_staff`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffOutcome {
    /// The member is staff now (their next login carries the role).
    Granted,
    /// They were staff already; nothing changed.
    AlreadyStaff,
    /// They are an admin, which includes what staff may do; nothing changed.
    AlreadyAdmin,
}
