//! Chapter 9, uring-completion: one thread serves every client through an
//! io_uring (Linux only).
//!
//! The other chapters ask the kernel which sockets are *ready*, then make
//! the system calls themselves. This one asks the kernel to *do* the work
//! (accept, receive, send) and is told when each operation has completed,
//! with its result. Requests and completions pass through two rings of
//! memory shared with the kernel, and one `io_uring_enter` per turn hands
//! over every new request and collects every finished one.
//!
//! Each connection has one operation in flight at a time: a receive, or the
//! send of what that receive brought. A buffer lent to the kernel is not
//! touched until the completion gives it back (`src/ring.rs`), and a
//! completion names its connection by slot and generation (`src/slots.rs`,
//! `src/tag.rs`), so one that arrives late finds nothing.
//!
//! Run it with `cargo run -p uring-completion`, then `cargo run -p
//! multiclient` in a second terminal. The book's chapter "uring-completion"
//! walks through these files.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use clap::Parser;
use echo_common::{ServerArgs, parse_args, parse_read_size};

/// The default `--read-size`. The pool's memory is the same whatever the
/// size; larger buffers save system calls on large messages, smaller ones
/// leave more buffers for more clients. Measured with 16 KiB messages,
/// 16 KiB buffers cost half the CPU per round trip of 4 KiB ones, and 64
/// KiB ones no less than 16 KiB, with a quarter as many buffers.
const DEFAULT_READ_SIZE: usize = 16 * 1024;

/// An echo server whose accepts, receives and sends complete in an io_uring.
#[derive(Parser)]
#[command(name = "uring-completion")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The most bytes one receive takes: the size of each buffer in the
    /// pool, which holds as many as fit in 8 MiB (at least 16)
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_READ_SIZE, value_parser = parse_read_size)]
    read_size: usize,
    /// Buffers in the pool, instead of as many as fit in 8 MiB (a power of
    /// two); a tiny pool lets the tests run it dry
    #[arg(long, value_name = "N", hide = true, value_parser = parse_buffer_count)]
    buffer_count: Option<u16>,
}

/// Parses `--buffer-count`: a power of two, from 1 to 32,768 (the kernel's
/// limits for a provided-buffer ring).
fn parse_buffer_count(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(n) if n.is_power_of_two() && n <= 1 << 15 => Ok(n),
        _ => Err(format!("'{text}' is not a power of two from 1 to 32768")),
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    let _args: Args = parse_args();
    echo_common::exit_with_error(
        "io_uring is Linux-only; on this system try `cargo run -p poll-queue`",
    )
}

#[cfg(target_os = "linux")]
fn main() {
    let args: Args = parse_args();
    let buffer_count = args
        .buffer_count
        .unwrap_or_else(|| uring_completion::ring::buffer_count(args.read_size));
    server::run(&args.server, args.read_size, buffer_count)
}

#[cfg(target_os = "linux")]
mod server {
    use std::collections::VecDeque;
    use std::io;
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::os::fd::AsFd;

    use echo_common::net::{ACCEPT_PAUSE, AcceptAction, accept_action};
    use echo_common::{Log, ServerArgs, SpareFd, exit_with_error, listen, raise_fd_limit};
    use uring_completion::Slots;
    use uring_completion::ring::{Buffer, Completion, Outcome, Ring};
    use uring_completion::tag::{Op, Tag};

    /// A client. It has one operation in flight at a time (or none, while
    /// it waits for a buffer), so memory stays bounded without a queue:
    /// nothing more is received from it until its echo has gone out.
    struct Connection {
        stream: TcpStream,
        peer: SocketAddr,
        state: State,
    }

    enum State {
        /// A receive is in flight.
        Receiving,
        /// The pool had no buffer for its data: a receive is submitted
        /// again once one is free.
        WaitingForBuffer,
        /// The echo is in flight, from the received buffer, which the
        /// kernel holds; `sent` bytes of it went out before.
        Sending { sent: usize },
    }

    /// Everything the loop keeps.
    struct Server {
        listener: TcpListener,
        ring: Ring,
        connections: Slots<Connection>,
        /// Connections whose receive found the pool empty, oldest first.
        waiting_for_buffer: VecDeque<(u32, u16)>,
        spare: SpareFd,
        log: Log,
    }

    /// The tag of the operations that are the listener's, not a client's.
    const LISTENER: Tag = Tag {
        op: Op::Accept,
        slot: 0,
        generation: 0,
    };

    /// Serves for ever, receiving into a pool of `buffer_count` buffers of
    /// `read_size` bytes.
    pub(crate) fn run(args: &ServerArgs, read_size: usize, buffer_count: u16) -> ! {
        let log = Log::new(args.quiet);

        // ANCHOR: setup
        let listener = listen(args).unwrap_or_else(|e| exit_with_error(e));
        // Where io_uring is missing or refused, the server stops here,
        // with one line that says why.
        let ring =
            Ring::new(ACCEPT_PAUSE, read_size, buffer_count).unwrap_or_else(|e| exit_with_error(e));
        // The ring never blocks on the listener; the spare descriptor's
        // accept (out of descriptors) must not either.
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| exit_with_error(e));
        let _ = raise_fd_limit();
        let port = listener.local_addr().map_or(args.port, |a| a.port());
        log.starting_up(&args.host, port);

        let mut server = Server {
            listener,
            ring,
            connections: Slots::new(),
            waiting_for_buffer: VecDeque::new(),
            spare: SpareFd::new().unwrap_or_else(|e| exit_with_error(e)),
            log,
        };
        server.ring.accept(&server.listener, LISTENER);
        // ANCHOR_END: setup

        // ANCHOR: loop
        let mut completions = Vec::new();
        loop {
            server.log.waiting();
            if let Err(e) = server.ring.submit_and_wait(&mut completions) {
                exit_with_error(format_args!("io_uring_enter failed: {e}"));
            }
            for completion in completions.drain(..) {
                server.handle(completion);
            }
            server.resume_waiting_for_buffer();
        }
        // ANCHOR_END: loop
    }

    impl Server {
        // ANCHOR: handle
        /// Hands a completion to the handler of its operation.
        fn handle(&mut self, Completion { tag, outcome }: Completion) {
            match outcome {
                Outcome::Accepted { result, more } => self.accepted(result, more),
                Outcome::Received { result, buffer } => self.received(tag, result, buffer),
                Outcome::Sent { result, buffer } => self.sent(tag, result, buffer),
                // The pause after an accept error is over.
                Outcome::Done(_) if tag.op == Op::Pause => {
                    self.ring.accept(&self.listener, LISTENER);
                }
                // A cancel request's own completion: the cancelled
                // operation reports for itself.
                Outcome::Done(_) => {}
            }
        }
        // ANCHOR_END: handle

        // ANCHOR: accept
        /// A client, or an accept error. One request accepts clients until
        /// an error ends it (`more` is false): it is then submitted again,
        /// at once or after a pause.
        fn accepted(&mut self, result: io::Result<TcpStream>, more: bool) {
            let mut pause = false;
            match result {
                Ok(stream) => self.add_connection(stream),
                Err(error) => match accept_action(&error) {
                    AcceptAction::Retry => {}
                    AcceptAction::ShedOne => {
                        // Out of descriptors: take the waiting client with
                        // the spare one and close it, so it is not left
                        // hanging; accepting again will find the next.
                        let peer = self.spare.shed(&self.listener);
                        self.log.refusing(peer, "out of file descriptors");
                        pause = peer.is_none();
                    }
                    AcceptAction::Pause => {
                        // Out of memory, or unexpected: retrying at once
                        // would likely fail again. A timer resumes it.
                        self.log.accept_failed(&error);
                        pause = true;
                    }
                },
            }
            if !more {
                if pause {
                    self.ring.timer(Tag {
                        op: Op::Pause,
                        ..LISTENER
                    });
                } else {
                    self.ring.accept(&self.listener, LISTENER);
                }
            }
        }

        fn add_connection(&mut self, stream: TcpStream) {
            let peer = match stream.peer_addr() {
                Ok(peer) => peer,
                // Reset before it could be served.
                Err(e) => return self.log.accept_failed(&e),
            };
            if let Err(e) = echo_common::tune_connection(&stream) {
                return self.log.dropping(peer, &e);
            }
            self.log.new_connection(peer);
            let connection = Connection {
                stream,
                peer,
                state: State::Receiving,
            };
            match self.connections.insert(connection) {
                Ok((slot, generation)) => {
                    let tag = Tag {
                        op: Op::Recv,
                        slot,
                        generation,
                    };
                    if let Some(c) = self.connections.get_mut(slot, generation) {
                        self.ring.recv(c.stream.as_fd(), tag);
                    }
                }
                Err(c) => self.log.refusing(Some(c.peer), "every slot is taken"),
            }
        }
        // ANCHOR_END: accept

        // ANCHOR: received
        /// A receive completed: echo what it brought, or close at the end.
        fn received(&mut self, tag: Tag, result: io::Result<usize>, buffer: Option<Buffer>) {
            let Some(c) = self.connections.get_mut(tag.slot, tag.generation) else {
                // Stale: its connection is gone. Only the buffer matters.
                if let Some(buffer) = buffer {
                    self.ring.recycle(buffer);
                }
                return;
            };
            match (result, buffer) {
                (Ok(n), Some(buffer)) if n > 0 => {
                    let data = self.ring.bytes(&buffer);
                    self.log.received(c.peer, data);
                    self.log.sending(c.peer, data);
                    // The buffer goes back to the kernel, to send from; it
                    // comes back with the send's completion.
                    c.state = State::Sending { sent: 0 };
                    let send = Tag {
                        op: Op::Send,
                        ..tag
                    };
                    self.ring.send(c.stream.as_fd(), buffer, 0, send);
                }
                (Ok(_), buffer) => {
                    // End-of-file. Its echo owed, if any, has gone out
                    // already: nothing is received before the echo is sent.
                    if let Some(buffer) = buffer {
                        self.ring.recycle(buffer);
                    }
                    self.log.closing(c.peer);
                    self.close(tag);
                }
                (Err(e), buffer) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    // Every buffer of the pool is out: wait for one.
                    if let Some(buffer) = buffer {
                        self.ring.recycle(buffer);
                    }
                    c.state = State::WaitingForBuffer;
                    self.waiting_for_buffer
                        .push_back((tag.slot, tag.generation));
                }
                (Err(e), buffer) => {
                    if let Some(buffer) = buffer {
                        self.ring.recycle(buffer);
                    }
                    self.log.dropping(c.peer, &e);
                    self.close(tag);
                }
            }
        }
        // ANCHOR_END: received

        // ANCHOR: sent
        /// A send completed: send the rest if the socket took only part,
        /// else give the buffer back and receive again.
        fn sent(&mut self, tag: Tag, result: io::Result<usize>, buffer: Buffer) {
            let Some(c) = self.connections.get_mut(tag.slot, tag.generation) else {
                self.ring.recycle(buffer);
                return;
            };
            let State::Sending { sent } = c.state else {
                self.ring.recycle(buffer);
                return;
            };
            let result = result.and_then(|n| match n {
                // Nothing taken and no error: retrying would spin.
                0 => Err(io::ErrorKind::WriteZero.into()),
                n => Ok(n),
            });
            match result {
                Ok(n) if sent + n < buffer.len() => {
                    // A partial send: the socket is full. The rest goes in
                    // a new request, from the same buffer.
                    self.log.sent_part(c.peer, n, buffer.len() - sent);
                    let sent = sent + n;
                    self.log.sending(c.peer, &self.ring.bytes(&buffer)[sent..]);
                    c.state = State::Sending { sent };
                    self.ring.send(c.stream.as_fd(), buffer, sent, tag);
                }
                Ok(_) => {
                    self.log.queue_empty(c.peer);
                    self.ring.recycle(buffer);
                    c.state = State::Receiving;
                    // Clients that found the pool empty go first. Their
                    // receives are submitted before this one, so they take
                    // the buffer just freed: a client whose data is always
                    // there would otherwise take it back every time.
                    self.resume_waiting_for_buffer();
                    if let Some(c) = self.connections.get_mut(tag.slot, tag.generation) {
                        let recv = Tag {
                            op: Op::Recv,
                            ..tag
                        };
                        self.ring.recv(c.stream.as_fd(), recv);
                    }
                }
                Err(e) => {
                    self.ring.recycle(buffer);
                    self.log.dropping(c.peer, &e);
                    self.close(tag);
                }
            }
        }
        // ANCHOR_END: sent

        // ANCHOR: close
        /// Forgets a connection and closes its socket. It is called only
        /// from the completion of the connection's one operation, so
        /// nothing of it is in flight: the kernel holds none of its
        /// buffers and will not use its descriptor number again, and the
        /// slot can take a new connection at once. (A server that closed
        /// connections of its own accord, after an idle timeout say, would
        /// first have to cancel the receive in flight, and wait for its
        /// completion: `Ring::cancel`.)
        fn close(&mut self, tag: Tag) {
            drop(self.connections.remove(tag.slot, tag.generation));
        }

        /// Submits a receive again for connections that found the pool
        /// empty, as many as there are buffers in the pool now.
        fn resume_waiting_for_buffer(&mut self) {
            let n = self.ring.buffers_free().min(self.waiting_for_buffer.len());
            for (slot, generation) in self.waiting_for_buffer.drain(..n) {
                if let Some(c) = self.connections.get_mut(slot, generation)
                    && matches!(c.state, State::WaitingForBuffer)
                {
                    c.state = State::Receiving;
                    let tag = Tag {
                        op: Op::Recv,
                        slot,
                        generation,
                    };
                    self.ring.recv(c.stream.as_fd(), tag);
                }
            }
        }
        // ANCHOR_END: close
    }
}
