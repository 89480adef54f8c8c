//! The door (admins and staff): a ticket code typed, pasted, read by a
//! keyboard-emulating scanner (it types the code and Enter), or read from an
//! image of the QR code (opened, or dropped on the window); the answer is
//! shown big and coloured — green admitted, red refused, amber unread.

use chrono::{DateTime, Local, Utc};
use egui::{Color32, RichText, Ui};

use super::event_details::ADMITTED;
use super::{Action, action_button};
use crate::model::{CheckInOutcome, Model, seats};
use crate::network::{CheckInRefusal, NetCommand};

/// Red of a refused ticket.
const REFUSED: Color32 = Color32::from_rgb(0xc6, 0x28, 0x28);
/// Amber of a code that could not be read.
const UNREAD: Color32 = Color32::from_rgb(0xd9, 0x8c, 0x00);

/// UI state of the door.
#[derive(Debug, Clone, Default)]
pub struct CheckInView {
    code: String,
    /// The field has had the focus (given once, so a scanner can type at once).
    focused: bool,
}

impl CheckInView {
    /// Draws the view.
    pub fn ui(&mut self, ui: &mut Ui, model: &Model) -> Vec<Action> {
        let mut actions = Vec::new();
        ui.heading("Check-in");
        ui.label(
            RichText::new(
                "Scan into the field (scanners type the code and Enter), paste a code, \
                 or open or drop an image of the ticket's QR code.",
            )
            .weak(),
        );
        ui.add_space(8.0);
        let busy = model.ticketing.busy.check_in;
        let online = model.connection.is_connected();
        let label = ui.label("Ticket code");
        let mut submit = false;
        ui.horizontal(|ui| {
            let field = ui
                .add(
                    egui::TextEdit::singleline(&mut self.code)
                        .id_salt("check-in-code")
                        .hint_text("C1.…")
                        .font(egui::TextStyle::Monospace)
                        .desired_width((ui.available_width() - 110.0).max(120.0)),
                )
                .labelled_by(label.id);
            if !self.focused {
                self.focused = true;
                field.request_focus();
            }
            let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if entered {
                // Ready for the next scan.
                field.request_focus();
            }
            let ready = !self.code.trim().is_empty() && online;
            submit = (action_button(ui, "Check in", busy, ready) || entered) && ready && !busy;
        });
        if submit {
            actions.push(Action::Net(NetCommand::CheckIn {
                code: std::mem::take(&mut self.code).trim().to_owned(),
            }));
        }
        ui.horizontal(|ui| {
            if ui
                .add_enabled(online && !busy, egui::Button::new("Open QR image…"))
                .on_hover_text("A saved ticket (PNG), a screenshot or a photo")
                .clicked()
            {
                actions.push(Action::Net(NetCommand::CheckInImage));
            }
            ui.label(RichText::new("or drop an image here").weak());
        });
        ui.add_space(12.0);
        if let Some((outcome, _)) = &model.ticketing.check_in {
            result(ui, outcome);
        }
        actions
    }
}

/// The last answer, big and coloured.
fn result(ui: &mut Ui, outcome: &CheckInOutcome) {
    let (color, headline, lines) = match outcome {
        CheckInOutcome::Admitted(data) => (
            ADMITTED,
            "✔ ADMITTED".to_owned(),
            vec![
                format!(
                    "{} · {} {}",
                    data.holder,
                    data.ticket.quantity,
                    seats(data.ticket.quantity)
                ),
                data.event.name.clone(),
                format!("checked in at {}", local_time(data.checked_in_at)),
            ],
        ),
        CheckInOutcome::Refused(CheckInRefusal::AlreadyIn(message)) => (
            REFUSED,
            "✖ ALREADY CHECKED IN".to_owned(),
            vec![already_in_text(message)],
        ),
        CheckInOutcome::Refused(CheckInRefusal::NotValid(message)) => {
            (REFUSED, "✖ NOT VALID".to_owned(), vec![message.clone()])
        }
        CheckInOutcome::Refused(CheckInRefusal::Unreadable(message)) => {
            (UNREAD, "? CODE NOT READ".to_owned(), vec![message.clone()])
        }
        CheckInOutcome::Refused(CheckInRefusal::Failed(message)) => {
            (UNREAD, "Check-in failed".to_owned(), vec![message.clone()])
        }
    };
    egui::Frame::new()
        .fill(color)
        .corner_radius(10.0)
        .inner_margin(16.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(
                RichText::new(headline)
                    .size(34.0)
                    .strong()
                    .color(Color32::WHITE),
            );
            for line in lines {
                ui.label(RichText::new(line).size(18.0).color(Color32::WHITE));
            }
        });
}

/// "20:14:05" in this computer's time zone.
fn local_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local).format("%H:%M:%S").to_string()
}

/// "already checked in at 2027-06-12T18:14:05Z" with the time in local time
/// ("already checked in at 20:14:05 on Sat 12 Jun").
fn already_in_text(message: &str) -> String {
    let Some(at) = message
        .rsplit_once(" at ")
        .and_then(|(_, at)| DateTime::parse_from_rfc3339(at.trim()).ok())
    else {
        return message.to_owned();
    };
    let local = at.with_timezone(&Local);
    format!(
        "already checked in at {} on {}",
        local.format("%H:%M:%S"),
        local.format("%a %d %b")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_check_in_time_is_shown_in_local_time() {
        let text = already_in_text("already checked in at 2027-06-12T18:14:05Z");
        let expected = DateTime::parse_from_rfc3339("2027-06-12T18:14:05Z")
            .expect("time")
            .with_timezone(&Local);
        assert_eq!(
            text,
            format!(
                "already checked in at {} on {}",
                expected.format("%H:%M:%S"),
                expected.format("%a %d %b")
            )
        );
        assert_eq!(already_in_text("conflict"), "conflict");
    }
}
