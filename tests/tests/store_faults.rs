//! A failing store: `unavailable` and `internal` reach the client with
//! their codes, the connection stays usable, and service resumes.

use coliseum_client::ClientError;
use coliseum_protocol::ErrorCode;
use coliseum_store::StoreError;
use coliseum_tests::{Options, code, start_server_with};

#[tokio::test]
async fn store_failures_map_to_unavailable_and_internal() {
    let server = start_server_with(Options {
        faulty: true,
        ..Options::default()
    })
    .await;
    let (client, _pushes, _) = server.user("patient").await;
    let event = client.list_events().await.expect("list").remove(0);

    server
        .faults()
        .set(Some(StoreError::Unavailable("connection refused".into())));
    assert_eq!(code(client.list_events().await), ErrorCode::Unavailable);
    assert_eq!(
        code(client.book(&event.id, 1, None).await),
        ErrorCode::Unavailable
    );
    assert_eq!(
        code(client.chat_send(None, "hello?").await),
        ErrorCode::Unavailable
    );
    let (anon, _anon_pushes) = server.connect().await;
    assert_eq!(
        code(anon.login("patient", coliseum_tests::PASSWORD).await),
        ErrorCode::Unavailable
    );

    server.faults().set(Some(StoreError::Internal(
        "table users is corrupt at /var/x".into(),
    )));
    match client.my_tickets().await {
        Err(ClientError::Server(body)) => {
            assert_eq!(body.code, ErrorCode::Internal);
            assert!(!body.message.contains("/var/x"), "no internals leak");
        }
        other => panic!("expected internal, got {other:?}"),
    }

    server.faults().set(None);
    client
        .book(&event.id, 1, None)
        .await
        .expect("service resumes");
    assert_eq!(client.my_tickets().await.expect("tickets").len(), 1);
}
