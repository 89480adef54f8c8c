//! The lobby panel: who is online, the message list (sender, time, text; own
//! messages marked; sticks to the bottom unless the user scrolled up, with an
//! "N new messages" button), and the input (Enter sends, Shift+Enter starts a
//! new line).

use chrono::Local;
use coliseum_protocol::validate;
use egui::{Align, Key, KeyboardShortcut, Layout, Modifiers, RichText, Ui};

use super::{Action, error_color};
use crate::model::{ChatLine, Model};
use crate::network::NetCommand;

/// UI state of the chat panel.
#[derive(Debug, Clone, Default)]
pub struct ChatView {
    input: String,
    /// Newest message `seq` when the list was last scrolled to the bottom.
    seen: u64,
    /// Whether the list was at the bottom in the last frame.
    at_bottom: bool,
    /// Scroll to the newest message in the next frame.
    jump: bool,
    /// The input text was put back after a failed send (by text).
    restored: Option<String>,
}

/// Accessible name (and hint) of the message input.
pub const INPUT_NAME: &str = "Message";

impl ChatView {
    /// Draws the panel's contents.
    pub fn ui(&mut self, ui: &mut Ui, model: &Model) -> Vec<Action> {
        let mut actions = Vec::new();
        if let Some(text) = &model.chat.unsent
            && self.restored.as_ref() != Some(text)
        {
            self.restored = Some(text.clone());
            if self.input.is_empty() {
                self.input.clone_from(text);
            }
        }
        ui.heading("Lobby");
        let connected = model.connection.is_connected();
        egui::CollapsingHeader::new(super::status::online_text(model))
            .id_salt("online-users")
            .default_open(true)
            .show(ui, |ui| {
                if !connected {
                    ui.label(
                        RichText::new("Offline: this list may be out of date.")
                            .weak()
                            .small()
                            .italics(),
                    );
                }
                egui::ScrollArea::both()
                    .id_salt("online-list")
                    .max_height(96.0)
                    .show(ui, |ui| {
                        for user in &model.chat.online.users {
                            let me = model
                                .session
                                .user
                                .as_ref()
                                .is_some_and(|s| &s.username == user);
                            let text = if me {
                                format!("• {user} (you)")
                            } else {
                                format!("• {user}")
                            };
                            ui.add(
                                egui::Label::new(
                                    RichText::new(text).color(ui.visuals().weak_text_color()),
                                )
                                .extend(),
                            );
                        }
                    });
            });
        ui.separator();

        egui::Panel::bottom("chat-input")
            .resizable(false)
            .show_separator_line(false)
            .show(ui, |ui| {
                if let Some(action) = self.input_ui(ui, model) {
                    actions.push(action);
                }
            });
        egui::CentralPanel::no_frame().show(ui, |ui| {
            if let Some(action) = self.messages_ui(ui, model) {
                actions.push(action);
            }
        });
        actions
    }

    fn messages_ui(&mut self, ui: &mut Ui, model: &Model) -> Option<Action> {
        let mut action = None;
        let me = model.session.user.as_ref().map(|s| s.username.as_str());
        let lines = model.chat.log.lines();
        let newest = model
            .chat
            .log
            .messages
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0);
        if self.at_bottom {
            self.seen = newest;
        }
        let jump = std::mem::take(&mut self.jump);
        let output = egui::ScrollArea::vertical()
            .id_salt("chat-messages")
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show(ui, |ui| {
                if model.chat.log.more_before
                    && let Some(oldest) = model.chat.log.oldest_seq()
                {
                    ui.vertical_centered(|ui| {
                        if model.chat.loading_older {
                            ui.add(egui::Spinner::new());
                        } else if ui.small_button("Load older messages").clicked() {
                            action =
                                Some(Action::Net(NetCommand::ChatOlder { before_seq: oldest }));
                        }
                    });
                }
                if lines.is_empty() {
                    ui.label(RichText::new("No messages yet. Say hello!").weak());
                }
                let mut last = None;
                for line in &lines {
                    last = Some(match line {
                        ChatLine::Message(message) => {
                            let own = me == Some(message.from.as_str());
                            message_ui(ui, message, own)
                        }
                        ChatLine::Notice(_, text) => {
                            ui.vertical_centered(|ui| {
                                ui.label(
                                    RichText::new(format!("— {text} —"))
                                        .weak()
                                        .small()
                                        .italics(),
                                );
                            })
                            .response
                        }
                    });
                }
                if jump && let Some(last) = last {
                    last.scroll_to_me(Some(Align::BOTTOM));
                }
            });
        let bottom_gap =
            output.content_size.y - (output.state.clamped_offset().y + output.inner_rect.height());
        self.at_bottom = bottom_gap <= 4.0 || jump;
        // Counted by sequence number, so trimming old messages away does
        // not change it.
        let unseen = model
            .chat
            .log
            .messages
            .range(self.seen.saturating_add(1)..)
            .count();
        if !self.at_bottom && unseen > 0 {
            let text = if unseen == 1 {
                "1 new message ⏷".to_owned()
            } else {
                format!("{unseen} new messages ⏷")
            };
            let rect = output.inner_rect;
            let button_pos = egui::pos2(rect.center().x - 70.0, rect.bottom() - 34.0);
            egui::Area::new(egui::Id::unique("chat-new-messages"))
                .order(egui::Order::Foreground)
                .fixed_pos(button_pos)
                .show(ui.ctx(), |ui| {
                    if ui.button(text).clicked() {
                        self.jump = true;
                        ui.ctx().request_repaint();
                    }
                });
        }
        action
    }

    fn input_ui(&mut self, ui: &mut Ui, model: &Model) -> Option<Action> {
        ui.add_space(4.0);
        let sending = model.chat.sending;
        let connected = model.connection.is_connected();
        let response = ui.add(
            egui::TextEdit::multiline(&mut self.input)
                .id_salt("chat-input")
                .hint_text("Message the lobby")
                .desired_rows(2)
                .desired_width(f32::INFINITY)
                .return_key(KeyboardShortcut::new(Modifiers::SHIFT, Key::Enter)),
        );
        let response = response.accessible_name(INPUT_NAME);
        let enter =
            response.has_focus() && ui.input(|i| i.key_pressed(Key::Enter) && !i.modifiers.shift);
        let problem = validate::chat_text(&self.input).err();
        let mut send = false;
        ui.horizontal(|ui| {
            let hint = if connected {
                "Enter to send · Shift+Enter for a new line"
            } else {
                "Offline: you can send once reconnected"
            };
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                let clicked = ui
                    .add_enabled(
                        !sending && connected && problem.is_none(),
                        egui::Button::new("Send"),
                    )
                    .clicked();
                if sending {
                    ui.add(egui::Spinner::new());
                }
                send = clicked || (enter && !sending && connected);
                // Shortened with "…" when the panel is narrow, never under the button.
                ui.with_layout(Layout::left_to_right(Align::Center), |ui| {
                    ui.add(egui::Label::new(RichText::new(hint).weak().small()).truncate());
                });
            });
        });
        if !self.input.is_empty()
            && let Some(problem) = &problem
            && self.input.chars().count() > validate::CHAT_TEXT_MAX
        {
            ui.label(RichText::new(problem).color(error_color(ui)).small());
        }
        if send && problem.is_none() {
            let text = std::mem::take(&mut self.input);
            self.jump = true;
            response.request_focus();
            return Some(Action::Net(NetCommand::ChatSend {
                text: text.trim_end().to_owned(),
            }));
        }
        None
    }
}

/// One message: sender (and "you"), local time, and the text.
fn message_ui(ui: &mut Ui, message: &coliseum_protocol::ChatMessage, own: bool) -> egui::Response {
    ui.vertical(|ui| {
        ui.add_space(2.0);
        ui.horizontal(|ui| {
            let accent = if own {
                ui.visuals().hyperlink_color
            } else {
                ui.visuals().strong_text_color()
            };
            let name = if own {
                format!("{} (you)", message.from)
            } else {
                message.from.clone()
            };
            ui.label(RichText::new(name).strong().color(accent));
            ui.label(
                RichText::new(
                    message
                        .sent_at
                        .with_timezone(&Local)
                        .format("%H:%M")
                        .to_string(),
                )
                .weak()
                .small(),
            );
        });
        ui.add(egui::Label::new(&message.text).wrap());
    })
    .response
}
