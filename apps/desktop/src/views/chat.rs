//! The chat panel (rooms issue): the room list (joined rooms with unread
//! badges and mention highlights, other rooms to join, "New room"), the
//! room shown (header with members and "Leave"), who is online (with a
//! "Message" action for a direct message), the message list (sender, time,
//! text; own messages marked; system messages set apart; edit and delete
//! from a message's "..." menu, delete/mute/kick for moderators; sticks to
//! the bottom unless the user scrolled up, with an "N new messages"
//! button), who is typing, and the input (Enter sends, Shift+Enter starts
//! a new line).
//!
//! Wide panels show the room list on the left of the messages; narrow
//! ones (small windows) show it as a collapsible list above them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Local;
use coliseum_protocol::{ChatMessage, DEFAULT_ROOM, RoomKind, RoomRole, validate};
use egui::{Align, Key, KeyboardShortcut, Layout, Modifiers, RichText, Ui};

use super::{Action, error_color};
use crate::model::{ChatLine, Model, RoomChat};
use crate::network::NetCommand;

/// UI state of the chat panel.
#[derive(Debug, Clone, Default)]
pub struct ChatView {
    input: String,
    /// Newest message `seq` when the list was last scrolled to the bottom,
    /// per room.
    seen: HashMap<String, u64>,
    /// Whether the list was at the bottom in the last frame.
    at_bottom: bool,
    /// Scroll to the newest message in the next frame.
    jump: bool,
    /// The input text was put back after a failed send (by text).
    restored: Option<String>,
    /// Editing this message (room, seq) instead of writing a new one.
    editing: Option<(String, u64)>,
    /// Last `typing` sent, per room.
    typed: HashMap<String, Instant>,
    /// Newest `seq` reported read, per room.
    marked: HashMap<String, u64>,
    /// The "New room" dialog is open, with its fields.
    new_room: Option<(String, String)>,
    /// The members list of the shown room is open.
    members_open: bool,
}

/// Accessible name (and hint) of the message input.
pub const INPUT_NAME: &str = "Message";
/// Accessible name of a message's actions menu.
pub const MESSAGE_MENU: &str = "Message actions";
/// Panel width from which the room list sits on the left of the messages.
const SIDE_LIST_MIN_WIDTH: f32 = 400.0;
/// `typing` is sent at most this often per room.
const TYPING_EVERY: Duration = Duration::from_secs(3);

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
        if model.chat.created.is_some() {
            self.new_room = None;
        }
        let wide = ui.available_width() >= SIDE_LIST_MIN_WIDTH;
        if wide {
            egui::Panel::left("room-list")
                .resizable(true)
                .default_size(150.0)
                .min_size(90.0)
                .max_size(240.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical()
                        .id_salt("rooms-scroll")
                        .show(ui, |ui| self.room_list_ui(ui, model, &mut actions));
                });
        }
        egui::Panel::top("chat-header")
            .resizable(false)
            .show_separator_line(true)
            .show(ui, |ui| {
                if !wide {
                    egui::CollapsingHeader::new(rooms_heading(model))
                        .id_salt("rooms-collapsed")
                        .default_open(false)
                        .show(ui, |ui| {
                            egui::ScrollArea::vertical()
                                .id_salt("rooms-scroll-narrow")
                                .max_height(140.0)
                                .show(ui, |ui| self.room_list_ui(ui, model, &mut actions));
                        });
                }
                self.header_ui(ui, model, &mut actions);
                online_ui(ui, model, &mut actions);
            });
        egui::Panel::bottom("chat-input")
            .resizable(false)
            .show_separator_line(false)
            .show(ui, |ui| self.input_ui(ui, model, &mut actions));
        egui::CentralPanel::no_frame().show(ui, |ui| {
            self.messages_ui(ui, model, &mut actions);
        });
        self.new_room_dialog(ui, model, &mut actions);
        actions
    }

    /// The rooms: joined ones (with unread badges), then the others.
    fn room_list_ui(&mut self, ui: &mut Ui, model: &Model, actions: &mut Vec<Action>) {
        // One line per room: long names end in "…" (full name on hover).
        ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
        let chat = &model.chat;
        let mut joined: Vec<&RoomChat> = chat.rooms.values().filter(|r| r.info.joined).collect();
        joined.sort_by_key(|r| (kind_order(r.info.kind), r.info.room != DEFAULT_ROOM));
        for room in joined {
            let selected = chat.current == room.info.room && chat.dm_to.is_none();
            let clicked = ui
                .horizontal(|ui| {
                    // The count sits on the right, outside the name, so a
                    // long name shortened with "…" never hides it.
                    ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                        if room.info.unread > 0 {
                            let badge = if room.info.mentions > 0 {
                                RichText::new(format!("@{}", room.info.unread))
                                    .strong()
                                    .color(ui.visuals().warn_fg_color)
                            } else {
                                RichText::new(room.info.unread.to_string()).strong()
                            };
                            ui.label(badge);
                        }
                        ui.with_layout(Layout::left_to_right(Align::Center), |ui| {
                            let mut text = RichText::new(room_title(room));
                            if room.info.unread > 0 {
                                text = text.strong();
                            }
                            if room.info.mentions > 0 {
                                text = text.color(ui.visuals().warn_fg_color);
                            }
                            let response = ui
                                .selectable_label(selected, text)
                                .on_hover_text(room.info.topic.as_str());
                            // Named with its count, as it reads.
                            let name = room_label(room);
                            response.widget_info(|| {
                                egui::WidgetInfo::selected(
                                    egui::Role::Button,
                                    true,
                                    selected,
                                    name.clone(),
                                )
                            });
                            response.clicked()
                        })
                        .inner
                    })
                    .inner
                })
                .inner;
            if clicked {
                actions.push(Action::Net(NetCommand::OpenRoom {
                    room: room.info.room.clone(),
                }));
                self.jump = true;
            }
        }
        if ui.small_button("+ New room").clicked() {
            self.new_room = Some((String::new(), String::new()));
        }
        let others: Vec<&RoomChat> = chat
            .rooms
            .values()
            .filter(|r| !r.info.joined && r.info.kind != RoomKind::Direct)
            .collect();
        if !others.is_empty() {
            ui.add_space(4.0);
            ui.label(RichText::new("Other rooms").weak().small());
            for room in others {
                ui.horizontal(|ui| {
                    if ui
                        .small_button("Join")
                        .accessible_name(format!("Join {}", room.info.room))
                        .clicked()
                    {
                        actions.push(Action::Net(NetCommand::JoinRoom {
                            room: room.info.room.clone(),
                        }));
                    }
                    ui.add(egui::Label::new(room.title()).truncate())
                        .on_hover_text(room.info.topic.as_str());
                });
            }
        }
    }

    /// The shown room's name, its members (open/close) and "Leave".
    fn header_ui(&mut self, ui: &mut Ui, model: &Model, actions: &mut Vec<Action>) {
        let chat = &model.chat;
        if let Some(to) = &chat.dm_to {
            ui.heading(format!("@ {to}"));
            ui.label(RichText::new("New conversation").weak().small());
            return;
        }
        let Some(room) = chat.room() else {
            ui.heading("Lobby");
            return;
        };
        let title = if room.info.room == DEFAULT_ROOM {
            "Lobby".to_owned()
        } else {
            room.title()
        };
        ui.horizontal(|ui| {
            ui.heading(title);
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                let leavable = room.info.joined
                    && room.info.room != DEFAULT_ROOM
                    && room.info.kind != RoomKind::Direct
                    && chat.my_role(&room.info.room) != Some(RoomRole::Owner);
                if leavable && ui.small_button("Leave").clicked() {
                    actions.push(Action::Net(NetCommand::LeaveRoom {
                        room: room.info.room.clone(),
                    }));
                }
                if room.info.room != DEFAULT_ROOM {
                    let label = format!("Members ({})", room.members.len());
                    if ui.small_button(label).clicked() {
                        self.members_open = !self.members_open;
                    }
                }
            });
        });
        if !room.info.topic.is_empty() && room.info.kind == RoomKind::Public {
            ui.add(egui::Label::new(RichText::new(&room.info.topic).weak().small()).truncate());
        }
        if self.members_open && room.info.room != DEFAULT_ROOM {
            self.members_ui(ui, model, room, actions);
        }
    }

    /// The shown room's members: role, presence, "Message", and for
    /// moderators "Mute 10 min" and "Remove".
    fn members_ui(&self, ui: &mut Ui, model: &Model, room: &RoomChat, actions: &mut Vec<Action>) {
        let me = model.chat.me.as_deref().unwrap_or_default();
        let moderator = model.session.is_admin()
            || model
                .chat
                .my_role(&room.info.room)
                .is_some_and(RoomRole::moderates);
        egui::ScrollArea::vertical()
            .id_salt("members-list")
            .max_height(110.0)
            .show(ui, |ui| {
                for member in &room.members {
                    ui.horizontal(|ui| {
                        let dot = if member.online { "•" } else { "·" };
                        let role = match member.role {
                            RoomRole::Owner => " (owner)",
                            RoomRole::Moderator => " (moderator)",
                            RoomRole::Member => "",
                        };
                        ui.label(format!("{dot} {}{role}", member.user));
                        if member.user.eq_ignore_ascii_case(me) {
                            return;
                        }
                        if ui
                            .small_button("Message")
                            .on_hover_text(format!("Send {} a direct message", member.user))
                            .accessible_name(format!("Message {}", member.user))
                            .clicked()
                        {
                            actions.push(message_user(model, &member.user));
                        }
                        if moderator && member.role == RoomRole::Member {
                            if ui.small_button("Mute 10 min").clicked() {
                                actions.push(Action::Net(NetCommand::Mute {
                                    room: room.info.room.clone(),
                                    user: member.user.clone(),
                                    minutes: 10,
                                }));
                            }
                            let kickable = room.info.kind != RoomKind::Direct
                                && room.info.room != DEFAULT_ROOM;
                            if kickable && ui.small_button("Remove").clicked() {
                                actions.push(Action::Net(NetCommand::Kick {
                                    room: room.info.room.clone(),
                                    user: member.user.clone(),
                                }));
                            }
                        }
                    });
                }
            });
    }

    fn messages_ui(&mut self, ui: &mut Ui, model: &Model, actions: &mut Vec<Action>) {
        let chat = &model.chat;
        let room = chat.current.clone();
        let me = model.session.user.as_ref().map(|s| s.username.as_str());
        let log = if chat.dm_to.is_some() {
            None
        } else {
            Some(chat.log())
        };
        let lines = log.map(crate::model::ChatLog::lines).unwrap_or_default();
        let newest = log
            .and_then(|log| log.messages.keys().next_back().copied())
            .unwrap_or(0);
        if self.at_bottom {
            self.seen.insert(room.clone(), newest);
        }
        // What the user has seen is read: tell the server (once per seq).
        let focused = ui.ctx().input(|i| i.focused);
        if self.at_bottom
            && focused
            && newest > 0
            && self.marked.get(&room).copied().unwrap_or(0) < newest
            && chat.room().is_some_and(|r| r.info.joined)
        {
            self.marked.insert(room.clone(), newest);
            actions.push(Action::Net(NetCommand::MarkRead {
                room: room.clone(),
                seq: newest,
            }));
        }
        let moderator =
            model.session.is_admin() || chat.my_role(&room).is_some_and(RoomRole::moderates);
        let jump = std::mem::take(&mut self.jump);
        let output = egui::ScrollArea::vertical()
            .id_salt(("chat-messages", room.as_str()))
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show(ui, |ui| {
                if let Some(log) = log
                    && log.more_before
                    && let Some(oldest) = log.oldest_seq()
                {
                    ui.vertical_centered(|ui| {
                        if chat.loading_older {
                            ui.add(egui::Spinner::new());
                        } else if ui.small_button("Load older messages").clicked() {
                            actions.push(Action::Net(NetCommand::ChatOlder {
                                room: room.clone(),
                                before_seq: oldest,
                            }));
                        }
                    });
                }
                if lines.is_empty() {
                    ui.label(RichText::new("No messages yet. Say hello!").weak());
                }
                let mut last = None;
                for line in &lines {
                    last = Some(match line {
                        ChatLine::Message(message) if message.system => system_ui(ui, message),
                        ChatLine::Message(message) => {
                            let own = me.is_some() && message.from.as_deref() == me;
                            let (response, chosen) =
                                message_ui(ui, message, own, moderator && !message.deleted);
                            match chosen {
                                Some(MessageChoice::Edit) => {
                                    self.editing = Some((room.clone(), message.seq));
                                    self.input.clone_from(&message.text);
                                }
                                Some(MessageChoice::Delete) => {
                                    actions.push(Action::Net(NetCommand::DeleteMessage {
                                        room: room.clone(),
                                        seq: message.seq,
                                    }));
                                }
                                None => {}
                            }
                            response
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
        let seen = self.seen.get(&room).copied().unwrap_or(0);
        let unseen = log.map_or(0, |log| {
            log.messages.range(seen.saturating_add(1)..).count()
        });
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
    }

    fn input_ui(&mut self, ui: &mut Ui, model: &Model, actions: &mut Vec<Action>) {
        let chat = &model.chat;
        let room = chat.current.clone();
        let typists = chat.typing_in(&room, Instant::now());
        let typing = match typists.as_slice() {
            [] => " ".to_owned(),
            [one] => format!("{one} is typing…"),
            [one, two] => format!("{one} and {two} are typing…"),
            _ => "Several people are typing…".to_owned(),
        };
        if !typists.is_empty() {
            // Redraw once the notice has lapsed.
            ui.ctx().request_repaint_after(crate::model::TYPING_SHOWN);
        }
        ui.label(RichText::new(typing).weak().small().italics());
        let sending = chat.sending;
        let connected = model.connection.is_connected();
        let may_write = chat.dm_to.is_some() || chat.room().is_some_and(|r| r.info.joined);
        let hint = match (&chat.dm_to, chat.room()) {
            (Some(to), _) => format!("Message {to}"),
            (None, Some(room)) if room.info.room == DEFAULT_ROOM => "Message the lobby".to_owned(),
            (None, Some(room)) => format!("Message {}", room.title()),
            (None, None) => "Message".to_owned(),
        };
        let before = self.input.clone();
        let response = ui.add_enabled(
            may_write,
            egui::TextEdit::multiline(&mut self.input)
                .id_salt("chat-input")
                .hint_text(hint)
                .desired_rows(2)
                .desired_width(f32::INFINITY)
                .return_key(KeyboardShortcut::new(Modifiers::SHIFT, Key::Enter)),
        );
        let response = response.accessible_name(INPUT_NAME);
        if self.input != before && !self.input.trim().is_empty() && chat.dm_to.is_none() {
            let now = Instant::now();
            let due = self
                .typed
                .get(&room)
                .is_none_or(|at| now.duration_since(*at) >= TYPING_EVERY);
            if due && connected {
                self.typed.insert(room.clone(), now);
                actions.push(Action::Net(NetCommand::Typing { room: room.clone() }));
            }
        }
        let enter =
            response.has_focus() && ui.input(|i| i.key_pressed(Key::Enter) && !i.modifiers.shift);
        if response.has_focus()
            && self.editing.is_some()
            && ui.input(|i| i.key_pressed(Key::Escape))
        {
            self.editing = None;
            self.input.clear();
        }
        let problem = validate::chat_text(&self.input).err();
        let mut send = false;
        ui.horizontal(|ui| {
            let hint = if !connected {
                "Offline: you can send once reconnected"
            } else if !may_write {
                "Join this room to write in it"
            } else if self.editing.is_some() {
                "Editing · Enter to save · Esc to cancel"
            } else {
                "Enter to send · Shift+Enter for a new line"
            };
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                let label = if self.editing.is_some() {
                    "Save"
                } else {
                    "Send"
                };
                let clicked = ui
                    .add_enabled(
                        !sending && connected && may_write && problem.is_none(),
                        egui::Button::new(label),
                    )
                    .clicked();
                if sending {
                    ui.add(egui::Spinner::new());
                }
                send = clicked || (enter && !sending && connected && may_write);
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
            let text = std::mem::take(&mut self.input).trim_end().to_owned();
            self.jump = true;
            response.request_focus();
            let command = if let Some((room, seq)) = self.editing.take() {
                NetCommand::EditMessage { room, seq, text }
            } else if let Some(to) = &chat.dm_to {
                NetCommand::DirectMessage {
                    to: to.clone(),
                    text,
                }
            } else {
                NetCommand::ChatSend { room, text }
            };
            actions.push(Action::Net(command));
        }
    }

    /// The "New room" window: name and topic, Create.
    fn new_room_dialog(&mut self, ui: &Ui, model: &Model, actions: &mut Vec<Action>) {
        let Some((name, topic)) = self.new_room.as_mut() else {
            return;
        };
        let mut open = true;
        let mut create = false;
        egui::Window::new("New room")
            .collapsible(false)
            .resizable(false)
            .open(&mut open)
            .show(ui.ctx(), |ui| {
                let name_field = super::text_field(ui, "Room name", name, false);
                let problem = validate::public_room(name).err();
                let server = model.chat.create_error.as_ref();
                let shown = if name.is_empty() {
                    None
                } else {
                    problem
                        .as_deref()
                        .or_else(|| server.map(|e| e.message.as_str()))
                };
                super::field_error(ui, shown);
                super::text_field(ui, "Topic (optional)", topic, false);
                ui.label(
                    RichText::new("2–32 of a–z, 0–9, - and _. You will own the room.")
                        .weak()
                        .small(),
                );
                let busy = model.chat.creating_room;
                create = super::action_button(ui, "Create room", busy, problem.is_none())
                    || (super::submitted(ui, &name_field) && problem.is_none() && !busy);
            });
        if create && let Some((name, topic)) = self.new_room.clone() {
            actions.push(Action::Net(NetCommand::CreateRoom { room: name, topic }));
        }
        if !open {
            self.new_room = None;
        }
    }
}

/// The heading of the collapsed room list: the shown room and the unread
/// total.
fn rooms_heading(model: &Model) -> String {
    match model.chat.total_unread() {
        0 => "Rooms".to_owned(),
        n => format!("Rooms ({n} unread)"),
    }
}

/// Lobby and public rooms first, then events, then direct messages.
const fn kind_order(kind: RoomKind) -> u8 {
    match kind {
        RoomKind::Public => 0,
        RoomKind::Event => 1,
        RoomKind::Direct => 2,
    }
}

/// A room's name in the list.
fn room_title(room: &RoomChat) -> String {
    if room.info.room == DEFAULT_ROOM {
        "# lobby".to_owned()
    } else {
        room.title()
    }
}

/// A room in the list as it reads (and is named for accessibility): its
/// title with the unread count, "@" before it when some mention the user.
fn room_label(room: &RoomChat) -> String {
    let title = room_title(room);
    match (room.info.unread, room.info.mentions) {
        (0, _) => title,
        (n, 0) => format!("{title}  {n}"),
        (n, _) => format!("{title}  @{n}"),
    }
}

/// Opens the direct room with `user`, or starts one.
fn message_user(model: &Model, user: &str) -> Action {
    let existing = model
        .chat
        .rooms
        .values()
        .find(|r| r.info.kind == RoomKind::Direct && r.info.topic.eq_ignore_ascii_case(user));
    match existing {
        Some(room) => Action::Net(NetCommand::OpenRoom {
            room: room.info.room.clone(),
        }),
        None => Action::ComposeDirect(user.to_owned()),
    }
}

/// The online list's height in the smallest window (about three names).
const ONLINE_LIST_MIN: f32 = 84.0;

/// Who is online, each with a "Message" action.
fn online_ui(ui: &mut Ui, model: &Model, actions: &mut Vec<Action>) {
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
            // Room for more names in a tall window; a solid scroll bar
            // (egui's default floating one is invisible until hovered) says
            // when there are more than fit.
            let height = (ui.ctx().content_rect().height() * 0.2).clamp(ONLINE_LIST_MIN, 200.0);
            ui.spacing_mut().scroll = egui::style::ScrollStyle::solid();
            // `min_scrolled_height` too: a top panel offers little height
            // while it is laid out, and the list would shrink to egui's
            // default minimum (two names).
            egui::ScrollArea::both()
                .id_salt("online-list")
                .max_height(height)
                .min_scrolled_height(height)
                .show(ui, |ui| {
                    for user in &model.chat.online.users {
                        let me = model
                            .session
                            .user
                            .as_ref()
                            .is_some_and(|s| &s.username == user);
                        ui.horizontal(|ui| {
                            let text = if me {
                                format!("• {user} (you)")
                            } else {
                                format!("• {user}")
                            };
                            ui.add(egui::Label::new(
                                RichText::new(text).color(ui.visuals().weak_text_color()),
                            ));
                            if !me
                                && ui
                                    .small_button("Message")
                                    .on_hover_text(format!("Send {user} a direct message"))
                                    .accessible_name(format!("Message {user}"))
                                    .clicked()
                            {
                                actions.push(message_user(model, user));
                            }
                        });
                    }
                });
        });
}

/// What the user chose in a message's menu.
enum MessageChoice {
    /// Edit the text (own messages).
    Edit,
    /// Delete it (own messages; any, for moderators).
    Delete,
}

/// One message: sender (and "you"), local time, "(edited)", the text (or
/// "message deleted"), and a "..." menu with what the user may do to it.
fn message_ui(
    ui: &mut Ui,
    message: &ChatMessage,
    own: bool,
    moderator: bool,
) -> (egui::Response, Option<MessageChoice>) {
    let mut choice = None;
    let response = ui
        .vertical(|ui| {
            ui.add_space(2.0);
            ui.horizontal(|ui| {
                let accent = if own {
                    ui.visuals().hyperlink_color
                } else {
                    ui.visuals().strong_text_color()
                };
                let from = message.from.as_deref().unwrap_or("server");
                let name = if own {
                    format!("{from} (you)")
                } else {
                    from.to_owned()
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
                if message.edited_at.is_some() && !message.deleted {
                    ui.label(RichText::new("(edited)").weak().small());
                }
                if !message.deleted && (own || moderator) {
                    let menu = ui.menu_button("...", |ui| {
                        if own && ui.button("Edit").clicked() {
                            choice = Some(MessageChoice::Edit);
                            ui.close();
                        }
                        if ui.button("Delete").clicked() {
                            choice = Some(MessageChoice::Delete);
                            ui.close();
                        }
                    });
                    menu.response.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::Role::Button, true, MESSAGE_MENU)
                    });
                }
            });
            if message.deleted {
                ui.label(RichText::new("message deleted").weak().italics());
            } else {
                ui.add(egui::Label::new(&message.text).wrap());
            }
        })
        .response;
    (response, choice)
}

/// A system message: set apart, centred, with no sender.
fn system_ui(ui: &mut Ui, message: &ChatMessage) -> egui::Response {
    ui.vertical_centered(|ui| {
        ui.add_space(2.0);
        ui.add(
            egui::Label::new(
                RichText::new(format!("» {}", message.text))
                    .italics()
                    .color(ui.visuals().hyperlink_color),
            )
            .wrap(),
        );
    })
    .response
}
