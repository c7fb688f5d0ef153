//! Chapter 6, epoll-edge: one thread serves every client with edge-triggered
//! `epoll(7)` (Linux only).
//!
//! The kernel keeps the list of watched descriptors, and `epoll_wait` returns
//! only the ready ones, so ten thousand idle connections cost the loop
//! nothing. Edge-triggered (`EPOLLET`), it reports a socket once per change,
//! so each handler works until the kernel says there is no more: accept until
//! `WouldBlock`, read until a short read, and write the echo at once, asking
//! for `EPOLLOUT` only when the socket cannot take all of it. A busy client
//! gets a bounded number of reads per turn, then waits in `ready_again`
//! behind the others. With `--level`, the same server runs level-triggered
//! with the Python original's structure (one read per event, replies sent
//! when `EPOLLOUT` says so), for comparison.
//!
//! Run it with `cargo run -p epoll-edge` (or `-- --level`), then
//! `cargo run -p multiclient` in a second terminal. The book's chapter
//! "epoll-edge" walks through this file.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use clap::Parser;
use echo_common::net::{is_out_of_fds, is_transient_accept_error};
use echo_common::{
    Log, MessageQueue, READ_SIZE, ServerArgs, SpareFd, exit_with_error, listen, parse_args,
    raise_fd_limit,
};
use epoll_edge::epoll::{ERR, ET, Epoll, Events, HUP, IN, OUT, RDHUP};

/// How many reads one connection gets per turn before the others get theirs.
const READS_PER_TURN: usize = 16;

/// An echo server that multiplexes its clients with epoll.
#[derive(Parser)]
#[command(name = "epoll-edge")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Level-triggered, like the Python original: one read per event, and
    /// replies sent only when EPOLLOUT says the socket can take them
    #[arg(long)]
    level: bool,
}

/// A connected client.
struct Client {
    stream: TcpStream,
    peer: SocketAddr,
    /// The client has sent end-of-file; close once its echo is delivered.
    done_reading: bool,
    /// Its queue is full: reads wait until the client takes its echo.
    paused: bool,
    /// Output is waiting for `EPOLLOUT`.
    writing: bool,
    /// The interest registered with epoll now.
    interest: Events,
}

/// Everything the loop keeps, under the Python original's names.
struct Server {
    listener: TcpListener,
    epoll: Epoll,
    edge: bool,
    /// Outgoing data, per socket.
    message_queues: HashMap<RawFd, MessageQueue>,
    /// The socket behind each descriptor epoll reports (`fd_to_socket`).
    clients: HashMap<RawFd, Client>,
    /// Connections that used up their turn with data left to read. No new
    /// edge will announce that data: the loop comes back to them itself.
    ready_again: Vec<RawFd>,
    /// Where reads land, one buffer for every client.
    data: Vec<u8>,
    spare: SpareFd,
    log: Log,
}

fn main() {
    let args: Args = parse_args();
    let log = Log::new(args.server.quiet);

    // ANCHOR: setup
    // First, so that on other systems the server says at once why it stops.
    let epoll = Epoll::new().unwrap_or_else(|e| exit_with_error(e));
    let listener = listen(&args.server).unwrap_or_else(|e| exit_with_error(e));
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| exit_with_error(e));
    let _ = raise_fd_limit();
    let port = listener.local_addr().map_or(args.server.port, |a| a.port());
    log.starting_up(&args.server.host, port);

    let edge = !args.level;
    epoll
        .register(&listener, if edge { IN | ET } else { IN })
        .unwrap_or_else(|e| exit_with_error(e));
    let mut server = Server {
        epoll,
        edge,
        message_queues: HashMap::new(),
        clients: HashMap::new(),
        ready_again: Vec::new(),
        data: vec![0; READ_SIZE],
        spare: SpareFd::new().unwrap_or_else(|e| exit_with_error(e)),
        listener,
        log,
    };
    // ANCHOR_END: setup

    // ANCHOR: loop
    let mut events = Vec::new();
    loop {
        // With connections still to finish, look for events without waiting.
        let again = std::mem::take(&mut server.ready_again);
        let timeout = if again.is_empty() {
            server.log.waiting();
            None
        } else {
            Some(Duration::ZERO)
        };
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
        for fd in again {
            server.handle_readable(fd, true);
        }
    }
    // ANCHOR_END: loop
}

impl Server {
    // ANCHOR: accept
    /// Accepts every waiting client. Edge-triggered, this is a must: the
    /// listener is reported once however many clients are waiting.
    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => self.add_client(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if is_transient_accept_error(&e) => continue,
                Err(e) if is_out_of_fds(&e) => {
                    // Take the client with the spare descriptor and close it,
                    // then go on: the waiting ones are refused the same way
                    // rather than left behind an edge that has passed.
                    let peer = self.spare.shed(&self.listener);
                    self.log.refusing(peer, "out of file descriptors");
                    if peer.is_none() {
                        return;
                    }
                }
                Err(e) => {
                    self.log.accept_failed(&e);
                    return;
                }
            }
        }
    }

    fn add_client(&mut self, stream: TcpStream, peer: SocketAddr) {
        let mut client = Client {
            stream,
            peer,
            done_reading: false,
            paused: false,
            writing: false,
            interest: 0,
        };
        client.interest = interest(self.edge, &client);
        // Echoes go out at once (no Nagle delay), and urgent data stays in the
        // stream, to be echoed like any other byte.
        // Registering checks readiness at once, so data that came with the
        // handshake is reported by the next wait, edge or no edge.
        let setup = client
            .stream
            .set_nonblocking(true)
            .and_then(|()| echo_common::tune_connection(&client.stream))
            .and_then(|()| self.epoll.register(&client.stream, client.interest));
        if let Err(e) = setup {
            self.log.dropping(peer, &e);
            return;
        }
        self.log.new_connection(peer);
        let fd = client.stream.as_raw_fd();
        // Give the connection a queue for data we want to send.
        self.message_queues.insert(fd, MessageQueue::new());
        self.clients.insert(fd, client);
    }
    // ANCHOR_END: accept

    // ANCHOR: event
    fn handle_event(&mut self, fd: RawFd, flags: Events) {
        // A hang-up or an error: read what is left, to end-of-file or the
        // error, then deliver what can be delivered; the read and the write
        // end the connection, so it is not reported again and again.
        let hangup = flags & (RDHUP | HUP | ERR) != 0;
        if flags & IN != 0 || hangup {
            self.handle_readable(fd, hangup);
        }
        if flags & OUT != 0 || hangup {
            self.handle_writable(fd);
        }
    }
    // ANCHOR_END: event

    // ANCHOR: readable
    /// Reads what the client sent, up to a turn's worth, and echoes it.
    /// Edge-triggered, a read shorter than the buffer means the socket is
    /// empty for now (new data will be a new edge), unless the peer has hung
    /// up: then read on to the end-of-file, which no edge will announce.
    fn handle_readable(&mut self, fd: RawFd, to_the_end: bool) {
        let (Some(client), Some(queue)) =
            (self.clients.get_mut(&fd), self.message_queues.get_mut(&fd))
        else {
            return;
        };
        let reads = if self.edge { READS_PER_TURN } else { 1 };
        for _ in 0..reads {
            if client.done_reading || client.paused {
                return self.settle(fd);
            }
            let n = match client.stream.read(&mut self.data) {
                // Zero bytes: the client will send no more. Its echo may
                // still be queued; it is delivered before the socket closes.
                Ok(0) => {
                    if !queue.is_empty() {
                        self.log.end_of_input(client.peer, queue.pending());
                    }
                    client.done_reading = true;
                    return self.settle(fd);
                }
                Ok(n) => n,
                // Nothing more for now: the next edge says when.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return self.settle(fd),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.log.dropping(client.peer, &e);
                    return self.close(fd);
                }
            };
            self.log.received(client.peer, &self.data[..n]);
            if self.edge {
                if let Err(e) = send_or_queue(client, queue, &self.data[..n], &self.log) {
                    self.log.dropping(client.peer, &e);
                    return self.close(fd);
                }
                // What the socket did not take waits for EPOLLOUT.
                client.writing = !queue.is_empty();
            } else {
                queue.push(self.data[..n].to_vec());
                // Add output channel for response.
                client.writing = true;
            }
            if queue.is_full() {
                // The client is not reading its echo: stop reading from it
                // until the queue drains, so memory stays bounded.
                self.log.pausing(client.peer, queue.pending());
                client.paused = true;
            }
            if n < self.data.len() && !to_the_end {
                return self.settle(fd);
            }
        }
        if self.edge {
            // Turn used up, data may be left: come back after the others.
            self.ready_again.push(fd);
        }
        self.settle(fd);
    }
    // ANCHOR_END: readable

    // ANCHOR: writable
    fn handle_writable(&mut self, fd: RawFd) {
        let (Some(client), Some(queue)) =
            (self.clients.get_mut(&fd), self.message_queues.get_mut(&fd))
        else {
            return;
        };
        if queue.is_empty() && client.writing && !self.edge {
            // No messages waiting, so stop checking for writability.
            self.log.queue_empty(client.peer);
            client.writing = false;
        }
        if let Err(e) = send_queued(client, queue, &self.log, self.edge) {
            self.log.dropping(client.peer, &e);
            return self.close(fd);
        }
        self.settle(fd);
    }
    // ANCHOR_END: writable

    // ANCHOR: settle
    /// After a read or a write: closes a client that is done, resumes one
    /// that has room again, and tells epoll what the client waits for now,
    /// with one `epoll_ctl` if that changed and none if it did not.
    fn settle(&mut self, fd: RawFd) {
        let (Some(client), Some(queue)) =
            (self.clients.get_mut(&fd), self.message_queues.get_mut(&fd))
        else {
            return;
        };
        if client.done_reading && queue.is_empty() {
            self.log.closing(client.peer);
            return self.close(fd);
        }
        if client.paused && !queue.is_full() {
            // This client was paused; it has room again. Edge-triggered, no
            // edge will report the data it sent meanwhile: go and look.
            self.log.resuming(client.peer);
            client.paused = false;
            if self.edge {
                self.ready_again.push(fd);
            }
        }
        if self.edge {
            // EPOLLOUT only while output waits for room in the socket.
            if client.writing && queue.is_empty() {
                self.log.queue_empty(client.peer);
            }
            client.writing = !queue.is_empty();
        }
        let wanted = interest(self.edge, client);
        if wanted != client.interest {
            match self.epoll.modify(&client.stream, wanted) {
                Ok(()) => client.interest = wanted,
                Err(e) => {
                    self.log.dropping(client.peer, &e);
                    self.close(fd);
                }
            }
        }
    }
    // ANCHOR_END: settle

    /// Forgets a client; dropping its stream closes the socket, after it has
    /// left the epoll set.
    fn close(&mut self, fd: RawFd) {
        self.message_queues.remove(&fd);
        if let Some(client) = self.clients.remove(&fd) {
            let _ = self.epoll.deregister(&client.stream);
        }
    }
}

// ANCHOR: send
/// Echoes `data` at once, straight from the read buffer, unless older
/// output is still waiting: usually the socket takes it all, and neither the
/// queue nor EPOLLOUT (nor any `epoll_ctl`) is needed. What the socket does
/// not take is queued.
fn send_or_queue(
    client: &Client,
    queue: &mut MessageQueue,
    data: &[u8],
    log: &Log,
) -> io::Result<()> {
    let mut sent = 0;
    if queue.is_empty() {
        log.sending(client.peer, data);
        match (&client.stream).write(data) {
            Ok(n) => sent = n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
        if sent < data.len() {
            log.sent_part(client.peer, sent, data.len());
        }
    }
    queue.push(data[sent..].to_vec());
    Ok(())
}

/// Sends queued output. Edge-triggered, until the queue is empty or the
/// socket is full (an EPOLLOUT edge will say when it has room again);
/// level-triggered, one message per event, as the Python original does.
fn send_queued(client: &Client, queue: &mut MessageQueue, log: &Log, edge: bool) -> io::Result<()> {
    while let Some(next_msg) = queue.front() {
        log.sending(client.peer, next_msg);
        match (&client.stream).write(next_msg) {
            Ok(sent) => {
                let all = sent == next_msg.len();
                if !all {
                    // The socket buffer is full: the rest stays at the head
                    // of the queue.
                    log.sent_part(client.peer, sent, next_msg.len());
                }
                queue.advance(sent);
                if !all || !edge {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
// ANCHOR_END: send

/// What epoll should report for a client. Edge-triggered, reading interest
/// stays on even while the client is paused: an edge that is ignored costs
/// nothing, and an `epoll_ctl` would. Level-triggered, a socket with data
/// would be reported on every call, so reading interest goes with reading.
fn interest(edge: bool, client: &Client) -> Events {
    let out = if client.writing { OUT } else { 0 };
    if edge {
        IN | RDHUP | ET | out
    } else if client.done_reading || client.paused {
        out
    } else {
        IN | out
    }
}
