//! "My tickets": event, seats, booked at, and Cancel (after a confirmation);
//! export to CSV or JSON.

use chrono::Local;
use coliseum_protocol::Ticket;
use egui::{Align, Layout, RichText, Ui};
use egui_extras::{Column, TableBuilder};

use super::{Action, Tab, error_color};
use crate::model::{Model, seats};
use crate::network::NetCommand;
use crate::transfer::ExportFormat;

/// UI state of "My tickets".
#[derive(Debug, Clone, Default)]
pub struct TicketsView {
    /// The ticket whose cancellation awaits confirmation.
    confirm: Option<Ticket>,
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
            .column(Column::exact(100.0))
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
                                ui.label(RichText::new(when_where).weak().small());
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
                                self.confirm = Some(ticket.clone());
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

    /// The "Cancel this ticket?" dialog.
    fn confirmation(&mut self, ui: &mut Ui) -> Option<Action> {
        let ticket = self.confirm.clone()?;
        let mut action = None;
        let mut close = false;
        let modal = egui::Modal::new(egui::Id::unique("confirm-cancel")).show(ui.ctx(), |ui| {
            ui.set_max_width(360.0);
            ui.heading("Cancel ticket?");
            ui.label(format!(
                "Give back {} {} for {}? This cannot be undone.",
                ticket.quantity,
                seats(ticket.quantity),
                ticket.event_name
            ));
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui.button("Cancel ticket").clicked() {
                    action = Some(Action::Net(NetCommand::CancelTicket {
                        ticket_id: ticket.id.clone(),
                        quantity: None,
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
}
