//! A connection's output queue: bytes received and not yet echoed.

use std::collections::VecDeque;

/// How much the exercises read from a socket at a time where each
/// connection has a buffer of its own: a larger one would cost its size
/// again for every connection. (blocking-threaded and uring-completion
/// weigh that against the system calls saved, and read 16 KiB.)
pub const READ_SIZE: usize = 4096;

/// The default `--read-size` of the servers whose one read buffer serves
/// every client (the select, poll and epoll loops). A larger buffer costs
/// nothing per connection there, and a 16 KiB message then takes one read
/// and one write instead of four of each: the read-size experiment on the
/// benchmarks page measured the difference, and saw none beyond 64 KiB.
pub const SHARED_READ_SIZE: usize = 64 * 1024;

/// The largest `--read-size` a server accepts.
pub const MAX_READ_SIZE: usize = 16 * 1024 * 1024;

/// Above this many queued bytes a server stops reading from the connection
/// (its peer is not reading its echo) and resumes once the queue is below it
/// again. The check comes after each read, so a queue never holds more than
/// `PENDING_LIMIT` plus one read (`--read-size`), whatever the client does; and since
/// small reads share chunks of up to 16 KiB, the heap behind them
/// ([`MessageQueue::held`]) stays within about twice that, however finely
/// the client slices what it sends.
pub const PENDING_LIMIT: usize = 256 * 1024;

/// Data pushed behind a message shorter than this is appended to it. A client
/// that sends one byte per segment and reads nothing would otherwise make a
/// full queue hold 262,144 one-byte allocations, each with a 24-byte slot in
/// the queue and the allocator's minimum of 32 bytes (glibc, 64-bit): some
/// 14 MiB for 256 KiB of data. 16 KiB is four reads of [`READ_SIZE`]: a full
/// queue is about twenty chunks, and one chunk's unused room is small next to
/// [`PENDING_LIMIT`].
const CHUNK_SIZE: usize = 16 * 1024;

// ANCHOR: queue
/// Bytes waiting to be sent, oldest first, in messages of up to
/// `CHUNK_SIZE` (16 KiB) or one push, whichever is longer. A partial send
/// leaves the unsent rest of the oldest message at the head, so bytes go out
/// in order.
#[derive(Debug, Default)]
pub struct MessageQueue {
    messages: VecDeque<Vec<u8>>,
    /// Bytes of the front message already sent.
    sent_of_front: usize,
    pending: usize,
}

impl MessageQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `data` behind what is already waiting: appended to the last
    /// message if both fit in a chunk (even if that message is partly sent),
    /// otherwise as a new message of exactly its size.
    pub fn push(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.pending += data.len();
        match self.messages.back_mut() {
            Some(last) if last.len() + data.len() <= CHUNK_SIZE => last.extend_from_slice(data),
            _ => self.messages.push_back(data.to_vec()),
        }
    }

    /// The unsent part of the oldest message, if any.
    pub fn front(&self) -> Option<&[u8]> {
        self.messages.front().map(|m| &m[self.sent_of_front..])
    }

    /// Records that `n` bytes of [`front`](Self::front) went out.
    pub fn advance(&mut self, n: usize) {
        let Some(front) = self.messages.front() else {
            return;
        };
        let n = n.min(front.len() - self.sent_of_front);
        self.sent_of_front += n;
        self.pending -= n;
        if self.sent_of_front == front.len() {
            self.messages.pop_front();
            self.sent_of_front = 0;
        }
    }
    // ANCHOR_END: queue

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Bytes still to send.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Whether the server should stop reading from this connection for now.
    pub fn is_full(&self) -> bool {
        self.pending >= PENDING_LIMIT
    }

    /// An estimate of the heap this queue holds: every message's capacity
    /// (sent bytes of the front included) and the queue's own slots. The
    /// allocator's overhead per allocation is not counted.
    pub fn held(&self) -> usize {
        let bytes: usize = self.messages.iter().map(Vec::capacity).sum();
        bytes + self.messages.capacity() * std::mem::size_of::<Vec<u8>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_sends_keep_the_rest_at_the_head() {
        let mut q = MessageQueue::new();
        q.push(b"hello");
        q.push(b"");
        q.push(b" world");
        assert_eq!(q.pending(), 11);
        q.advance(2);
        assert_eq!(q.front(), Some(&b"llo world"[..]));
        // Appended to the front while it is partly sent.
        q.push(b"!");
        assert_eq!(q.front(), Some(&b"llo world!"[..]));
        q.advance(9);
        assert_eq!(q.front(), Some(&b"!"[..]));
        assert_eq!(q.pending(), 1);
        q.advance(99);
        assert!(q.is_empty());
        assert_eq!(q.pending(), 0);
        q.advance(1);
        assert_eq!(q.front(), None);
    }

    #[test]
    fn data_that_would_overflow_a_chunk_starts_a_new_message() {
        let mut q = MessageQueue::new();
        q.push(&[1; CHUNK_SIZE - 1]);
        q.push(&[2; 2]);
        q.push(&[3; 1]);
        // A push longer than a chunk is kept whole, at its own size.
        q.push(&[4; 3 * CHUNK_SIZE]);
        assert_eq!(q.pending(), 4 * CHUNK_SIZE + 2);
        assert_eq!(q.front(), Some(&[1; CHUNK_SIZE - 1][..]));
        q.advance(CHUNK_SIZE - 1);
        assert_eq!(q.front(), Some(&[2, 2, 3][..]));
        q.advance(3);
        assert_eq!(q.front().map(<[u8]>::len), Some(3 * CHUNK_SIZE));
    }

    #[test]
    fn a_trickle_of_single_bytes_shares_chunks() {
        const N: usize = 262_144;
        let mut q = MessageQueue::new();
        for i in 0..N {
            q.push(&[i as u8]);
        }
        assert_eq!(q.pending(), N);
        // One `Vec` per push would hold N slots of 24 bytes in the VecDeque
        // alone, about 12 times this bound (and one heap allocation per
        // byte besides), so this fails for a queue that does not coalesce.
        // Coalesced, it holds 16 chunks of 16 KiB and 16 slots.
        assert!(q.held() <= 2 * N + 4096, "held {} for {N} bytes", q.held());
        // Every byte is still there, in order.
        let mut i = 0usize;
        while let Some(front) = q.front() {
            assert!(front.iter().enumerate().all(|(k, &b)| b == (i + k) as u8));
            let n = front.len();
            i += n;
            q.advance(n);
        }
        assert_eq!(i, N);
        assert_eq!(
            q.held(),
            q.messages.capacity() * std::mem::size_of::<Vec<u8>>()
        );
    }

    #[test]
    fn full_at_the_limit() {
        let mut q = MessageQueue::new();
        q.push(&vec![0; PENDING_LIMIT - 1]);
        assert!(!q.is_full());
        q.push(&[0; 1]);
        assert!(q.is_full());
        q.advance(1);
        assert!(!q.is_full());
    }
}
