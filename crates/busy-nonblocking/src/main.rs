//! Chapter 2, busy-nonblocking: one thread, no waiting, and a core burnt for it.
//!
//! The listener and every connection are non-blocking, so `accept`, `read`
//! and `write` return at once, with data or with "would block". One loop tries
//! them all in turn: accept whoever is waiting, then, for every connection,
//! read what has arrived and send what is queued. It serves any number of
//! clients from one thread, and it works; but it never sleeps, so it keeps a
//! whole core busy even when no client sends anything. The chapters that
//! follow ask the kernel to wake the server only when there is something to do.
//!
//! Run it with `cargo run -p busy-nonblocking`, then `cargo run -p multiclient`
//! in a second terminal, and watch `top`. The book's chapter "busy-nonblocking"
//! walks through this file.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Instant;

use clap::Parser;
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, MessageQueue, SHARED_READ_SIZE, ServerArgs, SpareFd,
    accept_action, exit_with_error, listen, parse_args, parse_read_size, raise_fd_limit,
};

/// An echo server that polls non-blocking sockets in a busy loop.
#[derive(Parser)]
#[command(name = "busy-nonblocking")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The most bytes read from a socket in one call (one buffer serves
    /// every client)
    #[arg(long, value_name = "BYTES", default_value_t = SHARED_READ_SIZE, value_parser = parse_read_size)]
    read_size: usize,
}

/// A connected client and the echo it has not received yet.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    /// Data read and not yet sent back: a write may take only part of it.
    queue: MessageQueue,
    /// The client has sent end-of-file; close once its echo is delivered.
    done_reading: bool,
}

fn main() {
    let args: Args = parse_args();
    let log = Log::new(args.server.quiet);

    // ANCHOR: setup
    let listener = listen(&args.server).unwrap_or_else(|e| exit_with_error(e));
    // accept returns at once, with a client or with WouldBlock.
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| exit_with_error(e));
    let _ = raise_fd_limit();
    let port = listener.local_addr().map_or(args.server.port, |a| a.port());
    log.starting_up(&args.server.host, port);

    let mut spare = SpareFd::new().unwrap_or_else(|e| exit_with_error(e));
    // While accepting is paused after an error, when it resumes.
    let mut accept_paused_until: Option<Instant> = None;
    let mut connections: Vec<Connection> = Vec::new();
    // Where reads land, one buffer for every client.
    let mut data = vec![0u8; args.read_size];
    // ANCHOR_END: setup

    // ANCHOR: loop
    loop {
        // Try to accept: maybe someone is waiting, maybe not.
        accept_all(
            &listener,
            &mut spare,
            &mut accept_paused_until,
            &mut connections,
            log,
        );
        // Try every connection; drop the ones that are finished.
        connections.retain_mut(|c| c.try_io(log, &mut data));
        // And straight back to the top: no sleep, no wait. With no client
        // sending anything, this still runs millions of times a second.
    }
    // ANCHOR_END: loop
}

// ANCHOR: accept
/// Accepts every client that is waiting, and returns when none is (at once
/// while accepting is paused).
fn accept_all(
    listener: &TcpListener,
    spare: &mut SpareFd,
    accept_paused_until: &mut Option<Instant>,
    connections: &mut Vec<Connection>,
    log: Log,
) {
    if accept_paused_until.is_some_and(|until| Instant::now() < until) {
        return;
    }
    *accept_paused_until = None;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                // Reads and writes must not block the loop; echoes go out at
                // once (no Nagle delay); urgent data stays in the stream.
                let setup = stream
                    .set_nonblocking(true)
                    .and_then(|()| echo_common::tune_connection(&stream));
                if let Err(e) = setup {
                    log.dropping(peer, &e);
                    continue;
                }
                log.new_connection(peer);
                connections.push(Connection {
                    stream,
                    peer,
                    queue: MessageQueue::new(),
                    done_reading: false,
                });
            }
            // Nobody is waiting: on to the connections.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => {
                match accept_action(&e) {
                    AcceptAction::Retry => continue,
                    AcceptAction::ShedOne => {
                        // At the limit, accept fails whether or not a client
                        // waits. If one does, take it with the spare
                        // descriptor and close it, so it is told rather than
                        // left hanging.
                        if let Some(peer) = spare.shed(listener) {
                            log.refusing(Some(peer), "out of file descriptors");
                            return;
                        }
                        // Nobody is waiting, or there is no spare: pause.
                    }
                    AcceptAction::Pause => {}
                }
                // Trying again on every pass would fail the same way, and
                // flood the log: skip accepting for a moment.
                log.accept_failed(&e);
                *accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                return;
            }
        }
    }
}
// ANCHOR_END: accept

impl Connection {
    // ANCHOR: try_io
    /// One read and one write, each of which may find nothing to do.
    /// Returns whether to keep the connection.
    fn try_io(&mut self, log: Log, data: &mut [u8]) -> bool {
        // A client whose queue is full is not reading its echo: stop reading
        // from it until the queue drains, so memory stays bounded.
        if !self.done_reading && !self.queue.is_full() {
            match self.stream.read(data) {
                // Zero bytes: the client will send no more. Its echo may
                // still be queued; it is delivered before the socket closes.
                Ok(0) => {
                    if self.queue.is_empty() {
                        log.closing(self.peer);
                        return false;
                    }
                    log.end_of_input(self.peer, self.queue.pending());
                    self.done_reading = true;
                }
                Ok(n) => {
                    log.received(self.peer, &data[..n]);
                    self.queue.push(&data[..n]);
                    if self.queue.is_full() {
                        log.pausing(self.peer, self.queue.pending());
                    }
                }
                // Nothing has arrived (the usual case), or a signal.
                Err(e) if would_block(&e) => {}
                Err(e) => {
                    log.dropping(self.peer, &e);
                    return false;
                }
            }
        }
        self.try_send(log)
    }
    // ANCHOR_END: try_io

    // ANCHOR: try_send
    /// Sends what the socket will take of the oldest queued message.
    fn try_send(&mut self, log: Log) -> bool {
        let Some(next_msg) = self.queue.front() else {
            return true;
        };
        let was_full = self.queue.is_full();
        match self.stream.write(next_msg) {
            Ok(sent) => {
                log.sending(self.peer, next_msg);
                if sent < next_msg.len() {
                    // The socket buffer is full: the rest stays at the head
                    // of the queue, for the next turn of the loop.
                    log.sent_part(self.peer, sent, next_msg.len());
                }
                self.queue.advance(sent);
            }
            // The socket buffer is full: try again next turn.
            Err(e) if would_block(&e) => return true,
            Err(e) => {
                log.dropping(self.peer, &e);
                return false;
            }
        }
        if self.done_reading && self.queue.is_empty() {
            log.closing(self.peer);
            return false;
        }
        if was_full && !self.queue.is_full() && !self.done_reading {
            log.resuming(self.peer);
        }
        true
    }
    // ANCHOR_END: try_send
}

/// Whether an error only means "nothing to do right now".
fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accept_error_that_would_repeat_pauses_accepting() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        // Shut down for reading, a listener stops listening: accept fails
        // with EINVAL, again and again.
        socket2::SockRef::from(&listener)
            .shutdown(std::net::Shutdown::Read)
            .unwrap();
        let mut spare = SpareFd::new().unwrap();
        let mut paused = None;
        let mut connections = Vec::new();
        let log = Log::new(true);
        let mut accept = |paused: &mut Option<Instant>| {
            accept_all(&listener, &mut spare, paused, &mut connections, log);
        };
        let before = Instant::now();
        accept(&mut paused);
        let until = paused.expect("accepting did not pause");
        assert!(until >= before + ACCEPT_PAUSE);
        // Within the pause, accept is not tried, so the pause does not move.
        accept(&mut paused);
        assert_eq!(paused, Some(until));
        // After it, accept is tried again, and fails again.
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
        accept(&mut paused);
        assert!(paused.is_some_and(|again| again > until));
    }
}
