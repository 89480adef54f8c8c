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
#[derive(Debug, Clone, Serialize)]
pub struct CpuReport {
    /// Server user + system CPU seconds, summed over its instances (`null`
    /// unless every instance's is known).
    pub server_cpu_secs: Option<f64>,
    /// The same per instance, in the order of `--addr`.
    pub server_cpu_secs_per_instance: Vec<Option<f64>>,
    /// Bench user + system CPU seconds (all its threads).
    pub bench_cpu_secs: Option<f64>,
    /// Wall-clock seconds of the same phase.
    pub wall_secs: f64,
    /// The server's peak RSS during this phase alone, bytes, summed over its
    /// instances: `VmHWM` is reset when the phase starts
    /// ([`crate::procstat::reset_hwm`]) and read when it ends, so memory
    /// the set-up used and gave back is not counted (the report's
    /// `server.vmhwm_bytes` is the whole run's peak, set-up included).
    /// `null` unless every instance's peak could be reset and read.
    pub server_phase_vmhwm_bytes: Option<u64>,
}

impl CpuReport {
    /// One line for the summary.
    #[must_use]
    pub fn line(&self) -> String {
        let show = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.2} s"));
        let per_instance = if self.server_cpu_secs_per_instance.len() > 1 {
            let each: Vec<String> = self
                .server_cpu_secs_per_instance
                .iter()
                .map(|v| show(*v))
                .collect();
            format!(" ({})", each.join(" + "))
        } else {
            String::new()
        };
        let peak = self
            .server_phase_vmhwm_bytes
            .map_or_else(String::new, |bytes| {
                format!(
                    "; server peak RSS in this phase {:.1} MiB",
                    bytes as f64 / 1048576.0
                )
            });
        format!(
            "CPU over {:.2} s wall: server {}{per_instance}, bench {}{peak}",
            self.wall_secs,
            show(self.server_cpu_secs),
            show(self.bench_cpu_secs)
        )
    }
}

/// The sum of per-instance figures, `None` unless every one is known.
#[must_use]
pub fn sum_known<T: std::iter::Sum<T> + Copy>(each: &[Option<T>]) -> Option<T> {
    each.iter().copied().sum()
}

/// Starts CPU stopwatches on the server's instances and the bench.
#[derive(Debug, Clone)]
pub struct Stopwatch {
    servers: Vec<crate::procstat::CpuWatch>,
    /// Each instance's pid when its peak RSS was reset at the start, else
    /// `None` (then no phase peak is reported).
    peaks: Vec<Option<u32>>,
    bench: crate::procstat::CpuWatch,
    wall: std::time::Instant,
}

impl Stopwatch {
    /// Starts now, on every instance of `server_pids` (`None`: unknown).
    #[must_use]
    pub fn start(server_pids: &[Option<u32>]) -> Self {
        Self {
            servers: server_pids
                .iter()
                .map(|pid| crate::procstat::CpuWatch::start(*pid))
                .collect(),
            peaks: server_pids
                .iter()
                .map(|pid| pid.filter(|&pid| crate::procstat::reset_hwm(pid)))
                .collect(),
            bench: crate::procstat::CpuWatch::start(Some(std::process::id())),
            wall: std::time::Instant::now(),
        }
    }

    /// CPU and wall time since [`Stopwatch::start`].
    #[must_use]
    pub fn stop(&self) -> CpuReport {
        let each: Vec<Option<f64>> = self.servers.iter().map(|w| w.stop()).collect();
        CpuReport {
            server_cpu_secs: sum_known(&each).map(|s| (s * 1000.0).round() / 1000.0),
            server_cpu_secs_per_instance: each,
            bench_cpu_secs: self.bench.stop(),
            wall_secs: self.wall.elapsed().as_secs_f64(),
            server_phase_vmhwm_bytes: sum_known(
                &self
                    .peaks
                    .iter()
                    .map(|pid| pid.and_then(crate::procstat::hwm_bytes))
                    .collect::<Vec<_>>(),
            ),
        }
    }
}
