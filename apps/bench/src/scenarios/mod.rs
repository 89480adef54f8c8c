//! The four scenarios. Each has its clap arguments, `connections` (how many
//! the server must accept, to size a launched server's cap) and `run`,
//! which returns an [`Outcome`].

pub mod fanout;
pub mod fanout_irc;
pub mod idle;
pub mod login;
pub mod onsale;

use serde::Serialize;

/// What a scenario found.
#[derive(Debug)]
pub struct Outcome {
    /// Its results as a JSON object (merged into the JSON line).
    pub body: serde_json::Value,
    /// The readable summary, several lines.
    pub summary: String,
    /// Correctness violations (lost messages, oversold seats, ...). Any
    /// makes the run fail (exit status 1).
    pub violations: Vec<String>,
}

impl Outcome {
    /// Builds an outcome from a serializable results struct.
    pub fn new(body: &impl Serialize, summary: String, violations: Vec<String>) -> Self {
        Self {
            body: serde_json::to_value(body).unwrap_or(serde_json::Value::Null),
            summary,
            violations,
        }
    }
}

/// CPU seconds of the server and of the bench over a scenario's measured
/// phase (`null` when unreadable, e.g. a remote server without `--server-pid`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CpuReport {
    /// Server user + system CPU seconds.
    pub server_cpu_secs: Option<f64>,
    /// Bench user + system CPU seconds (all its threads).
    pub bench_cpu_secs: Option<f64>,
    /// Wall-clock seconds of the same phase.
    pub wall_secs: f64,
}

impl CpuReport {
    /// One line for the summary.
    #[must_use]
    pub fn line(&self) -> String {
        let show = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.2} s"));
        format!(
            "CPU over {:.2} s wall: server {}, bench {}",
            self.wall_secs,
            show(self.server_cpu_secs),
            show(self.bench_cpu_secs)
        )
    }
}

/// Starts CPU stopwatches on the server and the bench.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    server: crate::procstat::CpuWatch,
    bench: crate::procstat::CpuWatch,
    wall: std::time::Instant,
}

impl Stopwatch {
    /// Starts now.
    #[must_use]
    pub fn start(server_pid: Option<u32>) -> Self {
        Self {
            server: crate::procstat::CpuWatch::start(server_pid),
            bench: crate::procstat::CpuWatch::start(Some(std::process::id())),
            wall: std::time::Instant::now(),
        }
    }

    /// CPU and wall time since [`Stopwatch::start`].
    #[must_use]
    pub fn stop(&self) -> CpuReport {
        CpuReport {
            server_cpu_secs: self.server.stop(),
            bench_cpu_secs: self.bench.stop(),
            wall_secs: self.wall.elapsed().as_secs_f64(),
        }
    }
}
