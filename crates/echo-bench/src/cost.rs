//! The cost of asking "which descriptors are ready?" with `select`, `poll`
//! and `epoll_wait`, when N descriptors are watched and exactly one is ready.
//!
//! The descriptors are UDP sockets bound to 127.0.0.1, one descriptor per
//! socket; the ready one holds one datagram that is never read, and it is the
//! last one created (the highest-numbered, last in the `poll` array), so
//! `select` and `poll` visit every other socket first. Each call is a
//! blocking call (a 10 s timeout) that returns at once because one socket is
//! ready: with a timeout, the kernel hooks the caller onto the wait queue of
//! every socket it visits before it finds the ready one, and unhooks it again
//! on return, which is what a server's loop pays. Every call must report
//! exactly one ready descriptor. What is timed is the calling thread's CPU
//! time (`CLOCK_THREAD_CPUTIME_ID`), so time the thread spends descheduled
//! does not count.

use std::net::UdpSocket;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use echo_sys::FdSet;
use echo_sys::epoll::{EMPTY_EVENT, epoll_create1, epoll_ctl, epoll_wait};
use serde::{Deserialize, Serialize};

/// The timeout of every call: never reached (one socket is always ready),
/// but not zero, since a zero timeout lets the kernel skip the wait queues.
const TIMEOUT: Duration = Duration::from_secs(10);
const TIMEOUT_MS: libc::c_int = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    Select,
    Poll,
    EpollWait,
}

impl Mechanism {
    pub const ALL: [Mechanism; 3] = [Mechanism::Select, Mechanism::Poll, Mechanism::EpollWait];

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Select => "select",
            Mechanism::Poll => "poll",
            Mechanism::EpollWait => "epoll_wait",
        }
    }
}

/// N watched sockets, the last of them ready, and an epoll instance that
/// already watches all of them.
pub struct Watched {
    /// Kept open for as long as they are watched.
    _sockets: Vec<UdpSocket>,
    fds: Vec<RawFd>,
    epoll: OwnedFd,
    /// How long registering the N sockets with `epoll_ctl` took (once, not
    /// per call: that is epoll's trade).
    pub epoll_register: Duration,
}

impl Watched {
    /// Opens `n` sockets and makes the last one readable.
    pub fn new(n: usize) -> Result<Self, String> {
        if n == 0 {
            return Err("at least one descriptor is needed".into());
        }
        let mut sockets = Vec::with_capacity(n);
        for i in 0..n {
            let s =
                UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("socket {i} of {n}: {e}"))?;
            sockets.push(s);
        }
        let ready = sockets.last().ok_or("no sockets")?;
        let to = ready.local_addr().map_err(|e| e.to_string())?;
        let sender = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        sender.send_to(b"!", to).map_err(|e| e.to_string())?;
        // Loopback delivers at once, but wait until it has landed.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut probe = [libc::pollfd {
            fd: ready.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        while echo_sys::poll(&mut probe, 10).map_err(|e| e.to_string())? == 0 {
            if Instant::now() > deadline {
                return Err("the datagram never arrived".into());
            }
        }
        let fds: Vec<RawFd> = sockets.iter().map(|s| s.as_raw_fd()).collect();
        let epoll = epoll_create1().map_err(|e| format!("epoll_create1: {e}"))?;
        let start = Instant::now();
        for (i, socket) in sockets.iter().enumerate() {
            epoll_ctl(
                epoll.as_fd(),
                libc::EPOLL_CTL_ADD,
                socket.as_fd(),
                libc::EPOLLIN as u32,
                i as u64,
            )
            .map_err(|e| format!("epoll_ctl: {e}"))?;
        }
        let epoll_register = start.elapsed();
        Ok(Watched {
            _sockets: sockets,
            fds,
            epoll,
            epoll_register,
        })
    }

    pub fn len(&self) -> usize {
        self.fds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// Whether `select` can watch these at all (every descriptor below
    /// `FD_SETSIZE`).
    pub fn fits_select(&self) -> bool {
        self.fds.iter().all(|&fd| FdSet::fits(fd))
    }

    /// Makes `calls` calls of `mechanism` and returns the CPU time they took.
    pub fn time(&self, mechanism: Mechanism, calls: u64) -> Result<Duration, String> {
        let check = |ready: usize| {
            if ready == 1 {
                Ok(())
            } else {
                Err(format!(
                    "{} reported {ready} ready descriptors, not 1",
                    mechanism.name()
                ))
            }
        };
        let start = echo_sys::thread_cpu_time().map_err(|e| e.to_string())?;
        match mechanism {
            Mechanism::Select => {
                let mut template = FdSet::new();
                for &fd in &self.fds {
                    template
                        .insert(fd)
                        .map_err(|e| format!("select cannot watch these: {e}"))?;
                }
                let nfds = self.fds.iter().max().map_or(0, |fd| fd + 1);
                for _ in 0..calls {
                    // select overwrites its set: a fresh copy every call.
                    let mut set = template;
                    let n = echo_sys::select(nfds, Some(&mut set), None, None, Some(TIMEOUT))
                        .map_err(|e| format!("select: {e}"))?;
                    check(n)?;
                }
            }
            Mechanism::Poll => {
                let mut fds: Vec<libc::pollfd> = self
                    .fds
                    .iter()
                    .map(|&fd| libc::pollfd {
                        fd,
                        events: libc::POLLIN,
                        revents: 0,
                    })
                    .collect();
                for _ in 0..calls {
                    let n =
                        echo_sys::poll(&mut fds, TIMEOUT_MS).map_err(|e| format!("poll: {e}"))?;
                    check(n)?;
                }
            }
            Mechanism::EpollWait => {
                let mut events = [EMPTY_EVENT; 64];
                for _ in 0..calls {
                    let n = epoll_wait(self.epoll.as_fd(), &mut events, TIMEOUT_MS)
                        .map_err(|e| format!("epoll_wait: {e}"))?;
                    check(n)?;
                }
            }
        }
        let end = echo_sys::thread_cpu_time().map_err(|e| e.to_string())?;
        Ok(end.saturating_sub(start))
    }
}

/// How many calls to time for `n` descriptors: `calls`, or fewer when
/// `calls × n` exceeds `budget` descriptor visits (select and poll visit
/// every descriptor on every call; epoll_wait does not, and always gets
/// `calls`). The result is then scaled up to `calls`.
pub fn calls_for(mechanism: Mechanism, n: usize, calls: u64, budget: u64) -> u64 {
    if mechanism == Mechanism::EpollWait {
        return calls;
    }
    (budget / n.max(1) as u64).clamp(100.min(calls), calls)
}

/// One timed measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub mechanism: Mechanism,
    pub n: usize,
    /// Calls really made.
    pub calls: u64,
    /// Their CPU time.
    pub cpu_s: f64,
    /// Scaled to `calls_nominal` calls.
    pub scaled_s: f64,
}

/// Everything `select-cost --json` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CostReport {
    /// The number of calls every figure is scaled to (100,000, as in TLPI).
    pub calls_nominal: u64,
    pub budget: u64,
    pub rounds: usize,
    pub sizes: Vec<usize>,
    /// Per N and round: seconds to register every socket with epoll_ctl.
    pub epoll_register_s: Vec<(usize, f64)>,
    /// Sizes where select was skipped, and why.
    pub select_skipped: Vec<(usize, String)>,
    pub samples: Vec<Sample>,
}

/// Runs every mechanism at every size, `rounds` times, interleaved (all
/// sizes and mechanisms once, then again), so that a change in CPU speed
/// during the run touches every figure alike. The sockets are opened anew
/// for every size in every round, so the N of `select` get the lowest
/// descriptor numbers.
pub fn run(
    sizes: &[usize],
    calls: u64,
    budget: u64,
    rounds: usize,
    mut progress: impl FnMut(&Sample),
) -> Result<CostReport, String> {
    let mut report = CostReport {
        calls_nominal: calls,
        budget,
        rounds,
        sizes: sizes.to_vec(),
        epoll_register_s: Vec::new(),
        select_skipped: Vec::new(),
        samples: Vec::new(),
    };
    for round in 0..rounds {
        for &n in sizes {
            let w = Watched::new(n)?;
            report
                .epoll_register_s
                .push((n, w.epoll_register.as_secs_f64()));
            for mechanism in Mechanism::ALL {
                if mechanism == Mechanism::Select && !w.fits_select() {
                    if round == 0 {
                        report.select_skipped.push((
                            n,
                            format!("descriptors beyond FD_SETSIZE ({})", echo_sys::FD_SETSIZE),
                        ));
                    }
                    continue;
                }
                let made = calls_for(mechanism, w.len(), calls, budget);
                let cpu = w.time(mechanism, made)?;
                let sample = Sample {
                    mechanism,
                    n: w.len(),
                    calls: made,
                    cpu_s: cpu.as_secs_f64(),
                    scaled_s: cpu.as_secs_f64() * calls as f64 / made as f64,
                };
                progress(&sample);
                report.samples.push(sample);
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mechanism_sees_exactly_the_one_ready_socket() {
        let w = Watched::new(20).unwrap();
        for m in Mechanism::ALL {
            w.time(m, 10).unwrap();
        }
    }

    #[test]
    fn big_sets_are_scaled_down_and_epoll_never() {
        assert_eq!(calls_for(Mechanism::Poll, 10, 100_000, 10_000_000), 100_000);
        assert_eq!(
            calls_for(Mechanism::Poll, 10_000, 100_000, 10_000_000),
            1_000
        );
        assert_eq!(
            calls_for(Mechanism::EpollWait, 10_000, 100_000, 10),
            100_000
        );
        assert_eq!(calls_for(Mechanism::Select, 1_000_000, 100_000, 10), 100);
    }
}
