//! Exercise 10 (`exercises/10-clean-stop`): a clean stop with limits.
//!
//! The server is the epoll-threads chapter's, with a listener per loop
//! (`SO_REUSEPORT`): one edge-triggered epoll loop per thread, and the
//! chapter's clean stop. SIGINT and SIGTERM are blocked and read from a
//! signalfd; one write to an eventfd wakes every loop; each loop delivers
//! the echo it owes, half-closes, and waits up to 2 s for its clients.
//!
//! The exercise is the limits of that stop, for whoever asked for it: a
//! second signal during the stop ends the process at once, and so does the
//! end of `--stop-timeout MS`, each with exit status 1 and a line that
//! counts the loops that had not finished.
//!
//! Linux only. Read `exercises/10-clean-stop/README.md` first; grade the
//! work with `cargo run -p grade -- 10` (`--solution 10` grades the
//! reference solution in `exercises/solutions/10-clean-stop`).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
// BEGIN SOLUTION
use std::sync::Arc;
// END SOLUTION
use std::thread;
// BEGIN SOLUTION
use std::time::{Duration, Instant};
// STARTER
//| use std::time::Duration;
// END SOLUTION

use clap::Parser;
use echo_common::{
    Log, SHARED_READ_SIZE, ServerArgs, exit_with_error, listen_reuse_port, parse_args,
    parse_read_size, raise_fd_limit,
};
use epoll_edge::edge::Server;
use epoll_edge::epoll::{ET, Epoll, IN};

/// An echo server with one epoll loop per thread that stops cleanly.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// How many loops, each on a thread of its own (default: the number of
    /// CPUs)
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// The most bytes read from a socket in one call (one buffer per loop)
    #[arg(long, value_name = "BYTES", default_value_t = SHARED_READ_SIZE, value_parser = parse_read_size)]
    read_size: usize,
    /// The longest a stop may take, from the signal; then the process ends,
    /// whatever its loops are doing (default: no limit)
    #[arg(long, value_name = "MS")]
    stop_timeout: Option<u64>,
}

/// The signals that stop the server.
const STOP_SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// How long the loops wait for their clients to close after a stop.
const GRACE: Duration = Duration::from_secs(2);

fn main() {
    let args: Args = parse_args();
    let log = Log::new(args.server.quiet);
    let threads = args.threads.map_or_else(
        || thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    );

    // Blocked before any other thread starts, so every thread inherits the
    // mask: a signal stays pending for the signalfd instead of killing the
    // process, the first one and any that follows.
    echo_sys::signal::block_signals(&STOP_SIGNALS).unwrap_or_else(|e| exit_with_error(e));
    let signals = File::from(
        echo_sys::signal::signalfd(&STOP_SIGNALS).unwrap_or_else(|e| exit_with_error(e)),
    );
    // Written once to stop every loop. Kept open until the end: closing it
    // would take it out of the epoll instances before a loop saw the write.
    let stop = File::from(echo_sys::signal::eventfd().unwrap_or_else(|e| exit_with_error(e)));
    // BEGIN SOLUTION
    // Each loop adds 1 once its clean stop is over, so that the main thread
    // can wait for the loops, a second signal and the deadline at once.
    let finished = Arc::new(File::from(
        echo_sys::signal::eventfd().unwrap_or_else(|e| exit_with_error(e)),
    ));
    // END SOLUTION
    let listeners = listeners(&args.server, threads).unwrap_or_else(|e| exit_with_error(e));
    let _ = raise_fd_limit();
    // Every loop watches `stop` before the startup line: a client may come,
    // and a signal with it, as soon as the line is out.
    let mut servers = Vec::with_capacity(threads);
    for listener in listeners {
        let epoll = Epoll::new().unwrap_or_else(|e| exit_with_error(e));
        // Edge-triggered: the one write is one event for each loop, however
        // long its clean stop then takes.
        epoll
            .register(&stop, IN | ET)
            .unwrap_or_else(|e| exit_with_error(e));
        let server = Server::new(epoll, listener, IN | ET, log, args.read_size)
            .unwrap_or_else(|e| exit_with_error(e));
        servers.push(server);
    }
    let port = servers
        .first()
        .and_then(Server::local_port)
        .unwrap_or(args.server.port);
    log.starting_up(&args.server.host, port);

    let stop_fd = stop.as_raw_fd();
    let mut loops = Vec::with_capacity(threads);
    for server in servers {
        // BEGIN SOLUTION
        let finished = Arc::clone(&finished);
        let spawned = thread::Builder::new()
            .name(format!("loop {}", loops.len()))
            .spawn(move || {
                let closed = run_loop(server, stop_fd);
                // If this write failed, the main thread would wait for this
                // loop until a second signal or the deadline: a way out
                // stays open.
                let _ = (&*finished).write_all(&1u64.to_ne_bytes());
                closed
            });
        // STARTER
        //| let spawned = thread::Builder::new()
        //|     .name(format!("loop {}", loops.len()))
        //|     .spawn(move || run_loop(server, stop_fd));
        // END SOLUTION
        loops.push(spawned.unwrap_or_else(|e| exit_with_error(e)));
    }

    let signal = read_signal(&signals);
    // Every loop watches `stop`: one write wakes them all.
    if let Err(e) = (&stop).write_all(&1u64.to_ne_bytes()) {
        exit_with_error(format_args!("cannot wake the loops: {e}"));
    }
    // BEGIN SOLUTION
    let limit = args.stop_timeout.map(Duration::from_millis);
    wait_for_loops(&signals, &finished, threads, limit, &log);
    // STARTER
    //| // TODO: the stop has its limits. A second SIGINT or SIGTERM during it
    //| // ends the process at once, with exit status 1 and the line
    //| // `stopped by SIGINT again: N of M loops had not finished`; so does
    //| // the end of `--stop-timeout MS`, counted from the first signal, with
    //| // `stop timed out after MS ms: N of M loops had not finished`. As it
    //| // is, the main thread joins the loops one after the other, and
    //| // notices neither.
    //| if let Some(ms) = args.stop_timeout {
    //|     todo!("end the stop {ms} ms after the signal if the loops are not done by then")
    //| }
    // END SOLUTION
    let closed: usize = loops
        .into_iter()
        .map(|handle| handle.join().unwrap_or_default())
        .sum();
    log.always(format_args!(
        "stopped by {signal}: closed {closed} connection{}",
        if closed == 1 { "" } else { "s" }
    ));
}

// BEGIN SOLUTION
/// Waits until all `loops` have said they are done on `finished`. A second
/// signal before that, or the end of `limit`, ends the process at once,
/// with status 1: whoever stops the server does not want to wait for the
/// slowest client. The kernel then closes what is left, as it would have
/// without a clean stop.
fn wait_for_loops(
    signals: &File,
    finished: &File,
    loops: usize,
    limit: Option<Duration>,
    log: &Log,
) {
    let deadline = limit.map(|l| Instant::now() + l);
    let mut waiter = Epoll::new().unwrap_or_else(|e| exit_with_error(e));
    // Level-triggered: a readable descriptor is reported until it is read,
    // so nothing is lost between two waits.
    for fd in [signals, finished] {
        waiter
            .register(fd, IN)
            .unwrap_or_else(|e| exit_with_error(e));
    }
    let unfinished = |done: usize| {
        format!(
            "{} of {loops} loop{} had not finished",
            loops - done,
            if loops == 1 { "" } else { "s" }
        )
    };
    let mut done = 0;
    let mut events = Vec::new();
    while done < loops {
        // The wait is cut at the deadline, so each turn asks again how much
        // time is left rather than waiting the whole limit anew.
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if let (Some(limit), Some(Duration::ZERO)) = (limit, left) {
            log.always(format_args!(
                "stop timed out after {} ms: {}",
                limit.as_millis(),
                unfinished(done)
            ));
            std::process::exit(1);
        }
        if let Err(e) = waiter.wait(&mut events, left) {
            exit_with_error(format_args!("epoll_wait failed: {e}"));
        }
        for &(fd, _) in &events {
            if fd == signals.as_raw_fd() {
                let again = read_signal(signals);
                log.always(format_args!(
                    "stopped by {again} again: {}",
                    unfinished(done)
                ));
                std::process::exit(1);
            }
            if fd == finished.as_raw_fd() {
                done += read_count(finished);
            }
        }
    }
}

// END SOLUTION
/// One loop: the epoll-edge chapter's server, until `stop` becomes
/// readable; then its clean stop. Returns how many connections it closed.
fn run_loop(mut server: Server, stop: RawFd) -> usize {
    let mut events = Vec::new();
    loop {
        if let Err(e) = server.turn(&mut events) {
            exit_with_error(format_args!("epoll_wait failed: {e}"));
        }
        // `turn` leaves in `events` only what is not the server's own.
        if events.iter().any(|&(fd, _)| fd == stop) {
            break;
        }
    }
    server.shut_down(&mut events, GRACE)
}

/// The listening sockets, one per loop, bound to the same port with
/// `SO_REUSEPORT`: the kernel hands each new connection to one of them.
fn listeners(args: &ServerArgs, loops: usize) -> Result<Vec<TcpListener>, String> {
    let listeners = listen_reuse_port(args, loops)?;
    for listener in &listeners {
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("cannot make the listener non-blocking: {e}"))?;
    }
    Ok(listeners)
}

/// Reads one signal from the signalfd (blocking until there is one) and
/// names it.
fn read_signal(mut signals: &File) -> &'static str {
    let mut info = [0u8; 128];
    loop {
        match signals.read_exact(&mut info) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => exit_with_error(format_args!("cannot read the signals: {e}")),
        }
    }
    // `struct signalfd_siginfo` starts with the signal number.
    match u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) {
        n if n == libc::SIGINT as u32 => "SIGINT",
        _ => "SIGTERM",
    }
}
// BEGIN SOLUTION

/// Reads an eventfd's counter, which resets it: the sum of the numbers
/// written since the last read. 0 if there was nothing to read after all:
/// the eventfd does not block.
fn read_count(mut eventfd: &File) -> usize {
    let mut count = [0u8; 8];
    match eventfd.read(&mut count) {
        Ok(8) => usize::try_from(u64::from_ne_bytes(count)).unwrap_or(usize::MAX),
        _ => 0,
    }
}
// END SOLUTION
