//! File formats of the desktop app, as pure functions (no I/O, no dialogs):
//! "My tickets" export to CSV or JSON, and the events import from CSV or JSON.
//!
//! Import files list events with the fields of `create_event`:
//! `name`, `date` (`YYYY-MM-DD`), `location`, `capacity` and optionally
//! `max_per_user` (default: 10, or the capacity when smaller). CSV files have
//! a header row naming those columns in any order; JSON files hold an array
//! of objects — the shape of `resources/events.json`. Every row is checked
//! with `coliseum_protocol::validate` (the server's own rules) before
//! anything is created, so a file is imported whole or not at all.

use coliseum_protocol::Ticket;
use coliseum_protocol::validate::{self, DEFAULT_MAX_PER_USER};
use serde::{Deserialize, Serialize};

use chrono::NaiveDate;

/// An event to create: the `create_event` arguments, already validated by the
/// form with `coliseum_protocol::validate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Display name, 1–200 characters.
    pub name: String,
    /// Day of the event.
    pub date: NaiveDate,
    /// Venue, 1–200 characters.
    pub location: String,
    /// Total seats, 1–1,000,000.
    pub capacity: u32,
    /// Seats one user may hold, 1–`capacity`.
    pub max_per_user: u32,
    /// Start time; `None` means 20:00 local to the server on `date`.
    #[serde(default)]
    pub starts_at: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// What the event is, 0–2,000 characters.
    #[serde(default)]
    pub description: String,
}

/// Export file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// A pretty-printed JSON array of ticket records (the wire shape).
    Json,
}

impl ExportFormat {
    /// File name extension without the dot: `csv` or `json`.
    #[must_use]
    pub const fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }

    /// Name for people: `CSV` or `JSON`.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Csv => "CSV",
            Self::Json => "JSON",
        }
    }
}

/// Column names of the tickets CSV, in order.
pub const TICKETS_CSV_HEADER: [&str; 5] =
    ["ticket_id", "event_id", "event", "quantity", "booked_at"];

/// Encodes `tickets` in `format`. CSV columns: [`TICKETS_CSV_HEADER`], with
/// `booked_at` in RFC 3339 UTC; JSON: an array of ticket records.
///
/// # Errors
/// Only if the encoder fails (not expected for these types).
pub fn export_tickets(format: ExportFormat, tickets: &[Ticket]) -> Result<Vec<u8>, String> {
    match format {
        ExportFormat::Json => serde_json::to_vec_pretty(tickets).map_err(|e| e.to_string()),
        ExportFormat::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer
                .write_record(TICKETS_CSV_HEADER)
                .map_err(|e| e.to_string())?;
            for ticket in tickets {
                writer
                    .write_record([
                        ticket.id.as_str(),
                        ticket.event_id.as_str(),
                        ticket.event_name.as_str(),
                        &ticket.quantity.to_string(),
                        &ticket
                            .booked_at
                            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    ])
                    .map_err(|e| e.to_string())?;
            }
            writer.into_inner().map_err(|e| e.to_string())
        }
    }
}

/// One invalid row of an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based position of the event in the file (the CSV header is not counted).
    pub row: usize,
    /// Every rule the row breaks, joined with "; ".
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {}: {}", self.row, self.message)
    }
}

/// Why an import file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    /// The file as a whole is not CSV/JSON of the expected shape, or is empty.
    Unreadable(String),
    /// These rows break the rules; the other rows are fine but nothing is imported.
    Invalid(Vec<RowError>),
}

/// A row as read from the file, before validation. Numbers are kept as text
/// so that "abc" in `capacity` is reported per row instead of failing the file.
#[derive(Debug, Default, Deserialize)]
struct RawRow {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    date: Option<String>,
    /// RFC 3339 start (the seed file's shape since the ticketing issue);
    /// its date stands in for a missing `date`.
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default, deserialize_with = "number_or_text")]
    capacity: Option<String>,
    #[serde(default, deserialize_with = "number_or_text")]
    max_per_user: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// Accepts `12`, `"12"`, `""` (as absent) or `null` for a numeric column.
fn number_or_text<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Number(serde_json::Number),
        Text(String),
    }
    Ok(match Option::<NumberOrText>::deserialize(deserializer)? {
        None => None,
        Some(NumberOrText::Number(n)) => Some(n.to_string()),
        Some(NumberOrText::Text(t)) => Some(t).filter(|t| !t.trim().is_empty()),
    })
}

/// The app's rule on top of the server's: an event cannot be dated before
/// `today` (the user's local date).
///
/// # Errors
/// A sentence naming the date when it is in the past.
pub fn not_in_the_past(date: NaiveDate, today: NaiveDate) -> Result<NaiveDate, String> {
    if date < today {
        Err(format!("the date {date} is in the past"))
    } else {
        Ok(date)
    }
}

/// Parses and validates an import file. `file_name` picks the format by its
/// extension (`.json` is JSON, anything else CSV); rows dated before `today`
/// are refused.
///
/// # Errors
/// [`ImportError::Unreadable`] for a malformed or empty file,
/// [`ImportError::Invalid`] listing every row that breaks a rule.
pub fn parse_events(
    file_name: &str,
    bytes: &[u8],
    today: NaiveDate,
) -> Result<Vec<NewEvent>, ImportError> {
    let is_json = std::path::Path::new(file_name)
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    let rows: Vec<Result<RawRow, String>> = if is_json {
        let values: Vec<serde_json::Value> = serde_json::from_slice(bytes)
            .map_err(|e| ImportError::Unreadable(format!("not a JSON array of events: {e}")))?;
        values
            .into_iter()
            .map(|v| serde_json::from_value::<RawRow>(v).map_err(|e| e.to_string()))
            .collect()
    } else {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let headers = reader
            .headers()
            .map_err(|e| ImportError::Unreadable(format!("not a CSV file: {e}")))?
            .clone();
        for column in ["name", "date", "location", "capacity"] {
            if !headers.iter().any(|h| h == column) {
                return Err(ImportError::Unreadable(format!(
                    "the CSV header has no \"{column}\" column"
                )));
            }
        }
        reader
            .deserialize::<RawRow>()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    };
    if rows.is_empty() {
        return Err(ImportError::Unreadable("the file holds no events".into()));
    }
    let mut events = Vec::with_capacity(rows.len());
    let mut failures = Vec::new();
    for (index, row) in rows.into_iter().enumerate() {
        match row
            .map_err(|e| vec![e])
            .and_then(|row| validate_row(row, today))
        {
            Ok(event) => events.push(event),
            Err(problems) => failures.push(RowError {
                row: index + 1,
                message: problems.join("; "),
            }),
        }
    }
    if failures.is_empty() {
        Ok(events)
    } else {
        Err(ImportError::Invalid(failures))
    }
}

/// Applies the server's rules to one row, collecting every problem.
fn validate_row(row: RawRow, today: NaiveDate) -> Result<NewEvent, Vec<String>> {
    let mut problems = Vec::new();
    let name = row.name.unwrap_or_default();
    let location = row.location.unwrap_or_default();
    if let Err(e) = validate::event_text("name", &name) {
        problems.push(e);
    }
    if let Err(e) = validate::event_text("location", &location) {
        problems.push(e);
    }
    let starts_at = row
        .starts_at
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .and_then(|text| validate::starts_at(text).map_err(|e| problems.push(e)).ok());
    let from_start = starts_at.map(|at| at.date_naive().to_string());
    let description = row.description.unwrap_or_default();
    if let Err(e) = validate::description(&description) {
        problems.push(e);
    }
    let date_text = row
        .date
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .or(from_start)
        .unwrap_or_default();
    let date = validate::event_date(&date_text)
        .and_then(|date| not_in_the_past(date, today))
        .map_err(|e| problems.push(e))
        .ok();
    let capacity = match row.capacity.as_deref().map(str::trim) {
        None => {
            problems.push("capacity is missing".into());
            None
        }
        Some(text) => text
            .parse::<u32>()
            .map_err(|_| problems.push(format!("capacity \"{text}\" is not a whole number")))
            .ok(),
    };
    let max_per_user = match row.max_per_user.as_deref().map(str::trim) {
        None => capacity.map(|c| c.min(DEFAULT_MAX_PER_USER)),
        Some(text) => text
            .parse::<u32>()
            .map_err(|_| problems.push(format!("max_per_user \"{text}\" is not a whole number")))
            .ok(),
    };
    if let (Some(capacity), Some(max_per_user)) = (capacity, max_per_user)
        && let Err(e) = validate::capacity(capacity, max_per_user)
    {
        problems.push(e);
    }
    match (date, capacity, max_per_user) {
        (Some(date), Some(capacity), Some(max_per_user)) if problems.is_empty() => Ok(NewEvent {
            name: name.trim().to_owned(),
            date,
            location: location.trim().to_owned(),
            capacity,
            max_per_user,
            // A start on another day than `date` would contradict it.
            starts_at: starts_at.filter(|at| at.date_naive() == date),
            description: description.trim().to_owned(),
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone as _, Utc};

    fn ticket() -> Ticket {
        Ticket {
            id: "7".into(),
            event_id: "1".into(),
            event_name: "Concerto, \"Rock\"".into(),
            quantity: 2,
            booked_at: Utc
                .with_ymd_and_hms(2026, 11, 21, 18, 56, 5)
                .single()
                .expect("date"),
            code: String::new(),
            checked_in_at: None,
        }
    }

    #[test]
    fn tickets_csv_has_a_header_and_quotes_commas() {
        let bytes = export_tickets(ExportFormat::Csv, &[ticket()]).expect("csv");
        let text = String::from_utf8(bytes).expect("utf8");
        assert_eq!(
            text,
            "ticket_id,event_id,event,quantity,booked_at\n\
             7,1,\"Concerto, \"\"Rock\"\"\",2,2026-11-21T18:56:05.000Z\n"
        );
    }

    #[test]
    fn tickets_json_round_trips() {
        let bytes = export_tickets(ExportFormat::Json, &[ticket()]).expect("json");
        let back: Vec<Ticket> = serde_json::from_slice(&bytes).expect("parse");
        assert_eq!(back, vec![ticket()]);
    }

    #[test]
    fn csv_import_accepts_valid_rows_in_any_column_order() {
        let file = "location,name,date,capacity,max_per_user\n\
                    Blue Room,Jazz Night,2027-10-02,80,4\n\
                    Arena, Derby ,2027-11-01,500,\n";
        let events = parse_events("events.csv", file.as_bytes(), today()).expect("valid");
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0],
            NewEvent {
                name: "Jazz Night".into(),
                date: NaiveDate::from_ymd_opt(2027, 10, 2).expect("date"),
                location: "Blue Room".into(),
                capacity: 80,
                max_per_user: 4,
                starts_at: None,
                description: String::new(),
            }
        );
        assert_eq!(events[1].name, "Derby");
        assert_eq!(events[1].max_per_user, DEFAULT_MAX_PER_USER);
    }

    #[test]
    fn small_capacity_lowers_the_default_per_user_limit() {
        let file = r#"[{"name":"Tiny","date":"2027-01-01","location":"Attic","capacity":3}]"#;
        let events = parse_events("e.json", file.as_bytes(), today()).expect("valid");
        assert_eq!(events[0].max_per_user, 3);
    }

    #[test]
    fn every_invalid_row_is_listed_and_nothing_is_returned() {
        let file = "name,date,location,capacity\n\
                    Good,2027-10-02,Hall,10\n\
                    ,2027-02-30,Hall,abc\n\
                    Also good,2027-10-03,Hall,10\n\
                    Big,2027-10-04,Hall,2000000\n";
        let Err(ImportError::Invalid(failures)) = parse_events("x.csv", file.as_bytes(), today())
        else {
            panic!("expected row failures");
        };
        assert_eq!(failures.len(), 2);
        assert_eq!(failures[0].row, 2);
        assert!(failures[0].message.contains("name must not be empty"));
        assert!(failures[0].message.contains("real day"));
        assert!(failures[0].message.contains("\"abc\""));
        assert_eq!(failures[1].row, 4);
        assert!(failures[1].message.contains("capacity must be between"));
    }

    #[test]
    fn json_import_reads_the_seed_file_shape() {
        let seed = include_str!("../../../resources/events.json");
        let events =
            parse_events("events.json", seed.as_bytes(), today()).expect("seed file is valid");
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].name, "Concerto Rock");
    }

    /// The day the tests pretend it is.
    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 1).expect("date")
    }

    #[test]
    fn rows_dated_in_the_past_are_refused() {
        let file = "name,date,location,capacity\n\
                    Yesterday,2026-11-30,Hall,10\n\
                    Today,2026-12-01,Hall,10\n";
        let Err(ImportError::Invalid(failures)) = parse_events("x.csv", file.as_bytes(), today())
        else {
            panic!("expected a row failure");
        };
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].row, 1);
        assert!(
            failures[0].message.contains("in the past"),
            "{}",
            failures[0].message
        );
    }

    #[test]
    fn malformed_files_are_unreadable() {
        assert!(matches!(
            parse_events("x.json", b"{\"name\":1}", today()),
            Err(ImportError::Unreadable(_))
        ));
        assert!(matches!(
            parse_events("x.csv", b"title,when\nA,B\n", today()),
            Err(ImportError::Unreadable(_))
        ));
        assert!(matches!(
            parse_events("x.json", b"[]", today()),
            Err(ImportError::Unreadable(_))
        ));
    }
}
