// BEGIN SOLUTION
//! Reference solution to exercise 1 (`exercises/01-blocking-threaded`): a
//! thread per connection by default; with `--pool N`, N workers, and while
//! all N are busy a new client gets one line saying so and then end-of-file,
//! at once, never a reset. One thread, whatever the number of refused
//! clients, reads and throws away what they still send until they close.
//!
//! Grade it with `cargo run -p grade -- --solution 01`.
// STARTER
//| //! Exercise 1: a pool that says no.
//| //!
//| //! This is the server of the blocking-threaded chapter. With `--pool N`,
//| //! client N+1 is accepted and then hears nothing until one of the first N
//| //! leaves. Make it hear, at once, one line saying that every worker is
//| //! busy, then end-of-file: never silence, and never a reset.
//| //!
//| //! Read `exercises/01-blocking-threaded/README.md` first; grade your work
//| //! with `cargo run -p grade -- 01`.
// END SOLUTION
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

// BEGIN SOLUTION
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
// STARTER
//| use std::io::{self, Read, Write};
//| use std::net::{SocketAddr, TcpListener, TcpStream};
//| use std::panic::{AssertUnwindSafe, catch_unwind};
//| use std::sync::Arc;
//| use std::sync::atomic::{AtomicUsize, Ordering};
//| use std::thread;
//|
//| use clap::Parser;
// END SOLUTION
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, PyAddr, READ_SIZE, ServerArgs, SpareFd, accept_action,
    exit_with_error, listen, parse_args, parse_read_size, raise_fd_limit,
};

/// An echo server with a thread per connection, or a pool of threads.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The most bytes read from a socket in one call (each connection has a
    /// buffer of its own, so the default is small)
    #[arg(long, value_name = "BYTES", default_value_t = READ_SIZE, value_parser = parse_read_size)]
    read_size: usize,
    // BEGIN SOLUTION
    /// Serve with a fixed pool of N threads; while all N are busy, a new
    /// client is told so and its connection closed
    // STARTER
    //| /// Serve with a fixed pool of N threads; client N+1 waits for a free one
    // END SOLUTION
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pool: Option<u16>,
}

/// Each thread's stack. Rust's default is 2 MiB: 10,000 clients would reserve
/// 20 GiB of address space, which a system that does not overcommit memory (or
/// a `ulimit -v`) refuses. A thread here holds one read buffer and formats a
/// log line, so 64 KiB leaves ample room.
const STACK_SIZE: usize = 64 * 1024;
// BEGIN SOLUTION

/// How long a refused client may take to close its side of the connection
/// before the server closes it anyway.
const LINGER: Duration = Duration::from_secs(2);

/// How often the drain thread reads from the refused clients it holds.
/// Nothing is urgent there: unread bytes do no harm until the close.
const DRAIN_TICK: Duration = Duration::from_millis(20);

/// The most refused clients held at once (each holds a descriptor). Past
/// it, the oldest is closed first: it has had the longest to read its line.
const MAX_DRAINING: usize = 512;

/// Reads of `DRAIN_READ` bytes per refused client per pass, at most: a
/// client that keeps sending cannot hold up the others.
const DRAIN_READS: usize = 4;
const DRAIN_READ: usize = 16 * 1024;
// END SOLUTION

fn main() {
    let args: Args = parse_args();
    let log = Log::new(args.server.quiet);

    let listener = listen(&args.server).unwrap_or_else(|e| exit_with_error(e));
    // A descriptor per client: let the process have as many as allowed.
    let _ = raise_fd_limit();
    let port = listener.local_addr().map_or(args.server.port, |a| a.port());
    log.starting_up(&args.server.host, port);

    let read_size = args.read_size;
    match args.pool {
        None => accept_loop(&listener, log, |stream, peer| {
            spawn_client(stream, peer, log, read_size)
        }),
        Some(n) => run_pool(&listener, log, n, read_size),
    }
}

/// A new thread for this client, named after it (the name shows in panic
/// messages, debuggers and `top -H`).
fn spawn_client(stream: TcpStream, peer: SocketAddr, log: Log, read_size: usize) {
    let spawned = thread::Builder::new()
        .name(format!("client {peer}"))
        .stack_size(STACK_SIZE)
        .spawn(move || serve(&stream, peer, log, read_size));
    // Out of threads or memory: this client is dropped (the closure, and
    // with it the socket, is dropped too), the server goes on.
    if let Err(e) = spawned {
        log.dropping(peer, &e);
    }
}

// BEGIN SOLUTION
/// Starts `n` workers that take clients from a channel, and the thread that
/// drains refused clients; then accepts clients and hands each to a free
/// worker, or, if none is free, refuses it.
fn run_pool(listener: &TcpListener, log: Log, n: u16, read_size: usize) {
    // Room for one client per worker: the accept loop sends only when it has
    // counted a free worker, so `send` never waits.
    let (handoff, clients) = crossbeam_channel::bounded::<(TcpStream, SocketAddr)>(n.into());
    // Workers serving a client or about to take one. Only the accept loop
    // adds to it, so two clients cannot both be promised the last free one.
    let busy = Arc::new(AtomicUsize::new(0));
    for i in 1..=n {
        let (clients, busy) = (clients.clone(), Arc::clone(&busy));
        let worker = move || {
            for (stream, peer) in clients {
                // A panic while serving one client must not shrink the pool.
                let _ = catch_unwind(AssertUnwindSafe(|| serve(&stream, peer, log, read_size)));
                // Free before the close: a client that has seen its
                // end-of-file and connects again finds this worker free.
                busy.fetch_sub(1, Ordering::Relaxed);
                drop(stream);
            }
        };
        thread::Builder::new()
            .name(format!("worker {i}"))
            .stack_size(STACK_SIZE)
            .spawn(worker)
            .unwrap_or_else(|e| exit_with_error(format_args!("cannot start worker {i}: {e}")));
    }
    // The drain thread takes the refused clients from here. The accept loop
    // only ever `try_send`s, so a full channel cannot make it wait.
    let (to_drain, refused) = crossbeam_channel::bounded::<Refused>(64);
    thread::Builder::new()
        .name("refused clients".into())
        .stack_size(STACK_SIZE)
        .spawn(move || drain_refused(&refused, log))
        .unwrap_or_else(|e| exit_with_error(format_args!("cannot start the drain thread: {e}")));
    let busy_line = format!("busy: {n} of {n} workers are serving clients; try again later\n");
    accept_loop(listener, log, |stream, peer| {
        if busy.load(Ordering::Relaxed) >= usize::from(n) {
            refuse(stream, peer, busy_line.as_bytes(), &to_drain, log);
            return;
        }
        busy.fetch_add(1, Ordering::Relaxed);
        if handoff.send((stream, peer)).is_err() {
            exit_with_error("every worker has stopped");
        }
    });
}

/// Tells a client that every worker is busy, ends the server's side of the
/// connection, and passes it to the drain thread. Nothing here waits: the
/// accept loop must be back in `accept` at once.
fn refuse(stream: TcpStream, peer: SocketAddr, line: &[u8], to_drain: &Sender<Refused>, log: Log) {
    log.event(format_args!(
        "refusing {}: every worker is busy",
        PyAddr(peer)
    ));
    // A new connection's send buffer is empty, so the short line fits in one
    // non-blocking write. `shutdown` then sends the FIN after it: the client
    // reads the line, then end-of-file.
    let told = stream
        .set_nonblocking(true)
        .and_then(|()| (&stream).write_all(line))
        .and_then(|()| stream.shutdown(Shutdown::Write));
    if let Err(e) = told {
        log.dropping(peer, &e);
        return;
    }
    // Not closed yet: closing a socket with bytes it has not read makes
    // Linux send a reset (RST) instead of the FIN, and the client reads
    // ECONNRESET where end-of-file should be, or fails in `write` and never
    // reads the line. The drain thread reads until the client closes.
    let refused = Refused {
        stream,
        peer,
        until: Instant::now() + LINGER,
    };
    if let Err(e) = to_drain.try_send(refused) {
        // The drain thread is behind: this one is closed now, reset or not.
        log.event(format_args!(
            "closing {}: too many refused clients at once",
            PyAddr(e.into_inner().peer)
        ));
    }
}

/// A refused client whose connection the server has half-closed: what it
/// still sends is read and thrown away until it closes, or `until` passes.
struct Refused {
    stream: TcpStream,
    peer: SocketAddr,
    until: Instant,
}

/// The drain thread: holds every refused client until it has closed its side
/// (or its time is up), so that none is closed with unread data. One thread
/// for all of them, however many are refused: it reads from each, without
/// blocking, once every `DRAIN_TICK`, and sleeps while it holds none.
fn drain_refused(arrivals: &Receiver<Refused>, log: Log) {
    let mut draining: VecDeque<Refused> = VecDeque::new();
    let mut scratch = vec![0u8; DRAIN_READ];
    let mut next_pass = Instant::now();
    loop {
        let arrival = if draining.is_empty() {
            arrivals.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            arrivals.recv_deadline(next_pass)
        };
        match arrival {
            Ok(refused) => {
                if draining.len() == MAX_DRAINING
                    && let Some(oldest) = draining.pop_front()
                {
                    log.event(format_args!(
                        "closing {}: too many refused clients at once",
                        PyAddr(oldest.peer)
                    ));
                }
                draining.push_back(refused);
            }
            Err(RecvTimeoutError::Timeout) => {}
            // The accept loop is gone, so is the process.
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // A flood of arrivals does not make passes more frequent.
        let now = Instant::now();
        if now < next_pass {
            continue;
        }
        draining.retain_mut(|refused| keep_draining(refused, &mut scratch, now, log));
        next_pass = now + DRAIN_TICK;
    }
}

/// Reads what one refused client has sent, and throws it away. Whether to
/// keep it: not once it has closed its side, its connection has failed, or
/// its time is up.
fn keep_draining(refused: &mut Refused, scratch: &mut [u8], now: Instant, log: Log) -> bool {
    for _ in 0..DRAIN_READS {
        match refused.stream.read(scratch) {
            // Everything it sent has been read: the close is a clean one.
            Ok(0) => {
                log.closing(refused.peer);
                return false;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log.dropping(refused.peer, &e);
                return false;
            }
        }
    }
    if now >= refused.until {
        log.event(format_args!(
            "closing {}: still connected {} s after it was refused",
            PyAddr(refused.peer),
            LINGER.as_secs()
        ));
        return false;
    }
    true
}
// STARTER
//| /// Starts `n` workers that take clients from a channel, then accepts clients
//| /// and hands each to a free worker.
//| fn run_pool(listener: &TcpListener, log: Log, n: u16, read_size: usize) {
//|     // Capacity 0: a hand-off completes only when a worker takes the client.
//|     let (handoff, clients) = crossbeam_channel::bounded::<(TcpStream, SocketAddr)>(0);
//|     // How many workers are serving a client (only used to say so in the log).
//|     let busy = Arc::new(AtomicUsize::new(0));
//|     for i in 1..=n {
//|         let (clients, busy) = (clients.clone(), Arc::clone(&busy));
//|         let worker = move || {
//|             for (stream, peer) in clients {
//|                 busy.fetch_add(1, Ordering::Relaxed);
//|                 // A panic while serving one client must not shrink the pool.
//|                 let _ = catch_unwind(AssertUnwindSafe(|| serve(&stream, peer, log, read_size)));
//|                 busy.fetch_sub(1, Ordering::Relaxed);
//|             }
//|         };
//|         thread::Builder::new()
//|             .name(format!("worker {i}"))
//|             .stack_size(STACK_SIZE)
//|             .spawn(worker)
//|             .unwrap_or_else(|e| exit_with_error(format_args!("cannot start worker {i}: {e}")));
//|     }
//|     accept_loop(listener, log, |stream, peer| {
//|         if busy.load(Ordering::Relaxed) >= usize::from(n) {
//|             // TODO: every worker is busy. Do not wait for one: send this
//|             // client one line that says so, then end-of-file, without a
//|             // reset even if it has sent data, and without holding up this
//|             // loop or starting a thread per refused client (see README.md).
//|             log.event(format_args!(
//|                 "all {n} workers are busy; {} waits for one",
//|                 PyAddr(peer)
//|             ));
//|         }
//|         if handoff.send((stream, peer)).is_err() {
//|             exit_with_error("every worker has stopped");
//|         }
//|     });
//| }
// END SOLUTION

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
fn serve(mut stream: &TcpStream, peer: SocketAddr, log: Log, read_size: usize) {
    // Echoes go out at once (no Nagle delay), and urgent data stays in the
    // stream, to be echoed like any other byte.
    if let Err(e) = echo_common::tune_connection(stream) {
        log.dropping(peer, &e);
        return;
    }
    // On the heap: the thread's stack is small (`STACK_SIZE`).
    let mut data = vec![0u8; read_size];
    loop {
        match stream.read(&mut data) {
            // Zero bytes: the client will send no more, and all it sent has
            // been echoed. The caller closes the socket (drops the stream).
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
