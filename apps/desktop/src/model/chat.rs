//! The chat slice: the lobby's messages and join/leave notices, who is
//! online, and the chat requests in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use coliseum_protocol::ChatMessage;

use super::notices::{NoticeLevel, Notices};
use crate::network::{NetCommand, NetEvent};

/// Who is online.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Online {
    /// Distinct users online (the server's count).
    pub count: u64,
    /// Their names, sorted.
    pub users: BTreeSet<String>,
}

/// One line of the chat window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatLine<'a> {
    /// A message.
    Message(&'a ChatMessage),
    /// A join/leave notice: when, and the text.
    Notice(DateTime<Utc>, &'a str),
}

/// The lobby as seen by this client: messages by `seq` (so history pages and
/// live pushes merge without duplicates, in order) and join/leave notices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatLog {
    /// Messages by sequence number.
    pub messages: BTreeMap<u64, ChatMessage>,
    /// Join/leave notices, in arrival order.
    pub notices: Vec<(DateTime<Utc>, String)>,
    /// Older messages exist on the server than the oldest held here.
    pub more_before: bool,
}

/// Messages the chat log keeps while live messages arrive.
pub const CHAT_KEEP: usize = 300;
/// Messages allowed past [`CHAT_KEEP`] before the log is trimmed (so it is
/// trimmed in steps, not on every message).
pub const CHAT_SLACK: usize = 100;

impl ChatLog {
    /// Adds (or replaces) messages, keyed by `seq`.
    pub fn insert(&mut self, messages: impl IntoIterator<Item = ChatMessage>) {
        for message in messages {
            self.messages.insert(message.seq, message);
        }
    }

    /// Keeps the log bounded while messages keep arriving: past
    /// [`CHAT_KEEP`] + [`CHAT_SLACK`] messages, the oldest are dropped down
    /// to [`CHAT_KEEP`] (and "Load older messages" can fetch them again);
    /// join/leave notices older than the oldest message kept go too.
    /// Every frame lays out the whole log, so without a bound its cost (and
    /// memory) grew with every message: measured +1.3 % of a core per 300
    /// messages at 10 messages/s.
    pub fn trim(&mut self) {
        if self.messages.len() <= CHAT_KEEP + CHAT_SLACK {
            return;
        }
        let drop = self.messages.len() - CHAT_KEEP;
        let Some(&first_kept) = self.messages.keys().nth(drop) else {
            return;
        };
        self.messages = self.messages.split_off(&first_kept);
        self.more_before = true;
        if let Some(oldest) = self.messages.values().next().map(|m| m.sent_at) {
            self.notices.retain(|(at, _)| *at >= oldest);
        }
    }

    /// Smallest `seq` held.
    #[must_use]
    pub fn oldest_seq(&self) -> Option<u64> {
        self.messages.keys().next().copied()
    }

    /// Messages and notices merged by time (a notice goes after messages sent
    /// at the same instant).
    #[must_use]
    pub fn lines(&self) -> Vec<ChatLine<'_>> {
        let mut lines = Vec::with_capacity(self.messages.len() + self.notices.len());
        let mut notices = self.notices.iter().peekable();
        for message in self.messages.values() {
            while let Some((at, text)) = notices.next_if(|(at, _)| *at < message.sent_at) {
                lines.push(ChatLine::Notice(*at, text));
            }
            lines.push(ChatLine::Message(message));
        }
        lines.extend(notices.map(|(at, text)| ChatLine::Notice(*at, text)));
        lines
    }
}

/// The lobby and who is in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatState {
    /// The lobby.
    pub log: ChatLog,
    /// Who is online.
    pub online: Online,
    /// Text of a chat message that could not be sent, to put back in the input.
    pub unsent: Option<String>,
    /// A message is being sent.
    pub sending: bool,
    /// "Load older messages" is in flight.
    pub loading_older: bool,
    /// This user's name: their own presence is not announced to them.
    pub me: Option<String>,
}

impl ChatState {
    /// Marks a chat request in flight; `false` when the same one already is.
    pub fn begin(&mut self, command: &NetCommand) -> bool {
        let flag = match command {
            NetCommand::ChatSend { .. } => &mut self.sending,
            NetCommand::ChatOlder { .. } => &mut self.loading_older,
            _ => return true,
        };
        !std::mem::replace(flag, true)
    }

    /// Follows pushes, pages and answers.
    pub fn apply(&mut self, event: &NetEvent, notices: &mut Notices, now: Instant) {
        match event {
            NetEvent::LoggedIn { session, resumed } => {
                if !resumed {
                    self.log = ChatLog::default();
                }
                self.me = Some(session.username.clone());
            }
            NetEvent::AccountUpdated { username, .. } => self.me = Some(username.clone()),
            NetEvent::LoggedOut | NetEvent::SessionExpired(_) => {
                self.log = ChatLog::default();
                self.online = Online::default();
                self.sending = false;
                self.me = None;
            }
            NetEvent::Disconnected | NetEvent::ServerChanged { .. } => *self = Self::default(),
            NetEvent::Chat(message) => {
                self.log.insert([message.clone()]);
                self.log.trim();
            }
            NetEvent::ChatHistory { messages, more } => {
                self.loading_older = false;
                let extends_back = match (messages.first(), self.log.oldest_seq()) {
                    (Some(first), Some(oldest)) => first.seq < oldest,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if extends_back || messages.is_empty() {
                    self.log.more_before = *more;
                }
                self.log.insert(messages.iter().cloned());
            }
            NetEvent::ChatSent => self.sending = false,
            NetEvent::ChatSendFailed { text, message } => {
                self.sending = false;
                self.unsent = Some(text.clone());
                notices.notify(
                    NoticeLevel::Error,
                    format!("Message not sent: {message}"),
                    now,
                );
            }
            NetEvent::Presence {
                user,
                online,
                count,
            } => {
                self.online.count = *count;
                // A change already known (e.g. this user's own session
                // coming back after a reconnect) is not announced again.
                let (changed, verb) = if *online {
                    (self.online.users.insert(user.clone()), "joined")
                } else {
                    (self.online.users.remove(user), "left")
                };
                if changed && self.me.as_ref() != Some(user) {
                    self.log
                        .notices
                        .push((Utc::now(), format!("{user} {verb}")));
                }
            }
            NetEvent::Online(data) => {
                self.online = Online {
                    count: data.count,
                    users: data.users.iter().cloned().collect(),
                };
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn message(seq: u64) -> ChatMessage {
        ChatMessage {
            room: "lobby".into(),
            seq,
            from: "anna".into(),
            text: format!("m{seq}"),
            sent_at: Utc
                .timestamp_opt(1_800_000_000 + i64::try_from(seq).unwrap_or(0), 0)
                .single()
                .unwrap_or_default(),
        }
    }

    #[test]
    fn a_long_chat_is_trimmed_to_the_newest_messages() {
        let mut state = ChatState::default();
        let mut notices = Notices::default();
        let now = Instant::now();
        state
            .log
            .notices
            .push((message(1).sent_at, "old joined".into()));
        let total = u64::try_from(CHAT_KEEP + CHAT_SLACK).unwrap_or(0) + 1;
        for seq in 1..=total {
            state.apply(&NetEvent::Chat(message(seq)), &mut notices, now);
        }
        assert_eq!(state.log.messages.len(), CHAT_KEEP);
        assert_eq!(state.log.messages.keys().last(), Some(&total));
        assert!(state.log.more_before, "older messages can be loaded again");
        assert!(
            state.log.notices.is_empty(),
            "notices older than the log go too"
        );
        // Pages of history loaded on request are not trimmed away.
        state.apply(
            &NetEvent::ChatHistory {
                messages: (1..=50).map(message).collect(),
                more: false,
            },
            &mut notices,
            now,
        );
        assert_eq!(state.log.messages.len(), CHAT_KEEP + 50);
    }
}
