//! Chapter 1, blocking-threaded: every call blocks, so every client gets a thread.
//!
//! The main thread blocks in `accept`; each connection is handed to a thread
//! that blocks in `read` and then in `write_all`, echoing until the client is
//! done. Nothing here multiplexes: the kernel's scheduler does, one thread per
//! client. `--pool N` serves with a fixed set of N threads instead, fed through
//! a channel, to show what a pool fixes (threads are not created and destroyed
//! per client) and what it does not (client N+1 waits until one of the first N
//! leaves).
//!
//! Run it with `cargo run -p blocking-threaded` (or
//! `cargo run -p blocking-threaded -- --pool 2`), then `cargo run -p multiclient`
//! in a second terminal. The book's chapter "blocking-threaded" walks through
//! this file.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use clap::Parser;
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, PyAddr, ServerArgs, SpareFd, accept_action, exit_with_error,
    listen, parse_args, parse_read_size, raise_fd_limit,
};

/// An echo server with a thread per connection, or a pool of threads.
#[derive(Parser)]
#[command(name = "blocking-threaded")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The most bytes read from a socket in one call (each connection's
    /// thread has a buffer of its own, of this size)
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_READ_SIZE, value_parser = parse_read_size)]
    read_size: usize,
    /// Serve with a fixed pool of N threads; client N+1 waits for a free one
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pool: Option<u16>,
}

/// The default `--read-size`. Each thread's buffer costs memory per
/// connection, and each read a system call: measured with 16 KiB messages,
/// 16 KiB reads cost about half the CPU per round trip of 4 KiB ones, for
/// 10 to 12 KiB more resident memory per connection; 64 KiB reads saved
/// no more CPU and cost twice that memory.
const DEFAULT_READ_SIZE: usize = 16 * 1024;

// ANCHOR: stack
/// Each thread's stack. Rust's default is 2 MiB: 10,000 clients would reserve
/// 20 GiB of address space, which a system that does not overcommit memory (or
/// a `ulimit -v`) refuses. A thread here holds one read buffer and formats a
/// log line, so 64 KiB leaves ample room.
const STACK_SIZE: usize = 64 * 1024;
// ANCHOR_END: stack

fn main() {
    let args: Args = parse_args();
    let log = Log::new(args.server.quiet);

    // ANCHOR: setup
    let listener = listen(&args.server).unwrap_or_else(|e| exit_with_error(e));
    // A descriptor per client: let the process have as many as allowed.
    let _ = raise_fd_limit();
    let port = listener.local_addr().map_or(args.server.port, |a| a.port());
    log.starting_up(&args.server.host, port);
    // ANCHOR_END: setup

    let read_size = args.read_size;
    match args.pool {
        None => accept_loop(&listener, log, |stream, peer| {
            spawn_client(stream, peer, log, read_size)
        }),
        Some(n) => run_pool(&listener, log, n, read_size),
    }
}

// ANCHOR: spawn
/// A new thread for this client, named after it (the name shows in panic
/// messages and debuggers; `top -H` shows its first 15 bytes).
fn spawn_client(stream: TcpStream, peer: SocketAddr, log: Log, read_size: usize) {
    let spawned = thread::Builder::new()
        .name(format!("client {peer}"))
        .stack_size(STACK_SIZE)
        .spawn(move || serve(stream, peer, log, read_size));
    // Out of threads or memory: this client is dropped (the closure, and
    // with it the socket, is dropped too), the server goes on.
    if let Err(e) = spawned {
        log.dropping(peer, &e);
    }
}
// ANCHOR_END: spawn

// ANCHOR: pool
/// Starts `n` workers that take clients from a channel, then accepts clients
/// and hands each to a free worker.
fn run_pool(listener: &TcpListener, log: Log, n: u16, read_size: usize) {
    // Capacity 0: a hand-off completes only when a worker takes the client.
    let (handoff, clients) = crossbeam_channel::bounded::<(TcpStream, SocketAddr)>(0);
    // How many workers are serving a client (only used to say so in the log).
    let busy = Arc::new(AtomicUsize::new(0));
    for i in 1..=n {
        let (clients, busy) = (clients.clone(), Arc::clone(&busy));
        let worker = move || {
            for (stream, peer) in clients {
                busy.fetch_add(1, Ordering::Relaxed);
                // A panic while serving one client must not shrink the pool.
                let _ = catch_unwind(AssertUnwindSafe(|| serve(stream, peer, log, read_size)));
                busy.fetch_sub(1, Ordering::Relaxed);
            }
        };
        thread::Builder::new()
            .name(format!("worker {i}"))
            .stack_size(STACK_SIZE)
            .spawn(worker)
            .unwrap_or_else(|e| exit_with_error(format_args!("cannot start worker {i}: {e}")));
    }
    accept_loop(listener, log, |stream, peer| {
        if busy.load(Ordering::Relaxed) >= usize::from(n) {
            // This client is connected but gets no echo until a worker is
            // free, and while we wait here later clients are not even
            // accepted: they queue in the kernel's listen backlog.
            log.event(format_args!(
                "all {n} workers are busy; {} waits for one",
                PyAddr(peer)
            ));
        }
        if handoff.send((stream, peer)).is_err() {
            exit_with_error("every worker has stopped");
        }
    });
}
// ANCHOR_END: pool

// ANCHOR: accept
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
// ANCHOR_END: accept

// ANCHOR: shed
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
// ANCHOR_END: shed

// ANCHOR: serve
/// Echoes one client until it has sent everything. Both calls block, so this
/// thread holds no queue: it does not read more until its last read is sent,
/// and a client that does not read its echo just stalls its own thread.
fn serve(mut stream: TcpStream, peer: SocketAddr, log: Log, read_size: usize) {
    // Echoes go out at once (no Nagle delay), and urgent data stays in the
    // stream, to be echoed like any other byte.
    if let Err(e) = echo_common::tune_connection(&stream) {
        log.dropping(peer, &e);
        return;
    }
    // On the heap: the thread's stack is small (`STACK_SIZE`).
    let mut data = vec![0u8; read_size];
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
// ANCHOR_END: serve
