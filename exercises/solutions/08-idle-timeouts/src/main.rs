//! Exercise 8 (`exercises/08-idle-timeouts`): close idle connections,
//! without a thread per connection.
//!
//! The server is a `poll(2)` echo server (the poll-queue chapter's
//! `Poller`). The exercise is `--idle-timeout SECS`: close a connection
//! that has neither sent nor received anything for that long, from the one
//! loop the server has, and without waking up more often than it must.
//!
//! Read `exercises/08-idle-timeouts/README.md` first; grade the work with
//! `cargo run -p grade -- 08` (`--solution 08` grades the reference
//! solution in `exercises/solutions/08-idle-timeouts`).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

// BEGIN SOLUTION
use std::collections::{BTreeSet, HashMap};
// STARTER
//| use std::collections::HashMap;
// END SOLUTION
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use clap::Parser;
// BEGIN SOLUTION
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, MessageQueue, PyAddr, READ_SIZE, ServerArgs, SpareFd,
    accept_action, exit_with_error, listen, parse_args, raise_fd_limit,
};
// STARTER
//| use echo_common::{
//|     ACCEPT_PAUSE, AcceptAction, Log, MessageQueue, READ_SIZE, ServerArgs, SpareFd, accept_action,
//|     exit_with_error, listen, parse_args, raise_fd_limit,
//| };
// END SOLUTION
use poll_queue::poller::{Events, Poller, READ_ONLY, READ_WRITE, WRITE_ONLY};

/// How long one `poll` waits when no deadline is nearer.
const TIMEOUT: Duration = Duration::from_millis(1000);

/// An echo server that closes idle connections.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Close a connection that has neither sent nor received anything for
    /// this many seconds (fractions allowed: 0.5)
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    idle_timeout: Option<Duration>,
}

/// A positive number of seconds, such as `30` or `0.5`.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.parse().map_err(|e| format!("{e}"))?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text} is not a positive number of seconds"))
}

/// A connected client.
struct Client {
    stream: TcpStream,
    peer: SocketAddr,
    /// The client has sent end-of-file; close once its echo is delivered.
    done_reading: bool,
    /// Its queue is full: reads wait until the client takes its echo.
    paused: bool,
    // BEGIN SOLUTION
    /// When it is closed unless something happens before.
    deadline: Instant,
    // END SOLUTION
}

/// Everything the loop keeps.
struct Server {
    listener: TcpListener,
    poller: Poller,
    message_queues: HashMap<RawFd, MessageQueue>,
    clients: HashMap<RawFd, Client>,
    // BEGIN SOLUTION
    /// Every client's deadline, soonest first: the loop only ever looks at
    /// the front, so a thousand idle clients cost nothing per wake-up.
    deadlines: BTreeSet<(Instant, RawFd)>,
    // END SOLUTION
    idle_limit: Option<Duration>,
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

    let mut poller = Poller::new();
    poller
        .register(&listener, READ_ONLY)
        .unwrap_or_else(|e| exit_with_error(e));
    let mut server = Server {
        poller,
        message_queues: HashMap::new(),
        clients: HashMap::new(),
        // BEGIN SOLUTION
        deadlines: BTreeSet::new(),
        // END SOLUTION
        idle_limit: args.idle_timeout,
        spare: SpareFd::new().unwrap_or_else(|e| exit_with_error(e)),
        accept_paused_until: None,
        listener,
        log,
    };

    let mut events = Vec::new();
    loop {
        server.log.waiting();
        let timeout = server.next_timeout(Instant::now());
        let timeout = server
            .resume_accepting_if_due()
            .map_or(timeout, |left| left.min(timeout));
        if let Err(e) = server.poller.wait(&mut events, timeout) {
            exit_with_error(format_args!("poll failed: {e}"));
        }
        for (fd, flags) in events.drain(..) {
            if fd == server.listener.as_raw_fd() {
                server.accept_all();
            } else {
                server.handle_event(fd, flags);
            }
        }
        server.close_idle(Instant::now());
    }
}

impl Server {
    // BEGIN SOLUTION
    /// How long the next wait may last: until the nearest deadline (rounded
    /// up to the next millisecond, which is `poll`'s unit, so the loop does
    /// not wake a moment too early and spin), and never more than `TIMEOUT`.
    fn next_timeout(&self, now: Instant) -> Duration {
        match self.deadlines.first() {
            Some(&(deadline, _)) => {
                let left = deadline.saturating_duration_since(now);
                let ms = left.as_nanos().div_ceil(1_000_000);
                Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX)).min(TIMEOUT)
            }
            None => TIMEOUT,
        }
    }

    /// Closes every client whose deadline has passed.
    fn close_idle(&mut self, now: Instant) {
        while let Some(&(deadline, fd)) = self.deadlines.first() {
            if deadline > now {
                return;
            }
            match (self.clients.get(&fd), self.idle_limit) {
                (Some(client), Some(limit)) => {
                    self.log.event(format_args!(
                        "closing {}: idle for {:.1} s",
                        PyAddr(client.peer),
                        limit.as_secs_f64()
                    ));
                    self.close(fd);
                }
                // Not a client any more: forget the deadline.
                _ => {
                    self.deadlines.remove(&(deadline, fd));
                }
            }
        }
    }

    /// Something happened on `fd`: its deadline moves to a full limit away.
    fn touch(&mut self, fd: RawFd) {
        let (Some(limit), Some(client)) = (self.idle_limit, self.clients.get_mut(&fd)) else {
            return;
        };
        self.deadlines.remove(&(client.deadline, fd));
        client.deadline = Instant::now() + limit;
        self.deadlines.insert((client.deadline, fd));
    }
    // STARTER
    //| /// How long the next wait may last.
    //| fn next_timeout(&self, now: Instant) -> Duration {
    //|     let Some(limit) = self.idle_limit else {
    //|         return TIMEOUT;
    //|     };
    //|     // TODO: wait no longer than until the nearest moment a client will
    //|     // have been idle for `limit`, and never more than TIMEOUT. Waking up
    //|     // early is a spin; waking up late keeps idle clients too long.
    //|     let _ = (now, limit);
    //|     todo!("how long to wait until the nearest idle deadline")
    //| }
    //|
    //| /// Closes every client that has been idle for longer than the limit.
    //| fn close_idle(&mut self, now: Instant) {
    //|     let Some(limit) = self.idle_limit else {
    //|         return;
    //|     };
    //|     // TODO: close (`self.close`, after a log line) every client that has
    //|     // neither sent nor received anything since `now - limit`, without
    //|     // looking at every client on every turn of the loop.
    //|     let _ = (now, limit);
    //|     todo!("close the clients idle for the limit or longer")
    //| }
    // END SOLUTION

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
        self.message_queues.insert(fd, MessageQueue::new());
        // BEGIN SOLUTION
        let now = Instant::now();
        // STARTER
        //| // TODO: a new client is active now.
        // END SOLUTION
        self.clients.insert(
            fd,
            Client {
                stream,
                peer,
                done_reading: false,
                paused: false,
                // BEGIN SOLUTION
                deadline: now,
                // END SOLUTION
            },
        );
        // BEGIN SOLUTION
        self.touch(fd);
        // END SOLUTION
    }

    fn handle_event(&mut self, fd: RawFd, flags: Events) {
        if flags & (libc::POLLIN | libc::POLLPRI | libc::POLLHUP | libc::POLLERR) != 0 {
            self.handle_readable(fd);
        }
        if flags & (libc::POLLOUT | libc::POLLHUP | libc::POLLERR) != 0 {
            self.handle_writable(fd);
        }
        if flags & libc::POLLNVAL != 0 {
            self.close(fd);
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
        let mut data = [0u8; READ_SIZE];
        match client.stream.read(&mut data) {
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
                    self.log.pausing(client.peer, queue.pending());
                    client.paused = true;
                    let _ = self.poller.modify(&client.stream, WRITE_ONLY);
                } else {
                    let _ = self.poller.modify(&client.stream, READ_WRITE);
                }
                // BEGIN SOLUTION
                self.touch(fd);
                // STARTER
                //| // TODO: the client sent something: it is not idle.
                // END SOLUTION
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
            self.log.queue_empty(client.peer);
            let _ = self.poller.modify(&client.stream, READ_ONLY);
            return;
        };
        self.log.sending(client.peer, next_msg);
        match client.stream.write(next_msg) {
            Ok(sent) => {
                if sent < next_msg.len() {
                    self.log.sent_part(client.peer, sent, next_msg.len());
                }
                queue.advance(sent);
                if client.done_reading && queue.is_empty() {
                    self.log.closing(client.peer);
                    self.close(fd);
                    return;
                }
                if client.paused && !queue.is_full() {
                    self.log.resuming(client.peer);
                    client.paused = false;
                    let _ = self.poller.modify(&client.stream, READ_WRITE);
                }
                // BEGIN SOLUTION
                // A client that takes its echo is not idle.
                self.touch(fd);
                // STARTER
                //| // TODO: a client that takes its echo is not idle either.
                // END SOLUTION
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
    /// Forgets a client and its deadline; dropping its stream closes the
    /// socket, after it has left the poller.
    // STARTER
    //| /// Forgets a client; dropping its stream closes the socket, after it
    //| /// has left the poller.
    // END SOLUTION
    fn close(&mut self, fd: RawFd) {
        self.message_queues.remove(&fd);
        if let Some(client) = self.clients.remove(&fd) {
            // BEGIN SOLUTION
            self.deadlines.remove(&(client.deadline, fd));
            // END SOLUTION
            let _ = self.poller.deregister(&client.stream);
        }
    }
}
