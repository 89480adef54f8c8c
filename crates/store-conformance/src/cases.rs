//! The cases, one `pub async fn name(store: TestStore)` each. Every case
//! creates its own uniquely named records, asserts on them and ends with
//! `close()`. [`conformance_suite!`](crate::conformance_suite) runs them all.

mod accounts;
mod booking;
mod chat;
mod concurrency;
mod events;
mod rooms;
mod ticketing;

pub use accounts::{
    duplicate_email_conflicts_case_insensitively, duplicate_username_conflicts_case_insensitively,
    login_failures_count_start_over_and_clear, malformed_and_unknown_ids_are_not_found,
    sessions_lifecycle_and_expiry, update_user_fields_conflicts_and_not_found,
    users_create_and_lookup,
};
pub use booking::{
    book_limit_exceeded_reports_held, book_sold_out_reports_available_and_changes_nothing,
    book_success_decrements_and_returns_ticket, book_unknown_event_is_not_found,
    booking_writes_its_audit_record, cancel_returns_seats_once_and_only_for_owner,
    request_key_replay_is_idempotent_per_user, tickets_for_user_newest_first_own_and_active_only,
};
pub use chat::{
    audit_append_and_recent_order, chat_history_pages_oldest_first, chat_sequence_numbers_per_room,
};
pub use concurrency::{
    concurrent_bookings_never_oversell, concurrent_bookings_respect_user_limit,
    concurrent_cancel_and_book_keep_seats_consistent, concurrent_chat_appends_are_gap_free,
    concurrent_login_failures_each_count, concurrent_message_batches_keep_their_order,
};
pub use events::{events_create_list_order_and_lookup, seed_events_only_when_empty};
pub use rooms::{
    direct_room_is_created_once_under_concurrency, edits_deletions_and_their_rights,
    memberships_join_leave_and_lobby, mutes_slow_mode_and_bans_are_stored,
    read_markers_and_unread_counts, room_create_owner_and_conflict,
    room_members_are_ordered_by_role_then_name, rooms_lobby_and_event_rooms_exist_without_creation,
    system_messages_have_no_sender, unread_counts_with_concurrent_writers,
};
pub use ticketing::{
    cancel_event_during_a_booking_surge, cancel_event_refunds_everything_and_closes_it,
    double_check_in_race_has_one_winner, offer_accept_rules,
    offers_lapse_and_pass_on_after_a_restart, returned_seats_are_offered_first_fit_in_join_order,
    returned_seats_race_with_a_waiting_list, started_events_are_closed_but_check_in_works,
    update_event_fields_and_capacity_floor, waitlist_join_rules_and_positions,
};
