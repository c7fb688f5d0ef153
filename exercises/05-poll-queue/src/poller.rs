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

/// Data (or end-of-file) to read; `POLLPRI` is urgent data. `POLLHUP` and
/// `POLLERR` are reported whether asked for or not; they are listed to show
/// that the loop handles them.
pub const READ_ONLY: Events = libc::POLLIN | libc::POLLPRI | libc::POLLHUP | libc::POLLERR;
/// The same, plus "a write would not block": only while output is pending,
/// or `poll` would return at once, every time, for every idle connection.
pub const READ_WRITE: Events = READ_ONLY | libc::POLLOUT;
/// Output only: for a client that is paused or has sent end-of-file.
pub const WRITE_ONLY: Events = libc::POLLOUT | libc::POLLHUP | libc::POLLERR;

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
        // TODO: change what entry `i` of `fds` is watched for.
        todo!("watch entry {i} for {events:#x}")
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
        // TODO: remove entry `i` from `fds`, and its descriptor from `index`.
        // `Vec::swap_remove` does not shift the entries after `i`, but it
        // moves the last one into place `i`: `index` must follow it.
        todo!("stop watching entry {i}")
    }

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

    fn position(&self, fd: impl AsFd) -> io::Result<usize> {
        let fd = fd.as_fd().as_raw_fd();
        self.index
            .get(&fd)
            .copied()
            .ok_or_else(|| io::ErrorKind::NotFound.into())
    }
}
