//! The first screen: join a server by address, or host one on this computer.

use std::net::SocketAddr;
use std::path::PathBuf;

use egui::{RichText, Ui};

use super::{Action, action_button, error_color, field_error, submitted, text_field};
use crate::model::{Model, SecurityPrompt};
use crate::network::{HostRequest, NetCommand, Security, parse_servers};
use crate::settings::{ConnectMode, SecurityChoice, Settings};

/// Form state of the connect screen, seeded from the persisted settings.
#[derive(Debug, Clone)]
pub struct ConnectView {
    mode: ConnectMode,
    address: String,
    security: SecurityChoice,
    ca_file: String,
    /// Host whose pin removal awaits confirmation.
    confirm_forget: Option<String>,
    listen: String,
    data_dir: String,
    /// The data directory used when the field is left empty.
    default_data_dir: PathBuf,
    /// Show rule violations even on untouched fields (after a submit attempt).
    tried: bool,
    /// The form (join or host) whose first field has had the focus.
    focused: Option<ConnectMode>,
}

impl ConnectView {
    /// A form prefilled from `settings`; `default_data_dir` is shown as the
    /// placeholder of the data directory field.
    #[must_use]
    pub fn new(settings: &Settings, default_data_dir: PathBuf) -> Self {
        Self {
            mode: settings.mode,
            address: settings.server_address.clone(),
            security: settings.security,
            ca_file: settings
                .ca_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            confirm_forget: None,
            listen: settings.host_listen.clone(),
            data_dir: settings
                .host_data_dir
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            default_data_dir,
            tried: false,
            focused: None,
        }
    }

    /// Puts the CA file chosen in the file dialog into the form.
    pub fn set_ca_file(&mut self, path: &std::path::Path) {
        self.ca_file = path.display().to_string();
    }

    /// Draws the screen; `settings` is what is persisted now (the returned
    /// [`Action::Remember`] carries the updated copy).
    pub fn ui(&mut self, ui: &mut Ui, model: &Model, settings: &Settings) -> Vec<Action> {
        let mut actions = Vec::new();
        let busy = model.connection.busy;
        ui.vertical_centered(|ui| {
            ui.add_space(24.0);
            ui.heading(RichText::new("Coliseum").size(32.0).strong());
            ui.label("Book event tickets and chat with other members.");
            ui.add_space(16.0);
        });
        card(ui, |ui| {
            ui.horizontal(|ui| {
                ui.radio_value(&mut self.mode, ConnectMode::Join, "Join a server");
                ui.radio_value(&mut self.mode, ConnectMode::Host, "Host on this computer");
            });
            ui.add_space(8.0);
            let mut submit = false;
            match self.mode {
                ConnectMode::Join => {
                    let field = text_field(ui, "Server address", &mut self.address, false);
                    self.focus_first(ConnectMode::Join, &field);
                    submit |= submitted(ui, &field);
                    field_error(ui, self.address_error().as_deref());
                    ui.label(
                        RichText::new(
                            "host:port of a Coliseum server, e.g. 127.0.0.1:7878; several \
                             separated by commas are tried in turn when one fails",
                        )
                        .weak()
                        .small(),
                    );
                    ui.add_space(4.0);
                    self.security_ui(ui, &mut actions);
                }
                ConnectMode::Host => {
                    let field = text_field(ui, "Listen on", &mut self.listen, false);
                    self.focus_first(ConnectMode::Host, &field);
                    submit |= submitted(ui, &field);
                    field_error(ui, self.listen_error());
                    self.network_choice(ui);
                    ui.add_space(4.0);
                    let label = ui.label("Data folder");
                    let field = ui
                        .add(
                            egui::TextEdit::singleline(&mut self.data_dir)
                                .hint_text(self.default_data_dir.display().to_string())
                                .desired_width(f32::INFINITY),
                        )
                        .labelled_by(label.id);
                    submit |= submitted(ui, &field);
                }
            }
            ui.add_space(8.0);
            let text = match self.mode {
                ConnectMode::Join => "Connect",
                ConnectMode::Host => "Start server and connect",
            };
            if action_button(ui, text, busy, true) || (submit && !busy) {
                self.tried = true;
                if let Some(command) = self.command() {
                    actions.push(Action::Remember(Box::new(self.remember(settings))));
                    actions.push(Action::Net(command));
                }
            }
            if let Some(error) = &model.connection.error {
                ui.add_space(4.0);
                ui.label(RichText::new(error).color(error_color(ui)));
            }
            if let Some(SecurityPrompt::Changed {
                host,
                expected,
                actual,
            }) = &model.connection.security_prompt
            {
                ui.add_space(4.0);
                ui.label(
                    RichText::new(format!(
                        "⚠ The certificate of {host} has changed. This is what an attacker \
                         intercepting the connection looks like, or the server's operator \
                         replaced its certificate. Not connected.\n\
                         Pinned:   SHA-256 {expected}\n\
                         Received: SHA-256 {actual}\n\
                         Ask the operator which fingerprint the server printed at start-up."
                    ))
                    .color(error_color(ui)),
                );
                if ui.button("Forget this server…").clicked() {
                    self.confirm_forget = Some(host.clone());
                }
            }
        });
        self.first_use_dialog(ui, model, &mut actions);
        self.forget_dialog(ui, &mut actions);
        actions
    }

    /// Focuses `field` the first time the `mode` form is drawn.
    fn focus_first(&mut self, mode: ConnectMode, field: &egui::Response) {
        if self.focused != Some(mode) {
            self.focused = Some(mode);
            field.request_focus();
        }
    }

    /// "Let others on my network join": switches the listening address
    /// between loopback (the default: only this computer) and every
    /// interface, keeping the port, and says what the choice means.
    fn network_choice(&mut self, ui: &mut Ui) {
        let parsed = self.listen.trim().parse::<SocketAddr>().ok();
        let mut shared = parsed.is_some_and(|a| a.ip().is_unspecified());
        if ui
            .checkbox(&mut shared, "Let others on my network join")
            .changed()
        {
            let port = parsed.map_or(7878, |a| a.port());
            self.listen = if shared {
                format!("0.0.0.0:{port}")
            } else {
                format!("127.0.0.1:{port}")
            };
        }
        let text = match parsed {
            Some(addr) if addr.ip().is_unspecified() => format!(
                "Listening on every network interface ({addr}): anyone who can reach this \
                 computer on port {} can connect.",
                addr.port()
            ),
            Some(addr) if addr.ip().is_loopback() => {
                format!("Listening on {addr}: only this computer can connect.")
            }
            Some(addr) => format!("Listening on {addr}."),
            None => String::new(),
        };
        ui.label(RichText::new(text).weak().small());
    }

    /// The "Security" choice of the join form.
    fn security_ui(&mut self, ui: &mut Ui, actions: &mut Vec<Action>) {
        ui.label("Security");
        ui.radio_value(
            &mut self.security,
            SecurityChoice::TrustOnFirstUse,
            "Encrypted (TLS, trust on first use)",
        );
        ui.radio_value(
            &mut self.security,
            SecurityChoice::SystemCas,
            "Encrypted, trust system CAs",
        );
        ui.radio_value(
            &mut self.security,
            SecurityChoice::CaFile,
            "Encrypted, trust CA file…",
        );
        if self.security == SecurityChoice::CaFile {
            ui.horizontal(|ui| {
                let label = ui.label("CA file");
                ui.add(
                    egui::TextEdit::singleline(&mut self.ca_file)
                        .hint_text("ca.pem")
                        .desired_width(ui.available_width() - 80.0),
                )
                .labelled_by(label.id);
                if ui.button("Choose…").clicked() {
                    actions.push(Action::Net(NetCommand::PickCaFile));
                }
            });
            field_error(ui, self.ca_file_error());
        }
        ui.radio_value(
            &mut self.security,
            SecurityChoice::Plaintext,
            "Unencrypted (server runs with --insecure-plaintext)",
        );
        if self.security == SecurityChoice::Plaintext {
            ui.label(
                RichText::new(
                    "⚠ Passwords, session tokens and messages cross the network \
                     readable by anyone on the path. Use only on a trusted network.",
                )
                .color(error_color(ui))
                .small(),
            );
        }
    }

    /// "First connection to HOST": trust the fingerprint and connect, or cancel.
    fn first_use_dialog(&self, ui: &Ui, model: &Model, actions: &mut Vec<Action>) {
        let Some(SecurityPrompt::Unknown { host, fingerprint }) = &model.connection.security_prompt
        else {
            return;
        };
        let modal = egui::Modal::new(egui::Id::unique("first-connection")).show(ui.ctx(), |ui| {
            ui.set_max_width(460.0);
            ui.heading("New server");
            ui.label(format!(
                "First connection to {host}. Its certificate fingerprint is SHA-256 \
                 {fingerprint}. Compare it with the one the server printed at start-up."
            ));
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui.button("Trust and connect").clicked() {
                    actions.push(Action::Net(NetCommand::TrustServer {
                        host: host.clone(),
                        fingerprint: *fingerprint,
                    }));
                    if let Some((addr, security)) = &model.connection.last_connect {
                        actions.push(Action::Net(NetCommand::Connect {
                            addr: addr.clone(),
                            security: security.clone(),
                        }));
                    }
                    actions.push(Action::ClosePrompt);
                }
                if ui.button("Cancel").clicked() {
                    actions.push(Action::ClosePrompt);
                }
            });
        });
        if modal.should_close() {
            actions.push(Action::ClosePrompt);
        }
    }

    /// "Forget HOST?" confirmation.
    fn forget_dialog(&mut self, ui: &Ui, actions: &mut Vec<Action>) {
        let Some(host) = self.confirm_forget.clone() else {
            return;
        };
        let mut close = false;
        let modal = egui::Modal::new(egui::Id::unique("forget-server")).show(ui.ctx(), |ui| {
            ui.set_max_width(400.0);
            ui.heading("Forget this server?");
            ui.label(format!(
                "Remove the pinned certificate of {host}? The next connection will show \
                 its new fingerprint and ask again."
            ));
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui.button("Forget").clicked() {
                    actions.push(Action::Net(NetCommand::ForgetServer { host: host.clone() }));
                    close = true;
                }
                if ui.button("Keep").clicked() {
                    close = true;
                }
            });
        });
        if close || modal.should_close() {
            self.confirm_forget = None;
        }
    }

    fn ca_file_error(&self) -> Option<&'static str> {
        (self.security == SecurityChoice::CaFile && self.tried && self.ca_file.trim().is_empty())
            .then_some("choose the CA certificate file (PEM)")
    }

    /// The [`Security`] of the join form, when complete.
    fn security(&self) -> Option<Security> {
        Some(match self.security {
            SecurityChoice::TrustOnFirstUse => Security::TrustOnFirstUse,
            SecurityChoice::SystemCas => Security::SystemCas,
            SecurityChoice::CaFile => {
                let path = self.ca_file.trim();
                if path.is_empty() {
                    return None;
                }
                Security::CaFile(PathBuf::from(path))
            }
            SecurityChoice::Plaintext => Security::Plaintext,
        })
    }

    /// What is wrong with the address list (one `host:port`, or several
    /// separated by commas), once there is something to judge.
    fn address_error(&self) -> Option<String> {
        let address = self.address.trim();
        let error = parse_servers(address).err()?;
        (self.tried || !address.is_empty()).then(|| error.to_string())
    }

    fn listen_error(&self) -> Option<&'static str> {
        let bad = self.listen.trim().parse::<SocketAddr>().is_err();
        (bad && (self.tried || !self.listen.is_empty()))
            .then_some("enter an IP address and port, e.g. 127.0.0.1:7878")
    }

    fn data_dir(&self) -> PathBuf {
        let text = self.data_dir.trim();
        if text.is_empty() {
            self.default_data_dir.clone()
        } else {
            PathBuf::from(text)
        }
    }

    /// The command for the current form, when it is valid.
    fn command(&self) -> Option<NetCommand> {
        match self.mode {
            ConnectMode::Join => {
                let security = self.security()?;
                self.address_error().is_none().then(|| NetCommand::Connect {
                    addr: self.address.trim().to_owned(),
                    security,
                })
            }
            ConnectMode::Host => {
                let listen = self.listen.trim().parse().ok()?;
                Some(NetCommand::Host(HostRequest {
                    listen,
                    data_dir: self.data_dir(),
                }))
            }
        }
    }

    fn remember(&self, settings: &Settings) -> Settings {
        let data_dir = self.data_dir.trim();
        Settings {
            mode: self.mode,
            server_address: self.address.trim().to_owned(),
            host_listen: self.listen.trim().to_owned(),
            host_data_dir: (!data_dir.is_empty()).then(|| PathBuf::from(data_dir)),
            security: self.security,
            ca_file: (!self.ca_file.trim().is_empty()).then(|| PathBuf::from(self.ca_file.trim())),
            ..settings.clone()
        }
    }
}

/// A centred, framed column of fixed width for forms.
pub fn card<R>(ui: &mut Ui, add_contents: impl FnOnce(&mut Ui) -> R) -> R {
    let width = ui.available_width().min(420.0);
    let margin = ((ui.available_width() - width) / 2.0).max(0.0);
    ui.horizontal(|ui| {
        ui.add_space(margin);
        ui.vertical(|ui| {
            ui.set_width(width);
            egui::Frame::group(ui.style())
                .inner_margin(16.0)
                .corner_radius(8.0)
                .show(ui, |ui| {
                    ui.set_width(width - 32.0);
                    add_contents(ui)
                })
                .inner
        })
        .inner
    })
    .inner
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> ConnectView {
        ConnectView::new(&Settings::default(), PathBuf::from("/data"))
    }

    #[test]
    fn join_needs_host_and_port() {
        let mut view = view();
        assert!(
            matches!(view.command(), Some(NetCommand::Connect { addr, security: Security::TrustOnFirstUse }) if addr == "127.0.0.1:7878")
        );
        view.address = "example.org".into();
        assert!(view.command().is_none());
        assert!(view.address_error().is_some());
        view.address = " example.org:7878 ".into();
        assert!(
            matches!(view.command(), Some(NetCommand::Connect { addr, .. }) if addr == "example.org:7878")
        );
        // Several addresses (issue 15); a bad entry is named.
        view.address = "example.org:7878, 10.0.0.2:7878".into();
        assert!(
            matches!(view.command(), Some(NetCommand::Connect { addr, .. }) if addr == "example.org:7878, 10.0.0.2:7878")
        );
        view.address = "example.org:7878, 10.0.0.2".into();
        assert!(view.command().is_none());
        assert!(
            view.address_error()
                .is_some_and(|e| e.contains("\"10.0.0.2\" has no port"))
        );
        view.address = "example.org:7878".into();
        view.security = SecurityChoice::CaFile;
        assert!(view.command().is_none(), "a CA file is needed");
        view.ca_file = "/etc/ca.pem".into();
        assert!(matches!(
            view.command(),
            Some(NetCommand::Connect { security: Security::CaFile(p), .. }) if p == std::path::Path::new("/etc/ca.pem")
        ));
        view.security = SecurityChoice::Plaintext;
        assert!(matches!(
            view.command(),
            Some(NetCommand::Connect {
                security: Security::Plaintext,
                ..
            })
        ));
        assert_eq!(
            view.remember(&Settings::default()).security,
            SecurityChoice::Plaintext
        );
    }

    #[test]
    fn host_uses_the_default_data_dir_when_empty() {
        let mut view = view();
        view.mode = ConnectMode::Host;
        let Some(NetCommand::Host(request)) = view.command() else {
            panic!("expected a host command");
        };
        assert_eq!(request.data_dir, PathBuf::from("/data"));
        assert_eq!(request.listen.port(), 7878);
        view.listen = "nonsense".into();
        assert!(view.command().is_none());
        let remembered = view.remember(&Settings::default());
        assert_eq!(remembered.mode, ConnectMode::Host);
        assert_eq!(remembered.host_data_dir, None);
    }
}
