//! `epoll(7)`, Linux only: three system calls, one function each.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::cvt;

/// `epoll_create1(EPOLL_CLOEXEC)`: a new epoll instance, owned, so it is
/// closed when dropped and not inherited by child processes.
pub fn epoll_create1() -> io::Result<OwnedFd> {
    // SAFETY: no pointers; the kernel returns a new descriptor or -1.
    let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `epoll_ctl(2)`: adds (`EPOLL_CTL_ADD`), changes (`EPOLL_CTL_MOD`) or
/// removes (`EPOLL_CTL_DEL`) `fd`'s interest `events`, tagged with `token`,
/// which `epoll_wait` hands back in `u64`.
pub fn epoll_ctl(
    epoll: BorrowedFd<'_>,
    op: libc::c_int,
    fd: RawFd,
    events: u32,
    token: u64,
) -> io::Result<()> {
    let mut event = libc::epoll_event { events, u64: token };
    // SAFETY: the event struct lives across the call; the kernel copies it.
    cvt(unsafe { libc::epoll_ctl(epoll.as_raw_fd(), op, fd, &mut event) })?;
    Ok(())
}

/// `epoll_wait(2)`: fills the front of `events` with ready descriptors and
/// returns how many. A negative timeout waits without limit. `EINTR` goes to
/// the caller. The events are copied out of the kernel: there is no shared
/// memory ring.
pub fn epoll_wait(
    epoll: BorrowedFd<'_>,
    events: &mut [libc::epoll_event],
    timeout_ms: libc::c_int,
) -> io::Result<usize> {
    let max = events.len().min(libc::c_int::MAX as usize) as libc::c_int;
    // SAFETY: the kernel writes at most `max` events into the slice we own.
    let n =
        cvt(unsafe { libc::epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) })?;
    Ok(n as usize)
}

/// An empty event, to size the buffer handed to [`epoll_wait`].
pub const EMPTY_EVENT: libc::epoll_event = libc::epoll_event { events: 0, u64: 0 };
