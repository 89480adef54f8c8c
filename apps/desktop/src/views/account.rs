//! "Account": change the username, e-mail and password, proving the current
//! password (the protocol's `update_account`). The server's refusals appear
//! beside the field they name.

use coliseum_protocol::validate;
use egui::{RichText, Ui};

use super::{Action, action_button, error_color, field_error, submitted, text_field};
use crate::model::Model;
use crate::network::NetCommand;

/// Form state of the account settings.
#[derive(Debug, Clone, Default)]
pub struct AccountView {
    username: String,
    email: String,
    new_password: String,
    current_password: String,
    /// The (username, e-mail) the fields were filled from; refilled when the
    /// account changes.
    seeded: Option<(String, String)>,
    /// Saves seen; a new one clears the password fields.
    saved: u32,
    tried: bool,
    /// The focus goes to the first field when the form appears.
    focused: bool,
    /// Values sent with the last save, so a server refusal of one of them
    /// is hidden once the user edits it.
    sent: Option<(String, String)>,
}

impl AccountView {
    /// Forgets everything typed (at logout or login).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Draws the form.
    pub fn ui(&mut self, ui: &mut Ui, model: &Model) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(user) = &model.session.user else {
            return actions;
        };
        let current = (user.username.clone(), user.email.clone());
        if self.seeded.as_ref() != Some(&current) || self.saved != model.session.account_saved {
            self.username.clone_from(&current.0);
            self.email.clone_from(&current.1);
            if self.saved != model.session.account_saved {
                self.new_password.clear();
                self.current_password.clear();
                self.tried = false;
            }
            self.seeded = Some(current.clone());
            self.saved = model.session.account_saved;
        }
        ui.heading("Account");
        ui.label(
            RichText::new(
                "Change your username, e-mail or password. Your current password is needed \
                 to save; a new password signs out your other sessions.",
            )
            .weak(),
        );
        ui.add_space(8.0);
        let server = model.session.account_error.as_ref();
        let server_for = |field: &str, value: &str, sent: Option<&str>| {
            server
                .and_then(|e| e.for_field(field))
                .filter(|_| sent.is_none_or(|s| s == value))
                .map(str::to_owned)
        };
        let busy = model.session.busy.account;
        let mut enter = false;
        ui.scope(|ui| {
            ui.set_max_width(420.0);
            let first = text_field(ui, "Username", &mut self.username, false);
            if !self.focused {
                first.request_focus();
                self.focused = true;
            }
            enter |= submitted(ui, &first);
            let sent_name = self.sent.as_ref().map(|s| s.0.as_str());
            field_error(
                ui,
                validate::username(self.username.trim())
                    .err()
                    .or_else(|| server_for("new_username", self.username.trim(), sent_name))
                    .as_deref(),
            );
            let field = text_field(ui, "E-mail", &mut self.email, false);
            enter |= submitted(ui, &field);
            let sent_mail = self.sent.as_ref().map(|s| s.1.as_str());
            field_error(
                ui,
                validate::email(self.email.trim())
                    .err()
                    .or_else(|| server_for("new_email", self.email.trim(), sent_mail))
                    .as_deref(),
            );
            let field = text_field(ui, "New password", &mut self.new_password, true);
            enter |= submitted(ui, &field);
            field_error(
                ui,
                (!self.new_password.is_empty())
                    .then(|| validate::password(&self.new_password).err())
                    .flatten()
                    .or_else(|| server_for("new_password", "", None))
                    .as_deref(),
            );
            let field = text_field(ui, "Current password", &mut self.current_password, true);
            enter |= submitted(ui, &field);
            let missing = (self.tried && self.current_password.is_empty())
                .then(|| "enter your current password to save".to_owned());
            field_error(
                ui,
                missing
                    .or_else(|| server_for("current_password", "", None))
                    .as_deref(),
            );
            if let Some(error) = server.filter(|e| {
                !matches!(
                    e.field.as_deref(),
                    Some("new_username" | "new_email" | "new_password" | "current_password")
                )
            }) {
                ui.label(RichText::new(&error.message).color(error_color(ui)));
            }
            ui.add_space(8.0);
            if action_button(ui, "Save changes", busy, true) || (enter && !busy) {
                self.tried = true;
                if let Some(command) = self.command(&current) {
                    self.sent = Some((
                        self.username.trim().to_owned(),
                        self.email.trim().to_owned(),
                    ));
                    actions.push(Action::Net(command));
                }
            }
        });
        actions
    }

    /// The `update_account` for the form, when valid and something changed.
    fn command(&self, current: &(String, String)) -> Option<NetCommand> {
        let username = self.username.trim();
        let email = self.email.trim();
        if self.current_password.is_empty()
            || validate::username(username).is_err()
            || validate::email(email).is_err()
            || (!self.new_password.is_empty() && validate::password(&self.new_password).is_err())
        {
            return None;
        }
        let new_username = (username != current.0).then(|| username.to_owned());
        let new_email = (email != current.1).then(|| email.to_owned());
        let new_password = (!self.new_password.is_empty()).then(|| self.new_password.clone());
        if new_username.is_none() && new_email.is_none() && new_password.is_none() {
            return None;
        }
        Some(NetCommand::UpdateAccount {
            current_password: self.current_password.clone(),
            new_username,
            new_email,
            new_password,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_values_are_sent_and_the_current_password_is_required() {
        let current = ("giulia".to_owned(), "g@example.com".to_owned());
        let mut view = AccountView {
            username: "giulia".into(),
            email: "new@example.com".into(),
            ..AccountView::default()
        };
        assert!(view.command(&current).is_none(), "no current password");
        view.current_password = "correct horse".into();
        let Some(NetCommand::UpdateAccount {
            new_username,
            new_email,
            new_password,
            ..
        }) = view.command(&current)
        else {
            panic!("expected an update");
        };
        assert_eq!(new_username, None);
        assert_eq!(new_email.as_deref(), Some("new@example.com"));
        assert_eq!(new_password, None);
        view.email = "g@example.com".into();
        assert!(view.command(&current).is_none(), "nothing changed");
        view.new_password = "short".into();
        assert!(
            view.command(&current).is_none(),
            "new password breaks the rules"
        );
    }
}
