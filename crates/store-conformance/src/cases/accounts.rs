//! Users, sessions and id handling.

use std::time::Duration;

use coliseum_protocol::Role;
use coliseum_store::{SessionRecord, SessionUser, StoreError, UserUpdate};

use crate::TestStore;
use crate::support::{at, booking, finish, make_event, make_user, new_user, phc, unique};

/// Ids that name nothing on any backend: well-formed for one backend but
/// absent (decimal for SQLite, 24-hex ObjectIds for MongoDB) or malformed
/// for all. Stores must answer `None` / `NotFound` / empty, never an error.
pub(crate) const BOGUS_IDS: &[&str] = &[
    "9223372036854775807",
    "000000000000000000000000",
    "ffffffffffffffffffffffff",
    "",
    "abc",
    "-1",
    "0",
    "1.5",
    " 1",
    "0x10",
    "not an id",
    "99999999999999999999999999999",
    "\u{1F600}",
    "'; DROP TABLE users; --",
];

/// `create_user` returns the stored record; lookups by username (any case)
/// and by id find it; unknown usernames and ids give `None`.
pub async fn users_create_and_lookup(test: TestStore) {
    let store = test.store.as_ref();
    let name = unique("Mixed");
    let input = new_user(&name);
    let user = store.create_user(input.clone()).await.expect("create_user");
    assert!(!user.id.is_empty(), "ids are non-empty");
    assert_eq!(user.username, input.username, "username stored as given");
    assert_eq!(user.email, input.email);
    assert_eq!(user.password_hash, input.password_hash);
    assert_eq!(user.role, Role::User);
    assert_eq!(
        user.created_at, input.created_at,
        "created_at round-trips at ms precision"
    );

    let by_exact = store.user_by_username(&name).await.expect("lookup");
    assert_eq!(by_exact.as_ref(), Some(&user));
    let by_upper = store
        .user_by_username(&name.to_uppercase())
        .await
        .expect("lookup");
    assert_eq!(
        by_upper.as_ref(),
        Some(&user),
        "username lookup ignores case"
    );
    let by_lower = store
        .user_by_username(&name.to_lowercase())
        .await
        .expect("lookup");
    assert_eq!(
        by_lower.as_ref(),
        Some(&user),
        "username lookup ignores case"
    );
    let by_id = store.user_by_id(&user.id).await.expect("lookup by id");
    assert_eq!(by_id.as_ref(), Some(&user));

    let admin = store
        .create_user(coliseum_store::NewUser {
            role: Role::Admin,
            ..new_user(&unique("admin"))
        })
        .await
        .expect("create admin");
    assert_eq!(admin.role, Role::Admin);
    assert_ne!(admin.id, user.id, "ids are distinct");
    let admin_again = store.user_by_id(&admin.id).await.expect("lookup admin");
    assert_eq!(admin_again.map(|u| u.role), Some(Role::Admin));

    let missing = store
        .user_by_username(&unique("nobody"))
        .await
        .expect("lookup");
    assert_eq!(missing, None);
    for id in BOGUS_IDS {
        assert_eq!(
            store.user_by_id(id).await,
            Ok(None),
            "user_by_id({id:?}) must be Ok(None)"
        );
    }
    finish(test).await;
}

/// A username that differs only in case is taken: `Conflict("username")`,
/// and nothing is created.
pub async fn duplicate_username_conflicts_case_insensitively(test: TestStore) {
    let store = test.store.as_ref();
    let name = unique("dup");
    let first = store
        .create_user(new_user(&name))
        .await
        .expect("first user");
    let mut second = new_user(&name.to_uppercase());
    second.email = format!("{}@example.test", unique("other"));
    assert_eq!(
        store.create_user(second.clone()).await,
        Err(StoreError::Conflict("username".to_owned()))
    );
    let exact = coliseum_store::NewUser {
        username: name.clone(),
        ..second
    };
    assert_eq!(
        store.create_user(exact).await,
        Err(StoreError::Conflict("username".to_owned()))
    );
    assert_eq!(
        store.user_by_username(&name).await,
        Ok(Some(first)),
        "the original account is unchanged"
    );
    finish(test).await;
}

/// An e-mail that is taken (in any case) gives `Conflict("email")`.
pub async fn duplicate_email_conflicts_case_insensitively(test: TestStore) {
    let store = test.store.as_ref();
    let first = store
        .create_user(new_user(&unique("mail")))
        .await
        .expect("first user");
    let second_name = unique("mail");
    let mut same_email = new_user(&second_name);
    same_email.email = first.email.clone();
    assert_eq!(
        store.create_user(same_email.clone()).await,
        Err(StoreError::Conflict("email".to_owned()))
    );
    same_email.email = first.email.to_uppercase();
    assert_eq!(
        store.create_user(same_email).await,
        Err(StoreError::Conflict("email".to_owned())),
        "e-mails compare case-insensitively"
    );
    assert_eq!(
        store.user_by_username(&second_name).await,
        Ok(None),
        "a refused account is not created"
    );
    finish(test).await;
}

/// `update_user` changes exactly the `Some` fields, refuses taken usernames
/// and e-mails with `Conflict(field)` (changing nothing), allows re-casing
/// one's own username, and gives `NotFound` for unknown ids.
pub async fn update_user_fields_conflicts_and_not_found(test: TestStore) {
    let store = test.store.as_ref();
    let alice = make_user(store, "alice").await;
    let bob = make_user(store, "bob").await;

    let unchanged = store
        .update_user(&alice.id, UserUpdate::default())
        .await
        .expect("empty update");
    assert_eq!(unchanged, alice, "an empty update changes nothing");

    let new_name = unique("alicia");
    let renamed = store
        .update_user(
            &alice.id,
            UserUpdate {
                username: Some(new_name.clone()),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("rename");
    assert_eq!(renamed.username, new_name);
    assert_eq!(renamed.email, alice.email, "other fields untouched");
    assert_eq!(renamed.password_hash, alice.password_hash);
    assert_eq!(renamed.role, alice.role);
    assert_eq!(renamed.created_at, alice.created_at);
    assert_eq!(store.user_by_username(&alice.username).await, Ok(None));
    assert_eq!(
        store.user_by_username(&new_name).await,
        Ok(Some(renamed.clone()))
    );

    let recased = store
        .update_user(
            &alice.id,
            UserUpdate {
                username: Some(new_name.to_uppercase()),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("re-casing one's own username is not a conflict");
    assert_eq!(recased.username, new_name.to_uppercase());

    let email = format!("{}@example.test", unique("new"));
    let hash = phc("changed");
    let all = store
        .update_user(
            &alice.id,
            UserUpdate {
                username: None,
                email: Some(email.clone()),
                password_hash: Some(hash.clone()),
                role: Some(Role::Admin),
            },
        )
        .await
        .expect("update email, password, role");
    assert_eq!(all.email, email);
    assert_eq!(all.password_hash, hash);
    assert_eq!(all.role, Role::Admin);
    assert_eq!(all.username, recased.username);
    assert_eq!(store.user_by_id(&alice.id).await, Ok(Some(all.clone())));

    assert_eq!(
        store
            .update_user(
                &alice.id,
                UserUpdate {
                    username: Some(bob.username.to_lowercase()),
                    password_hash: Some(phc("should-not-stick")),
                    ..UserUpdate::default()
                },
            )
            .await,
        Err(StoreError::Conflict("username".to_owned()))
    );
    assert_eq!(
        store
            .update_user(
                &alice.id,
                UserUpdate {
                    email: Some(bob.email.to_uppercase()),
                    ..UserUpdate::default()
                },
            )
            .await,
        Err(StoreError::Conflict("email".to_owned()))
    );
    assert_eq!(
        store.user_by_id(&alice.id).await,
        Ok(Some(all)),
        "a refused update changes nothing"
    );
    assert_eq!(store.user_by_id(&bob.id).await, Ok(Some(bob)));

    for id in BOGUS_IDS {
        assert_eq!(
            store
                .update_user(
                    id,
                    UserUpdate {
                        role: Some(Role::Admin),
                        ..UserUpdate::default()
                    }
                )
                .await,
            Err(StoreError::NotFound),
            "update_user({id:?})"
        );
    }
    finish(test).await;
}

/// Sessions: found while unexpired (expired exactly at `expires_at`),
/// deleted one by one or all of a user's at once (with the count).
pub async fn sessions_lifecycle_and_expiry(test: TestStore) {
    let store = test.store.as_ref();
    let user = make_user(store, "sess").await;
    let other = make_user(store, "sess").await;
    let now = coliseum_store::now();
    let expires_at = now + Duration::from_secs(3600);
    let token = unique("tok-a");
    store
        .create_session(SessionRecord {
            token_hash: token.clone(),
            user_id: user.id.clone(),
            expires_at,
        })
        .await
        .expect("create_session");

    assert_eq!(
        store.session_user(&token, now).await,
        Ok(Some(user.clone()))
    );
    assert_eq!(
        store.session(&token, now).await,
        Ok(Some(SessionUser {
            user: user.clone(),
            expires_at,
        })),
        "the session comes back with its expiry"
    );
    let just_before = expires_at - Duration::from_millis(1);
    assert_eq!(
        store.session_user(&token, just_before).await,
        Ok(Some(user.clone())),
        "valid until the last millisecond"
    );
    assert_eq!(
        store.session_user(&token, expires_at).await,
        Ok(None),
        "expired at expires_at"
    );
    assert_eq!(
        store.session_user(&unique("tok-unknown"), now).await,
        Ok(None)
    );

    store.delete_session(&token).await.expect("delete_session");
    assert_eq!(store.session_user(&token, now).await, Ok(None));
    store
        .delete_session(&token)
        .await
        .expect("deleting an unknown session is Ok");

    let mut tokens = Vec::new();
    for _ in 0..3 {
        let token = unique("tok-m");
        store
            .create_session(SessionRecord {
                token_hash: token.clone(),
                user_id: user.id.clone(),
                expires_at,
            })
            .await
            .expect("create_session");
        tokens.push(token);
    }
    let others_token = unique("tok-o");
    store
        .create_session(SessionRecord {
            token_hash: others_token.clone(),
            user_id: other.id.clone(),
            expires_at,
        })
        .await
        .expect("create_session");

    assert_eq!(store.delete_user_sessions(&user.id).await, Ok(3));
    for token in &tokens {
        assert_eq!(store.session_user(token, now).await, Ok(None));
    }
    assert_eq!(
        store.session_user(&others_token, now).await,
        Ok(Some(other)),
        "another user's session survives"
    );
    assert_eq!(store.delete_user_sessions(&user.id).await, Ok(0));
    finish(test).await;
}

/// Every id-taking method answers unknown and malformed ids with `None`,
/// `NotFound`, an empty list or 0 — never another error, never a panic.
pub async fn malformed_and_unknown_ids_are_not_found(test: TestStore) {
    let store = test.store.as_ref();
    let user = make_user(store, "ids").await;
    let event = make_event(store, "ids-event ", 5, 5).await;
    for id in BOGUS_IDS {
        assert_eq!(store.user_by_id(id).await, Ok(None), "user_by_id({id:?})");
        assert_eq!(store.event(id).await, Ok(None), "event({id:?})");
        assert_eq!(
            store.tickets_for_user(id).await,
            Ok(Vec::new()),
            "tickets_for_user({id:?})"
        );
        assert_eq!(
            store.delete_user_sessions(id).await,
            Ok(0),
            "delete_user_sessions({id:?})"
        );
        assert_eq!(
            store.book(booking(&user, id, 1)).await,
            Err(StoreError::NotFound),
            "book(event {id:?})"
        );
        assert_eq!(
            crate::support::cancel(store, &user.id, id).await,
            Err(StoreError::NotFound),
            "cancel_ticket(ticket {id:?})"
        );
        assert_eq!(
            crate::support::cancel(store, id, id).await,
            Err(StoreError::NotFound),
            "cancel_ticket(user {id:?})"
        );
    }
    assert_eq!(
        store
            .event(&event.id)
            .await
            .expect("event")
            .map(|e| e.available),
        Some(5),
        "nothing was booked"
    );
    finish(test).await;
}

/// Failed logins: each `record_login_failure` counts one and returns the
/// count with the latest time; a failure more than `window` after the last
/// starts over at 1; `login_failures` returns only known keys, in the order
/// asked; `clear_login_failures` forgets one key (absent is fine).
pub async fn login_failures_count_start_over_and_clear(test: TestStore) {
    let store = test.store.as_ref();
    let window = Duration::from_secs(60);
    let (anna, address) = (unique("account:anna"), unique("address:10.0.0."));
    for n in 1..=3_u32 {
        let count = store
            .record_login_failure(&anna, at(i64::from(n) * 1000), window)
            .await
            .expect("record_login_failure");
        assert_eq!(count.failures, n, "each failure counts once");
        assert_eq!(
            count.last,
            at(i64::from(n) * 1000),
            "latest time kept exactly"
        );
    }
    // An older failure arriving late counts but does not move `last` back.
    let late = store
        .record_login_failure(&anna, at(500), window)
        .await
        .expect("record_login_failure");
    assert_eq!((late.failures, late.last), (4, at(3000)));
    store
        .record_login_failure(&address, at(0), window)
        .await
        .expect("record_login_failure");
    let unknown = unique("account:nobody");
    let found = store
        .login_failures(&[address.clone(), unknown.clone(), anna.clone()])
        .await
        .expect("login_failures");
    let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [address.as_str(), anna.as_str()],
        "known keys, in order"
    );
    assert_eq!(found[1].1.failures, 4);
    // Past the window after the latest failure: the count starts over.
    let again = store
        .record_login_failure(&anna, at(3000 + 60_001), window)
        .await
        .expect("record_login_failure");
    assert_eq!((again.failures, again.last), (1, at(63_001)), "starts over");
    // Clearing forgets only that key.
    store.clear_login_failures(&anna).await.expect("clear");
    store
        .clear_login_failures(&unknown)
        .await
        .expect("clear absent");
    let found = store
        .login_failures(&[anna.clone(), address.clone()])
        .await
        .expect("login_failures");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, address);
    assert_eq!(
        store.login_failures(&[]).await.expect("no keys"),
        Vec::new(),
        "no keys, nothing found"
    );
    finish(test).await;
}
