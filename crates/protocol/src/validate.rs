//! Input rules. The server enforces them (authoritatively); the desktop app
//! uses the same functions for inline form validation, so both always agree.
//! Each function returns `Err(message)` with a sentence fit to show a person.

/// Shortest username, in characters.
pub const USERNAME_MIN: usize = 3;
/// Longest username, in characters.
pub const USERNAME_MAX: usize = 32;
/// Shortest password, in characters.
pub const PASSWORD_MIN: usize = 8;
/// Longest password, in characters (bounds hashing work per request).
pub const PASSWORD_MAX: usize = 1024;
/// Longest chat message, in characters.
pub const CHAT_TEXT_MAX: usize = 2_000;
/// Longest public room name, in characters.
pub const ROOM_MAX: usize = 32;
/// Shortest public room name, in characters.
pub const ROOM_MIN: usize = 2;
/// Longest room name a request may carry (direct rooms: `dm:` + two
/// 32-character usernames + `:`).
pub const ROOM_REF_MAX: usize = 80;
/// Longest event name or location, in characters.
pub const EVENT_TEXT_MAX: usize = 200;
/// Largest event capacity.
pub const CAPACITY_MAX: u32 = 1_000_000;
/// `max_per_user` when `create_event` omits it.
pub const DEFAULT_MAX_PER_USER: u32 = 10;
/// Longest `request_key` of a `book`, in characters.
pub const REQUEST_KEY_MAX: usize = 128;
/// Earliest year an event may have (hardening issue: "-001-01-01" was
/// accepted).
pub const EVENT_YEAR_MIN: i32 = 1970;
/// Latest year an event may have (four digits).
pub const EVENT_YEAR_MAX: i32 = 9999;
/// Largest page `chat_history` returns, and its default.
pub const HISTORY_LIMIT_MAX: u32 = 200;
/// Default page size of `chat_history`.
pub const HISTORY_LIMIT_DEFAULT: u32 = 50;

/// 3–32 characters, each an ASCII letter, digit, `_`, `-` or `.`.
///
/// # Errors
/// A message naming the rule broken.
pub fn username(name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
        return Err(format!(
            "username must be {USERNAME_MIN}–{USERNAME_MAX} characters long"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err("username may contain only letters, digits, '_', '-' and '.'".to_owned());
    }
    Ok(())
}

/// At least 8 characters (and at most 1,024).
///
/// # Errors
/// A message naming the rule broken.
pub fn password(password: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < PASSWORD_MIN {
        return Err(format!(
            "password must be at least {PASSWORD_MIN} characters long"
        ));
    }
    if len > PASSWORD_MAX {
        return Err(format!(
            "password must be at most {PASSWORD_MAX} characters long"
        ));
    }
    Ok(())
}

/// A syntactically valid e-mail address (RFC 5322 as checked by the
/// `email_address` crate), at most 254 characters.
///
/// # Errors
/// A message naming the rule broken.
pub fn email(email: &str) -> Result<(), String> {
    if email.len() > 254 || !email_address::EmailAddress::is_valid(email) {
        return Err("e-mail address is not valid".to_owned());
    }
    Ok(())
}

/// Characters that take no space and show nothing: format characters
/// (zero-width space and joiners, word joiner, byte-order mark, direction
/// marks and overrides, tag characters) and the Hangul fillers. Allowed
/// inside text (a joiner builds an emoji, a mark orders RTL text) but a
/// text made only of them and white space is empty to a reader.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Text a person can read: no control characters (NUL, ESC, ...; line
/// breaks and tabs only where `multiline`), and at least one character
/// that is neither white space nor invisible ([`is_invisible`]). Emoji,
/// right-to-left text and any other Unicode are fine.
fn readable(what: &str, text: &str, multiline: bool) -> Result<(), String> {
    if text
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\t')))
    {
        return Err(format!("{what} must not contain control characters"));
    }
    if text.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return Err(format!("{what} must not be empty"));
    }
    Ok(())
}

/// Chat text: 1–2,000 characters, something visible in it, no control
/// characters but line breaks and tabs.
///
/// # Errors
/// A message naming the rule broken.
pub fn chat_text(text: &str) -> Result<(), String> {
    readable("message", text, true)?;
    if text.chars().count() > CHAT_TEXT_MAX {
        return Err(format!(
            "message must be at most {CHAT_TEXT_MAX} characters"
        ));
    }
    Ok(())
}

/// A room name as a request may give it: 1–80 characters of ASCII
/// letters, digits, `_`, `-`, `.` and `:` (public rooms, `event-<id>`,
/// `dm:<a>:<b>` whose usernames may hold `.`). Lookups are by the lowercase
/// form ([`room_key`]).
///
/// # Errors
/// A message naming the rule broken.
pub fn room(room: &str) -> Result<(), String> {
    let len = room.chars().count();
    if len == 0 || len > ROOM_REF_MAX {
        return Err(format!(
            "room name must be 1–{ROOM_REF_MAX} characters long"
        ));
    }
    if !room
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        return Err("room name may contain only letters, digits, '_', '-', '.' and ':'".to_owned());
    }
    Ok(())
}

/// The name a room is stored and looked up by: ASCII-lowercased.
#[must_use]
pub fn room_key(room: &str) -> String {
    room.to_ascii_lowercase()
}

/// The name of a new public room (`room_create`): 2–32 of lowercase ASCII
/// letters, digits, `-`, `_`; names starting with `event-` are the event
/// rooms' and `dm` names hold `:`, so neither can be taken.
///
/// # Errors
/// A message naming the rule broken.
pub fn public_room(room: &str) -> Result<(), String> {
    let len = room.chars().count();
    if !(ROOM_MIN..=ROOM_MAX).contains(&len) {
        return Err(format!(
            "room name must be {ROOM_MIN}–{ROOM_MAX} characters long"
        ));
    }
    if !room
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
    {
        return Err("room name may contain only lowercase letters, digits, '_' and '-'".to_owned());
    }
    if room.starts_with(EVENT_ROOM_PREFIX) {
        return Err(format!(
            "names starting with \"{EVENT_ROOM_PREFIX}\" belong to event rooms"
        ));
    }
    Ok(())
}

/// A room topic: 0–200 characters on one line, no control characters.
///
/// # Errors
/// A message naming the rule broken.
pub fn topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Ok(());
    }
    readable("topic", topic, false)
}

/// Prefix of every event room's name: `event-<event_id>`.
pub const EVENT_ROOM_PREFIX: &str = "event-";

/// Prefix of every direct room's name: `dm:<a>:<b>`.
pub const DIRECT_ROOM_PREFIX: &str = "dm:";

/// The room of event `event_id`: `event-<event_id>` (ids are decimal or
/// hex, so the name is a valid public-style name of at most 30 chars).
#[must_use]
pub fn event_room(event_id: &str) -> String {
    format!("{EVENT_ROOM_PREFIX}{}", event_id.to_ascii_lowercase())
}

/// The event id an event room's name carries, if it is one.
#[must_use]
pub fn event_of_room(room: &str) -> Option<&str> {
    room.strip_prefix(EVENT_ROOM_PREFIX)
        .filter(|id| !id.is_empty())
}

/// The direct room of two users: `dm:<a>:<b>` with both usernames
/// lowercased and sorted, so both users name it the same way.
#[must_use]
pub fn direct_room(user_a: &str, user_b: &str) -> String {
    let (a, b) = (user_a.to_ascii_lowercase(), user_b.to_ascii_lowercase());
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    format!("{DIRECT_ROOM_PREFIX}{first}:{second}")
}

/// Whether `room` names a direct room.
#[must_use]
pub fn is_direct_room(room: &str) -> bool {
    room.starts_with(DIRECT_ROOM_PREFIX)
}

/// Longest mute, in minutes (30 days).
pub const MUTE_MINUTES_MAX: u32 = 43_200;
/// Longest timed ban, in minutes (a year).
pub const BAN_MINUTES_MAX: u32 = 525_600;
/// Longest slow-mode interval, in seconds.
pub const SLOW_MODE_MAX: u32 = 3_600;

/// Event name or location: 1–200 characters on one line, something
/// visible in it, no control characters.
///
/// # Errors
/// A message naming the rule broken (`what` is "name" or "location").
pub fn event_text(what: &str, value: &str) -> Result<(), String> {
    readable(what, value, false)?;
    if value.chars().count() > EVENT_TEXT_MAX {
        return Err(format!(
            "{what} must be at most {EVENT_TEXT_MAX} characters"
        ));
    }
    Ok(())
}

/// An event date: ISO 8601 `YYYY-MM-DD`, a real calendar day in the years
/// [`EVENT_YEAR_MIN`]–[`EVENT_YEAR_MAX`].
///
/// # Errors
/// A message naming the rule broken.
pub fn event_date(date: &str) -> Result<chrono::NaiveDate, String> {
    use chrono::Datelike as _;
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .filter(|_| date.len() == 10 && date.as_bytes().first().is_some_and(u8::is_ascii_digit))
        .ok_or_else(|| "date must be a real day written YYYY-MM-DD".to_owned())?;
    if !(EVENT_YEAR_MIN..=EVENT_YEAR_MAX).contains(&day.year()) {
        return Err(format!(
            "date must be in the years {EVENT_YEAR_MIN}–{EVENT_YEAR_MAX}"
        ));
    }
    Ok(day)
}

/// A new event's date is not in the past: on or after the day before
/// `today` (UTC), so that every time zone can still create today's event.
///
/// # Errors
/// A message naming the rule broken.
pub fn event_date_not_past(
    date: chrono::NaiveDate,
    today: chrono::NaiveDate,
) -> Result<(), String> {
    if date < today - chrono::Days::new(1) {
        return Err("date must not be in the past".to_owned());
    }
    Ok(())
}

/// `max_per_user` when `create_event` omits it: [`DEFAULT_MAX_PER_USER`],
/// or the capacity when that is smaller.
#[must_use]
pub fn default_max_per_user(capacity: u32) -> u32 {
    DEFAULT_MAX_PER_USER.min(capacity)
}

/// A `book` quantity: at least 1 (the event's `max_per_user` and seats
/// left are the store's to check).
///
/// # Errors
/// A message naming the rule broken.
pub fn quantity(quantity: u32) -> Result<(), String> {
    if quantity == 0 {
        return Err("quantity must be at least 1".to_owned());
    }
    Ok(())
}

/// A `book` request key: 1–[`REQUEST_KEY_MAX`] characters.
///
/// # Errors
/// A message naming the rule broken.
pub fn request_key(key: &str) -> Result<(), String> {
    let len = key.chars().count();
    if len == 0 || len > REQUEST_KEY_MAX {
        return Err(format!(
            "request_key must be 1–{REQUEST_KEY_MAX} characters"
        ));
    }
    Ok(())
}

/// Capacity 1–1,000,000 and `max_per_user` 1–capacity.
///
/// # Errors
/// A message naming the rule broken.
pub fn capacity(capacity: u32, max_per_user: u32) -> Result<(), String> {
    if capacity == 0 || capacity > CAPACITY_MAX {
        return Err(format!("capacity must be between 1 and {CAPACITY_MAX}"));
    }
    if max_per_user == 0 || max_per_user > capacity {
        return Err("max per user must be between 1 and the capacity".to_owned());
    }
    Ok(())
}

/// Longest event description, in characters (ticketing issue).
pub const DESCRIPTION_MAX: usize = 2_000;

/// An event description: 0–[`DESCRIPTION_MAX`] characters; line breaks
/// and tabs allowed, other control characters not.
///
/// # Errors
/// A message naming the rule broken.
pub fn description(text: &str) -> Result<(), String> {
    if text.chars().count() > DESCRIPTION_MAX {
        return Err(format!(
            "description must be at most {DESCRIPTION_MAX} characters"
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("description must not contain control characters".to_owned());
    }
    Ok(())
}

/// An event start: RFC 3339 with a time and an offset
/// (`2027-06-12T20:00:00+02:00` or `...Z`), in the years
/// [`EVENT_YEAR_MIN`]–[`EVENT_YEAR_MAX`]. Seconds fractions are dropped.
///
/// # Errors
/// A message naming the rule broken.
pub fn starts_at(value: &str) -> Result<chrono::DateTime<chrono::FixedOffset>, String> {
    use chrono::{Datelike as _, Timelike as _};
    let at = chrono::DateTime::parse_from_rfc3339(value.trim()).map_err(|_| {
        "starts_at must be a date and time with an offset, e.g. 2027-06-12T20:00:00+02:00"
            .to_owned()
    })?;
    if !(EVENT_YEAR_MIN..=EVENT_YEAR_MAX).contains(&at.year()) {
        return Err(format!(
            "starts_at must be in the years {EVENT_YEAR_MIN}–{EVENT_YEAR_MAX}"
        ));
    }
    Ok(at.with_nanosecond(0).unwrap_or(at))
}

/// The start `create_event` gives a bare `date`: 20:00 in the server's
/// local time zone on that day (the earlier instant when a clock change
/// makes 20:00 ambiguous; 20:00 UTC if the zone has no 20:00 that day).
#[must_use]
pub fn evening_of(date: chrono::NaiveDate) -> chrono::DateTime<chrono::FixedOffset> {
    use chrono::TimeZone as _;
    let local = date.and_hms_opt(20, 0, 0).unwrap_or_default();
    chrono::Local
        .from_local_datetime(&local)
        .earliest()
        .map_or_else(|| local.and_utc().fixed_offset(), |at| at.fixed_offset())
}

/// A new start is in the future (`create_event`, `update_event`): events
/// that have started are closed.
///
/// # Errors
/// A message naming the rule broken.
pub fn starts_at_not_past(
    at: chrono::DateTime<chrono::FixedOffset>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    if at <= now {
        return Err("the event must start in the future".to_owned());
    }
    Ok(())
}

/// Parses a ticket code `C1.<ticket_id>.<event_id>.<signature>` into its
/// parts without checking the signature (the server does that with its
/// key; a door app with `server_info`'s `public_key`).
///
/// # Errors
/// A message when the code does not have that shape.
pub fn ticket_code(code: &str) -> Result<(&str, &str, &str), String> {
    let mut parts = code.trim().split('.');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("C1"), Some(ticket), Some(event), Some(signature), None)
            if !ticket.is_empty() && !event.is_empty() && !signature.is_empty() =>
        {
            Ok((ticket, event, signature))
        }
        _ => Err("this is not a Coliseum ticket code".to_owned()),
    }
}

/// The bytes a ticket code's signature covers.
#[must_use]
pub fn ticket_code_message(ticket_id: &str, event_id: &str) -> String {
    format!("coliseum-ticket:v1:{ticket_id}:{event_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(username("bob").is_ok());
        assert!(username("a.b-c_d9").is_ok());
        assert!(username("ab").is_err());
        assert!(username(&"x".repeat(33)).is_err());
        assert!(username(&"x".repeat(32)).is_ok());
        assert!(username("bob smith").is_err());
        assert!(username("bób").is_err());
    }

    #[test]
    fn passwords_emails_texts() {
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(email("a@example.com").is_ok());
        assert!(email("not-an-email").is_err());
        assert!(chat_text("   ").is_err());
        assert!(chat_text(&"é".repeat(2000)).is_ok());
        assert!(chat_text(&"é".repeat(2001)).is_err());
        assert!(room("lobby").is_ok());
        assert!(room("no spaces").is_err());
        assert!(room("dm:ada:bob.k").is_ok());
        assert!(public_room("general").is_ok());
        for bad in [
            "g",
            "General",
            "dm:a:b",
            "event-3",
            "has space",
            &"x".repeat(33),
        ] {
            assert!(public_room(bad).is_err(), "{bad}");
        }
        assert_eq!(direct_room("Bob", "ada"), "dm:ada:bob");
        assert_eq!(direct_room("ada", "Bob"), "dm:ada:bob");
        assert_eq!(event_of_room(&event_room("ABC12")), Some("abc12"));
        assert_eq!(event_of_room("event-"), None);
        assert!(is_direct_room("dm:ada:bob") && !is_direct_room("lobby"));
    }

    #[test]
    fn invisible_and_control_characters_are_refused_and_real_text_kept() {
        for empty in ["\u{200B}", "\u{FEFF}\u{200B} ", "\u{2060}\u{200D}", " \t"] {
            assert!(chat_text(empty).is_err(), "{empty:?}");
            assert!(event_text("name", empty).is_err(), "{empty:?}");
        }
        for control in ["\0", "hi\0there", "\u{1b}[31mred", "bell\u{7}"] {
            assert!(chat_text(control).is_err(), "{control:?}");
            assert!(event_text("location", control).is_err(), "{control:?}");
        }
        assert!(chat_text("two\nlines\tand a tab").is_ok());
        assert!(event_text("name", "two\nlines").is_err());
        for fine in [
            "🎉",
            "👩\u{200D}👩\u{200D}👧 family",
            "שלום עולם",
            "مرحبا",
            "Café Jazz Night",
            "\u{200F}RTL mark then text",
        ] {
            assert!(chat_text(fine).is_ok(), "{fine:?}");
            assert!(event_text("name", fine).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn event_years_past_dates_and_booking_fields() {
        assert!(event_date("-001-01-01").is_err());
        assert!(event_date("0000-01-01").is_err());
        assert!(event_date("1969-12-31").is_err());
        assert!(event_date("1970-01-01").is_ok());
        assert!(event_date("9999-12-31").is_ok());
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).expect("day");
        let day = |d| chrono::NaiveDate::from_ymd_opt(2026, 12, d).expect("day");
        assert!(event_date_not_past(day(1), today).is_err());
        assert!(
            event_date_not_past(day(2), today).is_ok(),
            "yesterday: another time zone's today"
        );
        assert!(event_date_not_past(day(3), today).is_ok());
        assert_eq!(default_max_per_user(4), 4);
        assert_eq!(default_max_per_user(500), DEFAULT_MAX_PER_USER);
        assert!(quantity(0).is_err());
        assert!(quantity(1).is_ok());
        assert!(request_key("").is_err());
        assert!(request_key(&"k".repeat(REQUEST_KEY_MAX)).is_ok());
        assert!(request_key(&"k".repeat(REQUEST_KEY_MAX + 1)).is_err());
    }

    #[test]
    fn dates_and_capacities() {
        assert!(event_date("2027-05-01").is_ok());
        assert!(event_date("2027-02-30").is_err());
        assert!(event_date("2027-5-1").is_err());
        assert!(capacity(10, 10).is_ok());
        assert!(capacity(10, 11).is_err());
        assert!(capacity(0, 1).is_err());
    }
}
