//! What a completion is about, packed into the 64 bits of `user_data` that
//! the kernel hands back unchanged with it.
//!
//! A completion names no socket: it carries only the number given with the
//! submission. Here that number says which operation it was, for which
//! connection (a slot of the table of connections), and for which tenant of
//! that slot (its generation), so that a completion that arrives after its
//! connection was closed and its slot reused is recognised and dropped.

// ANCHOR: tag
/// The operations the server submits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Accept connections (multishot: one submission, one completion per
    /// client, until an error ends it).
    Accept,
    /// A timer: accepting resumes when it fires.
    Pause,
    /// Receive into a buffer the kernel picks from the provided ring.
    Recv,
    /// Send (the rest of) a received buffer back.
    Send,
    /// Cancel a connection's operations.
    Cancel,
}

/// Which operation, for which connection: a slot of the table and the
/// generation of its tenant when the operation was submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    pub op: Op,
    pub slot: u32,
    pub generation: u16,
}

/// Slots are 24 bits of `user_data`: about 16.7 million connections.
pub const MAX_SLOTS: u32 = 1 << 24;

impl Tag {
    /// `user_data` for this tag, with the provided buffer a send lends the
    /// kernel (0 for other operations):
    /// `slot (24 bits) | generation (16) | op (8) | buffer (16)`.
    pub fn encode(self, buffer: u16) -> u64 {
        let op: u64 = match self.op {
            Op::Accept => 1,
            Op::Pause => 2,
            Op::Recv => 3,
            Op::Send => 4,
            Op::Cancel => 5,
        };
        (u64::from(self.slot % MAX_SLOTS) << 40)
            | (u64::from(self.generation) << 24)
            | (op << 16)
            | u64::from(buffer)
    }

    /// The tag and buffer packed by [`encode`](Self::encode), or `None` for
    /// a value it cannot have made.
    pub fn decode(user_data: u64) -> Option<(Tag, u16)> {
        let op = match (user_data >> 16) & 0xff {
            1 => Op::Accept,
            2 => Op::Pause,
            3 => Op::Recv,
            4 => Op::Send,
            5 => Op::Cancel,
            _ => return None,
        };
        let tag = Tag {
            op,
            slot: (user_data >> 40) as u32,
            generation: (user_data >> 24) as u16,
        };
        Some((tag, user_data as u16))
    }
}
// ANCHOR_END: tag

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_comes_back_unchanged() {
        for op in [Op::Accept, Op::Pause, Op::Recv, Op::Send, Op::Cancel] {
            for (slot, generation, buffer) in [
                (0, 0, 0),
                (1, 1, 1),
                (MAX_SLOTS - 1, u16::MAX, u16::MAX),
                (12_345, 678, 910),
            ] {
                let tag = Tag {
                    op,
                    slot,
                    generation,
                };
                assert_eq!(Tag::decode(tag.encode(buffer)), Some((tag, buffer)));
            }
        }
    }

    #[test]
    fn values_it_cannot_have_made_are_refused() {
        assert_eq!(Tag::decode(0), None);
        assert_eq!(Tag::decode(0xff << 16), None);
        // The cancel-everything entry of `Ring::drop` uses the value 0.
        assert!(Tag::decode(u64::MAX).is_none());
    }
}
