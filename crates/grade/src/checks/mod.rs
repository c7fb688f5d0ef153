//! Every check the manifest can name. A check starts the exercise's server
//! (as many times as it needs, each on a free port), plays a client, and
//! returns the figure it measured: `Ok` if the server did what the exercise
//! asks, `Err` with what went wrong otherwise.

use std::cell::RefCell;
use std::net::TcpStream;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::Duration;

use test_support::{ServerProcess, procfs};

use crate::probe::connect;
use test_support::server::ServerCommand;

mod chat;
mod echo;
mod idle;
mod maxclients;
mod pool;
mod quota;
mod rate;
mod sleep;
mod stdin;
mod stop;

/// A check's verdict and the figure behind it.
pub type Outcome = Result<String, String>;

pub struct CheckDef {
    pub name: &'static str,
    /// What the check does, in one line.
    pub about: &'static str,
    pub run: fn(&Ctx) -> Outcome,
}

/// Every check, by name.
pub const CHECKS: &[CheckDef] = &[
    echo::ECHO,
    maxclients::CAP,
    maxclients::QUIET_WHEN_FULL,
    maxclients::SLOT_FREES,
    maxclients::MANY_WAITING,
    pool::POOL_ECHO,
    pool::REFUSE_WHEN_FULL,
    pool::NO_RESET,
    pool::FREED_WORKER,
    pool::THREADS_BOUNDED,
    sleep::IDLE_CPU,
    sleep::THROUGHPUT,
    sleep::TRADE_OFF,
    stdin::STATS,
    stdin::LIST,
    stdin::KICK,
    stdin::KICK_UNKNOWN,
    stdin::UNKNOWN,
    stdin::STDIN_EOF,
    chat::BROADCAST,
    chat::WHOLE_LINES,
    chat::SLOW_LISTENER,
    idle::IDLE_CLOSE,
    idle::ACTIVE_STAYS,
    idle::MANY_IDLE,
    stop::LOOPS_ECHO,
    stop::SIGTERM,
    stop::SIGINT,
    stop::STOP_LIMITS,
    quota::EXACT_CUT,
    quota::SLOW_READER_CUT,
    quota::OTHERS_UNAFFECTED,
    quota::CLOSES_AFTER_DRAIN,
    rate::NO_STRANDING,
    rate::RATE,
    rate::OTHERS_SERVED,
    rate::QUIET_WHEN_THROTTLED,
];

pub fn find(name: &str) -> Option<&'static CheckDef> {
    CHECKS.iter().find(|c| c.name == name)
}

/// Checks named `conformance:NAME` are the conformance suite's check
/// `NAME`, run with [`conformance_sizes`].
pub const CONFORMANCE: &str = "conformance:";

/// Whether `name` is a check the grader can run.
pub fn exists(name: &str) -> bool {
    match name.strip_prefix(CONFORMANCE) {
        Some(check) => conformance::check(check).is_some(),
        None => find(name).is_some(),
    }
}

/// The conformance suite's sizes, cut down so that a check takes a second
/// or two on a laptop; the seed is fixed, so a grade can be repeated.
pub fn conformance_sizes() -> conformance::Sizes {
    conformance::Sizes {
        integrity_clients: 10,
        integrity_bytes: 256 << 10,
        slow_clients: 4,
        slow_bytes: 8 << 20,
        slow_pause: Duration::from_secs(1),
        many: 1000,
        churn: 500,
        seed: 1,
        preset: "grade",
        ..conformance::Sizes::quick()
    }
}

/// Runs the conformance suite's check `name` against `program`.
pub fn conformance(name: &str, program: &Path, kind: Option<&str>) -> Outcome {
    use clap::ValueEnum;
    let check = conformance::check(name)
        .ok_or_else(|| format!("the conformance suite has no check {name:?}"))?;
    let kind = kind.ok_or("the manifest gives no `kind` for this exercise")?;
    let kind = conformance::Kind::from_str(kind, true)
        .map_err(|_| format!("unknown kind {kind:?} in the manifest"))?;
    let target = conformance::Target::new(program, kind);
    let outcome = check.run(&target, &conformance_sizes());
    match (outcome.passed, outcome.reason) {
        (true, _) => Ok(outcome.figure),
        (false, Some(reason)) => Err(format!("{}: {reason}", outcome.figure)),
        (false, None) => Err(outcome.figure),
    }
}

/// What a check needs: the server's program, and a record of every server
/// it started, so a crash can be reported with the failure.
pub struct Ctx {
    program: PathBuf,
    stderr: RefCell<Vec<String>>,
}

impl Ctx {
    pub fn new(program: &Path) -> Self {
        Ctx {
            program: program.to_path_buf(),
            stderr: RefCell::new(Vec::new()),
        }
    }

    /// Starts the server with `args` (plus `--host 127.0.0.1 --port 0`) and
    /// waits for its startup line.
    pub fn start(&self, args: &[&str]) -> Result<Server<'_>, String> {
        self.start_command(ServerCommand::new(&self.program).args(args))
    }

    /// Starts the server with its stdin piped to the check.
    pub fn start_with_stdin(&self, args: &[&str]) -> Result<Server<'_>, String> {
        self.start_command(ServerCommand::new(&self.program).args(args).stdin_piped())
    }

    fn start_command(&self, cmd: ServerCommand) -> Result<Server<'_>, String> {
        let process = cmd
            .start()
            .map_err(|e| format!("the server did not start: {e}"))?;
        Ok(Server {
            process,
            sink: &self.stderr,
        })
    }

    /// Every stderr line of the servers started so far and dropped.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.borrow().clone()
    }
}

/// A server started by a check; killed when dropped, its stderr kept in the
/// [`Ctx`].
pub struct Server<'a> {
    process: ServerProcess,
    sink: &'a RefCell<Vec<String>>,
}

impl Deref for Server<'_> {
    type Target = ServerProcess;
    fn deref(&self) -> &ServerProcess {
        &self.process
    }
}

impl DerefMut for Server<'_> {
    fn deref_mut(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}

impl Drop for Server<'_> {
    fn drop(&mut self) {
        if !self.process.is_running() {
            // It exited (a panic?): wait for its last lines.
            self.process
                .wait_for_line(|_| false, Duration::from_millis(500));
        }
        self.sink.borrow_mut().extend(self.process.lines());
        // Then the process itself is dropped: killed and reaped.
    }
}

/// CPU time the server uses over `span`.
pub fn cpu_over(server: &Server<'_>, span: Duration) -> Option<Duration> {
    let pid = server.pid();
    let before = procfs::cpu_time(pid);
    std::thread::sleep(span);
    let after = procfs::cpu_time(pid);
    before.zip(after).map(|(b, a)| a.saturating_sub(b))
}

/// Connects `n` clients and has each echo the book's messages once.
pub fn idle_clients(server: &Server<'_>, n: usize) -> Result<Vec<TcpStream>, String> {
    (1..=n)
        .map(|i| {
            let c = connect(server.addr())?;
            echo::echo_messages(&c).map_err(|e| format!("client {i}: {e}"))?;
            Ok(c)
        })
        .collect()
}

/// The panic message in a server's stderr, if it panicked: `at FILE:LINE:COL:
/// MESSAGE`.
pub fn panic_message(stderr: &[String]) -> Option<String> {
    let i = stderr
        .iter()
        .position(|l| l.starts_with("thread '") && l.contains("panicked at"))?;
    let place = stderr[i]
        .split_once("panicked at ")
        .map_or("", |(_, p)| p)
        .trim_end_matches(':');
    let message = stderr.get(i + 1).map_or("", String::as_str);
    Some(format!("at {place}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_are_unique() {
        for (i, c) in CHECKS.iter().enumerate() {
            assert!(
                CHECKS[..i].iter().all(|d| d.name != c.name),
                "{} twice",
                c.name
            );
        }
    }

    #[test]
    fn panics_are_found_in_stderr() {
        let lines: Vec<String> = [
            "starting up on 127.0.0.1 port 1",
            "thread 'main' panicked at exercises/x/src/main.rs:3:9:",
            "not yet implemented: send it",
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            panic_message(&lines).as_deref(),
            Some("at exercises/x/src/main.rs:3:9: not yet implemented: send it")
        );
        assert_eq!(panic_message(&lines[..1]), None);
    }
}
