//! What the `coliseum-server` process tests share: reading the lines the
//! server prints on start.

use std::time::Duration;

use tokio::io::{BufReader, Lines};
use tokio::process::ChildStdout;

/// How long a test waits for a line from the server.
pub const WAIT: Duration = Duration::from_secs(30);

/// The server's standard output, line by line.
pub type Stdout = Lines<BufReader<ChildStdout>>;

/// The next line the server prints, within [`WAIT`]; `what` names it in
/// the panic message.
///
/// # Panics
/// When no line comes in time or the output ends.
pub async fn next_line(lines: &mut Stdout, what: &str) -> String {
    tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("the server prints {what}"))
        .expect("read")
        .expect("a line")
}

/// The address in the server's first line,
/// `coliseum-server listening on ADDR (…)`.
///
/// # Panics
/// When `line` is not that line.
#[must_use]
pub fn listening_addr(line: &str) -> String {
    line.strip_prefix("coliseum-server listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned()
}
