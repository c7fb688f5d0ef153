//! A small safe poller over `poll(2)`: the descriptors to watch live in one
//! `Vec<pollfd>` that is handed to the kernel whole on every call, and a map
//! from descriptor to its place in that vector lets `modify` and `deregister`
//! find it without a scan (the Python original's `fd_to_socket` plays the same
//! part for the sockets).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

/// Interest and readiness bits, as `poll` uses them (`libc::POLLIN`...).
pub type Events = libc::c_short;

// ANCHOR: masks
/// Data (or end-of-file) to read; `POLLPRI` is urgent data. `POLLHUP` and
/// `POLLERR` are reported whether asked for or not; they are listed to show
/// that the loop handles them.
pub const READ_ONLY: Events = libc::POLLIN | libc::POLLPRI | libc::POLLHUP | libc::POLLERR;
/// The same, plus "a write would not block": only while output is pending,
/// or `poll` would return at once, every time, for every idle connection.
pub const READ_WRITE: Events = READ_ONLY | libc::POLLOUT;
/// Output only: for a client that is paused or has sent end-of-file.
pub const WRITE_ONLY: Events = libc::POLLOUT | libc::POLLHUP | libc::POLLERR;
// ANCHOR_END: masks

/// The descriptors `poll` watches, and what it should watch them for.
#[derive(Default)]
pub struct Poller {
    fds: Vec<libc::pollfd>,
    /// Where each descriptor sits in `fds`.
    index: HashMap<RawFd, usize>,
}

impl Poller {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts watching `fd` for `events`.
    ///
    /// # Errors
    /// `AlreadyExists` if `fd` is already registered.
    pub fn register(&mut self, fd: impl AsFd, events: Events) -> io::Result<()> {
        let fd = fd.as_fd().as_raw_fd();
        if self.index.contains_key(&fd) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        self.index.insert(fd, self.fds.len());
        self.fds.push(libc::pollfd {
            fd,
            events,
            revents: 0,
        });
        Ok(())
    }

    /// Changes what `fd` is watched for.
    ///
    /// # Errors
    /// `NotFound` if `fd` is not registered.
    pub fn modify(&mut self, fd: impl AsFd, events: Events) -> io::Result<()> {
        let i = self.position(fd)?;
        self.fds[i].events = events;
        Ok(())
    }

    /// Stops watching `fd` (the Python original calls it `unregister`).
    /// Call it before the descriptor is closed: `poll` would report a closed
    /// descriptor as `POLLNVAL`, and a new connection could be given the same
    /// number.
    ///
    /// # Errors
    /// `NotFound` if `fd` is not registered.
    pub fn deregister(&mut self, fd: impl AsFd) -> io::Result<()> {
        let i = self.position(fd)?;
        let removed = self.fds.swap_remove(i);
        self.index.remove(&removed.fd);
        // The last entry moved into the hole.
        if let Some(moved) = self.fds.get(i) {
            self.index.insert(moved.fd, i);
        }
        Ok(())
    }

    // ANCHOR: wait
    /// Waits up to `timeout` for a registered descriptor to be ready, and
    /// fills `ready` with each ready descriptor and what it is ready for.
    /// `ready` is left empty if the time ran out. A signal that interrupts the
    /// wait (`EINTR`) starts it again.
    ///
    /// # Errors
    /// What `poll(2)` returns, but `EINTR`.
    pub fn wait(&mut self, ready: &mut Vec<(RawFd, Events)>, timeout: Duration) -> io::Result<()> {
        ready.clear();
        // Rounded up: 0.4 ms left must not become a wait of 0, which returns
        // at once.
        let ms = echo_common::timeout_ms(Some(timeout));
        let n = loop {
            match echo_sys::poll(&mut self.fds, ms) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        // The kernel marked the ready entries; finding them means walking
        // the whole vector, ready or not. That is poll's cost.
        if n > 0 {
            ready.extend(
                self.fds
                    .iter()
                    .filter(|p| p.revents != 0)
                    .map(|p| (p.fd, p.revents)),
            );
        }
        Ok(())
    }
    // ANCHOR_END: wait

    fn position(&self, fd: impl AsFd) -> io::Result<usize> {
        let fd = fd.as_fd().as_raw_fd();
        self.index
            .get(&fd)
            .copied()
            .ok_or_else(|| io::ErrorKind::NotFound.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn reports_only_ready_descriptors_and_follows_deregister() {
        let (a, mut a_peer) = UnixStream::pair().unwrap();
        let (b, _b_peer) = UnixStream::pair().unwrap();
        let (c, mut c_peer) = UnixStream::pair().unwrap();
        let mut poller = Poller::new();
        for s in [&a, &b, &c] {
            poller.register(s, libc::POLLIN).unwrap();
        }
        assert_eq!(
            poller.register(&a, libc::POLLIN).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        let mut ready = Vec::new();
        poller.wait(&mut ready, Duration::ZERO).unwrap();
        assert!(ready.is_empty());

        a_peer.write_all(b"x").unwrap();
        c_peer.write_all(b"x").unwrap();
        poller.wait(&mut ready, Duration::from_secs(5)).unwrap();
        assert_eq!(
            ready,
            vec![(a.as_raw_fd(), libc::POLLIN), (c.as_raw_fd(), libc::POLLIN)]
        );

        // Removing the first entry moves the last into its place; the map
        // must follow, or `modify` would change the wrong descriptor.
        poller.deregister(&a).unwrap();
        poller.modify(&c, 0).unwrap();
        poller.wait(&mut ready, Duration::ZERO).unwrap();
        assert!(ready.is_empty());
        poller.modify(&c, libc::POLLIN | libc::POLLOUT).unwrap();
        poller.wait(&mut ready, Duration::ZERO).unwrap();
        assert_eq!(ready, vec![(c.as_raw_fd(), libc::POLLIN | libc::POLLOUT)]);
        assert_eq!(
            poller.deregister(&a).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn a_wait_shorter_than_a_millisecond_still_waits() {
        let mut poller = Poller::new();
        let mut ready = Vec::new();
        // Rounded down to 0 ms, these waits would return at once: together
        // they would take microseconds, not at least 50 ms.
        let start = std::time::Instant::now();
        for _ in 0..50 {
            poller.wait(&mut ready, Duration::from_micros(400)).unwrap();
            assert!(ready.is_empty());
        }
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn a_hung_up_peer_is_reported_even_without_interest() {
        let (a, a_peer) = UnixStream::pair().unwrap();
        let mut poller = Poller::new();
        poller.register(&a, 0).unwrap();
        drop(a_peer);
        let mut ready = Vec::new();
        poller.wait(&mut ready, Duration::from_secs(5)).unwrap();
        assert_eq!(ready.len(), 1);
        assert_ne!(ready[0].1 & libc::POLLHUP, 0);
    }
}
