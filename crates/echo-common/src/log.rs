//! The log lines, in one place, so every chapter speaks the same vocabulary
//! and two chapters' transcripts differ only where their multiplexing does.
//!
//! Lines go to stderr, like the Python original's. `--quiet` keeps the
//! startup line and the errors and drops the per-event lines.

use std::fmt::Arguments;
use std::io::Write;
use std::net::SocketAddr;

use crate::show::{Payload, PyAddr};

#[derive(Debug, Clone, Copy)]
pub struct Log {
    quiet: bool,
}

impl Log {
    pub fn new(quiet: bool) -> Self {
        Log { quiet }
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// A per-event line: dropped under `--quiet`.
    pub fn event(&self, args: Arguments<'_>) {
        if !self.quiet {
            write_line(args);
        }
    }

    /// A line that is always printed: startup, errors, refusals.
    pub fn always(&self, args: Arguments<'_>) {
        write_line(args);
    }

    pub fn starting_up(&self, host: &str, port: u16) {
        self.always(format_args!("starting up on {host} port {port}"));
    }

    /// An empty line, then `waiting for the next event`, before each wait.
    pub fn waiting(&self) {
        self.event(format_args!("\nwaiting for the next event"));
    }

    pub fn new_connection(&self, peer: SocketAddr) {
        self.event(format_args!("new connection from {}", PyAddr(peer)));
    }

    pub fn received(&self, peer: SocketAddr, data: &[u8]) {
        self.event(format_args!(
            "received {} from {}",
            Payload(data),
            PyAddr(peer)
        ));
    }

    pub fn sending(&self, peer: SocketAddr, data: &[u8]) {
        self.event(format_args!(
            "sending {} to {}",
            Payload(data),
            PyAddr(peer)
        ));
    }

    /// The socket took only part of a message; the rest waits its turn.
    pub fn sent_part(&self, peer: SocketAddr, sent: usize, total: usize) {
        self.event(format_args!(
            "sent {sent} of {total} bytes to {}; the rest stays queued",
            PyAddr(peer)
        ));
    }

    pub fn queue_empty(&self, peer: SocketAddr) {
        self.event(format_args!("output queue for {} is empty", PyAddr(peer)));
    }

    /// The peer half-closed while its echo is still queued.
    pub fn end_of_input(&self, peer: SocketAddr, pending: usize) {
        self.event(format_args!(
            "end of input from {}; sending {pending} queued bytes before closing",
            PyAddr(peer)
        ));
    }

    pub fn closing(&self, peer: SocketAddr) {
        self.event(format_args!(
            "closing {} after reading no data",
            PyAddr(peer)
        ));
    }

    /// Output is over [`crate::PENDING_LIMIT`]: stop reading until it drains.
    pub fn pausing(&self, peer: SocketAddr, pending: usize) {
        self.event(format_args!(
            "pausing reads from {}: {pending} bytes wait to be sent",
            PyAddr(peer)
        ));
    }

    pub fn resuming(&self, peer: SocketAddr) {
        self.event(format_args!("resuming reads from {}", PyAddr(peer)));
    }

    pub fn exceptional(&self, peer: SocketAddr) {
        self.event(format_args!(
            "handling exceptional condition for {} (urgent data, read inline)",
            PyAddr(peer)
        ));
    }

    /// A connection failed (reset, broken pipe...): only it is dropped.
    pub fn dropping(&self, peer: SocketAddr, err: &std::io::Error) {
        self.always(format_args!("dropping {}: {err}", PyAddr(peer)));
    }

    /// A connection the server will not serve, and why.
    pub fn refusing(&self, peer: Option<SocketAddr>, why: impl std::fmt::Display) {
        match peer {
            Some(peer) => self.always(format_args!("refusing {}: {why}", PyAddr(peer))),
            None => self.always(format_args!("refusing a connection: {why}")),
        }
    }

    pub fn accept_failed(&self, err: &std::io::Error) {
        self.always(format_args!("accept failed: {err}"));
    }
}

fn write_line(args: Arguments<'_>) {
    // One synchronous write, as Python's print is. If stderr is a pipe that
    // its reader has closed, the write fails with EPIPE (Rust's runtime
    // ignores SIGPIPE) and the error is ignored: the server goes on,
    // unlogged. If it is a pipe nobody empties, the write blocks once the
    // pipe is full, and the whole loop with it; `--quiet` leaves only the
    // rare lines.
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}
