//! Checks 5-6: many connections at once, and many one after another.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{Reply, await_echo, connect, echo, echo_eventually};
use crate::data::{settled_fds, wait_for_fds};
use crate::{CheckResult, Failure, Kind, Sizes, Target, fd_limit, secs, with_server_state};

/// `FD_SETSIZE`: the descriptors a `select` server can watch.
const FD_SETSIZE: usize = 1024;
/// Descriptors this process keeps for itself beyond the clients: stdio,
/// pipes to servers, and other checks that may run at the same time (the
/// out-of-fds check alone holds 200 clients).
const FD_MARGIN: usize = 512;
/// How many of the first connections a `select` server must serve: those
/// whose descriptors surely fit below `FD_SETSIZE`.
const SELECT_FIRST_SERVED: usize = 900;

/// One many-connections check at a time in a process: each needs most of
/// the descriptor limit.
static MANY: Mutex<()> = Mutex::new(());

/// Check 5: `many` clients (`many_select` for select servers) connect and
/// stay connected; each sends a short message and must get it back. A select
/// server must refuse those past `FD_SETSIZE` (closing them and logging a
/// line that says so) and serve the first ones.
pub(crate) fn many_connections(target: &Target, sizes: &Sizes) -> CheckResult {
    let _one_at_a_time = MANY.lock().unwrap_or_else(|p| p.into_inner());
    let select = target.kind == Kind::Select;
    let wanted = if select {
        sizes.many_select
    } else {
        sizes.many
    };
    let limit = usize::try_from(fd_limit()).unwrap_or(usize::MAX);
    let (n, scaled) = if wanted + FD_MARGIN > limit {
        let n = limit.saturating_sub(FD_MARGIN).max(10);
        (
            n,
            format!(" (scaled down from {wanted}: RLIMIT_NOFILE is {limit})"),
        )
    } else {
        (wanted, String::new())
    };
    // Past FD_SETSIZE only if both the server and we could open that many.
    let expect_refusals = select && n > FD_SETSIZE;
    let mut server = target.start()?;
    let addr = server.addr();
    let start = Instant::now();
    let mut clients: Vec<TcpStream> = Vec::with_capacity(n);
    for i in 0..n {
        match connect(addr, Duration::from_secs(10)) {
            Ok(c) => clients.push(c),
            Err(e) => {
                return Err(with_server_state(
                    &mut server,
                    Failure::new(format!("{i} of {n} connected{scaled}"), e),
                ));
            }
        }
    }
    let connected_in = start.elapsed();
    let messages: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("message {i} of {n}\n").into_bytes())
        .collect();
    for (c, m) in clients.iter_mut().zip(&messages) {
        // A refused client's write may fail; its read says so below.
        let _ = c.write_all(m);
    }
    // After the first connection that goes wrong, the rest are only counted
    // (a millisecond each), so a server that stops serving fails quickly.
    let mut deadline = Instant::now() + Duration::from_secs(60);
    let replies: Vec<Reply> = clients
        .iter()
        .zip(&messages)
        .map(|(c, m)| {
            let reply = await_echo(c, m, deadline);
            if !(reply == Reply::Echoed || (select && reply == Reply::Closed(0))) {
                deadline = Instant::now();
            }
            reply
        })
        .collect();
    let elapsed = start.elapsed();
    let echoed = replies.iter().filter(|r| **r == Reply::Echoed).count();
    let refused = replies
        .iter()
        .filter(|r| matches!(r, Reply::Closed(0)))
        .count();
    let figure = if select {
        format!(
            "{n} connections{scaled}: {echoed} echoed, {refused} refused, in {}",
            secs(elapsed)
        )
    } else {
        format!(
            "{n} connections{scaled}: {echoed} echoed in {} (connecting took {})",
            secs(elapsed),
            secs(connected_in)
        )
    };
    let bad = replies
        .iter()
        .enumerate()
        .find(|(_, r)| !(**r == Reply::Echoed || (select && **r == Reply::Closed(0))));
    if let Some((i, r)) = bad {
        return Err(with_server_state(
            &mut server,
            Failure::new(
                figure,
                format!("connection {}: {}", i + 1, r.describe(messages[i].len())),
            ),
        ));
    }
    if select {
        let first = n.min(SELECT_FIRST_SERVED);
        if let Some(i) = replies[..first].iter().position(|r| *r != Reply::Echoed) {
            return Err(Failure::new(
                figure,
                format!(
                    "connection {} was refused; the first {first} must be served",
                    i + 1
                ),
            ));
        }
        if expect_refusals {
            if refused + FD_SETSIZE < n {
                return Err(Failure::new(
                    figure,
                    format!(
                        "only {refused} refused: {n} connections cannot all fit below \
                         FD_SETSIZE ({FD_SETSIZE})"
                    ),
                ));
            }
            let said = server.wait_for_line(
                |l| {
                    let lower = l.to_lowercase();
                    lower.contains("refus") || lower.contains("fd_setsize")
                },
                Duration::from_secs(5),
            );
            if said.is_none() {
                return Err(Failure::new(
                    figure,
                    "no log line says a connection was refused (`refusing ...` or FD_SETSIZE)",
                ));
            }
        }
    }
    drop(clients);
    // Generous: with a thread per connection, thousands of threads end at
    // once, and on a loaded two-core machine that can take seconds.
    match echo_eventually(addr, b"after the crowd left\n", Duration::from_secs(30)) {
        Ok(took) => Ok(format!(
            "{figure}; a new client served {} after they left",
            secs(took)
        )),
        Err(e) => Err(with_server_state(
            &mut server,
            Failure::new(figure, format!("a new client after the others left: {e}")),
        )),
    }
}

/// Parallel clients in the churn check.
const CHURN_THREADS: usize = 4;

/// Check 6: `churn` connect / echo / close cycles from a few threads; then
/// the server's open descriptors (`/proc/PID/fd`) must come back to their
/// baseline.
pub(crate) fn churn(target: &Target, sizes: &Sizes) -> CheckResult {
    let mut server = target.start()?;
    let addr = server.addr();
    let pid = server.pid();
    // The baseline is taken after one connection: a server may still be
    // setting up (a spare descriptor, its poller) after its startup line.
    let warm_up = echo(addr, b"warm-up\n", Duration::from_secs(10));
    if let Err(e) = warm_up {
        return Err(with_server_state(
            &mut server,
            Failure::new("first connection not served", e),
        ));
    }
    let baseline = settled_fds(pid);
    let n = sizes.churn;
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(180);
    let errors: Vec<String> = thread::scope(|s| {
        let workers: Vec<_> = (0..CHURN_THREADS)
            .map(|_| {
                let next = &next;
                s.spawn(move || {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return None;
                        }
                        if Instant::now() > deadline {
                            return Some(format!(
                                "still at cycle {i} after {}",
                                secs(start.elapsed())
                            ));
                        }
                        let message = format!("cycle {i}\n");
                        if let Err(e) = echo(addr, message.as_bytes(), Duration::from_secs(10)) {
                            // Stop the other workers too.
                            next.store(n, Ordering::Relaxed);
                            return Some(format!("cycle {i}: {e}"));
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|w| w.join().unwrap_or(Some("worker panicked".into())))
            .collect()
    });
    let elapsed = start.elapsed();
    if let Some(e) = errors.first() {
        return Err(with_server_state(
            &mut server,
            Failure::new(format!("churn stopped after {}", secs(elapsed)), e.clone()),
        ));
    }
    let after = wait_for_fds(pid, baseline, Duration::from_secs(5));
    let figure = format!("{n} cycles in {}; fds {baseline} -> {after}", secs(elapsed));
    if after > baseline {
        return Err(Failure::new(
            figure,
            format!(
                "{} descriptors are still open 5 s after their clients closed: the server leaks",
                after - baseline
            ),
        ));
    }
    Ok(figure)
}
