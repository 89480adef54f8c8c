//! The notices slice: short messages for the user ("Booked 2 seats for …",
//! "Export failed: …"), shown as overlay toasts that never move the content
//! under the mouse.

use std::time::{Duration, Instant};

use crate::network::{ConnectionStatus, NetEvent};

/// How long an information notice stays on screen.
pub const INFO_NOTICE_TTL: Duration = Duration::from_secs(6);
/// Most notices kept; older ones are dropped first.
pub const MAX_NOTICES: usize = 4;

/// How serious a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLevel {
    /// Good news; disappears after [`INFO_NOTICE_TTL`].
    Info,
    /// Something failed; stays until dismissed.
    Error,
}

/// One message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Severity.
    pub level: NoticeLevel,
    /// Text for people.
    pub text: String,
    /// When it was raised (for expiry).
    pub at: Instant,
}

/// The notices on screen, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notices {
    /// Oldest first, at most [`MAX_NOTICES`].
    pub list: Vec<Notice>,
}

impl Notices {
    /// Reacts to the events no other slice words for people.
    pub fn apply(&mut self, event: &NetEvent, now: Instant) {
        match event {
            NetEvent::ServerNotice(text) => {
                self.notify(NoticeLevel::Error, format!("Server: {text}"), now);
            }
            NetEvent::Error(message) => self.notify(NoticeLevel::Error, message.clone(), now),
            // Failures of the lost connection are stale once it is back.
            NetEvent::Status(ConnectionStatus::Connected) => self.clear_errors(),
            NetEvent::AccountUpdated {
                password_changed, ..
            } => {
                let text = if *password_changed {
                    "Account updated. Your other sessions were signed out."
                } else {
                    "Account updated."
                };
                self.notify(NoticeLevel::Info, text.to_owned(), now);
            }
            _ => {}
        }
    }

    /// Adds a notice, keeping at most [`MAX_NOTICES`].
    pub fn notify(&mut self, level: NoticeLevel, text: String, now: Instant) {
        self.list.push(Notice {
            level,
            text,
            at: now,
        });
        if self.list.len() > MAX_NOTICES {
            self.list.remove(0);
        }
    }

    /// Removes the notice at `index` (ignored when out of range).
    pub fn dismiss(&mut self, index: usize) {
        if index < self.list.len() {
            self.list.remove(index);
        }
    }

    /// Drops error notices: a reconnect makes the old connection's failures stale.
    pub fn clear_errors(&mut self) {
        self.list.retain(|n| n.level != NoticeLevel::Error);
    }

    /// Drops information notices older than [`INFO_NOTICE_TTL`]; returns how
    /// long until the next one expires, so the UI can repaint then.
    pub fn expire(&mut self, now: Instant) -> Option<Duration> {
        self.list.retain(|n| {
            n.level == NoticeLevel::Error || now.duration_since(n.at) < INFO_NOTICE_TTL
        });
        self.list
            .iter()
            .filter(|n| n.level == NoticeLevel::Info)
            .map(|n| INFO_NOTICE_TTL.saturating_sub(now.duration_since(n.at)))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_notices_expire_and_errors_stay() {
        let start = Instant::now();
        let mut notices = Notices::default();
        notices.notify(NoticeLevel::Info, "ok".into(), start);
        notices.notify(NoticeLevel::Error, "bad".into(), start);
        assert_eq!(notices.expire(start), Some(INFO_NOTICE_TTL));
        assert_eq!(notices.expire(start + INFO_NOTICE_TTL), None);
        assert_eq!(notices.list.len(), 1);
        assert_eq!(notices.list[0].text, "bad");
        for n in 0..10 {
            notices.notify(NoticeLevel::Error, format!("e{n}"), start);
        }
        assert_eq!(notices.list.len(), MAX_NOTICES);
    }
}
