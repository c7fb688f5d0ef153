//! Exercise 10: a clean stop for a server with one epoll loop per thread.
//!
//! Each loop is chapter 6's edge-triggered server (`epoll_edge::edge`), on
//! its own thread, with its own listener on the shared port. They serve
//! well, and die badly: SIGINT and SIGTERM kill the process, and with it
//! every connection, echo still owed or not. Make the server stop cleanly
//! instead: each loop delivers what it owes and half-closes, the process
//! exits 0 with one line that says why and how many connections it closed.
//! And since a clean stop may wait for a slow client, a second signal
//! meanwhile ends the process at once.
//!
//! Linux only. Read `exercises/10-clean-stop/README.md` first; grade your
//! work with `cargo run -p grade -- 10`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::io;
use std::net::TcpListener;
use std::os::fd::RawFd;
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

/// An echo server with one epoll loop per thread.
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

/// The signals that stop the server. (TODO: nothing uses them yet.)
#[allow(dead_code)]
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

    // TODO: SIGINT and SIGTERM (`STOP_SIGNALS`) kill the process as it is.
    // Block them here, before any thread starts, and open a signalfd for
    // them; and make the eventfd that will wake the loops.
    let listeners = listeners(&args.server, threads).unwrap_or_else(|e| exit_with_error(e));
    let _ = raise_fd_limit();
    let mut servers = Vec::with_capacity(threads);
    for listener in listeners {
        let epoll = Epoll::new().unwrap_or_else(|e| exit_with_error(e));
        // TODO: each loop's epoll instance watches the eventfd.
        let server = Server::new(epoll, listener, IN | ET, log, args.read_size)
            .unwrap_or_else(|e| exit_with_error(e));
        servers.push(server);
    }
    let port = servers
        .first()
        .and_then(Server::local_port)
        .unwrap_or(args.server.port);
    log.starting_up(&args.server.host, port);

    // TODO: the eventfd's descriptor. -1 is no descriptor at all, so no
    // event ever stops a loop yet.
    let stop_fd: RawFd = -1;
    let mut loops = Vec::with_capacity(threads);
    for server in servers {
        let spawned = thread::Builder::new()
            .name(format!("loop {}", loops.len()))
            .spawn(move || run_loop(server, stop_fd));
        loops.push(spawned.unwrap_or_else(|e| exit_with_error(e)));
    }

    // TODO: wait for SIGINT or SIGTERM on the signalfd, then wake every
    // loop with one write to the eventfd. While the loops stop, a second
    // signal ends the process at once, with exit status 1 and the line
    // `stopped by SIGINT again: N of M loops had not finished` (or
    // SIGTERM; "of 1 loop" for one). As it is, the main thread waits here
    // for loops that never end.
    let mut closed = 0;
    for handle in loops {
        closed += handle.join().unwrap_or_default();
    }
    // TODO: the last line, `stopped by SIGINT: closed N connections` (or
    // SIGTERM; "1 connection" for one), and exit status 0.
    let _ = closed;
    todo!("say which signal stopped the server and how many connections it closed")
}

/// One loop: chapter 6's server, until `stop` becomes readable; then a clean
/// stop. Returns how many connections it closed.
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
    // TODO: this loop's clean stop: no new clients, the echo each client is
    // owed delivered, every connection half-closed, and up to `GRACE` for
    // the clients to close theirs.
    let _ = (&mut server, GRACE);
    todo!("stop this loop cleanly, and return how many connections it closed")
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
