//! The experiments of the benchmarks page, run against the servers' release
//! binaries and written as JSON (one file per experiment) for the renderer.
//!
//! Every comparison is interleaved: a round runs each server once, for
//! every point of the experiment, and the rounds repeat, so a swing in CPU
//! speed over minutes touches every server alike. Each run starts a fresh
//! server (`--quiet`, a free port) and a fresh `echo-bench` process, so
//! nothing carries over from one run to the next.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use test_support::server::{ServerCommand, ServerProcess};

use crate::load::Report;

mod cost;
mod idle;
mod idle_cpu;
mod memory;
mod read_size;
mod syscalls;
mod throughput;
mod uring;

pub use read_size::{READ_SIZE_SERVERS, ReadSizeExperiment, ReadSizeSample};
pub use uring::{URING_SERVERS, UringExperiment};

/// A server under test: a label for tables and the command that starts it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Server {
    /// The label in tables and charts (`epoll-edge --level`).
    pub name: String,
    pub bin: String,
    pub args: Vec<String>,
    /// Watches descriptors with `select`, so holds fewer than `FD_SETSIZE`.
    pub select_limited: bool,
    /// A chapter of the book (the others are the tokio and mio peers).
    pub chapter: bool,
}

impl Server {
    fn new(name: &str, bin: &str, args: &[&str], select_limited: bool, chapter: bool) -> Self {
        Server {
            name: name.into(),
            bin: bin.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            select_limited,
            chapter,
        }
    }
}

/// Every server the page knows, in the book's order, peers last.
pub fn all_servers() -> Vec<Server> {
    vec![
        Server::new("blocking-threaded", "blocking-threaded", &[], false, true),
        Server::new("busy-nonblocking", "busy-nonblocking", &[], false, true),
        Server::new("select-stdin", "select-stdin", &[], true, true),
        Server::new("select-queue", "select-queue", &[], true, true),
        Server::new("poll-queue", "poll-queue", &[], false, true),
        Server::new("epoll-edge", "epoll-edge", &[], false, true),
        Server::new(
            "epoll-edge --level",
            "epoll-edge",
            &["--level"],
            false,
            true,
        ),
        Server::new("mio-echo", "mio-echo", &[], false, false),
        Server::new("tokio-echo", "tokio-echo", &[], false, false),
    ]
}

/// How long and how often: `--quick` or the full run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub mode: String,
    pub rounds: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// Experiment 1: idle connections next to 16 active ones.
    pub idle_counts: Vec<usize>,
    /// Experiment 2: active connections and message sizes.
    pub conns: Vec<usize>,
    pub sizes: Vec<usize>,
    /// Experiment 3: seconds of idleness measured, and rounds.
    pub idle_cpu_s: f64,
    pub idle_cpu_rounds: usize,
    /// Experiment 4: connections held, and rounds.
    pub memory_counts: Vec<usize>,
    pub memory_rounds: usize,
    /// Experiment 5: active connections, the short and long run, rounds.
    pub syscall_conns: Vec<usize>,
    pub syscall_short_s: f64,
    pub syscall_long_s: f64,
    pub syscall_rounds: usize,
    /// Experiment 6: select-cost's descriptor-visit budget and rounds.
    pub cost_budget: u64,
    pub cost_rounds: usize,
    /// Experiment 7: io_uring against readiness. Active connections and
    /// message sizes (the load runs take `rounds`); idle connections beside
    /// `uring_active` active ones; connections whose system calls are
    /// counted (`syscall_rounds`). Results written before experiment 7
    /// existed have none of these.
    #[serde(default)]
    pub uring_conns: Vec<usize>,
    #[serde(default)]
    pub uring_sizes: Vec<usize>,
    #[serde(default)]
    pub uring_active: usize,
    #[serde(default)]
    pub uring_idle: usize,
    #[serde(default)]
    pub uring_syscall_conns: Vec<usize>,
    /// Experiment 8: `--read-size` values, message sizes, active
    /// connections and rounds (fewer in the quick plan than the others:
    /// every point is a pair of runs).
    #[serde(default)]
    pub read_sizes: Vec<usize>,
    #[serde(default)]
    pub read_size_msgs: Vec<usize>,
    #[serde(default)]
    pub read_size_conns: usize,
    #[serde(default)]
    pub read_size_rounds: usize,
}

impl Plan {
    pub fn full() -> Self {
        Plan {
            mode: "full".into(),
            rounds: 7,
            warmup_s: 0.15,
            duration_s: 0.7,
            idle_counts: vec![0, 100, 1000, 10_000],
            conns: vec![1, 16, 64],
            sizes: vec![64, 16 * 1024],
            idle_cpu_s: 5.0,
            idle_cpu_rounds: 3,
            memory_counts: vec![0, 1000, 10_000],
            memory_rounds: 3,
            syscall_conns: vec![16, 64],
            syscall_short_s: 0.2,
            syscall_long_s: 0.8,
            syscall_rounds: 3,
            cost_budget: 5_000_000,
            cost_rounds: 7,
            uring_conns: vec![1, 16, 64, 256],
            uring_sizes: vec![64, 16 * 1024],
            uring_active: 16,
            uring_idle: 10_000,
            uring_syscall_conns: vec![1, 16, 64, 256],
            read_sizes: vec![1024, 4096, 16 * 1024, 64 * 1024, 256 * 1024],
            read_size_msgs: vec![64, 16 * 1024, 64 * 1024],
            read_size_conns: 64,
            read_size_rounds: 7,
        }
    }

    pub fn quick() -> Self {
        Plan {
            mode: "quick".into(),
            rounds: 3,
            warmup_s: 0.1,
            duration_s: 0.3,
            idle_counts: vec![0, 1000],
            conns: vec![16, 64],
            sizes: vec![64],
            idle_cpu_s: 2.0,
            idle_cpu_rounds: 1,
            memory_counts: vec![0, 1000],
            memory_rounds: 1,
            syscall_conns: vec![64],
            syscall_short_s: 0.1,
            syscall_long_s: 0.4,
            syscall_rounds: 1,
            cost_budget: 1_000_000,
            cost_rounds: 1,
            uring_conns: vec![16, 64],
            uring_sizes: vec![64, 16 * 1024],
            uring_active: 16,
            uring_idle: 10_000,
            uring_syscall_conns: vec![64],
            read_sizes: vec![4096, 64 * 1024],
            read_size_msgs: vec![64, 16 * 1024],
            read_size_conns: 64,
            read_size_rounds: 1,
        }
    }

    /// A plan of seconds, for the smoke test.
    pub fn smoke() -> Self {
        Plan {
            mode: "smoke".into(),
            rounds: 1,
            warmup_s: 0.05,
            duration_s: 0.1,
            idle_counts: vec![0, 10],
            conns: vec![2],
            sizes: vec![64],
            idle_cpu_s: 0.2,
            idle_cpu_rounds: 1,
            memory_counts: vec![10],
            memory_rounds: 1,
            syscall_conns: vec![4],
            syscall_short_s: 0.05,
            syscall_long_s: 0.15,
            syscall_rounds: 1,
            cost_budget: 10_000,
            cost_rounds: 1,
            uring_conns: vec![2],
            uring_sizes: vec![64],
            uring_active: 2,
            uring_idle: 10,
            uring_syscall_conns: vec![4],
            read_sizes: vec![4096, 64 * 1024],
            read_size_msgs: vec![64],
            read_size_conns: 4,
            read_size_rounds: 1,
        }
    }
}

/// What one load run does: `echo-bench`'s flags.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub conns: usize,
    pub idle: usize,
    pub size: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
}

impl Spec {
    pub fn new(conns: usize, idle: usize, size: usize, warmup_s: f64, duration_s: f64) -> Self {
        Spec {
            conns,
            idle,
            size,
            warmup_s,
            duration_s,
        }
    }
}

/// One run of the load generator against one server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadSample {
    pub server: String,
    pub round: usize,
    pub conns: usize,
    pub idle: usize,
    pub size: usize,
    /// Seconds since the suite started.
    pub at_s: f64,
    pub report: Option<Report>,
    /// Why the run failed, if it did.
    pub error: Option<String>,
}

/// An experiment made of load runs (1 to 4).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadExperiment {
    pub experiment: String,
    pub servers: Vec<String>,
    pub rounds: usize,
    pub samples: Vec<LoadSample>,
}

/// System calls counted during one server's life.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Every system call (`raw_syscalls:sys_enter`, or strace's total).
    pub total: u64,
    /// By name, for the calls an echo server makes.
    pub by_name: BTreeMap<String, u64>,
}

/// Experiment 5: a short and a long run against fresh servers; the
/// difference of their counts over the difference of their round trips is
/// the cost of a round trip, with start-up, accepts and teardown cancelled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyscallSample {
    pub server: String,
    pub round: usize,
    pub conns: usize,
    pub short_round_trips: u64,
    pub long_round_trips: u64,
    pub short: Counts,
    pub long: Counts,
    /// (long - short) / (long round trips - short round trips).
    pub per_round_trip: Option<f64>,
    pub per_round_trip_by_name: BTreeMap<String, f64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyscallExperiment {
    pub experiment: String,
    /// `perf stat` (tracepoints) or `strace -c -f`.
    pub method: String,
    pub size: usize,
    pub servers: Vec<String>,
    pub samples: Vec<SyscallSample>,
}

/// Where the numbers were taken.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    pub nproc: usize,
    pub kernel: String,
    pub memory_gib: f64,
    pub rustc: String,
    pub commit: String,
    pub date: String,
    pub command: String,
    pub plan: Plan,
    pub servers_missing: Vec<String>,
    pub loadavg_start: String,
    pub loadavg_end: String,
    pub wall_s: f64,
}

/// The names the system call table breaks out.
pub const SYSCALLS: [&str; 18] = [
    "read",
    "write",
    "recvfrom",
    "sendto",
    "readv",
    "writev",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_ctl",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "accept4",
    "futex",
    "sched_yield",
    "io_uring_enter",
];

/// Runs the experiments and writes their JSON.
pub struct Suite {
    pub plan: Plan,
    pub bin_dir: PathBuf,
    pub out_dir: PathBuf,
    pub servers: Vec<Server>,
    pub missing: Vec<String>,
    /// Which experiments to run (1 to 8); empty means all.
    pub only: Vec<u32>,
    pub started: Instant,
    pub log: Box<dyn FnMut(&str)>,
}

impl Suite {
    /// The servers whose binaries exist in `bin_dir`, and the names of the
    /// others.
    pub fn new(plan: Plan, bin_dir: &Path, out_dir: &Path) -> Self {
        let (servers, missing): (Vec<Server>, Vec<Server>) = all_servers()
            .into_iter()
            .partition(|s| bin_dir.join(&s.bin).is_file());
        Suite {
            plan,
            bin_dir: bin_dir.to_path_buf(),
            out_dir: out_dir.to_path_buf(),
            servers,
            missing: missing.into_iter().map(|s| s.name).collect(),
            only: Vec::new(),
            started: Instant::now(),
            log: Box::new(|line| eprintln!("{line}")),
        }
    }

    fn wants(&self, experiment: u32) -> bool {
        self.only.is_empty() || self.only.contains(&experiment)
    }

    fn say(&mut self, line: &str) {
        let t = self.started.elapsed().as_secs();
        (self.log)(&format!("[{:>3}:{:02}] {line}", t / 60, t % 60));
    }

    fn server(&self, name: &str) -> Option<Server> {
        self.servers.iter().find(|s| s.name == name).cloned()
    }

    fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), String> {
        std::fs::create_dir_all(&self.out_dir)
            .map_err(|e| format!("{}: {e}", self.out_dir.display()))?;
        let path = self.out_dir.join(name);
        let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
        std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Runs every wanted experiment, then writes `machine.json`.
    pub fn run_all(&mut self, command: &str) -> Result<(), String> {
        let loadavg_start = read_trimmed("/proc/loadavg");
        if !self.missing.is_empty() {
            let missing = self.missing.join(", ");
            self.say(&format!("not built, left out: {missing}"));
        }
        if self.wants(6) {
            self.select_cost()?;
        }
        if self.wants(3) {
            self.idle_cpu()?;
        }
        if self.wants(4) {
            self.memory()?;
        }
        if self.wants(5) {
            self.syscalls()?;
        }
        if self.wants(1) {
            self.idle_connections()?;
        }
        if self.wants(2) {
            self.throughput()?;
        }
        if self.wants(7) {
            self.uring()?;
        }
        if self.wants(8) {
            self.read_size()?;
        }
        let machine = Machine {
            cpu_model: cpu_model(),
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            memory_gib: memory_gib(),
            rustc: command_output("rustc", &["--version"]),
            commit: command_output("git", &["rev-parse", "--short", "HEAD"]),
            date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            command: command.to_string(),
            plan: self.plan.clone(),
            servers_missing: self.missing.clone(),
            loadavg_start,
            loadavg_end: read_trimmed("/proc/loadavg"),
            wall_s: self.started.elapsed().as_secs_f64(),
        };
        self.write_json("machine.json", &machine)
    }

    /// Starts `server` (fresh, `--quiet`, a free port), with stdin kept open
    /// (select-stdin stops on a line or end-of-file there).
    fn start(&self, server: &Server, wrapper: Option<&[String]>) -> Result<ServerProcess, String> {
        let bin = self.bin_dir.join(&server.bin);
        let mut args: Vec<String> = server.args.clone();
        args.push("--quiet".into());
        let cmd = match wrapper {
            Some(w) => ServerCommand::new(&w[0])
                .args(&w[1..])
                .arg(&bin)
                .args(&args),
            None => ServerCommand::new(&bin).args(&args),
        };
        cmd.stdin_piped().start()
    }

    /// Runs the load generator against a running server.
    fn load(&self, server: &ServerProcess, pid: Option<u32>, spec: Spec) -> Result<Report, String> {
        let Spec {
            conns,
            idle,
            size,
            warmup_s,
            duration_s,
        } = spec;
        let mut args = vec![
            "--addr".to_string(),
            server.addr().to_string(),
            "--conns".into(),
            conns.to_string(),
            "--idle".into(),
            idle.to_string(),
            "--size".into(),
            size.to_string(),
            "--warmup".into(),
            warmup_s.to_string(),
            "--duration".into(),
            duration_s.to_string(),
            "--json".into(),
        ];
        if let Some(pid) = pid {
            args.extend(["--server-pid".into(), pid.to_string()]);
        }
        let out = Command::new(self.bin_dir.join("echo-bench"))
            .args(&args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run echo-bench: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(err
                .lines()
                .last()
                .unwrap_or("echo-bench failed")
                .to_string());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("echo-bench's JSON: {e}"))
    }

    /// One load run on a fresh server, as a sample (an error is recorded,
    /// not fatal: a server that cannot take a point shows as a gap).
    fn sample(&mut self, server: &Server, round: usize, spec: Spec) -> LoadSample {
        let at_s = self.started.elapsed().as_secs_f64();
        let result = self
            .start(server, None)
            .and_then(|p| self.load(&p, Some(p.pid()), spec));
        let Spec {
            conns, idle, size, ..
        } = spec;
        let (report, error) = match result {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e)),
        };
        LoadSample {
            server: server.name.clone(),
            round,
            conns,
            idle,
            size,
            at_s,
            report,
            error,
        }
    }

    fn describe(&mut self, what: &str, s: &LoadSample) {
        let line = match (&s.report, &s.error) {
            (Some(r), _) => {
                let cpu = r
                    .server
                    .as_ref()
                    .and_then(|u| u.cpu_us_per_round_trip)
                    .map_or(String::new(), |us| format!(", {us:.2} µs CPU/rt"));
                format!(
                    "{what} r{} {}: {:.0} rt/s{cpu}",
                    s.round + 1,
                    s.server,
                    r.round_trips_per_s
                )
            }
            (None, Some(e)) => format!("{what} r{} {}: FAILED: {e}", s.round + 1, s.server),
            (None, None) => String::new(),
        };
        self.say(&line);
    }

    /// The servers in a different order every round, so none always runs
    /// first (A B C, B C A, C A B...).
    fn rotated(servers: &[Server], round: usize) -> Vec<Server> {
        let mut v = servers.to_vec();
        if !v.is_empty() {
            let k = round % v.len();
            v.rotate_left(k);
        }
        v
    }
}

/// How system calls are counted.
#[derive(Debug, Clone)]
pub enum Method {
    /// `perf stat` on the syscall tracepoints: the kernel counts, the server
    /// runs at full speed.
    Perf,
    /// `strace -c -f`: every call stops the server twice, so it runs far
    /// slower, but the count is the same kind of number.
    Strace,
}

impl Method {
    fn describe(&self) -> String {
        match self {
            Method::Perf => "perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_*".into(),
            Method::Strace => "strace -c -f".into(),
        }
    }

    fn wrapper(&self, file: &Path) -> Vec<String> {
        let file = file.display().to_string();
        match self {
            Method::Perf => {
                let mut events = vec!["raw_syscalls:sys_enter".to_string()];
                events.extend(SYSCALLS.iter().map(|s| format!("syscalls:sys_enter_{s}")));
                vec![
                    "perf".into(),
                    "stat".into(),
                    "-x".into(),
                    ",".into(),
                    "-o".into(),
                    file,
                    "-e".into(),
                    events.join(","),
                    "--".into(),
                ]
            }
            Method::Strace => vec![
                "strace".into(),
                "-c".into(),
                "-f".into(),
                "-o".into(),
                file,
                "--".into(),
            ],
        }
    }

    fn parse(&self, text: &str) -> Result<Counts, String> {
        match self {
            Method::Perf => parse_perf(text),
            Method::Strace => parse_strace(text),
        }
    }
}

/// `perf stat -x ,` lines: `count,unit,event,...`.
pub fn parse_perf(text: &str) -> Result<Counts, String> {
    let mut counts = Counts::default();
    let mut seen_total = false;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() < 3 {
            continue;
        }
        let Ok(count) = fields[0].trim().parse::<u64>() else {
            continue;
        };
        let event = fields[2].trim();
        if event == "raw_syscalls:sys_enter" {
            counts.total = count;
            seen_total = true;
        } else if let Some(name) = event.strip_prefix("syscalls:sys_enter_") {
            counts.by_name.insert(name.to_string(), count);
        }
    }
    if seen_total {
        Ok(counts)
    } else {
        Err(format!(
            "no raw_syscalls:sys_enter count in perf's output: {text:?}"
        ))
    }
}

/// strace's `-c` table: `% time  seconds  usecs/call  calls  [errors]  syscall`.
pub fn parse_strace(text: &str) -> Result<Counts, String> {
    let mut counts = Counts::default();
    let mut seen_total = false;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 5 || fields[0].starts_with('%') || fields[0].starts_with('-') {
            continue;
        }
        let Some(&name) = fields.last() else { continue };
        let Ok(calls) = fields[3].parse::<u64>() else {
            continue;
        };
        if name == "total" {
            counts.total = calls;
            seen_total = true;
        } else {
            counts.by_name.insert(name.to_string(), calls);
        }
    }
    if seen_total {
        Ok(counts)
    } else {
        Err("no total line in strace's summary".into())
    }
}

/// perf if it can count syscall tracepoints here, else strace, else none.
pub fn counting_method() -> Option<Method> {
    let works = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works(
        "perf",
        &["stat", "-e", "raw_syscalls:sys_enter", "--", "true"],
    ) {
        Some(Method::Perf)
    } else if works("strace", &["-c", "-o", "/dev/null", "--", "true"]) {
        Some(Method::Strace)
    } else {
        None
    }
}

/// The first child of process `pid` (the program a wrapper started).
/// Waits briefly, since the wrapper has already printed nothing of its own:
/// the startup line came from the child.
fn child_of(pid: u32) -> Option<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(child) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.split_whitespace().next().and_then(|c| c.parse().ok()))
        {
            return Some(child);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn cpu_model() -> String {
    read_trimmed("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown".into(), |(_, m)| m.trim().to_string())
}

fn memory_gib() -> f64 {
    read_trimmed("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1048576.0)
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_csv_is_read() {
        let text = "# started on x\n\n1234,,raw_syscalls:sys_enter,100.00,,\n\
                    600,,syscalls:sys_enter_read,100.00,,\n<not counted>,,syscalls:sys_enter_poll,0,,\n";
        let c = parse_perf(text).unwrap();
        assert_eq!(c.total, 1234);
        assert_eq!(c.by_name.get("read"), Some(&600));
        assert_eq!(c.by_name.get("poll"), None);
        assert!(parse_perf("# nothing\n").is_err());
    }

    #[test]
    fn strace_summary_is_read() {
        let text = "% time     seconds  usecs/call     calls    errors syscall\n\
                    ------ ----------- ----------- --------- --------- ----------------\n\
                     60.00    0.000600           1       500           read\n\
                     40.00    0.000400           1       400       100 write\n\
                    ------ ----------- ----------- --------- --------- ----------------\n\
                    100.00    0.001000           1       900       100 total\n";
        let c = parse_strace(text).unwrap();
        assert_eq!(c.total, 900);
        assert_eq!(c.by_name.get("read"), Some(&500));
        assert_eq!(c.by_name.get("write"), Some(&400));
    }

    #[test]
    fn rounds_rotate_the_order() {
        let s = all_servers();
        let r1 = Suite::rotated(&s[..3], 1);
        assert_eq!(r1[0].name, s[1].name);
        assert_eq!(r1[2].name, s[0].name);
    }
}
