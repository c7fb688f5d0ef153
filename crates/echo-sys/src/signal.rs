//! Signals delivered through a descriptor, and a descriptor to wake a loop
//! with: Linux only, one function per system call.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use crate::cvt;

/// A set holding `signals`, for the calls below.
fn sigset(signals: &[libc::c_int]) -> io::Result<libc::sigset_t> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: sigemptyset initialises the set it is given, which we own.
    cvt(unsafe { libc::sigemptyset(set.as_mut_ptr()) })?;
    for &signal in signals {
        // SAFETY: the set was initialised above; an invalid signal number
        // makes the call fail with EINVAL, nothing worse.
        cvt(unsafe { libc::sigaddset(set.as_mut_ptr(), signal) })?;
    }
    // SAFETY: sigemptyset initialised the whole set.
    Ok(unsafe { set.assume_init() })
}

/// `pthread_sigmask(SIG_BLOCK, ...)`: blocks `signals` in the calling
/// thread, and so in every thread it starts afterwards. A blocked signal
/// stays pending until something takes it, such as a [`signalfd`].
pub fn block_signals(signals: &[libc::c_int]) -> io::Result<()> {
    let set = sigset(signals)?;
    // SAFETY: `set` is initialised; the old mask is not asked for (null).
    let err = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    // pthread functions return the error number instead of setting errno.
    if err == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(err))
    }
}

/// `signalfd(2)`: a descriptor that becomes readable when one of `signals`
/// is pending, and from which each is read as a 128-byte
/// `struct signalfd_siginfo` (its first four bytes: the signal number).
/// The signals must be blocked ([`block_signals`]), or they are delivered
/// the usual way instead.
pub fn signalfd(signals: &[libc::c_int]) -> io::Result<OwnedFd> {
    let set = sigset(signals)?;
    // SAFETY: `set` is initialised; -1 asks for a new descriptor.
    let fd = cvt(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) })?;
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `eventfd(2)`, non-blocking: a counter that is readable while it is not
/// zero. Writing an 8-byte number adds to it, so any thread can wake every
/// epoll instance that watches it (level-triggered, it stays readable).
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: no pointers; the kernel returns a new descriptor or -1.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_blocked_signal_is_read_from_its_signalfd() {
        // Blocked in this test's thread only, and raised for it alone.
        block_signals(&[libc::SIGUSR2]).unwrap();
        let fd = signalfd(&[libc::SIGUSR2]).unwrap();
        // SAFETY: no pointers; signals this thread, which has it blocked.
        let r = unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR2) };
        assert_eq!(r, 0);
        let mut info = [0u8; 128];
        std::fs::File::from(fd).read_exact(&mut info).unwrap();
        let signo = u32::from_ne_bytes([info[0], info[1], info[2], info[3]]);
        assert_eq!(signo, libc::SIGUSR2 as u32);
    }

    #[test]
    fn an_eventfd_counts_what_is_written() {
        let mut fd = std::fs::File::from(eventfd().unwrap());
        let mut buf = [0u8; 8];
        assert_eq!(
            fd.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        fd.write_all(&2u64.to_ne_bytes()).unwrap();
        fd.write_all(&3u64.to_ne_bytes()).unwrap();
        fd.read_exact(&mut buf).unwrap();
        assert_eq!(u64::from_ne_bytes(buf), 5);
    }
}
