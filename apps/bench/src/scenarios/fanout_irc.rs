//! `fanout --proto irc`: the same fan-out against an IRC server (ngIRCd in
//! `docs/performance.md`), so the Coliseum server's cost per delivery is
//! compared with an IRC server's measured in the same run, on the same
//! machine, with the same timing.
//!
//! Mapping: each client registers (`NICK`, `USER`; waits for `001`), then
//! `JOIN`s one channel named after the run's tag (waits for `366`, the end
//! of the names list). Senders send `PRIVMSG #channel :<stamped text>` (the
//! same text as the Coliseum fan-out, [`crate::stats::stamp_text`]) on the
//! same schedule; each message is followed by `PING :<seq>`, and the
//! server's `PONG` stands for the Coliseum `chat_send` answer: it bounds a
//! sender's in-flight window (`--window`) and gives the ack latency. Every
//! client parses every line it receives (prefix, command, parameters).
//!
//! Differences that matter when reading the figures: an IRC server does not
//! echo a message to its sender, so expected deliveries = sent × (C − 1);
//! IRC acknowledges nothing durably (Coliseum's `chat_send` answers after
//! the store's commit); receivers answer the server's `PING`s, senders do
//! not (runs are far shorter than ngIRCd's 120 s ping timeout).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::fanout::{
    Collected, FanoutArgs, Received, collect, delivery_violations, drain, server_cost,
};
use super::{CpuReport, Outcome, Stopwatch};
use crate::error::{BenchError, Result};
use crate::setup::{self, RunNames};
use crate::stats::{LatencySummary, parse_stamp, per_sec, stamp_of, stamp_text, time_base};
use crate::target::Target;

/// How long registering and joining may take per client.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// One IRC line, split as RFC 1459 §2.3.1 describes (prefix, command,
/// parameters, the last one possibly after `:`).
#[derive(Debug, PartialEq, Eq)]
pub struct IrcLine<'a> {
    /// The command or three-digit numeric reply.
    pub command: &'a str,
    /// Its parameters, the trailing one last.
    pub params: Vec<&'a str>,
}

/// Parses one line (without its CR LF); `None` when it has no command.
#[must_use]
pub fn parse_line(line: &str) -> Option<IrcLine<'_>> {
    let mut rest = line.trim_end_matches(['\r', '\n']);
    if let Some(after) = rest.strip_prefix(':') {
        rest = after.split_once(' ')?.1;
    }
    let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if command.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        if let Some(trailing) = rest.strip_prefix(':') {
            params.push(trailing);
            break;
        }
        let (param, more) = rest.split_once(' ').unwrap_or((rest, ""));
        params.push(param);
        rest = more;
    }
    Some(IrcLine { command, params })
}

/// A registered client in the channel: its read and write halves.
struct IrcConn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

/// Connects, registers as `nick` and joins `channel`.
async fn connect(addr: std::net::SocketAddr, nick: &str, channel: &str) -> Result<IrcConn> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        BenchError::Setup(format!("irc client {nick}: {what}: {e}"))
    };
    setup::tally(addr);
    let handshake = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| fail("connect", &e))?;
        stream.set_nodelay(true).map_err(|e| fail("nodelay", &e))?;
        let (read, mut writer) = stream.into_split();
        let mut reader = BufReader::new(read);
        writer
            .write_all(format!("NICK {nick}\r\nUSER {nick} 0 * :coliseum-bench\r\n").as_bytes())
            .await
            .map_err(|e| fail("send", &e))?;
        let mut joined = false;
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .await
                .map_err(|e| fail("read", &e))?;
            if n == 0 {
                return Err(fail("closed during registration", &line));
            }
            let Some(parsed) = parse_line(&line) else {
                continue;
            };
            match parsed.command {
                "PING" => {
                    let token = parsed.params.first().copied().unwrap_or("");
                    writer
                        .write_all(format!("PONG :{token}\r\n").as_bytes())
                        .await
                        .map_err(|e| fail("send", &e))?;
                }
                "001" if !joined => {
                    joined = true;
                    writer
                        .write_all(format!("JOIN {channel}\r\n").as_bytes())
                        .await
                        .map_err(|e| fail("send", &e))?;
                }
                "366" => return Ok(IrcConn { reader, writer }),
                "ERROR" | "432" | "433" | "465" | "471" | "473" | "474" | "475" => {
                    return Err(fail("refused", &line.trim_end()));
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| BenchError::Setup(format!("irc client {nick}: handshake timed out")))?
}

/// Reads lines until `stop`: counts this run's messages (and their
/// latency), answers `PING` when it holds the writer, and hands each `PONG`
/// to `acks` (a sender's window).
async fn receive(
    mut reader: BufReader<OwnedReadHalf>,
    mut writer: Option<OwnedWriteHalf>,
    tag: String,
    stop: CancellationToken,
    delivered: Arc<AtomicU64>,
    acks: Option<Arc<Semaphore>>,
) -> Received {
    let mut out = Received::new();
    let mut line = String::new();
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        line.clear();
        let read = tokio::select! {
            biased;
            () = &mut stopped => break,
            read = reader.read_line(&mut line) => read,
        };
        if !matches!(read, Ok(n) if n > 0) {
            out.closed = true;
            break;
        }
        let Some(parsed) = parse_line(&line) else {
            continue;
        };
        match parsed.command {
            "PRIVMSG" => {
                if let Some(stamp) = parsed.params.last().and_then(|t| parse_stamp(t, &tag)) {
                    out.record(stamp);
                    out.count += 1;
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
            }
            "PONG" => {
                if let Some(acks) = &acks {
                    acks.add_permits(1);
                }
            }
            "PING" => {
                if let Some(writer) = writer.as_mut() {
                    let token = parsed.params.first().copied().unwrap_or("");
                    let _ = writer
                        .write_all(format!("PONG :{token}\r\n").as_bytes())
                        .await;
                }
            }
            _ => {}
        }
    }
    out
}

/// What one sender did.
struct Sent {
    ok: u64,
    errors: u64,
}

/// When and as whom one sender sends.
struct Plan {
    channel: String,
    sender: usize,
    tag: String,
    /// Messages per second; 0 = back-to-back within the window.
    rate: f64,
    first: Instant,
    end: Instant,
}

/// Sends stamped messages from `plan.first` until `plan.end`, each followed
/// by a `PING`, with at most the permits of `window` unanswered.
async fn send(
    mut writer: OwnedWriteHalf,
    plan: Plan,
    window: Arc<Semaphore>,
) -> (Sent, OwnedWriteHalf) {
    let Plan {
        channel,
        sender,
        tag,
        rate,
        first,
        end,
    } = plan;
    let interval = (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
    let mut next = first;
    let mut seq = 0u64;
    let mut out = Sent { ok: 0, errors: 0 };
    loop {
        if Instant::now() >= end {
            break;
        }
        if interval.is_some() {
            if next >= end {
                break;
            }
            tokio::time::sleep_until(next.into()).await;
        }
        let Ok(Ok(permit)) = tokio::time::timeout_at(end.into(), window.acquire()).await else {
            break;
        };
        permit.forget();
        let stamp_at = match interval {
            Some(interval) => {
                let at = next;
                next += interval;
                at
            }
            None => Instant::now(),
        };
        let text = stamp_text(&tag, sender, seq, stamp_of(stamp_at));
        let frame = format!("PRIVMSG {channel} :{text}\r\nPING :{seq}\r\n");
        seq += 1;
        if writer.write_all(frame.as_bytes()).await.is_ok() {
            out.ok += 1;
        } else {
            out.errors += 1;
            break;
        }
    }
    (out, writer)
}

#[derive(Debug, Serialize)]
struct IrcFanoutReport {
    proto: &'static str,
    clients: u64,
    senders: u64,
    offered_rate: f64,
    window: u64,
    receivers: &'static str,
    send_secs: f64,
    sent: u64,
    send_errors: u64,
    send_rate: f64,
    expected_deliveries: u64,
    delivered: u64,
    lost: u64,
    disconnected_clients: u64,
    delivered_per_sec: f64,
    delivery_secs: f64,
    latency: LatencySummary,
    server_cpu_us_per_delivery: Option<f64>,
    deliveries_per_server_cpu_sec: Option<f64>,
    setup_secs: f64,
    #[serde(flatten)]
    cpu: CpuReport,
}

/// Runs the fan-out against the IRC server(s) at `target.addrs` (clients
/// spread round-robin).
///
/// # Errors
/// Set-up failures (connect, registration, join).
pub async fn run(
    target: &Target,
    args: &FanoutArgs,
    connect_concurrency: usize,
) -> Result<Outcome> {
    args.check()?;
    let clients = usize::try_from(args.clients).unwrap_or(usize::MAX);
    let senders = usize::try_from(args.senders).unwrap_or(usize::MAX);
    let names = RunNames::random();
    let channel = format!("#{}", names.tag());
    // Nicks of at most 9 characters (RFC 1459; ngIRCd's default).
    let prefix = format!("q{:02x}", rand::random::<u8>());
    let setup_started = Instant::now();
    eprintln!(
        "fanout (irc): connecting {clients} clients to {:?} ...",
        target.addrs
    );
    let conns = setup::bounded(clients, connect_concurrency, |i| {
        let nick = format!("{prefix}{i}");
        let channel = channel.clone();
        let addr = target.addr_for(i);
        async move { connect(addr, &nick, &channel).await }
    })
    .await?;
    let setup_secs = setup_started.elapsed().as_secs_f64();

    let _ = time_base();
    let stop = CancellationToken::new();
    let delivered = Arc::new(AtomicU64::new(0));
    let window = usize::try_from(args.window).unwrap_or(usize::MAX);
    let mut receivers = Vec::with_capacity(clients);
    let mut sender_parts = Vec::with_capacity(senders);
    for (i, conn) in conns.into_iter().enumerate() {
        let (writer, acks) = if i < senders {
            let acks = Arc::new(Semaphore::new(window));
            sender_parts.push((conn.writer, Arc::clone(&acks)));
            (None, Some(acks))
        } else {
            (Some(conn.writer), None)
        };
        receivers.push(tokio::spawn(receive(
            conn.reader,
            writer,
            names.tag().to_owned(),
            stop.clone(),
            Arc::clone(&delivered),
            acks,
        )));
    }

    eprintln!(
        "fanout (irc): {clients} clients ready in {setup_secs:.1} s; sending for {} s ...",
        args.secs
    );
    let watch = Stopwatch::start(&target.pids);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(args.secs);
    let per_sender_rate = args.rate / senders as f64;
    let mut tasks = Vec::with_capacity(senders);
    for (i, (writer, acks)) in sender_parts.into_iter().enumerate() {
        let offset = if args.rate > 0.0 {
            Duration::from_secs_f64(i as f64 / args.rate)
        } else {
            Duration::ZERO
        };
        let plan = Plan {
            channel: channel.clone(),
            sender: i,
            tag: names.tag().to_owned(),
            rate: per_sender_rate,
            first: start + offset,
            end,
        };
        tasks.push(tokio::spawn(send(writer, plan, acks)));
    }
    let mut sent = Sent { ok: 0, errors: 0 };
    // Keep the senders' write halves open until the drain is over.
    let mut writers = Vec::with_capacity(senders);
    for task in tasks {
        let (s, writer) = task
            .await
            .map_err(|e| BenchError::Setup(format!("sender task failed: {e}")))?;
        sent.ok += s.ok;
        sent.errors += s.errors;
        writers.push(writer);
    }
    let send_secs = start.elapsed().as_secs_f64();
    // No echo to the sender on IRC.
    let expected = sent.ok * (args.clients - 1);
    drain(&delivered, expected, args.drain_secs).await;
    let cpu = watch.stop();
    stop.cancel();

    let Collected {
        latencies,
        count,
        last,
        disconnected,
    } = collect(receivers).await?;
    drop(writers);
    let delivery_secs = last.map_or(0.0, |l| l.saturating_duration_since(start).as_secs_f64());
    let lost = expected.saturating_sub(count);
    let (per_delivery, per_cpu_sec) = server_cost(&cpu, count);
    let report = IrcFanoutReport {
        proto: "irc",
        clients: args.clients,
        senders: args.senders,
        offered_rate: args.rate,
        window: args.window,
        receivers: "irc line parser (every line)",
        send_secs,
        sent: sent.ok,
        send_errors: sent.errors,
        send_rate: per_sec(sent.ok, send_secs),
        expected_deliveries: expected,
        delivered: count,
        lost,
        disconnected_clients: disconnected,
        delivered_per_sec: per_sec(count, delivery_secs),
        delivery_secs,
        latency: latencies.summary(),
        server_cpu_us_per_delivery: per_delivery,
        deliveries_per_server_cpu_sec: per_cpu_sec,
        setup_secs,
        cpu: cpu.clone(),
    };
    let mut violations = delivery_violations(lost, expected, disconnected, sent.ok);
    if sent.errors > 0 {
        violations.push(format!("{} PRIVMSG writes failed", sent.errors));
    }
    let summary = format!(
        "fanout (irc): {} clients, {} senders, offered {} msgs/s for {:.1} s (window {})\n\
         sent {} messages ({:.0} msgs/s); deliveries {} of {} expected (no echo to the sender), {} lost\n\
         delivered {:.0} msgs/s; server CPU {} µs per delivery\n\
         end-to-end latency: {}\n\
         {}",
        report.clients,
        report.senders,
        if args.rate > 0.0 {
            format!("{}", args.rate)
        } else {
            "max".to_owned()
        },
        args.secs,
        args.window,
        report.sent,
        report.send_rate,
        report.delivered,
        report.expected_deliveries,
        report.lost,
        report.delivered_per_sec,
        per_delivery.map_or_else(|| "n/a".to_owned(), |u| format!("{u:.2}")),
        report.latency,
        cpu.line(),
    );
    Ok(Outcome::new(&report, summary, violations))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_into_command_and_parameters() {
        let line = parse_line(":q1a2!q1a2@localhost PRIVMSG #bx :bx 0 1 42\r\n").expect("line");
        assert_eq!(line.command, "PRIVMSG");
        assert_eq!(line.params, ["#bx", "bx 0 1 42"]);
        let ping = parse_line("PING :irc.example.net").expect("line");
        assert_eq!(
            (ping.command, ping.params),
            ("PING", vec!["irc.example.net"])
        );
        let numeric = parse_line(":irc.example.net 366 q1 #bx :End of NAMES list").expect("line");
        assert_eq!(numeric.command, "366");
        assert_eq!(numeric.params, ["q1", "#bx", "End of NAMES list"]);
        assert_eq!(parse_line(":prefix-only"), None);
        assert_eq!(parse_line(""), None);
    }
}
