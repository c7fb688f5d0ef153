//! Exercise 6: an edge-triggered epoll server that strands data.
//!
//! The server registers every client with `EPOLLET`: epoll reports a socket
//! when something changes, not for as long as it stays ready. Short messages
//! work. A burst of data does not, and neither does a client that reads its
//! echo late: find the bug in `handle_readable`, then make the server ask
//! for `EPOLLOUT` when the socket cannot take all of the echo.
//!
//! Linux only. Read `exercises/06-epoll-edge/README.md` first; grade your
//! work with `cargo run -p grade -- 06`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use clap::Parser;
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, MessageQueue, READ_SIZE, ServerArgs, SpareFd, accept_action,
    exit_with_error, listen, parse_args, raise_fd_limit,
};
use epoll_edge::epoll::{ERR, ET, Epoll, Events, HUP, IN, OUT, RDHUP};

/// An echo server that multiplexes its clients with edge-triggered epoll.
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
    /// Its queue is full: reads wait until the client takes its echo.
    paused: bool,
}

/// Everything the loop keeps.
struct Server {
    listener: TcpListener,
    epoll: Epoll,
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
    // First, so that on other systems the server says at once why it stops.
    let epoll = Epoll::new().unwrap_or_else(|e| exit_with_error(e));
    let listener = listen(&args.server).unwrap_or_else(|e| exit_with_error(e));
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| exit_with_error(e));
    let _ = raise_fd_limit();
    let port = listener.local_addr().map_or(args.server.port, |a| a.port());
    log.starting_up(&args.server.host, port);
    epoll
        .register(&listener, IN | ET)
        .unwrap_or_else(|e| exit_with_error(e));
    let mut server = Server {
        epoll,
        message_queues: HashMap::new(),
        clients: HashMap::new(),
        spare: SpareFd::new().unwrap_or_else(|e| exit_with_error(e)),
        accept_paused_until: None,
        listener,
        log,
    };

    let mut events = Vec::new();
    loop {
        let timeout = server.resume_accepting_if_due();
        server.log.waiting();
        if let Err(e) = server.epoll.wait(&mut events, timeout) {
            exit_with_error(format_args!("epoll_wait failed: {e}"));
        }
        for (fd, flags) in events.drain(..) {
            if fd == server.listener.as_raw_fd() {
                server.accept_all();
            } else {
                server.handle_event(fd, flags);
            }
        }
    }
}

/// Whether an error only means "not now".
fn not_now(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

impl Server {
    /// Accepts every waiting client: the listener's edge is reported once,
    /// however many are waiting.
    fn accept_all(&mut self) {
        if self.accept_paused_until.is_some() {
            // resume_accepting_if_due calls this again once the pause is over.
            return;
        }
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => self.add_client(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    match accept_action(&e) {
                        AcceptAction::Retry => continue,
                        AcceptAction::ShedOne => {
                            // Take this client with the spare descriptor and
                            // close it, then go on: the others waiting get no
                            // new edge.
                            if let Some(peer) = self.spare.shed(&self.listener) {
                                self.log.refusing(Some(peer), "out of file descriptors");
                                continue;
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

    /// Stops accepting for `ACCEPT_PAUSE`: `accept` failed in a way that
    /// trying again at once would repeat.
    fn pause_accepting(&mut self) {
        self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
    }

    /// Accepts again once a pause is over: the clients that came meanwhile
    /// get no new edge. Returns how long a pause still lasts, the longest the
    /// next wait may take (`None`: no pause, no limit).
    fn resume_accepting_if_due(&mut self) -> Option<Duration> {
        let left = self
            .accept_paused_until?
            .saturating_duration_since(Instant::now());
        if !left.is_zero() {
            return Some(left);
        }
        self.accept_paused_until = None;
        self.accept_all();
        self.accept_paused_until
            .map(|until| until.saturating_duration_since(Instant::now()))
    }

    fn add_client(&mut self, stream: TcpStream, peer: SocketAddr) {
        // Echoes go out at once (no Nagle delay), and urgent data stays in the
        // stream, to be echoed like any other byte.
        let setup = stream
            .set_nonblocking(true)
            .and_then(|()| echo_common::tune_connection(&stream))
            .and_then(|()| self.epoll.register(&stream, IN | RDHUP | ET));
        if let Err(e) = setup {
            self.log.dropping(peer, &e);
            return;
        }
        self.log.new_connection(peer);
        let fd = stream.as_raw_fd();
        self.message_queues.insert(fd, MessageQueue::new());
        self.clients.insert(
            fd,
            Client {
                stream,
                peer,
                done_reading: false,
                paused: false,
            },
        );
    }

    fn handle_event(&mut self, fd: RawFd, flags: Events) {
        if flags & (IN | RDHUP | HUP | ERR) != 0 {
            self.handle_readable(fd);
        }
        if flags & (OUT | HUP | ERR) != 0 {
            self.handle_writable(fd);
        }
    }

    /// Reads what the client sent and echoes it.
    fn handle_readable(&mut self, fd: RawFd) {
        let (Some(client), Some(queue)) =
            (self.clients.get_mut(&fd), self.message_queues.get_mut(&fd))
        else {
            return;
        };
        if client.done_reading || client.paused {
            return;
        }
        let mut data = [0u8; READ_SIZE];
        match client.stream.read(&mut data) {
            // End-of-file: close once the echo is delivered.
            Ok(0) => {
                if queue.is_empty() {
                    self.log.closing(client.peer);
                    self.close(fd);
                } else {
                    self.log.end_of_input(client.peer, queue.pending());
                    client.done_reading = true;
                }
                return;
            }
            Ok(n) => {
                self.log.received(client.peer, &data[..n]);
                queue.push(&data[..n]);
            }
            Err(e) if not_now(&e) => return,
            Err(e) => {
                self.log.dropping(client.peer, &e);
                self.close(fd);
                return;
            }
        }
        // Echo at once: usually the socket takes it all.
        self.flush(fd);
        if let (Some(client), Some(queue)) =
            (self.clients.get_mut(&fd), self.message_queues.get_mut(&fd))
            && queue.is_full()
        {
            // The client is not reading its echo: stop reading from it
            // until the queue drains, so memory stays bounded.
            self.log.pausing(client.peer, queue.pending());
            client.paused = true;
        }
    }

    /// `EPOLLOUT`: the socket has room again.
    fn handle_writable(&mut self, fd: RawFd) {
        // TODO: send what is queued (`flush`). Then, if the client was
        // paused and its queue is no longer full, resume it: no new edge
        // will announce the data it sent while it was paused.
        todo!("send the output queued for descriptor {fd}")
    }

    /// Sends queued output until the queue is empty or the socket is full.
    fn flush(&mut self, fd: RawFd) {
        loop {
            let (Some(client), Some(queue)) =
                (self.clients.get_mut(&fd), self.message_queues.get_mut(&fd))
            else {
                return;
            };
            let Some(next_msg) = queue.front() else {
                if client.done_reading {
                    self.log.closing(client.peer);
                    self.close(fd);
                }
                // TODO: nothing left to send: if epoll was asked for
                // EPOLLOUT, stop asking (`log.queue_empty`).
                return;
            };
            self.log.sending(client.peer, next_msg);
            match client.stream.write(next_msg) {
                Ok(sent) => {
                    if sent < next_msg.len() {
                        self.log.sent_part(client.peer, sent, next_msg.len());
                    }
                    queue.advance(sent);
                }
                // TODO: the socket is full, and the rest of the queue waits.
                // Nothing will say when there is room unless epoll is asked
                // for EPOLLOUT (`self.epoll.modify`, `IN | RDHUP | ET | OUT`).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if not_now(&e) => {}
                Err(e) => {
                    self.log.dropping(client.peer, &e);
                    self.close(fd);
                    return;
                }
            }
        }
    }

    /// Forgets a client; dropping its stream closes the socket, after it has
    /// left the epoll set.
    fn close(&mut self, fd: RawFd) {
        self.message_queues.remove(&fd);
        if let Some(client) = self.clients.remove(&fd) {
            let _ = self.epoll.deregister(&client.stream);
        }
    }
}
