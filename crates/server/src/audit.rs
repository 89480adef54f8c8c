//! The audit log: every state change is recorded with time, user and
//! action, in the store ([`coliseum_store::Store::append_audit`]) and on the
//! `audit` tracing target. Details carry ids and quantities, never
//! passwords or tokens.

use coliseum_store::{AuditEntry, Store};
use serde_json::Value;

/// Records `action` by `actor` (`None` for system actions). A failure to
/// write the store's log is itself logged but does not fail the request:
/// the change it describes has already happened.
pub(crate) async fn record(store: &dyn Store, actor: Option<&str>, action: &str, detail: Value) {
    let detail = detail.to_string();
    trace(actor, action, &detail);
    let entry = AuditEntry {
        at: coliseum_store::now(),
        actor: actor.map(str::to_owned),
        action: action.to_owned(),
        detail,
    };
    if let Err(err) = store.append_audit(entry).await {
        tracing::warn!(%err, action, "could not write the audit log");
    }
}

/// Writes an audit record to the `audit` tracing target only, for changes
/// whose store record the store writes itself (a booking's, in the
/// booking's own transaction: [`coliseum_store::BookingRequest::audit_actor`]).
pub(crate) fn trace(actor: Option<&str>, action: &str, detail: &str) {
    tracing::info!(target: "audit", actor = actor.unwrap_or("-"), action, %detail);
}
