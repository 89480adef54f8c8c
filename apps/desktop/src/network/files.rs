//! File dialogs (rfd's asynchronous API, run on the network runtime so the UI
//! never freezes) and the file I/O behind "Export" and "Import".

use std::path::{Path, PathBuf};
use std::sync::Arc;

use coliseum_client::Client;
use coliseum_protocol::Ticket;

use super::api::{ImportOutcome, NetEvent};
use super::link::{Link, Sink};
use super::requests::send_create_event;
use crate::transfer::{self, ExportFormat, ImportError, NewEvent};

/// Asks where to save, then writes `tickets` in `format`.
pub async fn export_tickets(sink: Sink, format: ExportFormat, tickets: Vec<Ticket>) {
    let dialog = rfd::AsyncFileDialog::new()
        .set_title("Export my tickets")
        .set_file_name(export_file_name(format))
        .add_filter(format.label(), &[format.extension()]);
    let Some(handle) = dialog.save_file().await else {
        return sink.emit(NetEvent::DialogCancelled {
            export: Some(format),
        });
    };
    write_export(&sink, handle.path().to_path_buf(), format, &tickets).await;
}

/// Writes `tickets` in `format` into the Downloads folder (created when
/// missing; the home folder when the platform names none), under a name not
/// taken yet.
pub async fn export_tickets_to_downloads(sink: Sink, format: ExportFormat, tickets: Vec<Ticket>) {
    let Some(dir) = downloads_dir() else {
        return sink.emit(NetEvent::ExportFailed(
            "this system has no Downloads or home folder".into(),
        ));
    };
    if let Err(error) = tokio::fs::create_dir_all(&dir).await {
        return sink.emit(NetEvent::ExportFailed(format!(
            "could not create {}: {error}",
            dir.display()
        )));
    }
    let path = free_path(&dir, format);
    write_export(&sink, path, format, &tickets).await;
}

/// The user's Downloads folder, or the home folder.
pub(super) fn downloads_dir() -> Option<PathBuf> {
    let dirs = directories::UserDirs::new()?;
    Some(
        dirs.download_dir()
            .unwrap_or_else(|| dirs.home_dir())
            .to_path_buf(),
    )
}

/// `my-tickets.csv`, or `my-tickets-2.csv`, ... the first name not taken in `dir`.
fn free_path(dir: &Path, format: ExportFormat) -> PathBuf {
    free_name(dir, &export_file_name(format))
}

/// `dir/<name>`, or `dir/<stem>-2.<ext>`, ... the first path not taken
/// (the first one after 999 tries).
pub(super) fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, extension) = name.rsplit_once('.').unwrap_or((name, ""));
    (2..1000)
        .map(|n| {
            if extension.is_empty() {
                dir.join(format!("{stem}-{n}"))
            } else {
                dir.join(format!("{stem}-{n}.{extension}"))
            }
        })
        .find(|p| !p.exists())
        .unwrap_or(first)
}

fn export_file_name(format: ExportFormat) -> String {
    format!("my-tickets.{}", format.extension())
}

async fn write_export(sink: &Sink, path: PathBuf, format: ExportFormat, tickets: &[Ticket]) {
    let result = match transfer::export_tickets(format, tickets) {
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
        return sink.emit(NetEvent::DialogCancelled { export: None });
    };
    let bytes = handle.read().await;
    let outcome = match transfer::parse_events(
        &handle.file_name(),
        &bytes,
        chrono::Local::now().date_naive(),
    ) {
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
        None => sink.emit(NetEvent::DialogCancelled { export: None }),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_export_never_overwrites() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = free_path(dir.path(), ExportFormat::Csv);
        assert_eq!(first, dir.path().join("my-tickets.csv"));
        std::fs::write(&first, "x").expect("write");
        assert_eq!(
            free_path(dir.path(), ExportFormat::Csv),
            dir.path().join("my-tickets-2.csv")
        );
    }
}
