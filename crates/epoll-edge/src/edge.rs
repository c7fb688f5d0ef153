//! The edge-triggered server (the default).
//!
//! Each socket is registered with `EPOLLET`: the kernel reports it when
//! something happens to it (data arrives, room is freed after a write that
//! found none), not for as long as it stays ready. So each handler works
//! until the kernel says there is no more: accept until `WouldBlock`, read
//! until the socket is empty, write until the queue is empty or the socket
//! is full. The interest stays the same for a client's whole life, but for
//! `EPOLLOUT`, asked for only while echo waits for room in the socket.
//!
//! Two rules make that correct and fair:
//! - a read shorter than the buffer usually means the socket is empty, but
//!   not always: TCP stops a read at an urgent byte, and an end-of-file can
//!   arrive with the data. When the event says so (`EPOLLPRI`, `EPOLLRDHUP`,
//!   `EPOLLHUP`, `EPOLLERR`), the handler reads on until `WouldBlock`, and
//!   then asks the kernel whether bytes are still queued: at the urgent
//!   mark, a read made while a signal is pending gets `WouldBlock` anyway;
//! - a client gets at most [`READS_PER_TURN`] reads per turn. One with data
//!   left goes on `ready_again`, once (a flag says it is there), and its next
//!   reads wait until every other client has had its turn.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use crate::FdMap;
use crate::epoll::{ERR, ET, Epoll, Events, HUP, IN, OUT, PRI, RDHUP};
use echo_common::net::{ACCEPT_PAUSE, AcceptAction, accept_action};
use echo_common::{Log, MessageQueue, SpareFd, exit_with_error};

/// How many reads one connection gets per turn before the others get theirs.
const READS_PER_TURN: usize = 16;

/// What every client is watched for: data, urgent data, the peer's
/// end-of-file, edge-triggered. (`EPOLLHUP` and `EPOLLERR` come unasked.)
const READING: Events = IN | PRI | RDHUP | ET;

/// Everything a client needs, its output queue included.
struct Client {
    stream: TcpStream,
    peer: SocketAddr,
    /// Echo the socket could not take yet, oldest first.
    queue: MessageQueue,
    /// The client has sent end-of-file; close once its echo is delivered.
    done_reading: bool,
    /// Its queue is full: reads wait until the client takes its echo.
    paused: bool,
    /// An event said a short read may not mean an empty socket (urgent
    /// data, end-of-file, an error): read until `WouldBlock`.
    read_to_the_end: bool,
    /// It is on `ready_again`, so it is not added twice.
    ready_again: bool,
    /// A clean stop has shut down its sending side.
    write_shut: bool,
    /// The interest registered with epoll now.
    interest: Events,
}

/// Everything the loop keeps.
pub struct Server {
    listener: TcpListener,
    epoll: Epoll,
    clients: FdMap<Client>,
    /// Clients that used up their turn with data left to read. No new edge
    /// will announce that data: the loop comes back to them itself.
    ready_again: Vec<RawFd>,
    /// After an `accept` error that is not one client's: when to try again.
    accept_paused_until: Option<Instant>,
    /// What the listener is registered for.
    listener_events: Events,
    /// Where reads land, one buffer for every client.
    data: Vec<u8>,
    spare: SpareFd,
    /// What the listener did for this loop.
    pub stats: AcceptStats,
    log: Log,
}

// ANCHOR: serve
/// Chapter 7's server: one loop, for ever.
pub fn serve(epoll: Epoll, listener: TcpListener, log: Log, read_size: usize) -> ! {
    let mut server = Server::new(epoll, listener, IN | ET, log, read_size)
        .unwrap_or_else(|e| exit_with_error(e));
    let mut events = Vec::new();
    loop {
        if let Err(e) = server.turn(&mut events) {
            exit_with_error(format_args!("epoll_wait failed: {e}"));
        }
    }
}
// ANCHOR_END: serve

/// What the listener did for one loop, for `epoll-threads --stats`.
#[derive(Debug, Default, Clone, Copy)]
pub struct AcceptStats {
    /// Events for the listener: times it woke this loop.
    pub wakeups: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Wake-ups whose first `accept` found nobody: another loop was faster.
    pub empty: u64,
}

impl Server {
    // ANCHOR: setup
    /// A server for the clients of `listener`, which is registered for
    /// `listener_events` (edge-triggered here; `epoll-threads` shares one
    /// listener between loops in other ways), reading at most `read_size`
    /// bytes at a time.
    pub fn new(
        epoll: Epoll,
        listener: TcpListener,
        listener_events: Events,
        log: Log,
        read_size: usize,
    ) -> io::Result<Server> {
        epoll.register(&listener, listener_events)?;
        Ok(Server {
            listener,
            epoll,
            clients: FdMap::new(),
            ready_again: Vec::new(),
            accept_paused_until: None,
            listener_events,
            data: vec![0; read_size.max(1)],
            spare: SpareFd::new()?,
            stats: AcceptStats::default(),
            log,
        })
    }
    // ANCHOR_END: setup

    /// The port the listener is bound to.
    pub fn local_port(&self) -> Option<u16> {
        self.listener.local_addr().ok().map(|a| a.port())
    }

    // ANCHOR: loop
    /// One turn of the loop: wait, handle every event, then give each
    /// client with data left one more turn, after the others. Events for
    /// descriptors that are not the server's are left in `events` for the
    /// caller (`epoll-threads` watches its stop signal in the same epoll
    /// instance).
    pub fn turn(&mut self, events: &mut Vec<(RawFd, Events)>) -> io::Result<()> {
        let timeout = self.timeout();
        if timeout.is_none() {
            self.log.waiting();
        }
        self.epoll.wait(events, timeout)?;
        events.retain(|&(fd, flags)| {
            if fd == self.listener.as_raw_fd() {
                self.stats.wakeups += 1;
                self.accept_all();
            } else if self.clients.contains(fd) {
                self.handle_event(fd, flags);
            } else {
                return true;
            }
            false
        });
        if self
            .accept_paused_until
            .is_some_and(|t| Instant::now() >= t)
        {
            // No edge will come for the clients that waited meanwhile.
            self.accept_paused_until = None;
            if self.listener_events & ET == 0 {
                self.epoll.register(&self.listener, self.listener_events)?;
            }
            self.accept_all();
        }
        for fd in std::mem::take(&mut self.ready_again) {
            if let Some(client) = self.clients.get_mut(fd) {
                client.ready_again = false;
                self.handle_readable(fd);
            }
        }
        Ok(())
    }
    // ANCHOR_END: loop

    /// How long the next wait may sleep: not at all if clients have data
    /// left, until accepting resumes if it is paused, else for ever.
    fn timeout(&self) -> Option<Duration> {
        if !self.ready_again.is_empty() {
            return Some(Duration::ZERO);
        }
        self.accept_paused_until
            .map(|t| t.saturating_duration_since(Instant::now()))
    }

    // ANCHOR: accept
    /// Accepts every waiting client: the listener is reported once however
    /// many clients are waiting.
    fn accept_all(&mut self) {
        if self.accept_paused_until.is_some() {
            return;
        }
        let mut first = true;
        loop {
            let error = match self.listener.accept() {
                Ok((stream, peer)) => {
                    self.stats.accepted += 1;
                    self.add_client(stream, peer);
                    first = false;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stats.empty += u64::from(first);
                    return;
                }
                Err(e) => e,
            };
            match accept_action(&error) {
                AcceptAction::Retry => {}
                AcceptAction::ShedOne => {
                    // Take the client with the spare descriptor and close it,
                    // then go on: the waiting ones are refused the same way
                    // rather than left behind an edge that has passed.
                    let peer = self.spare.shed(&self.listener);
                    self.log.refusing(peer, "out of file descriptors");
                    if peer.is_none() {
                        return self.pause_accepting();
                    }
                }
                AcceptAction::Pause => {
                    // Out of memory, or something unexpected: spinning would
                    // not help, and giving up would strand the waiting
                    // clients. Try again shortly.
                    self.log.accept_failed(&error);
                    return self.pause_accepting();
                }
            }
        }
    }

    /// Stops accepting for `ACCEPT_PAUSE`. A level-triggered listener (as
    /// `epoll-threads` registers one shared by its loops) leaves the epoll
    /// set meanwhile, or every wait would report it again at once. It is
    /// taken out and put back rather than modified: an `EPOLLEXCLUSIVE`
    /// registration cannot be modified.
    fn pause_accepting(&mut self) {
        self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
        if self.listener_events & ET == 0 {
            let _ = self.epoll.deregister(&self.listener);
        }
    }

    fn add_client(&mut self, stream: TcpStream, peer: SocketAddr) {
        // Registering checks readiness at once, so data that came with the
        // handshake is reported by the next wait.
        let setup = stream
            .set_nonblocking(true)
            .and_then(|()| echo_common::tune_connection(&stream))
            .and_then(|()| self.epoll.register(&stream, READING));
        if let Err(e) = setup {
            self.log.dropping(peer, &e);
            return;
        }
        self.log.new_connection(peer);
        let client = Client {
            peer,
            queue: MessageQueue::new(),
            done_reading: false,
            paused: false,
            read_to_the_end: false,
            ready_again: false,
            write_shut: false,
            interest: READING,
            stream,
        };
        let _ = self.clients.insert(client.stream.as_raw_fd(), client);
    }
    // ANCHOR_END: accept

    // ANCHOR: event
    fn handle_event(&mut self, fd: RawFd, flags: Events) {
        let Some(client) = self.clients.get_mut(fd) else {
            return;
        };
        if flags & (PRI | RDHUP | HUP | ERR) != 0 {
            // Urgent data, end-of-file or an error: a short read is no
            // longer proof that the socket is empty.
            client.read_to_the_end = true;
        }
        if flags & OUT != 0 && !client.queue.is_empty() {
            self.handle_writable(fd);
        }
        // A client on `ready_again` reads there, once per turn.
        let readable = flags & (IN | PRI | RDHUP | HUP | ERR) != 0;
        if readable && self.clients.get(fd).is_some_and(|c| !c.ready_again) {
            self.handle_readable(fd);
        }
    }
    // ANCHOR_END: event

    // ANCHOR: readable
    /// Reads what the client sent, up to a turn's worth, and echoes it.
    fn handle_readable(&mut self, fd: RawFd) {
        let Some(client) = self.clients.get_mut(fd) else {
            return;
        };
        for _ in 0..READS_PER_TURN {
            if client.done_reading || client.paused {
                return self.settle(fd);
            }
            let n = match client.stream.read(&mut self.data) {
                // Zero bytes: the client will send no more. Its echo may
                // still be queued; it is delivered before the socket closes.
                Ok(0) => {
                    if !client.queue.is_empty() {
                        self.log.end_of_input(client.peer, client.queue.pending());
                    }
                    client.done_reading = true;
                    return self.settle(fd);
                }
                Ok(n) => n,
                // Empty for now: the next arrival is a new edge. Except at
                // the urgent mark, where Linux answers a read made while a
                // signal is pending (a stop, a handler) with WouldBlock
                // whatever is queued, and no edge comes for bytes already
                // there: after an urgent event, ask how many are queued.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let left = client.read_to_the_end
                        && echo_sys::bytes_queued(client.stream.as_fd()).is_ok_and(|n| n > 0);
                    if left {
                        self.read_again_later(fd);
                    } else {
                        client.read_to_the_end = false;
                    }
                    return self.settle(fd);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.log.dropping(client.peer, &e);
                    return self.close(fd);
                }
            };
            self.log.received(client.peer, &self.data[..n]);
            if let Err(e) = send_or_queue(client, &self.data[..n], &self.log) {
                self.log.dropping(client.peer, &e);
                return self.close(fd);
            }
            if client.queue.is_full() {
                // The client is not reading its echo: stop reading from it
                // until the queue drains, so memory stays bounded.
                self.log.pausing(client.peer, client.queue.pending());
                client.paused = true;
            }
            if n < self.data.len() && !client.read_to_the_end {
                // A short read: the socket is empty, and saying so with one
                // more read (and its `WouldBlock`) would cost a system call.
                return self.settle(fd);
            }
        }
        // Turn used up with data perhaps left: come back after the others.
        self.read_again_later(fd);
        self.settle(fd);
    }
    // ANCHOR_END: readable

    // ANCHOR: writable
    fn handle_writable(&mut self, fd: RawFd) {
        let Some(client) = self.clients.get_mut(fd) else {
            return;
        };
        if let Err(e) = send_queued(client, &self.log) {
            self.log.dropping(client.peer, &e);
            return self.close(fd);
        }
        self.settle(fd);
    }
    // ANCHOR_END: writable

    // ANCHOR: settle
    /// After a read or a write: closes a client that is done, resumes one
    /// that has room again, and asks for `EPOLLOUT` only while echo waits
    /// for room (one `epoll_ctl` when that changes, none otherwise).
    fn settle(&mut self, fd: RawFd) {
        let Some(client) = self.clients.get_mut(fd) else {
            return;
        };
        if client.done_reading && client.queue.is_empty() {
            self.log.closing(client.peer);
            return self.close(fd);
        }
        if client.paused && !client.queue.is_full() {
            // It has room again. No edge will report the data it sent
            // meanwhile: go and look.
            self.log.resuming(client.peer);
            client.paused = false;
            self.read_again_later(fd);
        }
        let Some(client) = self.clients.get_mut(fd) else {
            return;
        };
        let wanted = if client.queue.is_empty() {
            READING
        } else {
            READING | OUT
        };
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

    /// Puts a client on `ready_again`, unless it is there already.
    fn read_again_later(&mut self, fd: RawFd) {
        if let Some(client) = self.clients.get_mut(fd)
            && !client.ready_again
        {
            client.ready_again = true;
            self.ready_again.push(fd);
        }
    }
    // ANCHOR_END: settle

    /// Forgets a client; dropping its stream closes the socket, after it has
    /// left the epoll set. Its descriptor number may be reused by the next
    /// `accept`, so it leaves `ready_again` too.
    fn close(&mut self, fd: RawFd) {
        if let Some(client) = self.clients.remove(fd) {
            if client.ready_again {
                self.ready_again.retain(|&again| again != fd);
            }
            let _ = self.epoll.deregister(&client.stream);
        }
    }
}

/// A clean stop, for `epoll-threads`: what the loop does once it has been
/// told to stop.
impl Server {
    // ANCHOR: shut_down
    /// Stops accepting, delivers the echo each client is owed, half-closes
    /// each connection so that its client reads its echo and then
    /// end-of-file, and waits up to `grace` for the clients to close. What a
    /// client sends meanwhile is read and dropped: a socket closed with
    /// unread data would send a reset, and the client could lose the echo it
    /// was owed. Returns how many connections were closed.
    pub fn shut_down(&mut self, events: &mut Vec<(RawFd, Events)>, grace: Duration) -> usize {
        let _ = self.epoll.deregister(&self.listener);
        let deadline = Instant::now() + grace;
        let fds: Vec<RawFd> = (0..=self.clients.max_fd())
            .filter(|&fd| self.clients.contains(fd))
            .collect();
        let closing = fds.len();
        for &fd in &fds {
            if let Some(client) = self.clients.get_mut(fd) {
                // Level-triggered from now on: nothing is left for a later
                // turn, so no `ready_again` is needed.
                client.interest = 0;
            }
            self.wind_down(fd, IN | OUT);
        }
        while !self.clients.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.epoll.wait(events, Some(left)).is_err() {
                break;
            }
            for &(fd, flags) in events.iter() {
                self.wind_down(fd, flags);
            }
        }
        // Time is up: the rest are closed as they are.
        for fd in fds {
            self.close(fd);
        }
        closing
    }

    /// One step of a client's clean stop: send what is owed, then shut down
    /// the sending side; read and drop whatever arrives, until end-of-file.
    fn wind_down(&mut self, fd: RawFd, flags: Events) {
        let Some(client) = self.clients.get_mut(fd) else {
            return;
        };
        if flags & (OUT | HUP | ERR) != 0 && send_queued(client, &self.log).is_err() {
            return self.close(fd);
        }
        if client.queue.is_empty() && !client.write_shut {
            client.write_shut = true;
            if client.stream.shutdown(std::net::Shutdown::Write).is_err() {
                return self.close(fd);
            }
        }
        if flags & (IN | RDHUP | HUP | ERR) != 0 {
            match client.stream.read(&mut self.data) {
                Ok(0) => client.done_reading = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(fd),
            }
        }
        if client.done_reading && client.write_shut {
            self.log.closing(client.peer);
            return self.close(fd);
        }
        let wanted = if client.done_reading { 0 } else { IN | RDHUP }
            | if client.queue.is_empty() { 0 } else { OUT };
        if wanted != client.interest {
            match self.epoll.modify(&client.stream, wanted) {
                Ok(()) => client.interest = wanted,
                Err(_) => self.close(fd),
            }
        }
    }
    // ANCHOR_END: shut_down
}

// ANCHOR: send
/// Echoes `data` at once, straight from the read buffer, unless older
/// output is still waiting: usually the socket takes it all, and the queue
/// is not needed. What the socket does not take is queued, to go out when
/// `EPOLLOUT` says there is room.
fn send_or_queue(client: &mut Client, data: &[u8], log: &Log) -> io::Result<()> {
    let mut sent = 0;
    if client.queue.is_empty() {
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
    client.queue.push(&data[sent..]);
    Ok(())
}

/// Sends queued output until the queue is empty or the socket is full (an
/// `EPOLLOUT` edge will say when it has room again).
fn send_queued(client: &mut Client, log: &Log) -> io::Result<()> {
    while let Some(next_msg) = client.queue.front() {
        log.sending(client.peer, next_msg);
        match (&client.stream).write(next_msg) {
            Ok(sent) => {
                let all = sent == next_msg.len();
                if !all {
                    // The socket buffer is full: the rest stays at the head
                    // of the queue.
                    log.sent_part(client.peer, sent, next_msg.len());
                }
                client.queue.advance(sent);
                if !all {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    log.queue_empty(client.peer);
    Ok(())
}
// ANCHOR_END: send

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A listener shut down for reading stays readable, and every `accept`
    /// on it fails (`EINVAL`): an error that pauses accepting. Registered
    /// level-triggered, it must not be reported again during the pause.
    #[test]
    fn a_paused_level_triggered_listener_is_not_reported_again() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        socket2::SockRef::from(&listener)
            .shutdown(std::net::Shutdown::Read)
            .unwrap();
        let epoll = Epoll::new().unwrap();
        let mut server = Server::new(epoll, listener, IN, Log::new(true), 4096).unwrap();
        let mut events = Vec::new();
        server.turn(&mut events).unwrap();
        assert_eq!(server.stats.wakeups, 1);
        assert!(server.accept_paused_until.is_some());
        // The next turn sleeps until the pause ends, instead of returning
        // at once for the same listener.
        let start = Instant::now();
        server.turn(&mut events).unwrap();
        assert!(
            start.elapsed() >= ACCEPT_PAUSE / 2,
            "the turn returned after {:?}",
            start.elapsed()
        );
        assert_eq!(server.stats.wakeups, 1);
    }
}
