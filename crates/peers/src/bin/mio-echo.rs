//! mio-echo: the echo server as a mio user would write it.
//!
//! mio is the thin layer under tokio: one `Poll` (an epoll instance on
//! Linux), sockets registered with a `Token`, and readiness that is always
//! edge-triggered. What is left to the program is the same as in the
//! epoll-edge chapter: a table of connections, an output queue each, and the
//! rule that after an edge you read (or write) until the kernel says
//! `WouldBlock`. Each socket is registered once, for reading and writing, and
//! never modified: with edges, a socket that stays writable costs nothing.
//!
//! Run it with `cargo run -p peers --bin mio-echo`, then
//! `cargo run -p multiclient` in a second terminal.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use clap::Parser;
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, MessageQueue, SHARED_READ_SIZE, ServerArgs, SpareFd,
    accept_action, exit_with_error, listen, parse_args, parse_read_size, raise_fd_limit,
};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// An echo server on mio.
#[derive(Parser)]
#[command(name = "mio-echo")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The most bytes read from a socket in one call
    #[arg(long, value_name = "BYTES", default_value_t = SHARED_READ_SIZE, value_parser = parse_read_size)]
    read_size: usize,
}

const LISTENER: Token = Token(usize::MAX);

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    queue: MessageQueue,
    /// The client sent end-of-file: close once the queue is delivered.
    done_reading: bool,
}

/// What is left to do with a connection after its event is handled.
enum Next {
    Keep,
    Close,
    Drop(io::Error),
}

fn main() {
    let args: Args = parse_args();
    let log = Log::new(args.server.quiet);
    let listener = listen(&args.server).unwrap_or_else(|e| exit_with_error(e));
    let _ = raise_fd_limit();
    let port = listener.local_addr().map_or(args.server.port, |a| a.port());
    // mio needs a non-blocking socket; a second handle on the same listening
    // socket is kept for SpareFd::shed.
    let std_listener = listener
        .set_nonblocking(true)
        .and_then(|()| listener.try_clone())
        .unwrap_or_else(|e| exit_with_error(e));
    let mut listener = TcpListener::from_std(listener);
    let mut spare = SpareFd::new().unwrap_or_else(|e| exit_with_error(e));
    let mut poll = Poll::new().unwrap_or_else(|e| exit_with_error(e));
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .unwrap_or_else(|e| exit_with_error(e));
    log.starting_up(&args.server.host, port);

    let mut connections: HashMap<Token, Connection> = HashMap::new();
    let mut next_token = 0usize;
    let mut events = Events::with_capacity(1024);
    let mut data = vec![0u8; args.read_size];
    // While accepting is paused after an error, when it resumes.
    let mut accept_paused_until: Option<Instant> = None;
    loop {
        let timeout =
            accept_paused_until.map(|until| until.saturating_duration_since(Instant::now()));
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => exit_with_error(format_args!("poll failed: {e}")),
        }
        let edge = events.iter().any(|event| event.token() == LISTENER);
        let pause_over = accept_paused_until.is_some_and(|until| Instant::now() >= until);
        // An edge on the listener (or the end of a pause, after which no
        // edge announces the clients that came meanwhile): accept until
        // WouldBlock, or the clients still waiting would not be announced
        // again.
        if pause_over || (edge && accept_paused_until.is_none()) {
            accept_paused_until = None;
            loop {
                match listener.accept() {
                    Ok((mut stream, peer)) => {
                        // As the chapters do: no Nagle delay on echoes.
                        let _ = stream.set_nodelay(true);
                        let token = Token(next_token);
                        next_token += 1;
                        let interest = Interest::READABLE | Interest::WRITABLE;
                        if let Err(e) = poll.registry().register(&mut stream, token, interest) {
                            log.dropping(peer, &e);
                            continue;
                        }
                        log.new_connection(peer);
                        let queue = MessageQueue::new();
                        let done_reading = false;
                        let conn = Connection {
                            stream,
                            peer,
                            queue,
                            done_reading,
                        };
                        connections.insert(token, conn);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        match accept_action(&e) {
                            AcceptAction::Retry => continue,
                            AcceptAction::ShedOne => {
                                if let Some(peer) = spare.shed(&std_listener) {
                                    log.refusing(Some(peer), "out of file descriptors");
                                    continue;
                                }
                                // Nobody is waiting, or there is no spare: pause.
                            }
                            AcceptAction::Pause => {}
                        }
                        log.accept_failed(&e);
                        accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                        break;
                    }
                }
            }
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                continue;
            }
            let Some(conn) = connections.get_mut(&event.token()) else {
                continue;
            };
            match conn.drive(&mut data, &log) {
                Next::Keep => {}
                Next::Close => {
                    log.closing(conn.peer);
                    connections.remove(&event.token());
                }
                Next::Drop(e) => {
                    log.dropping(conn.peer, &e);
                    connections.remove(&event.token());
                }
            }
        }
    }
}

impl Connection {
    /// Makes all the progress the socket allows: sends what is queued,
    /// reads what has arrived (unless the queue is full: that is the
    /// backpressure), and stops only at `WouldBlock`, since the next edge
    /// comes only after the socket's state changes again.
    fn drive(&mut self, data: &mut [u8], log: &Log) -> Next {
        loop {
            while let Some(next_msg) = self.queue.front() {
                match self.stream.write(next_msg) {
                    Ok(sent) => {
                        if sent < next_msg.len() {
                            log.sent_part(self.peer, sent, next_msg.len());
                        }
                        self.queue.advance(sent);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Next::Drop(e),
                }
            }
            if self.done_reading {
                // The writable edge brings us back for the rest.
                return if self.queue.is_empty() {
                    Next::Close
                } else {
                    Next::Keep
                };
            }
            if self.queue.is_full() {
                // Stop reading this client until its echo drains; the next
                // writable edge brings us back here.
                return Next::Keep;
            }
            match self.stream.read(data) {
                Ok(0) => {
                    if !self.queue.is_empty() {
                        log.end_of_input(self.peer, self.queue.pending());
                    }
                    self.done_reading = true;
                }
                Ok(n) => {
                    log.received(self.peer, &data[..n]);
                    self.queue.push(&data[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Next::Drop(e),
            }
        }
    }
}
