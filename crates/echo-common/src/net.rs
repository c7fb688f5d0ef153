//! The listening socket and the descriptor limit.

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Socket, Type};

use crate::cli::ServerArgs;

/// How many finished handshakes the kernel may hold for `accept`. The
/// Python original's `listen(5)` makes clients stall under load; Linux caps
/// this at `net.core.somaxconn` (4096 on current kernels).
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
    let addr = resolve(&args.host, args.port)
        .map_err(|e| format!("cannot resolve host '{}': {e}", args.host))?;
    let bind = || -> io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(BACKLOG)?;
        Ok(socket.into())
    };
    bind().map_err(|e| {
        format!(
            "cannot listen on {} port {} ({addr}): {e}",
            args.host, args.port
        )
    })
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

/// Whether an `accept` error means the process (or system) is out of descriptors.
pub fn is_out_of_fds(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Whether an `accept` error concerns only the connection being accepted
/// (it was reset or aborted before we took it), so the server just goes on.
pub fn is_transient_accept_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || matches!(err.raw_os_error(), Some(libc::EPROTO))
}

/// One descriptor kept in reserve for when the process runs out.
///
/// When `accept` fails with `EMFILE`, the pending connection stays in the
/// backlog and the listener stays readable: a level-triggered loop would wake
/// at once, fail again, and spin a core. Giving the spare back lets the server
/// take that connection and close it at once (the client sees the close rather
/// than hanging), then take the spare again. Servers such as libev and nginx
/// use the same trick.
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
        };
        let err = listen(&args).unwrap_err();
        assert!(err.contains("cannot listen on 127.0.0.1 port"), "{err}");
        assert!(err.contains("in use"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn out_of_fds_is_recognised() {
        assert!(is_out_of_fds(&io::Error::from_raw_os_error(24)));
        assert!(!is_out_of_fds(&io::Error::from_raw_os_error(104)));
    }
}
