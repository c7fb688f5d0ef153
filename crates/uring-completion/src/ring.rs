//! A small safe wrapper over an io_uring instance (`io_uring(7)`), the only
//! `unsafe` code of this chapter.
//!
//! The program and the kernel share two rings of memory. The program writes
//! requests into the submission queue (SQ): "receive from this socket",
//! "send these bytes". One `io_uring_enter(2)` hands the kernel every new
//! entry and, if asked, waits for results. The kernel writes one entry into
//! the completion queue (CQ) when an operation is done, with its result and
//! the 64-bit `user_data` the request carried.
//!
//! Everything unsafe about that is memory the kernel uses after the call
//! that handed it over has returned: a buffer to send from, a buffer to
//! receive into. This wrapper owns all such memory, lends it only through
//! [`Buffer`] tokens that move into the kernel with a request and come back
//! with its completion, and frees it only once every operation has
//! completed (see [`Drop`](#impl-Drop-for-Ring)).
//!
//! Receives use a *provided-buffer ring* (Linux 5.19): a pool of buffers
//! the kernel picks from when data arrives, rather than one buffer per
//! receive chosen at submission. A connection waiting for data holds none.

use std::alloc::{self, Layout};
use std::io;
use std::mem::ManuallyDrop;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use io_uring::types::{BufRingEntry, CancelBuilder, Fd, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};

use crate::tag::{Op, Tag};

// ANCHOR: sizes
/// Submission queue entries. A full queue is submitted at once to make room,
/// so this bounds nothing but how many requests one system call can carry.
pub const SUBMISSION_ENTRIES: u32 = 1024;
/// Completion queue entries: room for a turn's completions with hundreds of
/// busy clients. More (10,000 clients at once) wait in the kernel's
/// overflow list, which every kernel with `IORING_FEAT_NODROP` (5.5) keeps,
/// and the next `io_uring_enter` moves them in.
pub const COMPLETION_ENTRIES: u32 = 8 * SUBMISSION_ENTRIES;
/// What the pool of receive buffers may hold, in bytes, whatever
/// `--read-size` is: a larger buffer means fewer of them.
pub const POOL_BYTES: usize = 8 * 1024 * 1024;
/// The fewest buffers in the pool: fewer, and a handful of clients that
/// do not read their echo would hold all of it. Buffers larger than
/// `POOL_BYTES / MIN_BUFFERS` (512 KiB) make the pool exceed `POOL_BYTES`.
pub const MIN_BUFFERS: u16 = 16;
/// The most buffers a provided-buffer ring can hold (the kernel's limit).
pub const MAX_BUFFERS: u16 = 1 << 15;

/// How many buffers of `buffer_size` bytes the pool holds: as many as fit
/// in `POOL_BYTES`, rounded down to a power of two (the kernel requires
/// one), and from `MIN_BUFFERS` to `MAX_BUFFERS`.
pub fn buffer_count(buffer_size: usize) -> u16 {
    let fit = POOL_BYTES / buffer_size.max(1);
    let count = fit.clamp(usize::from(MIN_BUFFERS), usize::from(MAX_BUFFERS));
    // A power of two between two powers of two: the conversion holds.
    u16::try_from(1usize << count.ilog2()).unwrap_or(MAX_BUFFERS)
}
// ANCHOR_END: sizes

/// The buffer group id of the one provided-buffer ring.
const BUFFER_GROUP: u16 = 0;

/// `IORING_RECVSEND_POLL_FIRST` (`include/uapi/linux/io_uring.h`, Linux
/// 5.19), which the `io-uring` crate does not export: arm the poll handler
/// first instead of trying the receive at once. An echo server's next
/// receive is submitted just after its echo went out, before the client
/// can have answered, so trying at once would almost always fail.
const RECVSEND_POLL_FIRST: u16 = 1;

/// How the ring was set up, as the kernel accepted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN` (Linux 6.1).
    DeferredTaskRun,
    /// Neither: the kernel refused them, and completions are posted as
    /// operations finish, interrupting the program.
    Plain,
}

/// A provided buffer that the kernel filled and handed to the program.
///
/// Holding one means the kernel will not write into it: the program may
/// read it ([`Ring::bytes`]), lend it to the kernel again to send from
/// ([`Ring::send`], which takes it and gives it back in the completion), or
/// give it back to the pool ([`Ring::recycle`]). It is not `Clone`, so there
/// is never more than one.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a buffer not recycled is lost to the pool"]
pub struct Buffer {
    id: u16,
    len: u32,
}

impl Buffer {
    /// Bytes received into it.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One completion, with its tag and what the operation produced.
#[derive(Debug)]
pub struct Completion {
    pub tag: Tag,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub enum Outcome {
    /// A client accepted, or why not. `more` is false when the multishot
    /// accept has ended and must be submitted again.
    Accepted {
        result: io::Result<TcpStream>,
        more: bool,
    },
    /// Bytes received (0: end-of-file), in `buffer` if the kernel took one.
    Received {
        result: io::Result<usize>,
        buffer: Option<Buffer>,
    },
    /// Bytes sent, and the buffer they were sent from, back from the kernel.
    Sent {
        result: io::Result<usize>,
        buffer: Buffer,
    },
    /// A timer or a cancel request is done.
    Done(io::Result<usize>),
}

/// An io_uring instance with a provided-buffer ring for receives.
pub struct Ring {
    ring: IoUring,
    buffers: ManuallyDrop<ProvidedBuffers>,
    setup: Setup,
    /// Requests that found the submission queue full and the kernel unable
    /// to take more at once; they go in first at the next turn.
    backlog: Vec<squeue::Entry>,
    /// Requests submitted (or in `backlog`) whose last completion has not
    /// arrived: while it is not zero, the kernel may still use our memory.
    in_flight: usize,
    /// The length each lent buffer had, by buffer id, to hand it back whole.
    lent_len: Vec<u32>,
    /// Buffers the program holds (tokens out, lent ones included).
    held: usize,
    /// The timer's duration. The kernel copies it when it takes the request.
    timer: Box<Timespec>,
}

// ANCHOR: refused
/// The line to print when io_uring cannot be set up, naming the likely
/// cause: kernels built without io_uring say `ENOSYS`; `EPERM` comes from
/// the sysctl `kernel.io_uring_disabled` (Linux 6.6: 2 refuses everyone, 1
/// everyone outside the group `kernel.io_uring_group`) or from a seccomp
/// filter, such as the one Docker and containerd install by default.
pub fn setup_refused(err: &io::Error) -> String {
    let why = match err.raw_os_error() {
        Some(libc::ENOSYS) => {
            "this kernel has no io_uring (older than Linux 5.1, or built without it)".to_string()
        }
        Some(libc::EPERM) => format!(
            "io_uring_setup was refused ({err}): kernel.io_uring_disabled is set, or a \
             seccomp filter (a container's, for instance) blocks io_uring"
        ),
        _ => format!("io_uring_setup failed: {err}"),
    };
    format!("io_uring is not available: {why}; try `cargo run -p epoll-edge`")
}
// ANCHOR_END: refused

impl Ring {
    // ANCHOR: new
    /// A ring, set up for one thread that submits and reaps everything
    /// itself, with a provided-buffer ring of `buffer_count` buffers (a
    /// power of two) of `buffer_size` bytes registered and filled.
    /// `timer` is how long [`Ring::timer`] waits.
    ///
    /// # Errors
    /// One line saying why io_uring cannot be used here.
    pub fn new(timer: Duration, buffer_size: usize, buffer_count: u16) -> Result<Ring, String> {
        // SINGLE_ISSUER promises that only this thread submits; with it,
        // DEFER_TASKRUN leaves the kernel's completion work for this
        // thread's next io_uring_enter, instead of interrupting it
        // whenever an operation finishes: completions arrive in batches,
        // when the loop asks for them.
        let deferred = IoUring::builder()
            .setup_cqsize(COMPLETION_ENTRIES)
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(SUBMISSION_ENTRIES);
        let (ring, setup) = match deferred {
            Ok(ring) => (ring, Setup::DeferredTaskRun),
            // Older than 6.1: the same ring without the two flags.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                let ring = IoUring::builder()
                    .setup_cqsize(COMPLETION_ENTRIES)
                    .build(SUBMISSION_ENTRIES)
                    .map_err(|e| setup_refused(&e))?;
                (ring, Setup::Plain)
            }
            Err(e) => return Err(setup_refused(&e)),
        };
        if !ring.params().is_feature_nodrop() {
            return Err("io_uring is too old here: it may drop completions (no \
                 IORING_FEAT_NODROP, Linux 5.5); try `cargo run -p epoll-edge`"
                .into());
        }
        let mut buffers = ProvidedBuffers::new(buffer_count, buffer_size)
            .map_err(|e| format!("cannot allocate the receive buffers: {e}"))?;
        // SAFETY: the ring of entries is page-aligned, `buffer_count`
        // entries long, and stays allocated until it is unregistered (Drop
        // below) or, if that cannot be done safely, for ever.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                buffers.entries.as_ptr() as u64,
                buffer_count,
                BUFFER_GROUP,
                0,
            )
        }
        .map_err(|e| {
            format!(
                "this kernel has no provided-buffer rings (Linux 5.19): {e}; \
                 try `cargo run -p epoll-edge`"
            )
        })?;
        for id in 0..buffer_count {
            buffers.give(id);
        }
        buffers.publish();
        Ok(Ring {
            ring,
            buffers: ManuallyDrop::new(buffers),
            setup,
            backlog: Vec::new(),
            in_flight: 0,
            lent_len: vec![0; usize::from(buffer_count)],
            held: 0,
            timer: Box::new(Timespec::from(timer)),
        })
    }
    // ANCHOR_END: new

    pub fn setup(&self) -> Setup {
        self.setup
    }

    /// Requests whose last completion has not arrived yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    // ANCHOR: submit
    /// Queues `entry`. A full submission queue is submitted at once to make
    /// room; if the kernel cannot take it now, the entry waits in
    /// `backlog` for the next turn. Nothing is dropped.
    fn push(&mut self, entry: squeue::Entry) {
        self.in_flight += 1;
        if self.backlog.is_empty() {
            for _ in 0..2 {
                // SAFETY: every pointer in an entry points into memory this
                // Ring owns (the provided buffers, the timer), which stays
                // valid until the operation's last completion: see Drop.
                if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                    return;
                }
                if self.ring.submit().is_err() {
                    break;
                }
            }
        }
        self.backlog.push(entry);
    }
    // ANCHOR_END: submit

    /// Starts accepting clients on `listener`: one request, one completion
    /// per client, until an error ends it (`more` is then false).
    pub fn accept(&mut self, listener: &TcpListener, tag: Tag) {
        let entry = opcode::AcceptMulti::new(Fd(listener.as_raw_fd()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(tag.encode(0));
        self.push(entry);
    }

    // ANCHOR: recv
    /// Receives from `socket` into a buffer that the kernel takes from the
    /// pool when data arrives: until then the request holds no buffer.
    /// The socket must stay open until the completion arrives.
    pub fn recv(&mut self, socket: BorrowedFd<'_>, tag: Tag) {
        let entry = opcode::Recv::new(Fd(socket.as_raw_fd()), std::ptr::null_mut(), 0)
            .buf_group(BUFFER_GROUP)
            .ioprio(RECVSEND_POLL_FIRST)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT)
            .user_data(tag.encode(0));
        self.push(entry);
    }

    /// Sends `buffer[from..]` to `socket`. The buffer goes to the kernel
    /// with the request, and comes back in its completion
    /// ([`Outcome::Sent`]): until then, nothing here can read or reuse it.
    /// The socket must stay open until the completion arrives.
    pub fn send(&mut self, socket: BorrowedFd<'_>, buffer: Buffer, from: usize, tag: Tag) {
        let from = from.min(buffer.len());
        let data = self.buffers.address(buffer.id).wrapping_add(from);
        self.lent_len[usize::from(buffer.id)] = buffer.len;
        let entry = opcode::Send::new(Fd(socket.as_raw_fd()), data, buffer.len - from as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(tag.encode(buffer.id));
        self.push(entry);
    }
    // ANCHOR_END: recv

    /// The bytes received into `buffer`.
    pub fn bytes<'a>(&'a self, buffer: &'a Buffer) -> &'a [u8] {
        // SAFETY: the token proves the kernel handed this buffer over and
        // has not had it back: it writes into it again only after
        // `recycle` (which consumes the token) and reads it only during a
        // `send` (which takes it). The slice borrows the token, so neither
        // can happen while the slice lives. id < the pool's count and len
        // <= its buffer size, as the kernel filled it.
        unsafe {
            std::slice::from_raw_parts(
                self.buffers.address(buffer.id),
                buffer.len().min(self.buffers.size),
            )
        }
    }

    /// Gives `buffer` back to the pool, for the kernel to receive into.
    pub fn recycle(&mut self, buffer: Buffer) {
        self.buffers.give(buffer.id);
        self.buffers.publish();
        self.held = self.held.saturating_sub(1);
    }

    /// Buffers in the pool, for the kernel to receive into.
    pub fn buffers_free(&self) -> usize {
        usize::from(self.buffers.count).saturating_sub(self.held)
    }

    /// Cancels every operation on `socket`; each ends with `ECANCELED` (or
    /// its result, if it finished first).
    pub fn cancel(&mut self, socket: BorrowedFd<'_>, tag: Tag) {
        let entry = opcode::AsyncCancel2::new(CancelBuilder::fd(Fd(socket.as_raw_fd())).all())
            .build()
            .user_data(tag.encode(0));
        self.push(entry);
    }

    /// A timer of the duration given to [`Ring::new`]; it completes with
    /// `ETIME` when it fires.
    pub fn timer(&mut self, tag: Tag) {
        let timespec: *const Timespec = &*self.timer;
        let entry = opcode::Timeout::new(timespec)
            .build()
            .user_data(tag.encode(0));
        self.push(entry);
    }

    // ANCHOR: wait
    /// Submits everything queued, waits until at least one operation has
    /// completed, and moves every completion that is ready into `out`: one
    /// `io_uring_enter` per turn, however many requests and completions.
    ///
    /// # Errors
    /// What `io_uring_enter(2)` returns, but `EINTR`, `EBUSY` and `EAGAIN`
    /// (the kernel is short of room or memory: the completions already
    /// there are reaped, and the next turn tries again).
    pub fn submit_and_wait(&mut self, out: &mut Vec<Completion>) -> io::Result<()> {
        let mut wait = true;
        while !self.backlog.is_empty() {
            self.refill_from_backlog();
            if self.backlog.is_empty() {
                break;
            }
            // Still more than fits: hand these over first, without waiting.
            if let Err(e) = self.ring.submit() {
                match e.raw_os_error() {
                    Some(libc::EINTR) => {}
                    Some(libc::EBUSY | libc::EAGAIN) => {
                        wait = false;
                        break;
                    }
                    _ => return Err(e),
                }
            }
        }
        match self.ring.submit_and_wait(usize::from(wait)) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) => {}
            Err(e) => return Err(e),
        }
        self.reap(out);
        Ok(())
    }
    // ANCHOR_END: wait

    fn refill_from_backlog(&mut self) {
        let mut taken = 0;
        for entry in &self.backlog {
            // SAFETY: as in `push`: these entries' pointers point into
            // memory this Ring owns until their completions.
            if unsafe { self.ring.submission().push(entry) }.is_err() {
                break;
            }
            taken += 1;
        }
        self.backlog.drain(..taken);
    }

    /// Moves every completion in the queue into `out`.
    fn reap(&mut self, out: &mut Vec<Completion>) {
        for cqe in self.ring.completion() {
            let (result, flags) = (cqe.result(), cqe.flags());
            let more = cqueue::more(flags);
            if !more {
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            let Some((tag, lent)) = Tag::decode(cqe.user_data()) else {
                // The cancel-everything request of Drop.
                continue;
            };
            let taken = cqueue::buffer_select(flags).map(|id| Buffer {
                id,
                len: u32::try_from(result).unwrap_or(0),
            });
            if taken.is_some() {
                self.held += 1;
            }
            let outcome = match tag.op {
                Op::Accept => Outcome::Accepted {
                    result: errno(result).map(|fd| {
                        // SAFETY: the kernel installed this descriptor for
                        // the accepted socket, and nothing else owns it.
                        unsafe { TcpStream::from_raw_fd(fd as i32) }
                    }),
                    more,
                },
                Op::Recv => Outcome::Received {
                    result: errno(result),
                    buffer: taken,
                },
                Op::Send => Outcome::Sent {
                    result: errno(result),
                    buffer: Buffer {
                        id: lent,
                        len: self.lent_len.get(usize::from(lent)).copied().unwrap_or(0),
                    },
                },
                Op::Pause | Op::Cancel => Outcome::Done(errno(result)),
            };
            out.push(Completion { tag, outcome });
        }
    }
}

/// A completion's result: a count or descriptor, or `-errno`.
fn errno(result: i32) -> io::Result<usize> {
    usize::try_from(result).map_err(|_| io::Error::from_raw_os_error(-result))
}

// ANCHOR: drop
impl Drop for Ring {
    /// Cancels whatever is still in flight and waits for the completions,
    /// because until they arrive the kernel may still write into the
    /// buffers. Only then is the pool freed; if they do not come within a
    /// second, it is leaked rather than freed under the kernel's feet.
    fn drop(&mut self) {
        if self.in_flight > 0 {
            let everything = opcode::AsyncCancel2::new(CancelBuilder::any())
                .build()
                .user_data(0);
            self.push(everything);
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        let tick = Timespec::from(Duration::from_millis(10));
        let mut out = Vec::new();
        while self.in_flight > 0 && Instant::now() < deadline {
            self.refill_from_backlog();
            let args = SubmitArgs::new().timespec(&tick);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            out.clear();
            self.reap(&mut out);
            // Accepted sockets among them are closed as `out` is cleared.
        }
        if self.in_flight == 0 {
            let _ = self.ring.submitter().unregister_buf_ring(BUFFER_GROUP);
            // SAFETY: no operation is in flight and the ring is
            // unregistered: the kernel no longer reads or writes the pool.
            unsafe { ManuallyDrop::drop(&mut self.buffers) };
        }
    }
}
// ANCHOR_END: drop

/// The memory of a provided-buffer ring: the ring of entries the kernel
/// reads (`struct io_uring_buf`: address, length, id), and the buffers.
struct ProvidedBuffers {
    /// `count` entries, page-aligned, shared with the kernel.
    entries: NonNull<BufRingEntry>,
    /// `count * size` bytes of buffers.
    data: NonNull<u8>,
    count: u16,
    size: usize,
    /// Entries written so far; the kernel sees them once published.
    tail: u16,
}

const PAGE: usize = 4096;

impl ProvidedBuffers {
    fn new(count: u16, size: usize) -> io::Result<Self> {
        let too_big = || io::Error::from(io::ErrorKind::OutOfMemory);
        if !count.is_power_of_two() || count > MAX_BUFFERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{count} buffers: a pool holds a power of two, at most {MAX_BUFFERS}"),
            ));
        }
        // The kernel keeps a buffer's length in 32 bits.
        if size == 0 || u32::try_from(size).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("buffers of {size} bytes: from 1 byte to 4 GiB"),
            ));
        }
        let entries_layout = Self::entries_layout(count).ok_or_else(too_big)?;
        let data_layout = Self::data_layout(count, size).ok_or_else(too_big)?;
        // SAFETY: both layouts have a non-zero size.
        let entries = NonNull::new(unsafe { alloc::alloc_zeroed(entries_layout) });
        let Some(entries) = entries else {
            return Err(too_big());
        };
        // SAFETY: as above.
        let data = NonNull::new(unsafe { alloc::alloc(data_layout) });
        let Some(data) = data else {
            // SAFETY: allocated just above with this layout.
            unsafe { alloc::dealloc(entries.as_ptr(), entries_layout) };
            return Err(too_big());
        };
        // Written once now, so the pages are the process's from the start:
        // its resident memory does not grow later as buffers are first used.
        // SAFETY: `data` points to `count * size` writable bytes.
        unsafe { std::ptr::write_bytes(data.as_ptr(), 0, data_layout.size()) };
        Ok(ProvidedBuffers {
            entries: entries.cast(),
            data,
            count,
            size,
            tail: 0,
        })
    }

    fn entries_layout(count: u16) -> Option<Layout> {
        let bytes = usize::from(count) * std::mem::size_of::<BufRingEntry>();
        Layout::from_size_align(bytes.max(PAGE), PAGE).ok()
    }

    fn data_layout(count: u16, size: usize) -> Option<Layout> {
        Layout::from_size_align(usize::from(count).checked_mul(size)?, PAGE).ok()
    }

    /// Where buffer `id` starts.
    fn address(&self, id: u16) -> *mut u8 {
        let id = usize::from(id % self.count);
        self.data.as_ptr().wrapping_add(id * self.size)
    }

    /// Writes buffer `id` into the next free entry; the kernel sees it once
    /// [`publish`](Self::publish) has moved the tail past it.
    fn give(&mut self, id: u16) {
        let index = usize::from(self.tail & (self.count - 1));
        let address = self.address(id) as u64;
        // SAFETY: index < count, so the entry is inside the allocation. The
        // kernel reads only entries between its head and the published
        // tail; this one is at the tail, not yet published. The setters
        // write the address, length and id, not the field that holds the
        // tail in entry 0.
        let entry = unsafe { &mut *self.entries.as_ptr().add(index) };
        entry.set_addr(address);
        entry.set_len(self.size as u32);
        entry.set_bid(id);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Moves the shared tail: the entries written so far become the
    /// kernel's to pick from.
    fn publish(&self) {
        // SAFETY: `entries` is the ring's first entry, initialised and
        // aligned; the tail is a u16 inside it, which the kernel reads with
        // acquire ordering and only this thread writes.
        let tail =
            unsafe { AtomicU16::from_ptr(BufRingEntry::tail(self.entries.as_ptr()).cast_mut()) };
        // Release: the entries are written before the kernel can see them.
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for ProvidedBuffers {
    fn drop(&mut self) {
        if let (Some(entries), Some(data)) = (
            Self::entries_layout(self.count),
            Self::data_layout(self.count, self.size),
        ) {
            // SAFETY: allocated in `new` with these layouts; the kernel no
            // longer uses them (Ring's Drop drops these only then).
            unsafe {
                alloc::dealloc(self.entries.as_ptr().cast(), entries);
                alloc::dealloc(self.data.as_ptr(), data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    fn ring_or_skip() -> Option<Ring> {
        match Ring::new(Duration::from_millis(20), 4096, 64) {
            Ok(ring) => Some(ring),
            Err(why) => {
                eprintln!("skipped: {why}");
                None
            }
        }
    }

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (server, client)
    }

    fn tag(op: Op) -> Tag {
        Tag {
            op,
            slot: 7,
            generation: 3,
        }
    }

    fn wait_one(ring: &mut Ring) -> Completion {
        let mut out = Vec::new();
        for _ in 0..100 {
            ring.submit_and_wait(&mut out).unwrap();
            if let Some(c) = out.pop() {
                assert!(out.is_empty(), "{out:?}");
                return c;
            }
        }
        panic!("no completion");
    }

    #[test]
    fn a_received_buffer_is_sent_back_and_recycled() {
        let Some(mut ring) = ring_or_skip() else {
            return;
        };
        let (server, mut client) = pair();
        ring.recv(server.as_fd(), tag(Op::Recv));
        assert_eq!(ring.in_flight(), 1);
        client.write_all(b"hello").unwrap();
        let c = wait_one(&mut ring);
        assert_eq!(c.tag, tag(Op::Recv));
        let Outcome::Received {
            result: Ok(5),
            buffer: Some(buffer),
        } = c.outcome
        else {
            panic!("{c:?}");
        };
        assert_eq!(ring.bytes(&buffer), b"hello");
        ring.send(server.as_fd(), buffer, 1, tag(Op::Send));
        let c = wait_one(&mut ring);
        let Outcome::Sent {
            result: Ok(4),
            buffer,
        } = c.outcome
        else {
            panic!("{c:?}");
        };
        // The whole buffer comes back, not only the part sent.
        assert_eq!(ring.bytes(&buffer), b"hello");
        ring.recycle(buffer);
        let mut echoed = [0; 4];
        client.read_exact(&mut echoed).unwrap();
        assert_eq!(&echoed, b"ello");
        assert_eq!(ring.in_flight(), 0);
    }

    #[test]
    fn end_of_file_and_cancellation_complete_the_receive() {
        let Some(mut ring) = ring_or_skip() else {
            return;
        };
        let (server, client) = pair();
        ring.recv(server.as_fd(), tag(Op::Recv));
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let c = wait_one(&mut ring);
        let Outcome::Received {
            result: Ok(0),
            buffer,
        } = c.outcome
        else {
            panic!("{c:?}");
        };
        if let Some(buffer) = buffer {
            ring.recycle(buffer);
        }
        // A receive that would wait for ever is cancelled.
        let (server, _client) = pair();
        ring.recv(server.as_fd(), tag(Op::Recv));
        ring.cancel(server.as_fd(), tag(Op::Cancel));
        let mut out = Vec::new();
        while out.len() < 2 {
            ring.submit_and_wait(&mut out).unwrap();
        }
        let recv = out.iter().find(|c| c.tag.op == Op::Recv).unwrap();
        let Outcome::Received { result: Err(e), .. } = &recv.outcome else {
            panic!("{out:?}");
        };
        assert_eq!(e.raw_os_error(), Some(libc::ECANCELED));
        let cancel = out.iter().find(|c| c.tag.op == Op::Cancel).unwrap();
        assert!(matches!(cancel.outcome, Outcome::Done(Ok(1))), "{out:?}");
        assert_eq!(ring.in_flight(), 0);
    }

    #[test]
    fn the_timer_fires_with_etime() {
        let Some(mut ring) = ring_or_skip() else {
            return;
        };
        let start = Instant::now();
        ring.timer(tag(Op::Pause));
        let c = wait_one(&mut ring);
        let Outcome::Done(Err(e)) = c.outcome else {
            panic!("{c:?}");
        };
        assert_eq!(e.raw_os_error(), Some(libc::ETIME));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn a_full_submission_queue_is_submitted_not_dropped() {
        let Some(mut ring) = ring_or_skip() else {
            return;
        };
        let (server, _client) = pair();
        let n = SUBMISSION_ENTRIES as usize * 3 + 5;
        for _ in 0..n {
            ring.recv(server.as_fd(), tag(Op::Recv));
        }
        assert_eq!(ring.in_flight(), n);
        ring.cancel(server.as_fd(), tag(Op::Cancel));
        let mut out = Vec::new();
        for _ in 0..1000 {
            if out.len() == n + 1 {
                break;
            }
            ring.submit_and_wait(&mut out).unwrap();
        }
        assert_eq!(out.len(), n + 1);
        assert_eq!(ring.in_flight(), 0);
    }

    #[test]
    fn dropping_a_ring_with_operations_in_flight_waits_for_them() {
        let Some(mut ring) = ring_or_skip() else {
            return;
        };
        let (server, _client) = pair();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        ring.recv(server.as_fd(), tag(Op::Recv));
        ring.accept(&listener, tag(Op::Accept));
        let mut out = Vec::new();
        ring.refill_from_backlog();
        ring.ring.submit().unwrap();
        ring.reap(&mut out);
        assert_eq!(ring.in_flight(), 2);
        let start = Instant::now();
        drop(ring);
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn the_pool_holds_a_power_of_two_of_buffers_within_its_budget() {
        assert_eq!(buffer_count(4096), 2048);
        assert_eq!(buffer_count(16 * 1024), 512);
        assert_eq!(buffer_count(64 * 1024), 128);
        // Not a power of two: rounded down, so the pool stays in budget.
        assert_eq!(buffer_count(5000), 1024);
        // Tiny buffers: the kernel's limit on their number.
        assert_eq!(buffer_count(1), MAX_BUFFERS);
        // Huge ones: never fewer than the minimum.
        assert_eq!(buffer_count(echo_common::MAX_READ_SIZE), MIN_BUFFERS);
        for size in [
            1,
            100,
            4096,
            5000,
            65536,
            1 << 20,
            echo_common::MAX_READ_SIZE,
        ] {
            let count = buffer_count(size);
            assert!(count.is_power_of_two(), "{size}: {count}");
            assert!(
                usize::from(count) * size <= POOL_BYTES || count == MIN_BUFFERS,
                "{size}: {count}"
            );
        }
    }

    #[test]
    fn the_refusal_names_its_cause_and_the_way_out() {
        let eperm = setup_refused(&io::Error::from_raw_os_error(libc::EPERM));
        assert!(eperm.contains("kernel.io_uring_disabled"), "{eperm}");
        assert!(eperm.contains("seccomp"), "{eperm}");
        let enosys = setup_refused(&io::Error::from_raw_os_error(libc::ENOSYS));
        assert!(enosys.contains("no io_uring"), "{enosys}");
        let other = setup_refused(&io::Error::from_raw_os_error(libc::ENOMEM));
        assert!(other.contains("io_uring_setup failed"), "{other}");
        for line in [eperm, enosys, other] {
            assert!(line.ends_with("try `cargo run -p epoll-edge`"), "{line}");
            assert!(!line.contains('\n'));
        }
    }
}
