//! The chat slice: every room this user sees (messages, unread and
//! mention counts, members), the room shown, join/leave notices (in the
//! lobby), who is online and who is typing, and the chat requests in
//! flight.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use coliseum_protocol::{
    ChatMessage, DEFAULT_ROOM, RoomInfo, RoomKind, RoomMember, RoomRole, validate,
};

use super::notices::{NoticeLevel, Notices};
use crate::network::{FormError, NetCommand, NetEvent};

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

/// How long a "typing" notice is shown after its push.
pub const TYPING_SHOWN: Duration = Duration::from_secs(4);

/// One room as this client holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomChat {
    /// What `rooms` said about it (unread and mentions kept up to date
    /// from pushes between two `rooms`).
    pub info: RoomInfo,
    /// Its messages.
    pub log: ChatLog,
    /// Its history was loaded (opened at least once, or the lobby's refill).
    pub loaded: bool,
    /// Its members, as last loaded (when it was opened).
    pub members: Vec<RoomMember>,
}

impl RoomChat {
    /// A room known only by name (a push for a room not listed yet): its
    /// kind from the name's form, joined (its messages reach this user).
    #[must_use]
    pub fn named(room: &str) -> Self {
        let kind = if validate::is_direct_room(room) {
            RoomKind::Direct
        } else if validate::event_of_room(room).is_some() {
            RoomKind::Event
        } else {
            RoomKind::Public
        };
        Self {
            info: RoomInfo {
                room: room.to_owned(),
                kind,
                topic: String::new(),
                members: 0,
                joined: true,
                unread: 0,
                mentions: 0,
                last_seq: 0,
            },
            log: ChatLog::default(),
            loaded: false,
            members: Vec::new(),
        }
    }

    /// The name shown for the room: `# name`, the event's name for event
    /// rooms, `@ other user` for direct rooms, `@ Notices` for the user's
    /// own direct room (`dm:<u>:<u>`, where the server writes waiting-list
    /// offers).
    #[must_use]
    pub fn title(&self) -> String {
        let own = self
            .info
            .room
            .strip_prefix(validate::DIRECT_ROOM_PREFIX)
            .and_then(|pair| pair.split_once(':'))
            .is_some_and(|(a, b)| a == b);
        if own {
            return "@ Notices".to_owned();
        }
        match self.info.kind {
            RoomKind::Public => format!("# {}", self.info.room),
            RoomKind::Event if !self.info.topic.is_empty() => format!("🎫 {}", self.info.topic),
            RoomKind::Event => format!("🎫 {}", self.info.room),
            RoomKind::Direct if !self.info.topic.is_empty() => format!("@ {}", self.info.topic),
            RoomKind::Direct => format!("@ {}", self.info.room),
        }
    }
}

/// Someone typing in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typist {
    /// The room.
    pub room: String,
    /// Who.
    pub user: String,
    /// When the push arrived.
    pub since: Instant,
}

/// The rooms, the one shown, and who is online.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatState {
    /// Every room known, by name (`lobby` always).
    pub rooms: BTreeMap<String, RoomChat>,
    /// The room shown.
    pub current: String,
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
    /// Who is typing where.
    pub typing: Vec<Typist>,
    /// A direct message or a mention arrived: the window should ask for
    /// the user's attention if it is not focused (the app takes the flag).
    pub attention: bool,
    /// Composing a first direct message to this user (no room yet).
    pub dm_to: Option<String>,
    /// "New room" is in flight.
    pub creating_room: bool,
    /// Why "New room" failed.
    pub create_error: Option<FormError>,
    /// A room was just created (the dialog closes).
    pub created: Option<String>,
    /// A push named a room the list does not have: refresh `rooms`.
    pub rooms_stale: bool,
}

impl Default for ChatState {
    fn default() -> Self {
        let mut rooms = BTreeMap::new();
        let mut lobby = RoomChat::named(DEFAULT_ROOM);
        lobby.info.topic = "Everyone".to_owned();
        rooms.insert(DEFAULT_ROOM.to_owned(), lobby);
        Self {
            rooms,
            current: DEFAULT_ROOM.to_owned(),
            online: Online::default(),
            unsent: None,
            sending: false,
            loading_older: false,
            me: None,
            typing: Vec::new(),
            attention: false,
            dm_to: None,
            creating_room: false,
            create_error: None,
            created: None,
            rooms_stale: false,
        }
    }
}

/// An empty log, for a room not (yet) held.
static EMPTY_LOG: std::sync::LazyLock<ChatLog> = std::sync::LazyLock::new(ChatLog::default);

impl ChatState {
    /// The room shown.
    #[must_use]
    pub fn room(&self) -> Option<&RoomChat> {
        self.rooms.get(&self.current)
    }

    /// The shown room's messages.
    #[must_use]
    pub fn log(&self) -> &ChatLog {
        self.room().map_or(&EMPTY_LOG, |r| &r.log)
    }

    /// The lobby's messages (join/leave notices live there).
    #[must_use]
    pub fn lobby(&self) -> &ChatLog {
        self.rooms.get(DEFAULT_ROOM).map_or(&EMPTY_LOG, |r| &r.log)
    }

    fn entry(&mut self, room: &str) -> &mut RoomChat {
        if !self.rooms.contains_key(room) {
            self.rooms_stale = true;
        }
        self.rooms
            .entry(room.to_owned())
            .or_insert_with(|| RoomChat::named(room))
    }

    /// Users typing in `room` at `now` (not this user), oldest first.
    #[must_use]
    pub fn typing_in(&self, room: &str, now: Instant) -> Vec<&str> {
        self.typing
            .iter()
            .filter(|t| t.room == room && now.duration_since(t.since) < TYPING_SHOWN)
            .map(|t| t.user.as_str())
            .collect()
    }

    /// This user's role in `room`, as its member list says.
    #[must_use]
    pub fn my_role(&self, room: &str) -> Option<RoomRole> {
        let me = self.me.as_deref()?;
        self.rooms
            .get(room)?
            .members
            .iter()
            .find(|m| m.user.eq_ignore_ascii_case(me))
            .map(|m| m.role)
    }

    /// Unread messages over every joined room.
    #[must_use]
    pub fn total_unread(&self) -> u64 {
        self.rooms
            .values()
            .filter(|r| r.info.joined)
            .map(|r| r.info.unread)
            .sum()
    }

    /// Marks a chat request in flight; `false` when the same one already is.
    /// Opening a room shows it at once and counts it as read.
    pub fn begin(&mut self, command: &NetCommand) -> bool {
        let flag = match command {
            NetCommand::ChatSend { .. } | NetCommand::DirectMessage { .. } => &mut self.sending,
            NetCommand::ChatOlder { .. } => &mut self.loading_older,
            NetCommand::CreateRoom { .. } => {
                self.create_error = None;
                self.created = None;
                &mut self.creating_room
            }
            NetCommand::OpenRoom { room } => {
                self.show(room);
                return true;
            }
            NetCommand::Discuss { event_id } => {
                self.show(&validate::event_room(event_id));
                return true;
            }
            _ => return true,
        };
        !std::mem::replace(flag, true)
    }

    /// Shows `room` (no request: its history may still have to be opened).
    pub fn show(&mut self, room: &str) {
        self.current = room.to_owned();
        self.dm_to = None;
        let entry = self.entry(room);
        entry.info.unread = 0;
        entry.info.mentions = 0;
    }

    /// Follows pushes, pages and answers.
    #[allow(clippy::too_many_lines)] // one arm per event, each short
    pub fn apply(&mut self, event: &NetEvent, notices: &mut Notices, now: Instant) {
        match event {
            NetEvent::LoggedIn { session, resumed } => {
                if !resumed {
                    *self = Self {
                        online: std::mem::take(&mut self.online),
                        ..Self::default()
                    };
                }
                self.me = Some(session.username.clone());
            }
            NetEvent::AccountUpdated { username, .. } => self.me = Some(username.clone()),
            NetEvent::LoggedOut | NetEvent::SessionExpired(_) => {
                *self = Self::default();
            }
            NetEvent::Disconnected | NetEvent::ServerChanged { .. } => *self = Self::default(),
            NetEvent::Rooms(list) => self.apply_rooms(list),
            NetEvent::Chat(message) => self.apply_chat(message, now),
            NetEvent::ChatHistory {
                room,
                messages,
                more,
            } => {
                self.loading_older = false;
                let entry = self.entry(room);
                entry.loaded = true;
                let extends_back = match (messages.first(), entry.log.oldest_seq()) {
                    (Some(first), Some(oldest)) => first.seq < oldest,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if extends_back || messages.is_empty() {
                    entry.log.more_before = *more;
                }
                if let Some(last) = messages.last() {
                    entry.info.last_seq = entry.info.last_seq.max(last.seq);
                }
                entry.log.insert(messages.iter().cloned());
            }
            NetEvent::ChatUpdate {
                room,
                seq,
                text,
                edited_at,
                deleted,
            } => {
                if let Some(message) = self
                    .rooms
                    .get_mut(room)
                    .and_then(|r| r.log.messages.get_mut(seq))
                {
                    message.text.clone_from(text);
                    message.edited_at = Some(*edited_at);
                    message.deleted = *deleted;
                }
            }
            NetEvent::Read { room, seq } => {
                if let Some(entry) = self.rooms.get_mut(room)
                    && *seq >= entry.info.last_seq
                {
                    entry.info.unread = 0;
                    entry.info.mentions = 0;
                }
            }
            NetEvent::Typing { room, user } if self.me.as_deref() != Some(user.as_str()) => {
                self.typing.retain(|t| {
                    now.duration_since(t.since) < TYPING_SHOWN
                        && !(t.room == *room && t.user == *user)
                });
                self.typing.push(Typist {
                    room: room.clone(),
                    user: user.clone(),
                    since: now,
                });
            }
            NetEvent::RoomMembers { room, members } => {
                self.entry(room).members.clone_from(members);
            }
            NetEvent::RoomCreated { room } => {
                self.creating_room = false;
                self.created = Some(room.clone());
                let entry = self.entry(room);
                entry.loaded = true;
                entry.info.joined = true;
                self.show(room);
            }
            NetEvent::RoomCreateFailed(error) => {
                self.creating_room = false;
                self.create_error = Some(error.clone());
            }
            NetEvent::RoomJoined { room } => self.entry(room).info.joined = true,
            NetEvent::RoomLeft { room, reason } => {
                if let Some(entry) = self.rooms.get_mut(room) {
                    entry.info.joined = false;
                    entry.info.unread = 0;
                    entry.info.mentions = 0;
                }
                if self.current == *room {
                    self.current = DEFAULT_ROOM.to_owned();
                }
                if let Some(reason) = reason {
                    notices.notify(
                        NoticeLevel::Info,
                        format!("You are no longer in {room}: {reason}"),
                        now,
                    );
                }
            }
            NetEvent::DirectSent { room } => self.show(room),
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
                    self.entry(DEFAULT_ROOM)
                        .log
                        .notices
                        .push((Utc::now(), format!("{user} {verb}")));
                }
            }
            NetEvent::OnlineCount(count) => self.online.count = *count,
            NetEvent::Online(data) => {
                self.online = Online {
                    count: data.count,
                    users: data.users.iter().cloned().collect(),
                };
            }
            _ => {}
        }
    }

    /// A fresh room list: infos replaced, logs kept; rooms no longer
    /// listed are dropped (the shown one falls back to `lobby`).
    fn apply_rooms(&mut self, list: &[RoomInfo]) {
        self.rooms_stale = false;
        let mut rooms = BTreeMap::new();
        for info in list {
            let mut entry = self
                .rooms
                .remove(&info.room)
                .unwrap_or_else(|| RoomChat::named(&info.room));
            entry.info = info.clone();
            if info.room == DEFAULT_ROOM && entry.info.topic.is_empty() {
                entry.info.topic = "Everyone".to_owned();
            }
            if info.room == self.current {
                entry.info.unread = 0;
                entry.info.mentions = 0;
            }
            rooms.insert(info.room.clone(), entry);
        }
        if !rooms.contains_key(DEFAULT_ROOM) {
            rooms.insert(
                DEFAULT_ROOM.to_owned(),
                self.rooms
                    .remove(DEFAULT_ROOM)
                    .unwrap_or_else(|| RoomChat::named(DEFAULT_ROOM)),
            );
        }
        self.rooms = rooms;
        if !self.rooms.contains_key(&self.current) {
            self.current = DEFAULT_ROOM.to_owned();
        }
    }

    /// A live message: into its room's log; counted as unread (and as a
    /// mention) unless it is this user's own or its room is the one shown.
    fn apply_chat(&mut self, message: &ChatMessage, now: Instant) {
        let me = self.me.clone();
        let own = me.is_some() && message.from.as_deref() == me.as_deref();
        let mention = !own
            && me.as_ref().is_some_and(|me| {
                message
                    .text
                    .to_ascii_lowercase()
                    .contains(&format!("@{}", me.to_ascii_lowercase()))
            });
        let shown = self.current == message.room;
        let entry = self.entry(&message.room);
        if entry.log.messages.is_empty() && !entry.loaded && message.seq > 1 {
            entry.log.more_before = true;
        }
        entry.info.last_seq = entry.info.last_seq.max(message.seq);
        entry.log.insert([message.clone()]);
        entry.log.trim();
        let direct = entry.info.kind == RoomKind::Direct;
        if !own && !shown {
            entry.info.unread += 1;
            if mention {
                entry.info.mentions += 1;
            }
        }
        if !own && (direct || mention) {
            self.attention = true;
        }
        // Their message ends their typing notice; old notices go too.
        self.typing.retain(|t| {
            now.duration_since(t.since) < TYPING_SHOWN
                && !(t.room == message.room && message.from.as_deref() == Some(t.user.as_str()))
        });
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
            from: Some("anna".into()),
            text: format!("m{seq}"),
            sent_at: Utc
                .timestamp_opt(1_800_000_000 + i64::try_from(seq).unwrap_or(0), 0)
                .single()
                .unwrap_or_default(),
            system: false,
            edited_at: None,
            deleted: false,
        }
    }

    #[test]
    fn a_long_chat_is_trimmed_to_the_newest_messages() {
        let mut state = ChatState::default();
        let mut notices = Notices::default();
        let now = Instant::now();
        state
            .entry(DEFAULT_ROOM)
            .log
            .notices
            .push((message(1).sent_at, "old joined".into()));
        let total = u64::try_from(CHAT_KEEP + CHAT_SLACK).unwrap_or(0) + 1;
        for seq in 1..=total {
            state.apply(&NetEvent::Chat(message(seq)), &mut notices, now);
        }
        assert_eq!(state.log().messages.len(), CHAT_KEEP);
        assert_eq!(state.log().messages.keys().last(), Some(&total));
        assert!(
            state.log().more_before,
            "older messages can be loaded again"
        );
        assert!(
            state.log().notices.is_empty(),
            "notices older than the log go too"
        );
        // Pages of history loaded on request are not trimmed away.
        state.apply(
            &NetEvent::ChatHistory {
                room: DEFAULT_ROOM.into(),
                messages: (1..=50).map(message).collect(),
                more: false,
            },
            &mut notices,
            now,
        );
        assert_eq!(state.log().messages.len(), CHAT_KEEP + 50);
    }

    fn info(room: &str, kind: RoomKind, unread: u64) -> RoomInfo {
        RoomInfo {
            room: room.into(),
            kind,
            topic: String::new(),
            members: 2,
            joined: true,
            unread,
            mentions: 0,
            last_seq: 5,
        }
    }

    fn in_room(room: &str, seq: u64, from: &str, text: &str) -> ChatMessage {
        ChatMessage {
            room: room.into(),
            from: Some(from.into()),
            text: text.into(),
            ..message(seq)
        }
    }

    fn logged_in(state: &mut ChatState, notices: &mut Notices, now: Instant) {
        state.apply(
            &NetEvent::LoggedIn {
                session: coliseum_protocol::response::SessionData {
                    user_id: "1".into(),
                    username: "bruno".into(),
                    email: "b@example.com".into(),
                    role: coliseum_protocol::Role::User,
                    token: "t".into(),
                },
                resumed: false,
            },
            notices,
            now,
        );
    }

    /// Messages in other rooms count as unread (mentions apart) and ask
    /// for attention when they are direct or mention the user; opening the
    /// room clears its count; own messages never count.
    #[test]
    fn unread_mentions_and_attention_follow_the_pushes() {
        let (mut state, mut notices, now) =
            (ChatState::default(), Notices::default(), Instant::now());
        logged_in(&mut state, &mut notices, now);
        state.apply(
            &NetEvent::Rooms(vec![
                info("lobby", RoomKind::Public, 0),
                info("jazz", RoomKind::Public, 2),
                info("dm:ada:bruno", RoomKind::Direct, 0),
            ]),
            &mut notices,
            now,
        );
        assert_eq!(state.total_unread(), 2);
        state.apply(
            &NetEvent::Chat(in_room("jazz", 6, "ada", "hi @BRUNO")),
            &mut notices,
            now,
        );
        let jazz = &state.rooms["jazz"].info;
        assert_eq!((jazz.unread, jazz.mentions, jazz.last_seq), (3, 1, 6));
        assert!(
            std::mem::take(&mut state.attention),
            "a mention asks for attention"
        );
        state.apply(
            &NetEvent::Chat(in_room("jazz", 7, "bruno", "me")),
            &mut notices,
            now,
        );
        assert_eq!(
            state.rooms["jazz"].info.unread, 3,
            "own messages do not count"
        );
        assert!(!state.attention);
        state.apply(
            &NetEvent::Chat(in_room("dm:ada:bruno", 1, "ada", "psst")),
            &mut notices,
            now,
        );
        assert!(
            std::mem::take(&mut state.attention),
            "a direct message does"
        );
        assert!(state.begin(&NetCommand::OpenRoom {
            room: "jazz".into()
        }));
        assert_eq!(state.current, "jazz");
        assert_eq!(
            (
                state.rooms["jazz"].info.unread,
                state.rooms["jazz"].info.mentions
            ),
            (0, 0)
        );
        state.apply(
            &NetEvent::Chat(in_room("jazz", 8, "ada", "more")),
            &mut notices,
            now,
        );
        assert_eq!(
            state.rooms["jazz"].info.unread, 0,
            "the room shown is being read"
        );
        // Another device read the direct room.
        state.apply(
            &NetEvent::Read {
                room: "dm:ada:bruno".into(),
                seq: 5,
            },
            &mut notices,
            now,
        );
        assert_eq!(state.rooms["dm:ada:bruno"].info.unread, 0);
    }

    /// A message for a room not in the list adds it and asks for the list;
    /// a room list keeps the messages held; leaving (or being removed)
    /// falls back to the lobby with a notice.
    #[test]
    fn new_rooms_refresh_the_list_and_leaving_falls_back_to_the_lobby() {
        let (mut state, mut notices, now) =
            (ChatState::default(), Notices::default(), Instant::now());
        logged_in(&mut state, &mut notices, now);
        state.apply(
            &NetEvent::Chat(in_room("dm:ada:bruno", 3, "ada", "hey")),
            &mut notices,
            now,
        );
        assert!(state.rooms_stale);
        assert_eq!(state.rooms["dm:ada:bruno"].info.kind, RoomKind::Direct);
        assert!(
            state.rooms["dm:ada:bruno"].log.more_before,
            "older messages exist"
        );
        state.apply(
            &NetEvent::Rooms(vec![
                info("lobby", RoomKind::Public, 0),
                info("dm:ada:bruno", RoomKind::Direct, 1),
            ]),
            &mut notices,
            now,
        );
        assert!(!state.rooms_stale);
        assert_eq!(
            state.rooms["dm:ada:bruno"].log.messages.len(),
            1,
            "log kept"
        );
        state.apply(
            &NetEvent::RoomJoined {
                room: "club".into(),
            },
            &mut notices,
            now,
        );
        state.show("club");
        state.apply(
            &NetEvent::RoomLeft {
                room: "club".into(),
                reason: Some("you were removed by ada".into()),
            },
            &mut notices,
            now,
        );
        assert_eq!(state.current, DEFAULT_ROOM);
        assert!(!state.rooms["club"].info.joined);
        assert!(
            notices
                .list
                .iter()
                .any(|n| n.text.contains("removed by ada"))
        );
    }

    /// Edits and deletions change the message held; typing notices lapse
    /// and end with the typist's message; the user's own typing is not shown.
    #[test]
    fn edits_deletions_and_typing() {
        let (mut state, mut notices, now) =
            (ChatState::default(), Notices::default(), Instant::now());
        logged_in(&mut state, &mut notices, now);
        state.apply(
            &NetEvent::Chat(in_room("lobby", 1, "ada", "teh")),
            &mut notices,
            now,
        );
        let at = message(1).sent_at;
        state.apply(
            &NetEvent::ChatUpdate {
                room: "lobby".into(),
                seq: 1,
                text: "the".into(),
                edited_at: at,
                deleted: false,
            },
            &mut notices,
            now,
        );
        assert_eq!(state.log().messages[&1].text, "the");
        assert_eq!(state.log().messages[&1].edited_at, Some(at));
        state.apply(
            &NetEvent::ChatUpdate {
                room: "lobby".into(),
                seq: 1,
                text: String::new(),
                edited_at: at,
                deleted: true,
            },
            &mut notices,
            now,
        );
        assert!(state.log().messages[&1].deleted);
        for user in ["ada", "bruno"] {
            state.apply(
                &NetEvent::Typing {
                    room: "lobby".into(),
                    user: user.into(),
                },
                &mut notices,
                now,
            );
        }
        assert_eq!(state.typing_in("lobby", now), ["ada"], "not the user's own");
        assert!(
            state.typing_in("lobby", now + TYPING_SHOWN).is_empty(),
            "lapses"
        );
        state.apply(
            &NetEvent::Chat(in_room("lobby", 2, "ada", "done")),
            &mut notices,
            now,
        );
        assert!(
            state.typing_in("lobby", now).is_empty(),
            "ends with the message"
        );
    }
}
