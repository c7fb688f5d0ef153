//! Reference solution to exercise 10 (`exercises/10-clean-stop`): an echo
//! server with one edge-triggered epoll loop per thread that stops cleanly on
//! SIGINT or SIGTERM, and at once on a second one.
//!
//! The signals are blocked before any thread starts and read from a
//! `signalfd` by the main thread. The first wakes every loop through an
//! `eventfd` that each loop's epoll instance watches; each loop then runs
//! the clean stop of chapter 6's `Server` and says so through a second
//! eventfd. Meanwhile the main thread waits on both descriptors: every loop
//! done ends the process with status 0, a second signal with status 1.
//!
//! Grade it with `cargo run -p grade -- --solution 10`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use clap::Parser;
use echo_common::{
    Log, SHARED_READ_SIZE, ServerArgs, exit_with_error, parse_args, parse_read_size,
    raise_fd_limit, resolve,
};
use epoll_edge::edge::Server;
use epoll_edge::epoll::{ET, Epoll, IN};
use socket2::{Domain, Socket, Type};

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
    // process, the first one and the second one alike.
    echo_sys::signal::block_signals(&STOP_SIGNALS).unwrap_or_else(|e| exit_with_error(e));
    let signals = File::from(
        echo_sys::signal::signalfd(&STOP_SIGNALS).unwrap_or_else(|e| exit_with_error(e)),
    );
    // Written once to stop every loop. Kept open until the end: closing it
    // would take it out of the epoll instances before a loop saw the write.
    let stop = File::from(echo_sys::signal::eventfd().unwrap_or_else(|e| exit_with_error(e)));
    // Each loop adds 1 once its clean stop is over, so that the main thread
    // can wait for the loops and for a second signal at the same time.
    let finished = Arc::new(File::from(
        echo_sys::signal::eventfd().unwrap_or_else(|e| exit_with_error(e)),
    ));
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
        let finished = Arc::clone(&finished);
        let spawned = thread::Builder::new()
            .name(format!("loop {}", loops.len()))
            .spawn(move || {
                let closed = run_loop(server, stop_fd);
                // If this write failed, the main thread would wait for this
                // loop until a second signal: the way out stays open.
                let _ = (&*finished).write_all(&1u64.to_ne_bytes());
                closed
            });
        loops.push(spawned.unwrap_or_else(|e| exit_with_error(e)));
    }

    let signal = read_signal(&signals);
    // Every loop watches `stop`: one write wakes them all.
    if let Err(e) = (&stop).write_all(&1u64.to_ne_bytes()) {
        exit_with_error(format_args!("cannot wake the loops: {e}"));
    }
    wait_for_loops(&signals, &finished, threads, &log);
    let closed: usize = loops
        .into_iter()
        .map(|handle| handle.join().unwrap_or_default())
        .sum();
    log.always(format_args!(
        "stopped by {signal}: closed {closed} connection{}",
        if closed == 1 { "" } else { "s" }
    ));
}

/// Waits until all `loops` have said they are done on `finished`. A signal
/// before that ends the process at once, with status 1: whoever sends a
/// second one does not want to wait for the slowest client.
fn wait_for_loops(signals: &File, finished: &File, loops: usize, log: &Log) {
    let mut waiter = Epoll::new().unwrap_or_else(|e| exit_with_error(e));
    // Level-triggered: a readable descriptor is reported until it is read,
    // so nothing is lost between two waits.
    for fd in [signals, finished] {
        waiter
            .register(fd, IN)
            .unwrap_or_else(|e| exit_with_error(e));
    }
    let mut done = 0;
    let mut events = Vec::new();
    while done < loops {
        if let Err(e) = waiter.wait(&mut events, None) {
            exit_with_error(format_args!("epoll_wait failed: {e}"));
        }
        for &(fd, _) in &events {
            if fd == signals.as_raw_fd() {
                let again = read_signal(signals);
                log.always(format_args!(
                    "stopped by {again} again: {} of {loops} loop{} had not finished",
                    loops - done,
                    if loops == 1 { "" } else { "s" }
                ));
                // The kernel closes what is left, as it would have without
                // a clean stop.
                std::process::exit(1);
            }
            if fd == finished.as_raw_fd() {
                done += read_count(finished);
            }
        }
    }
}

/// One loop: chapter 6's server, until `stop` becomes readable; then its
/// clean stop. Returns how many connections it closed.
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
    let addr = resolve(&args.host, args.port)
        .map_err(|e| format!("cannot resolve host '{}': {e}", args.host))?;
    let failed = |e: io::Error| {
        format!(
            "cannot listen on {} port {} ({addr}): {e}; try another --port, or --port 0 for a free one",
            args.host, args.port
        )
    };
    let bind = |addr: std::net::SocketAddr| -> io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.bind(&addr.into())?;
        socket.listen(echo_common::net::BACKLOG)?;
        socket.set_nonblocking(true)?;
        Ok(socket.into())
    };
    let first = bind(addr).map_err(failed)?;
    // With `--port 0` the first bind picked the port; the others join it.
    let addr = first.local_addr().map_err(failed)?;
    let mut listeners = vec![first];
    while listeners.len() < loops {
        listeners.push(bind(addr).map_err(failed)?);
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
