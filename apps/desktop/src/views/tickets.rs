//! "My tickets": event, seats, booked at, Ticket and Cancel (after a
//! confirmation); export to CSV or JSON. "Ticket" opens one ticket: its QR
//! code shown large (what the door scans), "Save ticket" as PNG, "Add to
//! calendar" as an .ics file, and giving back some of its seats.

use chrono::Local;
use coliseum_protocol::Ticket;
use egui::{Align, Color32, Layout, RichText, Ui};
use egui_extras::{Column, TableBuilder};

use super::event_details::{ADMITTED, start_text};
use super::{Action, Tab, error_color};
use crate::model::{Model, seats};
use crate::network::{NetCommand, SaveRequest};
use crate::ticket_files::{self, QUIET_ZONE, QrMatrix};
use crate::transfer::ExportFormat;

/// UI state of "My tickets".
#[derive(Debug, Clone, Default)]
pub struct TicketsView {
    /// The cancellation awaiting confirmation: the ticket, and the seats to
    /// give back (`None`: all of them).
    confirm: Option<(Ticket, Option<u32>)>,
    /// The ticket shown in full instead of the table.
    open: Option<String>,
    /// The open ticket's QR code, computed once per code.
    qr: Option<(String, Result<QrMatrix, String>)>,
    /// Seats to give back from the open ticket.
    give_back: u32,
    /// Why the open ticket's PNG could not be made.
    png_error: Option<String>,
}

impl TicketsView {
    /// Draws the view (and the confirmation dialog when open).
    pub fn ui(&mut self, ui: &mut Ui, model: &Model) -> Vec<Action> {
        let mut actions = Vec::new();
        // Before the table: a dialog opened by a click in this frame shows
        // from the next one, so that click does not also count as a click
        // on the dialog's backdrop (which closes it).
        if let Some(action) = self.confirmation(ui) {
            actions.push(action);
        }
        if let Some(ticket_id) = self.open.clone() {
            match model.events.tickets.iter().find(|t| t.id == ticket_id) {
                Some(ticket) => {
                    self.ticket(ui, model, ticket, &mut actions);
                    return actions;
                }
                // Cancelled meanwhile (here or by the organiser).
                None => self.open = None,
            }
        }
        ui.horizontal(|ui| {
            ui.heading("My tickets");
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                let exporting = model.events.busy.export;
                if exporting {
                    ui.add(egui::Spinner::new());
                }
                for format in [ExportFormat::Json, ExportFormat::Csv] {
                    let button = ui.add_enabled(
                        !exporting && !model.events.tickets.is_empty(),
                        egui::Button::new(format!("Export {}…", format.label())),
                    );
                    if button.clicked() {
                        actions.push(Action::Net(NetCommand::ExportTickets {
                            format,
                            tickets: model.events.tickets.clone(),
                        }));
                    }
                }
                if ui.button("⟳ Refresh").clicked() {
                    actions.push(Action::Net(NetCommand::RefreshTickets));
                }
            });
        });
        ui.add_space(4.0);
        if let Some(format) = model.events.export_fallback
            && !model.events.tickets.is_empty()
        {
            ui.horizontal_wrapped(|ui| {
                ui.label(
                    RichText::new(
                        "No file was chosen. If no file dialog appeared, this desktop has no \
                         file-dialog service (xdg-desktop-portal or zenity).",
                    )
                    .color(error_color(ui)),
                );
                if ui
                    .button(format!("Save {} to Downloads", format.label()))
                    .clicked()
                {
                    actions.push(Action::Net(NetCommand::ExportTicketsToDownloads {
                        format,
                        tickets: model.events.tickets.clone(),
                    }));
                }
            });
            ui.add_space(4.0);
        }
        if model.events.tickets.is_empty() {
            ui.label(RichText::new("You have no tickets yet.").weak());
            if ui.link("Find an event to book").clicked() {
                actions.push(Action::Show(Tab::Events));
            }
        } else {
            self.table(ui, model);
        }
        actions
    }

    fn table(&mut self, ui: &mut Ui, model: &Model) {
        TableBuilder::new(ui)
            .id_salt("tickets-table")
            .striped(true)
            .cell_layout(Layout::left_to_right(Align::Center))
            .column(Column::remainder().at_least(140.0).clip(true))
            .column(Column::auto().at_least(44.0))
            .column(Column::auto().at_least(120.0))
            .column(Column::exact(150.0))
            .header(24.0, |mut header| {
                for title in ["Event", "Seats", "Booked"] {
                    header.col(|ui| {
                        ui.strong(title);
                    });
                }
                header.col(|_| {});
            })
            .body(|mut body| {
                for ticket in &model.events.tickets {
                    let event = model.events.event(&ticket.event_id);
                    body.row(40.0, |mut row| {
                        row.col(|ui| {
                            ui.vertical(|ui| {
                                ui.spacing_mut().item_spacing.y = 0.0;
                                ui.label(RichText::new(&ticket.event_name).strong());
                                // The event's date and venue, when it is listed.
                                let when_where = event.map_or_else(String::new, |e| {
                                    format!("{} · {}", e.date.format("%a %d %b %Y"), e.location)
                                });
                                // First, so a narrow column clips the venue, not this.
                                ui.horizontal(|ui| {
                                    if ticket.checked_in_at.is_some() {
                                        ui.label(
                                            RichText::new("✔ checked in").color(ADMITTED).small(),
                                        );
                                    }
                                    ui.label(RichText::new(when_where).weak().small());
                                });
                            });
                        });
                        row.col(|ui| {
                            ui.label(ticket.quantity.to_string());
                        });
                        row.col(|ui| {
                            ui.label(
                                ticket
                                    .booked_at
                                    .with_timezone(&Local)
                                    .format("%d %b %Y %H:%M")
                                    .to_string(),
                            );
                        });
                        row.col(|ui| {
                            let show = ui
                                .button("Ticket")
                                .on_hover_text("The QR code for the door, save, calendar")
                                .accessible_name(format!("Show ticket for {}", ticket.event_name));
                            if show.clicked() {
                                self.open = Some(ticket.id.clone());
                                self.give_back = 1;
                                self.png_error = None;
                            }
                            let cancelling = model.events.busy.cancels.contains(&ticket.id);
                            let button = ui
                                .add_enabled(
                                    !cancelling && model.connection.is_connected(),
                                    egui::Button::new("Cancel…"),
                                )
                                .accessible_name(format!(
                                    "Cancel ticket for {}",
                                    ticket.event_name
                                ));
                            if button.clicked() {
                                self.confirm = Some((ticket.clone(), None));
                            }
                            if cancelling {
                                ui.add(egui::Spinner::new());
                            } else if let Some(error) = model.events.cancel_errors.get(&ticket.id) {
                                ui.label(RichText::new("⚠").color(error_color(ui)))
                                    .on_hover_text(error);
                            }
                        });
                    });
                }
            });
    }

    /// The "Cancel this ticket?" (or "Give back 2 seats?") dialog.
    fn confirmation(&mut self, ui: &mut Ui) -> Option<Action> {
        let (ticket, quantity) = self.confirm.clone()?;
        let mut action = None;
        let mut close = false;
        let modal = egui::Modal::new(egui::Id::unique("confirm-cancel")).show(ui.ctx(), |ui| {
            ui.set_max_width(360.0);
            let (title, text, button) = match quantity {
                Some(n) => (
                    "Give back seats?",
                    format!(
                        "Give back {n} of your {} {} for {}? You keep {}. This cannot be undone.",
                        ticket.quantity,
                        seats(ticket.quantity),
                        ticket.event_name,
                        ticket.quantity.saturating_sub(n)
                    ),
                    format!("Give back {n} {}", seats(n)),
                ),
                None => (
                    "Cancel ticket?",
                    format!(
                        "Give back {} {} for {}? This cannot be undone.",
                        ticket.quantity,
                        seats(ticket.quantity),
                        ticket.event_name
                    ),
                    "Cancel ticket".to_owned(),
                ),
            };
            ui.heading(title);
            ui.label(text);
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui.button(button).clicked() {
                    action = Some(Action::Net(NetCommand::CancelTicket {
                        ticket_id: ticket.id.clone(),
                        quantity,
                    }));
                    close = true;
                }
                if ui.button("Keep ticket").clicked() {
                    close = true;
                }
            });
        });
        if close || modal.should_close() {
            self.confirm = None;
        }
        action
    }

    /// One ticket in full: the QR code large, its code, save, calendar,
    /// give back seats.
    fn ticket(&mut self, ui: &mut Ui, model: &Model, ticket: &Ticket, actions: &mut Vec<Action>) {
        let event = model.events.event(&ticket.event_id);
        if ui.button("⏴ All tickets").clicked() {
            self.open = None;
        }
        ui.add_space(4.0);
        egui::ScrollArea::vertical()
            .id_salt("ticket")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.heading(RichText::new(&ticket.event_name).strong());
                if let Some(event) = event {
                    ui.label(RichText::new(start_text(event.starts_at)).strong());
                    ui.label(format!("Venue: {}", event.location));
                }
                ui.label(format!(
                    "{} {} · booked {}",
                    ticket.quantity,
                    seats(ticket.quantity),
                    ticket
                        .booked_at
                        .with_timezone(&Local)
                        .format("%d %b %Y %H:%M")
                ));
                if let Some(at) = ticket.checked_in_at {
                    ui.label(
                        RichText::new(format!(
                            "✔ Checked in at {}",
                            at.with_timezone(&Local).format("%H:%M, %d %b")
                        ))
                        .color(ADMITTED)
                        .strong(),
                    );
                }
                ui.add_space(8.0);
                self.qr_code(ui, ticket);
                ui.add_space(8.0);
                self.ticket_actions(ui, model, ticket, event, actions);
            });
    }

    /// The QR code, as large as the pane allows (160–360 points), and the
    /// code as text beneath it.
    fn qr_code(&mut self, ui: &mut Ui, ticket: &Ticket) {
        if ticket.code.is_empty() {
            ui.label(
                RichText::new("This server issues no ticket codes: show your name at the door.")
                    .weak(),
            );
            return;
        }
        if self
            .qr
            .as_ref()
            .is_none_or(|(code, _)| *code != ticket.code)
        {
            self.qr = Some((ticket.code.clone(), ticket_files::qr_matrix(&ticket.code)));
        }
        match self.qr.as_ref().map(|(_, qr)| qr) {
            Some(Ok(matrix)) => {
                // The whole code on screen without scrolling, also in a
                // 480-point-high window (name, time and venue sit above it).
                let window = ui.ctx().content_rect().height();
                let side = ui.available_width().min(window - 200.0).clamp(160.0, 360.0);
                draw_qr(ui, matrix, side, &ticket.event_name);
            }
            Some(Err(message)) => {
                ui.label(RichText::new(message).color(error_color(ui)));
            }
            None => {}
        }
        ui.horizontal_wrapped(|ui| {
            ui.add(
                egui::Label::new(RichText::new(&ticket.code).monospace().small())
                    .wrap()
                    .selectable(true),
            )
            .on_hover_text("The ticket code: a door can also type or paste it");
        });
        if ui.small_button("Copy code").clicked() {
            ui.ctx().copy_text(ticket.code.clone());
        }
    }

    fn ticket_actions(
        &mut self,
        ui: &mut Ui,
        model: &Model,
        ticket: &Ticket,
        event: Option<&coliseum_protocol::Event>,
        actions: &mut Vec<Action>,
    ) {
        let saving = model.ticketing.busy.save;
        ui.horizontal_wrapped(|ui| {
            let png = ui
                .add_enabled(
                    !saving && !ticket.code.is_empty(),
                    egui::Button::new("Save ticket (PNG)…"),
                )
                .on_hover_text("The QR code as an image, for a phone or a print");
            if png.clicked() {
                let caption = ticket_files::ticket_caption(ticket, event);
                match ticket_files::ticket_png(&ticket.code, &caption, 8) {
                    Ok(bytes) => actions.push(Action::Net(NetCommand::SaveFile(SaveRequest {
                        what: "Ticket".into(),
                        file_name: ticket_files::file_name("ticket", &ticket.event_name, "png"),
                        bytes,
                    }))),
                    Err(message) => self.png_error = Some(message),
                }
            }
            let calendar = ui
                .add_enabled(
                    !saving && event.is_some(),
                    egui::Button::new("Add to calendar…"),
                )
                .on_hover_text("An .ics file any calendar app opens");
            if calendar.clicked()
                && let Some(event) = event
            {
                actions.push(Action::Net(NetCommand::SaveFile(SaveRequest {
                    what: "Calendar entry".into(),
                    file_name: ticket_files::file_name("event", &event.name, "ics"),
                    bytes: ticket_files::calendar_ics(ticket, event, chrono::Utc::now())
                        .into_bytes(),
                })));
            }
            if saving {
                ui.add(egui::Spinner::new());
            }
        });
        if let Some(error) = &self.png_error {
            ui.label(RichText::new(error).color(error_color(ui)));
        }
        ui.add_space(8.0);
        let online = model.connection.is_connected();
        let cancelling = model.events.busy.cancels.contains(&ticket.id);
        let usable = ticket.checked_in_at.is_none() && online && !cancelling;
        if ticket.quantity > 1 {
            ui.horizontal(|ui| {
                ui.label("Give back");
                self.give_back = self.give_back.clamp(1, ticket.quantity - 1);
                ui.add_enabled(
                    usable,
                    egui::DragValue::new(&mut self.give_back).range(1..=ticket.quantity - 1),
                )
                .accessible_name(format!("Seats to give back for {}", ticket.event_name));
                ui.label(format!("of {} {}", ticket.quantity, seats(ticket.quantity)));
                if ui
                    .add_enabled(usable, egui::Button::new("Give back…"))
                    .on_disabled_hover_text(CANNOT_CANCEL)
                    .clicked()
                {
                    self.confirm = Some((ticket.clone(), Some(self.give_back)));
                }
            });
        }
        ui.horizontal(|ui| {
            let cancel = ui
                .add_enabled(usable, egui::Button::new("Cancel ticket…"))
                .on_disabled_hover_text(CANNOT_CANCEL)
                .accessible_name(format!("Cancel whole ticket for {}", ticket.event_name));
            if cancel.clicked() {
                self.confirm = Some((ticket.clone(), None));
            }
            if cancelling {
                ui.add(egui::Spinner::new());
            } else if let Some(error) = model.events.cancel_errors.get(&ticket.id) {
                ui.label(RichText::new(error).color(error_color(ui)));
            }
        });
    }
}

/// Why *Give back…* and *Cancel ticket…* are disabled.
const CANNOT_CANCEL: &str = "A checked-in ticket cannot be given back; otherwise: offline or busy";

/// Draws `matrix` black on white in a `side`-point square, quiet zone
/// included (readable by a phone pointed at the screen).
fn draw_qr(ui: &mut Ui, matrix: &QrMatrix, side: f32, event: &str) {
    let (rect, response) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::Role::Image, true, format!("QR code for {event}"))
    });
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 4.0, Color32::WHITE);
    #[expect(
        clippy::cast_precision_loss,
        reason = "a QR code is at most 177 + 8 modules wide"
    )]
    let module = side / (matrix.width + 2 * QUIET_ZONE) as f32;
    for y in 0..matrix.width {
        for x in 0..matrix.width {
            if matrix.is_dark(x, y) {
                #[expect(clippy::cast_precision_loss, reason = "as above")]
                let min = rect.min
                    + egui::vec2(
                        (x + QUIET_ZONE) as f32 * module,
                        (y + QUIET_ZONE) as f32 * module,
                    );
                // A hair wider than the module, so no seams show between modules.
                let cell = egui::Rect::from_min_size(min, egui::vec2(module + 0.3, module + 0.3));
                painter.rect_filled(cell, 0.0, Color32::BLACK);
            }
        }
    }
}

/// "No file was chosen … Save to Downloads" after a save dialog closed
/// without a file (cancelled, or no dialog service on this desktop).
pub fn save_fallback(ui: &mut Ui, model: &Model) -> Vec<Action> {
    let mut actions = Vec::new();
    let Some(request) = &model.ticketing.save_fallback else {
        return actions;
    };
    ui.horizontal_wrapped(|ui| {
        ui.label(
            RichText::new(format!(
                "{} not saved: no file was chosen. If no file dialog appeared, this desktop has no file-dialog service (xdg-desktop-portal or zenity).",
                request.what
            ))
            .color(error_color(ui)),
        );
        if ui.button("Save to Downloads").clicked() {
            actions.push(Action::Net(NetCommand::SaveToDownloads(request.clone())));
        }
    });
    actions
}
