//! Exercise 3: a server you can talk to on stdin.
//!
//! The server is the select-stdin chapter's: one `select` over the listener,
//! the clients and stdin. Instead of stopping on any line, it runs commands
//! typed on stdin: `stats` (connections and bytes echoed), `list` (each
//! client and what it has sent), `kick ADDR` (close one client) and `quit`;
//! anything else is answered with a one-line reminder of the commands.
//!
// BEGIN SOLUTION
//! This is the reference solution; grade it with
//! `cargo run -p grade -- --solution 03`.
// STARTER
//| //! Read `exercises/03-select-stdin/README.md` first; grade your work with
//| //! `cargo run -p grade -- 03`.
// END SOLUTION
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use clap::Parser;
use echo_common::{
    ACCEPT_PAUSE, AcceptAction, Log, MessageQueue, Payload, READ_SIZE, ServerArgs, SpareFd,
    accept_action, exit_with_error, listen, parse_args, raise_fd_limit,
};
use echo_sys::{FdSet, FdTooLarge, select};

/// An echo server that multiplexes its clients and stdin with select().
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

/// A connected client.
struct Client {
    stream: TcpStream,
    peer: SocketAddr,
    /// The client has sent end-of-file; close once its echo is delivered.
    done_reading: bool,
    // BEGIN SOLUTION
    /// Bytes read from this client since it connected.
    received: u64,
    // END SOLUTION
}

/// Everything the loop keeps.
struct Server {
    listener: TcpListener,
    stdin: RawFd,
    /// Descriptors to watch for reading: the listener, stdin, the clients.
    inputs: BTreeSet<RawFd>,
    /// Clients whose echo did not all fit in the socket: watch for writing.
    outputs: BTreeSet<RawFd>,
    /// Echo waiting to be sent, per client.
    message_queues: HashMap<RawFd, MessageQueue>,
    clients: HashMap<RawFd, Client>,
    // BEGIN SOLUTION
    /// What was read from stdin after the last newline.
    stdin_line: Vec<u8>,
    /// Bytes written back to clients since the start.
    bytes_echoed: u64,
    // END SOLUTION
    spare: SpareFd,
    /// While accepting is paused after an error, when it resumes.
    accept_paused_until: Option<Instant>,
    log: Log,
}

// BEGIN SOLUTION
/// The most of one line on stdin that is kept: no command is longer, and
/// stdin must not grow the buffer without end.
const MAX_COMMAND: usize = 1024;

// END SOLUTION
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

    // Descriptor 0. Rust's start-up code opens /dev/null there if stdin was
    // closed, so the listener never takes its number.
    let stdin = io::stdin().as_raw_fd();
    let mut server = Server {
        inputs: BTreeSet::from([listener.as_raw_fd(), stdin]),
        stdin,
        outputs: BTreeSet::new(),
        message_queues: HashMap::new(),
        clients: HashMap::new(),
        // BEGIN SOLUTION
        stdin_line: Vec::new(),
        bytes_echoed: 0,
        // END SOLUTION
        spare: SpareFd::new().unwrap_or_else(|e| exit_with_error(e)),
        accept_paused_until: None,
        listener,
        log,
    };

    loop {
        let timeout = server.resume_accepting_if_due();
        server.log.waiting();
        let mut readable = fd_set(&server.inputs);
        let mut writable = fd_set(&server.outputs);
        let highest = server.inputs.iter().chain(&server.outputs).max();
        let nfds = highest.map_or(0, |fd| fd + 1);
        match select(
            nfds,
            Some(&mut readable),
            Some(&mut writable),
            None,
            timeout,
        ) {
            Ok(_) => {}
            // A signal (SIGSTOP/SIGCONT, a debugger) interrupted the wait.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => exit_with_error(format_args!("select failed: {e}")),
        }

        for fd in ready(&server.inputs, &readable) {
            if fd == server.listener.as_raw_fd() {
                server.accept_all();
            } else if fd == server.stdin {
                if server.handle_stdin() {
                    // Returning drops every socket: the clients see a close.
                    return;
                }
            } else {
                server.handle_readable(fd);
            }
        }
        for fd in ready(&server.outputs, &writable) {
            server.handle_writable(fd);
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

/// Whether an error only means "not now": spurious readiness, or a signal.
fn not_now(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
// BEGIN SOLUTION

/// `1 connection open`, `2 connections open`.
fn connections_open(n: usize) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{n} connection{s} open")
}
// END SOLUTION

impl Server {
    /// Reads what is on stdin and runs the commands in it; returns whether
    /// to stop. At end-of-file (stdin is `/dev/null`, a closed pipe, a
    /// finished script) there will never be a line: stop watching stdin, or
    /// `select` would report it readable forever and the loop would spin.
    fn handle_stdin(&mut self) -> bool {
        let mut input = [0u8; READ_SIZE];
        // One read of what is there, not a read up to the newline: a
        // half-typed line must not block the server.
        match io::stdin().read(&mut input) {
            Ok(0) => {
                // BEGIN SOLUTION
                // A script's last line may have no newline: it is a command
                // all the same.
                let last = std::mem::take(&mut self.stdin_line);
                if !last.is_empty() && self.run_command(&last) {
                    return true;
                }
                // STARTER
                //| // TODO: a last line may end without a newline
                //| // (`printf stats | ...`): run it before giving up on stdin.
                // END SOLUTION
                self.inputs.remove(&self.stdin);
                self.log.always(format_args!(
                    "stdin is at end of file: no longer watching it (stop the server with Ctrl-C)"
                ));
                false
            }
            Ok(n) => self.handle_commands(&input[..n]),
            Err(e) if not_now(&e) => false,
            Err(e) => {
                self.inputs.remove(&self.stdin);
                self.log.always(format_args!(
                    "cannot read stdin ({e}): no longer watching it"
                ));
                false
            }
        }
    }

    /// Runs the commands in `input`, which is what one read of stdin
    /// returned: part of a line, a line, or several. Returns whether to stop.
    fn handle_commands(&mut self, input: &[u8]) -> bool {
        // BEGIN SOLUTION
        self.stdin_line.extend_from_slice(input);
        while let Some(end) = self.stdin_line.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.stdin_line.drain(..=end).collect();
            if self.run_command(&line) {
                return true;
            }
        }
        // Keep only the start of an endless line; when its newline comes,
        // it runs as the (unknown) command it begins with.
        self.stdin_line.truncate(MAX_COMMAND);
        false
        // STARTER
        //| // TODO: a read is not a line: it may be `sta` now and `ts` and a
        //| // newline later, or two lines at once. Keep what follows the last
        //| // newline for the next read, and run each complete line.
        //| self.run_command(input)
        // END SOLUTION
    }

    /// Runs one line typed on stdin, a command and maybe an argument;
    /// returns whether to stop.
    fn run_command(&mut self, line: &[u8]) -> bool {
        let line = line.trim_ascii();
        let (command, argument) = match line.iter().position(u8::is_ascii_whitespace) {
            Some(space) => (&line[..space], line[space..].trim_ascii()),
            None => (line, &line[line.len()..]),
        };
        match command {
            b"quit" => {
                self.log.always(format_args!(
                    "stopping on \"quit\" from stdin; closing the listener and {} connection(s)",
                    self.clients.len()
                ));
                true
            }
            // BEGIN SOLUTION
            b"stats" => {
                self.log.always(format_args!(
                    "stats: {}, {} bytes echoed",
                    connections_open(self.clients.len()),
                    self.bytes_echoed
                ));
                false
            }
            b"list" => {
                self.list();
                false
            }
            b"kick" => {
                self.kick(argument);
                false
            }
            b"" => false,
            _ => self.unknown_command(line),
            // STARTER
            //| // TODO: `stats`, `list` and `kick ADDR`, printing what the
            //| // README shows with `self.log.always`; an empty line does
            //| // nothing; anything else is an unknown command, which does not
            //| // stop the server.
            //| _ => todo!("the command {} {}", Payload(command), Payload(argument)),
            // END SOLUTION
        }
    }
    // BEGIN SOLUTION

    /// Says that `line` is no command, and goes on.
    fn unknown_command(&self, line: &[u8]) -> bool {
        self.log.always(format_args!(
            "unknown command {}; try stats, list, kick ADDR or quit",
            Payload(line)
        ));
        false
    }

    /// Prints one line per connected client: its address, as `kick` takes
    /// it, and the bytes it has sent.
    fn list(&self) {
        self.log.always(format_args!(
            "list: {}",
            connections_open(self.clients.len())
        ));
        let mut clients: Vec<&Client> = self.clients.values().collect();
        clients.sort_by_key(|c| c.peer);
        for client in clients {
            self.log.always(format_args!(
                "  {} sent {} bytes",
                client.peer, client.received
            ));
        }
    }

    /// Closes the client whose address is `addr`, written as `list` prints
    /// it. Anything else, an address no client has or no address at all,
    /// changes nothing.
    fn kick(&mut self, addr: &[u8]) {
        let peer = std::str::from_utf8(addr)
            .ok()
            .and_then(|a| a.parse::<SocketAddr>().ok());
        let found = self
            .clients
            .iter()
            .find(|(_, c)| Some(c.peer) == peer)
            .map(|(&fd, c)| (fd, c.peer));
        match found {
            Some((fd, peer)) => {
                self.log.always(format_args!("kicked {peer}"));
                // Out of `inputs`, `outputs` and the maps: `select` must
                // never be handed a descriptor that is closed.
                self.close(fd);
            }
            None => self
                .log
                .always(format_args!("no client {}; try list", Payload(addr))),
        }
    }
    // END SOLUTION

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
        self.message_queues.insert(fd, MessageQueue::new());
        let done_reading = false;
        self.clients.insert(
            fd,
            Client {
                stream,
                peer,
                done_reading,
                // BEGIN SOLUTION
                received: 0,
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
        let mut data = [0u8; READ_SIZE];
        let n = match client.stream.read(&mut data) {
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
                return;
            }
            Ok(n) => n,
            Err(e) if not_now(&e) => return,
            Err(e) => {
                self.log.dropping(client.peer, &e);
                self.close(fd);
                return;
            }
        };
        self.log.received(client.peer, &data[..n]);
        // BEGIN SOLUTION
        client.received += n as u64;
        // END SOLUTION
        if !queue.is_empty() {
            // Older echo is still waiting: this goes behind it, in order.
            queue.push(&data[..n]);
        } else {
            // Send right away; whatever the socket does not take is queued,
            // and the socket watched until it can take more.
            self.log.sending(client.peer, &data[..n]);
            let sent = match client.stream.write(&data[..n]) {
                // BEGIN SOLUTION
                Ok(sent) => {
                    self.bytes_echoed += sent as u64;
                    sent
                }
                // STARTER
                //| Ok(sent) => sent,
                // END SOLUTION
                Err(e) if not_now(&e) => 0,
                Err(e) => {
                    self.log.dropping(client.peer, &e);
                    self.close(fd);
                    return;
                }
            };
            if sent < n {
                self.log.sent_part(client.peer, sent, n);
                queue.push(&data[sent..n]);
                self.outputs.insert(fd);
            }
        }
        if queue.is_full() {
            // The client is not reading its echo: stop reading from it until
            // the queue drains, so memory stays bounded.
            self.log.pausing(client.peer, queue.pending());
            self.inputs.remove(&fd);
        }
    }

    fn handle_writable(&mut self, fd: RawFd) {
        let (Some(client), Some(queue)) =
            (self.clients.get_mut(&fd), self.message_queues.get_mut(&fd))
        else {
            return;
        };
        let Some(next_msg) = queue.front() else {
            self.outputs.remove(&fd);
            return;
        };
        self.log.sending(client.peer, next_msg);
        match client.stream.write(next_msg) {
            Ok(sent) => {
                if sent < next_msg.len() {
                    self.log.sent_part(client.peer, sent, next_msg.len());
                }
                // BEGIN SOLUTION
                self.bytes_echoed += sent as u64;
                // END SOLUTION
                queue.advance(sent);
            }
            Err(e) if not_now(&e) => return,
            Err(e) => {
                self.log.dropping(client.peer, &e);
                self.close(fd);
                return;
            }
        }
        if client.done_reading && queue.is_empty() {
            self.log.closing(client.peer);
            self.close(fd);
            return;
        }
        if queue.is_empty() {
            // All caught up: stop watching for writability.
            self.log.queue_empty(client.peer);
            self.outputs.remove(&fd);
        }
        if !client.done_reading && !queue.is_full() && self.inputs.insert(fd) {
            // This client was paused; it has room again.
            self.log.resuming(client.peer);
        }
    }

    /// Forgets a client; dropping its stream closes the socket.
    fn close(&mut self, fd: RawFd) {
        self.inputs.remove(&fd);
        self.outputs.remove(&fd);
        self.message_queues.remove(&fd);
        self.clients.remove(&fd);
    }
}
