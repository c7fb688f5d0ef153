//! The listening socket and the descriptor limit.

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

use crate::cli::ServerArgs;

/// How many finished handshakes the kernel may hold for `accept`, unless
/// `--backlog` says otherwise. The Python original's `listen(5)` makes
/// clients stall under load; Linux caps this at `net.core.somaxconn` (4096
/// on current kernels).
pub const BACKLOG: i32 = 4096;

/// Resolves `host`, preferring IPv4, so `localhost` means 127.0.0.1 as in
/// the Python original's transcripts.
pub fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address found"))
}

/// Binds and listens on `--host`/`--port`, or says in one line why not.
/// `SO_REUSEADDR` lets a restarted server bind while old connections are in
/// `TIME_WAIT`; a port another server listens on is still refused.
pub fn listen(args: &ServerArgs) -> Result<TcpListener, String> {
    let addr = resolve_arg(args)?;
    bind(addr, false, args.backlog).map_err(|e| listen_error(args, addr, &e))
}

/// `count` listening sockets on `--host`/`--port`, all bound with
/// `SO_REUSEPORT`, so that the kernel spreads new connections over them
/// (one per event loop). With `--port 0` the first picks a free port and
/// the others join it.
pub fn listen_reuse_port(args: &ServerArgs, count: usize) -> Result<Vec<TcpListener>, String> {
    let addr = resolve_arg(args)?;
    let first = bind(addr, true, args.backlog).map_err(|e| listen_error(args, addr, &e))?;
    let port = first
        .local_addr()
        .map_err(|e| listen_error(args, addr, &e))?
        .port();
    let mut listeners = vec![first];
    while listeners.len() < count {
        let same = SocketAddr::new(addr.ip(), port);
        listeners.push(bind(same, true, args.backlog).map_err(|e| listen_error(args, same, &e))?);
    }
    Ok(listeners)
}

fn resolve_arg(args: &ServerArgs) -> Result<SocketAddr, String> {
    resolve(&args.host, args.port).map_err(|e| format!("cannot resolve host '{}': {e}", args.host))
}

fn bind(addr: SocketAddr, reuse_port: bool, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    #[cfg(target_os = "linux")]
    socket.set_reuse_port(reuse_port)?;
    #[cfg(not(target_os = "linux"))]
    let _ = reuse_port;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// The one-line error for a listener that cannot be set up, with what to
/// do next: the error is the last thing the server prints.
fn listen_error(args: &ServerArgs, addr: SocketAddr, e: &io::Error) -> String {
    let hint = match e.kind() {
        io::ErrorKind::AddrInUse => " (try another --port, or --port 0 for any free one)",
        _ => "",
    };
    format!(
        "cannot listen on {} port {} ({addr}): {e}{hint}",
        args.host, args.port
    )
}

/// Socket options every server sets on an accepted connection:
/// - `TCP_NODELAY`: an echo goes out as soon as it is written. With Nagle's
///   algorithm on, a reply written in several pieces (a 16 KiB message read
///   4 KiB at a time) waits for the client's delayed ACK, about 40 ms, before
///   each piece after the first;
/// - `SO_OOBINLINE`: urgent (out-of-band) data stays in the stream, to be
///   echoed like any other byte, instead of being set aside where a plain
///   read never sees it.
pub fn tune_connection(stream: &std::net::TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    socket2::SockRef::from(stream).set_out_of_band_inline(true)
}

/// Raises the soft limit on open descriptors to the hard limit, so a server
/// can hold as many connections as the system lets it. Returns the limit now
/// in force.
pub fn raise_fd_limit() -> io::Result<u64> {
    let (soft, hard) = echo_sys::nofile_limit()?;
    if soft < hard {
        echo_sys::set_nofile_limit(hard, hard)?;
    }
    Ok(echo_sys::nofile_limit()?.0)
}

/// How long a server stops accepting after [`AcceptAction::Pause`]: long
/// enough that a failure which would repeat costs ten tries a second, not a
/// spinning core; short enough that clients waiting in the backlog hardly
/// notice.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// What a server does after `accept` fails (not for WouldBlock, which ends an accept loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptAction {
    /// The error concerned one connection (or a signal): accept again at once.
    Retry,
    /// Out of descriptors (EMFILE/ENFILE): shed the waiting client with the spare descriptor.
    ShedOne,
    /// Out of memory or unexpected: stop accepting for ACCEPT_PAUSE, then try again.
    Pause,
}

/// Sorts an `accept` error into what to do about it.
///
/// Linux hands errors already pending on the new connection to `accept`
/// itself, and accept(2) says to treat the network ones like `EAGAIN` and
/// accept again: for TCP, `ENETDOWN`, `EPROTO`, `ENOPROTOOPT`, `EHOSTDOWN`,
/// `ENONET`, `EHOSTUNREACH`, `EOPNOTSUPP` and `ENETUNREACH`. So do
/// `ECONNABORTED` (a connection aborted before it was taken; some systems
/// say `ECONNRESET`) and `EINTR`. Anything else, `ENOBUFS` and `ENOMEM`
/// included, would most likely fail again at once. Pausing, then accepting
/// again, keeps a level-triggered loop from spinning on a listener that
/// stays readable, and brings an edge-triggered one back for the clients
/// behind an edge that will not be reported again. `WouldBlock` is no error
/// here; given one, this says `Pause`, the choice that cannot spin.
pub fn accept_action(err: &io::Error) -> AcceptAction {
    match err.raw_os_error() {
        Some(
            libc::ENETDOWN
            | libc::EPROTO
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
            | libc::ECONNABORTED
            | libc::ECONNRESET
            | libc::EINTR,
        ) => AcceptAction::Retry,
        // Linux's own errno ("machine is not on the network").
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(libc::ENONET) => AcceptAction::Retry,
        Some(libc::EMFILE | libc::ENFILE) => AcceptAction::ShedOne,
        _ => AcceptAction::Pause,
    }
}

/// Whether an `accept` error means the process (or system) is out of
/// descriptors: [`accept_action`] says [`AcceptAction::ShedOne`].
pub fn is_out_of_fds(err: &io::Error) -> bool {
    accept_action(err) == AcceptAction::ShedOne
}

/// Whether an `accept` error concerns only the connection being accepted
/// (or a signal), so the server just goes on: [`accept_action`] says
/// [`AcceptAction::Retry`].
pub fn is_transient_accept_error(err: &io::Error) -> bool {
    accept_action(err) == AcceptAction::Retry
}

/// One descriptor kept in reserve for when the process runs out.
///
/// When `accept` fails with `EMFILE`, the pending connection stays in the
/// backlog and the listener stays readable: a level-triggered loop would wake
/// at once, fail again, and spin a core. Giving the spare back lets the server
/// take that connection and close it at once (the client sees the close rather
/// than hanging), then take the spare again. libev's manual describes this
/// ("The special problem of accept()ing when you can't") and libuv does it
/// (`uv__emfile_trick` in `src/unix/stream.c`); nginx instead stops watching
/// its listeners and tries again after `accept_mutex_delay`
/// (`ngx_event_accept`), as [`AcceptAction::Pause`] does here when no spare
/// is left.
#[derive(Debug)]
pub struct SpareFd(Option<File>);

impl SpareFd {
    pub fn new() -> io::Result<Self> {
        Ok(SpareFd(Some(File::open("/dev/null")?)))
    }

    /// Accepts one connection with the spare descriptor and closes it.
    /// Returns its address, if the accept worked.
    pub fn shed(&mut self, listener: &TcpListener) -> Option<SocketAddr> {
        self.0 = None;
        let peer = listener.accept().ok().map(|(stream, peer)| {
            drop(stream);
            peer
        });
        self.0 = File::open("/dev/null").ok();
        peer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_resolves_to_ipv4_loopback() {
        let addr = resolve("localhost", 10000).unwrap();
        assert_eq!(addr.to_string(), "127.0.0.1:10000");
    }

    #[test]
    fn a_port_in_use_is_a_one_line_error() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let args = ServerArgs {
            host: "127.0.0.1".into(),
            port: taken.local_addr().unwrap().port(),
            quiet: true,
            backlog: BACKLOG,
        };
        let err = listen(&args).unwrap_err();
        assert!(err.contains("cannot listen on 127.0.0.1 port"), "{err}");
        assert!(err.contains("in use"), "{err}");
        assert!(err.contains("--port 0"), "{err}");
        assert!(!err.contains('\n'));
    }

    /// Connections the listener completes while nobody accepts, of `tries`.
    #[cfg(target_os = "linux")]
    fn completed_handshakes(backlog: i32, tries: usize) -> usize {
        let args = ServerArgs {
            host: "127.0.0.1".into(),
            port: 0,
            quiet: true,
            backlog,
        };
        let listener = listen(&args).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut held = Vec::new();
        for _ in 0..tries {
            // A full accept queue drops the SYN: the connect stays pending.
            if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                held.push(s);
            }
        }
        held.len()
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_backlog_flag_bounds_the_accept_queue() {
        // Linux holds one more than the backlog (`backlog + 1`).
        assert_eq!(completed_handshakes(1, 4), 2);
        assert_eq!(completed_handshakes(BACKLOG, 4), 4);
    }

    #[test]
    fn out_of_fds_is_recognised() {
        assert!(is_out_of_fds(&io::Error::from_raw_os_error(24)));
        assert!(!is_out_of_fds(&io::Error::from_raw_os_error(104)));
    }

    #[test]
    fn accept_errors_are_sorted_by_what_retrying_would_do() {
        let action = |errno| accept_action(&io::Error::from_raw_os_error(errno));
        // Errors of the connection being accepted (accept(2), "Error
        // handling"), a client that gave up, and a signal.
        for errno in [
            libc::ENETDOWN,
            libc::EPROTO,
            libc::ENOPROTOOPT,
            libc::EHOSTDOWN,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            libc::ENONET,
            libc::EHOSTUNREACH,
            libc::EOPNOTSUPP,
            libc::ENETUNREACH,
            libc::ECONNABORTED,
            libc::ECONNRESET,
            libc::EINTR,
        ] {
            assert_eq!(action(errno), AcceptAction::Retry, "errno {errno}");
            assert!(is_transient_accept_error(&io::Error::from_raw_os_error(
                errno
            )));
        }
        for errno in [libc::EMFILE, libc::ENFILE] {
            assert_eq!(action(errno), AcceptAction::ShedOne, "errno {errno}");
        }
        // Out of memory, and errors that say nothing about one connection.
        for errno in [libc::ENOBUFS, libc::ENOMEM, libc::EINVAL, libc::EPERM] {
            assert_eq!(action(errno), AcceptAction::Pause, "errno {errno}");
            assert!(!is_transient_accept_error(&io::Error::from_raw_os_error(
                errno
            )));
        }
        // No errno at all, and one no system uses.
        assert_eq!(
            accept_action(&io::Error::other("not from the kernel")),
            AcceptAction::Pause
        );
        assert_eq!(action(100_000), AcceptAction::Pause);
    }
}
