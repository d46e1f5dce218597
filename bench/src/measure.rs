//! CPU, memory and latency measurements.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// `getrusage(RUSAGE_SELF)`: every thread of this process, no children.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub user_s: f64,
    pub sys_s: f64,
    /// Peak resident set size so far, in KiB (`ru_maxrss` on Linux).
    pub maxrss_kib: i64,
}

pub fn rusage() -> Usage {
    // SAFETY: getrusage fills the zeroed struct we pass; RUSAGE_SELF is always valid.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Usage { user_s: tv(ru.ru_utime), sys_s: tv(ru.ru_stime), maxrss_kib: ru.ru_maxrss }
}

/// user + system CPU seconds of another process (Linux `/proc/<pid>/stat`).
pub fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after ") ".
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line: 12 and 13 here.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / hz)
}

/// Wall clock, CPU and peak RSS around one workload.
pub struct Meter {
    start: Instant,
    usage: Usage,
    server_cpu: Option<f64>,
    server_pid: Option<u32>,
}

pub struct Measured {
    pub elapsed_s: f64,
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
    pub peak_rss_mib: f64,
    pub server_cpu_s: Option<f64>,
}

impl Meter {
    pub fn start(server_pid: Option<u32>) -> Meter {
        Meter {
            server_cpu: server_pid.and_then(proc_cpu_seconds),
            server_pid,
            usage: rusage(),
            start: Instant::now(),
        }
    }

    pub fn stop(&self) -> Measured {
        let elapsed = self.start.elapsed().as_secs_f64();
        let u = rusage();
        let server = match (self.server_cpu, self.server_pid.and_then(proc_cpu_seconds)) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        Measured {
            elapsed_s: elapsed,
            cpu_user_s: u.user_s - self.usage.user_s,
            cpu_sys_s: u.sys_s - self.usage.sys_s,
            peak_rss_mib: u.maxrss_kib as f64 / 1024.0,
            server_cpu_s: server,
        }
    }
}

/// Nanoseconds since the Unix epoch (the clock shared with a writer process).
pub fn unix_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// p50, p99 and max in milliseconds (nearest-rank percentiles).
pub fn percentiles_ms(samples_ns: &mut [u64]) -> Option<(f64, f64, f64)> {
    if samples_ns.is_empty() {
        return None;
    }
    samples_ns.sort_unstable();
    let rank = |p: f64| {
        let r = (p * samples_ns.len() as f64).ceil() as usize;
        samples_ns[r.clamp(1, samples_ns.len()) - 1] as f64 / 1e6
    };
    Some((rank(0.50), rank(0.99), *samples_ns.last().unwrap_or(&0) as f64 / 1e6))
}

/// `YYYY-MM-DDTHH:MM:SSZ` for now (UTC), without a date crate.
pub fn utc_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::percentiles_ms;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        let (p50, p99, max) = percentiles_ms(&mut v).unwrap();
        assert_eq!((p50, p99, max), (50.0, 99.0, 100.0));
        assert!(percentiles_ms(&mut []).is_none());
    }
}
