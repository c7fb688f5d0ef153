//! Chapter 5, poll-queue: one thread serves every client with `poll(2)`.
//!
//! Where select-queue rebuilds three bit sets before every call, this server
//! registers each descriptor once with a [`Poller`] and changes its interest
//! when the connection's state changes: `READ_ONLY` while there is nothing to
//! send, `READ_WRITE` while its queue in `message_queues` holds output. `poll`
//! takes an array rather than a bit set, so there is no `FD_SETSIZE` limit:
//! ten thousand clients are served like two. With `--capitalize` it replies as
//! the Python original does, each received chunk capitalized.
//!
//! Run it with `cargo run -p poll-queue`, then `cargo run -p multiclient` in
//! a second terminal. The book's chapter "poll-queue" walks through this file.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use clap::Parser;
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, MessageQueue, SHARED_READ_SIZE, ServerArgs, SpareFd,
    accept_action, exit_with_error, listen, parse_args, parse_read_size, raise_fd_limit,
};
use poll_queue::poller::{Events, Poller, READ_ONLY, READ_WRITE, WRITE_ONLY};

/// How long one `poll` may wait, in the Python original's milliseconds.
const TIMEOUT: Duration = Duration::from_millis(1000);

/// An echo server that multiplexes its clients with poll().
#[derive(Parser)]
#[command(name = "poll-queue")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The most bytes read from a socket in one call (one buffer serves
    /// every client)
    #[arg(long, value_name = "BYTES", default_value_t = SHARED_READ_SIZE, value_parser = parse_read_size)]
    read_size: usize,
    /// Reply with each received chunk capitalized (first byte upper case, the
    /// rest lower case, ASCII only), as the Python original does
    #[arg(long)]
    capitalize: bool,
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
    spare: SpareFd,
    /// While accepting is paused after an error, when it resumes.
    accept_paused_until: Option<Instant>,
    capitalize: bool,
    /// Where reads land, one buffer for every client.
    data: Vec<u8>,
    log: Log,
}

fn main() {
    let args: Args = parse_args();
    let log = Log::new(args.server.quiet);

    // ANCHOR: setup
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
        spare: SpareFd::new().unwrap_or_else(|e| exit_with_error(e)),
        accept_paused_until: None,
        capitalize: args.capitalize,
        listener,
        data: vec![0; args.read_size],
        log,
    };
    // ANCHOR_END: setup

    // ANCHOR: loop
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
    // ANCHOR_END: loop
}

impl Server {
    // ANCHOR: accept
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
    // ANCHOR_END: accept

    // ANCHOR: event
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
    // ANCHOR_END: event

    // ANCHOR: readable
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
                if self.capitalize {
                    queue.push(&capitalize(&data[..n]));
                } else {
                    queue.push(&data[..n]);
                }
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
    // ANCHOR_END: readable

    // ANCHOR: writable
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
    // ANCHOR_END: writable

    /// Forgets a client; dropping its stream closes the socket, after it has
    /// left the poller.
    fn close(&mut self, fd: RawFd) {
        self.message_queues.remove(&fd);
        if let Some(client) = self.clients.remove(&fd) {
            let _ = self.poller.deregister(&client.stream);
        }
    }
}

// ANCHOR: capitalize
/// The Python original's `data.capitalize()`: the first byte in upper case,
/// every other in lower case, ASCII letters only, so any bytes are safe.
fn capitalize(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_ascii_lowercase();
    if let Some(first) = out.first_mut() {
        first.make_ascii_uppercase();
    }
    out
}
// ANCHOR_END: capitalize

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accept_error_that_would_repeat_pauses_accepting() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let fd = listener.as_raw_fd();
        let mut poller = Poller::new();
        poller.register(&listener, READ_ONLY).unwrap();
        let mut server = Server {
            poller,
            message_queues: HashMap::new(),
            clients: HashMap::new(),
            spare: SpareFd::new().unwrap(),
            accept_paused_until: None,
            capitalize: false,
            listener,
            data: vec![0; 4096],
            log: Log::new(true),
        };
        // Shut down for reading, a listener stops listening: it is readable
        // from then on, and accept fails with EINVAL, again and again.
        socket2::SockRef::from(&server.listener)
            .shutdown(std::net::Shutdown::Read)
            .unwrap();
        let mut events = Vec::new();
        server.poller.wait(&mut events, Duration::ZERO).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, fd);
        server.accept_all();
        // No longer watched: the wait finds nothing.
        server.poller.wait(&mut events, Duration::ZERO).unwrap();
        assert!(events.is_empty(), "still watching the listener");
        let left = server.resume_accepting_if_due().unwrap();
        assert!(!left.is_zero() && left <= ACCEPT_PAUSE, "{left:?}");
        std::thread::sleep(left);
        assert_eq!(server.resume_accepting_if_due(), None);
        server.poller.wait(&mut events, Duration::ZERO).unwrap();
        assert_eq!(events.len(), 1, "not watching the listener again");
    }

    #[test]
    fn capitalize_works_per_chunk_on_any_bytes() {
        assert_eq!(capitalize(b"in parts."), b"In parts.");
        assert_eq!(capitalize(b"It Will BE sent "), b"It will be sent ");
        assert_eq!(capitalize(b""), b"");
        assert_eq!(capitalize(b"\xffAB\x00"), b"\xffab\x00");
        assert_eq!(capitalize("éA".as_bytes()), "éa".as_bytes());
    }
}
