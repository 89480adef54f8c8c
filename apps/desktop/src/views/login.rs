//! Log in and register forms, with inline validation by the server's own
//! rules (`coliseum_protocol::validate`) and the server's error shown next to
//! the field it names.

use coliseum_protocol::validate;
use egui::{RichText, Ui};

use super::connect::card;
use super::{Action, action_button, error_color, field_error, submitted, text_field};
use crate::model::Model;
use crate::network::{FormError, NetCommand};

/// Which form is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoginTab {
    /// Log in with username and password.
    #[default]
    Login,
    /// Create an account.
    Register,
}

/// Form state of the login screen.
#[derive(Debug, Clone, Default)]
pub struct LoginView {
    tab: LoginTab,
    username: String,
    password: String,
    email: String,
    /// A submit was attempted: show every rule violation, even on empty fields.
    tried: bool,
    /// The password was cleared after this registration (by username).
    handled_registration: Option<String>,
    /// The form that has had its first field focused (set when a form
    /// appears, so the user can type at once).
    focused: Option<LoginTab>,
    /// The last server error the form reacted to, by message (a new one
    /// puts the focus back into the form).
    seen_error: Option<FormError>,
    /// Username and e-mail sent with the last registration, so that a
    /// server refusal of one ("already taken") is hidden once it is edited.
    sent: Option<(String, String)>,
    /// "Use another server" while hosting awaits confirmation.
    confirm_leave: bool,
}

impl LoginView {
    /// A login form with `username` prefilled (the last one used).
    #[must_use]
    pub fn new(username: &str) -> Self {
        Self {
            username: username.to_owned(),
            ..Self::default()
        }
    }

    /// Draws the screen.
    pub fn ui(&mut self, ui: &mut Ui, model: &Model) -> Vec<Action> {
        let mut actions = Vec::new();
        if model.session.registered.is_some()
            && self.handled_registration != model.session.registered
        {
            self.handled_registration
                .clone_from(&model.session.registered);
            self.tab = LoginTab::Login;
        }
        ui.vertical_centered(|ui| {
            ui.add_space(24.0);
            ui.heading(RichText::new("Welcome to Coliseum").size(26.0).strong());
            if let Some(server) = &model.connection.server {
                ui.label(RichText::new(format!("Server: {server}")).weak());
            }
            ui.add_space(12.0);
        });
        card(ui, |ui| {
            ui.horizontal(|ui| {
                for (tab, text) in [
                    (LoginTab::Login, "Log in"),
                    (LoginTab::Register, "Register"),
                ] {
                    if super::tab(ui, self.tab == tab, text) && self.tab != tab {
                        self.tab = tab;
                        self.tried = false;
                    }
                }
            });
            ui.separator();
            if let Some(message) = &model.session.login_message {
                ui.label(RichText::new(message).color(error_color(ui)));
            }
            match self.tab {
                LoginTab::Login => self.login_form(ui, model, &mut actions),
                LoginTab::Register => self.register_form(ui, model, &mut actions),
            }
            ui.add_space(8.0);
            if ui.link("Use another server").clicked() {
                if model.connection.hosting.is_some() {
                    self.confirm_leave = true;
                } else {
                    actions.push(Action::Net(NetCommand::Disconnect));
                }
            }
        });
        self.leave_dialog(ui, model, &mut actions);
        actions
    }

    /// "Stop the server you host?": leaving stops it and disconnects the
    /// people on it, so ask first, saying how many are connected.
    fn leave_dialog(&mut self, ui: &Ui, model: &Model, actions: &mut Vec<Action>) {
        if !self.confirm_leave {
            return;
        }
        let people = model.chat.online.count;
        let mut close = false;
        let modal = egui::Modal::new(egui::Id::unique("stop-hosting")).show(ui.ctx(), |ui| {
            ui.set_max_width(400.0);
            ui.heading("Stop the server you host?");
            let who = match people {
                0 => "Nobody is connected to it now.".to_owned(),
                1 => "1 person is connected to it and will be disconnected.".to_owned(),
                n => format!("{n} people are connected to it and will be disconnected."),
            };
            ui.label(format!("Using another server stops this one. {who}"));
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui.button("Stop server and leave").clicked() {
                    actions.push(Action::Net(NetCommand::Disconnect));
                    close = true;
                }
                if ui.button("Keep hosting").clicked() {
                    close = true;
                }
            });
        });
        if close || modal.should_close() {
            self.confirm_leave = false;
        }
    }

    /// Focuses `first` when the form first appears; after the server refused
    /// a submit, focuses `first` when the refusal names the username, else
    /// `retry` (the login's password, cleared), so typing continues in the form.
    fn keep_focus(
        &mut self,
        tab: LoginTab,
        error: Option<&FormError>,
        first: &egui::Response,
        retry: &egui::Response,
    ) {
        if self.focused != Some(tab) {
            self.focused = Some(tab);
            first.request_focus();
        }
        let Some(error) = error else {
            // Cleared when a submit goes out: the same refusal again counts.
            self.seen_error = None;
            return;
        };
        if self.seen_error.as_ref() != Some(error) {
            self.seen_error = Some(error.clone());
            if error.field.as_deref() == Some("username") {
                first.request_focus();
            } else {
                retry.request_focus();
                if tab == LoginTab::Login {
                    // Type the password again from scratch (no "enter your
                    // password" nagging about the field just emptied).
                    self.password.clear();
                    self.tried = false;
                }
            }
        }
    }

    fn login_form(&mut self, ui: &mut Ui, model: &Model, actions: &mut Vec<Action>) {
        let server = model.session.login_error.as_ref();
        let busy = model.session.busy.login;
        let user = text_field(ui, "Username", &mut self.username, false);
        field_error(
            ui,
            self.shown(validate::username(&self.username).err(), &self.username)
                .as_deref()
                .or_else(|| server.and_then(|e| e.for_field("username"))),
        );
        let pass = text_field(ui, "Password", &mut self.password, true);
        let pass_rule = self
            .password
            .is_empty()
            .then(|| "enter your password".to_owned());
        field_error(
            ui,
            self.shown(pass_rule, &self.password)
                .as_deref()
                .or_else(|| server.and_then(|e| e.for_field("password"))),
        );
        general_error(ui, server, &["username", "password"]);
        self.keep_focus(LoginTab::Login, server, &user, &pass);
        ui.add_space(8.0);
        let enter = submitted(ui, &user) || submitted(ui, &pass);
        if (action_button(ui, "Log in", busy, true) || (enter && !busy)) && self.submit_login() {
            actions.push(Action::Net(NetCommand::Login {
                username: self.username.trim().to_owned(),
                password: self.password.clone(),
            }));
        }
    }

    fn register_form(&mut self, ui: &mut Ui, model: &Model, actions: &mut Vec<Action>) {
        let server = model.session.register_error.as_ref();
        let busy = model.session.busy.register || model.session.busy.login;
        let sent = self.sent.clone();
        // A refusal of a value the user has since changed is stale.
        let server_for = |field: &str, value: &str| {
            server.and_then(|e| e.for_field(field)).filter(|_| {
                sent.as_ref().is_none_or(|(name, mail)| match field {
                    "username" => name == value,
                    "email" => mail == value,
                    _ => true,
                })
            })
        };
        let user = text_field(ui, "Username", &mut self.username, false);
        field_error(
            ui,
            self.shown(
                validate::username(self.username.trim()).err(),
                &self.username,
            )
            .as_deref()
            .or_else(|| server_for("username", self.username.trim())),
        );
        let pass = text_field(ui, "Password", &mut self.password, true);
        field_error(
            ui,
            self.shown(validate::password(&self.password).err(), &self.password)
                .as_deref()
                .or_else(|| server_for("password", "")),
        );
        let mail = text_field(ui, "E-mail", &mut self.email, false);
        field_error(
            ui,
            self.shown(validate::email(self.email.trim()).err(), &self.email)
                .as_deref()
                .or_else(|| server_for("email", self.email.trim())),
        );
        general_error(ui, server, &["username", "password", "email"]);
        self.keep_focus(LoginTab::Register, server, &user, &user);
        ui.add_space(8.0);
        let enter = submitted(ui, &user) || submitted(ui, &pass) || submitted(ui, &mail);
        if (action_button(ui, "Create account", busy, true) || (enter && !busy))
            && self.submit_register()
        {
            self.sent = Some((
                self.username.trim().to_owned(),
                self.email.trim().to_owned(),
            ));
            actions.push(Action::Net(NetCommand::Register {
                username: self.username.trim().to_owned(),
                password: self.password.clone(),
                email: self.email.trim().to_owned(),
            }));
        }
    }

    /// A rule violation is shown once the field has text or a submit was tried.
    fn shown(&self, violation: Option<String>, value: &str) -> Option<String> {
        violation.filter(|_| self.tried || !value.is_empty())
    }

    fn submit_login(&mut self) -> bool {
        self.tried = true;
        validate::username(self.username.trim()).is_ok() && !self.password.is_empty()
    }

    fn submit_register(&mut self) -> bool {
        self.tried = true;
        validate::username(self.username.trim()).is_ok()
            && validate::password(&self.password).is_ok()
            && validate::email(self.email.trim()).is_ok()
    }

    /// Clears the password and the registration's e-mail (after a login or
    /// logout nothing secret stays in memory longer than needed, and the
    /// next person does not find the previous one's address in the form).
    pub fn clear_secret(&mut self) {
        self.password.clear();
        self.email.clear();
        self.tried = false;
        self.focused = None;
        self.sent = None;
    }
}

/// A server error that names none of `fields` (or no field at all).
fn general_error(ui: &mut Ui, error: Option<&FormError>, fields: &[&str]) {
    if let Some(error) = error
        && !error
            .field
            .as_deref()
            .is_some_and(|field| fields.contains(&field))
    {
        ui.label(RichText::new(&error.message).color(error_color(ui)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_requires_every_rule() {
        let mut view = LoginView::new("");
        view.username = "ab".into();
        view.password = "longenough".into();
        view.email = "a@example.com".into();
        assert!(!view.submit_register(), "username too short");
        view.username = "abc".into();
        assert!(view.submit_register());
        view.email = "nope".into();
        assert!(!view.submit_register());
    }

    #[test]
    fn violations_show_once_typed_or_tried() {
        let mut view = LoginView::new("");
        let rule = validate::username("").err();
        assert!(
            view.shown(rule.clone(), "").is_none(),
            "untouched empty field stays quiet"
        );
        assert!(view.shown(rule.clone(), "x").is_some());
        view.tried = true;
        assert!(view.shown(rule, "").is_some());
    }
}
