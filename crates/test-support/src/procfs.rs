//! A process's resource use, read from `/proc/PID/...` (Linux).

use std::fs;
use std::time::{Duration, Instant};

/// User plus system CPU time the process has used so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its
    // closing parenthesis are plain numbers. utime and stime are fields 14, 15.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = echo_sys::clock_ticks_per_second();
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / ticks as f64,
    ))
}

fn status_field(pid: u32, name: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Resident memory in bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:").map(|kib| kib * 1024)
}

/// Peak resident memory in bytes (`VmHWM`).
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    status_field(pid, "VmHWM:").map(|kib| kib * 1024)
}

/// Number of threads.
pub fn threads(pid: u32) -> Option<u64> {
    status_field(pid, "Threads:")
}

/// Number of open descriptors.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Looks at the process's descriptor count every 20 ms, for at most
/// `limit`, until `wanted` holds for it. Returns the count and how long it
/// took, or, when time ran out, the last count seen (`None`: no `/proc`).
pub fn wait_for_fds(
    pid: u32,
    limit: Duration,
    wanted: impl Fn(usize) -> bool,
) -> Result<(usize, Duration), Option<usize>> {
    let start = Instant::now();
    loop {
        let now = open_fds(pid);
        if let Some(n) = now.filter(|&n| wanted(n)) {
            return Ok((n, start.elapsed()));
        }
        if start.elapsed() >= limit {
            return Err(now);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let me = std::process::id();
        let before = cpu_time(me).unwrap();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(200) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(cpu_time(me).unwrap() > before);
        assert!(rss_bytes(me).unwrap() > 1024 * 1024);
        assert!(threads(me).unwrap() >= 1);
        assert!(open_fds(me).unwrap() >= 3);
    }
}
