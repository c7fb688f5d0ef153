//! A connection's output queue: messages received and not yet echoed.

use std::collections::VecDeque;

/// How much is read from a socket at a time.
pub const READ_SIZE: usize = 4096;

/// Above this many queued bytes a server stops reading from the connection
/// (its peer is not reading its echo) and resumes once the queue is below it
/// again. Reads are at most [`READ_SIZE`], so a queue never holds more than
/// `PENDING_LIMIT + READ_SIZE` bytes, whatever the client does.
pub const PENDING_LIMIT: usize = 256 * 1024;

/// Messages waiting to be sent, oldest first. A partial send leaves the unsent
/// rest of the oldest message at the head, so bytes go out in order.
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

    pub fn push(&mut self, message: Vec<u8>) {
        if !message.is_empty() {
            self.pending += message.len();
            self.messages.push_back(message);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_sends_keep_the_rest_at_the_head() {
        let mut q = MessageQueue::new();
        q.push(b"hello".to_vec());
        q.push(Vec::new());
        q.push(b"world".to_vec());
        assert_eq!(q.pending(), 10);
        q.advance(2);
        assert_eq!(q.front(), Some(&b"llo"[..]));
        q.advance(3);
        assert_eq!(q.front(), Some(&b"world"[..]));
        q.advance(99);
        assert!(q.is_empty());
        assert_eq!(q.pending(), 0);
        q.advance(1);
        assert_eq!(q.front(), None);
    }

    #[test]
    fn full_at_the_limit() {
        let mut q = MessageQueue::new();
        q.push(vec![0; PENDING_LIMIT - 1]);
        assert!(!q.is_full());
        q.push(vec![0; 1]);
        assert!(q.is_full());
        q.advance(1);
        assert!(!q.is_full());
    }
}
