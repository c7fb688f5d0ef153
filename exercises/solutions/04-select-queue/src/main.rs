//! Reference solution to exercise 4 (`exercises/04-select-queue`): a
//! `select(2)` echo server that queues its output, so it survives partial
//! writes, half-closing clients and clients that do not read.
//!
//! Grade it with `cargo run -p grade -- --solution 04`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use clap::Parser;
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, MessageQueue, READ_SIZE, ServerArgs, SpareFd, accept_action,
    exit_with_error, listen, parse_args, raise_fd_limit,
};
use echo_sys::{FdSet, FdTooLarge, select};

/// An echo server that multiplexes its clients with select().
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

/// A connected client.
struct Client {
    stream: TcpStream,
    peer: SocketAddr,
    /// The client has sent end-of-file; close once its echo is delivered.
    done_reading: bool,
}

/// Everything the loop keeps.
struct Server {
    listener: TcpListener,
    /// Sockets from which we expect to read.
    inputs: BTreeSet<RawFd>,
    /// Sockets to which we expect to write.
    outputs: BTreeSet<RawFd>,
    /// Outgoing data, per socket.
    message_queues: HashMap<RawFd, MessageQueue>,
    clients: HashMap<RawFd, Client>,
    spare: SpareFd,
    /// While accepting is paused after an error, when it resumes.
    accept_paused_until: Option<Instant>,
    log: Log,
}

fn main() {
    let args: Args = parse_args();
    let log = Log::new(args.server.quiet);
    let listener = listen(&args.server).unwrap_or_else(|e| exit_with_error(e));
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| exit_with_error(e));
    let _ = raise_fd_limit();
    let port = listener.local_addr().map_or(args.server.port, |a| a.port());
    log.starting_up(&args.server.host, port);

    let mut server = Server {
        inputs: BTreeSet::from([listener.as_raw_fd()]),
        outputs: BTreeSet::new(),
        message_queues: HashMap::new(),
        clients: HashMap::new(),
        spare: SpareFd::new().unwrap_or_else(|e| exit_with_error(e)),
        accept_paused_until: None,
        listener,
        log,
    };

    loop {
        let timeout = server.resume_accepting_if_due();
        server.log.waiting();
        let mut readable = fd_set(&server.inputs);
        let mut writable = fd_set(&server.outputs);
        let highest = server.inputs.iter().chain(&server.outputs).max();
        let nfds = highest.map_or(0, |fd| fd + 1);
        match select(
            nfds,
            Some(&mut readable),
            Some(&mut writable),
            None,
            timeout,
        ) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => exit_with_error(format_args!("select failed: {e}")),
        }
        for fd in ready(&server.inputs, &readable) {
            if fd == server.listener.as_raw_fd() {
                server.accept_all();
            } else {
                server.handle_readable(fd);
            }
        }
        for fd in ready(&server.outputs, &writable) {
            server.handle_writable(fd);
        }
    }
}

/// The descriptors of `fds` as an `fd_set` (each was checked against
/// `FD_SETSIZE` when it was accepted).
fn fd_set(fds: &BTreeSet<RawFd>) -> FdSet {
    let mut set = FdSet::new();
    for &fd in fds {
        let _ = set.insert(fd);
    }
    set
}

/// The members of `watched` that `select` left set in `ready`.
fn ready(watched: &BTreeSet<RawFd>, ready: &FdSet) -> Vec<RawFd> {
    watched
        .iter()
        .copied()
        .filter(|&fd| ready.contains(fd))
        .collect()
}

impl Server {
    /// Accepts every waiting client, up to `WouldBlock`.
    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => self.add_client(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    match accept_action(&e) {
                        AcceptAction::Retry => continue,
                        AcceptAction::ShedOne => {
                            // The listener stays readable until this client is
                            // taken: take it with the spare descriptor and
                            // close it, or the loop would spin.
                            if let Some(peer) = self.spare.shed(&self.listener) {
                                self.log.refusing(Some(peer), "out of file descriptors");
                                return;
                            }
                            // Nobody is waiting, or there is no spare: pause.
                        }
                        AcceptAction::Pause => {}
                    }
                    self.log.accept_failed(&e);
                    self.pause_accepting();
                    return;
                }
            }
        }
    }

    /// Stops watching the listener for `ACCEPT_PAUSE`: `accept` failed in a
    /// way that trying again at once would repeat, and a listener that stays
    /// readable meanwhile would make the loop spin.
    fn pause_accepting(&mut self) {
        self.inputs.remove(&self.listener.as_raw_fd());
        self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
    }

    /// Watches the listener again once a pause is over. Returns how long a
    /// pause still lasts, the longest the next wait may take (`None`: no
    /// pause, no limit).
    fn resume_accepting_if_due(&mut self) -> Option<Duration> {
        let left = self
            .accept_paused_until?
            .saturating_duration_since(Instant::now());
        if !left.is_zero() {
            return Some(left);
        }
        self.accept_paused_until = None;
        self.inputs.insert(self.listener.as_raw_fd());
        None
    }

    fn add_client(&mut self, stream: TcpStream, peer: SocketAddr) {
        let fd = stream.as_raw_fd();
        if !FdSet::fits(fd) {
            self.log.refusing(Some(peer), FdTooLarge(fd));
            return;
        }
        // Echoes go out at once (no Nagle delay), and urgent data stays in the
        // stream, to be echoed like any other byte.
        let setup = stream
            .set_nonblocking(true)
            .and_then(|()| echo_common::tune_connection(&stream));
        if let Err(e) = setup {
            self.log.dropping(peer, &e);
            return;
        }
        self.log.new_connection(peer);
        self.inputs.insert(fd);
        self.message_queues.insert(fd, MessageQueue::new());
        self.clients.insert(
            fd,
            Client {
                stream,
                peer,
                done_reading: false,
            },
        );
    }

    fn handle_readable(&mut self, fd: RawFd) {
        let (Some(client), Some(queue)) =
            (self.clients.get_mut(&fd), self.message_queues.get_mut(&fd))
        else {
            return;
        };
        let mut data = [0u8; READ_SIZE];
        match client.stream.read(&mut data) {
            // End-of-file: the client will send no more, but its echo may
            // still be queued. Stop reading; close once the queue is empty.
            Ok(0) => {
                self.inputs.remove(&fd);
                if queue.is_empty() {
                    self.log.closing(client.peer);
                    self.close(fd);
                } else {
                    self.log.end_of_input(client.peer, queue.pending());
                    client.done_reading = true;
                }
            }
            // Queue the echo and watch the socket for writability: a write
            // now could take only part of it, or nothing at all.
            Ok(n) => {
                self.log.received(client.peer, &data[..n]);
                queue.push(&data[..n]);
                self.outputs.insert(fd);
                if queue.is_full() {
                    // The client is not reading its echo: stop reading from
                    // it until the queue drains, so memory stays bounded.
                    self.log.pausing(client.peer, queue.pending());
                    self.inputs.remove(&fd);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                self.log.dropping(client.peer, &e);
                self.close(fd);
            }
        }
    }

    fn handle_writable(&mut self, fd: RawFd) {
        let (Some(client), Some(queue)) =
            (self.clients.get_mut(&fd), self.message_queues.get_mut(&fd))
        else {
            return;
        };
        let Some(next_msg) = queue.front() else {
            // Nothing left to send: stop watching for writability, or
            // select would return at once, forever.
            self.log.queue_empty(client.peer);
            self.outputs.remove(&fd);
            return;
        };
        self.log.sending(client.peer, next_msg);
        match client.stream.write(next_msg) {
            Ok(sent) => {
                if sent < next_msg.len() {
                    // The rest stays at the head of the queue.
                    self.log.sent_part(client.peer, sent, next_msg.len());
                }
                queue.advance(sent);
                if client.done_reading && queue.is_empty() {
                    self.log.closing(client.peer);
                    self.close(fd);
                } else if !client.done_reading && !queue.is_full() && self.inputs.insert(fd) {
                    // This client was paused; it has room again.
                    self.log.resuming(client.peer);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                self.log.dropping(client.peer, &e);
                self.close(fd);
            }
        }
    }

    /// Forgets a client; dropping its stream closes the socket.
    fn close(&mut self, fd: RawFd) {
        self.inputs.remove(&fd);
        self.outputs.remove(&fd);
        self.message_queues.remove(&fd);
        self.clients.remove(&fd);
    }
}
