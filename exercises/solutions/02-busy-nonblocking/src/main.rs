//! Exercise 2 (`exercises/02-busy-nonblocking`): a busy loop that learns to
//! rest.
//!
//! The server is the busy-nonblocking chapter's: one loop that tries accept,
//! read and write on non-blocking sockets, over and over, and keeps a core
//! busy when no client sends anything. The exercise is `--sleep-ms MS`: a
//! sleep that long after a pass that found nothing to do, and none after a
//! pass that did something; then a measure of what it saves and what it
//! costs.
//!
//! Read `exercises/02-busy-nonblocking/README.md` first; grade the work with
//! `cargo run -p grade -- 02` (`--solution 02` grades the reference solution
//! in `exercises/solutions/02-busy-nonblocking`).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use clap::Parser;
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, MessageQueue, READ_SIZE, ServerArgs, SpareFd, accept_action,
    exit_with_error, listen, parse_args, raise_fd_limit,
};

/// An echo server that polls non-blocking sockets in a loop.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Sleep this long after a pass of the loop that found nothing to do
    /// (0: never sleep)
    #[arg(long, value_name = "MS", default_value_t = 0)]
    sleep_ms: u64,
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
    let pause = Duration::from_millis(args.sleep_ms);

    loop {
        // Try to accept: maybe someone is waiting, maybe not.
        // BEGIN SOLUTION
        let mut worked = accept_all(
            &listener,
            &mut spare,
            &mut accept_paused_until,
            &mut connections,
            log,
        );
        // Try every connection; drop the ones that are finished.
        connections.retain_mut(|c| c.try_io(log, &mut worked));
        // A pass that found nothing to do is likely followed by another:
        // rest. A pass that did something goes straight on, so a busy
        // connection is not slowed down by the pause.
        if !worked && !pause.is_zero() {
            std::thread::sleep(pause);
        }
        // STARTER
        //| accept_all(
        //|     &listener,
        //|     &mut spare,
        //|     &mut accept_paused_until,
        //|     &mut connections,
        //|     log,
        //| );
        //| // Try every connection; drop the ones that are finished.
        //| connections.retain_mut(|c| c.try_io(log));
        //| if !pause.is_zero() {
        //|     // TODO: sleep for `pause`, but only after a pass that found
        //|     // nothing to do: no client accepted, no byte read or sent, no
        //|     // connection closed. `accept_all` says whether it took anyone;
        //|     // `try_io` will have to say whether it did anything.
        //|     todo!("sleep {pause:?} after a pass with nothing to do");
        //| }
        // END SOLUTION
    }
}

/// Accepts every client that is waiting, and returns when none is.
/// Returns whether it took anyone (accepted, or refused for lack of
/// descriptors).
fn accept_all(
    listener: &TcpListener,
    spare: &mut SpareFd,
    accept_paused_until: &mut Option<Instant>,
    connections: &mut Vec<Connection>,
    log: Log,
) -> bool {
    if accept_paused_until.is_some_and(|until| Instant::now() < until) {
        return false;
    }
    *accept_paused_until = None;
    let mut worked = false;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                worked = true;
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
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return worked,
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
                            return true;
                        }
                        // Nobody is waiting, or there is no spare: pause.
                    }
                    AcceptAction::Pause => {}
                }
                // Trying again on every pass would fail the same way, and
                // flood the log: skip accepting for a moment.
                // Not counted as work: retrying at once would not help.
                log.accept_failed(&e);
                *accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                return worked;
            }
        }
    }
}

impl Connection {
    // BEGIN SOLUTION
    /// One read and one write, each of which may find nothing to do; sets
    /// `worked` if either did something. Returns whether to keep the
    /// connection.
    fn try_io(&mut self, log: Log, worked: &mut bool) -> bool {
        // A client whose queue is full is not reading its echo: stop reading
        // from it until the queue drains, so memory stays bounded.
        if !self.done_reading && !self.queue.is_full() {
            let mut data = [0u8; READ_SIZE];
            let read = self.stream.read(&mut data);
            // Data, end-of-file or an error: all of them are work done.
            *worked |= !matches!(&read, Err(e) if would_block(e));
            match read {
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
        self.try_send(log, worked)
    }

    /// Sends what the socket will take of the oldest queued message.
    fn try_send(&mut self, log: Log, worked: &mut bool) -> bool {
        let Some(next_msg) = self.queue.front() else {
            return true;
        };
        let was_full = self.queue.is_full();
        let written = self.stream.write(next_msg);
        *worked |= !matches!(&written, Err(e) if would_block(e));
        match written {
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
    // STARTER
    //| /// One read and one write, each of which may find nothing to do.
    //| /// Returns whether to keep the connection.
    //| fn try_io(&mut self, log: Log) -> bool {
    //|     // A client whose queue is full is not reading its echo: stop reading
    //|     // from it until the queue drains, so memory stays bounded.
    //|     if !self.done_reading && !self.queue.is_full() {
    //|         let mut data = [0u8; READ_SIZE];
    //|         match self.stream.read(&mut data) {
    //|             // Zero bytes: the client will send no more. Its echo may
    //|             // still be queued; it is delivered before the socket closes.
    //|             Ok(0) => {
    //|                 if self.queue.is_empty() {
    //|                     log.closing(self.peer);
    //|                     return false;
    //|                 }
    //|                 log.end_of_input(self.peer, self.queue.pending());
    //|                 self.done_reading = true;
    //|             }
    //|             Ok(n) => {
    //|                 log.received(self.peer, &data[..n]);
    //|                 self.queue.push(&data[..n]);
    //|                 if self.queue.is_full() {
    //|                     log.pausing(self.peer, self.queue.pending());
    //|                 }
    //|             }
    //|             // Nothing has arrived (the usual case), or a signal.
    //|             Err(e) if would_block(&e) => {}
    //|             Err(e) => {
    //|                 log.dropping(self.peer, &e);
    //|                 return false;
    //|             }
    //|         }
    //|     }
    //|     self.try_send(log)
    //| }
    //|
    //| /// Sends what the socket will take of the oldest queued message.
    //| fn try_send(&mut self, log: Log) -> bool {
    //|     let Some(next_msg) = self.queue.front() else {
    //|         return true;
    //|     };
    //|     let was_full = self.queue.is_full();
    //|     match self.stream.write(next_msg) {
    //|         Ok(sent) => {
    //|             log.sending(self.peer, next_msg);
    //|             if sent < next_msg.len() {
    //|                 // The socket buffer is full: the rest stays at the head
    //|                 // of the queue, for the next turn of the loop.
    //|                 log.sent_part(self.peer, sent, next_msg.len());
    //|             }
    //|             self.queue.advance(sent);
    //|         }
    //|         // The socket buffer is full: try again next turn.
    //|         Err(e) if would_block(&e) => return true,
    //|         Err(e) => {
    //|             log.dropping(self.peer, &e);
    //|             return false;
    //|         }
    //|     }
    //|     if self.done_reading && self.queue.is_empty() {
    //|         log.closing(self.peer);
    //|         return false;
    //|     }
    //|     if was_full && !self.queue.is_full() && !self.done_reading {
    //|         log.resuming(self.peer);
    //|     }
    //|     true
    //| }
    // END SOLUTION
}

/// Whether an error only means "nothing to do right now".
fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
