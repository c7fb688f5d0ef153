//! Exercise 7 (`exercises/07-epoll-chat`, the capstone): a chat server on
//! edge-triggered epoll.
//!
//! Every complete line a client sends goes, whole and unchanged, to every
//! other connected client. The plumbing is the epoll-edge chapter's
//! (edge-triggered epoll, reading until `WouldBlock`, a queue per client
//! sent with `EPOLLOUT` switching); the exercise is the chat: `broadcast`,
//! and complete lines only in `handle_input`. A client that stops reading
//! must not hold up the others, nor fill the server's memory.
//!
//! Linux only. Read `exercises/07-epoll-chat/README.md` first; grade the
//! work with `cargo run -p grade -- 07` (`--solution 07` grades the
//! reference solution in `exercises/solutions/07-epoll-chat`).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use clap::Parser;
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, MessageQueue, READ_SIZE, ServerArgs, SpareFd, accept_action,
    exit_with_error, listen, parse_args, raise_fd_limit,
};
use epoll_edge::epoll::{ERR, ET, Epoll, Events, HUP, IN, OUT, RDHUP};

/// A client with more than this waiting to be sent to it is not keeping up:
/// it is disconnected rather than allowed to hold up the others or grow the
/// server's memory.
const SENDQ_LIMIT: usize = 1 << 20;

// BEGIN SOLUTION
/// The longest line the server keeps; a client sending a longer one is
/// disconnected.
const MAX_LINE: usize = 64 * 1024;

// END SOLUTION
/// A chat server: each line a client sends goes to every other client.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

/// A connected client.
struct Client {
    stream: TcpStream,
    peer: SocketAddr,
    /// Lines from the others, waiting to be sent to this client.
    queue: MessageQueue,
    // BEGIN SOLUTION
    /// The start of a line this client has not finished yet.
    line: Vec<u8>,
    // END SOLUTION
    /// Output is waiting for room: epoll is asked for `EPOLLOUT`.
    writing: bool,
}

/// Everything the loop keeps.
struct Server {
    listener: TcpListener,
    epoll: Epoll,
    clients: HashMap<RawFd, Client>,
    spare: SpareFd,
    /// While accepting is paused after an error, when it resumes.
    accept_paused_until: Option<Instant>,
    log: Log,
}

fn main() {
    let args: Args = parse_args();
    let log = Log::new(args.server.quiet);
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

impl Server {
    /// Accepts every waiting client.
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
        self.clients.insert(
            stream.as_raw_fd(),
            Client {
                stream,
                peer,
                queue: MessageQueue::new(),
                // BEGIN SOLUTION
                line: Vec::new(),
                // END SOLUTION
                writing: false,
            },
        );
    }

    fn handle_event(&mut self, fd: RawFd, flags: Events) {
        if flags & (IN | RDHUP | HUP | ERR) != 0 {
            self.handle_readable(fd);
        }
        if flags & (OUT | HUP | ERR) != 0 {
            self.flush(fd);
        }
    }

    /// Reads until the socket is empty: edge-triggered, no other event
    /// will announce what is waiting now.
    fn handle_readable(&mut self, fd: RawFd) {
        let mut data = [0u8; READ_SIZE];
        let mut looked_again = false;
        loop {
            let Some(client) = self.clients.get_mut(&fd) else {
                return;
            };
            match client.stream.read(&mut data) {
                // The client left: what was queued for it goes nowhere.
                Ok(0) => {
                    self.log.closing(client.peer);
                    self.close(fd);
                    return;
                }
                Ok(n) => {
                    self.log.received(client.peer, &data[..n]);
                    self.handle_input(fd, &data[..n]);
                }
                // At TCP's urgent mark, a read made while a signal is pending
                // gets WouldBlock whatever is queued (chapter 7): look once.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if looked_again
                        || !echo_sys::bytes_queued(client.stream.as_fd()).is_ok_and(|n| n > 0)
                    {
                        return;
                    }
                    looked_again = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.log.dropping(client.peer, &e);
                    self.close(fd);
                    return;
                }
            }
        }
    }

    /// Handles bytes received from `fd`: part of a line, a line, or several.
    /// Complete lines go to the others; the rest waits for its end.
    fn handle_input(&mut self, fd: RawFd, data: &[u8]) {
        // BEGIN SOLUTION
        let Some(client) = self.clients.get_mut(&fd) else {
            return;
        };
        client.line.extend_from_slice(data);
        let Some(last_newline) = client.line.iter().rposition(|&b| b == b'\n') else {
            if client.line.len() > MAX_LINE {
                let why = io::Error::other(format!("a line longer than {MAX_LINE} bytes"));
                self.log.dropping(client.peer, &why);
                self.close(fd);
            }
            return;
        };
        let rest = client.line.split_off(last_newline + 1);
        let complete = std::mem::replace(&mut client.line, rest);
        for line in complete.split_inclusive(|&b| b == b'\n') {
            self.broadcast(fd, line);
        }
        // STARTER
        //| // TODO: send complete lines only. Keep the start of an unfinished
        //| // line (in a new field of `Client`) until its end arrives, and
        //| // broadcast each complete line on its own, newline included.
        //| self.broadcast(fd, data);
        // END SOLUTION
    }

    /// Sends `line` to every client but `from`: queued whole, so lines from
    /// different clients never mix, and sent as far as each socket takes it.
    fn broadcast(&mut self, from: RawFd, line: &[u8]) {
        // BEGIN SOLUTION
        let others: Vec<RawFd> = self
            .clients
            .keys()
            .copied()
            .filter(|&fd| fd != from)
            .collect();
        for fd in others {
            let Some(client) = self.clients.get_mut(&fd) else {
                continue;
            };
            if client.queue.pending() + line.len() > SENDQ_LIMIT {
                // Waiting for it would stall everyone; queueing without
                // limit would let it fill our memory.
                let why = io::Error::other(format!(
                    "{} bytes wait to be sent: it does not read",
                    client.queue.pending()
                ));
                self.log.dropping(client.peer, &why);
                self.close(fd);
                continue;
            }
            client.queue.push(line);
            self.flush(fd);
        }
        // STARTER
        //| // TODO: push `line` onto the queue of every other client, and
        //| // `flush` it. A client that does not read must neither hold up the
        //| // others nor fill the server's memory: disconnect a client that has
        //| // more than SENDQ_LIMIT bytes waiting (`log.dropping`, `close`).
        //| todo!(
        //|     "send {} from {from} to the others, up to {SENDQ_LIMIT} bytes queued each",
        //|     echo_common::Payload(line)
        //| )
        // END SOLUTION
    }

    /// Sends queued output until the queue is empty or the socket is full,
    /// and asks epoll for `EPOLLOUT` only while output is left.
    fn flush(&mut self, fd: RawFd) {
        loop {
            let Some(client) = self.clients.get_mut(&fd) else {
                return;
            };
            let Some(next_msg) = client.queue.front() else {
                if client.writing {
                    self.log.queue_empty(client.peer);
                    client.writing = false;
                    self.update_interest(fd);
                }
                return;
            };
            self.log.sending(client.peer, next_msg);
            match client.stream.write(next_msg) {
                Ok(sent) => {
                    if sent < next_msg.len() {
                        self.log.sent_part(client.peer, sent, next_msg.len());
                    }
                    client.queue.advance(sent);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !client.writing {
                        client.writing = true;
                        self.update_interest(fd);
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.log.dropping(client.peer, &e);
                    self.close(fd);
                    return;
                }
            }
        }
    }

    /// Tells epoll whether the client waits for room to write.
    fn update_interest(&mut self, fd: RawFd) {
        let Some(client) = self.clients.get(&fd) else {
            return;
        };
        let out = if client.writing { OUT } else { 0 };
        if let Err(e) = self.epoll.modify(&client.stream, IN | RDHUP | ET | out) {
            self.log.dropping(client.peer, &e);
            self.close(fd);
        }
    }

    /// Forgets a client; dropping its stream closes the socket, after it has
    /// left the epoll set.
    fn close(&mut self, fd: RawFd) {
        if let Some(client) = self.clients.remove(&fd) {
            let _ = self.epoll.deregister(&client.stream);
        }
    }
}
