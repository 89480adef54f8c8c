//! The session slice: who is logged in, and the login and registration
//! forms' requests and answers.

use coliseum_protocol::Role;

use crate::network::{ConnectionStatus, FormError, NetCommand, NetEvent};

/// The logged-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Account id.
    pub user_id: String,
    /// Username.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// `user` or `admin`.
    pub role: Role,
}

/// Session requests in flight.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SessionBusy {
    /// Login (also the login after a registration).
    pub login: bool,
    /// Registration.
    pub register: bool,
    /// Logout.
    pub logout: bool,
    /// Account settings ("Save changes").
    pub account: bool,
}

/// Who is logged in, and the state of the forms that change that.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SessionState {
    /// The logged-in user.
    pub user: Option<Session>,
    /// Shown on the login screen (e.g. "session expired").
    pub login_message: Option<String>,
    /// Last login failure.
    pub login_error: Option<FormError>,
    /// Last registration failure.
    pub register_error: Option<FormError>,
    /// Username of a registration that succeeded (the form clears itself).
    pub registered: Option<String>,
    /// Last account-settings failure.
    pub account_error: Option<FormError>,
    /// Account changes saved so far (the form clears itself when it grows).
    pub account_saved: u32,
    /// Requests in flight.
    pub busy: SessionBusy,
}

impl SessionState {
    /// True for an admin session.
    #[must_use]
    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|s| s.role == Role::Admin)
    }

    /// True for admins and door staff: they may check tickets in and see
    /// attendees (`check_in`, `attendees`).
    #[must_use]
    pub fn is_door(&self) -> bool {
        self.user
            .as_ref()
            .is_some_and(|s| matches!(s.role, Role::Admin | Role::Staff))
    }

    /// Marks a session request in flight; `false` when the same one already is.
    pub fn begin(&mut self, command: &NetCommand) -> bool {
        let flag = match command {
            NetCommand::Login { .. } => &mut self.busy.login,
            NetCommand::Register { .. } => &mut self.busy.register,
            NetCommand::Logout => &mut self.busy.logout,
            NetCommand::UpdateAccount { .. } => &mut self.busy.account,
            _ => return true,
        };
        if *flag {
            return false;
        }
        *flag = true;
        match command {
            NetCommand::Login { .. } => self.login_error = None,
            NetCommand::UpdateAccount { .. } => self.account_error = None,
            NetCommand::Register { .. } => {
                self.register_error = None;
                self.registered = None;
            }
            _ => {}
        }
        true
    }

    /// Follows logins, logouts and expiries.
    pub fn apply(&mut self, event: &NetEvent) {
        match event {
            NetEvent::Status(ConnectionStatus::Reconnecting { .. }) => {
                // Whatever was in flight on the lost connection is answered
                // by the network side.
                self.busy = SessionBusy::default();
            }
            NetEvent::Registered { username } => {
                self.busy.register = false;
                self.busy.login = true;
                self.registered = Some(username.clone());
            }
            NetEvent::RegisterFailed(error) => {
                self.busy.register = false;
                self.register_error = Some(error.clone());
            }
            NetEvent::LoggedIn { session, .. } => {
                self.busy.login = false;
                self.login_error = None;
                self.login_message = None;
                self.user = Some(Session {
                    user_id: session.user_id.clone(),
                    username: session.username.clone(),
                    email: session.email.clone(),
                    role: session.role,
                });
            }
            NetEvent::LoginFailed(error) => {
                self.busy.login = false;
                self.login_error = Some(error.clone());
            }
            NetEvent::SessionExpired(message) => {
                self.user = None;
                self.login_message = Some(format!(
                    "Your session ended ({message}). Please log in again."
                ));
            }
            NetEvent::LoggedOut => {
                self.user = None;
                self.busy.logout = false;
                self.account_error = None;
            }
            NetEvent::AccountUpdated {
                username, email, ..
            } => {
                self.busy.account = false;
                self.account_error = None;
                self.account_saved = self.account_saved.wrapping_add(1);
                if let Some(user) = &mut self.user {
                    user.username.clone_from(username);
                    user.email.clone_from(email);
                }
            }
            NetEvent::AccountUpdateFailed(error) => {
                self.busy.account = false;
                self.account_error = Some(error.clone());
            }
            NetEvent::Disconnected | NetEvent::ServerChanged { .. } => *self = Self::default(),
            _ => {}
        }
    }
}
