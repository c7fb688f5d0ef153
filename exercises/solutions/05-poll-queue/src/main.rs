//! Exercise 5 (`exercises/05-poll-queue`): a connection limit on a
//! level-triggered loop.
//!
//! The server is the poll-queue chapter's, on the chapter's `Poller`. The
//! exercise is `--max-clients N`: with N clients connected the server
//! accepts no more, the next clients wait in the kernel's listen backlog
//! (connected, but not served), and the first of them is taken as soon as
//! one of the N leaves. While it is full, the loop must sleep like an idle
//! one.
//!
//! Read `exercises/05-poll-queue/README.md` first; grade the work with
//! `cargo run -p grade -- 05` (`--solution 05` grades the reference solution
//! in `exercises/solutions/05-poll-queue`).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use clap::Parser;
use clap::builder::RangedU64ValueParser;
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, MessageQueue, SHARED_READ_SIZE, ServerArgs, SpareFd,
    accept_action, exit_with_error, listen, parse_args, raise_fd_limit,
};
use poll_queue::poller::{Events, Poller, READ_ONLY, READ_WRITE, WRITE_ONLY};

/// How long one `poll` may wait, in the Python original's milliseconds.
const TIMEOUT: Duration = Duration::from_millis(1000);

/// An echo server that multiplexes its clients with poll(), and serves at
/// most N of them at once.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Serve at most N clients at once; the next ones wait, connected, in
    /// the listen backlog until one of the N leaves
    #[arg(long, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    max_clients: Option<usize>,
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

/// Everything the loop keeps, under the Python original's names.
struct Server {
    listener: TcpListener,
    poller: Poller,
    /// Outgoing data, per socket.
    message_queues: HashMap<RawFd, MessageQueue>,
    /// The socket behind each descriptor `poll` reports (`fd_to_socket`).
    clients: HashMap<RawFd, Client>,
    /// `--max-clients`: the most clients served at once (`None`: no limit).
    max_clients: Option<usize>,
    spare: SpareFd,
    /// While accepting is paused after an error, when it resumes.
    accept_paused_until: Option<Instant>,
    /// Where reads land, one buffer for every client.
    data: Vec<u8>,
    log: Log,
}

fn main() {
    let args: Args = parse_args();
    let log = Log::new(args.server.quiet);

    let listener = listen(&args.server).unwrap_or_else(|e| exit_with_error(e));
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| exit_with_error(e));
    // poll has no descriptor limit of its own; the process's limit is next.
    let _ = raise_fd_limit();
    let port = listener.local_addr().map_or(args.server.port, |a| a.port());
    log.starting_up(&args.server.host, port);

    let mut poller = Poller::new();
    poller
        .register(&listener, READ_ONLY)
        .unwrap_or_else(|e| exit_with_error(e));
    let mut server = Server {
        poller,
        message_queues: HashMap::new(),
        clients: HashMap::new(),
        max_clients: args.max_clients,
        spare: SpareFd::new().unwrap_or_else(|e| exit_with_error(e)),
        accept_paused_until: None,
        listener,
        data: vec![0; SHARED_READ_SIZE],
        log,
    };

    let mut events = Vec::new();
    loop {
        server.log.waiting();
        // The timeout wakes the loop once a second when nothing happens; this
        // server has no periodic work, so it simply waits again.
        while events.is_empty() {
            let timeout = server
                .resume_accepting_if_due()
                .map_or(TIMEOUT, |left| left.min(TIMEOUT));
            if let Err(e) = server.poller.wait(&mut events, timeout) {
                exit_with_error(format_args!("poll failed: {e}"));
            }
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
    /// Whether as many clients are connected as `--max-clients` allows.
    fn is_full(&self) -> bool {
        self.max_clients
            .is_some_and(|max| self.clients.len() >= max)
    }

    /// Accepts every waiting client (the listener is non-blocking, so this
    /// stops at `WouldBlock`), or as many as `--max-clients` leaves room for.
    fn accept_all(&mut self) {
        loop {
            if self.is_full() {
                self.log.event(format_args!(
                    "full: {} connected, the next ones wait in the backlog",
                    self.clients.len()
                ));
                // BEGIN SOLUTION
                // A client waiting in the backlog keeps the listener
                // readable, and `poll` is level-triggered: while the listener
                // is watched, every call would return at once, and the loop
                // would spin until a client leaves. `close` watches it again.
                let _ = self.poller.deregister(&self.listener);
                // STARTER
                //| // TODO: returning here leaves the next clients waiting in the
                //| // listen backlog, as they should. But watch `top` (or the log)
                //| // while one of them waits: what does the loop do, and why?
                // END SOLUTION
                return;
            }
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
        let _ = self.poller.deregister(&self.listener);
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
        let _ = self.poller.register(&self.listener, READ_ONLY);
        None
    }

    fn add_client(&mut self, stream: TcpStream, peer: SocketAddr) {
        // Echoes go out at once (no Nagle delay), and urgent data stays in the
        // stream, to be echoed like any other byte.
        let setup = stream
            .set_nonblocking(true)
            .and_then(|()| echo_common::tune_connection(&stream))
            .and_then(|()| self.poller.register(&stream, READ_ONLY));
        if let Err(e) = setup {
            self.log.dropping(peer, &e);
            return;
        }
        self.log.new_connection(peer);
        let fd = stream.as_raw_fd();
        // Give the connection a queue for data we want to send.
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
        let Some(client) = self.clients.get(&fd) else {
            return;
        };
        if flags & libc::POLLNVAL != 0 {
            // Not an open descriptor: only a bookkeeping bug gets here.
            let peer = client.peer;
            self.log
                .dropping(peer, &io::Error::from_raw_os_error(libc::EBADF));
            self.close(fd);
            return;
        }
        if flags & libc::POLLPRI != 0 {
            self.log.exceptional(client.peer);
        }
        // On a hang-up or an error, the read and the write say what is left:
        // the rest of the data, end-of-file, or the error that drops the
        // client. Either way the connection ends here rather than being
        // reported again on every call.
        if flags & (libc::POLLIN | libc::POLLPRI | libc::POLLHUP | libc::POLLERR) != 0 {
            self.handle_readable(fd);
        }
        if flags & (libc::POLLOUT | libc::POLLHUP | libc::POLLERR) != 0 {
            self.handle_writable(fd);
        }
    }

    fn handle_readable(&mut self, fd: RawFd) {
        let (Some(client), Some(queue)) =
            (self.clients.get_mut(&fd), self.message_queues.get_mut(&fd))
        else {
            return;
        };
        if client.done_reading || client.paused {
            return;
        }
        let data = &mut self.data;
        match client.stream.read(data) {
            // Zero bytes: the client will send no more. Its echo may still be
            // queued; it is delivered before the socket is closed.
            Ok(0) => {
                if queue.is_empty() {
                    self.log.closing(client.peer);
                    self.close(fd);
                } else {
                    self.log.end_of_input(client.peer, queue.pending());
                    client.done_reading = true;
                    let _ = self.poller.modify(&client.stream, WRITE_ONLY);
                }
            }
            Ok(n) => {
                self.log.received(client.peer, &data[..n]);
                queue.push(&data[..n]);
                if queue.is_full() {
                    // The client is not reading its echo: stop reading from
                    // it until the queue drains, so memory stays bounded.
                    self.log.pausing(client.peer, queue.pending());
                    client.paused = true;
                    let _ = self.poller.modify(&client.stream, WRITE_ONLY);
                } else {
                    // Watch for writability too: there is a response to send.
                    let _ = self.poller.modify(&client.stream, READ_WRITE);
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
            let _ = self.poller.modify(&client.stream, READ_ONLY);
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
                if client.done_reading && queue.is_empty() {
                    self.log.closing(client.peer);
                    self.close(fd);
                } else if client.paused && !queue.is_full() {
                    // This client was paused; it has room again.
                    self.log.resuming(client.peer);
                    client.paused = false;
                    let _ = self.poller.modify(&client.stream, READ_WRITE);
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

    /// Forgets a client; dropping its stream closes the socket, after it has
    /// left the poller.
    fn close(&mut self, fd: RawFd) {
        let was_full = self.is_full();
        self.message_queues.remove(&fd);
        if let Some(client) = self.clients.remove(&fd) {
            let _ = self.poller.deregister(&client.stream);
        }
        if was_full && !self.is_full() {
            self.log
                .event(format_args!("a client left: accepting again"));
            // BEGIN SOLUTION
            // Watched again, the listener is reported by the next `poll` if
            // a client waits in the backlog, and `accept` takes the one that
            // has waited longest. (No accept pause can be running: a pause
            // follows a failed `accept`, and a full server tries none.)
            let _ = self.poller.register(&self.listener, READ_ONLY);
            // STARTER
            //| // TODO: a slot is free, and the first client waiting in the backlog
            //| // must be served now. What will tell the loop that it is there?
            //| todo!("let the next waiting client in")
            // END SOLUTION
        }
    }
}
