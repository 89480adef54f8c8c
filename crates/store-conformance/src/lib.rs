//! The behaviour every Coliseum [`Store`](coliseum_store::Store) must show,
//! as one test suite any backend runs unchanged.
//!
//! # Use
//! In a backend's integration test (the calling crate needs `tokio` with the
//! `macros` and `rt-multi-thread` features as a dependency):
//!
//! ```ignore
//! async fn fresh_store() -> Option<coliseum_store_conformance::TestStore> {
//!     let dir = tempfile::tempdir().expect("temp dir");
//!     let store = coliseum_store::SqliteStore::open(dir.path()).expect("open");
//!     let path = dir.path().to_owned();
//!     Some(coliseum_store_conformance::TestStore {
//!         store: std::sync::Arc::new(store),
//!         guard: Box::new(dir),
//!         // Opens the same data again, as a restarted server would.
//!         reopen: Some(Box::new(move || {
//!             let path = path.clone();
//!             Box::pin(async move {
//!                 let store = coliseum_store::SqliteStore::open(&path).expect("reopen");
//!                 std::sync::Arc::new(store) as std::sync::Arc<dyn coliseum_store::Store>
//!             })
//!         })),
//!     })
//! }
//! coliseum_store_conformance::conformance_suite!(fresh_store);
//! ```
//!
//! # The factory's contract
//! - Every call returns a **fresh, empty** store (no users, events, tickets,
//!   messages or audit entries), e.g. a new temporary directory or a new,
//!   uniquely named MongoDB database; its `guard` is dropped after the case
//!   (delete the directory / drop the database there). Cases run in
//!   parallel, each on its own store. Most cases would also pass on a shared
//!   store (they use unique names and only look at their own records), but
//!   `seed_events_only_when_empty` cannot, and the suite relies on fresh
//!   stores.
//! - `None` means "this backend is not available here" (e.g. no MongoDB
//!   URI configured): the case prints that it was skipped and passes. The
//!   factory should print why.
//!
//! - `reopen`, when given, opens a second store on the same data, as a
//!   server restarted on it would; cases that test what survives a restart
//!   close the first store, reopen, and go on with the new one. Without it
//!   they run the same steps on the first store (weaker: say why in the
//!   factory).
//!
//! Every case ends by calling `close()` and expects `Ok`.
//!
//! # Layout
//! - this file: [`TestStore`], [`conformance_suite!`], [`run_case`];
//! - [`cases`]: one `pub async fn` per case, grouped by area;
//! - `support.rs`: unique names and record builders shared by the cases.

pub mod cases;
mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Opens another store on the data of the store under test (see
/// [`TestStore::reopen`]).
pub type Reopen = Box<
    dyn Fn() -> Pin<Box<dyn Future<Output = Arc<dyn coliseum_store::Store>> + Send>> + Send + Sync,
>;

/// A store under test plus whatever must live as long as it (temp dir, test
/// database guard). Fields drop in order: the store first, then the guard.
pub struct TestStore {
    /// The store every case drives, only through the `Store` trait.
    pub store: Arc<dyn coliseum_store::Store>,
    /// Kept alive until the case ends, then dropped (e.g. a
    /// `tempfile::TempDir`, or a value whose `Drop` removes a test database).
    pub guard: Box<dyn std::any::Any + Send>,
    /// Opens a second store on the same data (a restart), for the cases
    /// about what survives one; `None` when the backend cannot.
    pub reopen: Option<Reopen>,
}

/// Longest a single case may take before it fails (the concurrency cases on
/// a slow shared CI machine take a few seconds).
pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs one case: awaits the factory, skips (with a message) on `None`,
/// otherwise runs `case` and fails the test if it takes longer than
/// [`CASE_TIMEOUT`]. Used by [`conformance_suite!`]; public only for it.
///
/// # Panics
/// When the case fails (its assertions panic) or times out.
pub async fn run_case<F, C, Fut>(name: &str, factory: F, case: C)
where
    F: Future<Output = Option<TestStore>>,
    C: FnOnce(TestStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(store) = factory.await else {
        eprintln!("skipping conformance case {name}: the store factory returned None");
        return;
    };
    if tokio::time::timeout(CASE_TIMEOUT, case(store))
        .await
        .is_err()
    {
        panic!("conformance case {name} did not finish within {CASE_TIMEOUT:?}");
    }
}

/// Expands to one `#[tokio::test(flavor = "multi_thread", worker_threads =
/// 4)]` per case of [`cases`]; `$factory` is a path to
/// `async fn() -> Option<TestStore>` returning a fresh, empty store (see the
/// crate docs). `None` means "backend not available here": the test prints
/// why and returns.
#[macro_export]
macro_rules! conformance_suite {
    ($factory:path) => {
        $crate::__conformance_cases!(
            $factory;
            users_create_and_lookup,
            duplicate_username_conflicts_case_insensitively,
            duplicate_email_conflicts_case_insensitively,
            update_user_fields_conflicts_and_not_found,
            sessions_lifecycle_and_expiry,
            login_failures_count_start_over_and_clear,
            malformed_and_unknown_ids_are_not_found,
            events_create_list_order_and_lookup,
            seed_events_only_when_empty,
            book_success_decrements_and_returns_ticket,
            book_sold_out_reports_available_and_changes_nothing,
            book_limit_exceeded_reports_held,
            book_unknown_event_is_not_found,
            booking_writes_its_audit_record,
            request_key_replay_is_idempotent_per_user,
            tickets_for_user_newest_first_own_and_active_only,
            cancel_returns_seats_once_and_only_for_owner,
            chat_sequence_numbers_per_room,
            chat_history_pages_oldest_first,
            audit_append_and_recent_order,
            concurrent_bookings_never_oversell,
            concurrent_bookings_respect_user_limit,
            concurrent_chat_appends_are_gap_free,
            concurrent_message_batches_keep_their_order,
            concurrent_login_failures_each_count,
            concurrent_cancel_and_book_keep_seats_consistent,
            rooms_lobby_and_event_rooms_exist_without_creation,
            room_create_owner_and_conflict,
            memberships_join_leave_and_lobby,
            room_members_are_ordered_by_role_then_name,
            direct_room_is_created_once_under_concurrency,
            read_markers_and_unread_counts,
            unread_counts_with_concurrent_writers,
            edits_deletions_and_their_rights,
            system_messages_have_no_sender,
            mutes_slow_mode_and_bans_are_stored,
            update_event_fields_and_capacity_floor,
            cancel_event_refunds_everything_and_closes_it,
            cancel_event_during_a_booking_surge,
            started_events_are_closed_but_check_in_works,
            waitlist_join_rules_and_positions,
            returned_seats_are_offered_first_fit_in_join_order,
            offer_accept_rules,
            offers_lapse_and_pass_on_after_a_restart,
            returned_seats_race_with_a_waiting_list,
            double_check_in_race_has_one_winner,
        );
    };
}

/// Implementation detail of [`conformance_suite!`]: one test per case name.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($factory:path; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::run_case(stringify!($case), $factory(), $crate::cases::$case).await;
            }
        )+
    };
}
