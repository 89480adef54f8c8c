//! The views: each a small type holding only its own form state, with a `ui`
//! method that reads the [`Model`](crate::model::Model) and returns the
//! [`Action`]s the user asked for. The app runs them after drawing, so no
//! view talks to the network or to another view.
//!
//! # Layout
//! - [`connect`]: server address, or "Host on this computer".
//! - [`login`]: log in and register forms.
//! - [`events`]: the live events table with booking and waiting lists.
//! - [`event_details`]: one event in full; edit, cancel, attendees.
//! - [`offers`]: the banner of seats held for the user, with a countdown.
//! - [`tickets`]: "My tickets": QR code, save, calendar, (partial) cancel, export.
//! - [`check_in`]: the door: a typed, pasted or imaged ticket code.
//! - [`admin`]: "New event" form and events import (admins only).
//! - [`account`]: change username, e-mail and password.
//! - [`chat`]: the chat side panel: rooms, messages, the online list.
//! - [`status`]: the status bar and the notice banner.

pub mod account;
pub mod admin;
pub mod chat;
pub mod check_in;
pub mod connect;
pub mod event_details;
pub mod events;
pub mod login;
pub mod offers;
pub mod status;
pub mod tickets;

use egui::{Color32, Response, RichText, Ui};

use crate::network::NetCommand;
use crate::settings::{Settings, ThemeChoice};

/// A main-window tab (once logged in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    /// The events table.
    #[default]
    Events,
    /// The user's tickets.
    Tickets,
    /// "New event" (admins only).
    Admin,
    /// The door: check tickets in (admins and staff).
    CheckIn,
    /// Account settings.
    Account,
}

/// What a view asks the app to do.
#[must_use = "an action does nothing until the app runs it"]
#[derive(Debug, Clone)]
pub enum Action {
    /// Send a command to the network thread (marking it in flight first).
    Net(NetCommand),
    /// Switch the main view.
    Show(Tab),
    /// Remove the notice at this index.
    Dismiss(usize),
    /// Change the theme.
    Theme(ThemeChoice),
    /// Remember these settings (e.g. the server address on connect).
    Remember(Box<Settings>),
    /// Close the trust-on-first-use prompt without trusting.
    ClosePrompt,
    /// Show or hide the chat panel.
    ToggleChat,
    /// Start a direct conversation with this user (no room yet: the first
    /// message creates it).
    ComposeDirect(String),
}

/// Where inline error texts are drawn.
#[must_use]
pub fn error_color(ui: &Ui) -> Color32 {
    ui.visuals().error_fg_color
}

/// A label above a single-line text field, wired for accessibility (the
/// field is named by the label) and for Tab navigation. The field's id comes
/// from the label text, so messages appearing above it never change it (a
/// changed id would drop the keyboard focus). Returns the field's response.
pub fn text_field(ui: &mut Ui, label: &str, value: &mut String, password: bool) -> Response {
    let label_response = ui.label(label);
    ui.add(
        egui::TextEdit::singleline(value)
            .id_salt(("field", label))
            .password(password)
            .desired_width(f32::INFINITY),
    )
    .labelled_by(label_response.id)
}

/// A labelled multi-line text field, `rows` lines tall, full width (event
/// descriptions).
pub fn text_area(
    ui: &mut Ui,
    label: &str,
    id_salt: &str,
    value: &mut String,
    rows: usize,
) -> Response {
    let label_response = ui.label(label);
    ui.add(
        egui::TextEdit::multiline(value)
            .id_salt(id_salt)
            .desired_rows(rows)
            .desired_width(f32::INFINITY),
    )
    .labelled_by(label_response.id)
}

/// A whole number typed in a form field; `Err("<what> must be a whole
/// number")` otherwise.
pub fn parse_count(what: &str, text: &str) -> Result<u32, String> {
    text.trim()
        .parse::<u32>()
        .map_err(|_| format!("{what} must be a whole number"))
}

/// An inline error under a field. The line is reserved even when `error`
/// is `None`, so fields below do not move while the user types.
pub fn field_error(ui: &mut Ui, error: Option<&str>) {
    ui.label(
        RichText::new(error.unwrap_or(" "))
            .color(error_color(ui))
            .small(),
    );
}

/// True when `response`'s field just lost focus because Enter was pressed.
#[must_use]
pub fn submitted(ui: &Ui, response: &Response) -> bool {
    response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter))
}

/// A tab of a tab bar: a selectable label with the accessibility role `Tab`.
/// Returns `true` when clicked.
pub fn tab(ui: &mut Ui, selected: bool, text: &str) -> bool {
    let response = ui.selectable_label(selected, text);
    response.widget_info(|| egui::WidgetInfo::selected(egui::Role::Tab, true, selected, text));
    response.clicked()
}

/// A button that turns into a spinner while `busy` and is disabled unless
/// `enabled`. Returns `true` when clicked (never while busy).
pub fn action_button(ui: &mut Ui, text: &str, busy: bool, enabled: bool) -> bool {
    ui.horizontal(|ui| {
        let clicked = ui
            .add_enabled(enabled && !busy, egui::Button::new(text))
            .clicked();
        if busy {
            ui.add(egui::Spinner::new());
        }
        clicked && !busy
    })
    .inner
}
