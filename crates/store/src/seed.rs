//! The first-start event list. The canonical file is `resources/events.json`
//! at the repository root; it is compiled in so that the binaries work from
//! any directory.

use crate::NewEvent;

/// `resources/events.json`, embedded at build time.
pub const EVENTS_JSON: &str = include_str!("../../../resources/events.json");

/// The seed events: the three venue events of the original brief.
///
/// # Errors
/// A message if the embedded JSON is malformed (caught by this crate's tests).
pub fn default_events() -> Result<Vec<NewEvent>, String> {
    parse_events(EVENTS_JSON)
}

/// One entry of the seed file.
#[derive(serde::Deserialize)]
struct SeedEvent {
    name: String,
    starts_at: chrono::DateTime<chrono::FixedOffset>,
    location: String,
    #[serde(default)]
    description: String,
    capacity: u32,
    max_per_user: u32,
}

/// Parses a JSON array of `{name, starts_at, location, description?,
/// capacity, max_per_user}` (`starts_at` in RFC 3339 with an offset).
///
/// # Errors
/// A message describing the first problem.
pub fn parse_events(json: &str) -> Result<Vec<NewEvent>, String> {
    let events: Vec<SeedEvent> =
        serde_json::from_str(json).map_err(|e| format!("invalid events JSON: {e}"))?;
    Ok(events
        .into_iter()
        .map(|e| NewEvent {
            name: e.name,
            starts_at: e.starts_at,
            location: e.location,
            description: e.description,
            capacity: e.capacity,
            max_per_user: e.max_per_user,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_has_the_three_brief_events_in_2027() {
        let events = super::default_events().expect("valid seed");
        let names: Vec<_> = events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["Concerto Rock", "Spettacolo di Magia", "Festival del Cibo"]
        );
        let caps: Vec<_> = events.iter().map(|e| e.capacity).collect();
        assert_eq!(caps, [150, 200, 300]);
        assert!(
            events
                .iter()
                .all(|e| e.starts_at.to_rfc3339().starts_with("2027-"))
        );
    }
}
