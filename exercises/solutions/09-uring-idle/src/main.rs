//! Exercise 9 (`exercises/09-uring-idle`): close idle connections of an
//! io_uring server.
//!
//! The server is the uring-completion chapter's echo server. With
//! `--idle-timeout SECS`, a timer looks for idle connections every 100 ms.
//! The exercise is closing one: an idle connection has a receive in flight,
//! and until that receive completes the kernel holds its socket and may
//! take a buffer for it. So a close starts by stopping what is in flight,
//! and ends when the kernel has given back what it held.
//!
//! Linux only. Read `exercises/09-uring-idle/README.md` first; grade the
//! work with `cargo run -p grade -- 09` (`--solution 09` grades the
//! reference solution in `exercises/solutions/09-uring-idle`).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::time::Duration;

use clap::Parser;
use echo_common::{ServerArgs, parse_args};

/// An io_uring echo server that closes idle connections.
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

#[cfg(not(target_os = "linux"))]
fn main() {
    let _args: Args = parse_args();
    echo_common::exit_with_error("io_uring is Linux-only")
}

#[cfg(target_os = "linux")]
fn main() {
    let args: Args = parse_args();
    server::run(&args.server, args.idle_timeout)
}

#[cfg(target_os = "linux")]
mod server {
    use std::collections::VecDeque;
    use std::io;
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::os::fd::AsFd;
    use std::time::{Duration, Instant};

    use echo_common::net::{ACCEPT_PAUSE, AcceptAction, accept_action};
    use echo_common::{
        Log, READ_SIZE, ServerArgs, SpareFd, exit_with_error, listen, raise_fd_limit,
    };
    use uring_completion::Slots;
    use uring_completion::ring::{Buffer, Completion, Outcome, Ring, buffer_count};
    use uring_completion::tag::{Op, Tag};

    struct Connection {
        stream: TcpStream,
        peer: SocketAddr,
        state: State,
        /// When it falls idle, unless it sends or takes its echo first.
        deadline: Instant,
    }

    enum State {
        /// A receive is in flight.
        Receiving,
        /// The pool had no buffer: a receive is submitted again later.
        WaitingForBuffer,
        /// The echo is in flight; `sent` bytes of it went out before.
        Sending { sent: usize },
        /// Idle: its operations are being cancelled. It closes when the
        // BEGIN SOLUTION
        /// one in flight completes.
        // STARTER
        //| /// one in flight completes. (TODO: `close_idle` sets it; until it
        //| /// does, nothing constructs it.)
        //| #[allow(dead_code)]
        // END SOLUTION
        Closing,
    }

    struct Server {
        listener: TcpListener,
        ring: Ring,
        connections: Slots<Connection>,
        waiting_for_buffer: VecDeque<(u32, u16)>,
        spare: SpareFd,
        log: Log,
        idle_limit: Option<Duration>,
    }

    const LISTENER: Tag = Tag {
        op: Op::Accept,
        slot: 0,
        generation: 0,
    };

    /// The timer that looks for idle connections: a `Pause` that is not
    /// the listener's.
    const IDLE_TICK: Tag = Tag {
        op: Op::Pause,
        slot: 1,
        generation: 0,
    };

    pub(crate) fn run(args: &ServerArgs, idle_limit: Option<Duration>) -> ! {
        let log = Log::new(args.quiet);
        let listener = listen(args).unwrap_or_else(|e| exit_with_error(e));
        // The timer (ACCEPT_PAUSE, 100 ms) also paces the idle checks; a
        // receive takes up to READ_SIZE (4 KiB), from a pool of the
        // chapter's budget (the chapter reads 16 KiB at a time).
        let ring = Ring::new(ACCEPT_PAUSE, READ_SIZE, buffer_count(READ_SIZE))
            .unwrap_or_else(|e| exit_with_error(e));
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
            idle_limit,
        };
        server.ring.accept(&server.listener, LISTENER);
        if server.idle_limit.is_some() {
            server.ring.timer(IDLE_TICK);
        }

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
    }

    impl Server {
        fn handle(&mut self, Completion { tag, outcome }: Completion) {
            match outcome {
                Outcome::Accepted { result, more } => self.accepted(result, more),
                Outcome::Received { result, buffer } => self.received(tag, result, buffer),
                Outcome::Sent { result, buffer } => self.sent(tag, result, buffer),
                Outcome::Done(_) if tag == IDLE_TICK => {
                    self.close_idle(Instant::now());
                    self.ring.timer(IDLE_TICK);
                }
                Outcome::Done(_) if tag.op == Op::Pause => {
                    self.ring.accept(&self.listener, LISTENER);
                }
                // A cancel request's own completion: the cancelled
                // operation reports for itself, and its slot may already
                // have a new tenant.
                Outcome::Done(_) => {}
            }
        }

        /// Starts closing every connection idle since its deadline: a
        /// cancel request for what it has in flight, or, if nothing is,
        /// the close itself.
        fn close_idle(&mut self, now: Instant) {
            // BEGIN SOLUTION
            let due: Vec<(u32, u16)> = self
                .connections
                .iter()
                .filter(|(_, _, c)| c.deadline <= now && !matches!(c.state, State::Closing))
                .map(|(slot, generation, _)| (slot, generation))
                .collect();
            for (slot, generation) in due {
                let Some(c) = self.connections.get_mut(slot, generation) else {
                    continue;
                };
                let idle = self.idle_limit.unwrap_or_default().as_secs_f64();
                self.log.event(format_args!(
                    "closing {}: idle for {idle:.1} s",
                    echo_common::PyAddr(c.peer)
                ));
                if matches!(c.state, State::WaitingForBuffer) {
                    // Nothing in flight: the kernel holds nothing of it.
                    drop(self.connections.remove(slot, generation));
                    continue;
                }
                // The socket stays open until the cancelled operation has
                // completed: closed now, its number could go to the next
                // client before the cancel (which names the number) runs.
                c.state = State::Closing;
                let cancel = Tag {
                    op: Op::Cancel,
                    slot,
                    generation,
                };
                self.ring.cancel(c.stream.as_fd(), cancel);
            }
            // STARTER
            //| // TODO: for every connection whose deadline is not after `now`
            //| // (and that is not closing already): log it (`self.log.event`),
            //| // then stop what it has in flight. The socket must stay open
            //| // until the operation in flight has completed.
            //| let _ = now;
            //| todo!("start closing the connections idle since their deadline")
            // END SOLUTION
        }

        /// The operation of a connection being closed has completed: its
        /// buffer, if any, goes back to the pool, and it is closed.
        fn finish_closing(&mut self, tag: Tag, buffer: Option<Buffer>) {
            // BEGIN SOLUTION
            if let Some(buffer) = buffer {
                self.ring.recycle(buffer);
            }
            drop(self.connections.remove(tag.slot, tag.generation));
            // STARTER
            //| // TODO: now the kernel holds nothing of this connection.
            //| let _ = (tag, buffer);
            //| todo!("give back the buffer, close the connection, free its slot")
            // END SOLUTION
        }

        fn deadline(&self) -> Instant {
            let now = Instant::now();
            self.idle_limit.map_or(now, |limit| now + limit)
        }

        fn accepted(&mut self, result: io::Result<TcpStream>, more: bool) {
            let mut pause = false;
            match result {
                Ok(stream) => self.add_connection(stream),
                Err(error) => match accept_action(&error) {
                    AcceptAction::Retry => {}
                    AcceptAction::ShedOne => {
                        let peer = self.spare.shed(&self.listener);
                        self.log.refusing(peer, "out of file descriptors");
                        pause = peer.is_none();
                    }
                    AcceptAction::Pause => {
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
                deadline: self.deadline(),
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

        fn received(&mut self, tag: Tag, result: io::Result<usize>, buffer: Option<Buffer>) {
            let deadline = self.deadline();
            let Some(c) = self.connections.get_mut(tag.slot, tag.generation) else {
                if let Some(buffer) = buffer {
                    self.ring.recycle(buffer);
                }
                return;
            };
            if matches!(c.state, State::Closing) {
                return self.finish_closing(tag, buffer);
            }
            match (result, buffer) {
                (Ok(n), Some(buffer)) if n > 0 => {
                    c.deadline = deadline;
                    let data = self.ring.bytes(&buffer);
                    self.log.received(c.peer, data);
                    self.log.sending(c.peer, data);
                    c.state = State::Sending { sent: 0 };
                    let send = Tag {
                        op: Op::Send,
                        ..tag
                    };
                    self.ring.send(c.stream.as_fd(), buffer, 0, send);
                }
                (Ok(_), buffer) => {
                    if let Some(buffer) = buffer {
                        self.ring.recycle(buffer);
                    }
                    self.log.closing(c.peer);
                    self.close(tag);
                }
                (Err(e), buffer) if e.raw_os_error() == Some(libc::ENOBUFS) => {
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

        fn sent(&mut self, tag: Tag, result: io::Result<usize>, buffer: Buffer) {
            let deadline = self.deadline();
            let Some(c) = self.connections.get_mut(tag.slot, tag.generation) else {
                self.ring.recycle(buffer);
                return;
            };
            let sent = match c.state {
                State::Sending { sent } => sent,
                State::Closing => return self.finish_closing(tag, Some(buffer)),
                _ => return self.ring.recycle(buffer),
            };
            let result = result.and_then(|n| match n {
                0 => Err(io::ErrorKind::WriteZero.into()),
                n => Ok(n),
            });
            match result {
                Ok(n) if sent + n < buffer.len() => {
                    c.deadline = deadline;
                    self.log.sent_part(c.peer, n, buffer.len() - sent);
                    let sent = sent + n;
                    self.log.sending(c.peer, &self.ring.bytes(&buffer)[sent..]);
                    c.state = State::Sending { sent };
                    self.ring.send(c.stream.as_fd(), buffer, sent, tag);
                }
                Ok(_) => {
                    c.deadline = deadline;
                    self.log.queue_empty(c.peer);
                    self.ring.recycle(buffer);
                    c.state = State::Receiving;
                    // Clients that found the pool empty take the buffer just
                    // freed first, as in the chapter.
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

        /// Closes a connection from the completion of its one operation:
        /// nothing of it is in flight.
        fn close(&mut self, tag: Tag) {
            drop(self.connections.remove(tag.slot, tag.generation));
        }

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
    }
}
