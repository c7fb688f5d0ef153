//! Checks 7-10: signals, running out of descriptors, idling, bad arguments.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use test_support::procfs;

use crate::client::{Reply, await_echo, connect, echo_eventually};
use crate::data::shorten;
use crate::{CheckResult, Failure, Kind, Sizes, Target, fd_limit, secs, with_server_state};

const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the CPU-time checks watch the server.
const WATCH: Duration = Duration::from_secs(3);

/// Sends `message` on `stream` and waits (at most `timeout`) for its echo.
pub(crate) fn exchange(
    stream: &mut TcpStream,
    message: &[u8],
    timeout: Duration,
) -> Result<(), String> {
    stream
        .write_all(message)
        .map_err(|e| format!("send: {e}"))?;
    match await_echo(stream, message, Instant::now() + timeout) {
        Reply::Echoed => Ok(()),
        other => Err(other.describe(message.len())),
    }
}

/// Stop and continue cycles in the stop-continue check.
const STOP_CYCLES: usize = 3;

/// Check 7: the server is stopped (`SIGSTOP`) while a client sends and a new
/// one connects, then continued (`SIGCONT`), three times. A wait that the
/// signal interrupts (`EINTR`, which `epoll_wait` returns after a stop even
/// without a handler) must be retried, and both clients served.
pub(crate) fn stop_continue(target: &Target, _sizes: &Sizes) -> CheckResult {
    let mut server = target.start()?;
    let addr = server.addr();
    let mut first = connect(addr, SOCKET_TIMEOUT).map_err(|e| Failure::new("no connection", e))?;
    if let Err(e) = exchange(&mut first, b"before the stop\n", SOCKET_TIMEOUT) {
        return Err(with_server_state(
            &mut server,
            Failure::new("not served before the stop", e),
        ));
    }
    let mut echoes = 0;
    for cycle in 1..=STOP_CYCLES {
        if let Err(e) = server.signal(libc::SIGSTOP) {
            return Err(Failure::new("no stop", format!("SIGSTOP: {e}")));
        }
        let during = while_stopped(addr, &mut first, cycle);
        // Continue it whatever happened, so it can be killed and reaped.
        let continued = server.signal(libc::SIGCONT);
        let (message, mut second) = match (during, continued) {
            (Ok(d), Ok(())) => d,
            (Err(e), _) => return Err(Failure::new(format!("cycle {cycle}"), e)),
            (_, Err(e)) => {
                return Err(Failure::new(
                    format!("cycle {cycle}"),
                    format!("SIGCONT: {e}"),
                ));
            }
        };
        let deadline = Instant::now() + SOCKET_TIMEOUT;
        for (who, stream) in [
            ("a connected client", &first),
            ("a client that connected during the stop", &second),
        ] {
            let reply = await_echo(stream, &message, deadline);
            if reply != Reply::Echoed {
                return Err(with_server_state(
                    &mut server,
                    Failure::new(
                        format!("{echoes} echoes after resuming, then none"),
                        format!(
                            "cycle {cycle}: {who} sent while the server was stopped: {}",
                            reply.describe(message.len())
                        ),
                    ),
                ));
            }
            echoes += 1;
        }
        if let Err(e) = exchange(&mut second, b"after the continue\n", SOCKET_TIMEOUT) {
            return Err(with_server_state(
                &mut server,
                Failure::new(
                    format!("{echoes} echoes after resuming"),
                    format!("cycle {cycle}: {e}"),
                ),
            ));
        }
        echoes += 1;
    }
    if !server.is_running() {
        return Err(with_server_state(
            &mut server,
            Failure::new(
                format!("{echoes} echoes after resuming"),
                "the server exited",
            ),
        ));
    }
    Ok(format!(
        "{STOP_CYCLES} stop/continue cycles; {echoes} echoes after resuming"
    ))
}

/// What happens while the server is stopped: the connected client sends,
/// and a second client connects (the kernel completes the handshake) and
/// sends. Returns the message and the second client.
fn while_stopped(
    addr: SocketAddr,
    first: &mut TcpStream,
    cycle: usize,
) -> Result<(Vec<u8>, TcpStream), String> {
    thread::sleep(Duration::from_millis(200));
    let message = format!("sent while the server was stopped ({cycle})\n").into_bytes();
    first
        .write_all(&message)
        .map_err(|e| format!("send while stopped: {e}"))?;
    let mut second = connect(addr, SOCKET_TIMEOUT).map_err(|e| format!("while stopped: {e}"))?;
    second
        .write_all(&message)
        .map_err(|e| format!("send while stopped: {e}"))?;
    thread::sleep(Duration::from_millis(200));
    Ok((message, second))
}

/// The descriptor limit the out-of-fds check runs the server under.
const OOF_LIMIT: usize = 64;
/// Clients that connect to it.
const OOF_CLIENTS: usize = 200;
/// How many of them it must serve: about as many as its descriptors allow
/// (a few go to stdio, the listener and the server's own needs).
const OOF_MIN_SERVED: usize = OOF_LIMIT / 2;
/// Above this much CPU over [`WATCH`], the server is spinning.
const SPIN_CPU: Duration = Duration::from_millis(500);

/// Check 8: under `ulimit -n 64`, 200 clients connect. The server must not
/// spin on `EMFILE` (CPU over 3 s under half a second), must keep serving the
/// clients it has, and must accept new clients once the others leave.
pub(crate) fn out_of_fds(target: &Target, _sizes: &Sizes) -> CheckResult {
    let prefix = format!("ulimit -n {OOF_LIMIT}");
    if fd_limit() < (OOF_CLIENTS + 100) as u64 {
        return Err(Failure::new(
            "not run",
            format!(
                "RLIMIT_NOFILE is {}, this check needs {}",
                fd_limit(),
                OOF_CLIENTS + 100
            ),
        ));
    }
    let mut server = target.start_with_shell_prefix(&prefix)?;
    let addr = server.addr();
    let pid = server.pid();
    let mut clients = Vec::with_capacity(OOF_CLIENTS);
    for i in 0..OOF_CLIENTS {
        match connect(addr, SOCKET_TIMEOUT) {
            Ok(c) => clients.push(c),
            Err(e) => {
                return Err(with_server_state(
                    &mut server,
                    Failure::new(format!("{i} of {OOF_CLIENTS} connected"), e),
                ));
            }
        }
    }
    // Let it take in what it can, then watch it.
    thread::sleep(Duration::from_millis(500));
    let cpu = cpu_over(pid, WATCH);
    let messages: Vec<Vec<u8>> = (0..OOF_CLIENTS)
        .map(|i| format!("client {i} at the descriptor limit\n").into_bytes())
        .collect();
    for (c, m) in clients.iter_mut().zip(&messages) {
        let _ = c.write_all(m);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let replies: Vec<Reply> = clients
        .iter()
        .zip(&messages)
        .map(|(c, m)| await_echo(c, m, deadline))
        .collect();
    let served = replies.iter().filter(|r| **r == Reply::Echoed).count();
    let closed = replies
        .iter()
        .filter(|r| matches!(r, Reply::Closed(_)))
        .count();
    let waiting = replies
        .iter()
        .filter(|r| matches!(r, Reply::Silent(0)))
        .count();
    let mut figure = format!(
        "CPU {} over {}; {served} of {OOF_CLIENTS} served, {closed} closed, {waiting} waiting",
        cpu.map_or("?".into(), secs),
        secs(WATCH)
    );
    let Some(cpu) = cpu else {
        return Err(with_server_state(
            &mut server,
            Failure::new(figure, "cannot read the server's CPU time"),
        ));
    };
    if let Some((i, r)) = replies
        .iter()
        .enumerate()
        .find(|(_, r)| matches!(r, Reply::Wrong(_) | Reply::Failed(..)))
    {
        return Err(with_server_state(
            &mut server,
            Failure::new(
                figure,
                format!("client {}: {}", i + 1, r.describe(messages[i].len())),
            ),
        ));
    }
    if cpu >= SPIN_CPU && target.kind != Kind::Busy {
        return Err(Failure::new(
            figure,
            format!(
                "the server spins when out of descriptors (limit {}): keep a spare descriptor \
                 to accept and close, or back off",
                secs(SPIN_CPU)
            ),
        ));
    }
    if served < OOF_MIN_SERVED {
        return Err(with_server_state(
            &mut server,
            Failure::new(
                figure,
                format!("it must keep serving the clients it has (at least {OOF_MIN_SERVED})"),
            ),
        ));
    }
    drop(clients);
    match echo_eventually(
        addr,
        b"a new client once the others left\n",
        Duration::from_secs(10),
    ) {
        Ok(after) => {
            figure.push_str(&format!(
                "; a new one served {} after they left",
                secs(after)
            ));
        }
        Err(e) => {
            return Err(with_server_state(
                &mut server,
                Failure::new(
                    figure,
                    format!("no new client accepted after the others left: {e}"),
                ),
            ));
        }
    }
    if target.kind == Kind::Busy {
        figure.push_str(" (CPU reported, not judged: a busy loop spins by design)");
    }
    Ok(figure)
}

/// The CPU time `pid` uses over `period`.
fn cpu_over(pid: u32, period: Duration) -> Option<Duration> {
    let before = procfs::cpu_time(pid)?;
    thread::sleep(period);
    let after = procfs::cpu_time(pid)?;
    Some(after.saturating_sub(before))
}

/// Idle clients in the idle-cost check.
const IDLE_CLIENTS: usize = 10;
/// Near zero: above this over [`WATCH`], an idle server is polling.
const IDLE_CPU: Duration = Duration::from_millis(300);

/// Check 9: ten clients connect, are served once, and then say nothing; the
/// server's CPU time over 3 s is reported, and must be near zero except for
/// a busy server.
pub(crate) fn idle_cost(target: &Target, _sizes: &Sizes) -> CheckResult {
    let mut server = target.start()?;
    let addr = server.addr();
    let mut clients = Vec::with_capacity(IDLE_CLIENTS);
    for i in 0..IDLE_CLIENTS {
        let served = connect(addr, SOCKET_TIMEOUT).and_then(|mut c| {
            exchange(
                &mut c,
                format!("idle client {i}\n").as_bytes(),
                SOCKET_TIMEOUT,
            )?;
            Ok(c)
        });
        match served {
            Ok(c) => clients.push(c),
            Err(e) => {
                return Err(with_server_state(
                    &mut server,
                    Failure::new(format!("{i} of {IDLE_CLIENTS} clients served"), e),
                ));
            }
        }
    }
    thread::sleep(Duration::from_millis(500));
    let Some(cpu) = cpu_over(server.pid(), WATCH) else {
        return Err(with_server_state(
            &mut server,
            Failure::new("no figure", "cannot read the server's CPU time"),
        ));
    };
    let mut figure = format!(
        "CPU {} over {} with {IDLE_CLIENTS} idle clients",
        secs(cpu),
        secs(WATCH)
    );
    if let Some(c) = clients.last_mut()
        && let Err(e) = exchange(c, b"still there?\n", SOCKET_TIMEOUT)
    {
        return Err(with_server_state(
            &mut server,
            Failure::new(figure, format!("an idle client is no longer served: {e}")),
        ));
    }
    if target.kind == Kind::Busy {
        figure.push_str(" (reported, not judged: a busy loop spins by design)");
    } else if cpu >= IDLE_CPU {
        return Err(Failure::new(
            figure,
            format!(
                "an idle server should sleep in its wait (limit {}); this one keeps running",
                secs(IDLE_CPU)
            ),
        ));
    }
    Ok(figure)
}

/// A bad command line and what its error line must mention (any of the
/// words, case-insensitively).
struct BadCase {
    name: &'static str,
    args: Vec<String>,
    mentions: &'static [&'static str],
    timeout: Duration,
}

/// A host name that never resolves (`.invalid` is reserved for that).
const UNRESOLVABLE: &str = "no-such-host.invalid";

/// Check 10: an unknown flag, an invalid port, a port already in use and an
/// unresolvable host must each make the server exit non-zero with one clear
/// error line on stderr (and no panic).
pub(crate) fn bad_arguments(target: &Target, _sizes: &Sizes) -> CheckResult {
    // Held until the end: the port-in-use case needs it taken.
    let taken = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Failure::new("not run", format!("cannot bind a port to occupy: {e}")))?;
    let port = taken
        .local_addr()
        .map_err(|e| Failure::new("not run", e.to_string()))?
        .port()
        .to_string();
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let short = Duration::from_secs(10);
    let cases = [
        BadCase {
            name: "unknown flag",
            // With a free port: a server that ignores the flag starts, and fails.
            args: s(&["--no-such-flag", "--host", "127.0.0.1", "--port", "0"]),
            mentions: &["no-such-flag", "unknown", "unexpected", "unrecognized"],
            timeout: short,
        },
        BadCase {
            name: "invalid port",
            args: s(&["--host", "127.0.0.1", "--port", "99999"]),
            mentions: &["99999", "port"],
            timeout: short,
        },
        BadCase {
            name: "port in use",
            args: s(&["--host", "127.0.0.1", "--port", &port]),
            mentions: &["in use"],
            timeout: short,
        },
        BadCase {
            name: "unresolvable host",
            args: s(&["--host", UNRESOLVABLE, "--port", "0"]),
            mentions: &[UNRESOLVABLE, "resolve"],
            timeout: Duration::from_secs(30),
        },
    ];
    let mut statuses = Vec::new();
    for case in &cases {
        match run_bad_case(target, case) {
            Ok(code) => statuses.push(code.to_string()),
            Err(reason) => {
                return Err(Failure::new(
                    format!("{} of {} cases right", statuses.len(), cases.len()),
                    format!("{}: {reason}", case.name),
                ));
            }
        }
    }
    drop(taken);
    Ok(format!(
        "{} cases: one error line each, exit status {}",
        cases.len(),
        statuses.join(", ")
    ))
}

/// Runs the server with a bad command line; returns its exit code if it
/// failed the right way.
fn run_bad_case(target: &Target, case: &BadCase) -> Result<i32, String> {
    let mut child = Command::new(&target.program)
        .args(&target.args)
        .args(&case.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", target.command_line()))?;
    // Read stderr as it comes, so a chatty server cannot block on the pipe.
    let stderr = child.stderr.take();
    let reader = thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(mut e) = stderr {
            let _ = e.read_to_end(&mut text);
        }
        String::from_utf8_lossy(&text).into_owned()
    });
    let deadline = Instant::now() + case.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let text = reader.join().unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let Some(status) = status else {
        return Err(format!(
            "still running after {}: the bad argument was accepted (it printed {:?})",
            secs(case.timeout),
            shorten(&lines.join(" | "), 120)
        ));
    };
    let code = match status.code() {
        Some(0) => return Err("exit status 0: a failure must exit non-zero".into()),
        Some(code) => code,
        None => return Err(format!("killed by a signal ({status})")),
    };
    match lines.as_slice() {
        [] => Err(format!("exit status {code} but no error line on stderr")),
        [line] if line.contains("panicked") => Err(format!("a panic, not an error line: {line:?}")),
        [line] => {
            let lower = line.to_lowercase();
            if case.mentions.iter().any(|m| lower.contains(m)) {
                Ok(code)
            } else {
                Err(format!(
                    "the error line {line:?} does not say what is wrong (it should mention {})",
                    case.mentions.join(" or ")
                ))
            }
        }
        more => Err(format!(
            "{} lines on stderr, not one: {:?}",
            more.len(),
            shorten(&more.join(" | "), 200)
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_unresolvable_host_does_not_resolve() {
        assert!(echo_common::resolve(super::UNRESOLVABLE, 0).is_err());
    }
}
