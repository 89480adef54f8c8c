//! The status bar (connection state, user and role, online count, theme) and
//! the notice banner.

use std::time::Instant;

use egui::{Align, Color32, Layout, RichText, Ui};

use super::Action;
use crate::model::{Model, NoticeLevel};
use crate::network::{ConnectionStatus, NetCommand};
use crate::settings::ThemeChoice;

/// The connection state as the status bar words it, e.g. "Reconnecting in
/// 4 s", or with several server addresses "Trying 10.0.0.2:7878 (2 of 3)…".
#[must_use]
pub fn link_text(model: &Model, now: Instant) -> String {
    let connection = &model.connection;
    // With several addresses (issue 15), which one and where in the list.
    let listed = connection.trying.as_ref().filter(|t| t.total > 1);
    match (connection.status, listed) {
        (ConnectionStatus::Offline, _) => "Offline".to_owned(),
        (ConnectionStatus::Connecting, None) => "Connecting…".to_owned(),
        (ConnectionStatus::Connecting, Some(choice)) => format!("Trying {choice}…"),
        (ConnectionStatus::Connected, Some(choice)) => format!("Connected to {choice}"),
        (ConnectionStatus::Connected, None) => match &connection.server {
            Some(server) => format!("Connected to {server}"),
            None => "Connected".to_owned(),
        },
        (ConnectionStatus::Reconnecting { delay }, listed) => {
            let at = connection.since + delay;
            let secs = at.saturating_duration_since(now).as_secs_f32().ceil();
            match listed {
                Some(choice) => format!("Reconnecting in {secs:.0} s to {choice}"),
                None => format!("Reconnecting in {secs:.0} s"),
            }
        }
    }
}

/// "3 online", or "3 online (last known)" while disconnected: the one
/// wording of the online count, used by the status bar and the chat panel.
#[must_use]
pub fn online_text(model: &Model) -> String {
    let count = model.chat.online.count;
    if model.connection.is_connected() {
        format!("{count} online")
    } else {
        format!("{count} online (last known)")
    }
}

/// Windows at least this wide (points) show the certificate
/// fingerprint's ends beside "TLS".
const WIDE_STATUS: f32 = 1150.0;

/// Windows narrower than this (points) say "Hosting" without the
/// address.
const NARROW_STATUS: f32 = 900.0;

/// Draws the status bar contents.
pub fn status_bar(ui: &mut Ui, model: &Model, theme: ThemeChoice, now: Instant) -> Vec<Action> {
    let mut actions = Vec::new();
    ui.horizontal(|ui| {
        let width = ui.max_rect().width();
        let color = match model.connection.status {
            ConnectionStatus::Connected => Color32::from_rgb(0x2e, 0xa0, 0x43),
            ConnectionStatus::Connecting | ConnectionStatus::Reconnecting { .. } => {
                Color32::from_rgb(0xd2, 0x99, 0x22)
            }
            ConnectionStatus::Offline => ui.visuals().weak_text_color(),
        };
        let (rect, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
        ui.painter().circle_filled(rect.center(), 5.0, color);
        ui.label(link_text(model, now));
        if let Some(hosting) = &model.connection.hosting {
            // The hosting details shorten in narrower windows so the user,
            // the online count and the theme keep their room on the right
            // (their full text stays in the hover).
            ui.separator();
            let hosting_text = if width >= NARROW_STATUS {
                format!("Hosting on {}", hosting.addr)
            } else {
                "Hosting".to_owned()
            };
            ui.label(hosting_text).on_hover_text(format!(
                "Hosting on {}\nData: {}",
                hosting.addr,
                hosting.data_dir.display()
            ));
            let full = hosting.fingerprint.to_string();
            let tls_text = if width >= WIDE_STATUS {
                format!("🔒 TLS {}…{}", &full[..11], &full[full.len() - 11..])
            } else {
                "🔒 TLS".to_owned()
            };
            ui.label(tls_text).on_hover_text(format!(
                "Certificate fingerprint (SHA-256), for members joining to compare:\n{full}"
            ));
            if ui
                .small_button("Copy fingerprint")
                .on_hover_text(full.clone())
                .clicked()
            {
                ui.ctx().copy_text(full);
            }
        }
        if let Some(session) = &model.session.user {
            ui.separator();
            ui.label(format!("{} ({})", session.username, session.role.as_str()));
        }
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            ui.menu_button("Theme", |ui| {
                for (choice, text) in [
                    (ThemeChoice::System, "Follow system"),
                    (ThemeChoice::Light, "Light"),
                    (ThemeChoice::Dark, "Dark"),
                ] {
                    if ui.radio(theme == choice, text).clicked() {
                        actions.push(Action::Theme(choice));
                        ui.close();
                    }
                }
            });
            if model.session.user.is_some() {
                ui.separator();
                ui.label(online_text(model));
            }
        });
    });
    actions
}

/// Draws the notices as toasts floating over the bottom-left corner of the
/// window, above the status bar (newest lowest), each with a dismiss
/// button. They take no room in the layout, so nothing under the mouse
/// moves when one appears or expires.
pub fn toasts(ctx: &egui::Context, model: &Model) -> Vec<Action> {
    let mut actions = Vec::new();
    if model.notices.list.is_empty() {
        return actions;
    }
    egui::Area::new(egui::Id::unique("toasts"))
        .order(egui::Order::Foreground)
        .anchor(egui::Align2::LEFT_BOTTOM, egui::vec2(12.0, -40.0))
        .show(ctx, |ui| {
            ui.set_max_width(420.0);
            for (index, notice) in model.notices.list.iter().enumerate() {
                let (fill, text) = match notice.level {
                    NoticeLevel::Info => (ui.visuals().extreme_bg_color, ui.visuals().text_color()),
                    NoticeLevel::Error => (
                        ui.visuals().error_fg_color.gamma_multiply(0.15),
                        ui.visuals().error_fg_color,
                    ),
                };
                egui::Frame::popup(ui.style())
                    .fill(ui.visuals().window_fill)
                    .show(ui, |ui| {
                        egui::Frame::new()
                            .fill(fill)
                            .corner_radius(6.0)
                            .inner_margin(egui::Margin::symmetric(10, 6))
                            .show(ui, |ui| {
                                ui.horizontal(|ui| {
                                    ui.add(
                                        egui::Label::new(RichText::new(&notice.text).color(text))
                                            .wrap(),
                                    );
                                    if ui
                                        .small_button("✖")
                                        .on_hover_text("Dismiss")
                                        .accessible_name(format!("Dismiss: {}", notice.text))
                                        .clicked()
                                    {
                                        actions.push(Action::Dismiss(index));
                                    }
                                });
                            });
                    });
                ui.add_space(4.0);
            }
        });
    actions
}

/// The "Connection lost" banner shown while a logged-in user is not
/// connected: what happens next and a "Reconnect now" button.
pub fn connection_banner(ui: &mut Ui, model: &Model, now: Instant) -> Vec<Action> {
    let mut actions = Vec::new();
    let error = ui.visuals().error_fg_color;
    egui::Frame::new()
        .fill(error.gamma_multiply(0.15))
        .inner_margin(egui::Margin::symmetric(10, 6))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(
                    RichText::new(format!(
                        "⚠ Connection lost — {}. Booking and sending wait until it is back.",
                        link_text(model, now).to_lowercase()
                    ))
                    .color(error)
                    .strong(),
                );
                let reconnecting = model.connection.reconnect_at().is_some();
                if ui
                    .add_enabled(reconnecting, egui::Button::new("Reconnect now"))
                    .clicked()
                {
                    actions.push(Action::Net(NetCommand::ReconnectNow));
                }
            });
        });
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reconnect_countdown_rounds_up() {
        let now = Instant::now();
        let mut model = Model::default();
        model.connection.status = ConnectionStatus::Reconnecting {
            delay: Duration::from_millis(3_200),
        };
        model.connection.since = now;
        assert_eq!(link_text(&model, now), "Reconnecting in 4 s");
        model.connection.status = ConnectionStatus::Connected;
        model.connection.server = Some("127.0.0.1:7878".into());
        assert_eq!(link_text(&model, now), "Connected to 127.0.0.1:7878");
    }

    #[test]
    fn several_addresses_say_which_one_and_where_in_the_list() {
        let now = Instant::now();
        let mut model = Model::default();
        let choice = |position, total| {
            Some(crate::network::ServerChoice {
                addr: "10.0.0.2:7878".into(),
                position,
                total,
            })
        };
        model.connection.trying = choice(2, 3);
        model.connection.status = ConnectionStatus::Connecting;
        assert_eq!(link_text(&model, now), "Trying 10.0.0.2:7878 (2 of 3)…");
        model.connection.status = ConnectionStatus::Reconnecting {
            delay: Duration::from_secs(2),
        };
        model.connection.since = now;
        assert_eq!(
            link_text(&model, now),
            "Reconnecting in 2 s to 10.0.0.2:7878 (2 of 3)"
        );
        model.connection.status = ConnectionStatus::Connected;
        assert_eq!(
            link_text(&model, now),
            "Connected to 10.0.0.2:7878 (2 of 3)"
        );
        // A single address reads as before.
        model.connection.trying = choice(1, 1);
        model.connection.status = ConnectionStatus::Connecting;
        assert_eq!(link_text(&model, now), "Connecting…");
    }
}
