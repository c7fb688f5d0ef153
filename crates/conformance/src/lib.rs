//! The conformance suite: thirteen checks that any echo server following the
//! workspace's contract must pass, whichever way it multiplexes, and one
//! (`shutdown`) that only a server that stops cleanly on SIGINT and SIGTERM
//! opts in to ([`Target::clean_stop`]).
//!
//! The contract: the server takes `--host`, `--port` (0 picks a free port)
//! and `--quiet`, prints `starting up on HOST port PORT` on stderr first,
//! echoes every byte it receives, and fails with one clear error line on bad
//! arguments. Each check starts its own copy of the server on 127.0.0.1 with
//! `--port 0 --quiet`, drives it, measures it through `/proc`, and kills it.
//!
//! ```no_run
//! use conformance::{Kind, Sizes, Target};
//!
//! let target = Target::from_command_line("target/debug/poll-queue", Kind::Poll).unwrap();
//! let outcome = conformance::integrity(&target, &Sizes::quick());
//! println!("{outcome}"); // PASS  integrity         50 x 1 MiB echoed in 2.3 s
//! ```
//!
//! The binary (`cargo run -p conformance -- --server-cmd ... --kind ...`)
//! runs them all and prints one line per check and a `N passed, N failed`
//! line; see the README's section "Grading a server with the conformance
//! suite".
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::ffi::OsString;
use std::fmt;
use std::time::{Duration, Instant};

use test_support::ServerProcess;
use test_support::server::ServerCommand;

mod client;
mod data;
mod faults;
mod load;
mod shutdown;
mod stress;

/// How a server multiplexes its clients. It decides what some checks expect:
/// `select` servers cannot watch descriptors at or above `FD_SETSIZE` and
/// must refuse those connections; a `busy` server spins by design, so its
/// CPU time is reported, not judged.
///
/// A `busy` server still gets the full 10,000 connections: a loop that
/// accepts until `WouldBlock` and tries every connection once per pass
/// serves them all in well under a second on loopback. What it costs is CPU,
/// and that is what the idle-cost figure shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Select,
    Poll,
    Epoll,
    Threaded,
    Busy,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Select => "select",
            Kind::Poll => "poll",
            Kind::Epoll => "epoll",
            Kind::Threaded => "threaded",
            Kind::Busy => "busy",
        })
    }
}

/// The server under test: a program, its own arguments, its kind, and
/// whether it stops cleanly.
#[derive(Debug, Clone)]
pub struct Target {
    program: OsString,
    args: Vec<OsString>,
    pub kind: Kind,
    /// The server stops cleanly on SIGINT and SIGTERM, so the checks of
    /// [`CLEAN_STOP_CHECKS`] run too. Opt-in: most servers stop the old way,
    /// killed by the signal, and the contract allows it.
    pub clean_stop: bool,
    /// How many event loops the server runs, each serving its own
    /// connections (1 unless said otherwise).
    pub loops: usize,
}

impl Target {
    pub fn new(program: impl Into<OsString>, kind: Kind) -> Self {
        Target {
            program: program.into(),
            args: Vec::new(),
            kind,
            clean_stop: false,
            loops: 1,
        }
    }

    /// Says how many event loops the server runs. A connection stays on the
    /// loop that accepted it, so with more than one the `fairness` check
    /// allows the shares to differ as much as their split between loops can
    /// make them.
    pub fn loops(mut self, n: usize) -> Self {
        self.loops = n.max(1);
        self
    }

    /// Says whether the server stops cleanly on SIGINT and SIGTERM: if it
    /// does, the checks of [`CLEAN_STOP_CHECKS`] run too.
    pub fn clean_stop(mut self, yes: bool) -> Self {
        self.clean_stop = yes;
        self
    }

    /// A command line as one string, split on whitespace (no quoting), such
    /// as `target/debug/epoll-edge --level`. `None` if it is empty.
    pub fn from_command_line(line: &str, kind: Kind) -> Option<Self> {
        let mut words = line.split_whitespace();
        let mut target = Target::new(words.next()?, kind);
        target.args.extend(words.map(OsString::from));
        Some(target)
    }

    /// Adds arguments the server is always started with.
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds one argument the server is always started with.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// The command line, for reports.
    pub fn command_line(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// How the checks start the server: its arguments plus `--quiet` (the
    /// checks read only the lines every server prints even then: startup,
    /// errors, refusals, dropped connections). `ServerCommand` adds
    /// `--host 127.0.0.1 --port 0`.
    fn command(&self) -> ServerCommand {
        ServerCommand::new(&self.program)
            .args(&self.args)
            .arg("--quiet")
    }

    fn start(&self) -> Result<ServerProcess, Failure> {
        self.command().start().map_err(|e| {
            let hint = self.missing_program().map(|m| format!(" ({m})"));
            Failure::new("server did not start", e + hint.as_deref().unwrap_or(""))
        })
    }

    /// Why the server's program cannot be found, with what to do about it,
    /// if it cannot: a path that names no file (the usual cause: the
    /// servers are not built yet), or a bare name that is on no `PATH`
    /// folder.
    pub fn missing_program(&self) -> Option<String> {
        let program = std::path::Path::new(&self.program);
        let found = if program.components().count() > 1 {
            program.is_file()
        } else {
            std::env::var_os("PATH")
                .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
        };
        (!found).then(|| {
            format!(
                "{} does not exist: build the servers first with `cargo build --workspace`, \
                 then give the binary's path, e.g. target/debug/poll-queue",
                program.display()
            )
        })
    }

    fn start_with_shell_prefix(&self, prefix: &str) -> Result<ServerProcess, Failure> {
        self.command()
            .with_shell_prefix(prefix)
            .start()
            .map_err(|e| Failure::new(format!("server did not start under `{prefix}`"), e))
    }
}

/// How big the checks are. [`Sizes::full`] are the sizes the suite is
/// specified with; [`Sizes::quick`] keep every check but shrink the costly
/// ones, so the suite runs against all chapters within `cargo test` in a few
/// minutes on two cores.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Integrity: this many concurrent connections...
    pub integrity_clients: usize,
    /// ...each sending this many random bytes.
    pub integrity_bytes: usize,
    /// Half-close: bytes sent before shutting down the write side.
    pub half_close_bytes: usize,
    /// Slow reader: this many clients...
    pub slow_clients: usize,
    /// ...each sending this many bytes...
    pub slow_bytes: usize,
    /// ...without reading for this long.
    pub slow_pause: Duration,
    /// The server's peak resident memory must stay under this.
    pub rss_limit: u64,
    /// Many connections, for every kind but `select`.
    pub many: usize,
    /// Many connections for `select` servers: more than `FD_SETSIZE`.
    pub many_select: usize,
    /// Churn: connect / echo / close cycles.
    pub churn: usize,
    /// Fairness: how long the ping client measures its round trips while
    /// the floods run.
    pub fairness_duration: Duration,
    /// Trickle: this many clients...
    pub trickle_clients: usize,
    /// ...each sending at most this many bytes, one byte per `write`...
    pub trickle_bytes: usize,
    /// ...for at most this long.
    pub trickle_time: Duration,
    /// Seed of the random payloads and write sizes (a failure can be
    /// replayed with `CONFORMANCE_SEED`).
    pub seed: u64,
    /// Which of the two presets this is, for reports.
    pub preset: &'static str,
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

impl Sizes {
    /// The sizes the suite is specified with (`--full`, `CONFORMANCE_FULL=1`).
    pub fn full() -> Self {
        Sizes {
            integrity_clients: 50,
            integrity_bytes: MIB,
            half_close_bytes: 200 * KIB,
            slow_clients: 20,
            slow_bytes: 8 * MIB,
            slow_pause: Duration::from_secs(5),
            rss_limit: 64 * MIB as u64,
            many: 10_000,
            many_select: 1_100,
            churn: 20_000,
            fairness_duration: Duration::from_secs(6),
            trickle_clients: 8,
            trickle_bytes: MIB,
            trickle_time: Duration::from_secs(10),
            seed: fresh_seed(),
            preset: "full",
        }
    }

    /// The default: the full sizes, but a shorter pause for the slow readers,
    /// fewer churn cycles, a shorter fairness measurement and fewer trickling
    /// clients, which is where the time goes. (On loopback, 10,000
    /// connections take a second or two, so they stay.)
    pub fn quick() -> Self {
        Sizes {
            slow_pause: Duration::from_secs(2),
            churn: 5_000,
            fairness_duration: Duration::from_secs(3),
            trickle_clients: 4,
            trickle_bytes: 512 * KIB,
            trickle_time: Duration::from_secs(5),
            preset: "quick",
            ..Sizes::full()
        }
    }

    /// [`Sizes::full`] if `CONFORMANCE_FULL` is set to anything but `0` or
    /// empty, else [`Sizes::quick`]; `CONFORMANCE_SEED=N` fixes the seed.
    pub fn from_env() -> Self {
        let full = std::env::var("CONFORMANCE_FULL").is_ok_and(|v| !v.is_empty() && v != "0");
        let mut sizes = if full { Sizes::full() } else { Sizes::quick() };
        if let Some(seed) = std::env::var("CONFORMANCE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
        {
            sizes.seed = seed;
        }
        sizes
    }
}

fn fresh_seed() -> u64 {
    fastrand::u64(1..1_000_000)
}

/// What one check found: pass or fail, the figure it measured, and on
/// failure the reason.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub check: &'static str,
    pub passed: bool,
    /// What was measured, e.g. `50 x 1 MiB echoed in 2.3 s`.
    pub figure: String,
    /// Why it failed (`None` when it passed).
    pub reason: Option<String>,
    pub elapsed: Duration,
}

/// Reasons longer than this are cut in the one-line report.
const REASON_CHARS: usize = 400;

impl fmt::Display for Outcome {
    /// One line: `PASS  name  figure` or `FAIL  name  figure -- reason`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = if self.passed { "PASS" } else { "FAIL" };
        write!(
            f,
            "{status}  {:<16}  {}",
            self.check,
            one_line(&self.figure)
        )?;
        if let Some(reason) = &self.reason {
            let mut reason = one_line(reason);
            if reason.chars().count() > REASON_CHARS {
                reason = reason.chars().take(REASON_CHARS).collect::<String>() + "...";
            }
            write!(f, " -- {reason}")?;
        }
        Ok(())
    }
}

fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A failed check: what was measured before it failed, and why.
#[derive(Debug)]
struct Failure {
    figure: String,
    reason: String,
}

impl Failure {
    fn new(figure: impl Into<String>, reason: impl Into<String>) -> Self {
        Failure {
            figure: figure.into(),
            reason: reason.into(),
        }
    }
}

type CheckResult = Result<String, Failure>;

/// One check of the suite.
#[derive(Clone, Copy)]
pub struct Check {
    /// The name used in reports and by `--only`.
    pub name: &'static str,
    /// What it checks, in one line.
    pub about: &'static str,
    body: fn(&Target, &Sizes) -> CheckResult,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

impl Check {
    /// Runs the check against `target` and says what it found.
    pub fn run(&self, target: &Target, sizes: &Sizes) -> Outcome {
        let start = Instant::now();
        // A panic here is a bug in the check, not in the server; it is
        // reported as a failure rather than cutting the report short (the
        // server is killed as its handle is dropped).
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.body)(target, sizes)))
                .unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("a panic");
                    Err(Failure::new(
                        "no figure",
                        format!("the check itself panicked: {what}"),
                    ))
                });
        let elapsed = start.elapsed();
        match result {
            Ok(figure) => Outcome {
                check: self.name,
                passed: true,
                figure,
                reason: None,
                elapsed,
            },
            Err(f) => Outcome {
                check: self.name,
                passed: false,
                figure: f.figure,
                reason: Some(f.reason),
                elapsed,
            },
        }
    }
}

/// Every check that every server must pass, in the order the suite runs
/// them.
pub const CHECKS: [Check; 13] = [
    Check {
        name: "integrity",
        about: "concurrent clients send random bytes in random-size writes while reading; all come back in order",
        body: data::integrity,
    },
    Check {
        name: "half-close",
        about: "a client sends, shuts down its write side, and gets all its echo and then end-of-file",
        body: data::half_close,
    },
    Check {
        name: "reset",
        about: "a client resets its connection mid-stream; the server logs it, drops it, serves the next",
        body: data::reset,
    },
    Check {
        name: "slow-reader",
        about: "clients send megabytes without reading; memory stays bounded and every byte comes back",
        body: data::slow_reader,
    },
    Check {
        name: "many-connections",
        about: "thousands of concurrent connections echo (select: those past FD_SETSIZE are refused), then a new one once they have left",
        body: load::many_connections,
    },
    Check {
        name: "churn",
        about: "connect / echo / close cycles leave the server's descriptors at their baseline",
        body: load::churn,
    },
    Check {
        name: "stop-continue",
        about: "SIGSTOP then SIGCONT: the server keeps serving",
        body: faults::stop_continue,
    },
    Check {
        name: "out-of-fds",
        about: "under `ulimit -n 64` with 200 clients: no spinning, serves what it has, accepts again later",
        body: faults::out_of_fds,
    },
    Check {
        name: "idle-cost",
        about: "CPU time with 10 idle clients over 3 s (reported, not judged, for busy servers)",
        body: faults::idle_cost,
    },
    Check {
        name: "bad-arguments",
        about: "unknown flag, invalid port, port in use, unresolvable host: one error line, non-zero exit",
        body: faults::bad_arguments,
    },
    Check {
        name: "fairness",
        about: "4 clients flood the server while a 5th pings: pings answered within 100 ms (p99), floods served alike",
        body: stress::fairness,
    },
    Check {
        name: "urgent",
        about: "a byte sent urgent (MSG_OOB) comes back in place, and so do the bytes after it",
        body: stress::urgent,
    },
    Check {
        name: "trickle",
        about: "clients send 1 byte per write without reading; memory stays bounded and every byte comes back",
        body: stress::trickle,
    },
];

/// The checks that run only against a server that opts in with
/// [`Target::clean_stop`] (`--clean-stop`), after [`CHECKS`].
pub const CLEAN_STOP_CHECKS: [Check; 1] = [Check {
    name: "shutdown",
    about: "(with --clean-stop) SIGTERM, then SIGINT, with idle clients and one owed echo: \
            the echo is delivered, every client sees end-of-file, no reset, exit 0 within 3 s",
    body: shutdown::shutdown,
}];

/// The check called `name`, whether every server runs it or not.
pub fn check(name: &str) -> Option<&'static Check> {
    CHECKS
        .iter()
        .chain(&CLEAN_STOP_CHECKS)
        .find(|c| c.name == name)
}

/// The checks [`run`] runs against `target` when it is not told which: all
/// of [`CHECKS`], and [`CLEAN_STOP_CHECKS`] if the target opts in.
pub fn checks_for(target: &Target) -> impl Iterator<Item = &'static Check> {
    let opted_in: &'static [Check] = if target.clean_stop {
        &CLEAN_STOP_CHECKS
    } else {
        &[]
    };
    CHECKS.iter().chain(opted_in)
}

macro_rules! check_fns {
    ($($(#[$doc:meta])* $fn_name:ident => $name:literal,)*) => {
        $(
            $(#[$doc])*
            pub fn $fn_name(target: &Target, sizes: &Sizes) -> Outcome {
                match check($name) {
                    Some(c) => c.run(target, sizes),
                    None => unreachable!("{} is a check", $name),
                }
            }
        )*
    };
}

check_fns! {
    /// Check 1: concurrent clients, random bytes, random-size writes.
    integrity => "integrity",
    /// Check 2: half-close.
    half_close => "half-close",
    /// Check 3: a reset connection mid-stream.
    reset => "reset",
    /// Check 4: slow readers and backpressure.
    slow_reader => "slow-reader",
    /// Check 5: many concurrent connections.
    many_connections => "many-connections",
    /// Check 6: connection churn and descriptor leaks.
    churn => "churn",
    /// Check 7: SIGSTOP and SIGCONT.
    stop_continue => "stop-continue",
    /// Check 8: out of descriptors.
    out_of_fds => "out-of-fds",
    /// Check 9: idle cost.
    idle_cost => "idle-cost",
    /// Check 10: bad arguments.
    bad_arguments => "bad-arguments",
    /// Check 11: a flood of data must not starve a client that sends little.
    fairness => "fairness",
    /// Check 12: urgent data stays in the stream and strands nothing.
    urgent => "urgent",
    /// Check 13: one-byte writes; memory per queued byte.
    trickle => "trickle",
    /// The opt-in check: a clean stop on SIGTERM and SIGINT. It runs
    /// whether or not `target` opted in.
    shutdown => "shutdown",
}

/// The outcome of a run of several checks.
#[derive(Debug, Default)]
pub struct Summary {
    pub outcomes: Vec<Outcome>,
}

impl Summary {
    pub fn passed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.passed).count()
    }

    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.passed()
    }

    /// The report's last line: `N passed, N failed`.
    pub fn totals(&self) -> String {
        format!("{} passed, {} failed", self.passed(), self.failed())
    }

    /// The outcome of the check called `name`, if it ran.
    pub fn get(&self, name: &str) -> Option<&Outcome> {
        self.outcomes.iter().find(|o| o.check == name)
    }
}

/// Whether every name of `only` is a check that can run against `target`:
/// an unknown name is an error that lists the checks, and so is an opt-in
/// check the target did not opt in to.
pub fn check_names(target: &Target, only: &[String]) -> Result<(), String> {
    if let Some(unknown) = only.iter().find(|n| check(n).is_none()) {
        let known: Vec<&str> = CHECKS.iter().map(|c| c.name).collect();
        let opt_in: Vec<&str> = CLEAN_STOP_CHECKS.iter().map(|c| c.name).collect();
        return Err(format!(
            "no check is called '{unknown}'; the checks are: {}, and with --clean-stop: {}",
            known.join(", "),
            opt_in.join(", ")
        ));
    }
    match only
        .iter()
        .find(|n| checks_for(target).all(|c| c.name != n.as_str()))
    {
        None => Ok(()),
        Some(name) => Err(format!(
            "the {name} check is for servers that stop cleanly on SIGINT and SIGTERM: pass \
             --clean-stop if this one does"
        )),
    }
}

/// Runs the checks named in `only` (every check for `target`, see
/// [`checks_for`], if it is empty) in the suite's order, calling `each` as
/// each one finishes. A name [`check_names`] refuses is an error. If the
/// server does not start at all, every check but `bad-arguments` fails at
/// once with the reason.
pub fn run(
    target: &Target,
    sizes: &Sizes,
    only: &[String],
    mut each: impl FnMut(&Outcome),
) -> Result<Summary, String> {
    check_names(target, only)?;
    // A server that does not start fails every check that needs it at once,
    // rather than each after its own startup timeout.
    let not_started = target.start().err();
    let mut summary = Summary::default();
    for c in checks_for(target).filter(|c| only.is_empty() || only.iter().any(|n| n == c.name)) {
        let outcome = match &not_started {
            Some(f) if c.name != "bad-arguments" => Outcome {
                check: c.name,
                passed: false,
                figure: f.figure.clone(),
                reason: Some(f.reason.clone()),
                elapsed: Duration::ZERO,
            },
            _ => c.run(target, sizes),
        };
        each(&outcome);
        summary.outcomes.push(outcome);
    }
    Ok(summary)
}

/// Raises this process's soft descriptor limit to the hard limit (once) and
/// returns the limit in force, so the checks can scale down and say why.
pub fn fd_limit() -> u64 {
    static LIMIT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| echo_common::raise_fd_limit().unwrap_or(1024))
}

/// A size for reports: `1 MiB`, `200 KiB`, `12.4 MiB`, `17 B`.
fn size(bytes: u64) -> String {
    let (kib, mib) = (KIB as u64, MIB as u64);
    if bytes >= mib {
        if bytes.is_multiple_of(mib) {
            format!("{} MiB", bytes / mib)
        } else {
            format!("{:.1} MiB", bytes as f64 / mib as f64)
        }
    } else if bytes >= kib {
        if bytes.is_multiple_of(kib) {
            format!("{} KiB", bytes / kib)
        } else {
            format!("{:.1} KiB", bytes as f64 / kib as f64)
        }
    } else {
        format!("{bytes} B")
    }
}

/// Seconds for reports: `2.3 s`, `0.01 s`.
fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.1} s")
    }
}

/// Adds to a failure's reason what the server did, if it died: its exit
/// status and its last lines.
fn with_server_state(server: &mut ServerProcess, mut failure: Failure) -> Failure {
    // A server that is dying may still be running for a moment: give it one.
    if let Some(status) = server.wait_exit(Duration::from_millis(300)) {
        // Let the last lines it wrote be read: this returns at end-of-file.
        server.wait_for_line(|_| false, Duration::from_millis(500));
        let lines = server.lines();
        let last: Vec<&str> = lines
            .iter()
            .rev()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        failure.reason = format!(
            "{}; the server has exited ({status}), its last lines: {:?}",
            failure.reason, last
        );
    }
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(MIB as u64), "1 MiB");
        assert_eq!(size(200 * KIB as u64), "200 KiB");
        assert_eq!(size(13_002_342), "12.4 MiB");
        assert_eq!(size(17), "17 B");
        assert_eq!(secs(Duration::from_millis(2345)), "2.3 s");
        assert_eq!(secs(Duration::from_millis(12)), "0.01 s");
    }

    #[test]
    fn outcome_is_one_line() {
        let o = Outcome {
            check: "half-close",
            passed: false,
            figure: "10 KiB of 200 KiB back".into(),
            reason: Some("the server closed\nearly".into()),
            elapsed: Duration::ZERO,
        };
        assert_eq!(
            o.to_string(),
            "FAIL  half-close        10 KiB of 200 KiB back -- the server closed | early"
        );
    }

    #[test]
    fn command_lines_split_on_whitespace() {
        let t = Target::from_command_line("  bin/epoll-edge   --level ", Kind::Epoll).unwrap();
        assert_eq!(t.command_line(), "bin/epoll-edge --level");
        assert!(Target::from_command_line("  ", Kind::Poll).is_none());
    }

    #[test]
    fn the_shutdown_check_runs_only_for_targets_that_opt_in() {
        let plain = Target::new("/nonexistent", Kind::Epoll);
        let clean = plain.clone().clean_stop(true);
        assert_eq!(checks_for(&plain).count(), CHECKS.len());
        assert_eq!(checks_for(&clean).count(), CHECKS.len() + 1);
        assert_eq!(checks_for(&clean).last().unwrap().name, "shutdown");
        let only = ["shutdown".to_string()];
        let err = check_names(&plain, &only).unwrap_err();
        assert!(err.contains("pass --clean-stop"), "{err}");
        assert!(run(&plain, &Sizes::quick(), &only, |_| {}).is_err());
        assert_eq!(check_names(&clean, &only), Ok(()));
    }

    #[test]
    fn unknown_check_names_are_refused() {
        let t = Target::new("/nonexistent", Kind::Poll);
        let err = run(&t, &Sizes::quick(), &["nope".into()], |_| {}).unwrap_err();
        assert!(err.contains("integrity, half-close"), "{err}");
    }
}
