//! [`Fingerprint`]: the SHA-256 digest of a certificate's DER encoding.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::TlsError;

/// SHA-256 of a leaf certificate's DER bytes: what the server prints at
/// start-up and what a client pins.
///
/// It is the same value as `openssl x509 -noout -fingerprint -sha256 -in
/// cert.pem`, and [`Display`](fmt::Display) writes it the same way: 32
/// colon-separated uppercase hex bytes, `AB:CD:…:EF` (95 characters).
/// [`FromStr`] accepts that form, plain hex (64 digits), either case,
/// surrounded by white space, and openssl's full output line
/// (`sha256 Fingerprint=AB:CD:…`). Serde uses the display form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    #[must_use]
    pub fn of_der(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// Wraps 32 raw digest bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 raw digest bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

fn hex_pair(pair: &str) -> Option<u8> {
    if pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit()) {
        u8::from_str_radix(pair, 16).ok()
    } else {
        None
    }
}

impl FromStr for Fingerprint {
    type Err = TlsError;

    /// # Errors
    /// [`TlsError::InvalidFingerprint`] unless the text is 32 hex bytes,
    /// all colon-separated or all run together.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || TlsError::InvalidFingerprint(text.chars().take(120).collect());
        // openssl prints `sha256 Fingerprint=AB:CD:...`; keep what follows `=`.
        let digits = text.rsplit('=').next().unwrap_or(text).trim();
        let mut bytes = [0u8; 32];
        if digits.contains(':') {
            let mut parts = digits.split(':');
            for byte in &mut bytes {
                *byte = parts.next().and_then(hex_pair).ok_or_else(invalid)?;
            }
            if parts.next().is_some() {
                return Err(invalid());
            }
        } else {
            if digits.len() != 64 || !digits.is_ascii() {
                return Err(invalid());
            }
            for (byte, i) in bytes.iter_mut().zip((0..64).step_by(2)) {
                *byte = digits
                    .get(i..i + 2)
                    .and_then(hex_pair)
                    .ok_or_else(invalid)?;
            }
        }
        Ok(Self(bytes))
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENSSL: &str = "sha256 Fingerprint=00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:\
                           10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:FF";

    fn sample() -> Fingerprint {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::try_from(i).expect("small");
        }
        bytes[31] = 0xFF;
        Fingerprint::from_bytes(bytes)
    }

    #[test]
    fn displays_like_openssl() {
        let shown = sample().to_string();
        assert_eq!(shown.len(), 95);
        assert_eq!(Some(shown.as_str()), OPENSSL.split('=').nth(1));
    }

    #[test]
    fn parses_every_accepted_form() {
        let fp = sample();
        let colon = fp.to_string();
        let plain: String = colon.split(':').collect();
        for text in [
            colon.clone(),
            colon.to_lowercase(),
            plain.clone(),
            plain.to_lowercase(),
            format!("  {colon}\n"),
            OPENSSL.to_owned(),
        ] {
            assert_eq!(text.parse::<Fingerprint>().expect(&text), fp, "{text}");
        }
    }

    #[test]
    fn rejects_malformed_text() {
        let colon = sample().to_string();
        let plain: String = colon.split(':').collect();
        for text in [
            String::new(),
            colon[..colon.len() - 3].to_owned(),
            format!("{colon}:00"),
            colon.replace("0A", "0G"),
            colon.replace("0A", "A"),
            plain[..62].to_owned(),
            format!("{plain}00"),
            plain.replacen('0', "é", 1),
            colon.replacen(':', "", 1),
        ] {
            assert!(
                matches!(
                    text.parse::<Fingerprint>(),
                    Err(TlsError::InvalidFingerprint(_))
                ),
                "{text:?} was accepted"
            );
        }
    }

    #[test]
    fn serde_uses_the_display_form() {
        let fp = sample();
        let json = serde_json::to_string(&fp).expect("ser");
        assert_eq!(json, format!("\"{fp}\""));
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).expect("de"), fp);
        assert!(serde_json::from_str::<Fingerprint>("\"nope\"").is_err());
    }

    #[test]
    fn is_sha256_of_the_der() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        assert_eq!(
            Fingerprint::of_der(b"abc").to_string(),
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }
}
