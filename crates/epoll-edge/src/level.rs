//! The level-triggered server (`--level`), with the Python original's
//! structure: one read per event, the echo queued, and sent one message per
//! `EPOLLOUT` event; the event that finds the queue empty ends the watch
//! for writing.
//!
//! Level-triggered, epoll reports a socket for as long as it is ready, like
//! `select` and `poll`: data left after a read is reported by the next wait,
//! so no handler has to drain anything, and a client with more to send
//! simply comes up again on the next turn, beside the others. The price is
//! an `epoll_ctl` whenever what a client waits for changes: stop watching
//! for reading while it is paused or done, watch for writing only while it
//! has something to send (a writable socket would be reported on every
//! wait).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use crate::FdMap;
use crate::epoll::{ERR, Epoll, Events, HUP, IN, OUT};
use echo_common::net::{ACCEPT_PAUSE, AcceptAction, accept_action};
use echo_common::{Log, MessageQueue, SpareFd, exit_with_error};

/// Everything a client needs, its output queue included.
struct Client {
    stream: TcpStream,
    peer: SocketAddr,
    /// Outgoing data (the Python original's `message_queues[s]`).
    queue: MessageQueue,
    /// The client has sent end-of-file; close once its echo is delivered.
    done_reading: bool,
    /// Its queue is full: reads wait until the client takes its echo.
    paused: bool,
    /// It is in the Python original's `outputs`: watched for writing.
    writing: bool,
    /// The interest registered with epoll now.
    interest: Events,
}

/// Everything the loop keeps.
struct Server {
    listener: TcpListener,
    epoll: Epoll,
    clients: FdMap<Client>,
    /// After an `accept` error that is not one client's: when to watch the
    /// listener again.
    accept_paused_until: Option<Instant>,
    /// Where reads land, one buffer for every client.
    data: Vec<u8>,
    spare: SpareFd,
    log: Log,
}

pub fn serve(epoll: Epoll, listener: TcpListener, log: Log, read_size: usize) -> ! {
    // ANCHOR: setup
    epoll
        .register(&listener, IN)
        .unwrap_or_else(|e| exit_with_error(e));
    let mut server = Server {
        listener,
        epoll,
        clients: FdMap::new(),
        accept_paused_until: None,
        data: vec![0; read_size.max(1)],
        spare: SpareFd::new().unwrap_or_else(|e| exit_with_error(e)),
        log,
    };
    // ANCHOR_END: setup

    // ANCHOR: loop
    let mut events = Vec::new();
    loop {
        let timeout = server
            .accept_paused_until
            .map(|t| t.saturating_duration_since(Instant::now()));
        if timeout.is_none() {
            server.log.waiting();
        }
        if let Err(e) = server.epoll.wait(&mut events, timeout) {
            exit_with_error(format_args!("epoll_wait failed: {e}"));
        }
        for &(fd, flags) in &events {
            if fd == server.listener.as_raw_fd() {
                server.accept_all();
            } else {
                server.handle_event(fd, flags);
            }
        }
        server.resume_accepting();
    }
    // ANCHOR_END: loop
}

impl Server {
    // ANCHOR: accept
    /// Accepts every waiting client (one `accept` per event would do too:
    /// the listener stays readable while clients wait).
    fn accept_all(&mut self) {
        loop {
            let error = match self.listener.accept() {
                Ok((stream, peer)) => {
                    self.add_client(stream, peer);
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => e,
            };
            match accept_action(&error) {
                AcceptAction::Retry => {}
                AcceptAction::ShedOne => {
                    // Without this, the waiting client keeps the listener
                    // readable and every wait returns at once: a spin.
                    let peer = self.spare.shed(&self.listener);
                    self.log.refusing(peer, "out of file descriptors");
                    if peer.is_none() {
                        return self.pause_accepting();
                    }
                }
                AcceptAction::Pause => {
                    self.log.accept_failed(&error);
                    return self.pause_accepting();
                }
            }
        }
    }

    /// Stops watching the listener for a moment: level-triggered, it would
    /// be reported again at once, and the same error would follow.
    fn pause_accepting(&mut self) {
        if self.epoll.modify(&self.listener, 0).is_ok() {
            self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
        }
    }

    fn resume_accepting(&mut self) {
        if self
            .accept_paused_until
            .is_some_and(|t| Instant::now() >= t)
            && self.epoll.modify(&self.listener, IN).is_ok()
        {
            self.accept_paused_until = None;
        }
    }

    fn add_client(&mut self, stream: TcpStream, peer: SocketAddr) {
        let setup = stream
            .set_nonblocking(true)
            .and_then(|()| echo_common::tune_connection(&stream))
            .and_then(|()| self.epoll.register(&stream, IN));
        if let Err(e) = setup {
            self.log.dropping(peer, &e);
            return;
        }
        self.log.new_connection(peer);
        let client = Client {
            peer,
            // Give the connection a queue for data we want to send.
            queue: MessageQueue::new(),
            done_reading: false,
            paused: false,
            writing: false,
            interest: IN,
            stream,
        };
        let _ = self.clients.insert(client.stream.as_raw_fd(), client);
    }
    // ANCHOR_END: accept

    // ANCHOR: event
    fn handle_event(&mut self, fd: RawFd, flags: Events) {
        // A hang-up or an error: the read finds the end-of-file or the
        // error, and the write delivers what can be delivered; one of them
        // ends the connection, so it is not reported again and again.
        let hangup = flags & (HUP | ERR) != 0;
        if flags & IN != 0 || hangup {
            self.handle_readable(fd);
        }
        if flags & OUT != 0 || hangup {
            self.handle_writable(fd);
        }
    }
    // ANCHOR_END: event

    // ANCHOR: readable
    /// One read per event: what is left is reported by the next wait.
    fn handle_readable(&mut self, fd: RawFd) {
        let Some(client) = self.clients.get_mut(fd) else {
            return;
        };
        if client.done_reading || client.paused {
            return self.settle(fd);
        }
        match client.stream.read(&mut self.data) {
            // Zero bytes: the client will send no more. Its echo may still
            // be queued; it is delivered before the socket closes.
            Ok(0) => {
                if !client.queue.is_empty() {
                    self.log.end_of_input(client.peer, client.queue.pending());
                }
                client.done_reading = true;
            }
            Ok(n) => {
                self.log.received(client.peer, &self.data[..n]);
                client.queue.push(&self.data[..n]);
                // Add output channel for response.
                client.writing = true;
                if client.queue.is_full() {
                    // The client is not reading its echo: stop reading from
                    // it until the queue drains, so memory stays bounded.
                    self.log.pausing(client.peer, client.queue.pending());
                    client.paused = true;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                self.log.dropping(client.peer, &e);
                return self.close(fd);
            }
        }
        self.settle(fd);
    }
    // ANCHOR_END: readable

    // ANCHOR: writable
    /// One message per event, as the Python original sends them.
    fn handle_writable(&mut self, fd: RawFd) {
        let Some(client) = self.clients.get_mut(fd) else {
            return;
        };
        let Some(next_msg) = client.queue.front() else {
            if client.writing {
                // No messages waiting, so stop checking for writability.
                self.log.queue_empty(client.peer);
                client.writing = false;
            }
            return self.settle(fd);
        };
        self.log.sending(client.peer, next_msg);
        match (&client.stream).write(next_msg) {
            Ok(sent) => {
                if sent < next_msg.len() {
                    // The socket buffer is full: the rest stays at the head
                    // of the queue.
                    self.log.sent_part(client.peer, sent, next_msg.len());
                }
                client.queue.advance(sent);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                self.log.dropping(client.peer, &e);
                return self.close(fd);
            }
        }
        self.settle(fd);
    }
    // ANCHOR_END: writable

    // ANCHOR: settle
    /// After a read or a write: closes a client that is done, resumes one
    /// that has room again, and tells epoll what the client waits for now,
    /// with one `epoll_ctl` if that changed and none if it did not.
    fn settle(&mut self, fd: RawFd) {
        let Some(client) = self.clients.get_mut(fd) else {
            return;
        };
        if client.done_reading && client.queue.is_empty() {
            self.log.closing(client.peer);
            return self.close(fd);
        }
        if client.paused && !client.queue.is_full() {
            // Level-triggered, the data it sent meanwhile is reported as
            // soon as reading interest is back.
            self.log.resuming(client.peer);
            client.paused = false;
        }
        let reading = if client.done_reading || client.paused {
            0
        } else {
            IN
        };
        let writing = if client.writing { OUT } else { 0 };
        let wanted = reading | writing;
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
    // ANCHOR_END: settle

    /// Forgets a client; dropping its stream closes the socket, after it has
    /// left the epoll set.
    fn close(&mut self, fd: RawFd) {
        if let Some(client) = self.clients.remove(fd) {
            let _ = self.epoll.deregister(&client.stream);
        }
    }
}
