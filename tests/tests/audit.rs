//! Every state change lands in the store's audit log with its actor, and
//! no secret (password, token) is ever written there.

use coliseum_tests::{ADMIN, PASSWORD, start_server};

#[tokio::test]
async fn every_change_is_audited_without_secrets() {
    let server = start_server().await;
    let (admin, _admin_pushes, _) = server.admin().await;
    let event = admin
        .create_event("Audited", "2027-05-05", "Hall", 10, None)
        .await
        .expect("create");
    let (client, _pushes, session) = server.user("auditee").await;
    let ticket = client.book(&event.id, 2, None).await.expect("book");
    client.cancel_ticket(&ticket.id).await.expect("cancel");
    client
        .update_account(PASSWORD, None, Some("another password"), None)
        .await
        .expect("update");
    client.logout().await.expect("logout");

    let log = server.store().recent_audit(100).await.expect("audit log");
    let actions: Vec<(Option<&str>, &str)> = log
        .iter()
        .map(|e| (e.actor.as_deref(), e.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            (None, "admin_add"),
            (Some(ADMIN), "login"),
            (Some(ADMIN), "create_event"),
            (Some("auditee"), "register"),
            (Some("auditee"), "login"),
            (Some("auditee"), "book"),
            (Some("auditee"), "cancel_ticket"),
            (Some("auditee"), "update_account"),
            (Some("auditee"), "logout"),
        ]
    );
    for entry in &log {
        for secret in [PASSWORD, "another password", session.token.as_str()] {
            assert!(!entry.detail.contains(secret), "{entry:?}");
        }
    }
    let book = log.iter().find(|e| e.action == "book").expect("book entry");
    let detail: serde_json::Value = serde_json::from_str(&book.detail).expect("JSON detail");
    assert_eq!(
        detail,
        serde_json::json!({"event_id": event.id, "ticket_id": ticket.id, "quantity": 2})
    );
}
