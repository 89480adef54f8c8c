//! Process measurements read from Linux's `/proc`: CPU time (user + system,
//! all threads) and resident memory. Each reader returns `None` when the
//! file is missing or unreadable (another OS, a process that has exited, a
//! pid we may not inspect), so a report shows `null` instead of a guess.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

/// Clock ticks per second used by `/proc/<pid>/stat` (`sysconf(_SC_CLK_TCK)`,
/// almost always 100 on Linux; 100 if the call fails).
#[must_use]
pub fn clock_ticks_per_sec() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .and_then(|t| u64::try_from(t).ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// `utime + stime`, in clock ticks, from the text of `/proc/<pid>/stat`.
///
/// The second field (the command name) is in parentheses and may itself
/// contain spaces and parentheses, so fields are counted from the *last*
/// `)`: after it come field 3 (`state`) onwards; `utime` and `stime` are
/// fields 14 and 15 (proc(5)). `None` if the text does not have that shape.
#[must_use]
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // fields 3..=13
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// CPU seconds (user + system, every thread) process `pid` has used so far.
#[must_use]
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_stat_cpu_ticks(&stat)?;
    Some(ticks as f64 / clock_ticks_per_sec() as f64)
}

/// `VmRSS` in bytes from the text of `/proc/<pid>/status` (the kernel
/// writes it in kB, meaning KiB).
#[must_use]
pub fn parse_vmrss_bytes(status: &str) -> Option<u64> {
    parse_status_bytes(status, "VmRSS:")
}

/// The field `key` (e.g. `VmHWM:`, the peak RSS) of `/proc/<pid>/status`,
/// in bytes.
#[must_use]
pub fn parse_status_bytes(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let mut parts = line[key.len()..].split_whitespace();
    let kib: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => Some(kib * 1024),
        Some(_) => None,
    }
}

/// Resident set size of process `pid`, in bytes.
#[must_use]
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vmrss_bytes(&status)
}

/// Peak resident set size (`VmHWM`) of process `pid`, in bytes.
#[must_use]
pub fn hwm_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_bytes(&status, "VmHWM:")
}

/// Peaks read just before each [`reset_hwm`], by pid, so that
/// [`run_peak_bytes`] still knows the whole run's peak.
static PEAKS_BEFORE_RESET: Mutex<BTreeMap<u32, u64>> = Mutex::new(BTreeMap::new());

/// Resets process `pid`'s `VmHWM` (peak RSS) to its current RSS, so that a
/// later [`hwm_bytes`] gives the peak of what followed (proc(5):
/// writing `5` to `/proc/<pid>/clear_refs`, Linux 4.0 and later; only the
/// process's owner may). The peak before it is kept for
/// [`run_peak_bytes`]. False when the write was refused or failed.
#[must_use]
pub fn reset_hwm(pid: u32) -> bool {
    if let Some(peak) = hwm_bytes(pid) {
        let mut kept = PEAKS_BEFORE_RESET
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = kept.entry(pid).or_insert(0);
        *entry = (*entry).max(peak);
    }
    std::fs::write(format!("/proc/{pid}/clear_refs"), b"5").is_ok()
}

/// Process `pid`'s peak RSS since it started, bytes: its `VmHWM`, or a
/// higher peak read before one of our [`reset_hwm`]s.
#[must_use]
pub fn run_peak_bytes(pid: u32) -> Option<u64> {
    let now = hwm_bytes(pid)?;
    let kept = PEAKS_BEFORE_RESET
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&pid)
        .copied()
        .unwrap_or(0);
    Some(now.max(kept))
}

/// The three load averages of `/proc/loadavg` (1, 5 and 15 minutes).
#[must_use]
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    parse_loadavg(&text)
}

/// Parses the first three fields of `/proc/loadavg`.
#[must_use]
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_whitespace().map(str::parse::<f64>);
    Some([it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?])
}

/// A CPU-time stopwatch over one process: seconds used between
/// [`CpuWatch::start`] and [`CpuWatch::stop`].
#[derive(Debug, Clone, Copy)]
pub struct CpuWatch {
    pid: Option<u32>,
    start: Option<f64>,
}

impl CpuWatch {
    /// Starts watching `pid` (`None`: nothing to watch; [`CpuWatch::stop`]
    /// then returns `None`).
    #[must_use]
    pub fn start(pid: Option<u32>) -> Self {
        Self {
            pid,
            start: pid.and_then(cpu_seconds),
        }
    }

    /// CPU seconds used since [`CpuWatch::start`] (rounded to the
    /// millisecond; the kernel counts in clock ticks, usually 10 ms), or
    /// `None` if either reading failed.
    #[must_use]
    pub fn stop(&self) -> Option<f64> {
        let now = cpu_seconds(self.pid?)?;
        Some(((now - self.start?).max(0.0) * 1000.0).round() / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_ticks_count_fields_after_the_last_parenthesis() {
        // A command name with a space and a ')' inside must not shift fields.
        let stat = "4242 (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 75 0 0 20 0 9 0 12345 1000000 500 18446744073709551615";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(325));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
        assert_eq!(parse_stat_cpu_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn a_reset_peak_forgets_memory_given_back_before_it() {
        const BIG: usize = 96 * 1024 * 1024;
        let me = std::process::id();
        // Touched, then freed: glibc maps a block this large on its own and
        // unmaps it on free, so RSS falls back but the peak stays.
        let block = vec![1_u8; BIG];
        assert_eq!(std::hint::black_box(&block)[BIG - 1], 1);
        drop(block);
        let before = hwm_bytes(me).expect("VmHWM");
        let rss = rss_bytes(me).expect("VmRSS");
        assert!(
            before >= rss + BIG as u64 / 2,
            "peak {before} holds the block, RSS {rss} not"
        );
        assert!(reset_hwm(me), "clear_refs refused for our own process");
        let after = hwm_bytes(me).expect("VmHWM");
        assert!(
            after + (BIG as u64) / 2 <= before,
            "peak {before} reset to {after}"
        );
        assert!(
            run_peak_bytes(me).expect("run peak") >= before,
            "the whole run's peak is kept"
        );
    }

    #[test]
    fn vmrss_is_read_in_kib_and_converted_to_bytes() {
        let status = "Name:\tserver\nVmPeak:\t  9000 kB\nVmRSS:\t    1536 kB\nThreads:\t3\n";
        assert_eq!(parse_vmrss_bytes(status), Some(1536 * 1024));
        assert_eq!(parse_vmrss_bytes("Name:\tx\n"), None);
        assert_eq!(parse_vmrss_bytes("VmRSS:\t12 MB\n"), None);
        assert_eq!(
            parse_status_bytes("VmHWM:\t  2048 kB\nVmRSS:\t1 kB\n", "VmHWM:"),
            Some(2048 * 1024)
        );
    }

    #[test]
    fn loadavg_gives_three_numbers() {
        assert_eq!(
            parse_loadavg("5.00 3.36 1.89 4/512 12345\n"),
            Some([5.0, 3.36, 1.89])
        );
        assert_eq!(parse_loadavg("1.0 x"), None);
    }

    #[test]
    fn own_process_is_measurable() {
        let cpu = cpu_seconds(std::process::id()).expect("/proc/self/stat readable");
        assert!(cpu >= 0.0);
        assert!(rss_bytes(std::process::id()).expect("VmRSS") > 0);
        let watch = CpuWatch::start(Some(std::process::id()));
        // Burn a little CPU; the stopwatch must not go backwards.
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(watch.stop().expect("readable") >= 0.0);
        assert_eq!(CpuWatch::start(None).stop(), None);
    }
}
