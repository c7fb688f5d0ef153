//! epoll-threads: one edge-triggered epoll loop per core, and a clean stop.
//!
//! Each loop is chapter 7's edge-triggered server (`epoll_edge::edge`), on
//! its own thread, with its own epoll instance and its own clients: a
//! connection stays on the loop that accepted it. The loops share the port in
//! one of three ways (`--balance`):
//! - `reuseport` (the default): each loop has a listener of its own, bound to
//!   the same port with `SO_REUSEPORT`; the kernel hands each new connection
//!   to one of them, by a hash of its addresses;
//! - `exclusive`: one listener, registered in every loop's epoll instance
//!   with `EPOLLEXCLUSIVE`, so a new connection wakes one loop (or a few);
//! - `shared`: one listener in every instance, level-triggered, without
//!   `EPOLLEXCLUSIVE`: every loop wakes for every connection, one wins the
//!   `accept` and the others find nothing. This is the "thundering herd",
//!   kept to be measured (`--stats`).
//!
//! SIGINT and SIGTERM stop the server cleanly: they are blocked in every
//! thread and read from a `signalfd` by the main thread, which wakes every
//! loop through an `eventfd` that each loop watches. Each loop then stops
//! accepting, delivers the echo it owes, half-closes its connections and
//! waits up to two seconds for their clients to close.
//!
//! Run it with `cargo run -p epoll-threads`, then `cargo run -p multiclient`
//! in a second terminal; stop it with Ctrl-C.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::thread;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use echo_common::{
    Log, SHARED_READ_SIZE, ServerArgs, exit_with_error, listen, listen_reuse_port, parse_args,
    parse_read_size, raise_fd_limit,
};
use epoll_edge::edge::{AcceptStats, Server};
use epoll_edge::epoll::{ET, EXCLUSIVE, Epoll, Events, IN};

/// An echo server with one epoll loop per thread.
#[derive(Parser)]
#[command(name = "epoll-threads")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// How many loops, each on a thread of its own (default: the number of
    /// CPUs)
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// How the loops share the port
    #[arg(long, value_enum, default_value_t = Balance::Reuseport)]
    balance: Balance,
    /// At exit, print for each loop the connections it accepted, the times
    /// the listener woke it, and the accepts that found nobody
    #[arg(long)]
    stats: bool,
    /// The most bytes read from a socket in one call (one buffer per loop)
    #[arg(long, value_name = "BYTES", default_value_t = SHARED_READ_SIZE, value_parser = parse_read_size)]
    read_size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Balance {
    /// A listener per loop, bound with SO_REUSEPORT: the kernel spreads the
    /// connections
    Reuseport,
    /// One listener, registered with EPOLLEXCLUSIVE: one loop wakes
    Exclusive,
    /// One listener, registered plainly: every loop wakes (the herd)
    Shared,
}

/// The signals that stop the server cleanly.
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

    // ANCHOR: setup
    // Blocked before any other thread starts, so every thread inherits the
    // mask: a SIGINT then waits for the signalfd instead of killing us.
    echo_sys::signal::block_signals(&STOP_SIGNALS).unwrap_or_else(|e| exit_with_error(e));
    let signals = echo_sys::signal::signalfd(&STOP_SIGNALS).unwrap_or_else(|e| exit_with_error(e));
    // Kept open until every loop has stopped: closing it would take it out
    // of the epoll instances, and a loop could miss the write.
    let stop = File::from(echo_sys::signal::eventfd().unwrap_or_else(|e| exit_with_error(e)));
    let listeners =
        listeners(&args.server, args.balance, threads).unwrap_or_else(|e| exit_with_error(e));
    let _ = raise_fd_limit();
    // Every loop is ready before the startup line: its epoll instance, its
    // spare descriptor and its watch on `stop` exist once clients can come.
    let mut servers = Vec::with_capacity(threads);
    for (listener, listener_events) in listeners {
        let epoll = Epoll::new().unwrap_or_else(|e| exit_with_error(e));
        // Edge-triggered: the one write that stops the server is one event
        // for each loop, however long the clean stop then takes.
        epoll
            .register(&stop, IN | ET)
            .unwrap_or_else(|e| exit_with_error(e));
        let server = Server::new(epoll, listener, listener_events, log, args.read_size)
            .unwrap_or_else(|e| exit_with_error(e));
        servers.push(server);
    }
    let port = servers[0].local_port().unwrap_or(args.server.port);
    log.starting_up(&args.server.host, port);

    let stop_fd = stop.as_raw_fd();
    let mut loops = Vec::with_capacity(threads);
    for server in servers {
        let spawned = thread::Builder::new()
            .name(format!("loop {}", loops.len()))
            .spawn(move || run_loop(server, stop_fd));
        loops.push(spawned.unwrap_or_else(|e| exit_with_error(e)));
    }
    // ANCHOR_END: setup

    // ANCHOR: stop
    let signal = wait_for_signal(signals);
    // Every loop watches `stop`: one write wakes them all.
    if let Err(e) = (&stop).write_all(&1u64.to_ne_bytes()) {
        exit_with_error(format_args!("cannot wake the loops: {e}"));
    }
    let mut closed = 0;
    for (i, handle) in loops.into_iter().enumerate() {
        let (stats, n, sleeps) = handle.join().unwrap_or_default();
        closed += n;
        if args.stats {
            log.always(format_args!(
                "loop {i}: accepted {}; the listener was reported {} times, {} of them with \
                 nobody left to accept; the thread slept {sleeps} times",
                stats.accepted, stats.wakeups, stats.empty
            ));
        }
    }
    log.always(format_args!(
        "stopped by {signal}: closed {closed} connection{}",
        if closed == 1 { "" } else { "s" }
    ));
    // ANCHOR_END: stop
}

// ANCHOR: loop
/// One loop: chapter 7's server, until `stop` becomes readable; then a clean
/// stop. Returns what the listener did, how many connections it closed and
/// how many times the thread slept.
fn run_loop(mut server: Server, stop: RawFd) -> (AcceptStats, usize, u64) {
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
    let closed = server.shut_down(&mut events, GRACE);
    (server.stats, closed, sleeps_so_far())
}

/// How many times this thread has gone to sleep so far (its voluntary
/// context switches): every wake-up that found nothing to do costs one,
/// including those that `epoll_wait` absorbs without returning.
fn sleeps_so_far() -> u64 {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}
// ANCHOR_END: loop

// ANCHOR: listeners
/// The listening sockets, one per loop, each with the events its loop
/// registers it for.
fn listeners(
    args: &ServerArgs,
    balance: Balance,
    loops: usize,
) -> Result<Vec<(TcpListener, Events)>, String> {
    let (listeners, events) = match balance {
        Balance::Reuseport => (listen_reuse_port(args, loops)?, IN | ET),
        Balance::Exclusive | Balance::Shared => {
            // One socket, and another descriptor for it per loop.
            let one = listen(args)?;
            let mut same = Vec::with_capacity(loops);
            for _ in 1..loops {
                same.push(
                    one.try_clone()
                        .map_err(|e| format!("cannot share the listener: {e}"))?,
                );
            }
            same.push(one);
            let events = if balance == Balance::Exclusive {
                IN | EXCLUSIVE
            } else {
                IN
            };
            (same, events)
        }
    };
    listeners
        .into_iter()
        .map(|l| {
            l.set_nonblocking(true)
                .map_err(|e| format!("cannot make the listener non-blocking: {e}"))?;
            Ok((l, events))
        })
        .collect()
}
// ANCHOR_END: listeners

/// Blocks until SIGINT or SIGTERM, and names it.
fn wait_for_signal(signals: OwnedFd) -> &'static str {
    let mut info = [0u8; 128];
    let mut signals = File::from(signals);
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
