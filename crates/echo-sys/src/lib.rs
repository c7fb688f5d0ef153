//! The workspace's system calls, one safe function each.
//!
//! This is the only crate with `unsafe` code. Every function wraps exactly one
//! system call: arguments are checked where the kernel cannot check them
//! (an `fd_set` has room for `FD_SETSIZE` descriptors and no more), `-1` becomes
//! [`io::Error::last_os_error`] in [`cvt`], and every `unsafe` block says why it
//! is sound. The chapters build their pollers on top of these in safe code.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
// libc's integer types differ between platforms; the casts are for the others.
#![allow(clippy::unnecessary_cast)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

/// Turns the C convention (`-1` and `errno`) into an `io::Result`.
pub fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `FD_SETSIZE`: the number of descriptors an `fd_set` has room for
/// (1024 with glibc and musl, on 32- and 64-bit alike).
pub const FD_SETSIZE: usize = libc::FD_SETSIZE as usize;

/// A descriptor that does not fit in an `fd_set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdTooLarge(pub RawFd);

impl std::fmt::Display for FdTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "descriptor {} is beyond select's limit (FD_SETSIZE = {FD_SETSIZE})",
            self.0
        )
    }
}

impl std::error::Error for FdTooLarge {}

/// A bit set of descriptors for `select`, checked against `FD_SETSIZE`.
///
/// An `fd_set` has room for descriptors below `FD_SETSIZE` only. The `libc`
/// crate's `FD_SET` checks the bound and panics, which would take the whole
/// server down for one connection too many (C's `FD_SET` writes past the end
/// of the set instead, which glibc's `_FORTIFY_SOURCE` check turns into an
/// abort). [`FdSet::insert`] returns an error instead, so the caller refuses
/// that one client and serves the others.
#[derive(Clone, Copy)]
pub struct FdSet(libc::fd_set);

impl FdSet {
    /// An empty set.
    pub fn new() -> Self {
        // SAFETY: fd_set is a plain array of integers, and all bits zero is
        // the empty set (what FD_ZERO writes).
        FdSet(unsafe { std::mem::MaybeUninit::<libc::fd_set>::zeroed().assume_init() })
    }

    /// Whether `fd` can be stored in an `fd_set` at all.
    pub fn fits(fd: RawFd) -> bool {
        fd >= 0 && (fd as usize) < FD_SETSIZE
    }

    pub fn insert(&mut self, fd: RawFd) -> Result<(), FdTooLarge> {
        if !Self::fits(fd) {
            return Err(FdTooLarge(fd));
        }
        // SAFETY: 0 <= fd < FD_SETSIZE, so the bit is inside the set.
        unsafe { libc::FD_SET(fd, &mut self.0) };
        Ok(())
    }

    pub fn contains(&self, fd: RawFd) -> bool {
        // SAFETY: FD_ISSET only reads, and only after the bound check.
        Self::fits(fd) && unsafe { libc::FD_ISSET(fd, &self.0) }
    }
}

impl Default for FdSet {
    fn default() -> Self {
        Self::new()
    }
}

/// `select(2)`: waits until a descriptor in one of the sets is ready, and
/// leaves in each set only the ready ones. `nfds` is the highest descriptor
/// plus one. `None` waits without a time limit. `EINTR` is returned to the
/// caller, who decides whether to retry.
pub fn select(
    nfds: RawFd,
    read: Option<&mut FdSet>,
    write: Option<&mut FdSet>,
    except: Option<&mut FdSet>,
    timeout: Option<Duration>,
) -> io::Result<usize> {
    fn ptr(set: Option<&mut FdSet>) -> *mut libc::fd_set {
        set.map_or(std::ptr::null_mut(), |s| &mut s.0)
    }
    let mut tv = timeout.map(|t| libc::timeval {
        tv_sec: t.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_usec: t.subsec_micros() as libc::suseconds_t,
    });
    let tv_ptr = tv
        .as_mut()
        .map_or(std::ptr::null_mut(), |tv| tv as *mut libc::timeval);
    let nfds = nfds.min(FD_SETSIZE as RawFd);
    // SAFETY: each pointer is null or points to a live, initialised fd_set
    // (or timeval) that select may write; nfds is capped at FD_SETSIZE so the
    // kernel reads no bit beyond the sets.
    let n = cvt(unsafe { libc::select(nfds, ptr(read), ptr(write), ptr(except), tv_ptr) })?;
    Ok(n as usize)
}

/// `poll(2)`: waits until one of `fds` is ready and fills in each `revents`.
/// A negative timeout waits without limit. `EINTR` goes to the caller.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    // SAFETY: the pointer and length describe one live, writable slice of pollfd.
    let n = cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) })?;
    Ok(n as usize)
}

/// `ioctl(fd, FIONREAD)` (`SIOCINQ` for TCP): how many bytes a read could
/// take from socket `fd` now. For a TCP socket with `SO_OOBINLINE`, every
/// byte received and not yet read, the urgent one included.
pub fn bytes_queued(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int, into the one we own; the descriptor is
    // borrowed, so it stays open for the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut queued) })?;
    Ok(queued.max(0) as usize)
}

/// Reads `RLIMIT_NOFILE` as `(soft, hard)`.
pub fn nofile_limit() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    Ok((lim.rlim_cur as u64, lim.rlim_max as u64))
}

/// Sets `RLIMIT_NOFILE` (the soft and hard limits on open descriptors).
pub fn set_nofile_limit(soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    Ok(())
}

/// `sysconf(_SC_CLK_TCK)`: the unit of the CPU times in `/proc/PID/stat`.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf takes no pointers.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as u64 } else { 100 }
}

/// `kill(2)`: sends signal `sig` (`libc::SIGSTOP`...) to process `pid`.
///
/// Only one process: pid 0 (which would signal the caller's whole process
/// group) and pids beyond `pid_t` (which would wrap to negative numbers,
/// process groups, or -1, every process the user may signal) are refused
/// with `InvalidInput`.
pub fn kill(pid: u32, sig: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .ok()
        .filter(|&pid| pid > 0)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: no pointers, so no memory is at stake. A wrong pid is still
    // harm of another kind: a stale positive pid signals whatever process now
    // has it, 0 the caller's process group, -1 everything the user may
    // signal; the check above leaves only the first.
    cvt(unsafe { libc::kill(pid, sig) })?;
    Ok(())
}

/// `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`: the CPU time the calling thread
/// has used, user and system, with nanosecond resolution (the
/// `/proc/PID/stat` figures count in clock ticks of 10 ms).
pub fn thread_cpu_time() -> io::Result<Duration> {
    clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`: the CPU time of the whole
/// process (every thread), user and system, in nanoseconds.
pub fn process_cpu_time() -> io::Result<Duration> {
    clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock_gettime(clock: libc::clockid_t) -> io::Result<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the struct we own.
    cvt(unsafe { libc::clock_gettime(clock, &mut ts) })?;
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(target_os = "linux")]
pub mod epoll;
#[cfg(target_os = "linux")]
pub mod signal;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_set_refuses_descriptors_beyond_fd_setsize() {
        let mut set = FdSet::new();
        assert!(set.insert(3).is_ok());
        assert!(set.contains(3));
        assert!(!set.contains(4));
        let too_big = FD_SETSIZE as RawFd;
        assert_eq!(set.insert(too_big), Err(FdTooLarge(too_big)));
        assert_eq!(set.insert(-1), Err(FdTooLarge(-1)));
        assert!(!set.contains(too_big));
        let empty = FdSet::new();
        assert!((0..FD_SETSIZE as RawFd).all(|fd| !empty.contains(fd)));
    }

    /// A read stops at the urgent mark with bytes still queued: the count
    /// `bytes_queued` gives is what tells a loop that such a read, or a
    /// `WouldBlock` there, did not empty the socket.
    #[test]
    fn bytes_queued_counts_what_a_read_stopped_at_the_urgent_mark_left() {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        use std::os::fd::AsFd;
        use std::time::Instant;

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        socket2::SockRef::from(&server)
            .set_out_of_band_inline(true)
            .unwrap();
        assert_eq!(bytes_queued(server.as_fd()).unwrap(), 0);
        socket2::SockRef::from(&client)
            .send_out_of_band(b"abc")
            .unwrap();
        client.write_all(b"def").unwrap();
        let start = Instant::now();
        while bytes_queued(server.as_fd()).unwrap() < 6 {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "abcdef never arrived"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ab", "the read stops before the urgent byte");
        assert_eq!(bytes_queued(server.as_fd()).unwrap(), 4);
        let n = server.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"cdef");
        assert_eq!(bytes_queued(server.as_fd()).unwrap(), 0);
    }

    #[test]
    fn kill_refuses_pids_that_are_not_one_process() {
        for pid in [0, u32::MAX, i32::MAX as u32 + 1] {
            let err = kill(pid, 0).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "pid {pid}");
        }
        // Signal 0 checks that the process exists without signalling it.
        kill(std::process::id(), 0).unwrap();
    }

    #[test]
    fn cpu_clocks_advance_while_the_thread_works() {
        let before = thread_cpu_time().unwrap();
        let process_before = process_cpu_time().unwrap();
        let mut x = 0u64;
        while thread_cpu_time().unwrap() < before + Duration::from_millis(20) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(process_cpu_time().unwrap() >= process_before + Duration::from_millis(20));
    }

    #[test]
    fn cvt_maps_minus_one_to_errno() {
        assert!(cvt(0).is_ok());
        // SAFETY: closing an invalid descriptor only sets errno.
        let r = cvt(unsafe { libc::close(-1) });
        assert_eq!(r.map_err(|e| e.raw_os_error()), Err(Some(libc::EBADF)));
    }
}
