// BEGIN SOLUTION
//! Reference solution to exercise 4 (`exercises/04-select-queue`): the
//! select-queue chapter's server with a byte quota per client. With
//! `--quota BYTES`, a client's first BYTES bytes are echoed; what it sends
//! after them is read and dropped. Once its echo is delivered, the server
//! sends one line saying the quota is used up, shuts down its sending side,
//! and closes when the client closes, or when a short drain is over.
//!
//! Grade it with `cargo run -p grade -- --solution 04`.
// STARTER
//| //! Exercise 4: the select-queue chapter's server, to be given a byte quota
//| //! per client (`--quota BYTES`).
//| //!
//| //! Without `--quota` it is the chapter's server. With it, the first read
//| //! reaches a `todo!()`: a client's first BYTES bytes are to be echoed, then
//| //! one line that says the quota is used up, then the connection ends
//| //! without losing any of it.
//| //!
//| //! Read `exercises/04-select-queue/README.md` first; grade your work with
//| //! `cargo run -p grade -- 04`.
// END SOLUTION
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};
// BEGIN SOLUTION
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
// STARTER
//| use std::net::{SocketAddr, TcpListener, TcpStream};
// END SOLUTION
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use clap::Parser;
// BEGIN SOLUTION
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, MessageQueue, PyAddr, SHARED_READ_SIZE, ServerArgs, SpareFd,
    accept_action, exit_with_error, listen, parse_args, parse_read_size, raise_fd_limit,
};
// STARTER
//| use echo_common::{
//|     ACCEPT_PAUSE, AcceptAction, Log, MessageQueue, SHARED_READ_SIZE, ServerArgs, SpareFd,
//|     accept_action, exit_with_error, listen, parse_args, parse_read_size, raise_fd_limit,
//| };
// END SOLUTION
use echo_sys::{FdSet, FdTooLarge, select};

/// An echo server that multiplexes its clients with select().
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The most bytes read from a socket in one call (one buffer serves
    /// every client)
    #[arg(long, value_name = "BYTES", default_value_t = SHARED_READ_SIZE, value_parser = parse_read_size)]
    read_size: usize,
    /// Echo at most this many bytes of each client, then send it one line
    /// saying so and end the connection (default: no limit)
    #[arg(long, value_name = "BYTES", value_parser = parse_quota)]
    quota: Option<usize>,
}

/// A positive number of bytes.
fn parse_quota(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("the quota must be at least 1 byte".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{text:?} is not a number of bytes: {e}")),
    }
}
// BEGIN SOLUTION

/// How long a client whose quota is used up keeps its connection after the
/// server has shut down its sending side, if it does not close first: time
/// enough to read what is still on its way, without letting it hold the
/// descriptor for good.
const DRAIN: Duration = Duration::from_secs(2);

/// The line a client gets once its echo is delivered and its quota is used up.
fn used_up_line(quota: usize) -> String {
    format!("quota of {quota} bytes used up\n")
}
// END SOLUTION

/// A connected client.
struct Client {
    stream: TcpStream,
    peer: SocketAddr,
    /// The client has sent end-of-file; close once its echo is delivered.
    done_reading: bool,
    // BEGIN SOLUTION
    /// Bytes it may still send to have them echoed (`None`: no quota).
    allowance: Option<usize>,
    /// Its quota is used up: what it sends now is read and dropped, and the
    /// line follows its echo in the queue.
    cut: bool,
    /// Once its echo and the line are delivered and the server has shut down
    /// its sending side: when the server closes if the client has not.
    drain_until: Option<Instant>,
    // STARTER
    //| // TODO: what the server must know of a client with a quota: how much
    //| // of it is left, and where the client is on its way out.
    // END SOLUTION
}

/// Everything the loop keeps, under the Python original's names.
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
    /// Where reads land, one buffer for every client.
    data: Vec<u8>,
    /// `--quota`: how many bytes of each client are echoed.
    quota: Option<usize>,
    // BEGIN SOLUTION
    /// The clients being drained, by the time their drain ends, soonest first.
    draining: BTreeSet<(Instant, RawFd)>,
    // END SOLUTION
    log: Log,
}

fn main() {
    let args: Args = parse_args();
    let log = Log::new(args.server.quiet);

    let listener = listen(&args.server).unwrap_or_else(|e| exit_with_error(e));
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| exit_with_error(e));
    // More descriptors than FD_SETSIZE do not help select, but with them an
    // extra connection is refused politely instead of failing accept.
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
        data: vec![0; args.read_size],
        quota: args.quota,
        // BEGIN SOLUTION
        draining: BTreeSet::new(),
        // END SOLUTION
        log,
    };

    loop {
        // BEGIN SOLUTION
        let drain = server.close_drained();
        let timeout = match (server.resume_accepting_if_due(), drain) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // STARTER
        //| // TODO: a client that does not close after its quota is closed by the
        //| // server after a short drain: the wait must end in time for that.
        //| let timeout = server.resume_accepting_if_due();
        // END SOLUTION
        server.log.waiting();
        let mut readable = fd_set(&server.inputs);
        let mut writable = fd_set(&server.outputs);
        let mut exceptional = fd_set(&server.inputs);
        let highest = server.inputs.iter().chain(&server.outputs).max();
        let nfds = highest.map_or(0, |fd| fd + 1);
        match select(
            nfds,
            Some(&mut readable),
            Some(&mut writable),
            Some(&mut exceptional),
            timeout,
        ) {
            Ok(_) => {}
            // A signal (SIGSTOP/SIGCONT, a debugger) interrupted the wait.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => exit_with_error(format_args!("select failed: {e}")),
        }

        // Handle inputs: the listener is readable when a client is waiting.
        for fd in ready(&server.inputs, &readable) {
            if fd == server.listener.as_raw_fd() {
                server.accept_all();
            } else {
                server.handle_readable(fd);
            }
        }
        // Handle outputs.
        for fd in ready(&server.outputs, &writable) {
            server.handle_writable(fd);
        }
        // Handle "exceptional conditions": for TCP, urgent (out-of-band) data.
        for fd in ready(&server.inputs, &exceptional) {
            if let Some(client) = server.clients.get(&fd) {
                server.log.exceptional(client.peer);
            }
        }
    }
}

/// The descriptors of `fds` as an `fd_set`. Each was checked against
/// `FD_SETSIZE` when it was accepted, so none is refused here.
fn fd_set(fds: &BTreeSet<RawFd>) -> FdSet {
    let mut set = FdSet::new();
    for &fd in fds {
        let _ = set.insert(fd);
    }
    set
}

/// The members of `watched` that `select` left set in `ready`. Collected into
/// a `Vec` because handling one may change `watched`.
fn ready(watched: &BTreeSet<RawFd>, ready: &FdSet) -> Vec<RawFd> {
    watched
        .iter()
        .copied()
        .filter(|&fd| ready.contains(fd))
        .collect()
}

impl Server {
    /// Accepts every waiting client (the listener is non-blocking, so this
    /// stops at `WouldBlock`).
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
            // FD_SET would panic on it (in C, write past the set), stopping
            // the server for one client too many: refuse only that one.
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
        // Give the connection a queue for data we want to send.
        self.message_queues.insert(fd, MessageQueue::new());
        self.clients.insert(
            fd,
            Client {
                stream,
                peer,
                done_reading: false,
                // BEGIN SOLUTION
                allowance: self.quota,
                cut: false,
                drain_until: None,
                // END SOLUTION
            },
        );
    }

    fn handle_readable(&mut self, fd: RawFd) {
        let (Some(client), Some(queue)) =
            (self.clients.get_mut(&fd), self.message_queues.get_mut(&fd))
        else {
            return;
        };
        let data = &mut self.data;
        match client.stream.read(data) {
            // Zero bytes: the client will send no more. Its echo may still be
            // queued; it is delivered before the socket is closed.
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
            Ok(n) => {
                self.log.received(client.peer, &data[..n]);
                // BEGIN SOLUTION
                if client.cut {
                    // Past the quota: read all the same, or the client's sends
                    // would stall, and unread bytes would turn the close
                    // into a reset; then drop.
                    self.log.event(format_args!(
                        "discarding {n} bytes from {}: its quota is used up",
                        PyAddr(client.peer)
                    ));
                    return;
                }
                let echoed = client.allowance.map_or(n, |left| left.min(n));
                // STARTER
                //| // TODO: with `--quota BYTES`, echo only the client's first BYTES
                //| // bytes, queue the line `quota of BYTES bytes used up` behind them,
                //| // and drop, while still reading, whatever the client sends after.
                //| if let Some(quota) = self.quota {
                //|     todo!("echo at most {quota} bytes of each client");
                //| }
                //| let echoed = n;
                // END SOLUTION
                queue.push(&data[..echoed]);
                // Add output channel for response.
                self.outputs.insert(fd);
                // BEGIN SOLUTION
                if let (Some(left), Some(quota)) = (client.allowance.as_mut(), self.quota) {
                    *left -= echoed;
                    if *left == 0 {
                        // The line waits behind the echo in the same queue, so
                        // it goes out after the last echoed byte. The client
                        // stays in `inputs`, even with a full queue: what it
                        // reads from now on is dropped, not queued.
                        client.cut = true;
                        queue.push(used_up_line(quota).as_bytes());
                        self.log.event(format_args!(
                            "quota of {quota} bytes used up by {}; {} bytes queued",
                            PyAddr(client.peer),
                            queue.pending()
                        ));
                        return;
                    }
                }
                // END SOLUTION
                if queue.is_full() {
                    // The client is not reading its echo: stop reading from
                    // it until the queue drains, so memory stays bounded.
                    self.log.pausing(client.peer, queue.pending());
                    self.inputs.remove(&fd);
                }
            }
            // Spurious readiness, or a signal: try again on the next event.
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
            // No messages waiting, so stop checking for writability.
            self.log.queue_empty(client.peer);
            self.outputs.remove(&fd);
            return;
        };
        self.log.sending(client.peer, next_msg);
        match client.stream.write(next_msg) {
            Ok(sent) => {
                if sent < next_msg.len() {
                    // The socket buffer is full: the rest stays at the head of
                    // the queue and goes out on the next writable event.
                    self.log.sent_part(client.peer, sent, next_msg.len());
                }
                queue.advance(sent);
                // BEGIN SOLUTION
                if client.cut && !client.done_reading && queue.is_empty() {
                    self.half_close(fd);
                    return;
                }
                // STARTER
                //| // TODO: once all that is owed to a client whose quota is used up
                //| // is sent, end its connection without destroying any of it.
                // END SOLUTION
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

    // BEGIN SOLUTION
    /// The echo and the line of a client whose quota is used up are sent:
    /// shut down the sending side (after the line, the client reads
    /// end-of-file), and go on reading, and dropping, until the client closes
    /// or the drain is over. Closing at once would answer any byte still
    /// unread, or still to come, with a reset, and a reset discards what the
    /// kernel has not delivered yet: the end of the echo, the line.
    fn half_close(&mut self, fd: RawFd) {
        self.outputs.remove(&fd);
        let Some(client) = self.clients.get_mut(&fd) else {
            return;
        };
        if let Err(e) = client.stream.shutdown(Shutdown::Write) {
            self.log.dropping(client.peer, &e);
            self.close(fd);
            return;
        }
        let until = Instant::now() + DRAIN;
        client.drain_until = Some(until);
        self.draining.insert((until, fd));
        self.log.event(format_args!(
            "shutting down sending to {}: its echo and the line are sent",
            PyAddr(client.peer)
        ));
    }

    /// Closes every client whose drain is over. Returns how long until the
    /// next drain ends, the longest the next wait may take (`None`: no client
    /// is being drained).
    fn close_drained(&mut self) -> Option<Duration> {
        let now = Instant::now();
        while let Some(&(until, fd)) = self.draining.first() {
            let left = until.saturating_duration_since(now);
            if !left.is_zero() {
                return Some(left);
            }
            self.draining.pop_first();
            if let Some(client) = self.clients.get(&fd) {
                self.log.event(format_args!(
                    "closing {}: {} s after the line, it has not closed its side",
                    PyAddr(client.peer),
                    DRAIN.as_secs()
                ));
            }
            self.close(fd);
        }
        None
    }

    // END SOLUTION
    /// Forgets a client; dropping its stream closes the socket.
    fn close(&mut self, fd: RawFd) {
        // BEGIN SOLUTION
        if let Some(until) = self.clients.get(&fd).and_then(|c| c.drain_until) {
            self.draining.remove(&(until, fd));
        }
        // END SOLUTION
        self.inputs.remove(&fd);
        self.outputs.remove(&fd);
        self.message_queues.remove(&fd);
        self.clients.remove(&fd);
    }
}
