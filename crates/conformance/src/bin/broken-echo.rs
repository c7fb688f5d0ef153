//! A thread-per-connection echo server that can be told to be wrong in one
//! way at a time (`--fault NAME`), so the conformance suite's own tests can
//! show that each check fails when it should. Without `--fault` it is a
//! correct server: blocking writes give it backpressure for free, each
//! connection's thread takes its turn from the scheduler, urgent data
//! stays in the stream (`SO_OOBINLINE`), and SIGINT or SIGTERM stop it
//! cleanly (the suite's opt-in `shutdown` check).
//!
//! Not a chapter: nothing here is meant to be copied.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use echo_common::net::{is_out_of_fds, is_transient_accept_error};
use echo_common::{Log, ServerArgs, exit_with_error, listen, parse_args, raise_fd_limit};

/// An echo server with one deliberate fault, to test the tests.
#[derive(Parser)]
#[command(name = "broken-echo")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The fault to have (none: a correct server)
    #[arg(long, value_enum)]
    fault: Option<Fault>,
}

/// Each fault breaks one check of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Fault {
    /// Loses one byte in every 64 KiB (integrity).
    DropBytes,
    /// Echoes in 64 KiB batches and closes at end-of-file without sending
    /// the last one (half-close).
    CloseOnEof,
    /// Exits when a client resets its connection (reset).
    ExitOnReset,
    /// Reads everything a client sends into memory, whether or not it reads
    /// its echo (slow-reader).
    NoBackpressure,
    /// Stops accepting after 500 connections (many-connections).
    StopAccepting,
    /// Never closes a finished connection's descriptor (churn).
    LeakFds,
    /// Dies when it notices it was stopped, as a loop that treats EINTR as
    /// fatal does (stop-continue).
    DieAfterStop,
    /// Retries `accept` at once when out of descriptors (out-of-fds).
    SpinOnEmfile,
    /// Keeps a thread spinning (idle-cost).
    BusyIdle,
    /// Panics (several lines) instead of printing an error (bad-arguments).
    PanicOnBadArgs,
    /// Echoes while holding a lock every connection shares, and keeps it for
    /// up to 200 ms while reads come back full: one busy client holds up
    /// all the others (fairness).
    Greedy,
    /// Leaves `SO_OOBINLINE` off, so an urgent byte is set aside out of
    /// band, where plain reads never see it (urgent).
    NoOobInline,
    /// Stops reading at 256 KiB queued, as it should, but queues each read
    /// in a 64 KiB buffer of its own, however few bytes it holds (trickle).
    PinnedBuffers,
    /// Catches SIGINT and SIGTERM, but then sets `SO_LINGER` 0 on every
    /// connection and exits at once: its clients get a reset instead of
    /// their echo and end-of-file (shutdown).
    ResetOnStop,
}

const CHUNK: usize = 64 * 1024;
/// How long a greedy connection keeps the lock while its reads come back full.
const GREEDY_TURN: Duration = Duration::from_millis(200);
/// Queued bytes at which a pinned-buffers connection stops reading.
const PENDING_LIMIT: usize = 256 * 1024;

fn main() {
    let args: Args = parse_args();
    let fault = args.fault;
    let log = Log::new(args.server.quiet);
    let listener = if fault == Some(Fault::PanicOnBadArgs) {
        #[allow(clippy::unwrap_used)]
        listen(&args.server).unwrap()
    } else {
        listen(&args.server).unwrap_or_else(|e| exit_with_error(e))
    };
    let _ = raise_fd_limit();
    let port = listener.local_addr().map_or(args.server.port, |a| a.port());
    let on_stop: Option<fn(OwnedFd, Log)> = match fault {
        None => Some(clean_stop),
        Some(Fault::ResetOnStop) => Some(reset_on_stop),
        // The other faults stop the old way, killed by the signal.
        Some(_) => None,
    };
    if let Some(on_stop) = on_stop {
        // Before any other thread starts, so that every thread has the
        // signals blocked and they wait for the signalfd.
        let signals = echo_sys::signal::block_signals(&STOP_SIGNALS)
            .and_then(|()| echo_sys::signal::signalfd(&STOP_SIGNALS))
            .unwrap_or_else(|e| exit_with_error(e));
        thread::spawn(move || on_stop(signals, log));
    }
    log.starting_up(&args.server.host, port);
    if fault == Some(Fault::BusyIdle) {
        thread::spawn(|| {
            loop {
                std::hint::spin_loop();
            }
        });
    }
    if fault == Some(Fault::DieAfterStop) {
        thread::spawn(|| {
            loop {
                let before = Instant::now();
                thread::sleep(Duration::from_millis(20));
                if before.elapsed() > Duration::from_millis(150) {
                    exit_with_error("wait failed: Interrupted system call (os error 4)");
                }
            }
        });
    }
    accept_loop(&listener, fault, log);
    // Stopped accepting: keep serving the connections already taken.
    loop {
        thread::park();
    }
}

fn accept_loop(listener: &TcpListener, fault: Option<Fault>, log: Log) {
    let mut accepted = 0;
    loop {
        match listener.accept() {
            // A server that is stopping takes no one new (dropped: closed).
            Ok(_) if STOPPING.load(Ordering::Acquire) => {}
            Ok((stream, peer)) => {
                log.new_connection(peer);
                accepted += 1;
                let serving = Serving::new();
                if fault == Some(Fault::ResetOnStop)
                    && let Ok(copy) = stream.try_clone()
                {
                    OPEN.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(copy);
                }
                if let Err(e) = thread::Builder::new().spawn(move || {
                    serve(stream, peer, fault, log);
                    drop(serving);
                }) {
                    log.accept_failed(&e);
                }
                if fault == Some(Fault::StopAccepting) && accepted >= 500 {
                    return;
                }
            }
            Err(e) if is_transient_accept_error(&e) => {}
            Err(e) if is_out_of_fds(&e) && fault == Some(Fault::SpinOnEmfile) => {}
            Err(e) => {
                // Out of descriptors, or worse: wait for a connection to end.
                log.accept_failed(&e);
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn serve(mut stream: TcpStream, peer: SocketAddr, fault: Option<Fault>, log: Log) {
    let tuned = if fault == Some(Fault::NoOobInline) {
        stream.set_nodelay(true)
    } else {
        echo_common::tune_connection(&stream)
    };
    if let Err(e) = tuned {
        log.dropping(peer, &e);
        return;
    }
    let result = match fault {
        Some(Fault::NoBackpressure) => echo_unbounded(&stream),
        Some(Fault::CloseOnEof) => echo_batched(&stream),
        Some(Fault::Greedy) => echo_greedy(&mut stream),
        Some(Fault::PinnedBuffers) => echo_pinned(&stream),
        _ => echo(
            &mut stream,
            fault == Some(Fault::DropBytes),
            fault.is_none(),
        ),
    };
    match result {
        Ok(()) => log.closing(peer),
        Err(e) if fault == Some(Fault::ExitOnReset) => {
            exit_with_error(format_args!("connection from {peer} failed: {e}"))
        }
        Err(e) => log.dropping(peer, &e),
    }
    if fault == Some(Fault::LeakFds) {
        std::mem::forget(stream);
    }
}

/// Echoes until end-of-file, dropping a byte in every 64 KiB if `lossy`.
/// If `stops`, reads wait at most [`STOP_POLL`], so that a clean stop is
/// noticed; the echo of what was read before it is sent first.
fn echo(stream: &mut TcpStream, lossy: bool, stops: bool) -> io::Result<()> {
    let mut buf = vec![0; CHUNK];
    let mut total = 0usize;
    if stops {
        stream.set_read_timeout(Some(STOP_POLL))?;
    }
    loop {
        if stops && STOPPING.load(Ordering::Acquire) {
            return wind_down(stream);
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            // Read as the stop came: no echo for it.
            Ok(_) if stops && STOPPING.load(Ordering::Acquire) => continue,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if stops && matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut data = buf[..n].to_vec();
        if lossy && let Some(i) = (0..n).find(|i| (total + i) % CHUNK == CHUNK - 1) {
            data.remove(i);
        }
        total += n;
        stream.write_all(&data)?;
    }
}

/// Echoes in 64 KiB batches and forgets the last batch at end-of-file.
fn echo_batched(mut stream: &TcpStream) -> io::Result<()> {
    let mut buf = vec![0; CHUNK];
    let mut batch = Vec::new();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => batch.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let full = batch.len() / CHUNK * CHUNK;
        stream.write_all(&batch[..full])?;
        batch.drain(..full);
    }
}

/// Reads as fast as the client sends and queues the echo without limit.
fn echo_unbounded(stream: &TcpStream) -> io::Result<()> {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let mut writer = stream.try_clone()?;
    let sender = thread::spawn(move || -> io::Result<()> {
        for data in rx {
            writer.write_all(&data)?;
        }
        Ok(())
    });
    let mut reader = stream;
    let mut buf = vec![0; CHUNK];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    drop(tx);
    sender.join().unwrap_or(Ok(()))
}

/// The signals that stop the server: cleanly, or with resets.
const STOP_SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];
/// How long a clean stop waits for the clients to close.
const GRACE: Duration = Duration::from_secs(2);
/// How long a read waits before it looks whether the server is stopping.
const STOP_POLL: Duration = Duration::from_millis(100);

/// Set when SIGINT or SIGTERM came: every connection winds down.
static STOPPING: AtomicBool = AtomicBool::new(false);
/// The connections being served, so that a clean stop can wait for them.
static SERVING: Mutex<usize> = Mutex::new(0);
/// Notified as each connection ends.
static SERVED: Condvar = Condvar::new();

/// One connection being served, counted in [`SERVING`] while it lives.
struct Serving;

impl Serving {
    fn new() -> Self {
        *SERVING.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        Serving
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        *SERVING.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
        SERVED.notify_all();
    }
}

/// Blocks until SIGINT or SIGTERM, and names it.
fn wait_for_signal(signals: OwnedFd) -> &'static str {
    let mut info = [0u8; 128];
    let mut signals = std::fs::File::from(signals);
    while let Err(e) = signals.read_exact(&mut info) {
        if e.kind() != ErrorKind::Interrupted {
            exit_with_error(format_args!("cannot read the signals: {e}"));
        }
    }
    // `struct signalfd_siginfo` starts with the signal number.
    match u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) {
        n if n == libc::SIGINT as u32 => "SIGINT",
        _ => "SIGTERM",
    }
}

/// Waits for SIGINT or SIGTERM, then stops cleanly: each connection's
/// thread sends the echo it owes, half-closes and waits for its client to
/// close (see [`wind_down`]); after at most [`GRACE`] and a little, the
/// server exits 0.
fn clean_stop(signals: OwnedFd, log: Log) {
    let signal = wait_for_signal(signals);
    let mut serving = SERVING.lock().unwrap_or_else(PoisonError::into_inner);
    let open = *serving;
    STOPPING.store(true, Ordering::Release);
    let deadline = Instant::now() + GRACE + STOP_POLL * 2;
    while *serving > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        serving = SERVED
            .wait_timeout(serving, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    log.always(format_args!(
        "stopped by {signal}: closed {open} connection{}",
        if open == 1 { "" } else { "s" }
    ));
    std::process::exit(0);
}

/// A connection's clean stop, once its last echo is out: end-of-file to
/// the client, then what it still sends is read and dropped until it
/// closes, for at most [`GRACE`]. Closing with unread data would reset the
/// connection.
fn wind_down(mut stream: &TcpStream) -> io::Result<()> {
    stream.shutdown(Shutdown::Write)?;
    let deadline = Instant::now() + GRACE;
    let mut buf = vec![0; CHUNK];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted | ErrorKind::WouldBlock | ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Every connection a reset-on-stop server has accepted (never pruned: the
/// fault is only for the shutdown check, which makes six).
static OPEN: Mutex<Vec<TcpStream>> = Mutex::new(Vec::new());

/// Waits for SIGINT or SIGTERM, then stops the wrong way: `SO_LINGER` 0 on
/// every connection, so that closing it sends a reset, and exit at once
/// (with the last line a clean stop prints, so that only the resets are
/// wrong).
fn reset_on_stop(signals: OwnedFd, log: Log) {
    let signal = wait_for_signal(signals);
    let open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
    for stream in open.iter() {
        let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
    }
    log.always(format_args!(
        "stopped by {signal}: closed {} connections",
        open.len()
    ));
    std::process::exit(0);
}

/// The lock greedy connections echo under.
static TURN: Mutex<()> = Mutex::new(());

/// Waits for data without the lock, then echoes under it, and keeps it while
/// reads come back full (more is likely waiting), for up to 200 ms.
fn echo_greedy(stream: &mut TcpStream) -> io::Result<()> {
    let mut buf = vec![0; CHUNK];
    loop {
        let mut n = match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
        let start = Instant::now();
        loop {
            stream.write_all(&buf[..n])?;
            if n < CHUNK || start.elapsed() >= GREEDY_TURN {
                break;
            }
            n = match stream.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => 0,
                Err(e) => return Err(e),
            };
        }
        drop(turn);
        // Out of the way for a moment, so that a waiting connection gets the
        // lock rather than this one again.
        thread::sleep(Duration::from_millis(1));
    }
}

/// The reads a pinned-buffers connection has queued, and their bytes.
#[derive(Default)]
struct Pinned {
    reads: VecDeque<Vec<u8>>,
    bytes: usize,
    /// The reader saw end-of-file or an error, or the writer failed.
    done: bool,
}

/// A reader (this thread) queues each read in its own 64 KiB buffer and
/// stops at 256 KiB of queued bytes; a writer thread sends them.
fn echo_pinned(stream: &TcpStream) -> io::Result<()> {
    let shared = Arc::new((Mutex::new(Pinned::default()), Condvar::new()));
    let mut writer = stream.try_clone()?;
    let sender = {
        let shared = Arc::clone(&shared);
        thread::spawn(move || -> io::Result<()> {
            let (lock, cvar) = &*shared;
            loop {
                let next = {
                    let mut q = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    while q.reads.is_empty() && !q.done {
                        q = cvar.wait(q).unwrap_or_else(PoisonError::into_inner);
                    }
                    q.reads.pop_front()
                };
                let Some(data) = next else {
                    return writer.shutdown(std::net::Shutdown::Write);
                };
                let sent = writer.write_all(&data);
                let mut q = lock.lock().unwrap_or_else(PoisonError::into_inner);
                q.bytes -= data.len();
                if sent.is_err() {
                    q.done = true;
                }
                cvar.notify_all();
                drop(q);
                sent?;
            }
        })
    };
    let (lock, cvar) = &*shared;
    let mut reader = stream;
    let result = loop {
        {
            let mut q = lock.lock().unwrap_or_else(PoisonError::into_inner);
            while q.bytes >= PENDING_LIMIT && !q.done {
                q = cvar.wait(q).unwrap_or_else(PoisonError::into_inner);
            }
            if q.done {
                break Ok(());
            }
        }
        // A fresh buffer for every read, kept whole however little it holds.
        let mut buf = vec![0; CHUNK];
        match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                buf.truncate(n);
                let mut q = lock.lock().unwrap_or_else(PoisonError::into_inner);
                q.bytes += n;
                q.reads.push_back(buf);
                cvar.notify_all();
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    {
        let mut q = lock.lock().unwrap_or_else(PoisonError::into_inner);
        q.done = true;
        cvar.notify_all();
    }
    let sent = sender.join().unwrap_or(Ok(()));
    result.and(sent)
}
