//! A small safe wrapper over `epoll(7)`: the kernel keeps the interest list,
//! so registering a descriptor is one `epoll_ctl` call made once, and each
//! `epoll_wait` returns only the descriptors that are ready, however many are
//! watched.
//!
//! epoll exists only on Linux. Elsewhere this module still compiles, and
//! [`Epoll::new`] fails with a message that says so.

use std::io;
use std::os::fd::{AsFd, RawFd};
#[cfg(target_os = "linux")]
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

// ANCHOR: flags
/// Interest and readiness bits, as `epoll_ctl` and `epoll_wait` use them.
pub type Events = u32;

#[cfg(target_os = "linux")]
mod flags {
    use super::Events;
    /// Data, or end-of-file, to read (for a listener: a client to accept).
    pub const IN: Events = libc::EPOLLIN as Events;
    /// A write would not block.
    pub const OUT: Events = libc::EPOLLOUT as Events;
    /// Urgent data (TCP's `MSG_OOB`) is pending. With `SO_OOBINLINE` the
    /// urgent byte stays in the stream, but a read still stops at it.
    pub const PRI: Events = libc::EPOLLPRI as Events;
    /// The peer shut down its writing side: after the data, end-of-file.
    pub const RDHUP: Events = libc::EPOLLRDHUP as Events;
    /// Both directions are shut down; reported whether asked for or not.
    pub const HUP: Events = libc::EPOLLHUP as Events;
    /// An error is pending on the socket; reported whether asked for or not.
    pub const ERR: Events = libc::EPOLLERR as Events;
    /// Edge-triggered: report a descriptor when something happens to it
    /// (data arrives, even onto data not yet read; buffer space is freed
    /// after a write that found none), not for as long as it stays ready.
    pub const ET: Events = libc::EPOLLET as Events;
    /// Wake one of the epoll instances waiting on this descriptor, not all
    /// (for a listener shared by several loops; `EPOLL_CTL_ADD` only).
    pub const EXCLUSIVE: Events = libc::EPOLLEXCLUSIVE as Events;
}
// ANCHOR_END: flags

/// Stand-ins so the chapter compiles on other systems; no kernel ever sees
/// them, because [`Epoll::new`] fails there first.
#[cfg(not(target_os = "linux"))]
mod flags {
    use super::Events;
    pub const IN: Events = 1;
    pub const OUT: Events = 1 << 1;
    pub const PRI: Events = 1 << 6;
    pub const RDHUP: Events = 1 << 2;
    pub const HUP: Events = 1 << 3;
    pub const ERR: Events = 1 << 4;
    pub const ET: Events = 1 << 5;
    pub const EXCLUSIVE: Events = 1 << 7;
}

pub use flags::{ERR, ET, EXCLUSIVE, HUP, IN, OUT, PRI, RDHUP};

/// How many ready descriptors one `epoll_wait` can return; more stay ready
/// for the next call.
#[cfg(target_os = "linux")]
const MAX_EVENTS: usize = 1024;

/// An epoll instance. Every descriptor is registered with its own number as
/// its token, so `wait` hands back descriptors, as `poll` does.
pub struct Epoll {
    #[cfg(target_os = "linux")]
    epoll: std::os::fd::OwnedFd,
    #[cfg(target_os = "linux")]
    events: Vec<libc::epoll_event>,
}

#[cfg(target_os = "linux")]
impl Epoll {
    /// A new epoll instance, closed when dropped.
    ///
    /// # Errors
    /// What `epoll_create1(2)` returns (out of descriptors or memory).
    pub fn new() -> io::Result<Self> {
        Ok(Epoll {
            epoll: echo_sys::epoll::epoll_create1()?,
            events: vec![echo_sys::epoll::EMPTY_EVENT; MAX_EVENTS],
        })
    }

    /// Starts watching `fd` for `events`.
    ///
    /// # Errors
    /// `EEXIST` if `fd` is already registered; what `epoll_ctl(2)` returns.
    pub fn register(&self, fd: impl AsFd, events: Events) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd.as_fd(), events)
    }

    /// Changes what `fd` is watched for. With `ET`, the kernel checks the
    /// new interest at once: a descriptor already ready is reported again.
    ///
    /// # Errors
    /// `ENOENT` if `fd` is not registered; what `epoll_ctl(2)` returns.
    pub fn modify(&self, fd: impl AsFd, events: Events) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd.as_fd(), events)
    }

    /// Stops watching `fd`. Closing a socket also removes it, once no other
    /// descriptor refers to it; saying so explicitly keeps the two in step.
    ///
    /// # Errors
    /// `ENOENT` if `fd` is not registered; what `epoll_ctl(2)` returns.
    pub fn deregister(&self, fd: impl AsFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd.as_fd(), 0)
    }

    fn ctl(&self, op: libc::c_int, fd: BorrowedFd<'_>, events: Events) -> io::Result<()> {
        let token =
            u64::try_from(fd.as_raw_fd()).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        echo_sys::epoll::epoll_ctl(self.epoll.as_fd(), op, fd, events, token)
    }

    // ANCHOR: wait
    /// Waits until a registered descriptor is ready, or `timeout` passes
    /// (`None`: no limit), and fills `ready` with each ready descriptor and
    /// what it is ready for. Unlike `poll`, the kernel hands back only the
    /// ready ones: nothing here walks the idle connections. A signal that
    /// interrupts the wait (`EINTR`) starts it again.
    ///
    /// # Errors
    /// What `epoll_wait(2)` returns, but `EINTR`.
    pub fn wait(
        &mut self,
        ready: &mut Vec<(RawFd, Events)>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        ready.clear();
        // Rounded up: 0.4 ms left must not become a wait of 0, which returns
        // at once.
        let ms = echo_common::timeout_ms(timeout);
        let n = loop {
            match echo_sys::epoll::epoll_wait(self.epoll.as_fd(), &mut self.events, ms) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        ready.extend(self.events[..n].iter().map(|e| {
            // Copies: `epoll_event` is packed on x86-64.
            let (token, bits) = (e.u64, e.events);
            (token as RawFd, bits)
        }));
        Ok(())
    }
    // ANCHOR_END: wait
}

#[cfg(not(target_os = "linux"))]
impl Epoll {
    pub fn new() -> io::Result<Self> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "epoll is Linux-only; on this system try `cargo run -p poll-queue`",
        ))
    }

    pub fn register(&self, _fd: impl AsFd, _events: Events) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub fn modify(&self, _fd: impl AsFd, _events: Events) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub fn deregister(&self, _fd: impl AsFd) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub fn wait(
        &mut self,
        _ready: &mut Vec<(RawFd, Events)>,
        _timeout: Option<Duration>,
    ) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    #[test]
    fn edge_triggered_reports_a_change_once_level_triggered_until_drained() {
        let (edge, mut edge_peer) = UnixStream::pair().unwrap();
        let (level, mut level_peer) = UnixStream::pair().unwrap();
        let mut epoll = Epoll::new().unwrap();
        epoll.register(&edge, IN | ET).unwrap();
        epoll.register(&level, IN).unwrap();
        assert_eq!(
            epoll.register(&level, IN).unwrap_err().raw_os_error(),
            Some(libc::EEXIST)
        );
        edge_peer.write_all(b"ab").unwrap();
        level_peer.write_all(b"ab").unwrap();
        let mut ready = Vec::new();
        let mut ready_fds = |epoll: &mut Epoll| {
            epoll.wait(&mut ready, Some(Duration::ZERO)).unwrap();
            let mut fds: Vec<RawFd> = ready.iter().map(|&(fd, _)| fd).collect();
            fds.sort();
            fds
        };
        let both = {
            let mut v = vec![edge.as_raw_fd(), level.as_raw_fd()];
            v.sort();
            v
        };
        assert_eq!(ready_fds(&mut epoll), both);
        // Nothing was read: level-triggered reports it again, edge does not.
        assert_eq!(ready_fds(&mut epoll), vec![level.as_raw_fd()]);
        // New data is a new edge.
        edge_peer.write_all(b"c").unwrap();
        assert_eq!(ready_fds(&mut epoll), both);
        // Once read, neither is ready.
        let mut buf = [0; 8];
        assert_eq!((&edge).read(&mut buf).unwrap(), 3);
        assert_eq!((&level).read(&mut buf).unwrap(), 2);
        assert_eq!(ready_fds(&mut epoll), Vec::<RawFd>::new());
        // Modifying an edge-triggered registration checks readiness again.
        epoll.modify(&edge, IN | OUT | ET).unwrap();
        assert_eq!(ready_fds(&mut epoll), vec![edge.as_raw_fd()]);
        epoll.deregister(&edge).unwrap();
        assert_eq!(
            epoll.deregister(&edge).unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
        level_peer.write_all(b"d").unwrap();
        edge_peer.write_all(b"d").unwrap();
        assert_eq!(ready_fds(&mut epoll), vec![level.as_raw_fd()]);
    }

    #[test]
    fn a_wait_shorter_than_a_millisecond_still_waits() {
        let mut epoll = Epoll::new().unwrap();
        let mut ready = Vec::new();
        // Rounded down to 0 ms, these waits would return at once: together
        // they would take microseconds, not at least 50 ms.
        let start = std::time::Instant::now();
        for _ in 0..50 {
            epoll
                .wait(&mut ready, Some(Duration::from_micros(400)))
                .unwrap();
            assert!(ready.is_empty());
        }
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn a_half_close_is_reported_as_rdhup() {
        let (a, a_peer) = UnixStream::pair().unwrap();
        let mut epoll = Epoll::new().unwrap();
        epoll.register(&a, IN | RDHUP | ET).unwrap();
        a_peer.shutdown(std::net::Shutdown::Write).unwrap();
        let mut ready = Vec::new();
        epoll
            .wait(&mut ready, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(ready.len(), 1);
        assert_ne!(ready[0].1 & RDHUP, 0);
    }
}
