//! The offers banner: seats held for the user from a waiting list, each with
//! a live countdown and Accept / Decline, above every tab (an offer lapses
//! in minutes, so it must be seen wherever the user is).

use chrono::{DateTime, Utc};
use egui::{RichText, Ui};

use super::Action;
use crate::model::Model;
use crate::model::ticketing::{countdown, held_for_you, offer_name};
use crate::network::NetCommand;

/// Draws one line per open offer; nothing when there is none. Returns the
/// actions and, when an offer is open, asks for a repaint every second so
/// the countdown moves.
pub fn banner(ui: &mut Ui, model: &Model, now: DateTime<Utc>) -> Vec<Action> {
    let mut actions = Vec::new();
    let online = model.connection.is_connected();
    let mut any = false;
    for offer in model.ticketing.open_offers(now) {
        any = true;
        let name = offer_name(offer);
        egui::Frame::new()
            .fill(ui.visuals().selection.bg_fill.gamma_multiply(0.25))
            .stroke(ui.visuals().selection.stroke)
            .corner_radius(6.0)
            .inner_margin(8.0)
            .show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.label(RichText::new(held_for_you(offer.quantity, Some(&name))).strong());
                    let left = countdown(offer.expires_at, now);
                    ui.label(RichText::new(format!("{left} left")).monospace())
                        .on_hover_text(format!(
                            "Then they go to the next in line ({})",
                            offer
                                .expires_at
                                .with_timezone(&chrono::Local)
                                .format("%H:%M:%S")
                        ));
                    let busy = model.ticketing.busy.offers.contains(&offer.offer_id);
                    ui.scope(|ui| {
                        let accept = ui
                            .add_enabled(online && !busy, egui::Button::new("Accept"))
                            .accessible_name(format!("Accept offer for {name}"));
                        if accept.clicked() {
                            actions.push(Action::Net(NetCommand::AcceptOffer {
                                offer_id: offer.offer_id.clone(),
                            }));
                        }
                        let decline = ui
                            .add_enabled(online && !busy, egui::Button::new("Decline"))
                            .accessible_name(format!("Decline offer for {name}"));
                        if decline.clicked() {
                            actions.push(Action::Net(NetCommand::DeclineOffer {
                                offer_id: offer.offer_id.clone(),
                            }));
                        }
                        if busy {
                            ui.add(egui::Spinner::new());
                        }
                    });
                });
            });
        ui.add_space(4.0);
    }
    if any {
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_secs(1));
    }
    actions
}
