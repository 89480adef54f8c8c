//! Ticketing requests: waiting list and offers, partial cancels, event
//! management (admins), attendees and check-in (admins and staff), and
//! saving the files a ticket becomes (QR PNG, calendar entry, attendees CSV).

use std::path::PathBuf;
use std::sync::Arc;

use coliseum_client::ClientError;
use coliseum_protocol::ErrorCode;
use coliseum_protocol::request::UpdateEvent;

use super::api::{CheckInRefusal, FormError, NetEvent, SaveRequest};
use super::link::{Link, Sink};
use crate::ticket_files;

/// `cancel_ticket`, whole (`quantity: None`) or in part.
pub async fn cancel(link: Arc<Link>, sink: Sink, ticket_id: String, quantity: Option<u32>) {
    let result = match link.client() {
        Ok(client) => match quantity {
            Some(quantity) => client.cancel_seats(&ticket_id, quantity).await,
            None => client.cancel_ticket(&ticket_id).await,
        },
        Err(error) => Err(error),
    };
    sink.emit(match (result, quantity) {
        (Ok(()), Some(quantity)) => NetEvent::PartlyCancelled {
            ticket_id,
            quantity,
        },
        (Ok(()), None) => NetEvent::Cancelled { ticket_id },
        (Err(error), _) => NetEvent::CancelFailed {
            ticket_id,
            message: error.to_string(),
        },
    });
}

/// `waitlist_join`.
pub async fn join_waitlist(link: Arc<Link>, sink: Sink, event_id: String, quantity: u32) {
    let result = async { link.client()?.waitlist_join(&event_id, quantity).await }.await;
    sink.emit(match result {
        Ok(position) => NetEvent::WaitlistJoined {
            event_id,
            quantity,
            position,
        },
        Err(error) => NetEvent::WaitlistFailed {
            event_id,
            message: error.to_string(),
        },
    });
}

/// `waitlist_leave`.
pub async fn leave_waitlist(link: Arc<Link>, sink: Sink, event_id: String) {
    let result = async { link.client()?.waitlist_leave(&event_id).await }.await;
    sink.emit(match result {
        Ok(()) => NetEvent::WaitlistLeft { event_id },
        Err(error) => NetEvent::WaitlistFailed {
            event_id,
            message: error.to_string(),
        },
    });
}

/// `my_waitlist`: places in line and open offers (after login, after a
/// reconnect, on request).
pub async fn refresh_waitlist(link: Arc<Link>, sink: Sink) {
    let result = async { link.client()?.my_waitlist().await }.await;
    match result {
        Ok(data) => sink.emit(NetEvent::Waitlist(data)),
        Err(error) => sink.emit(NetEvent::Error(format!(
            "could not load your waiting lists: {error}"
        ))),
    }
}

/// `offer_accept`.
pub async fn accept_offer(link: Arc<Link>, sink: Sink, offer_id: String) {
    let result = async { link.client()?.offer_accept(&offer_id).await }.await;
    sink.emit(match result {
        Ok(ticket) => NetEvent::OfferAccepted { offer_id, ticket },
        Err(error) => NetEvent::OfferFailed {
            offer_id,
            message: error.to_string(),
        },
    });
}

/// `offer_decline`.
pub async fn decline_offer(link: Arc<Link>, sink: Sink, offer_id: String) {
    let result = async { link.client()?.offer_decline(&offer_id).await }.await;
    sink.emit(match result {
        Ok(()) => NetEvent::OfferDeclined { offer_id },
        Err(error) => NetEvent::OfferFailed {
            offer_id,
            message: error.to_string(),
        },
    });
}

/// `update_event` (admins).
pub async fn update_event(link: Arc<Link>, sink: Sink, update: UpdateEvent) {
    let event_id = update.event_id.clone();
    let result = async { link.client()?.update_event(update).await }.await;
    sink.emit(match result {
        Ok(event) => NetEvent::EventUpdated(event),
        Err(error) => NetEvent::UpdateEventFailed {
            event_id,
            error: FormError::from(&error),
        },
    });
}

/// `cancel_event` (admins).
pub async fn cancel_event(link: Arc<Link>, sink: Sink, event_id: String, reason: String) {
    let result = async { link.client()?.cancel_event(&event_id, &reason).await }.await;
    sink.emit(match result {
        Ok(refunded) => NetEvent::EventCancelled { event_id, refunded },
        Err(error) => NetEvent::CancelEventFailed {
            event_id,
            message: error.to_string(),
        },
    });
}

/// `attendees` (admins and staff).
pub async fn attendees(link: Arc<Link>, sink: Sink, event_id: String) {
    let result = async { link.client()?.attendees(&event_id).await }.await;
    sink.emit(match result {
        Ok(attendees) => NetEvent::Attendees {
            event_id,
            attendees,
        },
        Err(error) => NetEvent::AttendeesFailed {
            event_id,
            message: error.to_string(),
        },
    });
}

/// `check_in` (admins and staff).
pub async fn check_in(link: Arc<Link>, sink: Sink, code: String) {
    let result = async { link.client()?.check_in(code.trim()).await }.await;
    sink.emit(match result {
        Ok(data) => NetEvent::CheckedIn(data),
        Err(error) => NetEvent::CheckInRefused(refusal(&error)),
    });
}

/// Sorts a `check_in` failure the way the door shows it.
fn refusal(error: &ClientError) -> CheckInRefusal {
    let message = match error {
        ClientError::Server(body) => body.message.clone(),
        other => other.to_string(),
    };
    match error.code() {
        Some(ErrorCode::Conflict) if message.starts_with("already checked in") => {
            CheckInRefusal::AlreadyIn(message)
        }
        Some(ErrorCode::Conflict | ErrorCode::NotFound | ErrorCode::EventClosed) => {
            CheckInRefusal::NotValid(message)
        }
        Some(ErrorCode::BadRequest) => CheckInRefusal::Unreadable(message),
        _ => CheckInRefusal::Failed(message),
    }
}

/// Asks for an image of a QR code, then checks its code in.
pub async fn check_in_image(link: Arc<Link>, sink: Sink) {
    let dialog = rfd::AsyncFileDialog::new()
        .set_title("Ticket QR code image")
        .add_filter("Images (PNG or JPEG)", &["png", "jpg", "jpeg"]);
    let Some(handle) = dialog.pick_file().await else {
        return sink.emit(NetEvent::CheckInImageNotChosen);
    };
    check_in_image_file(link, sink, handle.path().to_path_buf()).await;
}

/// Reads the QR code in the image at `path` (off the runtime: decoding a
/// photo takes tens of milliseconds), then checks its code in.
pub async fn check_in_image_file(link: Arc<Link>, sink: Sink, path: PathBuf) {
    let read = tokio::task::spawn_blocking(move || {
        let bytes =
            std::fs::read(&path).map_err(|e| format!("could not read {}: {e}", path.display()))?;
        ticket_files::decode_qr_image(&bytes)
    })
    .await
    .unwrap_or_else(|e| Err(format!("reading the image failed: {e}")));
    match read {
        Ok(code) => check_in(link, sink, code).await,
        Err(message) => sink.emit(NetEvent::CheckInRefused(CheckInRefusal::Unreadable(
            message,
        ))),
    }
}

/// Asks where to save `request`, then writes it.
pub async fn save_file(sink: Sink, request: SaveRequest) {
    let extension = request.extension().to_owned();
    let dialog = rfd::AsyncFileDialog::new()
        .set_title(format!("Save {}", request.what.to_lowercase()))
        .set_file_name(&request.file_name)
        .add_filter(extension.to_uppercase(), &[extension.as_str()]);
    let Some(handle) = dialog.save_file().await else {
        return sink.emit(NetEvent::SaveCancelled(request));
    };
    write(&sink, handle.path().to_path_buf(), request).await;
}

/// Writes `request` into the Downloads folder (the home folder when the
/// platform names none) under a name not taken yet.
pub async fn save_to_downloads(sink: Sink, request: SaveRequest) {
    let Some(dir) = super::files::downloads_dir() else {
        return sink.emit(NetEvent::SaveFailed(
            "this system has no Downloads or home folder".into(),
        ));
    };
    if let Err(error) = tokio::fs::create_dir_all(&dir).await {
        return sink.emit(NetEvent::SaveFailed(format!(
            "could not create {}: {error}",
            dir.display()
        )));
    }
    let path = super::files::free_name(&dir, &request.file_name);
    write(&sink, path, request).await;
}

async fn write(sink: &Sink, path: PathBuf, request: SaveRequest) {
    sink.emit(match tokio::fs::write(&path, &request.bytes).await {
        Ok(()) => NetEvent::Saved {
            what: request.what,
            path,
        },
        Err(error) => NetEvent::SaveFailed(format!("could not write {}: {error}", path.display())),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use coliseum_protocol::ErrorBody;

    #[test]
    fn check_in_refusals_are_sorted_for_the_door() {
        let server = |code, message: &str| ClientError::Server(ErrorBody::new(code, message));
        assert!(matches!(
            refusal(&server(
                ErrorCode::Conflict,
                "already checked in at 2027-01-01T20:00:00Z"
            )),
            CheckInRefusal::AlreadyIn(_)
        ));
        assert!(matches!(
            refusal(&server(ErrorCode::Conflict, "this ticket was cancelled")),
            CheckInRefusal::NotValid(_)
        ));
        assert!(matches!(
            refusal(&server(
                ErrorCode::BadRequest,
                "the code's signature is not valid"
            )),
            CheckInRefusal::Unreadable(_)
        ));
        assert!(matches!(
            refusal(&server(ErrorCode::Forbidden, "staff only")),
            CheckInRefusal::Failed(m) if m == "staff only"
        ));
    }
}
