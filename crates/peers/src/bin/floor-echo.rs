//! floor-echo: about the least a correct epoll echo server can do, as a
//! floor for the others' figures. No logging, no fairness budget, one
//! epoll instance, every socket registered once (edge-triggered, for
//! reading and writing) and never changed, the echo written straight from
//! the read buffer, and only what the socket refuses kept, up to a limit
//! past which the client is not read until it takes its echo. It stops at a
//! short read unless urgent data or an end-of-file was reported, as
//! epoll-edge does.
//!
//! Run it with `cargo run --release -p peers --bin floor-echo`; it takes
//! `--read-size` like the chapters.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, RawFd};

use clap::Parser;
use echo_common::{
    Log, PENDING_LIMIT, SHARED_READ_SIZE, ServerArgs, exit_with_error, listen, parse_args,
    parse_read_size, raise_fd_limit,
};
use echo_sys::epoll::{EMPTY_EVENT, epoll_create1, epoll_ctl, epoll_wait};

/// The least a correct epoll echo server does.
#[derive(Parser)]
#[command(name = "floor-echo")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The most bytes read from a socket in one call
    #[arg(long, value_name = "BYTES", default_value_t = SHARED_READ_SIZE, value_parser = parse_read_size)]
    read_size: usize,
}

struct Conn {
    stream: TcpStream,
    /// Echo the socket did not take yet.
    unsent: Vec<u8>,
    done_reading: bool,
}

const EVERYTHING: u32 =
    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLET) as u32;
const READ_TO_THE_END: u32 =
    (libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLHUP | libc::EPOLLERR) as u32;

fn main() {
    let args: Args = parse_args();
    let log = Log::new(args.server.quiet);
    let epoll = epoll_create1().unwrap_or_else(|e| exit_with_error(e));
    let listener = listen(&args.server).unwrap_or_else(|e| exit_with_error(e));
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| exit_with_error(e));
    let _ = raise_fd_limit();
    let port = listener.local_addr().map_or(args.server.port, |a| a.port());
    log.starting_up(&args.server.host, port);
    let lfd = listener.as_raw_fd();
    epoll_ctl(
        epoll.as_fd(),
        libc::EPOLL_CTL_ADD,
        listener.as_fd(),
        (libc::EPOLLIN | libc::EPOLLET) as u32,
        lfd as u64,
    )
    .unwrap_or_else(|e| exit_with_error(e));
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut buf = vec![0u8; args.read_size];
    let mut events = vec![EMPTY_EVENT; 1024];
    loop {
        let n = match epoll_wait(epoll.as_fd(), &mut events, -1) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => exit_with_error(format_args!("epoll_wait failed: {e}")),
        };
        for e in &events[..n] {
            let (token, flags) = (e.u64, e.events);
            let fd = token as RawFd;
            if fd == lfd {
                accept_all(&listener, &epoll, &mut conns);
                continue;
            }
            let Some(slot) = conns.get_mut(fd as usize) else {
                continue;
            };
            let Some(conn) = slot.as_mut() else {
                continue;
            };
            if serve(conn, flags, &mut buf).is_err()
                || (conn.done_reading && conn.unsent.is_empty())
            {
                // Dropping the stream closes it, which leaves the epoll set.
                *slot = None;
            }
        }
    }
}

fn accept_all(listener: &TcpListener, epoll: &std::os::fd::OwnedFd, conns: &mut Vec<Option<Conn>>) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let fd = stream.as_raw_fd();
                let ok = stream.set_nonblocking(true).is_ok()
                    && echo_common::tune_connection(&stream).is_ok()
                    && epoll_ctl(
                        epoll.as_fd(),
                        libc::EPOLL_CTL_ADD,
                        stream.as_fd(),
                        EVERYTHING,
                        fd as u64,
                    )
                    .is_ok();
                if ok {
                    if conns.len() <= fd as usize {
                        conns.resize_with(fd as usize + 1, || None);
                    }
                    conns[fd as usize] = Some(Conn {
                        stream,
                        unsent: Vec::new(),
                        done_reading: false,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            // Out of descriptors, or worse: try again on the next edge.
            Err(e) if echo_common::accept_action(&e) != echo_common::AcceptAction::Retry => return,
            Err(_) => {}
        }
    }
}

/// Handles one event: flushes what is owed, then reads and echoes.
fn serve(conn: &mut Conn, flags: u32, buf: &mut [u8]) -> io::Result<()> {
    flush(conn)?;
    let to_the_end = flags & READ_TO_THE_END != 0;
    while !conn.done_reading && conn.unsent.len() < PENDING_LIMIT {
        let n = match conn.stream.read(buf) {
            Ok(0) => {
                conn.done_reading = true;
                break;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if conn.unsent.is_empty() {
            let sent = match (&conn.stream).write(&buf[..n]) {
                Ok(sent) => sent,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) => return Err(e),
            };
            conn.unsent.extend_from_slice(&buf[sent..n]);
        } else {
            conn.unsent.extend_from_slice(&buf[..n]);
        }
        if n < buf.len() && !to_the_end {
            break;
        }
    }
    Ok(())
}

fn flush(conn: &mut Conn) -> io::Result<()> {
    while !conn.unsent.is_empty() {
        match (&conn.stream).write(&conn.unsent) {
            Ok(sent) => {
                conn.unsent.drain(..sent);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
