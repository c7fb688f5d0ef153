//! Exercise 6 (`exercises/06-epoll-edge`): a rate limit on an
//! edge-triggered loop.
//!
//! The server is an edge-triggered epoll echo server that reads until
//! `WouldBlock` and asks for `EPOLLOUT` only while echo waits for room, as
//! the epoll-edge chapter's does. The exercise is `--rate BYTES_PER_SEC`:
//! each client may send that many bytes a second, and a second's worth at
//! once. A client that has spent its budget is not read until the budget
//! has refilled; what it sent waits in the socket meanwhile, and TCP makes
//! it wait too. When the budget refills, no new edge announces the data
//! already waiting: the loop must come back for it itself.
//!
//! Linux only. Read `exercises/06-epoll-edge/README.md` first; grade the
//! work with `cargo run -p grade -- 06` (`--solution 06` grades the
//! reference solution in `exercises/solutions/06-epoll-edge`).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use clap::Parser;
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, MessageQueue, PyAddr, READ_SIZE, ServerArgs, SpareFd,
    accept_action, exit_with_error, listen, parse_args, raise_fd_limit,
};
use epoll_edge::epoll::{ERR, ET, Epoll, Events, HUP, IN, OUT, RDHUP};

/// What every client is watched for: data and the peer's end-of-file,
/// edge-triggered. (`EPOLLHUP` and `EPOLLERR` come unasked.)
const READING: Events = IN | RDHUP | ET;

/// An edge-triggered epoll echo server with a rate limit per client.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Read at most this many bytes a second from each client, and at most
    /// a second's worth at once (no limit without it)
    #[arg(long, value_name = "BYTES_PER_SEC", value_parser = parse_rate)]
    rate: Option<u64>,
}

/// A positive whole number of bytes a second.
fn parse_rate(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(rate) if rate > 0 => Ok(rate),
        _ => Err(format!(
            "'{text}' is not a positive whole number of bytes a second"
        )),
    }
}

/// A client's reading budget, a token bucket: it fills at `rate` bytes a
/// second, up to a second's worth, and every byte read is paid from it.
struct Budget {
    /// Bytes a second, and also the most the bucket holds.
    rate: f64,
    /// What may be read, as of `counted_at`.
    bytes: f64,
    counted_at: Instant,
}

impl Budget {
    /// A full bucket: a new client may send a second's worth at once.
    fn new(rate: u64, now: Instant) -> Budget {
        let rate = rate as f64;
        Budget {
            rate,
            bytes: rate,
            counted_at: now,
        }
    }

    /// Adds what has flowed in since the last count.
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.counted_at);
        self.bytes = (self.bytes + elapsed.as_secs_f64() * self.rate).min(self.rate);
        self.counted_at = now;
    }

    /// How many whole bytes may be read, as of the last count.
    fn left(&self) -> usize {
        self.bytes as usize
    }

    fn spend(&mut self, n: usize) {
        self.bytes = (self.bytes - n as f64).max(0.0);
    }
}

/// A connected client.
struct Client {
    stream: TcpStream,
    peer: SocketAddr,
    /// The client has sent end-of-file; close once its echo is delivered.
    done_reading: bool,
    /// Its queue is full: reads wait until the client takes its echo.
    paused: bool,
    /// Output is waiting for room: epoll is asked for `EPOLLOUT`.
    writing: bool,
    /// With `--rate`: what it may send before it is throttled.
    budget: Option<Budget>,
    // TODO: whether it is throttled, and until when.
}

/// Everything the loop keeps.
struct Server {
    listener: TcpListener,
    epoll: Epoll,
    /// Outgoing data, per socket.
    message_queues: HashMap<RawFd, MessageQueue>,
    clients: HashMap<RawFd, Client>,
    /// `--rate`: each client's budget, in bytes a second.
    rate: Option<u64>,
    /// The throttled clients, the soonest refilled first. What they sent
    /// waits in their sockets, and no new edge will say so.
    refills: BTreeSet<(Instant, RawFd)>,
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
        rate: args.rate,
        refills: BTreeSet::new(),
        spare: SpareFd::new().unwrap_or_else(|e| exit_with_error(e)),
        accept_paused_until: None,
        listener,
        log,
    };

    let mut events = Vec::new();
    loop {
        let timeout = server.timeout(Instant::now());
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
        let now = Instant::now();
        server.resume_accepting_if_due(now);
        server.resume_refilled(now);
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
    /// How long the next wait may sleep: no longer than until accepting
    /// resumes, if it is paused, and until the first throttled client may
    /// be read again. `None`: until an event comes.
    fn timeout(&self, now: Instant) -> Option<Duration> {
        // TODO: a throttled client raises no new edge when its budget
        // refills. Wait no longer than until the first of them may be
        // read again, as the loop already does for a pause in accepting.
        let wake = self.accept_paused_until;
        wake.map(|at| at.saturating_duration_since(now))
    }

    /// Reads again from every throttled client whose budget has refilled
    /// by `now`: the data it sent meanwhile raised no new edge.
    fn resume_refilled(&mut self, now: Instant) {
        // TODO: for each client in `refills` whose time has come (and only
        // those): take it out, and read what it sent, as an edge would
        // have made the loop do.
        if !self.refills.is_empty() {
            todo!("read again from the throttled clients whose budget has refilled by {now:?}")
        }
    }

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
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
            }
        }
    }

    /// Accepts again once a pause is over: the clients that came meanwhile
    /// get no new edge.
    fn resume_accepting_if_due(&mut self, now: Instant) {
        if self.accept_paused_until.is_some_and(|until| until <= now) {
            self.accept_paused_until = None;
            self.accept_all();
        }
    }

    fn add_client(&mut self, stream: TcpStream, peer: SocketAddr) {
        // Echoes go out at once (no Nagle delay), and urgent data stays in the
        // stream, to be echoed like any other byte.
        let setup = stream
            .set_nonblocking(true)
            .and_then(|()| echo_common::tune_connection(&stream))
            .and_then(|()| self.epoll.register(&stream, READING));
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
                writing: false,
                budget: self.rate.map(|rate| Budget::new(rate, Instant::now())),
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

    /// Reads until the socket is empty (`WouldBlock`) or the client's budget
    /// is spent, and echoes what it read. Edge-triggered, this event is the
    /// only one the data now waiting will get.
    fn handle_readable(&mut self, fd: RawFd) {
        let mut data = [0u8; READ_SIZE];
        if let Some(budget) = self.clients.get_mut(&fd).and_then(|c| c.budget.as_mut()) {
            // Once per call: counted again before each read, the bucket
            // would hold a byte or two more each time, and the loop would
            // go on reading them a few at a time.
            budget.refill(Instant::now());
        }
        let mut looked_again = false;
        loop {
            let (Some(client), Some(queue)) =
                (self.clients.get_mut(&fd), self.message_queues.get_mut(&fd))
            else {
                return;
            };
            if client.done_reading || client.paused {
                return;
            }
            let room = client
                .budget
                .as_ref()
                .map_or(data.len(), |budget| budget.left().min(data.len()));
            if room == 0 {
                return self.throttle(fd);
            }
            match client.stream.read(&mut data[..room]) {
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
                    if let Some(budget) = client.budget.as_mut() {
                        budget.spend(n);
                    }
                    self.log.received(client.peer, &data[..n]);
                    queue.push(&data[..n]);
                }
                // Empty for now: the next edge says when there is more. But
                // at TCP's urgent mark, a read made while a signal is pending
                // gets WouldBlock whatever is queued (chapter 7): look once.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if looked_again
                        || !echo_sys::bytes_queued(client.stream.as_fd()).is_ok_and(|n| n > 0)
                    {
                        return;
                    }
                    looked_again = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
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
    }

    /// The client has spent its budget, perhaps with data left in the
    /// socket. That data stays there, and once the socket's buffer is full,
    /// TCP makes the client wait too.
    fn throttle(&mut self, fd: RawFd) {
        let Some(client) = self.clients.get_mut(&fd) else {
            return;
        };
        self.log.event(format_args!(
            "throttling reads from {}: its budget is spent",
            PyAddr(client.peer)
        ));
        // TODO: as it is, the client is read again on its next edge, and
        // then only. One that sent a burst and now waits for its echo
        // raises no edge: the rest of its burst stays in the socket for
        // ever. Note when its budget will allow a full read (READ_SIZE
        // bytes, or a full bucket if that is less), in `refills`, so that
        // the loop comes back to it then.
    }

    /// `EPOLLOUT`: the socket has room again.
    fn handle_writable(&mut self, fd: RawFd) {
        self.flush(fd);
        if let (Some(client), Some(queue)) =
            (self.clients.get_mut(&fd), self.message_queues.get_mut(&fd))
            && client.paused
            && !queue.is_full()
        {
            self.log.resuming(client.peer);
            client.paused = false;
            // The data it sent while paused raised no new edge: read it now.
            self.handle_readable(fd);
        }
    }

    /// Sends queued output until the queue is empty or the socket is full,
    /// and asks epoll for `EPOLLOUT` only while output is left.
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
                } else if client.writing {
                    // Nothing left to send: no more EPOLLOUT wake-ups.
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
                    queue.advance(sent);
                }
                // Full: the rest waits for EPOLLOUT, the edge that says the
                // socket has room again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !client.writing {
                        client.writing = true;
                        self.update_interest(fd);
                    }
                    return;
                }
                Err(e) if not_now(&e) => {}
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
        if let Err(e) = self.epoll.modify(&client.stream, READING | out) {
            self.log.dropping(client.peer, &e);
            self.close(fd);
        }
    }

    /// Forgets a client; dropping its stream closes the socket, after it has
    /// left the epoll set.
    fn close(&mut self, fd: RawFd) {
        self.message_queues.remove(&fd);
        if let Some(client) = self.clients.remove(&fd) {
            // TODO: a throttled client leaves `refills` too: its
            // descriptor number may come back with the next client.
            let _ = self.epoll.deregister(&client.stream);
        }
    }
}
