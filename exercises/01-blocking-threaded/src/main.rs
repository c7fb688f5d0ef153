//! Exercise 1: a thread per connection, and a pool to cap them.
//!
//! The server gives every client a thread of its own, as the chapter does.
//! `--pool N` is on the command line but not written yet: make it serve with
//! a fixed pool of N threads, so that the server never runs more than N
//! clients at once and client N+1 waits for a free thread.
//!
//! Read `exercises/01-blocking-threaded/README.md` first; grade your work
//! with `cargo run -p grade -- 01`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;

use clap::Parser;
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, READ_SIZE, ServerArgs, SpareFd, accept_action,
    exit_with_error, listen, parse_args, raise_fd_limit,
};

/// An echo server with a thread per connection, or a pool of threads.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Serve with a fixed pool of N threads; client N+1 waits for a free one
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pool: Option<u16>,
}

/// Each thread's stack. Rust's default is 2 MiB: 10,000 clients would reserve
/// 20 GiB of address space, which a system that does not overcommit memory (or
/// a `ulimit -v`) refuses. A thread here holds one read buffer and formats a
/// log line, so 64 KiB leaves ample room.
const STACK_SIZE: usize = 64 * 1024;

fn main() {
    let args: Args = parse_args();
    let log = Log::new(args.server.quiet);

    let listener = listen(&args.server).unwrap_or_else(|e| exit_with_error(e));
    // A descriptor per client: let the process have as many as allowed.
    let _ = raise_fd_limit();
    let port = listener.local_addr().map_or(args.server.port, |a| a.port());
    log.starting_up(&args.server.host, port);

    match args.pool {
        None => accept_loop(&listener, log, |stream, peer| {
            spawn_client(stream, peer, log)
        }),
        Some(n) => run_pool(&listener, log, n),
    }
}

/// A new thread for this client, named after it (the name shows in panic
/// messages, debuggers and `top -H`).
fn spawn_client(stream: TcpStream, peer: SocketAddr, log: Log) {
    let spawned = thread::Builder::new()
        .name(format!("client {peer}"))
        .stack_size(STACK_SIZE)
        .spawn(move || serve(stream, peer, log));
    // Out of threads or memory: this client is dropped (the closure, and
    // with it the socket, is dropped too), the server goes on.
    if let Err(e) = spawned {
        log.dropping(peer, &e);
    }
}

/// Starts `n` workers that take clients from a channel, then accepts clients
/// and hands each to a free worker.
fn run_pool(listener: &TcpListener, log: Log, n: u16) {
    // TODO: start `n` worker threads (`thread::Builder`, named, with
    // `STACK_SIZE`), each taking clients from a channel and calling `serve`
    // for each. Then run `accept_loop` and hand every client to the channel.
    // With every worker busy, client n+1 must wait: it gets no echo until
    // one of the first n leaves.
    let _ = (listener, log);
    todo!("serve with a pool of {n} threads")
}

/// Accepts clients one at a time, forever, and passes each to `hand_off`.
fn accept_loop(
    listener: &TcpListener,
    log: Log,
    mut hand_off: impl FnMut(TcpStream, SocketAddr),
) -> ! {
    let mut spare = SpareFd::new().unwrap_or_else(|e| exit_with_error(e));
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                log.new_connection(peer);
                hand_off(stream, peer);
            }
            Err(e) => match accept_action(&e) {
                // The client gave up before we took it: nothing to do.
                AcceptAction::Retry => {}
                AcceptAction::ShedOne => shed_or_wait(listener, &mut spare, &e, log),
                // Trying again at once would fail the same way.
                AcceptAction::Pause => {
                    log.accept_failed(&e);
                    thread::sleep(ACCEPT_PAUSE);
                }
            },
        }
    }
}

/// Linux looks for a free descriptor before it looks for a client, so at the
/// limit `accept` fails at once, client or not: calling it again straight
/// away would spin a core. If a client is waiting, it is taken with the spare
/// descriptor and closed (it sees the close instead of hanging); if none is
/// (or the spare is gone), we sleep a little, while other threads may close
/// their clients.
fn shed_or_wait(listener: &TcpListener, spare: &mut SpareFd, err: &io::Error, log: Log) {
    // Non-blocking for this one call, or with no client waiting it would
    // block while holding the last descriptor.
    let shed = listener
        .set_nonblocking(true)
        .ok()
        .and_then(|()| spare.shed(listener));
    let _ = listener.set_nonblocking(false);
    match shed {
        Some(peer) => log.refusing(Some(peer), "out of file descriptors"),
        None => {
            log.accept_failed(err);
            thread::sleep(ACCEPT_PAUSE);
        }
    }
}

/// Echoes one client until it has sent everything. Both calls block, so this
/// thread holds no queue: it does not read more until its last read is sent,
/// and a client that does not read its echo just stalls its own thread.
fn serve(mut stream: TcpStream, peer: SocketAddr, log: Log) {
    // Echoes go out at once (no Nagle delay), and urgent data stays in the
    // stream, to be echoed like any other byte.
    if let Err(e) = echo_common::tune_connection(&stream) {
        log.dropping(peer, &e);
        return;
    }
    let mut data = [0u8; READ_SIZE];
    loop {
        match stream.read(&mut data) {
            // Zero bytes: the client will send no more, and all it sent has
            // been echoed. Dropping the stream closes the socket.
            Ok(0) => {
                log.closing(peer);
                return;
            }
            Ok(n) => {
                log.received(peer, &data[..n]);
                log.sending(peer, &data[..n]);
                // write_all loops over partial writes (and signals) for us.
                if let Err(e) = stream.write_all(&data[..n]) {
                    log.dropping(peer, &e);
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log.dropping(peer, &e);
                return;
            }
        }
    }
}
