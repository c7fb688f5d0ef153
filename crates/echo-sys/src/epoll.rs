//! `epoll(7)`, Linux only: three system calls, one function each.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

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
/// which `epoll_wait` hands back in `u64`. `fd` is borrowed, so it is open
/// for the call: a bare number could name a closed descriptor, or one since
/// reused for another file.
pub fn epoll_ctl(
    epoll: BorrowedFd<'_>,
    op: libc::c_int,
    fd: BorrowedFd<'_>,
    events: u32,
    token: u64,
) -> io::Result<()> {
    let mut event = libc::epoll_event { events, u64: token };
    // SAFETY: the event struct lives across the call; the kernel copies it.
    cvt(unsafe { libc::epoll_ctl(epoll.as_raw_fd(), op, fd.as_raw_fd(), &mut event) })?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_registered_descriptor_comes_back_with_its_token() {
        let epoll = epoll_create1().unwrap();
        let (a, mut a_peer) = UnixStream::pair().unwrap();
        let add = |token| {
            epoll_ctl(
                epoll.as_fd(),
                libc::EPOLL_CTL_ADD,
                a.as_fd(),
                libc::EPOLLIN as u32,
                token,
            )
        };
        add(42).unwrap();
        assert_eq!(add(42).unwrap_err().raw_os_error(), Some(libc::EEXIST));
        a_peer.write_all(b"x").unwrap();
        let mut events = [EMPTY_EVENT; 4];
        assert_eq!(epoll_wait(epoll.as_fd(), &mut events, 5000).unwrap(), 1);
        // Copies: `epoll_event` is packed on x86-64.
        let (token, bits) = (events[0].u64, events[0].events);
        assert_eq!((token, bits), (42, libc::EPOLLIN as u32));
        epoll_ctl(epoll.as_fd(), libc::EPOLL_CTL_DEL, a.as_fd(), 0, 0).unwrap();
        assert_eq!(epoll_wait(epoll.as_fd(), &mut events, 0).unwrap(), 0);
    }
}
