//! Server addresses (issue 15): the address field and `--server` take one
//! `host:port` or several separated by commas, and one name may resolve to
//! several socket addresses. [`parse_servers`] checks the text;
//! [`Rotation`] turns the entries into the connection targets the
//! supervisor tries in turn.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// Why an address list was refused; the message names the bad entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Nothing but spaces and commas.
    #[error("enter host:port, e.g. 127.0.0.1:7878")]
    Empty,
    /// An entry without `:port`.
    #[error("{0:?} has no port: enter host:port, e.g. 127.0.0.1:7878")]
    NoPort(String),
    /// An entry whose port is not a number from 1 to 65535.
    #[error("{0:?}: the port must be a number from 1 to 65535")]
    BadPort(String),
    /// An entry with an empty host, or an IPv6 address that does not parse.
    #[error("{0:?}: the host is missing or malformed")]
    BadHost(String),
    /// An IPv6 address without brackets (`::1:7878` is ambiguous).
    #[error("{0:?}: put an IPv6 address in brackets, e.g. [::1]:7878")]
    BareIpv6(String),
}

/// One checked entry of an address list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `host:port` as typed (trimmed): the key of its trust-on-first-use
    /// pin and what the status bar shows.
    pub addr: String,
    /// The host part, without IPv6 brackets: the TLS server name.
    pub host: String,
    /// The port.
    pub port: u16,
}

/// Checks one `host:port` entry (IPv6 in brackets: `[::1]:7878`). No
/// default port: like the single address before lists, a port is required.
///
/// # Errors
/// The [`AddressError`] naming what is wrong with `text`.
pub fn parse_entry(text: &str) -> Result<Entry, AddressError> {
    let addr = text.trim();
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return Err(AddressError::BadHost(addr.to_owned()));
        };
        if inner.parse::<Ipv6Addr>().is_err() {
            return Err(AddressError::BadHost(addr.to_owned()));
        }
        match after.strip_prefix(':') {
            Some(port) => (inner, port),
            None if after.is_empty() => return Err(AddressError::NoPort(addr.to_owned())),
            None => return Err(AddressError::BadHost(addr.to_owned())),
        }
    } else {
        let Some((host, port)) = addr.rsplit_once(':') else {
            return Err(AddressError::NoPort(addr.to_owned()));
        };
        if host.contains(':') {
            return Err(AddressError::BareIpv6(addr.to_owned()));
        }
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(AddressError::BadHost(addr.to_owned()));
        }
        (host, port)
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|&port| port != 0)
        .ok_or_else(|| AddressError::BadPort(addr.to_owned()))?;
    Ok(Entry {
        addr: addr.to_owned(),
        host: host.to_owned(),
        port,
    })
}

/// Parses an address list: entries separated by commas, spaces around them
/// ignored, empty entries skipped, repeated entries kept once (the first).
///
/// # Errors
/// The first bad entry's [`AddressError`]; [`AddressError::Empty`] when no
/// entry is left.
pub fn parse_servers(text: &str) -> Result<Vec<Entry>, AddressError> {
    let mut entries: Vec<Entry> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let entry = parse_entry(part)?;
        if !entries
            .iter()
            .any(|e| e.addr.eq_ignore_ascii_case(&entry.addr))
        {
            entries.push(entry);
        }
    }
    if entries.is_empty() {
        return Err(AddressError::Empty);
    }
    Ok(entries)
}

/// One socket address to connect to, and the entry it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The entry (its `addr` keys the pin; its `host` is the TLS name).
    pub entry: Entry,
    /// Where to connect.
    pub socket: SocketAddr,
}

impl Target {
    /// How the UI names it: the entry as typed, followed by the socket
    /// address when the entry is a name (`venue.example:7878 (10.0.0.2:7878)`).
    #[must_use]
    pub fn label(&self) -> String {
        if self.entry.host.parse::<IpAddr>().is_ok() {
            self.entry.addr.clone()
        } else {
            format!("{} ({})", self.entry.addr, self.socket)
        }
    }
}

/// The targets of an address list, taken in turn (round robin). The names
/// are resolved again each time the turn comes back to the start, so a
/// DNS change is followed.
#[derive(Debug)]
pub struct Rotation {
    entries: Vec<Entry>,
    targets: Vec<Target>,
    /// Index in `targets` of the next target.
    next: usize,
    /// Why names of the last resolution gave no address.
    unresolved: Vec<String>,
}

impl Rotation {
    /// A rotation over `entries`, starting with the first.
    #[must_use]
    pub fn new(entries: Vec<Entry>) -> Self {
        Self {
            entries,
            targets: Vec::new(),
            next: 0,
            unresolved: Vec::new(),
        }
    }

    /// The next target with its position (1-based) and the number of
    /// targets, resolving the entries when a turn starts.
    ///
    /// # Errors
    /// When no entry resolves to any address: each entry's failure.
    pub async fn next(&mut self) -> Result<(Target, usize, usize), String> {
        if self.next >= self.targets.len() {
            self.resolve().await;
            self.next = 0;
        }
        let Some(target) = self.targets.get(self.next).cloned() else {
            return Err(self.unresolved.join("; "));
        };
        self.next += 1;
        Ok((target, self.next, self.targets.len()))
    }

    /// Why entries gave no address at the last resolution (one line each).
    #[must_use]
    pub fn unresolved(&self) -> &[String] {
        &self.unresolved
    }

    /// What [`Rotation::next`] will most likely return (a new turn resolves
    /// the names again): the target's label, position and the total.
    #[must_use]
    pub fn peek(&self) -> Option<(String, usize, usize)> {
        let index = if self.next < self.targets.len() {
            self.next
        } else {
            0
        };
        self.targets
            .get(index)
            .map(|target| (target.label(), index + 1, self.targets.len()))
    }

    async fn resolve(&mut self) {
        self.targets.clear();
        self.unresolved.clear();
        for entry in &self.entries {
            match tokio::net::lookup_host((entry.host.as_str(), entry.port)).await {
                Ok(sockets) => {
                    let before = self.targets.len();
                    for socket in sockets {
                        if !self.targets.iter().any(|t| t.socket == socket) {
                            self.targets.push(Target {
                                entry: entry.clone(),
                                socket,
                            });
                        }
                    }
                    if self.targets.len() == before {
                        self.unresolved.push(format!("{}: no address", entry.addr));
                    }
                }
                Err(error) => self
                    .unresolved
                    .push(format!("{}: cannot resolve: {error}", entry.addr)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(text: &str) -> Vec<String> {
        parse_servers(text)
            .expect("valid list")
            .into_iter()
            .map(|e| e.addr)
            .collect()
    }

    #[test]
    fn a_single_address_parses_as_before() {
        let entries = parse_servers("127.0.0.1:7878").expect("valid");
        assert_eq!(
            entries,
            [Entry {
                addr: "127.0.0.1:7878".into(),
                host: "127.0.0.1".into(),
                port: 7878,
            }]
        );
        assert_eq!(addrs("  venue.example:9000 "), ["venue.example:9000"]);
    }

    #[test]
    fn lists_split_on_commas_ignoring_spaces_empty_and_repeated_entries() {
        assert_eq!(
            addrs("venue.example:7878, 10.0.0.2:7878"),
            ["venue.example:7878", "10.0.0.2:7878"]
        );
        assert_eq!(
            addrs(",a.example:1,, ,b.example:2,"),
            ["a.example:1", "b.example:2"]
        );
        assert_eq!(
            addrs("a.example:1, A.example:1, a.example:1"),
            ["a.example:1"]
        );
    }

    #[test]
    fn ipv6_needs_brackets() {
        let entries = parse_servers("[::1]:7878, [fe80::1]:9000").expect("valid");
        assert_eq!(entries[0].host, "::1");
        assert_eq!(entries[0].port, 7878);
        assert_eq!(entries[1].addr, "[fe80::1]:9000");
        assert_eq!(
            parse_servers("::1:7878"),
            Err(AddressError::BareIpv6("::1:7878".into()))
        );
        assert_eq!(
            parse_servers("[::1]"),
            Err(AddressError::NoPort("[::1]".into()))
        );
        assert_eq!(
            parse_servers("[nonsense]:7878"),
            Err(AddressError::BadHost("[nonsense]:7878".into()))
        );
    }

    #[test]
    fn bad_entries_are_named() {
        assert_eq!(parse_servers(""), Err(AddressError::Empty));
        assert_eq!(parse_servers(" , ,"), Err(AddressError::Empty));
        assert_eq!(
            parse_servers("10.0.0.1:7878, venue.example"),
            Err(AddressError::NoPort("venue.example".into()))
        );
        assert_eq!(
            parse_servers("10.0.0.1:99999"),
            Err(AddressError::BadPort("10.0.0.1:99999".into()))
        );
        assert_eq!(
            parse_servers("10.0.0.1:0"),
            Err(AddressError::BadPort("10.0.0.1:0".into()))
        );
        assert_eq!(
            parse_servers("host:"),
            Err(AddressError::BadPort("host:".into()))
        );
        assert_eq!(
            parse_servers(":7878"),
            Err(AddressError::BadHost(":7878".into()))
        );
        assert_eq!(
            parse_servers("my host:7878"),
            Err(AddressError::BadHost("my host:7878".into()))
        );
        let message = parse_servers("a:1, b:x").expect_err("bad port").to_string();
        assert!(message.contains("\"b:x\""), "{message}");
    }

    #[tokio::test]
    async fn the_rotation_goes_round_every_address() {
        let entries = parse_servers("127.0.0.1:1, [::1]:2, 127.0.0.1:3").expect("valid");
        let mut rotation = Rotation::new(entries);
        let mut seen = Vec::new();
        for _ in 0..4 {
            let (target, position, total) = rotation.next().await.expect("target");
            seen.push((target.label(), position, total));
        }
        assert_eq!(
            seen,
            [
                ("127.0.0.1:1".to_owned(), 1, 3),
                ("[::1]:2".to_owned(), 2, 3),
                ("127.0.0.1:3".to_owned(), 3, 3),
                ("127.0.0.1:1".to_owned(), 1, 3),
            ]
        );
        assert_eq!(rotation.peek(), Some(("[::1]:2".to_owned(), 2, 3)));
        let target = Target {
            entry: parse_entry("venue.example:7878").expect("valid"),
            socket: "10.0.0.2:7878".parse().expect("socket"),
        };
        assert_eq!(target.label(), "venue.example:7878 (10.0.0.2:7878)");
    }
}
