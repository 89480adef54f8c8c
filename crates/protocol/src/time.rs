//! Reading the protocol's timestamps (RFC 3339 strings) quickly.
//!
//! chrono's own `Deserialize` for `DateTime` goes through its general
//! `FromStr`, a format-item interpreter: ~110 ns per timestamp on our 2-core
//! machines, a third of the cost of decoding a `chat` push, which every
//! client pays for every message. These helpers (used with
//! `#[serde(deserialize_with = ...)]`) try chrono's RFC 3339 parser first
//! (`DateTime::parse_from_rfc3339`, ~20 ns) and fall back to `FromStr`, so
//! they accept exactly what chrono's `Deserialize` accepted before.
//! Serializing is unchanged (chrono's `Serialize`).

use std::fmt;

use chrono::{DateTime, FixedOffset, Utc};
use serde::de::{self, Deserialize, Deserializer, Visitor};

/// Visits an RFC 3339 string.
struct Rfc3339;

impl Visitor<'_> for Rfc3339 {
    type Value = DateTime<FixedOffset>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 date and time")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        DateTime::parse_from_rfc3339(value)
            .or_else(|_| value.parse())
            .map_err(E::custom)
    }
}

/// A `DateTime<Utc>` read with [`Rfc3339`] (for `Option`).
struct UtcTime(DateTime<Utc>);

impl<'de> Deserialize<'de> for UtcTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        utc(deserializer).map(Self)
    }
}

/// `deserialize_with` for `DateTime<Utc>`: an RFC 3339 string with any
/// offset, converted to UTC.
///
/// # Errors
/// The value is not a string, or not a date and time chrono accepts.
pub(crate) fn utc<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    deserializer
        .deserialize_str(Rfc3339)
        .map(|at| at.with_timezone(&Utc))
}

/// `deserialize_with` for `Option<DateTime<Utc>>`: `null` or as [`utc`]
/// (pair it with `#[serde(default)]` where the field may be absent).
///
/// # Errors
/// As [`utc`].
pub(crate) fn utc_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<UtcTime>::deserialize(deserializer).map(|at| at.map(|UtcTime(at)| at))
}

/// `deserialize_with` for `DateTime<FixedOffset>`: an RFC 3339 string, its
/// offset kept.
///
/// # Errors
/// As [`utc`].
pub(crate) fn fixed<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<DateTime<FixedOffset>, D::Error> {
    deserializer.deserialize_str(Rfc3339)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, FixedOffset, Utc};
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Times {
        #[serde(deserialize_with = "super::utc")]
        at: DateTime<Utc>,
        #[serde(default, deserialize_with = "super::utc_option")]
        maybe: Option<DateTime<Utc>>,
        #[serde(deserialize_with = "super::fixed")]
        local: DateTime<FixedOffset>,
    }

    fn read(json: &str) -> Result<Times, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn reads_what_chrono_reads_and_the_same_instant() {
        for text in [
            "2026-12-04T13:52:25.123Z",
            "2026-12-04T14:52:25.123+01:00",
            "2026-12-04 13:52:25.123Z",
            "2026-12-04T13:52:25.123456789Z",
            "2026-12-04T13:52:25Z",
        ] {
            let json = format!(r#"{{"at":"{text}","maybe":"{text}","local":"{text}"}}"#);
            let times = read(&json).expect(text);
            let chrono_utc: DateTime<Utc> =
                serde_json::from_str(&format!("\"{text}\"")).expect("chrono reads it");
            let chrono_fixed: DateTime<FixedOffset> =
                serde_json::from_str(&format!("\"{text}\"")).expect("chrono reads it");
            assert_eq!(times.at, chrono_utc, "{text}");
            assert_eq!(times.maybe, Some(chrono_utc), "{text}");
            assert_eq!(times.local, chrono_fixed, "{text}");
            assert_eq!(times.local.offset(), chrono_fixed.offset(), "{text}");
        }
    }

    #[test]
    fn null_and_absent_options_are_none() {
        let at = r#""at":"2026-12-04T13:52:25Z","local":"2026-12-04T13:52:25Z""#;
        assert_eq!(read(&format!("{{{at}}}")).expect("absent").maybe, None);
        assert_eq!(
            read(&format!(r#"{{{at},"maybe":null}}"#))
                .expect("null")
                .maybe,
            None
        );
    }

    #[test]
    fn rejects_what_is_not_a_date_and_time() {
        for bad in [
            r#""yesterday""#,
            r#""2026-13-04T13:52:25Z""#,
            r#""2026-12-04""#,
            "12345",
            "true",
        ] {
            let json = format!(r#"{{"at":{bad},"local":"2026-12-04T13:52:25Z"}}"#);
            assert!(read(&json).is_err(), "{bad} was accepted");
            let json = format!(r#"{{"at":"2026-12-04T13:52:25Z","local":{bad}}}"#);
            assert!(read(&json).is_err(), "{bad} was accepted");
        }
    }
}
