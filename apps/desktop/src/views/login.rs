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
                actions.push(Action::Net(NetCommand::Disconnect));
            }
        });
        actions
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
        let user = text_field(ui, "Username", &mut self.username, false);
        field_error(
            ui,
            self.shown(
                validate::username(self.username.trim()).err(),
                &self.username,
            )
            .as_deref()
            .or_else(|| server.and_then(|e| e.for_field("username"))),
        );
        let pass = text_field(ui, "Password", &mut self.password, true);
        field_error(
            ui,
            self.shown(validate::password(&self.password).err(), &self.password)
                .as_deref()
                .or_else(|| server.and_then(|e| e.for_field("password"))),
        );
        let mail = text_field(ui, "E-mail", &mut self.email, false);
        field_error(
            ui,
            self.shown(validate::email(self.email.trim()).err(), &self.email)
                .as_deref()
                .or_else(|| server.and_then(|e| e.for_field("email"))),
        );
        general_error(ui, server, &["username", "password", "email"]);
        ui.add_space(8.0);
        let enter = submitted(ui, &user) || submitted(ui, &pass) || submitted(ui, &mail);
        if (action_button(ui, "Create account", busy, true) || (enter && !busy))
            && self.submit_register()
        {
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

    /// Clears the password (after logging out, nothing secret stays in memory
    /// longer than needed).
    pub fn clear_secret(&mut self) {
        self.password.clear();
        self.tried = false;
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
