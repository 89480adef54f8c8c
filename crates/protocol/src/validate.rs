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
/// Longest room name, in characters.
pub const ROOM_MAX: usize = 32;
/// Longest event name or location, in characters.
pub const EVENT_TEXT_MAX: usize = 200;
/// Largest event capacity.
pub const CAPACITY_MAX: u32 = 1_000_000;
/// `max_per_user` when `create_event` omits it.
pub const DEFAULT_MAX_PER_USER: u32 = 10;
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

/// Chat text: 1–2,000 characters, not only white space.
///
/// # Errors
/// A message naming the rule broken.
pub fn chat_text(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("message must not be empty".to_owned());
    }
    if text.chars().count() > CHAT_TEXT_MAX {
        return Err(format!(
            "message must be at most {CHAT_TEXT_MAX} characters"
        ));
    }
    Ok(())
}

/// Room name: 1–32 characters, each an ASCII letter, digit, `_` or `-`.
///
/// # Errors
/// A message naming the rule broken.
pub fn room(room: &str) -> Result<(), String> {
    let len = room.chars().count();
    if len == 0 || len > ROOM_MAX {
        return Err(format!("room name must be 1–{ROOM_MAX} characters long"));
    }
    if !room
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        return Err("room name may contain only letters, digits, '_' and '-'".to_owned());
    }
    Ok(())
}

/// Event name or location: 1–200 characters, not only white space.
///
/// # Errors
/// A message naming the rule broken (`what` is "name" or "location").
pub fn event_text(what: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if value.chars().count() > EVENT_TEXT_MAX {
        return Err(format!(
            "{what} must be at most {EVENT_TEXT_MAX} characters"
        ));
    }
    Ok(())
}

/// An event date: ISO 8601 `YYYY-MM-DD`, a real calendar day.
///
/// # Errors
/// A message naming the rule broken.
pub fn event_date(date: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .filter(|_| date.len() == 10)
        .ok_or_else(|| "date must be a real day written YYYY-MM-DD".to_owned())
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
