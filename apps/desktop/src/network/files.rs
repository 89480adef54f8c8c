//! File dialogs (rfd's asynchronous API, run on the network runtime so the UI
//! never freezes) and the file I/O behind "Export" and "Import".

use std::sync::Arc;

use coliseum_client::Client;
use coliseum_protocol::Ticket;

use super::link::{Link, Sink};
use super::requests::send_create_event;
use super::{ImportOutcome, NetEvent};
use crate::transfer::{self, ExportFormat, ImportError, NewEvent};

/// Asks where to save, then writes `tickets` in `format`.
pub async fn export_tickets(sink: Sink, format: ExportFormat, tickets: Vec<Ticket>) {
    let dialog = rfd::AsyncFileDialog::new()
        .set_title("Export my tickets")
        .set_file_name(format!("my-tickets.{}", format.extension()))
        .add_filter(format.label(), &[format.extension()]);
    let Some(handle) = dialog.save_file().await else {
        return sink.emit(NetEvent::DialogCancelled);
    };
    let path = handle.path().to_path_buf();
    let result = match transfer::export_tickets(format, &tickets) {
        Ok(bytes) => tokio::fs::write(&path, bytes)
            .await
            .map_err(|e| format!("could not write {}: {e}", path.display())),
        Err(e) => Err(e),
    };
    sink.emit(match result {
        Ok(()) => NetEvent::Exported {
            path,
            count: tickets.len(),
        },
        Err(message) => NetEvent::ExportFailed(message),
    });
}

/// Asks for a CSV or JSON file, validates every row, and creates the events
/// only when all rows are valid.
pub async fn import_events(link: Arc<Link>, sink: Sink) {
    let dialog = rfd::AsyncFileDialog::new()
        .set_title("Import events")
        .add_filter("Events (CSV or JSON)", &["csv", "json"]);
    let Some(handle) = dialog.pick_file().await else {
        return sink.emit(NetEvent::DialogCancelled);
    };
    let bytes = handle.read().await;
    let outcome = match transfer::parse_events(&handle.file_name(), &bytes) {
        Err(ImportError::Unreadable(message)) => ImportOutcome::Unreadable(message),
        Err(ImportError::Invalid(rows)) => ImportOutcome::Invalid(rows),
        Ok(events) => match link.client() {
            Ok(client) => create_all(&client, &events).await,
            Err(error) => ImportOutcome::Interrupted {
                created: 0,
                row: 1,
                message: error.to_string(),
            },
        },
    };
    sink.emit(NetEvent::Imported(outcome));
}

/// Asks for a CA certificate file (PEM) for "Encrypted, trust CA file".
pub async fn pick_ca_file(sink: Sink) {
    let dialog = rfd::AsyncFileDialog::new()
        .set_title("CA certificate (PEM)")
        .add_filter("PEM certificates", &["pem", "crt", "cer"]);
    match dialog.pick_file().await {
        Some(handle) => sink.emit(NetEvent::CaFilePicked(handle.path().to_path_buf())),
        None => sink.emit(NetEvent::DialogCancelled),
    }
}

/// Creates `events` one by one (they were all validated first), reporting the
/// first refusal.
async fn create_all(client: &Client, events: &[NewEvent]) -> ImportOutcome {
    for (index, event) in events.iter().enumerate() {
        if let Err(error) = send_create_event(client, event).await {
            return ImportOutcome::Interrupted {
                created: index,
                row: index + 1,
                message: error.to_string(),
            };
        }
    }
    ImportOutcome::Imported {
        count: events.len(),
    }
}
