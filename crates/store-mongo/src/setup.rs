//! Start-up: client options, the reachability check, what the deployment
//! supports, and the indexes.

use mongodb::bson::{Document, doc};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Database, IndexModel};

use crate::model::names;

/// Builds the driver options from the URI, with 90 % of `timeout` bounding
/// server selection and connecting (it overrides `serverSelectionTimeoutMS`
/// and `connectTimeoutMS` given in the URI).
///
/// # Errors
/// The driver's error for a malformed URI (or a failed `mongodb+srv` lookup).
pub(crate) async fn client_options(
    uri: &str,
    timeout: std::time::Duration,
) -> mongodb::error::Result<ClientOptions> {
    let mut options = ClientOptions::parse(uri).await?;
    // 90 %: the driver's own error (which says why: refused, unknown host,
    // too old a server, ...) then usually arrives before the store's outer
    // deadline of `timeout` cuts the wait with a generic message.
    let driver_timeout = timeout * 9 / 10;
    options.server_selection_timeout = Some(driver_timeout);
    options.connect_timeout = Some(driver_timeout);
    if options.app_name.is_none() {
        options.app_name = Some("coliseum-server".to_owned());
    }
    Ok(options)
}

/// Asks the server what it is: `hello`, or the legacy `isMaster` for servers
/// that do not know `hello` (mongo-java-server).
///
/// # Errors
/// The driver's error when neither command answers.
pub(crate) async fn describe_server(client: &Client) -> mongodb::error::Result<Document> {
    let admin = client.database("admin");
    match admin.run_command(doc! { "hello": 1 }).await {
        Ok(reply) => Ok(reply),
        Err(error) if crate::error::is_unavailable(&error) => Err(error),
        Err(_) => admin.run_command(doc! { "isMaster": 1 }).await,
    }
}

/// An index on `keys` named `name`, unique when `unique`, sparse when `sparse`.
fn index(keys: Document, name: &str, unique: bool, sparse: bool) -> IndexModel {
    let options = IndexOptions::builder()
        .name(name.to_owned())
        .unique(unique.then_some(true))
        .sparse(sparse.then_some(true))
        .build();
    IndexModel::builder().keys(keys).options(options).build()
}

/// Creates every index (idempotent: existing identical indexes are kept).
///
/// # Errors
/// The driver's error, e.g. when existing data violates a unique index.
pub(crate) async fn create_indexes(db: &Database) -> mongodb::error::Result<()> {
    let users = db.collection::<Document>(names::USERS);
    users
        .create_indexes([
            index(
                doc! { "username_lc": 1 },
                names::USERNAME_INDEX,
                true,
                false,
            ),
            index(doc! { "email_lc": 1 }, names::EMAIL_INDEX, true, false),
        ])
        .await?;
    db.collection::<Document>(names::SESSIONS)
        .create_index(index(doc! { "user_id": 1 }, "user_id", false, false))
        .await?;
    // Counts idle for a day go by themselves (see `logins.rs`).
    db.collection::<Document>(names::LOGIN_FAILURES)
        .create_index(
            IndexModel::builder()
                .keys(doc! { "last": 1 })
                .options(
                    IndexOptions::builder()
                        .name("last_ttl".to_owned())
                        .expire_after(crate::logins::KEPT)
                        .build(),
                )
                .build(),
        )
        .await?;
    db.collection::<Document>(names::EVENTS)
        .create_indexes([
            index(
                doc! { "date": 1, "name": 1, "_id": 1 },
                "date_name",
                false,
                false,
            ),
            index(doc! { "holds.t": 1 }, "holds", false, true),
            index(doc! { "releases.t": 1 }, "releases", false, true),
            // The waiting list inside the event: by member, by offer, and
            // by expiry for the sweeper.
            index(doc! { "waitlist.user_id": 1 }, "waitlist_user", false, true),
            index(
                doc! { "waitlist.offer_id": 1 },
                "waitlist_offer",
                false,
                true,
            ),
            index(
                doc! { "waitlist.expires_at": 1 },
                "waitlist_expiry",
                false,
                true,
            ),
            // Cancellations whose ticket sweep has not finished.
            index(doc! { "sweep": 1 }, "sweep", false, true),
        ])
        .await?;
    // Recovery looks for documents with markers (see `recovery.rs`).
    db.collection::<Document>(names::HOLDINGS)
        .create_indexes([
            index(doc! { "holds.t": 1 }, "holds", false, true),
            index(doc! { "releases.t": 1 }, "releases", false, true),
        ])
        .await?;
    db.collection::<Document>(names::TICKETS)
        .create_indexes([
            index(
                doc! { "user_id": 1, "event_id": 1 },
                "user_event",
                false,
                false,
            ),
            index(
                doc! { "user_id": 1, "status": 1, "booked_at": -1 },
                "user_status_booked",
                false,
                false,
            ),
            index(doc! { "request_ref": 1 }, names::REQUEST_INDEX, true, true),
            index(
                doc! { "status": 1, "since": 1 },
                "status_since",
                false,
                false,
            ),
            // Attendees and the sweep of a cancelled event.
            index(
                doc! { "event_id": 1, "status": 1 },
                "event_status",
                false,
                false,
            ),
        ])
        .await?;
    db.collection::<Document>(names::MESSAGES)
        .create_index(index(
            doc! { "room": 1, "seq": 1 },
            "room_seq_unique",
            true,
            false,
        ))
        .await?;
    // Rooms: one direct room per pair; public rooms are listed by name.
    db.collection::<Document>(names::ROOMS)
        .create_indexes([
            index(doc! { "direct_key": 1 }, names::DIRECT_INDEX, true, true),
            index(doc! { "kind": 1, "_id": 1 }, "kind_name", false, false),
        ])
        .await?;
    db.collection::<Document>(names::MEMBERSHIPS)
        .create_indexes([
            index(
                doc! { "room": 1, "user_id": 1 },
                "room_user_unique",
                true,
                false,
            ),
            index(doc! { "user_id": 1, "room": 1 }, "user_room", false, false),
        ])
        .await?;
    db.collection::<Document>(names::MUTES)
        .create_index(index(
            doc! { "room": 1, "user_id": 1 },
            "room_user_unique",
            true,
            false,
        ))
        .await?;
    db.collection::<Document>(names::AUDIT)
        .create_index(index(doc! { "at": -1, "_id": -1 }, "at_id", false, false))
        .await?;
    Ok(())
}
